//! Why a key of a JWKS is not used: the one reason type that JWK parsing ([`crate::jwk`]) and key
//! construction ([`crate::crypto`]) both report, kept apart so neither imports the other for it.

/// At most this many keys of a set are considered (DESIGN.md §3); the rest are ignored.
pub const MAX_KEYS: usize = 100;
/// Longest `kid` kept; longer ones are hostile or broken.
pub const MAX_KID_LEN: usize = 256;

/// Why one key of a set is not used. Shown by the validate report and the key manager.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyIgnoredReason {
    /// The entry is not a JSON object.
    #[error("key entry is not a JSON object")]
    NotAnObject,
    /// `kty` missing or not a string.
    #[error("missing `kty`")]
    MissingKty,
    /// `kty` = `oct`: a symmetric secret, never usable by a third party (and never to be published).
    #[error("symmetric (`oct`) key: HMAC is never accepted")]
    SymmetricKey,
    /// A `kty` we do not know.
    #[error("unsupported key type `{0}`")]
    UnsupportedKty(String),
    /// An OKP/EC curve we do not verify with (e.g. `Ed448`, `X25519`, `secp256k1`).
    #[error("unsupported curve `{0}`")]
    UnsupportedCurve(String),
    /// A required member is missing or has the wrong JSON type.
    #[error("missing or invalid member `{0}`")]
    MissingMember(&'static str),
    /// A member is not canonical base64url.
    #[error("member `{0}` is not canonical base64url")]
    BadEncoding(&'static str),
    /// `use` is `enc` (or anything but `sig`).
    #[error("key is for `use`={0}, not signatures")]
    NotForSignatures(String),
    /// `key_ops` present but without `verify`.
    #[error("`key_ops` does not allow `verify`")]
    KeyOpsExcludeVerify,
    /// `use` and `key_ops` both present and disagreeing (RFC 7517 §4.3).
    #[error("`use` and `key_ops` disagree")]
    UseKeyOpsConflict,
    /// `alg` names an algorithm we never accept (`none`, HMAC) or do not know.
    #[error("`alg` = {0} is not an accepted signature algorithm")]
    UnsupportedAlg(String),
    /// `alg` contradicts the key type or curve (e.g. `ES256` on an RSA key).
    #[error("`alg` = {alg} does not fit a {kty} key")]
    AlgKeyMismatch {
        /// The JWK's `alg`.
        alg: String,
        /// The key's type description.
        kty: String,
    },
    /// The set contains private key members (`d`, `p`, ...): a leaked private key is not trusted.
    #[error("key contains private key material (`{0}`)")]
    PrivateKeyMaterial(&'static str),
    /// RSA modulus below 2048 bits.
    #[error("RSA key too small ({bits} bits, minimum 2048)")]
    RsaTooSmall {
        /// Modulus size.
        bits: usize,
    },
    /// RSA modulus above 8192 bits.
    #[error("RSA key too large ({bits} bits, maximum 8192)")]
    RsaTooLarge {
        /// Modulus size.
        bits: usize,
    },
    /// RSA modulus with the ROCA fingerprint (CVE-2017-15361): factorable.
    #[error("RSA key has the ROCA weakness (CVE-2017-15361) and is factorable")]
    RsaRocaVulnerable,
    /// RSA exponent even, below 3 or longer than 32 bits.
    #[error("RSA public exponent is not sane (must be odd, >= 3, at most 32 bits)")]
    RsaBadExponent,
    /// The key bytes do not form a valid public key.
    #[error("invalid key material: {0}")]
    InvalidKeyMaterial(String),
    /// `x5c` present but its first certificate does not hold this key.
    #[error("`x5c` certificate does not match the key")]
    CertificateMismatch,
    /// `kid` is not a string or too long.
    #[error("`kid` is not a string of at most {MAX_KID_LEN} bytes")]
    BadKid,
    /// Two different keys share this `kid`: which one the IdP meant is ambiguous.
    #[error("`kid` is shared by different keys in the set")]
    DuplicateKid,
    /// More than [`MAX_KEYS`] keys in the set.
    #[error("more than {MAX_KEYS} keys in the set")]
    TooManyKeys,
}
