//! The `dialroom` command line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use dialroom::config::Config;
use dialroom::dialplan::{self, CallFacts, RoomName};
use dialroom::sip::auth::Credentials;
use dialroom::sip::registrar::Aor;
use dialroom::store::{Store, unix_now};
use dialroom::{Error, Result};

/// mimalloc: the SIP path allocates many small strings per message, and
/// glibc's malloc was a third of the REGISTER path's CPU under perf; with
/// mimalloc the same in-process REGISTER loop ran 2.4 times faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run a recorder worker: takes pending recordings from the database and
    /// records them from the server's media tap (`[recorder] in_process = false`).
    Recorder,
    /// Create or upgrade the database schema.
    Migrate,
    /// Manage SIP users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List current registrations.
    Registrations,
    /// Check a dialplan or try a call against it.
    Dialplan {
        #[command(subcommand)]
        command: DialplanCommand,
    },
    /// Manage meeting ids (what callers type in the IVR).
    Meeting {
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// Manage API tokens (for the JSON API at /api/v1).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage admin accounts (the web UI at /admin).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add an account; the password is stored only as an argon2id hash.
    Add {
        /// Login name (1-64 printable characters).
        name: String,
        /// Password (at least 8 characters).
        #[arg(long)]
        password: String,
        /// admin (reads and changes) or viewer (reads only).
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Set an account's password (its sessions end).
    Passwd {
        /// Login name.
        name: String,
        /// New password (at least 8 characters).
        #[arg(long)]
        password: String,
    },
    /// List accounts (names and roles).
    List,
    /// Remove an account (its sessions end).
    Remove {
        /// Login name.
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token; it is printed once and stored only as its SHA-256.
    Add {
        /// A name for it (who or what uses it).
        name: String,
        /// admin (reads and changes) or viewer (reads only).
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// List tokens (names and roles, never the tokens).
    List,
    /// Remove a token.
    Remove {
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand)]
enum DialplanCommand {
    /// Load the dialplan and report every mistake as file:line:column (exit 1 if any).
    Check {
        /// A directory of *.toml files or one file (default: [dialplan] path).
        path: Option<PathBuf>,
    },
    /// Show which route a call would take and what would happen (exit 0 even for a reject).
    Test {
        /// The dialled user part (Request-URI), e.g. 1234.
        #[arg(long)]
        to: String,
        /// The caller's From user part.
        #[arg(long, default_value = "anonymous")]
        from: String,
        /// The caller's IP address.
        #[arg(long, default_value = "127.0.0.1")]
        source: IpAddr,
        /// A header of the INVITE, 'Name: Value' (repeatable).
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The local time of the call, 'DAY HH:MM' e.g. 'mon 09:30' (default: now).
        #[arg(long)]
        at: Option<String>,
        /// The trunk the call comes from (routes with a `trunk` condition).
        #[arg(long)]
        trunk: Option<String>,
        /// A directory of *.toml files or one file (default: [dialplan] path).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Show whether a number may be dialled out of a room, and through
    /// which trunk (the `[[dialout]]` rules; exit 0 even for a refusal).
    Dial {
        /// The number asked for.
        number: String,
        /// The room it would be called into.
        #[arg(long, default_value = "room")]
        room: String,
        /// A directory of *.toml files or one file (default: [dialplan] path).
        #[arg(long)]
        path: Option<PathBuf>,
    },
    /// Write the running dialplan (the newest stored version) to a file or
    /// directory (as main.toml there), or to stdout without PATH.
    Export {
        /// A file, or a directory holding no other *.toml files.
        path: Option<PathBuf>,
    },
    /// Store the dialplan in a directory of *.toml files or one file as the
    /// newest version (checked first; running servers use it within a second).
    Import {
        /// A directory of *.toml files or one file (default: [dialplan] path).
        path: Option<PathBuf>,
        /// Why (shown in the history).
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(Subcommand)]
enum MeetingCommand {
    /// Add a meeting id that leads to a room.
    Add {
        /// The id callers type (1-20 digits).
        id: String,
        /// The room it joins.
        #[arg(long)]
        room: String,
        /// A PIN callers must enter (1-12 digits).
        #[arg(long)]
        pin: Option<String>,
        /// A PIN that joins as a moderator (1-12 digits; needs --pin).
        #[arg(long)]
        moderator_pin: Option<String>,
    },
    /// List meeting ids.
    List,
    /// Remove a meeting id.
    Remove {
        /// The id.
        id: String,
    },
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        Command::Recorder => recorder(cfg).await,
        Command::Migrate => {
            open(&cfg).await?;
            println!("database {} is up to date", cfg.database.url);
            Ok(())
        }
        Command::User { command } => user(cfg, command).await,
        Command::Dialplan {
            command: DialplanCommand::Export { path },
        } => dialplan_export(&cfg, path).await,
        Command::Dialplan {
            command: DialplanCommand::Import { path, comment },
        } => dialplan_import(&cfg, path, &comment).await,
        Command::Dialplan { command } => dialplan_command(&cfg, command),
        Command::Admin { command } => admin(cfg, command).await,
        Command::Meeting { command } => meeting(cfg, command).await,
        Command::Token { command } => token(cfg, command).await,
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

/// Loads a dialplan, printing every error to stderr.
fn load_dialplan(path: &Path) -> Result<dialplan::Dialplan> {
    dialplan::load(path).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        Error::Usage(format!(
            "{} error{} in dialplan {}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            path.display()
        ))
    })
}

fn dialplan_command(cfg: &Config, command: DialplanCommand) -> Result<()> {
    match command {
        DialplanCommand::Check { path } => {
            let path = path.unwrap_or_else(|| cfg.dialplan.path.clone());
            let plan = load_dialplan(&path)?;
            println!(
                "ok: {} route{}, {} dialout rule{} in {} file{}",
                plan.routes.len(),
                if plan.routes.len() == 1 { "" } else { "s" },
                plan.dialouts.len(),
                if plan.dialouts.len() == 1 { "" } else { "s" },
                plan.files.len(),
                if plan.files.len() == 1 { "" } else { "s" },
            );
        }
        DialplanCommand::Test {
            to,
            from,
            source,
            headers,
            at,
            trunk,
            path,
        } => {
            let path = path.unwrap_or_else(|| cfg.dialplan.path.clone());
            let headers = headers
                .iter()
                .map(|h| match h.split_once(':') {
                    Some((n, v)) if !n.trim().is_empty() => {
                        Ok((n.trim().to_string(), v.trim().to_string()))
                    }
                    _ => Err(Error::Usage(format!(
                        "--header {h:?}: write it as 'Name: Value'"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            let (weekday, minute_of_day) = match at {
                Some(at) => parse_at(&at)?,
                None => {
                    dialplan::local_clock(unix_now() as i64, cfg.dialplan.timezone_offset_minutes)
                }
            };
            let plan = load_dialplan(&path)?;
            let m = plan.eval(&CallFacts {
                to_user: &to,
                from_user: &from,
                source,
                trunk: trunk.as_deref(),
                headers: &headers,
                weekday,
                minute_of_day,
            });
            match plan.routes.get(m.route_index) {
                Some(r) => println!(
                    "route: {} \"{}\" ({}:{})",
                    m.route_index, r.name, r.file, r.line
                ),
                None => println!("route: none matched (every call no route takes gets 404)"),
            }
            if !m.captures.is_empty() {
                let caps: Vec<String> = m
                    .captures
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("${i}={c:?}"))
                    .collect();
                println!("captures: {}", caps.join(" "));
            }
            println!("decision: {}", m.decision);
        }
        DialplanCommand::Dial { number, room, path } => {
            let path = path.unwrap_or_else(|| cfg.dialplan.path.clone());
            let plan = load_dialplan(&path)?;
            let m = plan.eval_dialout(&number, &room);
            match plan.dialouts.iter().find(|r| r.name == m.rule) {
                Some(r) => println!("dialout rule: \"{}\" ({}:{})", r.name, r.file, r.line),
                None => println!("dialout rule: none matched (numbers no rule allows are refused)"),
            }
            println!("decision: {}", m.decision);
        }
        DialplanCommand::Export { .. } | DialplanCommand::Import { .. } => {
            unreachable!("export and import are dispatched in run()")
        }
    }
    Ok(())
}

async fn dialplan_export(cfg: &Config, path: Option<PathBuf>) -> Result<()> {
    let store = open(cfg).await?;
    let v = store
        .latest_dialplan_version(dialplan::PLAN_NAME)
        .await?
        .ok_or_else(|| {
            Error::Usage("no dialplan stored yet (the server stores one at its first start)".into())
        })?;
    let Some(path) = path else {
        print!("{}", v.toml);
        return Ok(());
    };
    let file = if path.is_dir() {
        let others: Vec<String> = std::fs::read_dir(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".toml") && !n.starts_with('.') && n != dialplan::PLAN_FILE)
            .collect();
        if !others.is_empty() {
            return Err(Error::Usage(format!(
                "{} also holds {}: they would be loaded together with {}. Remove them or give a file path",
                path.display(),
                others.join(", "),
                dialplan::PLAN_FILE
            )));
        }
        path.join(dialplan::PLAN_FILE)
    } else {
        path
    };
    // Written whole (temp file and rename): a server watching the
    // directory never reads half a file.
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, &v.toml)
        .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, &file)
        .map_err(|e| Error::io(format!("writing {}", file.display()), e))?;
    eprintln!(
        "exported dialplan version {} ({} by {}) to {}",
        v.id,
        v.created_at,
        v.author,
        file.display()
    );
    Ok(())
}

async fn dialplan_import(cfg: &Config, path: Option<PathBuf>, comment: &str) -> Result<()> {
    let path = path.unwrap_or_else(|| cfg.dialplan.path.clone());
    let text = dialplan::files_text(&path).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        Error::Usage(format!(
            "{} error{} in dialplan {}: nothing imported",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" },
            path.display()
        ))
    })?;
    let store = open(cfg).await?;
    if let Some(v) = store.latest_dialplan_version(dialplan::PLAN_NAME).await?
        && v.toml == text
    {
        println!(
            "unchanged: the running dialplan is already this text (version {})",
            v.id
        );
        return Ok(());
    }
    let comment = if comment.is_empty() {
        format!("imported from {}", path.display())
    } else {
        comment.to_string()
    };
    let v = store
        .add_dialplan_version(dialplan::PLAN_NAME, &text, "import", &comment)
        .await?;
    println!("imported as dialplan version {}", v.id);
    Ok(())
}

async fn admin(cfg: Config, command: AdminCommand) -> Result<()> {
    use dialroom::store::tokens::Role;
    let check_password = |pw: &str| {
        if pw.chars().count() < 8 {
            Err(Error::Usage(
                "an admin password has at least 8 characters".into(),
            ))
        } else {
            Ok(())
        }
    };
    match command {
        AdminCommand::Add {
            name,
            password,
            role,
        } => {
            let role = Role::parse(&role)
                .ok_or_else(|| Error::Usage(format!("--role {role:?}: use admin or viewer")))?;
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(Error::Usage(
                    "an admin name is 1-64 printable characters".into(),
                ));
            }
            check_password(&password)?;
            let store = open(&cfg).await?;
            store.add_admin(&name, &password, role).await?;
            println!(
                "added {} {name:?}; log in at http://{}/admin",
                role.as_str(),
                cfg.web.listen
            );
        }
        AdminCommand::Passwd { name, password } => {
            check_password(&password)?;
            let store = open(&cfg).await?;
            store.set_admin_password(&name, &password).await?;
            println!("password of admin {name:?} changed; its sessions ended");
        }
        AdminCommand::List => {
            let store = open(&cfg).await?;
            let admins = store.list_admins().await?;
            if admins.is_empty() {
                println!("no admins; add one with: dialroom admin add NAME --password PW");
            }
            for a in admins {
                println!("{}\t{}\tcreated {}", a.name, a.role.as_str(), a.created_at);
            }
        }
        AdminCommand::Remove { name } => {
            let store = open(&cfg).await?;
            store.remove_admin(&name).await?;
            println!("removed admin {name:?}");
        }
    }
    Ok(())
}

/// `DAY HH:MM` (e.g. `mon 09:30`) -> (weekday 0 = Monday, minute of the day).
fn parse_at(at: &str) -> Result<(u8, u16)> {
    dialplan::parse_day_time(at).map_err(|e| Error::Usage(format!("--at {e}")))
}

async fn token(cfg: Config, command: TokenCommand) -> Result<()> {
    use dialroom::store::tokens::Role;
    match command {
        TokenCommand::Add { name, role } => {
            let role = Role::parse(&role)
                .ok_or_else(|| Error::Usage(format!("--role {role:?}: use admin or viewer")))?;
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(Error::Usage(
                    "a token name is 1-64 printable characters".into(),
                ));
            }
            let store = open(&cfg).await?;
            let token = store.add_token(&name, role).await?;
            eprintln!(
                "added {} token {name:?}; it is shown only now. Use it as: Authorization: Bearer TOKEN",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            let store = open(&cfg).await?;
            let tokens = store.list_tokens().await?;
            if tokens.is_empty() {
                println!("no tokens; make one with: dialroom token add NAME [--role viewer]");
            }
            for t in tokens {
                println!("{}\t{}\tcreated {}", t.name, t.role.as_str(), t.created_at);
            }
        }
        TokenCommand::Remove { name } => {
            let store = open(&cfg).await?;
            store.remove_token(&name).await?;
            println!("removed token {name}");
        }
    }
    Ok(())
}

async fn meeting(cfg: Config, command: MeetingCommand) -> Result<()> {
    match command {
        MeetingCommand::Add {
            id,
            room,
            pin,
            moderator_pin,
        } => {
            dialplan::validate_meeting_id(&id).map_err(Error::Usage)?;
            let room = RoomName::parse(&room).map_err(|e| Error::Usage(e.to_string()))?;
            for p in [&pin, &moderator_pin].into_iter().flatten() {
                dialplan::validate_pin(p).map_err(Error::Usage)?;
            }
            if moderator_pin.is_some() && pin.is_none() {
                return Err(Error::Usage(
                    "--moderator-pin needs --pin too: without a PIN callers are never asked for one"
                        .into(),
                ));
            }
            if pin.is_some() && pin == moderator_pin {
                return Err(Error::Usage(
                    "--moderator-pin must differ from --pin".into(),
                ));
            }
            let store = open(&cfg).await?;
            store
                .add_meeting(&id, &room, pin.as_deref(), moderator_pin.as_deref())
                .await?;
            println!(
                "added meeting {id}: room \"{room}\"{}",
                if pin.is_some() { " (PIN required)" } else { "" }
            );
        }
        MeetingCommand::List => {
            let store = open(&cfg).await?;
            let meetings = store.list_meetings().await?;
            if meetings.is_empty() {
                println!(
                    "no meetings; add one with: dialroom meeting add ID --room ROOM [--pin PIN]"
                );
            }
            for m in meetings {
                println!(
                    "{}\troom {}\tpin {}\tmoderator pin {}",
                    m.id,
                    m.room,
                    m.pin.as_deref().unwrap_or("-"),
                    m.moderator_pin.as_deref().unwrap_or("-"),
                );
            }
        }
        MeetingCommand::Remove { id } => {
            let store = open(&cfg).await?;
            store.remove_meeting(&id).await?;
            println!("removed meeting {id}");
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

async fn recorder(cfg: Config) -> Result<()> {
    let store = open(&cfg).await?;
    let mut settings = dialroom::server::recorder_settings(&cfg, cfg.web.listen);
    if cfg.recorder.worker_id.is_none() {
        // Stable over restarts (a restarted worker closes what it left),
        // distinct for workers on one host that write different directories.
        settings.worker_id = format!(
            "{}:recorder:{}",
            dialroom::server::host_name(),
            settings.config.dir.display()
        );
    }
    println!(
        "recorder worker {} writing to {}",
        settings.worker_id,
        settings.config.dir.display()
    );
    println!("database: {}", cfg.database.url);
    println!("ready");
    dialroom::recorder::worker::run(settings, store, wait_for_signal()).await?;
    tracing::info!("recorder worker stopped");
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
