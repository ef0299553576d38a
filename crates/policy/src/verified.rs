//! What a successfully validated token tells the rest of the system ([`VerifiedToken`]), and the
//! cheap shared string its server id and name are kept in ([`SharedStr`]). Built only by the
//! [`crate::validator`]; read by the cache, routes, API roles and the trace.

use std::sync::{Arc, OnceLock};

use portcullis_jose::Algorithm;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// A shared, immutable string: cloning it is a reference-count increment. Used for the server
/// id and name every [`VerifiedToken`] carries. Compares, prints and serializes as a string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        Self(Arc::from(text))
    }
}

impl std::fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for SharedStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

/// What a successfully validated token tells the rest of the system.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedToken {
    /// Id of the server that verified it.
    pub server_id: SharedStr,
    /// Name of that server.
    pub server_name: SharedStr,
    /// The server's generation at verification time.
    pub generation: u64,
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// Client id, from the first present configured claim.
    pub client_id: Option<String>,
    /// Scopes merged from the configured scope claims.
    pub scopes: Vec<String>,
    /// `exp`.
    pub expires_at: f64,
    /// `exp` + clock skew: the token stops being accepted at this instant.
    pub valid_until: f64,
    /// Algorithm that verified the signature.
    pub alg: Algorithm,
    /// `kid` of the verifying key.
    pub kid: Option<String>,
    /// All claims of the payload: the verified payload JSON text, kept as signed and parsed only
    /// on request ([`VerifiedToken::claims`]); serialized as a JSON object named `claims`.
    #[serde(rename = "claims", serialize_with = "serialize_claims")]
    pub(crate) claims_json: Arc<str>,
    /// The claims parsed on first use and kept: a cached token's claims are parsed once, not on
    /// every request that needs them (claim rules, forwarded claims).
    #[serde(skip)]
    pub(crate) parsed_claims: ParsedClaims,
}

/// A memo of the parsed claims. It never takes part in equality: two verified tokens are the
/// same whether or not someone has looked at their claims yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedClaims(OnceLock<Map<String, Value>>);

impl PartialEq for ParsedClaims {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl VerifiedToken {
    /// All claims of the payload, parsed on the first call.
    pub fn claims(&self) -> &Map<String, Value> {
        self.parsed_claims.0.get_or_init(|| {
            // Cannot fail: the text was accepted by the strict parser before the signature was
            // checked; an empty map (no claim rule can match) would be the fail-closed answer.
            serde_json::from_str(&self.claims_json).unwrap_or_default()
        })
    }

    /// The verified payload JSON text, exactly as signed.
    pub fn claims_json(&self) -> &str {
        &self.claims_json
    }
}

fn serialize_claims<S: Serializer>(json: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::from_str::<Map<String, Value>>(json)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}
