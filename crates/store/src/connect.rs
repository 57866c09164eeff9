use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::error::DbContext;
use crate::{Error, StoreConfig};

/// Connects `service` to its own database: on PostgreSQL, the schema named after the service
/// (created if missing) in the configured database; otherwise the SQLite file
/// `{data_dir}/{service}.db` (created if missing, in WAL mode).
pub async fn connect(config: &StoreConfig, service: &str) -> Result<DatabaseConnection, Error> {
    if config.is_postgres() {
        return connect_postgres(&config.database_url, service).await;
    }
    let url = if config.database_url.is_empty() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| Error::DataDir { path: config.data_dir.clone(), source })?;
        format!("sqlite://{}?mode=rwc", config.data_dir.join(format!("{service}.db")).display())
    } else {
        config.database_url.clone()
    };
    let mut options = ConnectOptions::new(url);
    // One connection: SQLite serialises writers anyway, and a single connection never meets
    // "database is locked". WAL keeps readers of other processes (the CLI) out of the way.
    options.max_connections(1).sqlx_logging(false).map_sqlx_sqlite_opts(|opts| {
        // WAL with synchronous=NORMAL: a commit survives the process being killed (the floor for
        // "acknowledged means committed"); only a power loss may take the last commits.
        opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // A deleted or overwritten row's bytes are zeroed, in its page and in the free
            // list: an erased customer cannot be read back from the file (crate::erasure).
            .pragma("secure_delete", "ON")
    });
    Database::connect(options).await.context(format!("opening the SQLite database of {service}"))
}

async fn connect_postgres(url: &str, service: &str) -> Result<DatabaseConnection, Error> {
    let mut admin = ConnectOptions::new(url.to_owned());
    admin.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(admin).await.context(format!("connecting to PostgreSQL for {service}"))?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{service}\""))
        .await
        .context(format!("creating schema {service}"))?;
    let _ = admin.close().await;

    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(10)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .set_schema_search_path(service.to_owned())
        .set_application_name(format!("tend-{service}"))
        // Batch statements look rows up with IN lists of hundreds of values. After five runs of a
        // prepared statement PostgreSQL may switch to a generic plan, which for such a list can be
        // a sequential scan: measured, a 500-key profile lookup went from milliseconds to 0.5 s
        // once identity's table had 50,000 rows. Planning each run costs far less.
        .map_sqlx_postgres_opts(|options| options.options([("plan_cache_mode", "force_custom_plan")]));
    Database::connect(options).await.context(format!("connecting to PostgreSQL schema {service}"))
}
