//! What the crate's tests share: a fresh, migrated identity database on either backend, and
//! [`on_both_backends!`], which runs each test against SQLite and against PostgreSQL.
//!
//! PostgreSQL comes from `TEND_TEST_DATABASE_URL` (see `tend_store::testing`); a server that
//! cannot be reached fails the test, it is never skipped.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::DatabaseConnection;
use tend_kernel::TenantId;
use tend_kernel::auth::Caller;
use tend_store::testing::TestDatabase;
use tend_store::{OutboxWaker, StoreConfig};

use crate::app::App;
use crate::matcher::Matchers;
use crate::{Migrator, SERVICE};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory, on one connection (as `tend dev` runs).
    Sqlite,
    /// A PostgreSQL database of the test's own.
    Postgres,
}

/// A fresh identity database, migrated.
pub struct TestDb {
    /// The connection.
    pub db: DatabaseConnection,
    /// Which backend.
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<TestDatabase>,
}

impl TestDb {
    /// A fresh database on `backend`.
    pub async fn new(backend: Backend) -> Self {
        let (config, dir, postgres) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let config = StoreConfig { data_dir: dir.path().to_path_buf(), ..StoreConfig::default() };
                (config, Some(dir), None)
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                (database.store_config(), None, Some(database))
            }
        };
        let db = tend_store::connect(&config, SERVICE).await.unwrap();
        tend_store::migration::run::<Migrator>(&db, SERVICE).await.unwrap();
        Self { db, backend, _dir: dir, postgres }
    }

    /// The workflows over this database.
    pub fn app(&self) -> App {
        App::new(self.db.clone(), OutboxWaker::default(), Arc::new(Matchers::default()))
    }

    /// A second handle on the database that counts the statements run through it.
    pub fn counted(&self) -> (DatabaseConnection, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let mut db = self.db.clone();
        let counter = count.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        (db, count)
    }

    /// Closes the connection and drops the PostgreSQL database.
    pub async fn finish(self) {
        let _ = self.db.close().await;
        if let Some(postgres) = self.postgres {
            postgres.drop_database().await;
        }
    }
}

/// Tenant `name`.
pub fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// A person with write and admin access acting for `tenant`.
pub fn person(tenant_name: &str) -> Caller {
    Caller {
        tenant: tenant(tenant_name),
        role: tend_kernel::auth::Role::Admin,
        actor: "agent-ann".to_owned(),
        agent: None,
    }
}

/// Runs each `async fn name(db: &TestDb)` of the calling module twice: on SQLite (module
/// `sqlite`) and on PostgreSQL (module `postgres`), each time on a fresh database.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = $crate::testing::TestDb::new($crate::testing::Backend::Sqlite).await;
                    super::$test(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = $crate::testing::TestDb::new($crate::testing::Backend::Postgres).await;
                    super::$test(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

/// Runs `sql` and returns the first column of every row as text.
pub(crate) async fn strings(db: &DatabaseConnection, sql: String) -> Vec<String> {
    use sea_orm::ConnectionTrait as _;
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let rows = db.query_all_raw(statement).await.unwrap();
    rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect()
}

/// Every table of the identity schema.
pub async fn tables(db: &TestDb) -> Vec<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let mut tables = strings(&db.db, sql.to_owned()).await;
    tables.sort();
    tables
}

/// The columns of `table` that can hold text or bytes, with whether they hold bytes.
pub async fn text_columns(db: &TestDb, table: &str) -> Vec<(String, bool)> {
    let (names, types) = match db.backend {
        Backend::Sqlite => (
            format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            format!("SELECT lower(type) FROM pragma_table_info('{table}') ORDER BY cid"),
        ),
        Backend::Postgres => {
            let scope = format!(
                "FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            );
            (format!("SELECT column_name::text {scope}"), format!("SELECT data_type::text {scope}"))
        }
    };
    let names = strings(&db.db, names).await;
    let types = strings(&db.db, types).await;
    names
        .into_iter()
        .zip(types)
        .filter_map(|(name, kind)| {
            let bytes = kind.contains("blob") || kind.contains("bytea");
            let text = kind.contains("char") || kind.contains("text") || kind.contains("clob");
            (bytes || text).then_some((name, bytes))
        })
        .collect()
}

/// Every `table.column` of the schema holding any of `needles` (lowercase), in any row: text
/// and bytes (protobuf and JSON included) are searched, case-insensitively.
pub async fn find_anywhere(db: &TestDb, needles: &[&str]) -> Vec<String> {
    use sea_orm::ConnectionTrait as _;
    let mut found = Vec::new();
    for table in tables(db).await {
        for (column, bytes) in text_columns(db, &table).await {
            let sql = format!("SELECT \"{column}\" FROM \"{table}\"");
            let statement = sea_orm::Statement::from_string(db.db.get_database_backend(), sql);
            for row in db.db.query_all_raw(statement).await.unwrap() {
                let value: Vec<u8> = if bytes {
                    row.try_get_by_index::<Option<Vec<u8>>>(0).unwrap().unwrap_or_default()
                } else {
                    row.try_get_by_index::<Option<String>>(0).unwrap().unwrap_or_default().into_bytes()
                };
                let value = value.to_ascii_lowercase();
                for needle in needles {
                    if value.windows(needle.len()).any(|window| window == needle.as_bytes()) {
                        found.push(format!("{table}.{column} holds {needle:?}"));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}
