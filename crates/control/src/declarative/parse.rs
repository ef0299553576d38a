//! Parsing and validating the config file's text into a [`DeclaredConfig`]. Pure: no I/O, no
//! store, no application state; every problem is collected with its file, line, entry and field.

use std::collections::HashMap;

use portcullis_policy::permissions::RoleInput;
use portcullis_policy::routes::RouteDefinition;
use portcullis_policy::{ServerInput, UrlRules};
use toml::Spanned;

use super::entry::{EntryParser, Lines, RawEntry, line_of, nested_key_lines};
use super::{
    DeclaredConfig, DeclaredRole, DeclaredRoute, DeclaredServer, GatewaySettings, Problem,
    ResourceKind,
};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    authorization_servers: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    api_roles: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    routes: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    forward_auth: Option<Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    tls_cert: Option<Spanned<String>>,
    #[serde(default)]
    tls_key: Option<Spanned<String>>,
    #[serde(default)]
    org_settings: Option<Spanned<toml::Table>>,
}

/// Which values of an entry are struct-shaped (their keys are snake_case fields, converted to
/// camelCase), by snake_case path from the entry; `[]` stands for every element of an array.
/// Any other table is data and keeps its keys as written.
const SERVER_STRUCTS: &[&str] = &[];
const ROLE_STRUCTS: &[&str] = &["permissions"];
const ROUTE_STRUCTS: &[&str] = &["match", "policy", "policy.scopes", "policy.claims[]"];

/// Parses and validates a config file's text: every problem is collected, none is fatal to the
/// search for the others. `file` only names the file in problems.
pub fn parse(file: &str, text: &str, rules: UrlRules) -> Result<DeclaredConfig, Vec<Problem>> {
    let raw: RawFile = toml::from_str(text).map_err(|err| {
        vec![Problem {
            file: file.to_owned(),
            line: err.span().map(|span| line_of(text, span.start)),
            entry: None,
            field: None,
            message: err.message().trim_end().to_owned(),
        }]
    })?;
    let lines = Lines::new(text);
    let mut problems = Vec::new();
    let gateway = gateway_settings(file, text, &raw, &mut problems);
    let org_settings = raw
        .org_settings
        .as_ref()
        .and_then(|table| org_settings(file, text, table, &mut problems));

    let mut servers = Vec::new();
    for (index, raw_entry) in raw.authorization_servers.into_iter().enumerate() {
        let mut entry = EntryParser::new(
            file,
            &lines,
            ResourceKind::AuthorizationServer,
            index,
            &raw_entry,
        );
        let object = entry.json_object(raw_entry.into_inner(), SERVER_STRUCTS);
        if let Some(input) = entry.deserialize::<ServerInput>(object) {
            let definition = input.resolve();
            entry.field_errors(definition.field_errors(rules));
            if entry.problems.is_empty() {
                servers.push(DeclaredServer {
                    line: entry.line,
                    entry: entry.label.clone(),
                    definition,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut roles = Vec::new();
    for (index, raw_entry) in raw.api_roles.into_iter().enumerate() {
        let mut entry = EntryParser::new(file, &lines, ResourceKind::ApiRole, index, &raw_entry);
        let object = entry.json_object(raw_entry.into_inner(), ROLE_STRUCTS);
        if let Some(role) = entry.deserialize::<RoleInput>(object) {
            entry.field_errors(role.field_errors());
            if entry.problems.is_empty() {
                roles.push(DeclaredRole {
                    line: entry.line,
                    entry: entry.label.clone(),
                    role,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut routes = Vec::new();
    let mut route_lines = nested_key_lines(text, &lines, ResourceKind::Route.table()).into_iter();
    for (index, raw_entry) in raw.routes.into_iter().enumerate() {
        let mut entry = EntryParser::new(file, &lines, ResourceKind::Route, index, &raw_entry);
        entry.nested_lines = route_lines.next().unwrap_or_default();
        let object = entry.json_object(raw_entry.into_inner(), ROUTE_STRUCTS);
        if let Some(definition) = entry.deserialize::<RouteDefinition>(object) {
            entry.field_errors(definition.field_errors());
            if entry.problems.is_empty() {
                routes.push(DeclaredRoute {
                    line: entry.line,
                    entry: entry.label.clone(),
                    definition,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut seen: HashMap<(ResourceKind, &str), usize> = HashMap::new();
    let declared = servers
        .iter()
        .map(|s| {
            (
                ResourceKind::AuthorizationServer,
                s.definition.name.as_str(),
                s.line,
                &s.entry,
            )
        })
        .chain(roles.iter().map(|r| {
            (
                ResourceKind::ApiRole,
                r.role.name.as_str(),
                r.line,
                &r.entry,
            )
        }))
        .chain(routes.iter().map(|r| {
            (
                ResourceKind::Route,
                r.definition.name.as_str(),
                r.line,
                &r.entry,
            )
        }));
    for (kind, name, line, entry) in declared {
        if let Some(&first) = seen.get(&(kind, name)) {
            problems.push(Problem {
                file: file.to_owned(),
                line: Some(line),
                entry: Some(entry.clone()),
                field: Some("name".to_owned()),
                message: format!(
                    "`{name}` is declared twice in [[{}]] (first at line {first})",
                    kind.table()
                ),
            });
        } else {
            seen.insert((kind, name), line);
        }
    }

    if problems.is_empty() {
        Ok(DeclaredConfig {
            file: file.to_owned(),
            servers,
            roles,
            routes,
            gateway,
            org_settings,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Validates the top-level `forward_auth`, `trusted_proxies`, `tls_cert` and `tls_key` keys.
fn gateway_settings(
    file: &str,
    text: &str,
    raw: &RawFile,
    problems: &mut Vec<Problem>,
) -> GatewaySettings {
    let mut problem = |span: std::ops::Range<usize>, field: &str, message: String| {
        problems.push(Problem {
            file: file.to_owned(),
            line: Some(line_of(text, span.start)),
            entry: None,
            field: Some(field.to_owned()),
            message,
        });
    };
    let forward_auth = raw
        .forward_auth
        .as_ref()
        .and_then(|mode| match mode.get_ref().parse() {
            Ok(mode) => Some(mode),
            Err(message) => {
                problem(mode.span(), "forward_auth", message);
                None
            }
        });
    let trusted_proxies = raw.trusted_proxies.as_ref().and_then(|list| {
        let mut networks = Vec::new();
        for text in list.get_ref() {
            match parse_network(text) {
                Some(net) => networks.push(net),
                None => {
                    problem(
                        list.span(),
                        "trusted_proxies",
                        format!("`{text}` is not an IP address or CIDR (e.g. 10.0.0.0/8)"),
                    );
                    return None;
                }
            }
        }
        Some(portcullis_runtime::deployment::TrustedProxies::new(
            networks,
        ))
    });
    // The TLS pair: both or neither (the files themselves are read when the server starts).
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (Some(cert), Some(key)) => Some((
            std::path::PathBuf::from(cert.get_ref()),
            std::path::PathBuf::from(key.get_ref()),
        )),
        (Some(one), None) | (None, Some(one)) => {
            problem(
                one.span(),
                if raw.tls_cert.is_some() {
                    "tls_cert"
                } else {
                    "tls_key"
                },
                "give tls_cert and tls_key together (PEM certificate chain and private key)".into(),
            );
            None
        }
        (None, None) => None,
    };
    GatewaySettings {
        forward_auth,
        trusted_proxies,
        tls,
    }
}

/// `[org_settings]`: every table in it is struct-shaped, so every key turns camelCase.
fn org_settings(
    file: &str,
    text: &str,
    table: &Spanned<toml::Table>,
    problems: &mut Vec<Problem>,
) -> Option<portcullis_policy::governance::OrgSettingsInput> {
    fn camel(value: toml::Value) -> serde_json::Value {
        match value {
            toml::Value::Table(table) => serde_json::Value::Object(
                table
                    .into_iter()
                    .map(|(key, value)| {
                        (
                            super::entry::snake_to_camel(&key)
                                .unwrap_or_else(|| format!("{key} (not snake_case)")),
                            camel(value),
                        )
                    })
                    .collect(),
            ),
            toml::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(camel).collect())
            }
            other => serde_json::to_value(other).unwrap_or(serde_json::Value::Null),
        }
    }
    let line = Some(line_of(text, table.span().start));
    let mut problem = |field: Option<String>, message: String| {
        problems.push(Problem {
            file: file.to_owned(),
            line,
            entry: Some("[org_settings]".to_owned()),
            field,
            message,
        });
    };
    // Read-only mode is an operational switch, not declared configuration: a node restarting
    // with the file during maintenance would otherwise switch it off (or on) for the whole
    // cluster. The stored value is always kept (`apply.rs`).
    if table.get_ref().contains_key("read_only") {
        problem(
            Some("read_only".to_owned()),
            "read-only mode is not set by the configuration file: switch it with PUT /api/v1/orgSettings, the portal's Org Settings page or PORTCULLIS_READ_ONLY".to_owned(),
        );
    }
    // Members left out keep the documented defaults, at any depth (one weight's window can be
    // set alone).
    fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
        match (base, over) {
            (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
                for (key, value) in over {
                    match base.get_mut(&key) {
                        Some(slot) => merge(slot, value),
                        None => {
                            base.insert(key, value);
                        }
                    }
                }
            }
            (slot, value) => *slot = value,
        }
    }
    let mut json = serde_json::to_value(portcullis_policy::governance::OrgSettingsInput::default())
        .unwrap_or_default();
    merge(
        &mut json,
        camel(toml::Value::Table(table.get_ref().clone())),
    );
    match serde_json::from_value::<portcullis_policy::governance::OrgSettingsInput>(json) {
        Ok(input) => {
            let errors = input.field_errors();
            for error in &errors {
                problem(Some(error.field.clone()), error.message.clone());
            }
            errors.is_empty().then_some(input)
        }
        Err(err) => {
            problem(None, err.to_string());
            None
        }
    }
}

/// A CIDR, or a single address as its /32 or /128.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}
