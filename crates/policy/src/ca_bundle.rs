//! An authorization server's extra trusted CA certificates (`ca_bundle_pem`, DESIGN.md §1.1):
//! the one parser used both by the field check ([`crate::ServerDefinition::field_errors`]) and
//! by the outbound fetcher that adds the certificates as roots, so a bundle the API accepts is
//! exactly a bundle the fetcher can load.
//!
//! Rules: at most [`MAX_CA_BUNDLE_BYTES`]; well-formed PEM (the `rustls-pki-types` parser, the
//! one `reqwest` itself uses); only `CERTIFICATE` blocks (a private key is refused by name, so a
//! key pasted by mistake is never stored); at least one certificate (the byte limit bounds how many); each one parses as an X.509 trust anchor (`rustls-webpki`, the parse `rustls`
//! applies when the certificate is added to a root store). Text outside the blocks (the
//! `subject=` / `issuer=` lines `openssl` prints) is ignored, as every PEM reader does.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{self, PemObject, SectionKind};

/// Largest CA bundle accepted, in bytes.
pub const MAX_CA_BUNDLE_BYTES: usize = 64 * 1024;

/// Why a CA bundle is refused. `Display` completes "the CA bundle ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaBundleError {
    /// Larger than [`MAX_CA_BUNDLE_BYTES`].
    #[error("is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not well-formed PEM.
    #[error("is not valid PEM: {reason}")]
    Pem {
        /// What is wrong.
        reason: &'static str,
    },
    /// A private key block: never wanted here, and a secret the store must not keep.
    #[error(
        "contains a private key (block {block}); paste only the certificates of the certificate authorities"
    )]
    PrivateKey {
        /// Position of the block (1-based).
        block: usize,
    },
    /// A block that is not a certificate (public key, CRL, request, or an unknown label).
    #[error("contains a block that is not a CERTIFICATE (block {block}{})", label_suffix(.label))]
    NotCertificate {
        /// Position of the block (1-based).
        block: usize,
        /// Its label, when recognised.
        label: Option<&'static str>,
    },
    /// No certificate at all.
    #[error("contains no certificate (no -----BEGIN CERTIFICATE----- block)")]
    Empty,
    /// A certificate block whose content is not an X.509 certificate.
    #[error("certificate {index} is not a usable X.509 certificate ({reason})")]
    BadCertificate {
        /// Position among the certificates (1-based).
        index: usize,
        /// The parser's reason.
        reason: String,
    },
}

fn label_suffix(label: &Option<&'static str>) -> String {
    label.map_or_else(String::new, |l| format!(": {l}"))
}

fn kind_label(kind: SectionKind) -> Option<&'static str> {
    match kind {
        SectionKind::PublicKey => Some("PUBLIC KEY"),
        SectionKind::Crl => Some("X509 CRL"),
        SectionKind::Csr => Some("CERTIFICATE REQUEST"),
        _ => None,
    }
}

fn pem_reason(err: &pem::Error) -> &'static str {
    match err {
        pem::Error::MissingSectionEnd { .. } => "a BEGIN line has no matching END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a block is not valid base64",
        pem::Error::SectionTooLarge => "a block is too large",
        _ => "the text cannot be read as PEM",
    }
}

/// Parses a CA bundle into DER certificates, applying every rule of the module.
pub fn parse_ca_bundle(pem_text: &str) -> Result<Vec<CertificateDer<'static>>, CaBundleError> {
    if pem_text.len() > MAX_CA_BUNDLE_BYTES {
        return Err(CaBundleError::TooLarge {
            limit: MAX_CA_BUNDLE_BYTES,
        });
    }
    let mut certificates = Vec::new();
    let mut blocks = 0usize;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem_text.as_bytes()) {
        let (kind, der) = section.map_err(|err| CaBundleError::Pem {
            reason: pem_reason(&err),
        })?;
        blocks += 1;
        match kind {
            SectionKind::Certificate => {}
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(CaBundleError::PrivateKey { block: blocks });
            }
            other => {
                return Err(CaBundleError::NotCertificate {
                    block: blocks,
                    label: kind_label(other),
                });
            }
        }
        let certificate = CertificateDer::from(der);
        webpki::anchor_from_trusted_cert(&certificate).map_err(|err| {
            CaBundleError::BadCertificate {
                index: certificates.len() + 1,
                reason: format!("{err:?}"),
            }
        })?;
        certificates.push(certificate);
    }
    // The PEM reader skips blocks whose label it does not know (`TRUSTED CERTIFICATE`, ...);
    // every `-----BEGIN ` line must have become one of the blocks seen above.
    let begin_lines = pem_text
        .split(['\n', '\r'])
        .filter(|line| line.starts_with("-----BEGIN "))
        .count();
    if begin_lines > blocks {
        return Err(CaBundleError::NotCertificate {
            block: blocks + 1,
            label: None,
        });
    }
    if certificates.is_empty() {
        return Err(CaBundleError::Empty);
    }
    Ok(certificates)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // A real self-signed CA certificate (P-256, `openssl req -x509`), made once for these tests.
    pub(crate) const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBnzCCAUWgAwIBAgIUVY+BKswiC/7Fizp1DuEKbPDaZJQwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZUG9ydGN1bGxpcyBwb2xpY3kgdGVzdCBDQTAgFw0yNjExMjcw
MzQyMTVaGA8yMTI2MTEwMzAzNDIxNVowJDEiMCAGA1UEAwwZUG9ydGN1bGxpcyBw
b2xpY3kgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABP5vPFuQeFn0
d1nSZYMzJA0whsNyLgJEtkl0udzxERsHjNmsOmQTaGSJ2joPTyH4Sp9Om543HUha
nPkm0kjnqG+jUzBRMB0GA1UdDgQWBBSBKUq3ILlfobrH3VuVzcJuMaEvMDAfBgNV
HSMEGDAWgBSBKUq3ILlfobrH3VuVzcJuMaEvMDAPBgNVHRMBAf8EBTADAQH/MAoG
CCqGSM49BAMCA0gAMEUCIQCQ8BDMEObppkPt933J21p4y7cM9ltGB54LQU7n0jkR
lAIgDItC7iRsqgm9F+lhHLtTwidpvNiOIITX4g2dQtmHABs=
-----END CERTIFICATE-----
";

    #[test]
    fn certificates_are_read_with_surrounding_text_and_crlf() {
        assert_eq!(parse_ca_bundle(CA).unwrap().len(), 1);
        let annotated = format!(
            "subject=CN = Portcullis policy test CA\nissuer=CN = Portcullis policy test CA\n{CA}\n# again\n{}",
            CA.replace('\n', "\r\n")
        );
        let certificates = parse_ca_bundle(&annotated).unwrap();
        assert_eq!(certificates.len(), 2);
        assert_eq!(certificates[0], certificates[1]);
    }

    #[test]
    fn refusals_are_named() {
        let cases: &[(&str, &str)] = &[
            ("garbage", "no certificate"),
            ("", "no certificate"),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "not a usable X.509",
            ),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "not valid base64",
            ),
            ("-----BEGIN CERTIFICATE-----\nMIIB\n", "no matching END"),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "private key",
            ),
            (
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
                "private key",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "PUBLIC KEY",
            ),
            (
                "-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n",
                "not a CERTIFICATE",
            ),
            (
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "CERTIFICATE REQUEST",
            ),
        ];
        for (pem, expected) in cases {
            let err = parse_ca_bundle(pem).unwrap_err().to_string();
            assert!(err.contains(expected), "{pem:?}: {err}");
        }
        let big = "x".repeat(MAX_CA_BUNDLE_BYTES + 1);
        assert_eq!(
            parse_ca_bundle(&big),
            Err(CaBundleError::TooLarge {
                limit: MAX_CA_BUNDLE_BYTES
            })
        );
    }

    #[test]
    fn refusal_next_to_a_good_certificate() {
        let text =
            format!("{CA}-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        assert_eq!(
            parse_ca_bundle(&text),
            Err(CaBundleError::PrivateKey { block: 2 })
        );
        let unknown = format!("{CA}-----BEGIN X509 TRUST-----\nAAAA\n-----END X509 TRUST-----\n");
        assert_eq!(
            parse_ca_bundle(&unknown),
            Err(CaBundleError::NotCertificate {
                block: 2,
                label: None
            })
        );
        let truncated = format!("{CA}{}", &CA[..CA.len() / 2]);
        assert!(matches!(
            parse_ca_bundle(&truncated),
            Err(CaBundleError::Pem { .. })
        ));
    }
}
