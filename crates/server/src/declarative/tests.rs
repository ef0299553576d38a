//! Unit tests of the pure parts: key spelling and line numbers (`entry`), the planner (`plan`).

use super::entry::{camel_to_snake, line_of, snake_case_names, snake_to_camel};

#[test]
fn key_spelling() {
    assert_eq!(snake_to_camel("jwks_uri").as_deref(), Some("jwksUri"));
    assert_eq!(
        snake_to_camel("require_typ_at_jwt").as_deref(),
        Some("requireTypAtJwt")
    );
    assert_eq!(
        snake_to_camel("clock_skew_s").as_deref(),
        Some("clockSkewS")
    );
    for refused in [
        "jwksUri",
        "jwks__uri",
        "_name",
        "name_",
        "jwks-uri",
        "",
        "1a",
    ] {
        assert_eq!(snake_to_camel(refused), None, "{refused}");
    }
    assert_eq!(
        camel_to_snake("permissions.apiRoles"),
        "permissions.api_roles"
    );
    assert_eq!(
        snake_case_names("unknown field `jwksUrl`, expected one of `name`, `jwksUri`"),
        "unknown field `jwks_url`, expected one of `name`, `jwks_uri`"
    );
    assert_eq!(
        snake_case_names("unknown variant `HS256`, expected one of `RS256`, `EdDSA`"),
        "unknown variant `HS256`, expected one of `RS256`, `EdDSA`"
    );
}

#[test]
fn lines_are_one_based() {
    let text = "a\nb\nc";
    assert_eq!(line_of(text, 0), 1);
    assert_eq!(line_of(text, 2), 2);
    assert_eq!(line_of(text, 99), 3);
}
