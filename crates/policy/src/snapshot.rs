//! The immutable configuration the hot path reads (DESIGN.md §2 "snapshot"): enabled servers
//! with their keys (as a [`Validator`]), API roles, and the server definitions. Admin writes, key
//! refreshes and cluster notifications build a new snapshot and swap it in atomically; a request
//! sees one consistent configuration from start to end, with no lock and no store query.

use std::collections::HashMap;

use crate::definition::ServerDefinition;
use crate::permissions::Permissions;
use crate::routes::RouteTable;
use crate::scopes;
use crate::validator::Validator;

/// One consistent configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Increases with every rebuild.
    pub version: u64,
    /// Servers and keys.
    pub validator: Validator,
    /// API roles by name.
    pub api_roles: HashMap<String, Permissions>,
    /// Server definitions by id (for the key manager's schedule and the API).
    pub servers: Vec<(String, ServerDefinition)>,
    /// Routes for forward auth and the proxy.
    pub routes: RouteTable,
}

/// The API roles a token's scopes grant in this deployment (DESIGN.md §1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrant {
    /// Matched role names, in scope order.
    pub roles: Vec<String>,
    /// The union of their permissions.
    pub permissions: Permissions,
}

impl Snapshot {
    /// Matches `<cloud>::<org>::<role>` scopes against the existing roles; `None` when no scope
    /// names an existing role of this cloud and org.
    pub fn grant(&self, token_scopes: &[String], cloud: &str, org_id: i64) -> Option<RoleGrant> {
        let org = org_id.to_string();
        let mut grant = RoleGrant {
            roles: Vec::new(),
            permissions: Permissions::default(),
        };
        for role in scopes::roles_for(token_scopes, cloud, &org) {
            if let Some(permissions) = self.api_roles.get(role) {
                grant.roles.push(role.to_owned());
                grant.permissions = grant.permissions.union(*permissions);
            }
        }
        (!grant.roles.is_empty()).then_some(grant)
    }

    /// A server's id by name.
    pub fn server_id(&self, name: &str) -> Option<&str> {
        self.servers
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(id, _)| id.as_str())
    }

    /// A server's definition by id.
    pub fn definition(&self, id: &str) -> Option<&ServerDefinition> {
        self.servers.iter().find(|(i, _)| i == id).map(|(_, d)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::Access;

    #[test]
    fn grants_union_of_existing_roles_of_this_cloud_and_org() {
        let mut snapshot = Snapshot::default();
        snapshot.api_roles.insert(
            "read".into(),
            Permissions {
                routes: Access::ViewOnly,
                ..Default::default()
            },
        );
        snapshot.api_roles.insert(
            "write".into(),
            Permissions {
                routes: Access::Full,
                audit_logs: Access::ViewOnly,
                ..Default::default()
            },
        );
        let scopes: Vec<String> = [
            "c::1::read",
            "c::1::write",
            "c::1::ghost",
            "c::2::write",
            "other::1::read",
            "plain",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let grant = snapshot.grant(&scopes, "c", 1).unwrap();
        assert_eq!(grant.roles, ["read", "write"]);
        assert_eq!(grant.permissions.routes, Access::Full);
        assert!(
            snapshot.grant(&scopes[2..], "c", 1).is_none(),
            "ghost roles and other orgs grant nothing"
        );
    }
}
