//! The `dialroom` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use dialroom::config::Config;
use dialroom::sip::auth::Credentials;
use dialroom::sip::registrar::Aor;
use dialroom::store::{Store, unix_now};
use dialroom::{Error, Result};

#[derive(Parser)]
#[command(
    name = "dialroom",
    version,
    about = "A SIP-first conferencing PBX in one binary"
)]
struct Cli {
    /// Configuration file (default: ./dialroom.toml if it exists, else built-in defaults).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Create or upgrade the database schema.
    Migrate,
    /// Manage SIP users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List current registrations.
    Registrations,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user.
    Add {
        /// User name (the part before @ in sip:NAME@domain).
        name: String,
        /// Password (stored only as digest HA1 values).
        #[arg(long)]
        password: String,
    },
    /// Change a user's password.
    Passwd {
        /// User name.
        name: String,
        /// New password.
        #[arg(long)]
        password: String,
    },
    /// List users.
    List,
    /// Remove a user and its registrations.
    Remove {
        /// User name.
        name: String,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime can be built");
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("dialroom: {e}");
        std::process::exit(1);
    }
}

async fn open(cfg: &Config) -> Result<Store> {
    let store = Store::connect(&cfg.database.url, cfg.database.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

async fn run(cli: Cli) -> Result<()> {
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            open(&cfg).await?;
            println!("database {} is up to date", cfg.database.url);
            Ok(())
        }
        Command::User { command } => user(cfg, command).await,
        Command::Registrations => {
            let store = open(&cfg).await?;
            let now = unix_now();
            let rows = store.live_bindings(now).await?;
            if rows.is_empty() {
                println!("no registrations");
            }
            for r in rows {
                println!(
                    "{}\t{}\texpires in {}s\tfrom {}\t{}",
                    r.aor,
                    r.binding.contact,
                    r.binding.expires_at.saturating_sub(now),
                    r.binding.received.as_deref().unwrap_or("-"),
                    r.binding.user_agent.as_deref().unwrap_or("-"),
                );
            }
            Ok(())
        }
    }
}

async fn user(cfg: Config, command: UserCommand) -> Result<()> {
    let store = open(&cfg).await?;
    let realm = cfg.sip.domain.as_str();
    match command {
        UserCommand::Add { name, password } => {
            let aor = Aor::parse(&name).map_err(Error::Usage)?;
            if password.is_empty() {
                return Err(Error::Usage("the password must not be empty".into()));
            }
            store
                .add_user(
                    aor.as_str(),
                    &Credentials::from_password(aor.as_str(), realm, &password),
                )
                .await?;
            println!("added user {aor} (sip:{aor}@{realm})");
        }
        UserCommand::Passwd { name, password } => {
            if password.is_empty() {
                return Err(Error::Usage("the password must not be empty".into()));
            }
            store
                .set_user_credentials(&name, &Credentials::from_password(&name, realm, &password))
                .await?;
            println!("password of {name} changed");
        }
        UserCommand::List => {
            let users = store.list_users().await?;
            if users.is_empty() {
                println!("no users; add one with: dialroom user add NAME --password PW");
            }
            for u in users {
                println!("{}\trealm {}", u.name, u.realm);
            }
        }
        UserCommand::Remove { name } => {
            store.remove_user(&name).await?;
            println!("removed user {name}");
        }
    }
    Ok(())
}

async fn serve(cfg: Config) -> Result<()> {
    let running = dialroom::server::start(cfg.clone()).await?;
    for l in &running.sip {
        println!("SIP listening on {l}");
    }
    println!("web listening on http://{}/ (health: /health)", running.web);
    println!("database: {}", cfg.database.url);
    println!("SIP domain: {}", cfg.sip.domain);
    println!("add a user with: dialroom user add alice --password secret");
    println!("ready");
    wait_for_signal().await;
    tracing::info!("shutting down: flushing registrations");
    running.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
