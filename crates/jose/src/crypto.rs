//! The cryptography boundary: the only module that names `aws-lc-rs`.
//!
//! Keys are parsed once into `aws-lc-rs` [`ParsedPublicKey`]s when a key set is loaded; a token
//! verification is then a single call with no parsing. RSA keys that do not pin an `alg` keep one
//! parsed key per RSA algorithm (six small objects) because `aws-lc-rs` binds a parsed key to its
//! padding and hash.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};

use crate::algorithm::{Algorithm, Curve, KeyFamily};
use crate::key_reason::KeyIgnoredReason;

/// Smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted: larger keys only cost verification time.
pub const MAX_RSA_BITS: usize = 8192;

/// The shape of a key, for display and for the validate report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyParams {
    /// RSA with this modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on this curve.
    Ec {
        /// The curve.
        curve: Curve,
    },
    /// Ed25519 (EdDSA).
    Ed25519,
}

impl KeyParams {
    /// The JWK `kty` value.
    pub fn kty(self) -> &'static str {
        match self {
            KeyParams::Rsa { .. } => "RSA",
            KeyParams::Ec { .. } => "EC",
            KeyParams::Ed25519 => "OKP",
        }
    }
    /// Human description: `RSA 2048`, `EC P-256`, `OKP Ed25519`.
    pub fn describe(self) -> String {
        match self {
            KeyParams::Rsa { bits } => format!("RSA {bits}"),
            KeyParams::Ec { curve } => format!("EC {}", curve.name()),
            KeyParams::Ed25519 => "OKP Ed25519".to_owned(),
        }
    }
}

enum Verifier {
    /// Indexed by [`Algorithm::rsa_index`]; `None` where the key's `alg` excludes that algorithm.
    Rsa(Box<[Option<ParsedPublicKey>; 6]>),
    Ecdsa(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
}

/// A public key ready to verify signatures, with the algorithm constraints it carries.
pub struct VerifyingKey {
    params: KeyParams,
    pinned_alg: Option<Algorithm>,
    verifier: Verifier,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("params", &self.params)
            .field("pinned_alg", &self.pinned_alg)
            .finish_non_exhaustive()
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The key cannot be used with this algorithm (type, curve or pinned `alg` differ).
    #[error("key cannot be used with this algorithm")]
    AlgorithmNotForKey,
    /// The signature is not valid for this key and message (includes wrong lengths,
    /// DER-encoded ECDSA signatures, out-of-range `r`/`s`, non-canonical Ed25519 `S`).
    #[error("signature does not verify")]
    Invalid,
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

impl VerifyingKey {
    /// Builds an RSA key from big-endian modulus and exponent. Leading zero bytes are tolerated
    /// (some IdPs emit them; they do not change the value). `pinned_alg` is the JWK `alg`.
    pub fn rsa(
        n: &[u8],
        e: &[u8],
        pinned_alg: Option<Algorithm>,
    ) -> Result<Self, KeyIgnoredReason> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        let bits = match n.first() {
            Some(top) => n.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        };
        if bits < MIN_RSA_BITS {
            return Err(KeyIgnoredReason::RsaTooSmall { bits });
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyIgnoredReason::RsaTooLarge { bits });
        }
        // A sane public exponent: odd, at least 3, at most 32 bits (65537 in practice).
        let exponent = (e.len() <= 4)
            .then(|| e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            .filter(|v| *v >= 3 && v % 2 == 1);
        if exponent.is_none() {
            return Err(KeyIgnoredReason::RsaBadExponent);
        }
        if has_roca_fingerprint(n) {
            return Err(KeyIgnoredReason::RsaRocaVulnerable);
        }
        if n.last().is_some_and(|b| b % 2 == 0) {
            return Err(KeyIgnoredReason::InvalidKeyMaterial(
                "RSA modulus is even".into(),
            ));
        }
        let components = RsaPublicKeyComponents { n, e };
        let mut parsed: [Option<ParsedPublicKey>; 6] = Default::default();
        for alg in RSA_ALGORITHMS {
            if pinned_alg.is_some_and(|pinned| pinned != alg) {
                continue;
            }
            let (Some(index), Some(params)) = (alg.rsa_index(), rsa_parameters(alg)) else {
                continue;
            };
            let key = components
                .to_parsed_public_key(params)
                .map_err(|e| KeyIgnoredReason::InvalidKeyMaterial(e.to_string()))?;
            parsed[index] = Some(key);
        }
        Ok(Self {
            params: KeyParams::Rsa { bits },
            pinned_alg,
            verifier: Verifier::Rsa(Box::new(parsed)),
        })
    }

    /// Builds an ECDSA key from its affine coordinates, each exactly the curve's field length
    /// (RFC 7518 §6.2.1.2). The point is checked to be on the curve.
    pub fn ec(curve: Curve, x: &[u8], y: &[u8]) -> Result<Self, KeyIgnoredReason> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len {
            return Err(KeyIgnoredReason::InvalidKeyMaterial(format!(
                "{} coordinates must be {len} bytes each",
                curve.name()
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let algorithm: &'static signature::EcdsaVerificationAlgorithm = match curve {
            Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        };
        let key = ParsedPublicKey::new(algorithm, &point).map_err(|_| {
            KeyIgnoredReason::InvalidKeyMaterial(format!("not a point on {}", curve.name()))
        })?;
        Ok(Self {
            params: KeyParams::Ec { curve },
            pinned_alg: Some(Algorithm::for_curve(curve)),
            verifier: Verifier::Ecdsa(key),
        })
    }

    /// Builds an Ed25519 key from its 32-byte encoding (RFC 8037 §2).
    pub fn ed25519(x: &[u8]) -> Result<Self, KeyIgnoredReason> {
        if x.len() != 32 {
            return Err(KeyIgnoredReason::InvalidKeyMaterial(
                "Ed25519 public key must be 32 bytes".into(),
            ));
        }
        let key = ParsedPublicKey::new(&signature::ED25519, x).map_err(|_| {
            KeyIgnoredReason::InvalidKeyMaterial("invalid Ed25519 public key".into())
        })?;
        Ok(Self {
            params: KeyParams::Ed25519,
            pinned_alg: Some(Algorithm::EdDSA),
            verifier: Verifier::Ed25519(key),
        })
    }

    /// Key type and size.
    pub fn params(&self) -> KeyParams {
        self.params
    }

    /// The single algorithm this key is bound to, if any (the JWK `alg`, or implied by the curve).
    pub fn pinned_alg(&self) -> Option<Algorithm> {
        self.pinned_alg
    }

    /// Whether this key may verify signatures made with `alg`: the key family must match and a
    /// pinned `alg` must be equal (RFC 7517 §4.4, RFC 8725 §3.1).
    pub fn supports(&self, alg: Algorithm) -> bool {
        let family_ok = match (alg.key_family(), self.params) {
            (KeyFamily::Rsa, KeyParams::Rsa { .. }) => true,
            (KeyFamily::Ec(want), KeyParams::Ec { curve }) => want == curve,
            (KeyFamily::Ed25519, KeyParams::Ed25519) => true,
            _ => false,
        };
        family_ok && self.pinned_alg.is_none_or(|pinned| pinned == alg)
    }

    /// Verifies `signature` over `message` with algorithm `alg`.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if !self.supports(alg) {
            return Err(SignatureError::AlgorithmNotForKey);
        }
        let key = match &self.verifier {
            Verifier::Rsa(by_alg) => alg
                .rsa_index()
                .and_then(|i| by_alg[i].as_ref())
                .ok_or(SignatureError::AlgorithmNotForKey)?,
            Verifier::Ecdsa(key) | Verifier::Ed25519(key) => key,
        };
        key.verify_sig(message, signature)
            .map_err(|_| SignatureError::Invalid)
    }

    /// The DER SubjectPublicKeyInfo of this key, used to check a JWK's `x5c` certificate holds
    /// the same key.
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        let key = match &self.verifier {
            Verifier::Rsa(by_alg) => by_alg.iter().flatten().next()?,
            Verifier::Ecdsa(key) | Verifier::Ed25519(key) => key,
        };
        key.as_der().ok().map(|der| der.as_ref().to_vec())
    }
}

/// Small primes dividing the ROCA primorial M for every key size (CVE-2017-15361).
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Whether an RSA modulus has the ROCA structure (Infineon RSALib keys, CVE-2017-15361): its
/// primes are `k·M + (65537^a mod M)`, so for every small prime `p` dividing `M`, `n mod p` lies in
/// the subgroup of (Z/p)* generated by 65537. A random modulus passes this for all 38 primes with
/// negligible probability; a ROCA modulus always does. Such keys are factorable: never trust them.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, b| (acc * 256 + u32::from(*b)) % p);
        let generator = 65_537 % p;
        let mut element = 1u32;
        for _ in 0..p {
            if element == residue {
                return true;
            }
            element = element * generator % p;
        }
        false
    })
}

/// SHA-256 of `data`: the verified-token cache key and key fingerprints.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
