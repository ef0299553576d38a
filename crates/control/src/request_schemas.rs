//! The schemas of the request bodies whose handlers take request flags or ignore read-only
//! members around a strictly parsed type (servers, roles, routes). Kept apart from
//! [`crate::openapi`] so the handlers can name their body schema without importing the document
//! that lists the handlers (no `api` <-> `openapi` cycle).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// An object schema extended with more properties: for bodies whose handler takes request flags
/// or ignores read-only fields around a type parsed strictly (`deny_unknown_fields`). Built from
/// the type's own schema so that a field added to the type appears here too.
fn extended<T: PartialSchema>(
    description: &str,
    extra: Vec<(&str, RefOr<Schema>)>,
    optional: &[&str],
) -> RefOr<Schema> {
    match T::schema() {
        RefOr::T(Schema::Object(mut object)) => {
            for (name, schema) in extra {
                object.properties.insert(name.to_owned(), schema);
            }
            object.required.retain(|r| !optional.contains(&r.as_str()));
            object.description = Some(description.to_owned());
            object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// `version`: optional compare-and-swap precondition.
fn version_property() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Integer,
            Type::Null,
        ]))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .description(Some(
            "The version this change is based on: when the resource has changed since, the answer is 409 `version_conflict` instead of a lost update. Omitted or null: no check.",
        ))
        .into()
}

/// A read-only member of the resource that a client may send back unchanged; it is ignored.
fn ignored_property(name: &str) -> RefOr<Schema> {
    let mut schema: Object = ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .build();
    schema.description = Some(format!(
        "Read-only `{name}` of the resource: accepted so that what GET returned can be sent back, and ignored."
    ));
    RefOr::T(Schema::Object(schema))
}

fn skip_validation_property() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Boolean,
            Type::Null,
        ]))
        .description(Some(
            "Save even when the key check fails (the failure is recorded in `status`). Default false.",
        ))
        .into()
}

/// Declares a request-body schema built by [`extended`] as a named component.
macro_rules! request_schema {
    ($(#[$doc:meta])* $name:ident, $base:ty, $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$base as ToSchema>::schemas(schemas);
            }
        }
    };
}

const SERVER_READ_ONLY: [&str; 5] = ["id", "createdAt", "updatedAt", "status", "warnings"];

fn server_request(description: &str, optional: &[&str]) -> RefOr<Schema> {
    let mut extra = vec![
        ("skipValidation", skip_validation_property()),
        ("version", version_property()),
    ];
    extra.extend(SERVER_READ_ONLY.iter().map(|n| (*n, ignored_property(n))));
    extended::<portcullis_policy::ServerInput>(description, extra, optional)
}

request_schema!(
    /// The body of `POST /authorizationServers` and `PUT /authorizationServers/{id}`.
    ServerRequest,
    portcullis_policy::ServerInput,
    server_request(
        "An authorization server as an admin sends it. Omitted optional fields take the preset's defaults.",
        &[]
    )
);

request_schema!(
    /// The body of `POST /authorizationServers/validate`: the same fields, `name` optional.
    ServerValidateRequest,
    portcullis_policy::ServerInput,
    server_request(
        "What to check: the key location (`jwksUri` or `metadataUrl`) and optionally the rest of a server definition. Nothing is saved.",
        &["name"]
    )
);

request_schema!(
    /// The body of role create/replace.
    RoleRequest,
    portcullis_policy::permissions::RoleInput,
    {
        let mut extra = vec![("version", version_property())];
        extra.extend(
            ["id", "builtin", "createdAt", "updatedAt"]
                .iter()
                .map(|n| (*n, ignored_property(n))),
        );
        extended::<portcullis_policy::permissions::RoleInput>(
            "A role: a name and the access it grants per category (omitted categories: none).",
            extra,
            &[],
        )
    }
);

request_schema!(
    /// The body of route create/replace.
    RouteRequest,
    portcullis_policy::routes::RouteDefinition,
    {
        let mut extra = vec![("version", version_property())];
        extra.extend(
            ["id", "createdAt", "updatedAt"]
                .iter()
                .map(|n| (*n, ignored_property(n))),
        );
        extended::<portcullis_policy::routes::RouteDefinition>(
            "A route: which requests it matches and what their tokens must show.",
            extra,
            &[],
        )
    }
);

request_schema!(
    /// The body of `PUT /orgSettings`.
    OrgSettingsRequest,
    portcullis_policy::governance::OrgSettingsInput,
    extended::<portcullis_policy::governance::OrgSettingsInput>(
        "The org's settings; omitted members take their defaults.",
        vec![
            ("version", version_property()),
            ("updatedAt", ignored_property("updatedAt")),
        ],
        &[],
    )
);
