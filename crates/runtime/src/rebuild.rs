//! Keeping the snapshot current: rebuild it from the store and the key manager after every
//! admin write, whenever keys change, and periodically (to pick up changes made elsewhere);
//! drive the key manager's refresh schedule.
//!
//! If the store cannot be read, the current snapshot stays in force (DESIGN.md §4: a node keeps
//! deciding from its last configuration), and the failure is logged and counted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use portcullis_jose::JwkSet;
use portcullis_keys::manager::RefreshResult;
use portcullis_policy::routes::{CompiledRoute, RouteTable};
use portcullis_policy::snapshot::Snapshot;
use portcullis_policy::{TrustedServer, Validator};
use portcullis_store::{StoreError, now_ms};

use crate::Runtime;

/// How often the refresh schedule is checked.
pub const SCHEDULE_TICK: Duration = Duration::from_secs(1);
/// How often the snapshot is rebuilt even when the configuration version did not move (to adopt
/// keys another node fetched and persisted).
pub const PERIODIC_REBUILD: Duration = Duration::from_secs(30);

fn generation(version: i64, key_fingerprint: u64) -> u64 {
    (version as u64).rotate_left(32) ^ key_fingerprint
}

/// Rebuilds the snapshot from the store and the key manager, and swaps it in.
pub async fn rebuild(runtime: &Runtime) -> Result<(), StoreError> {
    // Serialised: each rebuild reads after the previous one published, so the last to finish
    // is always the newest (waiting rebuilds are cheap: they only re-read what is there).
    let _one_at_a_time = runtime.rebuild_lock.lock().await;
    let started = std::time::Instant::now();
    // One consistent read: a rebuild overlapping an activation sees all of it or none of it,
    // and the version read with the rows is the version of those rows.
    let configuration = runtime.store.read_configuration(runtime.org).await?;
    let config_version = configuration.config_version;
    let records = configuration.servers;
    let roles = configuration.api_roles;
    let route_records = configuration.routes;
    // A settings row this version cannot read (written by a newer one, or edited by hand) must
    // not stop servers, roles and routes from loading: the current settings stay, loudly.
    let org_settings = match configuration.org_settings {
        Ok(settings) => Some(settings),
        Err(StoreError::Corrupt(err)) => {
            tracing::error!(%err, "the stored org settings cannot be read; keeping the current ones");
            None
        }
        Err(err) => return Err(err),
    };
    runtime.keys.sync_from_records(&records);
    let now = now_ms();
    let empty = Arc::new(JwkSet::default());
    let mut trusted = Vec::with_capacity(records.len());
    let mut servers = Vec::with_capacity(records.len());
    for record in records {
        let keys = runtime.keys.keys_for(&record.id, &record.definition, now);
        let (set, print) = match keys {
            Some(entry) => (entry.set, entry.fingerprint),
            None => (Arc::clone(&empty), 0),
        };
        trusted.push(TrustedServer {
            id: record.id.clone(),
            enabled: record.definition.enabled,
            config: record.definition.validation_config(),
            keys: set,
            generation: generation(record.version, print),
        });
        servers.push((record.id, record.definition));
    }
    let api_roles = roles.into_iter().map(|r| (r.name, r.permissions)).collect();
    // Compiling is pure CPU work that grows with the configuration (about 100 ms at 10,000
    // servers): on a blocking thread, so request workers never wait behind it.
    let compile = move || {
        let validator = Validator::new(trusted);
        let routes = RouteTable::new(
            route_records
                .into_iter()
                .filter_map(|r| match CompiledRoute::new(&r.id, r.definition) {
                    Ok(route) => Some(route),
                    Err(errors) => {
                        // Stored routes were checked on save; one that no longer compiles is
                        // left out (deny), never half-applied.
                        tracing::error!(route = %r.id, ?errors, "stored route is invalid; ignoring it");
                        None
                    }
                })
                .collect(),
        );
        (validator, routes)
    };
    let (validator, routes) = match tokio::task::spawn_blocking(compile).await {
        Ok(compiled) => compiled,
        Err(err) => {
            // The compile panicked or the runtime is shutting down: keep the current snapshot.
            tracing::error!(%err, "compiling the snapshot failed; keeping the current one");
            return Ok(());
        }
    };
    let previous = runtime.snapshot.load().version;
    let snapshot = Snapshot {
        version: previous + 1,
        validator,
        api_roles,
        servers,
        routes,
    };
    runtime.snapshot.store(Arc::new(snapshot));
    if let Some(org_settings) = org_settings {
        runtime.org_settings.store(Arc::new(org_settings));
    }
    runtime
        .applied_config_version
        .fetch_max(config_version, Ordering::SeqCst);
    runtime
        .counters
        .snapshot_rebuilds
        .fetch_add(1, Ordering::Relaxed);
    runtime.counters.rebuild_took(started.elapsed());
    Ok(())
}

/// After an unknown-`kid` refetch changed `server_id`'s keys: swaps in a snapshot whose one
/// server holds the new keys, from memory only (no store query: it runs inside a request). The
/// rest of the snapshot is copied as it is; the background rebuild the key change triggers
/// then brings everything up to date. `previous_print` is the fingerprint of the keys replaced
/// (0 when none), so the new generation is the one a full rebuild computes for these keys
/// whenever the snapshot held those keys (and differs from the old one in any case).
pub fn adopt_refetched_keys(runtime: &Runtime, server_id: &str, previous_print: u64) {
    let current = runtime.snapshot.load_full();
    let Some(old) = current.validator.server(server_id) else {
        return;
    };
    let Some((_, definition)) = current.servers.iter().find(|(id, _)| id == server_id) else {
        return;
    };
    let Some(entry) = runtime.keys.keys_for(server_id, definition, now_ms()) else {
        return;
    };
    let generation = old.generation ^ previous_print ^ entry.fingerprint;
    if generation == old.generation {
        return;
    }
    let trusted = current
        .validator
        .servers()
        .map(|server| {
            if server.id == server_id {
                TrustedServer {
                    keys: Arc::clone(&entry.set),
                    generation,
                    ..server.clone()
                }
            } else {
                server.clone()
            }
        })
        .collect();
    let snapshot = Snapshot {
        version: current.version + 1,
        validator: Validator::new(trusted),
        api_roles: current.api_roles.clone(),
        servers: current.servers.clone(),
        routes: current.routes.clone(),
    };
    // A full rebuild that finished meanwhile wins: swap only over the snapshot read above.
    let previous = runtime
        .snapshot
        .compare_and_swap(&current, Arc::new(snapshot));
    if Arc::ptr_eq(&previous, &current) {
        runtime
            .counters
            .snapshot_rebuilds
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Rebuilds, logging instead of failing (background callers).
pub async fn rebuild_or_log(runtime: &Runtime) {
    if let Err(err) = rebuild(runtime).await {
        runtime
            .counters
            .snapshot_rebuild_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%err, "could not rebuild the configuration snapshot; keeping the current one");
    }
}

/// Starts the refresh schedule and the rebuild on key changes (the crate's [`crate::spawn`]
/// starts these and the cluster sync).
pub fn spawn_refresh(runtime: Arc<Runtime>, mut key_changes: tokio::sync::watch::Receiver<u64>) {
    let scheduler = Arc::clone(&runtime);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SCHEDULE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            // The snapshot itself, not a copy of its server list (10,000 definitions to clone
            // every second in the scale benchmark).
            let snapshot = scheduler.snapshot.load_full();
            for (id, result) in scheduler.keys.refresh_due(&snapshot.servers).await {
                scheduler.counters.record_fetch(&id, &result);
                record_node_fetch(&scheduler, &id, &result).await;
            }
        }
    });
    let watcher = Arc::clone(&runtime);
    tokio::spawn(async move {
        while key_changes.changed().await.is_ok() {
            rebuild_or_log(&watcher).await;
        }
    });
}

/// Records this node's own view of a fetch (the cluster's per-node key status).
async fn record_node_fetch(runtime: &Runtime, server_id: &str, result: &RefreshResult) {
    let error = match result {
        RefreshResult::Updated | RefreshResult::Unchanged => None,
        RefreshResult::Failed(error) => Some(error.as_str()),
        RefreshResult::Skipped => return,
    };
    if let Err(err) = runtime
        .store
        .record_node_fetch(&runtime.settings.node_id, runtime.org, server_id, error)
        .await
    {
        tracing::debug!(%err, "could not record this node's key fetch");
    }
}
