//! `portcullis`: the one binary. It only parses the command line and wires the crates below;
//! every decision is made in `portcullis-policy`, every key parsed in `portcullis-jose`.

mod admin;
mod check_config;
mod jwks_source;
mod serve;
mod servers;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Portcullis: accepts or rejects API requests by their OAuth 2.0 JWT access tokens.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: cloud service API, forward auth, reverse proxy, sandbox API and portal.
    Serve(Box<serve::ServeArgs>),
    /// Manage admins directly in the store (no running server needed).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// The authorization servers of a running node, through its API.
    Servers(servers::ServersArgs),
    /// Work with tokens offline: verify against a JWKS, or decode and explain.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Validate a declarative configuration file without starting a server.
    CheckConfig(check_config::CheckConfigArgs),
}

/// mimalloc instead of the system allocator: the request path allocates and frees dozens of
/// small blocks per request (headers, the decision, the identity values), and glibc's malloc
/// and free are a measurable share of a cached decision (bench/hot-path.md, issue 12).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout with success, usage errors to stderr.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(token::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Token(command) => token::run(command),
        Command::Servers(args) => servers::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Admin(command) => match admin::run(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => match serve::run(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}
