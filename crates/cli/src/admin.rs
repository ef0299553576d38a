//! `portcullis admin create`: adds an admin with the built-in Super Admin role straight into the
//! store — the first admin without the bootstrap password, or the way back in after everyone
//! lost access. It runs where the database is reachable (the same `--data-dir` /
//! `--database-url` as `serve`), needs no running server, and is audited as actor `cli`.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use portcullis_server::api::admins::MIN_PASSWORD_CHARS;
use portcullis_server::secrets::{hash_password, random_token};
use portcullis_store::{Actor, Interface, NewAdmin, RoleKind, Store};

/// `portcullis admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a Super Admin (prints a generated password once unless --password-stdin).
    Create(CreateArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Sign-in name (letters, digits, `-`, `_`, `.`; 1–64 characters).
    #[arg(long)]
    login: String,
    /// Display name.
    #[arg(long, default_value = "")]
    name: String,
    /// Read the password from standard input (at least 12 characters; one trailing newline is
    /// dropped) instead of generating one.
    #[arg(long)]
    password_stdin: bool,
    /// Folder of the embedded database (as for `serve`).
    #[arg(long, env = "PORTCULLIS_DATA_DIR", default_value = "./portcullis-data")]
    data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...` (as for `serve`).
    #[arg(long, env = "PORTCULLIS_DATABASE_URL")]
    database_url: Option<String>,
    /// Numeric id of the org (default: the deployment's org).
    #[arg(long, env = "PORTCULLIS_ORG_ID")]
    org_id: Option<i64>,
}

/// Runs `admin` with its own runtime.
pub fn run(command: AdminCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        AdminCommand::Create(args) => runtime.block_on(create(args)),
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    if let Err(message) = portcullis_policy::config::check_name(&args.login) {
        bail!("--login: {message}");
    }
    let (password, generated) = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        let password = text
            .strip_suffix('\n')
            .map(|p| p.strip_suffix('\r').unwrap_or(p))
            .unwrap_or(&text)
            .to_owned();
        if password.chars().count() < MIN_PASSWORD_CHARS {
            bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
        }
        (password, false)
    } else {
        let password = random_token(18)
            .map_err(|err| anyhow::anyhow!("cannot generate a password: {}", err.message))?;
        (password, true)
    };
    let database_url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", args.data_dir.join("portcullis.db").display()),
    };
    let store = Store::open(&database_url)
        .await
        .context("cannot open the database")?;
    let org = store
        .ensure_org(args.org_id)
        .await
        .context("cannot load the organization")?;
    let super_admin = store
        .list_roles(org.id, RoleKind::Admin)
        .await?
        .into_iter()
        .find(|role| role.builtin)
        .context("the built-in Super Admin role is missing")?;
    let hash = hash_password(&password)
        .map_err(|err| anyhow::anyhow!("cannot hash the password: {}", err.message))?;
    let created = store
        .create_admin(
            org.id,
            &NewAdmin {
                login: args.login.clone(),
                name: args.name.clone(),
                password_hash: hash,
                role_id: super_admin.id,
            },
            &Actor::system("cli", Interface::System),
        )
        .await;
    store.close().await;
    match created {
        Ok(_) => {}
        Err(portcullis_store::StoreError::Conflict(conflict)) => {
            bail!("cannot create `{}`: {conflict}", args.login)
        }
        Err(err) => return Err(err).context("cannot create the admin"),
    }
    println!("created Super Admin `{}` in org {}", args.login, org.id);
    if generated {
        // Shown once, on this terminal only; it is never logged or stored in clear.
        println!("password: {password}");
    }
    Ok(())
}
