//! Deciding what applying a [`DeclaredConfig`] writes, given what the store holds now. Pure: no
//! I/O, no store, no application state, so every decision is testable without a database.
//!
//! Entries are matched by name. A declared entry not stored is created; one stored exactly as
//! declared is unchanged (no write, no audit entry); one that differs is updated, with the
//! stored record as "before" and the declared definition as "after". Stored entries the file does
//! not declare are left alone and only counted. The same comparisons ([`server_write`],
//! [`role_write`], [`route_write`]) decide again when a write meets a concurrent writer.

use std::collections::HashMap;

use portcullis_policy::ServerDefinition;
use portcullis_policy::permissions::RoleInput;
use portcullis_policy::routes::RouteDefinition;
use portcullis_store::{LimitedChange, RoleKind, RoleRecord, RouteRecord, ServerRecord};

use super::{DeclaredConfig, DeclaredRole, DeclaredRoute, DeclaredServer, Resource};

/// The write one declared entry needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Write<R, T> {
    /// Not stored: create it as `T`.
    Create(T),
    /// Stored as `before`, declared as `after`.
    Update {
        /// The stored record (its id and version make the write a compare-and-swap).
        before: R,
        /// What to store instead.
        after: T,
    },
}

impl<R, T> Write<R, T> {
    /// The stored record this write replaces; `None` for a creation.
    pub fn before(&self) -> Option<&R> {
        match self {
            Write::Create(_) => None,
            Write::Update { before, .. } => Some(before),
        }
    }

    /// The stored record this write replaces, by value.
    pub fn into_before(self) -> Option<R> {
        match self {
            Write::Create(_) => None,
            Write::Update { before, .. } => Some(before),
        }
    }
}

/// Keeps what key discovery filled in: a stored server whose `jwks_uri` and `issuer` came from
/// the same metadata document as declared is not "different" for lacking them in the file.
fn with_discovered(mut declared: ServerDefinition, stored: &ServerDefinition) -> ServerDefinition {
    if declared.metadata_url.is_some() && declared.metadata_url == stored.metadata_url {
        if declared.jwks_uri.is_none() {
            declared.jwks_uri.clone_from(&stored.jwks_uri);
        }
        if declared.issuer.is_none() {
            declared.issuer.clone_from(&stored.issuer);
        }
    }
    declared
}

/// What a declared server definition needs given the stored server of its name; `None` when it
/// is stored as declared (fields the file leaves to discovery keep their discovered values).
pub fn server_write(
    declared: &ServerDefinition,
    stored: Option<&ServerRecord>,
) -> Option<Write<ServerRecord, ServerDefinition>> {
    let Some(stored) = stored else {
        return Some(Write::Create(declared.clone()));
    };
    let after = with_discovered(declared.clone(), &stored.definition);
    (after != stored.definition).then(|| Write::Update {
        before: stored.clone(),
        after,
    })
}

/// What a declared API role needs given the stored role of its name; `None` when its
/// permissions are stored as declared.
pub fn role_write(
    declared: &RoleInput,
    stored: Option<&RoleRecord>,
) -> Option<Write<RoleRecord, RoleInput>> {
    match stored {
        None => Some(Write::Create(declared.clone())),
        Some(stored) if stored.permissions == declared.permissions => None,
        Some(stored) => Some(Write::Update {
            before: stored.clone(),
            after: declared.clone(),
        }),
    }
}

/// What a declared route needs given the stored route of its name; `None` when it is stored as
/// declared.
pub fn route_write(
    declared: &RouteDefinition,
    stored: Option<&RouteRecord>,
) -> Option<Write<RouteRecord, RouteDefinition>> {
    match stored {
        None => Some(Write::Create(declared.clone())),
        Some(stored) if stored.definition == *declared => None,
        Some(stored) => Some(Write::Update {
            before: stored.clone(),
            after: declared.clone(),
        }),
    }
}

/// A kind of declared entry, compared by name with the store's records of that kind.
pub trait Declared {
    /// What the store holds for it.
    type Record;
    /// What is written for it.
    type Target;
    /// Its name.
    fn name(&self) -> &str;
    /// A stored record's name.
    fn record_name(record: &Self::Record) -> &str;
    /// How the report names it.
    fn resource(&self) -> Resource;
    /// The write it needs, given the stored record of its name; `None` if none.
    fn write(&self, stored: Option<&Self::Record>) -> Option<Write<Self::Record, Self::Target>>;
}

impl Declared for DeclaredServer {
    type Record = ServerRecord;
    type Target = ServerDefinition;
    fn name(&self) -> &str {
        &self.definition.name
    }
    fn record_name(record: &ServerRecord) -> &str {
        &record.definition.name
    }
    fn resource(&self) -> Resource {
        Resource::server(self.name())
    }
    fn write(
        &self,
        stored: Option<&ServerRecord>,
    ) -> Option<Write<ServerRecord, ServerDefinition>> {
        server_write(&self.definition, stored)
    }
}

impl Declared for DeclaredRole {
    type Record = RoleRecord;
    type Target = RoleInput;
    fn name(&self) -> &str {
        &self.role.name
    }
    fn record_name(record: &RoleRecord) -> &str {
        &record.name
    }
    fn resource(&self) -> Resource {
        Resource::role(self.name())
    }
    fn write(&self, stored: Option<&RoleRecord>) -> Option<Write<RoleRecord, RoleInput>> {
        role_write(&self.role, stored)
    }
}

impl Declared for DeclaredRoute {
    type Record = RouteRecord;
    type Target = RouteDefinition;
    fn name(&self) -> &str {
        &self.definition.name
    }
    fn record_name(record: &RouteRecord) -> &str {
        &record.definition.name
    }
    fn resource(&self) -> Resource {
        Resource::route(self.name())
    }
    fn write(&self, stored: Option<&RouteRecord>) -> Option<Write<RouteRecord, RouteDefinition>> {
        route_write(&self.definition, stored)
    }
}

/// One planned write: the declared entry and what it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned<'a, D: Declared> {
    /// The entry, as declared.
    pub declared: &'a D,
    /// Its write.
    pub write: Write<D::Record, D::Target>,
}

/// How many stored entries of each kind the file does not declare (they are left alone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Undeclared {
    /// Authorization servers.
    pub servers: usize,
    /// API roles.
    pub roles: usize,
    /// Routes.
    pub routes: usize,
}

/// Everything applying a config writes, in write order: servers, then roles, then routes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<'a> {
    /// Server writes: disabling updates first, other updates next, creations last, so that the
    /// enabled-server limit is checked against the state the file asks for.
    pub servers: Vec<Planned<'a, DeclaredServer>>,
    /// API role writes, in file order.
    pub roles: Vec<Planned<'a, DeclaredRole>>,
    /// Route writes, in file order.
    pub routes: Vec<Planned<'a, DeclaredRoute>>,
    /// Declared entries stored exactly as declared: servers, roles, routes, each in file order.
    pub unchanged: Vec<Resource>,
    /// Stored entries not in the file.
    pub undeclared: Undeclared,
}

/// Plans one kind: the writes its entries need (file order) and how many stored records are
/// not declared. Unchanged entries are added to `unchanged`.
fn plan_kind<'a, D: Declared>(
    declared: &'a [D],
    stored: &[D::Record],
    unchanged: &mut Vec<Resource>,
) -> (Vec<Planned<'a, D>>, usize) {
    let mut by_name: HashMap<&str, &D::Record> =
        stored.iter().map(|r| (D::record_name(r), r)).collect();
    let mut writes = Vec::new();
    for entry in declared {
        match entry.write(by_name.remove(entry.name())) {
            Some(write) => writes.push(Planned {
                declared: entry,
                write,
            }),
            None => unchanged.push(entry.resource()),
        }
    }
    (writes, by_name.len())
}

impl<'a> Plan<'a> {
    /// Compares `config` with what the store holds now.
    pub fn new(
        config: &'a DeclaredConfig,
        servers: &[ServerRecord],
        roles: &[RoleRecord],
        routes: &[RouteRecord],
    ) -> Self {
        let mut unchanged = Vec::new();
        let (mut server_writes, undeclared_servers) =
            plan_kind(&config.servers, servers, &mut unchanged);
        let (roles, undeclared_roles) = plan_kind(&config.roles, roles, &mut unchanged);
        let (routes, undeclared_routes) = plan_kind(&config.routes, routes, &mut unchanged);
        server_writes.sort_by_key(|w| match &w.write {
            Write::Update { .. } if !w.declared.definition.enabled => 0,
            Write::Update { .. } => 1,
            Write::Create(_) => 2,
        });
        Plan {
            servers: server_writes,
            roles,
            routes,
            unchanged,
            undeclared: Undeclared {
                servers: undeclared_servers,
                roles: undeclared_roles,
                routes: undeclared_routes,
            },
        }
    }

    /// Whether nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.roles.is_empty() && self.routes.is_empty()
    }

    /// The writes the org limits count, in write order, each with the line and label of its
    /// entry: server creations and updates (the enabled count) and role creations, with
    /// `max_api_roles` as the role limit.
    pub fn limited_changes(&self, max_api_roles: i64) -> Vec<(usize, &'a str, LimitedChange)> {
        let servers = self.servers.iter().map(|planned| {
            let enabled = planned.declared.definition.enabled;
            let change = match planned.write.before() {
                Some(before) => LimitedChange::UpdateServer {
                    was_enabled: before.definition.enabled,
                    enabled,
                },
                None => LimitedChange::CreateServer { enabled },
            };
            (
                planned.declared.line,
                planned.declared.entry.as_str(),
                change,
            )
        });
        let roles = self
            .roles
            .iter()
            .filter(|planned| planned.write.before().is_none())
            .map(|planned| {
                let change = LimitedChange::CreateRole {
                    kind: RoleKind::Api,
                    max: max_api_roles,
                };
                (
                    planned.declared.line,
                    planned.declared.entry.as_str(),
                    change,
                )
            });
        servers.chain(roles).collect()
    }
}
