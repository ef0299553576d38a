//! Test support: signing keys and token minting, so tests and benchmarks can play the part of
//! an authorization server. Product crates never depend on this (only `[dev-dependencies]`).
#![allow(clippy::expect_used)] // test support: a failed key generation is a broken machine

pub mod lenient;
pub mod skip;
#[cfg(feature = "tls")]
pub mod tls;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use portcullis_jose::base64url;
use serde_json::{Value, json};

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, &'static str, usize),
    Ed25519(Ed25519KeyPair),
}

/// A signing key as an authorization server holds it.
pub struct TestKey {
    /// The `kid` published in the JWKS and put in token headers.
    pub kid: String,
    /// The algorithm this key signs with by default.
    pub alg: &'static str,
    signer: Signer,
}

impl TestKey {
    /// A fresh RSA key (2048, 3072 or 4096 bits) signing with `alg` (`RS*` or `PS*`).
    pub fn rsa(kid: &str, bits: usize, alg: &'static str) -> Self {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => panic!("unsupported RSA size {other}"),
        };
        let pair = RsaKeyPair::generate(size).expect("RSA key generation");
        Self {
            kid: kid.into(),
            alg,
            signer: Signer::Rsa(pair),
        }
    }

    /// A fresh ECDSA key on the curve that `alg` (`ES256`, `ES384`, `ES512`) implies.
    pub fn ec(kid: &str, alg: &'static str) -> Self {
        let (signing, crv, len) = match alg {
            "ES256" => (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            "ES384" => (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            "ES512" => (&signature::ECDSA_P521_SHA512_FIXED_SIGNING, "P-521", 66),
            other => panic!("unsupported ECDSA alg {other}"),
        };
        let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
        Self {
            kid: kid.into(),
            alg,
            signer: Signer::Ec(pair, crv, len),
        }
    }

    /// A fresh Ed25519 key (`EdDSA`).
    pub fn ed25519(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self {
            kid: kid.into(),
            alg: "EdDSA",
            signer: Signer::Ed25519(pair),
        }
    }

    /// The public JWK, with `kid` and `use`=`sig` (no `alg`, like most IdPs publish).
    pub fn jwk(&self) -> Value {
        let mut jwk = match &self.signer {
            Signer::Rsa(pair) => {
                let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": base64url::encode(&public.n), "e": base64url::encode(&public.e)})
            }
            Signer::Ec(pair, crv, len) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": crv,
                       "x": base64url::encode(&point[1..1 + len]),
                       "y": base64url::encode(&point[1 + len..])})
            }
            Signer::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": base64url::encode(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }

    /// The public JWK with an extra member set (e.g. `alg`, `use`, `key_ops`).
    pub fn jwk_with(&self, member: &str, value: Value) -> Value {
        let mut jwk = self.jwk();
        jwk[member] = value;
        jwk
    }

    /// Signs `claims` with a header `{"alg": <self.alg>, "kid": <self.kid>}` plus `extra_header`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({}), claims)
    }

    /// Signs with the default header members overridden/extended by `extra_header`
    /// (a JSON object; a `null` member removes that member).
    pub fn sign_with_header(&self, extra_header: &Value, claims: &Value) -> String {
        let mut header = json!({"alg": self.alg, "kid": self.kid});
        if let (Some(base), Some(extra)) = (header.as_object_mut(), extra_header.as_object()) {
            for (name, value) in extra {
                if value.is_null() {
                    base.remove(name);
                } else {
                    base.insert(name.clone(), value.clone());
                }
            }
        }
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs exactly these header and payload texts (for duplicate-member and encoding tests),
    /// with this key's own algorithm whatever the header says.
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> String {
        let signing_input = format!(
            "{}.{}",
            base64url::encode(header_json.as_bytes()),
            base64url::encode(payload_json.as_bytes())
        );
        let signature = self.sign_bytes(signing_input.as_bytes());
        format!("{signing_input}.{}", base64url::encode(&signature))
    }

    /// Raw signature over `message` with this key's algorithm.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    "PS384" => &signature::RSA_PSS_SHA384,
                    "PS512" => &signature::RSA_PSS_SHA512,
                    other => panic!("unsupported RSA alg {other}"),
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut out)
                    .expect("RSA signing");
                out
            }
            Signer::Ec(pair, _, _) => pair
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Signer::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// A JWK Set document holding these keys' public JWKs.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// A JWK Set document from JWK values.
pub fn jwks_of(jwks: Vec<Value>) -> Value {
    json!({ "keys": jwks })
}

/// Seconds since the Unix epoch, as tests use for `iat`/`exp`.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
