//! `portcullis token verify` and `portcullis token inspect`.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use portcullis_jose::{AlgName, Algorithm, CompactJws, JwkSet, strict_json};
use portcullis_policy::{EvaluationTrace, Preset, ServerConfig, TrustedServer, Validator};
use serde_json::{Map, Value, json};

/// Exit code: token accepted / decoded.
pub const EXIT_OK: u8 = 0;
/// Exit code: token rejected / not decodable.
pub const EXIT_REJECTED: u8 = 1;
/// Exit code: usage or input-file error.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Verify a token offline with the server's validation core. Exit 0 and the verified claims
    /// when accepted, 1 and the precise reason when rejected, 2 on a usage or input-file error.
    Verify(VerifyArgs),
    /// Decode a token without verifying it and explain each part.
    Inspect {
        /// The token, or `-` to read it from standard input.
        token: String,
    },
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// JWK Set file with the authorization server's public keys.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "jwks_url",
        required_unless_present = "jwks_url"
    )]
    jwks: Option<String>,
    /// URL of the authorization server's JWKS (fetched once).
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// Required issuer (`iss`), compared exactly; may contain `{tenantid}`.
    #[arg(long)]
    issuer: Option<String>,
    /// Accepted audience; repeat for several (any one must be in `aud`).
    #[arg(long = "audience", value_name = "A")]
    audiences: Vec<String>,
    /// Accepted client id; repeat for several.
    #[arg(long = "client-id", value_name = "C")]
    client_ids: Vec<String>,
    /// Accepted algorithm; repeat for several (default: all supported asymmetric algorithms,
    /// or the preset's).
    #[arg(long = "alg", value_name = "A")]
    algs: Vec<String>,
    /// Clock skew tolerance in seconds (at most 300).
    #[arg(long, default_value_t = 60, value_name = "S")]
    clock_skew: u32,
    /// Longest accepted token lifetime in seconds (`exp` - `iat`, or `exp` - now without `iat`;
    /// 0 = not checked; at most 31536000). Default: the preset's (86400; Entra 100800).
    #[arg(long = "max-token-lifetime", value_name = "S")]
    max_token_lifetime: Option<u32>,
    /// Vendor preset: generic, okta, entra_v1, entra_v2, pingfederate, pingone.
    #[arg(long, default_value = "generic")]
    preset: String,
    /// Require `typ` = `at+jwt` (strict RFC 9068).
    #[arg(long)]
    require_typ_at_jwt: bool,
    /// Print the evaluation trace as JSON.
    #[arg(long)]
    json: bool,
    /// The token, or `-` to read it from standard input.
    token: String,
}

pub fn run(command: TokenCommand) -> ExitCode {
    let result = match command {
        TokenCommand::Verify(args) => verify(&args),
        TokenCommand::Inspect { token } => inspect(&token),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn read_token(arg: &str) -> anyhow::Result<String> {
    let raw = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the token from standard input")?;
        text
    } else {
        arg.to_owned()
    };
    let trimmed = raw.trim();
    let token = trimmed.strip_prefix("Bearer ").unwrap_or(trimmed).trim();
    if token.is_empty() {
        bail!("no token given");
    }
    Ok(token.to_owned())
}

fn parse_preset(name: &str) -> anyhow::Result<Preset> {
    Preset::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .with_context(|| format!("unknown preset {name}; use one of generic, okta, entra_v1, entra_v2, pingfederate, pingone"))
}

fn build_config(args: &VerifyArgs) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::new("cli", parse_preset(&args.preset)?);
    config.issuer = args.issuer.clone();
    config.audiences = args.audiences.clone();
    config.client_ids = args.client_ids.clone();
    config.clock_skew_s = args.clock_skew;
    config.require_typ_at_jwt = args.require_typ_at_jwt;
    if let Some(lifetime) = args.max_token_lifetime {
        config.max_token_lifetime_s = lifetime;
    }
    if !args.algs.is_empty() {
        config.allowed_algs = args
            .algs
            .iter()
            .map(|a| a.parse::<Algorithm>().map_err(anyhow::Error::from))
            .collect::<anyhow::Result<_>>()?;
    }
    let errors = config.field_errors();
    if let Some(first) = errors.first() {
        bail!("invalid --{}: {}", cli_flag(&first.field), first.message);
    }
    Ok(config)
}

fn cli_flag(field: &str) -> &str {
    match field {
        "clockSkewS" => "clock-skew",
        "maxTokenLifetimeS" => "max-token-lifetime",
        "allowedAlgs" => "alg",
        "audiences" => "audience",
        "clientIds" => "client-id",
        other => other,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn verify(args: &VerifyArgs) -> anyhow::Result<u8> {
    let token = read_token(&args.token)?;
    let config = build_config(args)?;
    let keys = match (&args.jwks, &args.jwks_url) {
        (Some(path), _) => crate::jwks_source::from_file(path)?,
        (None, Some(url)) => crate::jwks_source::from_url(url)?,
        (None, None) => bail!("give --jwks FILE or --jwks-url URL"),
    };
    for ignored in keys.ignored() {
        eprintln!(
            "warning: key #{} ({}) ignored: {}",
            ignored.index,
            ignored.kid.as_deref().unwrap_or("no kid"),
            ignored.reason
        );
    }
    if !keys.has_usable_key() {
        bail!("the JWK Set has no usable signing key");
    }
    let validator = single_server_validator(config, keys);
    let mut trace = EvaluationTrace::default();
    let result = validator.validate_traced(&token, unix_now(), &mut trace);

    if args.json {
        let report = match &result {
            Ok(verified) => json!({"verdict": "accepted", "token": verified, "trace": trace}),
            Err(rejected) => json!({
                "verdict": "rejected",
                "reason": {"code": rejected.rejection.code(), "message": rejected.to_string(),
                           "hint": rejected.hint.map(|h| h.text())},
                "trace": trace,
            }),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        match &result {
            Ok(verified) => {
                println!(
                    "accepted: {} signature by key {} verified",
                    verified.alg,
                    verified.kid.as_deref().unwrap_or("(no kid)")
                );
                print_field("issuer", verified.issuer.as_deref());
                print_field("subject", verified.subject.as_deref());
                print_field("client id", verified.client_id.as_deref());
                println!("scopes: {}", verified.scopes.join(" "));
                println!("expires: {}", describe_time(verified.expires_at));
                println!(
                    "claims: {}",
                    serde_json::to_string_pretty(&verified.claims())?
                );
            }
            Err(rejected) => {
                println!(
                    "rejected [{}]: {}",
                    rejected.rejection.code(),
                    rejected.rejection
                );
                if let Some(hint) = rejected.hint {
                    println!("hint: {}", hint.text());
                }
            }
        }
    }
    Ok(if result.is_ok() {
        EXIT_OK
    } else {
        EXIT_REJECTED
    })
}

fn single_server_validator(config: ServerConfig, keys: JwkSet) -> Validator {
    Validator::new(vec![TrustedServer {
        id: "cli".into(),
        enabled: true,
        config,
        keys: Arc::new(keys),
        generation: 0,
    }])
}

fn print_field(label: &str, value: Option<&str>) {
    println!("{label}: {}", value.unwrap_or("(absent)"));
}

fn describe_time(seconds: f64) -> String {
    let whole = seconds.floor() as i64;
    let rfc3339 = time::OffsetDateTime::from_unix_timestamp(whole)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "out of range".to_owned());
    let delta = seconds - unix_now();
    let relative = if delta >= 0.0 {
        format!("in {}", human(delta))
    } else {
        format!("{} ago", human(-delta))
    };
    format!("{seconds} = {rfc3339} ({relative})")
}

fn human(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d", s / 86_400),
    }
}

const CLAIM_MEANINGS: &[(&str, &str)] = &[
    (
        "iss",
        "issuer: the authorization server that minted the token",
    ),
    (
        "sub",
        "subject: the user or (client credentials) the client",
    ),
    ("aud", "audience: the API(s) the token is for"),
    ("exp", "expiry"),
    ("nbf", "not before"),
    ("iat", "issued at"),
    ("jti", "token id"),
    ("client_id", "client id (RFC 9068, PingFederate, PingOne)"),
    ("cid", "client id (Okta)"),
    ("appid", "client id (Entra v1.0)"),
    ("azp", "client id (Entra v2.0)"),
    ("scope", "scopes, space-separated (RFC 9068, PingOne)"),
    (
        "scp",
        "scopes (Okta: array; Entra delegated: space-separated)",
    ),
    ("roles", "app roles (Entra client credentials)"),
    ("tid", "tenant id (Entra)"),
    ("ver", "token version (Okta 1; Entra 1.0 / 2.0)"),
];

fn inspect(arg: &str) -> anyhow::Result<u8> {
    let token = read_token(arg)?;
    let jws = match CompactJws::parse(&token) {
        Ok(jws) => jws,
        Err(err) => {
            println!("not a decodable compact JWS: {err}");
            return Ok(EXIT_REJECTED);
        }
    };
    println!(
        "header (unverified):\n{}",
        serde_json::to_string_pretty(&jws.header_members())?
    );
    let alg_note = match jws.header.alg_name {
        AlgName::Supported(alg) => format!("{alg}: supported asymmetric signature algorithm"),
        AlgName::None => "none: unsigned token, never accepted".to_owned(),
        AlgName::Hmac => "HMAC: symmetric, never accepted from a third-party issuer".to_owned(),
        AlgName::Unsupported => "not a supported algorithm".to_owned(),
    };
    println!("  alg  {alg_note}");
    println!(
        "  kid  {}",
        jws.header
            .kid
            .as_deref()
            .unwrap_or("(absent: every compatible key would be tried)")
    );
    println!("  typ  {}", jws.header.typ.as_deref().unwrap_or("(absent)"));
    for member in &jws.header.ignored_key_members {
        println!("  {member}  present and ignored: keys come only from the trusted server's JWKS");
    }
    match strict_json::parse_object(jws.payload()) {
        Ok(claims) => print_claims(&claims)?,
        Err(err) => println!("payload is not a JSON object: {err}"),
    }
    println!(
        "signature: {} bytes (not verified; use `portcullis token verify`)",
        jws.signature().len()
    );
    Ok(EXIT_OK)
}

fn print_claims(claims: &Map<String, Value>) -> anyhow::Result<()> {
    println!(
        "payload (unverified):\n{}",
        serde_json::to_string_pretty(claims)?
    );
    for (name, meaning) in CLAIM_MEANINGS {
        let Some(value) = claims.get(*name) else {
            continue;
        };
        let shown = match (name, value) {
            (&("exp" | "nbf" | "iat"), Value::Number(n)) => {
                n.as_f64().map(describe_time).unwrap_or_default()
            }
            (_, Value::String(s)) => s.clone(),
            (_, other) => other.to_string(),
        };
        println!("  {name:<9} {meaning}: {shown}");
    }
    Ok(())
}
