//! Every secret-handling primitive of Portcullis, in one module: secrets at rest (DESIGN.md §1.4,
//! §6 `PORTCULLIS_SECRET_KEY_FILE`: the deployment's secret key and the AES-256-GCM envelopes made
//! with it), the random values credentials are made of ([`random_bytes`], [`random_alphanumeric`],
//! [`random_token`]), password hashing ([`hash_password`], [`verify_password`]: argon2id),
//! constant-time comparison ([`constant_time_eq`]) and the stored (hashed) form of session ids and
//! tokens ([`sha256_hex`], [`session_hash`]).
//!
//! - The secret key is 32 random bytes from a file: exactly 32 bytes are taken as the raw key;
//!   anything else must be base64 (standard or URL-safe alphabet, padding optional, surrounding
//!   whitespace ignored) of 32 bytes. Without a file, one is generated into the data dir
//!   (`secret.key`, mode 0600, base64) on first start and reused afterwards.
//! - An envelope is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`: AES-256-GCM with a fresh
//!   random 96-bit nonce per seal (aws-lc-rs `RandomizedNonceKey`; secrets change rarely, far
//!   below the 2^32 seals per key random nonces allow). The associated data binds the purpose and
//!   the org id, so a sealed value copied to another org or another column does not open. The key
//!   id (derived from the key, it reveals nothing about it) says which secret key opens the
//!   envelope: rotation can later hold several keys and re-seal by id; today a mismatch is
//!   reported as such instead of as tampering.
//!
//! Cryptography goes through `aws-lc-rs` only, as everywhere in Portcullis.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use portcullis_jose::base64url;

use crate::error::ApiError;

/// Length of the secret key.
pub const KEY_LEN: usize = 32;

/// The generated key's file name inside the data dir.
pub const GENERATED_FILE_NAME: &str = "secret.key";

/// Envelope format version.
const VERSION: &str = "v1";

/// Why the secret key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    /// The file could not be read. (The cause is part of the message and deliberately not a
    /// `source`: a caller printing the error chain would repeat it.)
    #[error("cannot read the secret key file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file does not hold a usable key.
    #[error(
        "the secret key file {path} must hold 32 random bytes, raw or base64-encoded: {problem}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: &'static str,
    },
    /// A new key file could not be written.
    #[error("cannot create the secret key file {path}: {cause}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, not a `source`).
        cause: std::io::Error,
    },
    /// The system random source failed.
    #[error("the system random source failed")]
    Random,
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The stored text is not an envelope of a known version.
    #[error("the sealed secret is malformed")]
    Malformed,
    /// The envelope was sealed with another secret key.
    #[error(
        "the secret was encrypted with secret key {stored}, but this node has secret key {current}: give every node the same PORTCULLIS_SECRET_KEY_FILE"
    )]
    WrongKey {
        /// The key id in the envelope.
        stored: String,
        /// This node's key id.
        current: String,
    },
    /// Authentication failed: tampered with, or sealed for another org or purpose.
    #[error("the sealed secret does not open (tampered with, or moved from another org)")]
    Open,
    /// Encryption or the random source failed.
    #[error("encryption failed")]
    Seal,
}

/// Where the secret key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The configured file.
    Configured(PathBuf),
    /// An earlier generated file in the data dir.
    DataDir(PathBuf),
    /// Generated now into the data dir.
    Generated(PathBuf),
}

/// What a secret is for: part of the associated data, so an envelope only opens where it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The Cloud Service API Key.
    ApiKey,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::ApiKey => "api_key",
        }
    }
}

/// The deployment's secret key. `Debug` shows only its id.
pub struct SecretKey {
    id: String,
    key: RandomizedNonceKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

impl SecretKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() != KEY_LEN {
            return Err("the key is not 32 bytes long");
        }
        if bytes.iter().all(|b| *b == 0) {
            return Err("the key is all zero bytes (not random)");
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| "AES-256-GCM refused the key")?;
        let mut labelled = b"portcullis secret key id\0".to_vec();
        labelled.extend_from_slice(bytes);
        let id = hex(&portcullis_jose::sha256(&labelled)[..8]);
        Ok(Self { id, key })
    }

    /// A key from a key file's contents (see the module docs for the accepted forms).
    pub fn parse(contents: &[u8]) -> Result<Self, &'static str> {
        if contents.len() == KEY_LEN {
            return Self::from_bytes(contents);
        }
        let text = std::str::from_utf8(contents)
            .map_err(|_| "the file is neither 32 raw bytes nor base64 text")?
            .trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or("the file is neither 32 raw bytes nor valid base64")?;
        if bytes.len() != KEY_LEN {
            return Err("the base64 text does not decode to 32 bytes");
        }
        Self::from_bytes(&bytes)
    }

    /// A new random key and its file form (standard base64 and a newline).
    pub fn generate() -> Result<(Self, String), SecretKeyError> {
        let bytes = random_bytes(KEY_LEN).ok_or(SecretKeyError::Random)?;
        let key = Self::from_bytes(&bytes).map_err(|_| SecretKeyError::Random)?;
        let text = format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        );
        Ok((key, text))
    }

    /// Reads the key file at `path`.
    pub fn load(path: &Path) -> Result<Self, SecretKeyError> {
        let contents = std::fs::read(path).map_err(|cause| SecretKeyError::Read {
            path: path.to_owned(),
            cause,
        })?;
        warn_if_readable_by_others(path);
        Self::parse(&contents).map_err(|problem| SecretKeyError::Format {
            path: path.to_owned(),
            problem,
        })
    }

    /// The configured key file, or the data dir's generated one (created on first use, never
    /// overwritten).
    pub fn load_or_generate(
        configured: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(Self, KeyOrigin), SecretKeyError> {
        if let Some(path) = configured {
            return Ok((Self::load(path)?, KeyOrigin::Configured(path.to_owned())));
        }
        let path = data_dir.join(GENERATED_FILE_NAME);
        if path.exists() {
            return Ok((Self::load(&path)?, KeyOrigin::DataDir(path)));
        }
        let create = |cause| SecretKeyError::Create {
            path: path.clone(),
            cause,
        };
        std::fs::create_dir_all(data_dir).map_err(create)?;
        let (key, text) = Self::generate()?;
        let mut options = std::fs::OpenOptions::new();
        // `create_new`: two nodes starting on one data dir never overwrite each other's key.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).map_err(create)?;
                file.sync_all().map_err(create)?;
                Ok((key, KeyOrigin::Generated(path)))
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::load(&path)?, KeyOrigin::DataDir(path)))
            }
            Err(err) => Err(create(err)),
        }
    }

    /// The key's id (16 hex digits derived from the key; reveals nothing about it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plaintext` for `purpose` in `org`.
    pub fn seal(&self, purpose: Purpose, org: i64, plaintext: &[u8]) -> Result<String, SealError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad(purpose, org)), &mut in_out)
            .map_err(|_| SealError::Seal)?;
        let mut blob = Vec::with_capacity(NONCE_LEN + in_out.len());
        blob.extend_from_slice(nonce.as_ref());
        blob.extend_from_slice(&in_out);
        Ok(format!(
            "{VERSION}.{}.{}",
            self.id,
            base64url::encode(&blob)
        ))
    }

    /// Decrypts an envelope made by [`SecretKey::seal`] for the same purpose and org.
    pub fn open(&self, purpose: Purpose, org: i64, sealed: &str) -> Result<Vec<u8>, SealError> {
        let (stored_id, body) = parse_envelope(sealed)?;
        if stored_id != self.id {
            return Err(SealError::WrongKey {
                stored: stored_id.to_owned(),
                current: self.id.clone(),
            });
        }
        let mut blob = base64url::decode(body).map_err(|_| SealError::Malformed)?;
        if blob.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let mut in_out = blob.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&blob).map_err(|_| SealError::Malformed)?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(aad(purpose, org)), &mut in_out)
            .map_err(|_| SealError::Open)?;
        Ok(plaintext.to_vec())
    }
}

/// The key id an envelope names, if it is well-formed (for start-up checks).
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    parse_envelope(sealed).ok().map(|(id, _)| id)
}

fn parse_envelope(sealed: &str) -> Result<(&str, &str), SealError> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(body)) if !id.is_empty() && !body.is_empty() => {
            Ok((id, body))
        }
        _ => Err(SealError::Malformed),
    }
}

fn aad(purpose: Purpose, org: i64) -> Vec<u8> {
    format!("portcullis/{VERSION}/{}/org/{org}", purpose.name()).into_bytes()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        // A warning, not a refusal: container secret mounts are often 0644 inside a private
        // volume; the operator decides.
        tracing::warn!(path = %path.display(), "the secret key file is readable by other users; restrict it to mode 0600");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// `n` bytes from the system's secure random source; `None` if it failed.
pub fn random_bytes(n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    SystemRandom::new().fill(&mut buf).ok()?;
    Some(buf)
}

/// `len` characters drawn uniformly from `[A-Za-z0-9]` (rejection sampling: bytes ≥ 248 are
/// skipped so that every character is equally likely); `None` if the random source failed.
pub fn random_alphanumeric(len: usize) -> Option<String> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes(len * 2)? {
            if byte < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    Some(out)
}

pub use portcullis_runtime::sha256_hex;

/// Whether `a` and `b` are equal, in time that depends only on their lengths (for secrets a
/// caller sends: CSRF tokens, API keys).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Random bytes as unpadded base64url.
pub fn random_token(bytes: usize) -> Result<String, ApiError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ApiError::internal(&"system random source failed"))?;
    Ok(base64url::encode(&buf))
}

/// The stored form of a session id: SHA-256, hex.
pub fn session_hash(session_id: &str) -> String {
    sha256_hex(session_id.as_bytes())
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt_bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt_bytes)
        .map_err(|_| ApiError::internal(&"system random source failed"))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| ApiError::internal(&e))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(&e))
}

/// Checks a password against a PHC string; a malformed hash never verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; KEY_LEN]).unwrap()
    }

    #[test]
    fn seal_and_open_round_trip_with_fresh_nonces() {
        let k = key(7);
        let a = k.seal(Purpose::ApiKey, 1, b"AbCdEfGhIjKl").unwrap();
        let b = k.seal(Purpose::ApiKey, 1, b"AbCdEfGhIjKl").unwrap();
        assert_ne!(a, b, "a random nonce per seal");
        assert!(a.starts_with(&format!("v1.{}.", k.id())));
        assert!(!a.contains("AbCdEfGhIjKl"));
        assert_eq!(k.open(Purpose::ApiKey, 1, &a).unwrap(), b"AbCdEfGhIjKl");
        assert_eq!(sealed_key_id(&a), Some(k.id()));
    }

    #[test]
    fn org_key_and_tampering_are_detected() {
        let k = key(7);
        let sealed = k.seal(Purpose::ApiKey, 1, b"secret").unwrap();
        assert_eq!(k.open(Purpose::ApiKey, 2, &sealed), Err(SealError::Open));
        assert!(matches!(
            key(8).open(Purpose::ApiKey, 1, &sealed),
            Err(SealError::WrongKey { .. })
        ));
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = base64url::decode(body).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{head}.{}", base64url::encode(&bytes));
        assert_eq!(k.open(Purpose::ApiKey, 1, &tampered), Err(SealError::Open));
        for bad in ["", "v1", "v2.x.y", "v1..y", "v1.x.", "v1.x.!!"] {
            assert!(k.open(Purpose::ApiKey, 1, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_file_forms() {
        let raw = [42u8; KEY_LEN];
        let id = SecretKey::from_bytes(&raw).unwrap().id;
        let std = base64::engine::general_purpose::STANDARD.encode(raw);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        for contents in [
            raw.to_vec(),
            format!("{std}\n").into_bytes(),
            format!("  {url}  ").into_bytes(),
        ] {
            assert_eq!(SecretKey::parse(&contents).unwrap().id, id);
        }
        assert!(SecretKey::parse(&[0u8; KEY_LEN]).is_err());
        assert!(SecretKey::parse(b"too short").is_err());
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert!(SecretKey::parse(short.as_bytes()).is_err());
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (first, origin) = SecretKey::load_or_generate(None, &data).unwrap();
        let path = data.join(GENERATED_FILE_NAME);
        assert_eq!(origin, KeyOrigin::Generated(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, origin) = SecretKey::load_or_generate(None, &data).unwrap();
        assert_eq!(origin, KeyOrigin::DataDir(path.clone()));
        assert_eq!(first.id(), again.id());
        let (configured, origin) = SecretKey::load_or_generate(Some(&path), dir.path()).unwrap();
        assert_eq!(origin, KeyOrigin::Configured(path));
        assert_eq!(configured.id(), first.id());
    }

    #[test]
    fn random_api_keys_use_the_whole_alphabet() {
        let text: String = (0..200).map(|_| random_alphanumeric(12).unwrap()).collect();
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
        let distinct: std::collections::BTreeSet<u8> = text.bytes().collect();
        assert!(distinct.len() > 55, "{}", distinct.len());
    }
}
