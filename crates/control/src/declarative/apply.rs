//! Applying a validated config: the thin I/O part. Reads what the store holds, asks the pure
//! planner ([`super::plan`]) what to write, asks the store whether the plan fits the org limits,
//! fetches the keys of the servers that change, then executes the plan entry by entry through
//! one retry loop ([`with_retries`]) and records what each write did in the [`ApplyReport`].

use std::collections::HashMap;
use std::sync::Arc;

use portcullis_policy::ServerDefinition;
use portcullis_store::{Actor, Conflict, FetchOutcome, Interface, Limit, RoleKind, StoreError};

use super::plan::{self, Plan, Write};
use super::{ACTOR, ApplyError, ApplyReport, DeclaredConfig, Problem, Resource};
use crate::api::servers::ANY_AUDIENCE_WARNING;
use crate::keycheck::{self, KeyCheck};
use crate::state::ControlState;

/// Key checks run at most this many fetches at once.
const KEY_CHECK_CONCURRENCY: usize = 8;

/// Attempts per entry when a concurrent writer (another node applying the same file) interferes.
const WRITE_ATTEMPTS: usize = 3;

/// Applies a validated config: plans against the store, checks the org limits for the whole
/// plan, fetches keys for what changes, then writes. See the module documentation of
/// [`super`].
pub async fn apply(
    state: &ControlState,
    config: &DeclaredConfig,
) -> Result<ApplyReport, ApplyError> {
    let read_error = |error: StoreError| ApplyError::Store {
        file: config.file.clone(),
        resource: None,
        error,
        report: ApplyReport::default(),
    };
    let stored_servers = state
        .store
        .list_servers(state.org)
        .await
        .map_err(read_error)?;
    let stored_roles = state
        .store
        .list_roles(state.org, RoleKind::Api)
        .await
        .map_err(read_error)?;
    let stored_routes = state
        .store
        .list_routes(state.org)
        .await
        .map_err(read_error)?;

    let plan = Plan::new(config, &stored_servers, &stored_roles, &stored_routes);
    let undeclared = plan.undeclared;
    if undeclared != plan::Undeclared::default() {
        tracing::info!(
            authorization_servers = undeclared.servers,
            api_roles = undeclared.roles,
            routes = undeclared.routes,
            "config: entries in the store but not in the file are left unchanged"
        );
    }
    let mut report = ApplyReport {
        unchanged: plan.unchanged.clone(),
        warnings: config
            .servers
            .iter()
            .filter(|declared| declared.definition.accepts_any_audience())
            .map(|declared| {
                format!(
                    "{}: {ANY_AUDIENCE_WARNING}",
                    Resource::server(&declared.definition.name)
                )
            })
            .collect(),
        ..ApplyReport::default()
    };

    let problems = limit_problems(state, config, &plan)
        .await
        .map_err(read_error)?;
    if !problems.is_empty() {
        return Err(ApplyError::Invalid {
            file: config.file.clone(),
            problems,
        });
    }

    // Key checks, concurrently (each may wait for a slow IdP), before any write.
    let checks = check_keys(
        state,
        plan.servers
            .iter()
            .map(|planned| planned.declared.definition.clone())
            .collect(),
    )
    .await;

    let written = match write_plan(state, plan, checks, &mut report).await {
        Ok(()) => write_org_settings(state, config, &mut report).await,
        Err(failed) => Err(failed),
    };
    match written {
        Ok(()) => Ok(report),
        Err((resource, error)) => Err(ApplyError::Store {
            file: config.file.clone(),
            resource: Some(resource),
            error,
            report,
        }),
    }
}

/// `[org_settings]`: replaces the stored settings when the file's differ (audited like an API
/// change, by `config`).
async fn write_org_settings(
    state: &ControlState,
    config: &DeclaredConfig,
    report: &mut ApplyReport,
) -> Result<(), (Resource, StoreError)> {
    let Some(declared) = &config.org_settings else {
        return Ok(());
    };
    let resource = Resource {
        kind: super::ResourceKind::OrgSettings,
        name: "org_settings".to_owned(),
    };
    let failed = |error| (resource.clone(), error);
    let stored = state
        .store
        .get_org_settings(state.org)
        .await
        .map_err(failed)?;
    // The file never switches read-only mode (`parse.rs`): the stored value is kept.
    let mut declared = declared.clone();
    declared.read_only = stored.read_only;
    if stored.input() == declared {
        report.unchanged.push(resource);
        return Ok(());
    }
    let actor = Actor::system(ACTOR, Interface::Config);
    state
        .store
        .put_org_settings(state.org, None, &declared, &actor)
        .await
        .map_err(failed)?;
    report.updated.push(resource);
    Ok(())
}

/// Executes the plan in order, recording each write in `report`; on a store error, stops and
/// hands back the entry being written.
async fn write_plan(
    state: &ControlState,
    plan: Plan<'_>,
    checks: Vec<KeyCheck>,
    report: &mut ApplyReport,
) -> Result<(), (Resource, StoreError)> {
    let store = &state.store;
    let org = state.org;
    let actor = Actor::system(ACTOR, Interface::Config);
    let actor = &actor;
    for (planned, check) in plan.servers.into_iter().zip(checks) {
        let mut definition = planned.declared.definition.clone();
        fill_discovered(&mut definition, &check);
        let resource = Resource::server(&definition.name);
        let outcome = &check.outcome;
        if let FetchOutcome::Failure { error } = outcome {
            report.warnings.push(format!(
                "{resource}: the key check failed ({error}); saved anyway with the error recorded, tokens from it are rejected until its keys can be fetched"
            ));
        }
        let written = with_retries(
            planned.write.into_before(),
            |current| plan::server_write(&definition, current),
            async |write| match write {
                Write::Create(after) => store
                    .create_server(org, &after, Some(outcome), actor)
                    .await
                    .map(drop),
                Write::Update { before, after } => store
                    .update_server(
                        org,
                        &before.id,
                        Some(before.version),
                        &after,
                        Some(outcome),
                        actor,
                    )
                    .await
                    .map(drop),
            },
            async || {
                Ok(store
                    .list_servers(org)
                    .await?
                    .into_iter()
                    .find(|r| r.definition.name == definition.name))
            },
        )
        .await;
        report.record(resource, written)?;
    }
    for planned in plan.roles {
        let role = &planned.declared.role;
        let written = with_retries(
            planned.write.into_before(),
            |current| plan::role_write(role, current),
            async |write| match write {
                Write::Create(after) => store
                    .create_role(
                        org,
                        RoleKind::Api,
                        &after,
                        state.settings.max_api_roles,
                        actor,
                    )
                    .await
                    .map(drop),
                Write::Update { before, after } => store
                    .update_role(
                        org,
                        RoleKind::Api,
                        &before.id,
                        Some(before.version),
                        &after,
                        actor,
                    )
                    .await
                    .map(drop),
            },
            async || {
                Ok(store
                    .list_roles(org, RoleKind::Api)
                    .await?
                    .into_iter()
                    .find(|r| r.name == role.name))
            },
        )
        .await;
        report.record(Resource::role(&role.name), written)?;
    }
    for planned in plan.routes {
        let definition = &planned.declared.definition;
        let written = with_retries(
            planned.write.into_before(),
            |current| plan::route_write(definition, current),
            async |write| match write {
                Write::Create(after) => store.create_route(org, &after, actor).await.map(drop),
                Write::Update { before, after } => store
                    .update_route(org, &before.id, Some(before.version), &after, actor)
                    .await
                    .map(drop),
            },
            async || {
                Ok(store
                    .list_routes(org)
                    .await?
                    .into_iter()
                    .find(|r| r.definition.name == definition.name))
            },
        )
        .await;
        report.record(Resource::route(&definition.name), written)?;
    }
    Ok(())
}

/// What one entry's write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Created,
    Updated,
    Unchanged,
}

impl ApplyReport {
    /// Files one entry's write under what it did, or hands back the entry with the store's error.
    fn record(
        &mut self,
        resource: Resource,
        written: Result<Written, StoreError>,
    ) -> Result<(), (Resource, StoreError)> {
        match written {
            Ok(Written::Created) => self.created.push(resource),
            Ok(Written::Updated) => self.updated.push(resource),
            Ok(Written::Unchanged) => self.unchanged.push(resource),
            Err(error) => return Err((resource, error)),
        }
        Ok(())
    }
}

/// Whether a write lost to a concurrent writer (the entry was created or changed meanwhile).
fn is_race(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Conflict(Conflict::Duplicate { .. } | Conflict::StaleVersion { .. })
    )
}

/// Writes one entry, the only retry loop of the loader. Each attempt decides (with the planner's
/// pure `decide`) what the entry needs given `current`, the stored record of its name, and
/// performs it with `write`; when another writer got there first (another node applying the
/// same file), reads the entry again with `reread` and decides again, at most
/// [`WRITE_ATTEMPTS`] times in all.
async fn with_retries<R, T>(
    mut current: Option<R>,
    decide: impl Fn(Option<&R>) -> Option<Write<R, T>>,
    mut write: impl AsyncFnMut(Write<R, T>) -> Result<(), StoreError>,
    mut reread: impl AsyncFnMut() -> Result<Option<R>, StoreError>,
) -> Result<Written, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(change) = decide(current.as_ref()) else {
            return Ok(Written::Unchanged);
        };
        let written = match change {
            Write::Create(_) => Written::Created,
            Write::Update { .. } => Written::Updated,
        };
        match write(change).await {
            Ok(()) => return Ok(written),
            Err(error) if is_race(&error) && attempt < WRITE_ATTEMPTS => {
                current = reread().await?;
            }
            Err(error) => return Err(error),
        }
    }
}

/// The org limits, checked by the store against the plan in the order it will be written (the
/// store checks them again on every write; this only makes "one entry over the limit" apply
/// nothing).
async fn limit_problems(
    state: &ControlState,
    config: &DeclaredConfig,
    plan: &Plan<'_>,
) -> Result<Vec<Problem>, StoreError> {
    let planned = plan.limited_changes(state.settings.max_api_roles);
    let changes: Vec<_> = planned.iter().map(|(_, _, change)| *change).collect();
    let breaches = state.store.check_limits(state.org, &changes).await?;
    Ok(breaches
        .into_iter()
        .filter_map(|(index, breach)| {
            let (line, entry, _) = planned.get(index)?;
            let (field, message) = match breach.limit {
                Limit::AuthorizationServers => (
                    None,
                    format!("{breach} (org limit max_authorization_servers); delete one or raise the limit"),
                ),
                Limit::EnabledAuthorizationServers => (
                    Some("enabled"),
                    format!("{breach} (org limit max_enabled_authorization_servers); declare it with enabled = false or disable another"),
                ),
                Limit::Roles(_) | Limit::SandboxTokens => (None, breach.to_string()),
            };
            Some(Problem {
                file: config.file.clone(),
                line: Some(*line),
                entry: Some((*entry).to_owned()),
                field: field.map(str::to_owned),
                message,
            })
        })
        .collect())
}

/// What a key check found through metadata fills the fields the file left empty (as the API does).
fn fill_discovered(definition: &mut ServerDefinition, check: &KeyCheck) {
    if let (None, Some(discovered)) = (&definition.jwks_uri, &check.discovered_jwks_uri) {
        definition.jwks_uri = Some(discovered.clone());
    }
    if let (None, Some(discovered)) = (&definition.issuer, &check.discovered_issuer) {
        definition.issuer = Some(discovered.clone());
    }
}

/// What a key check reads from a definition (`keys::validate::check_server`): the key source
/// (a metadata URL wins over a JWKS URL, as in `KeySource::of`), the TLS settings of the fetch,
/// and the issuer only when keys come through metadata (the mix-up check compares them).
#[derive(PartialEq, Eq, Hash)]
struct CheckInputs<'a> {
    metadata_url: Option<&'a str>,
    jwks_uri: Option<&'a str>,
    verify_tls: bool,
    ca_bundle_pem: Option<&'a str>,
    issuer: Option<&'a str>,
}

impl<'a> CheckInputs<'a> {
    fn of(definition: &'a ServerDefinition) -> Self {
        let metadata_url = definition.metadata_url.as_deref();
        Self {
            metadata_url,
            jwks_uri: match metadata_url {
                Some(_) => None,
                None => definition.jwks_uri.as_deref(),
            },
            verify_tls: definition.verify_tls,
            ca_bundle_pem: definition.ca_bundle_pem.as_deref(),
            issuer: metadata_url.and(definition.issuer.as_deref()),
        }
    }
}

/// Groups definitions whose key checks would read the same inputs: the indexes of one
/// definition per group (in order of first appearance), and each definition's group. A file
/// declaring many servers of one IdP (tenants, audiences) then fetches their keys once, not once
/// per server: 10,000 such servers took ≈ 10 s of fetching.
pub(super) fn check_groups(definitions: &[ServerDefinition]) -> (Vec<usize>, Vec<usize>) {
    let mut groups: HashMap<CheckInputs<'_>, usize> = HashMap::new();
    let mut firsts = Vec::new();
    let group_of = definitions
        .iter()
        .enumerate()
        .map(|(index, definition)| {
            *groups
                .entry(CheckInputs::of(definition))
                .or_insert_with(|| {
                    firsts.push(index);
                    firsts.len() - 1
                })
        })
        .collect();
    (firsts, group_of)
}

/// Runs the key checks of `definitions`, one per group of identical inputs ([`check_groups`]),
/// at most [`KEY_CHECK_CONCURRENCY`] at once; the result is in the order of `definitions`.
async fn check_keys(state: &ControlState, definitions: Vec<ServerDefinition>) -> Vec<KeyCheck> {
    let (firsts, group_of) = check_groups(&definitions);
    let unique: Vec<ServerDefinition> = firsts
        .iter()
        .filter_map(|&index| definitions.get(index).cloned())
        .collect();
    let checks = check_each(state, unique).await;
    group_of
        .into_iter()
        .map(|group| checks.get(group).cloned().unwrap_or_else(incomplete_check))
        .collect()
}

fn incomplete_check() -> KeyCheck {
    KeyCheck {
        report: portcullis_keys::validate::ValidationReport::failure(
            "check_incomplete",
            "the key check did not complete".to_owned(),
        ),
        outcome: FetchOutcome::Failure {
            error: "the key check did not complete".to_owned(),
        },
        discovered_issuer: None,
        discovered_jwks_uri: None,
    }
}

/// Runs the key checks of `definitions`, at most [`KEY_CHECK_CONCURRENCY`] at once, in order.
async fn check_each(state: &ControlState, definitions: Vec<ServerDefinition>) -> Vec<KeyCheck> {
    let limit = Arc::new(tokio::sync::Semaphore::new(KEY_CHECK_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let count = definitions.len();
    for (index, definition) in definitions.into_iter().enumerate() {
        let state = state.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (index, keycheck::check(&state, &definition).await)
        });
    }
    let mut checks: Vec<Option<KeyCheck>> = vec![None; count];
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, check)) = done
            && let Some(slot) = checks.get_mut(index)
        {
            *slot = Some(check);
        }
    }
    checks
        .into_iter()
        .map(|check| check.unwrap_or_else(incomplete_check))
        .collect()
}
