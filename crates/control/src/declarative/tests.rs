//! Unit tests of the pure parts: key spelling and line numbers (`entry`), the planner (`plan`).

use super::entry::{Lines, camel_to_snake, line_of, snake_case_names, snake_to_camel};

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

/// The line index answers exactly as counting the newlines before each offset does, at every
/// offset (newlines themselves, empty lines, CRLF, past the end).
#[test]
fn the_line_index_counts_like_a_scan() {
    for text in [
        "",
        "\n",
        "a",
        "a\nb\nc",
        "\n\nx\r\n\ry\n",
        "[[a]]\nname = \"é\"\n\n",
    ] {
        let lines = Lines::new(text);
        for offset in 0..text.len() + 3 {
            let scanned = text.as_bytes()[..offset.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            assert_eq!(lines.line_of(offset), scanned, "{text:?} at {offset}");
        }
    }
}

/// A large file (the bulk case the line index is for) still names the exact line of a problem
/// deep inside it, for a top-level key, a nested key, and an entry.
#[test]
fn problems_deep_in_a_large_file_name_their_lines() {
    use portcullis_policy::UrlRules;
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "[[authorization_servers]]\nname = \"idp-{i}\"\njwks_uri = \"https://idp-{i}.example/keys\"\nissuer = \"https://idp-{i}.example\"\naudiences = [\"api\"]\n\n"
        ));
    }
    // Server #2501 starts at line 2500 * 6 + 1; its `clock_skew_s` is its third line.
    let at = text.match_indices("name = \"idp-2500\"").next().unwrap().0;
    text.insert_str(at, "clock_skew_s = \"ten\"\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "[[routes]]\nname = \"r-{i}\"\n[routes.match]\npath_prefix = \"/r{i}\"\n[routes.policy.scopes]\nall_of = [\"s\"]\n\n"
        ));
    }
    // Route #701: a wrong method spelling on the line after its path prefix.
    let at = text
        .match_indices("path_prefix = \"/r700\"\n")
        .next()
        .unwrap();
    text.insert_str(at.0 + at.1.len(), "methods = [\"get\"]\n");
    let problems = super::parse::parse("big.toml", &text, UrlRules::default()).unwrap_err();
    let found: Vec<(Option<usize>, Option<&str>, Option<&str>)> = problems
        .iter()
        .map(|p| (p.line, p.entry.as_deref(), p.field.as_deref()))
        .collect();
    let server_line = 2500 * 6 + 2;
    let route_line = 3000 * 6 + 1 + 1 + 700 * 7 + 4;
    assert_eq!(
        found,
        [
            (
                Some(server_line),
                Some("authorization_servers #2501 \"idp-2500\""),
                Some("clock_skew_s")
            ),
            (
                Some(route_line),
                Some("routes #701 \"r-700\""),
                Some("match.methods")
            ),
        ],
        "{problems:?}"
    );
}

mod plan {
    use portcullis_policy::permissions::{Permissions, RoleInput};
    use portcullis_policy::routes::RouteDefinition;
    use portcullis_policy::{ServerDefinition, UrlRules};
    use portcullis_store::{
        FetchStatus, LimitedChange, RoleKind, RoleRecord, RouteRecord, ServerRecord,
    };

    use crate::declarative::plan::{Declared, Plan, Planned, Undeclared, Write};
    use crate::declarative::{DeclaredConfig, parse};

    /// Servers `a` (enabled), `b` (disabled), `c` (enabled), `m` (keys by discovery), role
    /// `automation`, route `orders`.
    const DECLARED: &str = r#"
[[authorization_servers]]
name = "a"
jwks_uri = "https://idp.example/keys"
issuer = "https://idp.example"
audiences = ["api://a"]

[[authorization_servers]]
name = "b"
enabled = false
jwks_uri = "https://idp.example/keys"
issuer = "https://idp.example"
audiences = ["api://b"]

[[authorization_servers]]
name = "c"
jwks_uri = "https://idp.example/keys"
issuer = "https://idp.example"
audiences = ["api://c"]

[[authorization_servers]]
name = "m"
metadata_url = "https://idp.example/.well-known/openid-configuration"
audiences = ["api://m"]

[[api_roles]]
name = "automation"
[api_roles.permissions]
authorization_servers = "full"

[[routes]]
name = "orders"
upstream = "http://orders.internal:8080"
match = { path_prefix = "/orders" }
[routes.policy]
servers = ["a"]
"#;

    /// What the store holds in one case.
    #[derive(Default)]
    struct Stored {
        servers: Vec<ServerRecord>,
        roles: Vec<RoleRecord>,
        routes: Vec<RouteRecord>,
    }

    fn server(definition: &ServerDefinition) -> ServerRecord {
        let mut definition = definition.clone();
        if definition.metadata_url.is_some() {
            // As key discovery leaves it.
            definition.jwks_uri = Some("https://idp.example/discovered-keys".to_owned());
            definition.issuer = Some("https://idp.example/discovered".to_owned());
        }
        ServerRecord {
            id: format!("id-{}", definition.name),
            org_id: 1,
            definition,
            version: 3,
            created_at: 0,
            updated_at: 0,
            status: FetchStatus::default(),
            last_good_jwks: None,
        }
    }

    fn role(input: &RoleInput) -> RoleRecord {
        RoleRecord {
            id: format!("id-{}", input.name),
            name: input.name.clone(),
            permissions: input.permissions,
            builtin: false,
            version: 3,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn route(definition: &RouteDefinition) -> RouteRecord {
        RouteRecord {
            id: format!("id-{}", definition.name),
            definition: definition.clone(),
            version: 3,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// The store holding every declared entry exactly as declared.
    fn as_declared(config: &DeclaredConfig) -> Stored {
        Stored {
            servers: config
                .servers
                .iter()
                .map(|s| server(&s.definition))
                .collect(),
            roles: config.roles.iter().map(|r| role(&r.role)).collect(),
            routes: config.routes.iter().map(|r| route(&r.definition)).collect(),
        }
    }

    fn nothing(_: &DeclaredConfig) -> Stored {
        Stored::default()
    }

    fn everything_differs(config: &DeclaredConfig) -> Stored {
        let mut stored = as_declared(config);
        for record in &mut stored.servers {
            if record.definition.name != "b" {
                record.definition.audiences = vec!["api://old".to_owned()];
            }
        }
        stored.roles[0].permissions = Permissions::default();
        stored.routes[0].definition.upstream = Some("http://old.internal".to_owned());
        stored
    }

    fn with_undeclared(config: &DeclaredConfig) -> Stored {
        let mut stored = as_declared(config);
        let mut legacy = stored.servers[0].clone();
        legacy.definition.name = "legacy".to_owned();
        stored.servers.push(legacy);
        let mut ops = stored.roles[0].clone();
        ops.name = "ops".to_owned();
        stored.roles.push(ops);
        let mut old = stored.routes[0].clone();
        old.definition.name = "old".to_owned();
        stored.routes.push(old);
        stored
    }

    fn to_disable_and_create(config: &DeclaredConfig) -> Stored {
        let mut stored = everything_differs(config);
        stored.servers.retain(|s| s.definition.name != "c");
        for record in &mut stored.servers {
            if record.definition.name == "b" {
                record.definition.enabled = true;
            }
        }
        stored
    }

    fn other_metadata_url(config: &DeclaredConfig) -> Stored {
        let mut stored = as_declared(config);
        for record in &mut stored.servers {
            if record.definition.name == "m" {
                record.definition.metadata_url = Some("https://other.example/meta".to_owned());
            }
        }
        stored
    }

    /// "create server a", "update role automation", ... in plan order, after checking that every
    /// update's before is the stored record of that name and its after the declared entry.
    fn writes(plan: &Plan<'_>) -> Vec<String> {
        fn lines<D: Declared>(
            kind: &str,
            planned: &[Planned<'_, D>],
            check: impl Fn(&D, &Write<D::Record, D::Target>),
        ) -> Vec<String> {
            planned
                .iter()
                .map(|p| {
                    check(p.declared, &p.write);
                    let what = match p.write {
                        Write::Create(_) => "create",
                        Write::Update { .. } => "update",
                    };
                    format!("{what} {kind} {}", p.declared.name())
                })
                .collect()
        }
        let mut all = lines("server", &plan.servers, |declared, write| match write {
            Write::Create(after) => assert_eq!(*after, declared.definition),
            Write::Update { before, after } => {
                assert_eq!(before.id, format!("id-{}", declared.definition.name));
                assert_eq!(after.audiences, declared.definition.audiences);
                assert_eq!(after.enabled, declared.definition.enabled);
            }
        });
        all.extend(lines("role", &plan.roles, |declared, write| {
            if let Write::Update { before, after } = write {
                assert_eq!(before.id, format!("id-{}", declared.role.name));
                assert_eq!(after, &declared.role);
            }
        }));
        all.extend(lines("route", &plan.routes, |declared, write| {
            if let Write::Update { before, after } = write {
                assert_eq!(before.id, format!("id-{}", declared.definition.name));
                assert_eq!(after, &declared.definition);
            }
        }));
        all
    }

    struct Case {
        name: &'static str,
        stored: fn(&DeclaredConfig) -> Stored,
        writes: &'static [&'static str],
        unchanged: &'static [&'static str],
        undeclared: Undeclared,
    }

    const CASES: &[Case] = &[
        Case {
            name: "nothing stored: everything is created, in file order",
            stored: nothing,
            writes: &[
                "create server a",
                "create server b",
                "create server c",
                "create server m",
                "create role automation",
                "create route orders",
            ],
            unchanged: &[],
            undeclared: Undeclared {
                servers: 0,
                roles: 0,
                routes: 0,
            },
        },
        Case {
            name: "stored as declared (discovered keys kept): nothing is written",
            stored: as_declared,
            writes: &[],
            unchanged: &["a", "b", "c", "m", "automation", "orders"],
            undeclared: Undeclared {
                servers: 0,
                roles: 0,
                routes: 0,
            },
        },
        Case {
            name: "stored differently: updated with before and after",
            stored: everything_differs,
            writes: &[
                "update server a",
                "update server c",
                "update server m",
                "update role automation",
                "update route orders",
            ],
            unchanged: &["b"],
            undeclared: Undeclared {
                servers: 0,
                roles: 0,
                routes: 0,
            },
        },
        Case {
            name: "stored but not declared: left alone and counted",
            stored: with_undeclared,
            writes: &[],
            unchanged: &["a", "b", "c", "m", "automation", "orders"],
            undeclared: Undeclared {
                servers: 1,
                roles: 1,
                routes: 1,
            },
        },
        Case {
            name: "servers: disabling first, creating last",
            stored: to_disable_and_create,
            writes: &[
                "update server b",
                "update server a",
                "update server m",
                "create server c",
                "update role automation",
                "update route orders",
            ],
            unchanged: &[],
            undeclared: Undeclared {
                servers: 0,
                roles: 0,
                routes: 0,
            },
        },
        Case {
            name: "another metadata document: discovered keys are not kept",
            stored: other_metadata_url,
            writes: &["update server m"],
            unchanged: &["a", "b", "c", "automation", "orders"],
            undeclared: Undeclared {
                servers: 0,
                roles: 0,
                routes: 0,
            },
        },
    ];

    fn config() -> DeclaredConfig {
        parse("c.toml", DECLARED, UrlRules::default()).expect("the test file is valid")
    }

    #[test]
    fn each_declared_entry_is_created_updated_or_left_unchanged() {
        let config = config();
        for case in CASES {
            let stored = (case.stored)(&config);
            let plan = Plan::new(&config, &stored.servers, &stored.roles, &stored.routes);
            assert_eq!(writes(&plan), case.writes, "{}", case.name);
            let unchanged: Vec<&str> = plan.unchanged.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(unchanged, case.unchanged, "{}", case.name);
            assert_eq!(plan.undeclared, case.undeclared, "{}", case.name);
            assert_eq!(plan.is_empty(), case.writes.is_empty(), "{}", case.name);
        }
    }

    #[test]
    fn limited_changes_follow_the_write_order() {
        let config = config();
        let stored = to_disable_and_create(&config);
        let mut stored_without_role = stored;
        stored_without_role.roles.clear();
        let plan = Plan::new(
            &config,
            &stored_without_role.servers,
            &stored_without_role.roles,
            &stored_without_role.routes,
        );
        let changes: Vec<(&str, LimitedChange)> = plan
            .limited_changes(16)
            .into_iter()
            .map(|(_, entry, change)| (entry, change))
            .collect();
        let update = |was_enabled, enabled| LimitedChange::UpdateServer {
            was_enabled,
            enabled,
        };
        assert_eq!(
            changes,
            vec![
                (r#"authorization_servers #2 "b""#, update(true, false)),
                (r#"authorization_servers #1 "a""#, update(true, true)),
                (r#"authorization_servers #4 "m""#, update(true, true)),
                (
                    r#"authorization_servers #3 "c""#,
                    LimitedChange::CreateServer { enabled: true }
                ),
                (
                    r#"api_roles #1 "automation""#,
                    LimitedChange::CreateRole {
                        kind: RoleKind::Api,
                        max: 16
                    }
                ),
            ]
        );
    }
}

/// Key checks are shared only between servers whose checks read the same inputs: the same JWKS
/// URL (whatever their issuers), the same TLS settings; through metadata, also the same issuer.
#[test]
fn key_checks_are_shared_only_between_identical_inputs() {
    use portcullis_policy::UrlRules;
    // (name, extra lines); every server also gets its own issuer and audience.
    let servers = [
        ("a", "jwks_uri = \"https://idp.example/keys\""),
        ("b", "jwks_uri = \"https://idp.example/keys\""),
        ("c", "jwks_uri = \"https://other.example/keys\""),
        (
            "d",
            "jwks_uri = \"https://idp.example/keys\"\nverify_tls = false",
        ),
        (
            "e",
            "metadata_url = \"https://idp.example/.well-known/openid-configuration\"",
        ),
        (
            "f",
            "metadata_url = \"https://idp.example/.well-known/openid-configuration\"",
        ),
        ("g", "jwks_uri = \"https://idp.example/keys\""),
    ];
    let text: String = servers
        .iter()
        .map(|(name, extra)| {
            format!(
                "[[authorization_servers]]\nname = \"{name}\"\nissuer = \"https://{name}.example\"\naudiences = [\"api\"]\n{extra}\n\n"
            )
        })
        .collect();
    let config = super::parse::parse("g.toml", &text, UrlRules::default()).unwrap();
    let definitions: Vec<_> = config.servers.into_iter().map(|s| s.definition).collect();
    let (firsts, group_of) = super::apply::check_groups(&definitions);
    // a, b and g share one check; c (other URL), d (TLS off), e and f (metadata, issuers differ)
    // each have their own.
    assert_eq!(firsts, [0, 2, 3, 4, 5]);
    assert_eq!(group_of, [0, 0, 1, 2, 3, 4, 0]);
}
