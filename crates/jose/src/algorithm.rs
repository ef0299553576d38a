//! JWS algorithms (RFC 7518 §3, RFC 8037 §3.1) and how a header `alg` is classified.

use std::fmt;
use std::str::FromStr;

/// A signature algorithm Portcullis can verify. There is deliberately no `none` and no HMAC
/// variant: a third-party validator only ever holds public keys (RFC 8725 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // the variant names are the RFC 7518 names
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

/// The family of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// `kty` = `RSA`.
    Rsa,
    /// `kty` = `EC` with the given curve.
    Ec(Curve),
    /// `kty` = `OKP`, `crv` = `Ed25519`.
    Ed25519,
}

/// Elliptic curves for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256 (`crv` = `P-256`).
    P256,
    /// NIST P-384 (`crv` = `P-384`).
    P384,
    /// NIST P-521 (`crv` = `P-521`).
    P521,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
    /// Length in bytes of one coordinate (and of `r` / `s` in a JWS signature).
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
    /// Parses a JWK `crv` value.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }
}

impl Algorithm {
    /// Every supported algorithm, the default allowlist of DESIGN.md §1.1.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
    ];

    /// The RFC 7518 name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The key family this algorithm needs.
    pub fn key_family(self) -> KeyFamily {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::Ec(Curve::P256),
            Algorithm::ES384 => KeyFamily::Ec(Curve::P384),
            Algorithm::ES512 => KeyFamily::Ec(Curve::P521),
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// Index among the RSA algorithms (0..6), used to keep one parsed key per RSA algorithm.
    pub(crate) fn rsa_index(self) -> Option<usize> {
        match self {
            Algorithm::RS256 => Some(0),
            Algorithm::RS384 => Some(1),
            Algorithm::RS512 => Some(2),
            Algorithm::PS256 => Some(3),
            Algorithm::PS384 => Some(4),
            Algorithm::PS512 => Some(5),
            _ => None,
        }
    }

    /// The ECDSA algorithm for a curve (RFC 7518 §3.4 binds each curve to one hash).
    pub fn for_curve(curve: Curve) -> Self {
        match curve {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
            Curve::P521 => Algorithm::ES512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for [`Algorithm::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported algorithm `{0}`")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match AlgName::classify(s) {
            AlgName::Supported(alg) => Ok(alg),
            _ => Err(UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// What a header `alg` string names. Classifying first lets the rejection say *why* an
/// algorithm is refused (`none` and HMAC are attacks, others merely unsupported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgName {
    /// One we verify.
    Supported(Algorithm),
    /// `none` in any letter case (RFC 8725 §3.1; some libraries compared case-insensitively).
    None,
    /// `HS256`/`HS384`/`HS512` (any case): symmetric, never accepted from a third party.
    Hmac,
    /// Anything else (`ES256K`, `Ed448`, encryption algorithms, garbage).
    Unsupported,
}

impl AlgName {
    /// Classifies a header `alg` value. Supported names match exactly (they are case-sensitive
    /// per RFC 7515 §4.1.1); the dangerous ones are recognised in any case so the reason is exact.
    pub fn classify(alg: &str) -> Self {
        if let Some(supported) = Algorithm::ALL.into_iter().find(|a| a.name() == alg) {
            return AlgName::Supported(supported);
        }
        if alg.eq_ignore_ascii_case("none") {
            return AlgName::None;
        }
        if ["HS256", "HS384", "HS512"]
            .iter()
            .any(|h| alg.eq_ignore_ascii_case(h))
        {
            return AlgName::Hmac;
        }
        AlgName::Unsupported
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The OpenAPI schema: a string, one of the ten algorithm names (what `Deserialize` accepts).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Algorithm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Algorithm::ALL.iter().map(|a| a.name())))
            .description(Some(
                "A JWS signature algorithm Portcullis verifies (no `none`, no HMAC).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Algorithm {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            AlgName::classify("RS256"),
            AlgName::Supported(Algorithm::RS256)
        );
        assert_eq!(AlgName::classify("rs256"), AlgName::Unsupported);
        assert_eq!(AlgName::classify("nOnE"), AlgName::None);
        assert_eq!(AlgName::classify("hs256"), AlgName::Hmac);
        assert_eq!(AlgName::classify("ES256K"), AlgName::Unsupported);
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
        }
    }
}
