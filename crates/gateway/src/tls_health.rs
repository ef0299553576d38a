//! What the TLS listeners report about their certificates (the listeners live in the
//! composition crate; the gateway only shows this in `/readyz` and `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// Certificate reloads, counted, and the reason of the last refused one.
#[derive(Debug, Default)]
pub struct TlsHealth {
    reloaded: AtomicU64,
    refused: AtomicU64,
    last_refusal: ArcSwap<Option<String>>,
}

impl TlsHealth {
    /// A new pair was loaded and is in use.
    pub fn reloaded(&self) {
        self.reloaded.fetch_add(1, Ordering::Relaxed);
        self.last_refusal.store(std::sync::Arc::new(None));
    }

    /// A new pair was unusable; the previous one stays in use.
    pub fn refused(&self, reason: &str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.last_refusal
            .store(std::sync::Arc::new(Some(reason.to_owned())));
    }

    /// Why the last reload was refused, while the older pair is still in use.
    pub fn last_refusal(&self) -> Option<String> {
        self.last_refusal.load().as_ref().clone()
    }

    /// Prometheus text for the counters.
    pub fn render(&self) -> String {
        format!(
            "# HELP portcullis_tls_reloads_total TLS certificate reloads by result (refused: the new pair was unusable and the old one kept).\n\
             # TYPE portcullis_tls_reloads_total counter\n\
             portcullis_tls_reloads_total{{result=\"ok\"}} {}\n\
             portcullis_tls_reloads_total{{result=\"refused\"}} {}\n",
            self.reloaded.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        )
    }
}
