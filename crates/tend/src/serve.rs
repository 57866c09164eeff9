//! Sub-commands that run services or work on their storage: `dev`, `serve`, `migrate`,
//! `dead-letters`.

use anyhow::Context as _;
use tend::app::{self, ServiceName};
use tend::config::TendConfig;
use tend_kernel::component::Bound;
use tend_kernel::telemetry;

use crate::cli::{self, ConfigArgs, DeadLettersCommand};

fn load(args: &ConfigArgs) -> anyhow::Result<TendConfig> {
    Ok(tend_kernel::config::load::<TendConfig>(args.config.as_deref())?)
}

/// `tend dev`: every service (or `--only` some) in one process.
pub async fn dev(args: cli::DevArgs) -> anyhow::Result<()> {
    let mut config = load(&args.config)?;
    if let Some(dir) = args.data_dir {
        config.storage.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(listen) = args.http_listen {
        config.server.http_listen = listen;
    }
    if config.channels.secrets_key.is_empty() {
        config.channels.secrets_key = dev_secrets_key(&config.storage.data_dir)?;
    }
    if config.feedback.token_secret.is_empty() {
        config.feedback.token_secret = dev_secret_file(&config.storage.data_dir, "token.secret", &token_secret)?;
    }
    let services = if args.only.is_empty() { ServiceName::ALL.to_vec() } else { args.only };
    run(config, &services, "tend", false).await
}

/// `tend dev` without a `channels.secrets_key`: a key of its own, made once in the data
/// directory (readable by its owner only), so channel secrets can be given by value on a
/// laptop. `tend serve` never makes one: production names its key.
fn dev_secrets_key(data_dir: &std::path::Path) -> anyhow::Result<String> {
    dev_secret_file(data_dir, "secrets.key", &tend_ingest::registry::secrets::generate_key)
}

/// A new secret for `feedback.token_secret`: 256 random bits as 64 hex digits.
fn token_secret() -> String {
    tend_kernel::auth::generate_key()
}

/// A reference (`file:/absolute/path`) to the secret in `name` in the data directory, made with
/// `generate` the first time (readable by its owner only).
fn dev_secret_file(data_dir: &std::path::Path, name: &str, generate: &dyn Fn() -> String) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    if !path.exists() {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::Write::write_all(&mut file, generate().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // A reference needs an absolute path (the data directory may be given relative).
    let path = std::fs::canonicalize(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
    Ok(format!("file:{}", path.display()))
}

/// `tend serve <service>…`: the given services, as deployed.
pub async fn serve(args: cli::ServeArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    if args.services.contains(&ServiceName::Feedback) && config.feedback.token_secret.is_empty() {
        anyhow::bail!(
            "invalid configuration: `feedback.token_secret` is required to serve feedback: survey links are signed \
             with it, the same on every replica (at least 32 bytes, e.g. `openssl rand -base64 32`, or env:NAME / \
             file:/path; TEND__FEEDBACK__TOKEN_SECRET)"
        );
    }
    let name = match args.services.as_slice() {
        [one] => format!("tend-{one}"),
        _ => "tend".to_owned(),
    };
    run(config, &args.services, &name, true).await
}

async fn run(config: TendConfig, services: &[ServiceName], telemetry_name: &str, apart: bool) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&config.telemetry, telemetry_name)?;
    if apart && config.stream.redis_url.is_empty() {
        tracing::warn!(
            "stream.redis_url is not set: services in other processes see this one's events only through \
             the shared streams.db file, with polling delays; set it for production"
        );
    }
    let shutdown = tend_kernel::shutdown::on_signal();
    let described = describe_backends(&config);
    let outcome = app::run(&config, services, shutdown, |bound| announce(bound, &described)).await;
    if outcome.is_ok() {
        // A log line, not a bare one on stderr: with JSON logs every line must be JSON.
        tracing::info!("tend stopped");
    }
    telemetry.shutdown().await;
    Ok(outcome?)
}

fn describe_backends(config: &TendConfig) -> String {
    let storage = if config.storage.database_url.is_empty() {
        format!("SQLite files in {}", config.storage.data_dir.display())
    } else if config.storage.is_postgres() {
        "PostgreSQL (one schema per service)".to_owned()
    } else {
        config.storage.database_url.clone()
    };
    let stream = if config.stream.redis_url.is_empty() {
        format!("in-process, persisted in {}", config.storage.data_dir.join("streams.db").display())
    } else {
        format!("Redis Streams (keys prefixed {:?})", config.stream.key_prefix)
    };
    format!("  storage: {storage}\n  stream:  {stream}")
}

/// Prints where each service listens. The first line is stable: scripts and tests read the
/// address from it.
fn announce(bound: Bound<'_>, backends: &str) {
    let addr = bound.grpc;
    println!("tend serving on {addr}");
    for name in bound.services {
        println!("  {name:<26} grpc://{addr}");
    }
    println!("  {:<26} grpc://{addr}", "grpc.health.v1.Health");
    println!("  {:<26} grpc://{addr}", "grpc.reflection.v1");
    if let Some(http) = bound.http {
        println!("  {:<26} http://{http}/webhooks/…", "webhooks");
        println!("  {:<26} http://{http}/metrics", "metrics");
    }
    println!("{backends}");
}

/// `tend migrate`.
pub async fn migrate(args: cli::MigrateArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    let services = match args.service {
        Some(service) => vec![service],
        None => ServiceName::ALL.to_vec(),
    };
    app::migrate(&config, &services).await?;
    for service in services {
        println!("{service}: migrations applied");
    }
    Ok(())
}

/// `tend dead-letters list|replay`.
pub async fn dead_letters(command: DeadLettersCommand) -> anyhow::Result<()> {
    let (args, replay) = match command {
        DeadLettersCommand::List(args) => (args, false),
        DeadLettersCommand::Replay(args) => (args, true),
    };
    let config = load(&args.config)?;
    let stream = app::open_stream(&config).await?;
    if replay {
        let count = tend_queue::replay_dead_letters(stream.as_ref(), &args.stream, &args.group, args.limit)
            .await
            .context("replaying dead letters")?;
        println!("{count} dead letters put back on {}", args.stream);
        return Ok(());
    }
    let letters = tend_queue::list_dead_letters(stream.as_ref(), &args.stream, &args.group, args.limit)
        .await
        .context("listing dead letters")?;
    if letters.is_empty() {
        println!("no dead letters for group {} on {}", args.group, args.stream);
    }
    for letter in letters {
        println!(
            "{}  entry {}  after {} deliveries: {}",
            letter.id, letter.original_id, letter.deliveries, letter.reason
        );
    }
    Ok(())
}
