//! The runtime's background work and rebuild over the composed [`AppState`] (see
//! `portcullis_runtime::rebuild` for what they do).

use portcullis_store::StoreError;

pub use portcullis_runtime::rebuild::{PERIODIC_REBUILD, SCHEDULE_TICK};

use crate::AppState;

/// Rebuilds the snapshot from the store and the key manager, and swaps it in.
pub async fn rebuild(state: &AppState) -> Result<(), StoreError> {
    portcullis_runtime::rebuild(&state.runtime).await
}

/// Rebuilds, logging instead of failing (background callers).
pub async fn rebuild_or_log(state: &AppState) {
    portcullis_runtime::rebuild_or_log(&state.runtime).await;
}

/// Starts the background tasks: the refresh schedule, rebuild on key changes, the cluster's
/// configuration sync (notifications + version check), heartbeats.
pub fn spawn(state: AppState, key_changes: tokio::sync::watch::Receiver<u64>) {
    portcullis_runtime::spawn(state.runtime.clone(), key_changes);
}
