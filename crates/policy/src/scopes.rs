//! Scopes: reading them from the claims a server names, and API-role scopes
//! `<cloud>::<orgId>::<roleName>` (DESIGN.md §1.2).

use crate::claims::Claims;

/// Reads and merges scopes from `claim_names`. Each claim may be a space-separated string
/// (RFC 8693 §4.2) or an array of strings; other shapes are ignored for that claim (a scope claim
/// we cannot read grants nothing). Duplicates are removed, first occurrence order kept.
pub fn extract(claims: &Claims<'_>, claim_names: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::with_capacity(8);
    let mut push = |s: &str| {
        if !s.is_empty() && !scopes.iter().any(|have| have == s) {
            scopes.push(s.to_owned());
        }
    };
    for name in claim_names {
        let Some(raw) = claims.raw(name) else {
            continue;
        };
        match raw.as_str() {
            Some(text) => text.split(' ').for_each(&mut push),
            None => {
                raw.for_each_str_item(|item| {
                    if let Some(scope) = item {
                        push(&scope);
                    }
                });
            }
        }
    }
    scopes
}

/// A parsed API-role scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleScope<'a> {
    /// The deployment's cloud name.
    pub cloud: &'a str,
    /// The organization id.
    pub org_id: &'a str,
    /// The API role name.
    pub role: &'a str,
}

/// Parses `<cloud>::<orgId>::<roleName>`: exactly three non-empty parts, a numeric org id.
pub fn parse_role_scope(scope: &str) -> Option<RoleScope<'_>> {
    let mut parts = scope.split("::");
    let (cloud, org_id, role) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || cloud.is_empty() || role.is_empty() {
        return None;
    }
    if org_id.is_empty() || !org_id.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(RoleScope {
        cloud,
        org_id,
        role,
    })
}

/// The role names granted to `org_id` in `cloud` by these scopes (DESIGN.md §1.2: the cloud must
/// be this deployment's and the org the verifying server's; whether the role exists is the
/// caller's check).
pub fn roles_for<'a>(scopes: &'a [String], cloud: &str, org_id: &str) -> Vec<&'a str> {
    let mut roles: Vec<&str> = Vec::new();
    for scope in scopes {
        if let Some(rs) = parse_role_scope(scope)
            && rs.cloud == cloud
            && rs.org_id == org_id
            && !roles.contains(&rs.role)
        {
            roles.push(rs.role);
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn merges_string_and_array_claims() {
        let text = json!({"scope": "a b  c", "scp": ["b", "d", 5, ["e"]], "roles": "x", "n": 1})
            .to_string();
        let claims = &Claims::parse(text.as_bytes()).unwrap();
        assert_eq!(
            extract(claims, &names(&["scope", "scp", "roles"])),
            ["a", "b", "c", "d", "x"]
        );
        assert_eq!(extract(claims, &names(&["scp"])), ["b", "d"]);
        assert!(extract(claims, &names(&["missing", "n"])).is_empty());
    }

    #[test]
    fn role_scopes() {
        assert_eq!(
            parse_role_scope("portcullis.local::272378::automation"),
            Some(RoleScope {
                cloud: "portcullis.local",
                org_id: "272378",
                role: "automation"
            })
        );
        for bad in [
            "a::b::c",
            "::1::r",
            "c::1::",
            "c::1::r::x",
            "c::1",
            "plain",
            "c::-1::r",
        ] {
            assert_eq!(parse_role_scope(bad), None, "{bad}");
        }
        let scopes = names(&[
            "portcullis.local::1::a",
            "other.cloud::1::b",
            "portcullis.local::2::c",
            "portcullis.local::1::a",
            "portcullis.local::1::d",
        ]);
        assert_eq!(roles_for(&scopes, "portcullis.local", "1"), ["a", "d"]);
    }
}
