//! Permission categories shared by API roles (DESIGN.md §1.2) and admin roles (§1.5).

use serde::{Deserialize, Serialize};

use crate::config::{FieldError, check_name};

/// What a permission allows in one category.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Nothing.
    #[default]
    None,
    /// Read.
    ViewOnly,
    /// Read and write.
    Full,
}

/// A permission category: one per resource family of the cloud service API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Category {
    /// Authorization servers.
    AuthorizationServers,
    /// API roles.
    ApiRoles,
    /// Cloud Service API key and sandbox tokens.
    ApiCredentials,
    /// Routes.
    Routes,
    /// Audit logs.
    AuditLogs,
    /// Admins and admin roles.
    Admins,
}

impl Category {
    /// The category's wire name (camelCase), as used in `permissions` objects and the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Category::AuthorizationServers => "authorizationServers",
            Category::ApiRoles => "apiRoles",
            Category::ApiCredentials => "apiCredentials",
            Category::Routes => "routes",
            Category::AuditLogs => "auditLogs",
            Category::Admins => "admins",
        }
    }
}

/// Access per category. Omitted categories are `none` on input.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)] // one field per Category
pub struct Permissions {
    #[serde(default)]
    pub authorization_servers: Access,
    #[serde(default)]
    pub api_roles: Access,
    #[serde(default)]
    pub api_credentials: Access,
    #[serde(default)]
    pub routes: Access,
    #[serde(default)]
    pub audit_logs: Access,
    #[serde(default)]
    pub admins: Access,
}

impl Permissions {
    /// Everything: the built-in Super Admin.
    pub const FULL: Permissions = Permissions {
        authorization_servers: Access::Full,
        api_roles: Access::Full,
        api_credentials: Access::Full,
        routes: Access::Full,
        audit_logs: Access::Full,
        admins: Access::Full,
    };

    /// Access for one category.
    pub fn access(&self, category: Category) -> Access {
        match category {
            Category::AuthorizationServers => self.authorization_servers,
            Category::ApiRoles => self.api_roles,
            Category::ApiCredentials => self.api_credentials,
            Category::Routes => self.routes,
            Category::AuditLogs => self.audit_logs,
            Category::Admins => self.admins,
        }
    }

    /// Whether a read (`write == false`) or write is allowed in `category`.
    pub fn allows(&self, category: Category, write: bool) -> bool {
        match self.access(category) {
            Access::Full => true,
            Access::ViewOnly => !write,
            Access::None => false,
        }
    }

    /// The most permissive of both, per category (a token with several roles gets the union).
    pub fn union(self, other: Permissions) -> Permissions {
        Permissions {
            authorization_servers: self.authorization_servers.max(other.authorization_servers),
            api_roles: self.api_roles.max(other.api_roles),
            api_credentials: self.api_credentials.max(other.api_credentials),
            routes: self.routes.max(other.routes),
            audit_logs: self.audit_logs.max(other.audit_logs),
            admins: self.admins.max(other.admins),
        }
    }
}

/// A role (API role or admin role) as sent by an admin.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleInput {
    /// Unique name in the org; the `<role>` part of `<cloud>::<orgId>::<role>` scopes.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub name: String,
    /// Access per category.
    #[serde(default)]
    pub permissions: Permissions,
}

impl RoleInput {
    /// Field-level problems.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(message) = check_name(&self.name) {
            errors.push(FieldError::new("name", message));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_and_allows() {
        let a = Permissions {
            routes: Access::ViewOnly,
            ..Default::default()
        };
        let b = Permissions {
            routes: Access::Full,
            audit_logs: Access::ViewOnly,
            ..Default::default()
        };
        let u = a.union(b);
        assert!(u.allows(Category::Routes, true));
        assert!(u.allows(Category::AuditLogs, false));
        assert!(!u.allows(Category::AuditLogs, true));
        assert!(!u.allows(Category::Admins, false));
    }

    #[test]
    fn parses_the_design_shape() {
        let role: RoleInput = serde_json::from_value(serde_json::json!({"name": "automation",
            "permissions": {"authorizationServers": "full", "apiRoles": "view_only", "apiCredentials": "none",
                            "routes": "full", "auditLogs": "view_only", "admins": "none"}}))
        .unwrap();
        assert_eq!(role.permissions.api_roles, Access::ViewOnly);
        assert!(role.field_errors().is_empty());
        let typo: Result<RoleInput, _> = serde_json::from_value(
            serde_json::json!({"name": "a", "permissions": {"route": "full"}}),
        );
        assert!(typo.is_err());
    }
}
