//! The evaluation trace: each step of the pipeline with pass/fail and detail. The sandbox API,
//! the portal's token tester and `portcullis token verify --json` all print it.
//!
//! The hot path uses [`NoTrace`], whose methods are empty and whose detail closures are never
//! called, so tracing costs nothing when nobody asks for it.

use serde::Serialize;
use serde_json::{Map, Value};

/// A step of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Compact JWS shape, header rules, payload JSON.
    Shape,
    /// Header `alg` classification.
    Algorithm,
    /// Choosing the authorization server by issuer / kid.
    ServerSelection,
    /// Choosing the key by kid and algorithm compatibility.
    KeySelection,
    /// Cryptographic signature check.
    Signature,
    /// `exp`.
    Expiry,
    /// `nbf`.
    NotBefore,
    /// `iat`.
    IssuedAt,
    /// Token lifetime against the server's `max_token_lifetime_s`.
    Lifetime,
    /// `iss`.
    Issuer,
    /// `aud`.
    Audience,
    /// Client id.
    ClientId,
    /// `typ` and token kind.
    TokenType,
    /// Scope extraction.
    Scopes,
    /// API-role or route authorization (filled by callers above this crate).
    Authorization,
}

/// Result of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check failed; the token is rejected.
    Fail,
    /// The check does not apply (not configured).
    Skip,
}

/// Receives trace events. Implemented by [`NoTrace`] (hot path) and [`EvaluationTrace`].
pub trait TraceSink {
    /// Records a step. `detail` is only called when the sink keeps details.
    fn step(&mut self, step: Step, outcome: Outcome, detail: impl FnOnce() -> String);
    /// Records the decoded header and payload (only called by recording sinks).
    fn decoded(&mut self, _header: &Map<String, Value>, _payload: Option<&Map<String, Value>>) {}
    /// Whether this sink records anything (lets callers skip work).
    fn is_recording(&self) -> bool;
}

/// A sink that records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrace;

impl TraceSink for NoTrace {
    #[inline(always)]
    fn step(&mut self, _: Step, _: Outcome, _: impl FnOnce() -> String) {}
    #[inline(always)]
    fn is_recording(&self) -> bool {
        false
    }
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceEntry {
    /// Which step.
    pub step: Step,
    /// How it went.
    pub outcome: Outcome,
    /// Human-readable detail (untrusted values already sanitized).
    pub detail: String,
}

/// A recorded evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationTrace {
    /// The decoded header (unverified), when it could be decoded.
    pub header: Option<Map<String, Value>>,
    /// The decoded payload (unverified), when it could be decoded.
    pub payload: Option<Map<String, Value>>,
    /// The steps, in order.
    pub steps: Vec<TraceEntry>,
}

impl TraceSink for EvaluationTrace {
    fn step(&mut self, step: Step, outcome: Outcome, detail: impl FnOnce() -> String) {
        self.steps.push(TraceEntry {
            step,
            outcome,
            detail: detail(),
        });
    }
    fn decoded(&mut self, header: &Map<String, Value>, payload: Option<&Map<String, Value>>) {
        self.header = Some(header.clone());
        self.payload = payload.cloned();
    }
    fn is_recording(&self) -> bool {
        true
    }
}
