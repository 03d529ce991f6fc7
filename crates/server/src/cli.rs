//! The `switchboard` command line. Operator commands print exactly one JSON object on
//! stdout (errors too, as `{"error": .., "message": ..}` with a non-zero exit), so
//! scripts can rely on it; logs go to stderr.

use crate::app::{self, AppState};
use crate::bootstrap;
use crate::config::{Config, LogFormat, Overrides};
use crate::credentials::{hash_password, new_secret, secret_hash};
use crate::http::resources::timestamp;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use switchboard_core::auth_store::MemberChange;
use switchboard_core::*;
use switchboard_store::{Database, StoreOptions};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hostable, multi-tenant conversations API server"
)]
pub struct Cli {
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (applies pending migrations first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SWITCHBOARD_LISTEN", value_name = "ADDR")]
        listen: Option<String>,
        /// On an empty database, also load demo channels and conversations.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage channels.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Manage personal access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage OAuth clients (applications).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the files directory.
    #[command(subcommand)]
    Files(FilesCommand),
}

#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Remove the files that no live message holds (what a running server does every
    /// --file-sweep-interval-secs), now. Prints how many went and how many stay.
    Sweep,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client of a tenant. Prints its client_id and, for a
    /// confidential client, its client_secret, shown only this once.
    Create {
        #[arg(long)]
        tenant: i64,
        #[arg(long)]
        name: String,
        /// An exact redirect URI; repeat for several. A public client needs one; a
        /// confidential client used only for client credentials may have none.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uri: Vec<String>,
        /// A public client (browser or mobile app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Scopes the client may ask for (space-separated, or repeated).
        #[arg(long, value_name = "SCOPES")]
        scope: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and make it a member of a tenant. With an e-mail that already
    /// exists, adds the existing user to the tenant (no --password needed; one given
    /// is not used: the user's password is left as it is).
    Create {
        #[arg(long)]
        tenant: i64,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Required for a new user (at least 8 characters).
        #[arg(long, env = "SWITCHBOARD_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Role in the tenant: owner, admin or agent (default agent for a new
        /// membership; an existing membership keeps its role unless this is given).
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// Create a channel. Prints the channel's inbound secret, shown only this once.
    Create {
        #[arg(long)]
        tenant: i64,
        /// whatsapp, instagram, website or telegram.
        #[arg(long = "type")]
        channel_type: String,
        #[arg(long)]
        name: String,
        /// The business's own address on the channel (phone number, handle, URL...).
        #[arg(long)]
        address: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token for a user.
    Create {
        #[arg(long)]
        user: i64,
        /// Space-separated scopes.
        #[arg(long, default_value = "read write")]
        scope: String,
        /// Lifetime in seconds (default one year).
        #[arg(long, value_name = "SECONDS", default_value_t = bootstrap::PERSONAL_TOKEN_LIFETIME_SECS)]
        expires_in: i64,
    },
    /// List a user's personal access tokens (never their values).
    List {
        #[arg(long)]
        user: i64,
    },
    /// Revoke a personal access token, by id (from `token list`) or by its value.
    /// A running server stops accepting it within a second.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "token"])))]
    Revoke {
        #[arg(long)]
        id: Option<i64>,
        /// The token itself (`sbp_...`).
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
    },
}

pub use crate::oauth::scopes::KNOWN_SCOPES;

/// A command failure: printed as one JSON object.
#[derive(Debug)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
}

impl CliError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => CliError::new("not_found", format!("{what} not found")),
            StoreError::Duplicate(what) => {
                CliError::new("duplicate", format!("{what} already exists"))
            }
            other => CliError::new("database_error", other.to_string()),
        }
    }
}

/// clap's error as one line: its first line and the lines that complete it (the
/// missing arguments, say), without the usage and the hint after them.
fn argument_error_message(rendered: &str) -> String {
    let message = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    match message.trim_start_matches("error: ") {
        "" => "invalid arguments".to_string(),
        message => message.to_string(),
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: plain text, as everyone expects.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            println!(
                "{}",
                json!({"error": "invalid_arguments", "message": argument_error_message(&e.to_string())})
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    crate::log_writer::flush();
    code
}

async fn run(cli: Cli) -> ExitCode {
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.as_deref(),
        _ => None,
    };
    let config = match Config::resolve(
        &cli.overrides,
        listen,
        None,
        std::env::var("DATABASE_URL").ok(),
    ) {
        Ok(config) => config,
        Err(e) => return print_result(Err(CliError::new("invalid_config", e.to_string()))),
    };
    let is_serve = matches!(cli.command, Command::Serve { .. });
    init_logging(config.log_format, if is_serve { "info" } else { "warn" });
    match cli.command {
        Command::Serve { demo, .. } => match serve(config, demo).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e.message, "switchboard stopped");
                crate::log_writer::flush();
                eprintln!("switchboard: {}", e.message);
                ExitCode::FAILURE
            }
        },
        command => print_result(operator_command(&config, command).await),
    }
}

fn print_result(result: Result<Value, CliError>) -> ExitCode {
    match result {
        Ok(value) => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", json!({"error": e.code, "message": e.message}));
            eprintln!("switchboard: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

pub fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},sqlx=warn")));
    // Colours only for a person at a terminal; a log file or collector gets plain text.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(|| crate::log_writer::BatchedStderr);
    // The log's lines before a panic's message, as they happened.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        crate::log_writer::flush();
        report_panic(panic);
    }));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

async fn open(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    let db = Database::connect(
        &config.database_url,
        &StoreOptions {
            max_connections: config.db_max_connections,
            max_write_connections: config.db_max_write_connections,
            idle_timeout: config.db_idle_timeout,
            ..StoreOptions::default()
        },
    )
    .await
    .map_err(|e| CliError::new("database_error", e.to_string()))?;
    db.migrate()
        .await
        .map_err(|e| CliError::new("migration_failed", e.to_string()))?;
    Ok(db.into_store())
}

async fn serve(config: Config, demo: bool) -> Result<(), CliError> {
    let store = open(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| {
            CliError::new(
                "listen_failed",
                format!("cannot listen on {}: {e}", config.listen),
            )
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new("listen_failed", e.to_string()))?;
    let base_url = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    match bootstrap::first_run(&store, &clock)
        .await
        .map_err(|e| CliError::new("bootstrap_failed", e.to_string()))?
    {
        Some(run) => {
            if demo {
                let n = bootstrap::load_demo(&store, &clock, run.tenant.id, 300).await?;
                tracing::info!(conversations = n, "demo data loaded");
            }
            println!("{}", bootstrap::first_run_banner(&run, &base_url));
        }
        None if demo => {
            tracing::warn!(
                "--demo loads data only into a new, empty database; this one already has tenants"
            )
        }
        None => {}
    }
    tracing::info!(
        listen = %local,
        database = %switchboard_store::redact(&config.database_url),
        backend = store.backend(),
        "switchboard listening; API docs at {base_url}/docs"
    );
    let grace = config.shutdown_timeout;
    let state = AppState::new(store.clone(), clock, config)
        .await
        .map_err(|e| CliError::new("database_error", e.to_string()))?;
    // Stop accepting on the signal, let in-flight requests finish for at most `grace`,
    // then close the pool (SQLite checkpoints its WAL) and exit 0.
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let server = app::serve(listener, state, async move {
        app::shutdown_signal().await;
        let _ = stopping_tx.send(());
    });
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        served = server => served.map_err(|e| CliError::new("server_error", e.to_string())),
        () = deadline => {
            tracing::warn!(timeout_secs = grace.as_secs(), "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    };
    store.close().await;
    tracing::info!("stopped");
    served
}

async fn operator_command(config: &Config, command: Command) -> Result<Value, CliError> {
    let clock = SystemClock;
    match command {
        Command::Migrate => {
            let db = Database::connect(&config.database_url, &StoreOptions::default())
                .await
                .map_err(|e| CliError::new("database_error", e.to_string()))?;
            let applied = db
                .migrate()
                .await
                .map_err(|e| CliError::new("migration_failed", e.to_string()))?;
            let store = db.into_store();
            Ok(json!({"backend": store.backend(), "migrations_applied": applied}))
        }
        Command::Files(FilesCommand::Sweep) => {
            let store = open(config).await?;
            let media = crate::files::local_media(store, Arc::new(clock), config);
            let report = crate::files::sweep_once(&media, config).await?;
            if let Some((key, e)) = report.first_failure {
                return Err(CliError::new(
                    "file_store_error",
                    format!(
                        "removed {} files, kept {}, could not remove {} (the first: {key}: {e})",
                        report.removed, report.held, report.failed
                    ),
                ));
            }
            Ok(json!({"removed": report.removed, "kept": report.held}))
        }
        Command::Tenant(TenantCommand::Create { name }) => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 255 {
                return Err(CliError::new(
                    "invalid_argument",
                    "--name must be 1 to 255 characters",
                ));
            }
            let store = open(config).await?;
            let tenant = store.create_tenant(name, clock.now()).await?;
            Ok(json!({"id": tenant.id.0, "name": tenant.name}))
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            name,
            password,
            role,
        }) => {
            let email = email.trim().to_lowercase();
            if !is_plausible_email(&email) {
                return Err(CliError::new(
                    "invalid_argument",
                    "--email is not an e-mail address",
                ));
            }
            let role: Option<Role> = role.map(|r| r.parse()).transpose().map_err(|_| {
                CliError::new("invalid_argument", "--role must be owner, admin or agent")
            })?;
            if password.as_ref().is_some_and(|p| p.chars().count() < 8) {
                return Err(CliError::new(
                    "invalid_argument",
                    "--password must have at least 8 characters",
                ));
            }
            let store = open(config).await?;
            // Check first: a failed command must leave no user behind.
            store
                .get_tenant(TenantId(tenant))
                .await?
                .ok_or_else(|| CliError::new("not_found", format!("tenant {tenant} not found")))?;
            let (user, created) = match store.find_user_by_email(&email).await? {
                Some(user) => (user, false),
                None => {
                    let password = password.ok_or_else(|| {
                        CliError::new(
                            "invalid_argument",
                            format!("--password is required: there is no user {email} yet"),
                        )
                    })?;
                    let password_hash = hash_password(&password)
                        .map_err(|e| CliError::new("password_error", e.to_string()))?;
                    let new = NewUser {
                        email: email.clone(),
                        name: name.trim().to_string(),
                        password_hash,
                    };
                    (store.create_user(new, clock.now()).await?, true)
                }
            };
            let role = match store.membership(TenantId(tenant), user.id).await? {
                // Already a member: a role change goes through the same rule as the
                // members API, so the tenant keeps an owner.
                Some(current) => match role.filter(|r| *r != current) {
                    None => current,
                    Some(new_role) => {
                        match store
                            .change_member(TenantId(tenant), user.id, Some(new_role))
                            .await?
                        {
                            MemberChange::Done => new_role,
                            MemberChange::LastOwner => {
                                return Err(CliError::new(
                                    "last_owner",
                                    "the tenant would be left without an owner",
                                ))
                            }
                            MemberChange::NotMember => {
                                return Err(CliError::new(
                                    "conflict",
                                    "the membership changed meanwhile; run the command again",
                                ))
                            }
                        }
                    }
                },
                None => {
                    let role = role.unwrap_or(Role::Agent);
                    store
                        .put_membership(TenantId(tenant), user.id, role, clock.now())
                        .await
                        .map_err(|e| match e {
                            StoreError::NotFound(_) => {
                                CliError::new("not_found", format!("tenant {tenant} not found"))
                            }
                            other => other.into(),
                        })?;
                    role
                }
            };
            Ok(json!({
                "id": user.id.0,
                "email": user.email,
                "name": user.name,
                "tenant_id": tenant,
                "role": role.as_str(),
                "created": created,
            }))
        }
        Command::Channel(ChannelCommand::Create {
            tenant,
            channel_type,
            name,
            address,
        }) => {
            let channel_type: ChannelType = channel_type.parse().map_err(|_| {
                CliError::new(
                    "invalid_argument",
                    "--type must be whatsapp, instagram, website or telegram",
                )
            })?;
            let name = name.trim().to_string();
            let address = address.trim().to_string();
            if name.is_empty() || address.is_empty() {
                return Err(CliError::new(
                    "invalid_argument",
                    "--name and --address must not be empty",
                ));
            }
            let store = open(config).await?;
            let secret = new_secret("sbc_");
            let channel = store
                .create_channel(
                    TenantId(tenant),
                    NewChannel {
                        channel_type,
                        name,
                        address,
                        inbound_secret_hash: secret_hash(&secret),
                    },
                    clock.now(),
                )
                .await
                .map_err(|e| match e {
                    StoreError::NotFound(_) => {
                        CliError::new("not_found", format!("tenant {tenant} not found"))
                    }
                    other => other.into(),
                })?;
            Ok(json!({
                "id": channel.id,
                "tenant_id": channel.tenant_id.0,
                "type": channel.channel_type.as_str(),
                "name": channel.name,
                "address": channel.address,
                "inbound_secret": secret,
            }))
        }
        Command::Token(TokenCommand::Create {
            user,
            scope,
            expires_in,
        }) => {
            let scopes: Vec<String> = scope.split_whitespace().map(str::to_string).collect();
            if scopes.is_empty() {
                return Err(CliError::new(
                    "invalid_argument",
                    "--scope must name at least one scope",
                ));
            }
            if let Some(unknown) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
                return Err(CliError::new(
                    "invalid_scope",
                    format!("unknown scope {unknown:?}"),
                ));
            }
            if expires_in < 1 {
                return Err(CliError::new(
                    "invalid_argument",
                    "--expires-in must be at least 1 second",
                ));
            }
            let store = open(config).await?;
            store
                .get_user(UserId(user))
                .await?
                .ok_or_else(|| CliError::new("not_found", format!("user {user} not found")))?;
            let (token, _) = bootstrap::issue_personal_token(
                store.as_ref(),
                &clock,
                UserId(user),
                "cli",
                scopes,
                Some(expires_in),
            )
            .await?;
            Ok(json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}))
        }
        Command::Token(TokenCommand::List { user }) => {
            let store = open(config).await?;
            store
                .get_user(UserId(user))
                .await?
                .ok_or_else(|| CliError::new("not_found", format!("user {user} not found")))?;
            let now = clock.now();
            let tokens: Vec<Value> = store
                .list_access_tokens(UserId(user))
                .await?
                .into_iter()
                .map(|t| {
                    let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(timestamp);
                    json!({
                        "id": t.id,
                        "name": t.name,
                        "scopes": t.scopes,
                        "created_at": timestamp(t.created_at),
                        "expires_at": stamp(t.expires_at),
                        "revoked_at": stamp(t.revoked_at),
                        "active": t.is_usable_at(now),
                    })
                })
                .collect();
            Ok(json!({"user_id": user, "tokens": tokens}))
        }
        Command::Token(TokenCommand::Revoke { id, token }) => {
            let store = open(config).await?;
            let id = match (id, token) {
                (Some(id), _) => id,
                (None, token) => {
                    let token = token.unwrap_or_default();
                    store
                        .find_access_token(&secret_hash(token.trim()))
                        .await?
                        .ok_or(StoreError::NotFound("access token"))?
                        .id
                }
            };
            let newly = store.revoke_access_token(id, clock.now()).await?;
            Ok(json!({"id": id, "revoked": true, "already_revoked": !newly}))
        }
        Command::Client(ClientCommand::Create {
            tenant,
            name,
            redirect_uri,
            public,
            scope,
        }) => {
            let mut scopes: Vec<String> = scope
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(str::to_string)
                .collect();
            if scope.is_empty() {
                scopes = ["read", "write"].map(String::from).to_vec();
            }
            if let Some(unknown) = scopes.iter().find(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
                return Err(CliError::new(
                    "invalid_scope",
                    format!("unknown scope {unknown:?}"),
                ));
            }
            let spec = crate::oauth::clients::ClientSpec {
                name,
                redirect_uris: redirect_uri
                    .into_iter()
                    .map(|u| u.trim().to_string())
                    .collect(),
                public,
                scopes,
            };
            if let Err(errors) = crate::oauth::clients::validate(&spec) {
                let (field, message) = &errors[0];
                return Err(CliError::new(
                    "invalid_argument",
                    format!(
                        "--{}: {message}",
                        field.replace('_', "-").trim_end_matches('s')
                    ),
                ));
            }
            let store = open(config).await?;
            store
                .get_tenant(TenantId(tenant))
                .await?
                .ok_or_else(|| CliError::new("not_found", format!("tenant {tenant} not found")))?;
            let (client, secret) =
                crate::oauth::clients::register(store.as_ref(), &clock, TenantId(tenant), spec)
                    .await
                    .map_err(|e| match e {
                        crate::oauth::clients::RegisterError::Invalid(errors) => CliError::new(
                            "invalid_argument",
                            errors.first().map(|(_, m)| m.clone()).unwrap_or_default(),
                        ),
                        crate::oauth::clients::RegisterError::Store(e) => e.into(),
                    })?;
            let mut out = json!({
                "client_id": client.client_id,
                "name": client.name,
                "tenant_id": client.tenant_id.0,
                "public": client.is_public(),
                "redirect_uris": client.redirect_uris,
                "scopes": client.scopes,
            });
            if let Some(secret) = secret {
                out["client_secret"] = json!(secret);
            }
            Ok(out)
        }
        Command::Serve { .. } => Err(CliError::new(
            "invalid_argument",
            "serve is not an operator command",
        )),
    }
}

fn is_plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
                && email.len() <= 255
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_scopes_are_known_scopes() {
        assert!(bootstrap::ALL_SCOPES
            .iter()
            .all(|s| KNOWN_SCOPES.contains(s)));
    }

    #[test]
    fn an_argument_error_names_what_is_missing_on_one_line() {
        let error = Cli::try_parse_from(["switchboard", "channel", "create", "--tenant", "1"])
            .expect_err("arguments missing");
        let message = argument_error_message(&error.to_string());
        assert!(
            message.starts_with("the following required arguments were not provided: --type"),
            "{message}"
        );
        for missing in ["--type", "--name", "--address"] {
            assert!(message.contains(missing), "{missing}: {message}");
        }
        assert!(!message.contains("Usage"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        let error = Cli::try_parse_from(["switchboard", "token", "create", "--user", "abc"])
            .expect_err("not a number");
        let message = argument_error_message(&error.to_string());
        assert!(
            message.starts_with("invalid value 'abc' for '--user <USER>'"),
            "{message}"
        );
    }

    #[test]
    fn email_plausibility() {
        assert!(is_plausible_email("a@b.co"));
        assert!(!is_plausible_email("a@b"));
        assert!(!is_plausible_email("@b.co"));
        assert!(!is_plausible_email("a b@c.de"));
    }
}
