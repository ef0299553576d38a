//! The org's API governance settings (issue 14), pure: how configuration changes take effect
//! (`activation`), whether the org is read-only, and the cloud service API's rate limits by
//! weight with their exceptions as data. No clock, no HTTP: callers pass the method, the path
//! and whether the caller is a person in the portal.
//!
//! Weights (DESIGN.md §1.5's cloud service): `DELETE` is heavy, `POST`/`PUT`/`PATCH` medium,
//! everything else light. Each weight has a short window (per node, in memory) and a long one
//! (shared by the cluster through the store). Exceptions name one method and path exactly.

use serde::{Deserialize, Serialize};

use crate::config::FieldError;

/// How configuration changes take effect.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Every change is live as soon as it is saved.
    #[default]
    Immediate,
    /// Changes to servers, routes and roles are saved as pending and go live together when
    /// activated (`POST /api/v1/status/activate`).
    Staged,
}

/// One window: at most `limit` requests per `windowSeconds`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// Requests allowed per window (1 to 1,000,000).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000))]
    pub limit: u32,
    /// The window's length in seconds (1 to 86,400).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86_400))]
    pub window_seconds: u32,
}

impl Window {
    const fn new(limit: u32, window_seconds: u32) -> Self {
        Self {
            limit,
            window_seconds,
        }
    }

    fn field_errors(&self, field: &str, errors: &mut Vec<FieldError>) {
        if !(1..=1_000_000).contains(&self.limit) {
            errors.push(FieldError::new(
                &format!("{field}.limit"),
                "must be between 1 and 1000000".to_owned(),
            ));
        }
        if !(1..=86_400).contains(&self.window_seconds) {
            errors.push(FieldError::new(
                &format!("{field}.windowSeconds"),
                "must be between 1 and 86400".to_owned(),
            ));
        }
    }
}

/// A weight's two windows.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightLimits {
    /// The burst window, counted per node in memory.
    pub short: Window,
    /// The long window, counted in the store and shared by every node.
    pub long: Window,
}

impl WeightLimits {
    const fn new(short: Window, long: Window) -> Self {
        Self { short, long }
    }

    fn field_errors(&self, field: &str, errors: &mut Vec<FieldError>) {
        self.short.field_errors(&format!("{field}.short"), errors);
        self.long.field_errors(&format!("{field}.long"), errors);
        // Swapped windows would count the burst across the cluster's store and the quota per
        // node: almost certainly a mistake, and one that silently weakens the hourly quota.
        if self.short.window_seconds > self.long.window_seconds {
            errors.push(FieldError::new(
                &format!("{field}.short.windowSeconds"),
                "must not be longer than the long window".to_owned(),
            ));
        }
    }
}

/// The limits of the three weights for one kind of caller.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// `DELETE`.
    pub heavy: WeightLimits,
    /// `POST`, `PUT`, `PATCH`.
    pub medium: WeightLimits,
    /// `GET` and every other method.
    pub light: WeightLimits,
}

impl Profile {
    fn field_errors(&self, field: &str, errors: &mut Vec<FieldError>) {
        self.heavy.field_errors(&format!("{field}.heavy"), errors);
        self.medium.field_errors(&format!("{field}.medium"), errors);
        self.light.field_errors(&format!("{field}.light"), errors);
    }
}

/// An operation with limits of its own, whoever calls it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitException {
    /// The HTTP method, upper case.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{3,7}$"))]
    pub method: String,
    /// The full path, e.g. `/api/v1/authenticatedSession` (matched exactly).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^/api/v1/[A-Za-z0-9./]{1,200}$")
    )]
    pub path: String,
    /// Its windows.
    pub limits: WeightLimits,
}

/// The cloud service API's rate limits (members left out take the documented defaults).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RateLimits {
    /// `false` switches every limit off for the org.
    pub enabled: bool,
    /// Bearer tokens, legacy API-key sessions and unauthenticated callers.
    pub api: Profile,
    /// Portal (cookie) sessions: a person clicking, with room for bursts of edits.
    pub interactive: Profile,
    /// Operations with limits of their own (checked before the weights).
    pub exceptions: Vec<LimitException>,
}

/// Most exceptions per org.
pub const MAX_EXCEPTIONS: usize = 32;

const MINUTE: u32 = 60;
const HOUR: u32 = 3600;

impl Default for RateLimits {
    /// The cloud service's documented limits for API callers; ten to thirty times more for a
    /// person in the portal (deleting a few rows in a row must not be refused).
    fn default() -> Self {
        Self {
            enabled: true,
            api: Profile {
                heavy: WeightLimits::new(Window::new(1, MINUTE), Window::new(4, HOUR)),
                medium: WeightLimits::new(Window::new(1, 1), Window::new(400, HOUR)),
                light: WeightLimits::new(Window::new(2, 1), Window::new(1_000, HOUR)),
            },
            interactive: Profile {
                heavy: WeightLimits::new(Window::new(30, MINUTE), Window::new(300, HOUR)),
                medium: WeightLimits::new(Window::new(10, 1), Window::new(4_000, HOUR)),
                light: WeightLimits::new(Window::new(20, 1), Window::new(20_000, HOUR)),
            },
            exceptions: vec![
                // The portal's and the CLI's sign-in (by client address: nobody is known yet;
                // the per-admin lockout is what stops password guessing).
                exception(
                    "POST",
                    "/api/v1/auth/login",
                    WeightLimits::new(Window::new(5, 1), Window::new(1_000, HOUR)),
                ),
                exception(
                    "POST",
                    "/api/v1/authenticatedSession",
                    WeightLimits::new(Window::new(2, 1), Window::new(1_000, HOUR)),
                ),
                exception(
                    "POST",
                    "/api/v1/status/activate",
                    WeightLimits::new(Window::new(10, MINUTE), Window::new(40, HOUR)),
                ),
                exception(
                    "GET",
                    "/api/v1/auditLogs.csv",
                    WeightLimits::new(Window::new(10, MINUTE), Window::new(40, HOUR)),
                ),
            ],
        }
    }
}

fn exception(method: &str, path: &str, limits: WeightLimits) -> LimitException {
    LimitException {
        method: method.to_owned(),
        path: path.to_owned(),
        limits,
    }
}

/// The rule a request is counted under: its name (the counter's key) and its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `heavy`, `medium`, `light` (with `interactive:` before for portal sessions) or
    /// `METHOD path` for an exception.
    pub name: String,
    /// Its windows.
    pub limits: WeightLimits,
}

impl RateLimits {
    /// The rule for `method` on `path` (the full path, `/api/v1/...`); `interactive` for a
    /// portal session. `None` when limits are off.
    pub fn rule(&self, method: &str, path: &str, interactive: bool) -> Option<Rule> {
        if !self.enabled {
            return None;
        }
        if let Some(found) = self
            .exceptions
            .iter()
            .find(|e| e.method.eq_ignore_ascii_case(method) && e.path == path)
        {
            return Some(Rule {
                name: format!("{} {}", found.method, found.path),
                limits: found.limits,
            });
        }
        let (profile, prefix) = if interactive {
            (&self.interactive, "interactive:")
        } else {
            (&self.api, "")
        };
        let (weight, limits) = match method {
            "DELETE" => ("heavy", profile.heavy),
            "POST" | "PUT" | "PATCH" => ("medium", profile.medium),
            _ => ("light", profile.light),
        };
        Some(Rule {
            name: format!("{prefix}{weight}"),
            limits,
        })
    }

    /// What is wrong with these limits, field by field.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.api.field_errors("rateLimits.api", &mut errors);
        self.interactive
            .field_errors("rateLimits.interactive", &mut errors);
        if self.exceptions.len() > MAX_EXCEPTIONS {
            errors.push(FieldError::new(
                "rateLimits.exceptions",
                format!("at most {MAX_EXCEPTIONS} exceptions"),
            ));
        }
        for (n, e) in self.exceptions.iter().enumerate() {
            let field = format!("rateLimits.exceptions[{n}]");
            // Only the first of two exceptions for one operation would ever apply.
            if self.exceptions[..n]
                .iter()
                .any(|earlier| earlier.method == e.method && earlier.path == e.path)
            {
                errors.push(FieldError::new(
                    &field,
                    format!("a second exception for {} {}", e.method, e.path),
                ));
            }
            let method_ok = (3..=7).contains(&e.method.len())
                && e.method.bytes().all(|b| b.is_ascii_uppercase());
            if !method_ok {
                errors.push(FieldError::new(
                    &format!("{field}.method"),
                    "must be an upper-case HTTP method".to_owned(),
                ));
            }
            let path_ok = e.path.len() <= 208
                && e.path.starts_with("/api/v1/")
                && e.path.len() > "/api/v1/".len()
                && e.path[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'.');
            if !path_ok {
                errors.push(FieldError::new(
                    &format!("{field}.path"),
                    "must be a path under /api/v1/ (letters, digits, `.` and `/`)".to_owned(),
                ));
            }
            e.limits
                .field_errors(&format!("{field}.limits"), &mut errors);
        }
        errors
    }
}

/// The org's governance settings as sent by an admin (`PUT /api/v1/orgSettings`, the
/// declarative file's `[org_settings]`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgSettingsInput {
    /// How changes take effect: `immediate`, or `staged` (changes to servers, routes and roles
    /// are saved as pending changes until activated; credentials stay immediate, so revoking a
    /// secret never waits and a secret shown once works when shown).
    #[serde(default)]
    pub activation: Activation,
    /// Every write of the cloud service API is refused (403 `STATE_READONLY`), except signing
    /// in and out and this resource itself.
    #[serde(default)]
    pub read_only: bool,
    /// The rate limits (the documented defaults when omitted).
    #[serde(default)]
    pub rate_limits: RateLimits,
}

impl OrgSettingsInput {
    /// What is wrong, field by field.
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.rate_limits.field_errors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_windows_and_duplicate_exceptions_are_named() {
        let mut limits = RateLimits::default();
        assert!(limits.field_errors().is_empty(), "the defaults are valid");
        limits.api.heavy.short.window_seconds = 7200;
        let first = limits.exceptions[0].clone();
        limits.exceptions.push(first);
        let fields: Vec<String> = limits.field_errors().into_iter().map(|e| e.field).collect();
        let last = limits.exceptions.len() - 1;
        assert_eq!(
            fields,
            [
                "rateLimits.api.heavy.short.windowSeconds".to_owned(),
                format!("rateLimits.exceptions[{last}]"),
            ]
        );
    }

    #[test]
    fn weights_by_method_and_exceptions_first() {
        let limits = RateLimits::default();
        let rule = |m: &str, p: &str, i: bool| limits.rule(m, p, i).unwrap();
        assert_eq!(rule("DELETE", "/api/v1/routes/x", false).name, "heavy");
        assert_eq!(
            rule("DELETE", "/api/v1/routes/x", false).limits.short.limit,
            1
        );
        assert_eq!(rule("PUT", "/api/v1/routes/x", false).name, "medium");
        assert_eq!(rule("GET", "/api/v1/routes", false).name, "light");
        assert_eq!(
            rule("DELETE", "/api/v1/routes/x", true).name,
            "interactive:heavy"
        );
        assert_eq!(
            rule("POST", "/api/v1/auth/login", false).limits.short.limit,
            5
        );
        let login = rule("POST", "/api/v1/authenticatedSession", false);
        assert_eq!(login.name, "POST /api/v1/authenticatedSession");
        assert_eq!(login.limits.long.limit, 1_000);
        let off = RateLimits {
            enabled: false,
            ..RateLimits::default()
        };
        assert_eq!(off.rule("GET", "/api/v1/routes", false), None);
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(OrgSettingsInput::default().field_errors().is_empty());
        let mut bad = RateLimits::default();
        bad.api.heavy.short.limit = 0;
        bad.exceptions[1].path = "/elsewhere".to_owned();
        let fields: Vec<String> = bad.field_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "rateLimits.api.heavy.short.limit",
                "rateLimits.exceptions[1].path"
            ]
        );
    }
}
