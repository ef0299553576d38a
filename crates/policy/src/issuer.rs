//! Issuer matching: exact comparison (no normalisation, RFC 9068 §4 / OIDC Discovery §4.3), with
//! the one sanctioned exception of Entra's multi-tenant template `{tenantid}`, replaced by the
//! token's `tid` (which must be a GUID) before the exact comparison.

/// The placeholder in Entra multi-tenant issuer templates.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// A configured issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerPattern {
    /// The token's `iss` must equal this string.
    Exact(String),
    /// `prefix + tid + suffix` must equal the token's `iss`.
    TenantTemplate {
        /// Text before `{tenantid}`.
        prefix: String,
        /// Text after `{tenantid}`.
        suffix: String,
    },
}

fn is_loopback_host(rest: &str) -> bool {
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

impl IssuerPattern {
    /// Parses a configured issuer: an `https` URL (plain `http` only for loopback, for tests and
    /// demos) without query or fragment, with at most one `{tenantid}`.
    pub fn parse(issuer: &str) -> Result<Self, String> {
        if issuer.len() > crate::limits::MAX_VALUE_LEN {
            return Err("issuer is too long".into());
        }
        if issuer.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("issuer must not contain spaces or control characters".into());
        }
        let https = issuer.strip_prefix("https://");
        let http_loopback = issuer
            .strip_prefix("http://")
            .filter(|rest| is_loopback_host(rest));
        let Some(rest) = https.or(http_loopback) else {
            return Err("issuer must be an https URL (http only for localhost)".into());
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err("issuer URL has no host".into());
        }
        if issuer.contains('?') || issuer.contains('#') {
            return Err("issuer must not have a query or fragment".into());
        }
        match issuer.matches(TENANT_PLACEHOLDER).count() {
            0 => Ok(IssuerPattern::Exact(issuer.to_owned())),
            1 => {
                let (prefix, suffix) = issuer
                    .split_once(TENANT_PLACEHOLDER)
                    .unwrap_or((issuer, ""));
                Ok(IssuerPattern::TenantTemplate {
                    prefix: prefix.to_owned(),
                    suffix: suffix.to_owned(),
                })
            }
            _ => Err("issuer may contain {tenantid} only once".into()),
        }
    }

    /// Whether the token's `iss` (with its `tid` claim, for templates) matches.
    pub fn matches(&self, iss: &str, tid: Option<&str>) -> bool {
        match self {
            IssuerPattern::Exact(expected) => expected == iss,
            IssuerPattern::TenantTemplate { prefix, suffix } => tid.is_some_and(|tid| {
                is_guid(tid)
                    && iss.len() == prefix.len() + tid.len() + suffix.len()
                    && iss.starts_with(prefix.as_str())
                    && iss.ends_with(suffix.as_str())
                    && &iss[prefix.len()..prefix.len() + tid.len()] == tid
            }),
        }
    }

    /// Whether `iss` has the template's shape (ignoring `tid`); used to route tokens to template
    /// servers before the exact check, so a wrong `tid` yields "issuer mismatch", not "unknown".
    pub fn could_match(&self, iss: &str) -> bool {
        match self {
            IssuerPattern::Exact(expected) => expected == iss,
            IssuerPattern::TenantTemplate { prefix, suffix } => {
                iss.len() > prefix.len() + suffix.len()
                    && iss.starts_with(prefix.as_str())
                    && iss.ends_with(suffix.as_str())
            }
        }
    }

    /// The configured text (template form for templates).
    pub fn display(&self) -> String {
        match self {
            IssuerPattern::Exact(s) => s.clone(),
            IssuerPattern::TenantTemplate { prefix, suffix } => {
                format!("{prefix}{TENANT_PLACEHOLDER}{suffix}")
            }
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn exact_is_exact() {
        let p = IssuerPattern::parse("https://acme.okta.com/oauth2/default").unwrap();
        assert!(p.matches("https://acme.okta.com/oauth2/default", None));
        assert!(!p.matches("https://acme.okta.com/oauth2/default/", None));
        assert!(!p.matches("HTTPS://acme.okta.com/oauth2/default", None));
    }

    #[test]
    fn tenant_template() {
        let p = IssuerPattern::parse("https://login.microsoftonline.com/{tenantid}/v2.0").unwrap();
        let iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
        assert!(p.matches(&iss, Some(TID)));
        assert!(!p.matches(&iss, None));
        assert!(!p.matches(&iss, Some("9188040d-6c67-4c5b-b112-36a304b66dad")));
        assert!(!p.matches("https://login.microsoftonline.com/evil/v2.0", Some("evil")));
        assert!(p.could_match(&iss));
    }

    #[test]
    fn parse_rules() {
        assert!(IssuerPattern::parse("http://idp.example.com").is_err());
        assert!(IssuerPattern::parse("http://127.0.0.1:8080/realms/x").is_ok());
        assert!(IssuerPattern::parse("https://x/{tenantid}/{tenantid}").is_err());
        assert!(IssuerPattern::parse("https://x?a=b").is_err());
        assert!(IssuerPattern::parse("https:// x").is_err());
        assert!(IssuerPattern::parse("https://").is_err());
    }
}
