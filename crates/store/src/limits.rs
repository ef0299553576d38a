//! The per-org limits, written once: the rule ([`Usage::apply`]: a change that adds to a count
//! already at its maximum is refused), the counts it decides on (one query), and the two places
//! it is asked:
//! - inside the writing [`Change`] ([`enforce`]), after taking the org row (`lock_org`), so
//!   concurrent creations queue instead of all counting the same number;
//! - for a whole plan before anything is written ([`Store::check_limits`], the declarative
//!   loader), with every change counted in order, so "one entry over the limit" applies nothing.

use sqlx::Row;

use crate::repository::Change;
use crate::{RoleKind, Store, StoreError};

/// A per-org limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The org's `max_authorization_servers`.
    AuthorizationServers,
    /// The org's `max_enabled_authorization_servers`.
    EnabledAuthorizationServers,
    /// The most (non-built-in) roles of a kind; a server setting the caller passes.
    Roles(RoleKind),
    /// The most sandbox API tokens; a server setting the caller passes.
    SandboxTokens,
}

impl Limit {
    fn noun(self) -> &'static str {
        match self {
            Limit::AuthorizationServers => "authorization servers",
            Limit::EnabledAuthorizationServers => "enabled authorization servers",
            Limit::Roles(RoleKind::Api) => "API roles",
            Limit::Roles(RoleKind::Admin) => "admin roles",
            Limit::SandboxTokens => "sandbox API tokens",
        }
    }
}

/// A change the limits apply to, planned or being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedChange {
    /// A new authorization server.
    CreateServer {
        /// Created enabled.
        enabled: bool,
    },
    /// A stored server whose `enabled` goes from `was_enabled` to `enabled`.
    UpdateServer {
        /// Enabled before.
        was_enabled: bool,
        /// Enabled after.
        enabled: bool,
    },
    /// A new role of `kind`, with at most `max` of that kind in the org.
    CreateRole {
        /// API or admin role.
        kind: RoleKind,
        /// The limit.
        max: i64,
    },
    /// A new sandbox API token, with at most `max` in the org.
    CreateSandboxToken {
        /// The limit.
        max: i64,
    },
}

impl LimitedChange {
    /// Whether the change adds to any count (only those can exceed a limit).
    fn adds(self) -> bool {
        match self {
            LimitedChange::UpdateServer {
                was_enabled,
                enabled,
            } => !was_enabled && enabled,
            _ => true,
        }
    }
}

/// A limit a change would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this organization may have at most {max} {}", limit.noun())]
pub struct LimitBreach {
    /// Which limit.
    pub limit: Limit,
    /// Its value.
    pub max: i64,
}

/// The org's maxima and counts.
struct Usage {
    max_servers: i64,
    max_enabled_servers: i64,
    servers: i64,
    enabled_servers: i64,
    api_roles: i64,
    admin_roles: i64,
    sandbox_tokens: i64,
}

impl Usage {
    /// Reads the org's maxima and counts (`NotFound` for an unknown org).
    async fn read<'e, E>(executor: E, org: i64) -> Result<Self, StoreError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let row = sqlx::query(
            "SELECT max_authorization_servers, max_enabled_authorization_servers, \
             (SELECT COUNT(*) FROM authorization_servers WHERE org_id = $1) AS servers, \
             (SELECT CAST(COALESCE(SUM(enabled), 0) AS BIGINT) FROM authorization_servers WHERE org_id = $1) AS enabled_servers, \
             (SELECT COUNT(*) FROM roles WHERE org_id = $1 AND kind = 'api' AND builtin = 0) AS api_roles, \
             (SELECT COUNT(*) FROM roles WHERE org_id = $1 AND kind = 'admin' AND builtin = 0) AS admin_roles, \
             (SELECT COUNT(*) FROM sandbox_tokens WHERE org_id = $1) AS sandbox_tokens \
             FROM orgs WHERE id = $1",
        )
        .bind(org)
        .fetch_optional(executor)
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(Self {
            max_servers: row.try_get("max_authorization_servers")?,
            max_enabled_servers: row.try_get("max_enabled_authorization_servers")?,
            servers: row.try_get("servers")?,
            enabled_servers: row.try_get("enabled_servers")?,
            api_roles: row.try_get("api_roles")?,
            admin_roles: row.try_get("admin_roles")?,
            sandbox_tokens: row.try_get("sandbox_tokens")?,
        })
    }

    /// Counts `change` and returns the limits it exceeds (the server count before the
    /// enabled count). The change is counted either way, so a plan finds every entry over.
    fn apply(&mut self, change: LimitedChange) -> Vec<LimitBreach> {
        let mut breaches = Vec::new();
        let mut add = |count: &mut i64, max: i64, limit: Limit| {
            if *count >= max {
                breaches.push(LimitBreach { limit, max });
            }
            *count += 1;
        };
        match change {
            LimitedChange::CreateServer { enabled } => {
                add(
                    &mut self.servers,
                    self.max_servers,
                    Limit::AuthorizationServers,
                );
                if enabled {
                    add(
                        &mut self.enabled_servers,
                        self.max_enabled_servers,
                        Limit::EnabledAuthorizationServers,
                    );
                }
            }
            LimitedChange::UpdateServer {
                was_enabled,
                enabled,
            } => match (was_enabled, enabled) {
                (false, true) => add(
                    &mut self.enabled_servers,
                    self.max_enabled_servers,
                    Limit::EnabledAuthorizationServers,
                ),
                (true, false) => self.enabled_servers -= 1,
                _ => {}
            },
            LimitedChange::CreateRole { kind, max } => {
                let count = match kind {
                    RoleKind::Api => &mut self.api_roles,
                    RoleKind::Admin => &mut self.admin_roles,
                };
                add(count, max, Limit::Roles(kind));
            }
            LimitedChange::CreateSandboxToken { max } => {
                add(&mut self.sandbox_tokens, max, Limit::SandboxTokens);
            }
        }
        breaches
    }
}

/// Refuses `change` with [`StoreError::LimitExceeded`] when it would exceed a limit of `org`,
/// inside the writing transaction and holding the org row.
pub(crate) async fn enforce(write: &mut Change, change: LimitedChange) -> Result<(), StoreError> {
    if !change.adds() {
        return Ok(());
    }
    let org = write.org();
    crate::lock_org(write.tx(), org).await?;
    let mut usage = Usage::read(&mut **write.tx(), org).await?;
    match usage.apply(change).first() {
        None => Ok(()),
        Some(breach) => {
            let hint = match (change, breach.limit) {
                (LimitedChange::CreateServer { .. }, Limit::EnabledAuthorizationServers) => {
                    "; create it disabled or disable another"
                }
                (LimitedChange::CreateSandboxToken { .. }, _) => "; delete one first",
                _ => "",
            };
            Err(StoreError::LimitExceeded(format!("{breach}{hint}")))
        }
    }
}

impl Store {
    /// Checks a whole plan of changes against `org`'s limits, in order, each change counted
    /// as if the ones before it were made: the breaches, by index into `plan`. Writing still
    /// checks each change again; this answers "would the whole plan fit" before anything is
    /// written.
    pub async fn check_limits(
        &self,
        org: i64,
        plan: &[LimitedChange],
    ) -> Result<Vec<(usize, LimitBreach)>, StoreError> {
        let mut usage = Usage::read(&self.pool, org).await?;
        Ok(plan
            .iter()
            .enumerate()
            .flat_map(|(index, change)| {
                usage
                    .apply(*change)
                    .into_iter()
                    .map(move |breach| (index, breach))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(servers: i64, enabled: i64) -> Usage {
        Usage {
            max_servers: 2,
            max_enabled_servers: 1,
            servers,
            enabled_servers: enabled,
            api_roles: 0,
            admin_roles: 0,
            sandbox_tokens: 0,
        }
    }

    #[test]
    fn the_rules_as_a_table() {
        use Limit::*;
        use LimitedChange::*;
        let breach = |limit, max| LimitBreach { limit, max };
        let cases: &[(i64, i64, LimitedChange, &[LimitBreach])] = &[
            (0, 0, CreateServer { enabled: true }, &[]),
            (1, 1, CreateServer { enabled: false }, &[]),
            (
                1,
                1,
                CreateServer { enabled: true },
                &[breach(EnabledAuthorizationServers, 1)],
            ),
            (
                2,
                1,
                CreateServer { enabled: true },
                &[
                    breach(AuthorizationServers, 2),
                    breach(EnabledAuthorizationServers, 1),
                ],
            ),
            (
                2,
                1,
                UpdateServer {
                    was_enabled: true,
                    enabled: true,
                },
                &[],
            ),
            (
                2,
                1,
                UpdateServer {
                    was_enabled: true,
                    enabled: false,
                },
                &[],
            ),
            (
                2,
                1,
                UpdateServer {
                    was_enabled: false,
                    enabled: true,
                },
                &[breach(EnabledAuthorizationServers, 1)],
            ),
            (
                0,
                0,
                CreateRole {
                    kind: RoleKind::Api,
                    max: 0,
                },
                &[breach(Roles(RoleKind::Api), 0)],
            ),
            (0, 0, CreateSandboxToken { max: 1 }, &[]),
        ];
        for (servers, enabled, change, expected) in cases {
            assert_eq!(
                usage(*servers, *enabled).apply(*change),
                expected.to_vec(),
                "{change:?} at {servers}/{enabled}"
            );
        }
    }

    #[test]
    fn a_plan_counts_every_change_in_order() {
        let mut usage = usage(0, 0);
        let plan = [
            LimitedChange::CreateServer { enabled: true },
            LimitedChange::CreateServer { enabled: true },
            LimitedChange::CreateServer { enabled: false },
        ];
        let found: Vec<Vec<Limit>> = plan
            .iter()
            .map(|c| usage.apply(*c).iter().map(|b| b.limit).collect())
            .collect();
        assert_eq!(
            found,
            [
                vec![],
                vec![Limit::EnabledAuthorizationServers],
                vec![Limit::AuthorizationServers]
            ]
        );
        assert_eq!(
            LimitBreach {
                limit: Limit::Roles(RoleKind::Api),
                max: 3
            }
            .to_string(),
            "this organization may have at most 3 API roles"
        );
    }
}
