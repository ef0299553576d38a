//! `portcullis check-config FILE`: validates a declarative configuration file without a server
//! or a database, with the same parser and the same `file:line` messages `portcullis serve
//! --config` prints. Exit 0 when valid, 1 when not (or unreadable), 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use portcullis_policy::UrlRules;
use portcullis_server::declarative;

/// Arguments of `check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The declarative configuration file (TOML).
    file: PathBuf,
    /// Accept http and loopback JWKS/metadata URLs, as a server started with
    /// PORTCULLIS_ALLOW_INSECURE_JWKS=true would.
    #[arg(long, env = "PORTCULLIS_ALLOW_INSECURE_JWKS", default_value_t = false)]
    allow_insecure_jwks: bool,
}

pub fn run(args: CheckConfigArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{name}: cannot read the file: {err}");
            return ExitCode::FAILURE;
        }
    };
    let rules = UrlRules {
        allow_insecure: args.allow_insecure_jwks,
    };
    match declarative::parse(&name, &text, rules) {
        Ok(config) => {
            println!(
                "{name}: valid ({} authorization servers, {} API roles, {} routes)",
                config.servers.len(),
                config.roles.len(),
                config.routes.len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!(
                "{name}: {} problem(s); nothing would be applied",
                problems.len()
            );
            ExitCode::FAILURE
        }
    }
}
