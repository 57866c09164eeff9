//! Helpers for tests that need real PostgreSQL and Redis: each test gets its own database and
//! its own Redis key prefix, so tests run in parallel and twice in a row.
//!
//! The servers come from `TEND_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `TEND_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). A server that cannot be reached fails the test: it is never
//! skipped.

use sea_orm::{ConnectionTrait, Database};

use crate::StoreConfig;

/// The PostgreSQL server tests use (a URL to a database that exists, used to create others).
pub fn postgres_admin_url() -> String {
    std::env::var("TEND_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("TEND_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key prefix no other test uses.
pub fn unique_key_prefix() -> String {
    format!("tend-test:{}:", uuid::Uuid::new_v4().simple())
}

/// A PostgreSQL database made for one test; [`TestDatabase::drop_database`] removes it.
#[derive(Debug)]
pub struct TestDatabase {
    /// URL of the new database.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database named `tend_test_<uuid>`.
    ///
    /// # Panics
    /// When the PostgreSQL server cannot be reached or refuses: tests need it.
    #[allow(clippy::panic)]
    pub async fn create() -> Self {
        let admin_url = postgres_admin_url();
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|error| {
            panic!("PostgreSQL for tests is not reachable at {admin_url} ({error}); start it with scripts/services.sh or set TEND_TEST_DATABASE_URL")
        });
        let name = format!("tend_test_{}", uuid::Uuid::new_v4().simple());
        if let Err(error) = admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await {
            panic!("cannot create test database {name}: {error}");
        }
        let _ = admin.close().await;
        Self { url: replace_database(&admin_url, &name), name }
    }

    /// A storage configuration pointing at this database.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig { database_url: self.url.clone(), ..StoreConfig::default() }
    }

    /// Drops the database (best effort; `scripts/test.sh` also sweeps leftovers).
    pub async fn drop_database(self) {
        if let Ok(admin) = Database::connect(&postgres_admin_url()).await {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await;
            let _ = admin.close().await;
        }
    }
}

/// The two storage backends, for suites that run every test on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory (the embedded default).
    Sqlite,
    /// A fresh PostgreSQL database on the test server.
    Postgres,
}

/// A database for one test on one backend; [`TestStore::cleanup`] removes it.
pub struct TestStore {
    /// The configuration that reaches it (connect services with it).
    pub config: StoreConfig,
    postgres: Option<TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh, empty store on `backend`.
    ///
    /// # Panics
    /// When the temporary directory cannot be made or PostgreSQL cannot be reached.
    #[allow(clippy::panic)]
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir =
                    tempfile::tempdir().unwrap_or_else(|error| panic!("cannot make a temporary directory: {error}"));
                let config = StoreConfig { data_dir: dir.path().to_owned(), ..StoreConfig::default() };
                Self { config, postgres: None, _dir: Some(dir) }
            }
            Backend::Postgres => {
                let database = TestDatabase::create().await;
                Self { config: database.store_config(), postgres: Some(database), _dir: None }
            }
        }
    }

    /// Connects `service` to its database here and applies migrations `M`.
    ///
    /// # Panics
    /// When connecting or migrating fails.
    #[allow(clippy::panic)]
    pub async fn connect<M: sea_orm_migration::MigratorTrait>(&self, service: &str) -> sea_orm::DatabaseConnection {
        let db = crate::connect(&self.config, service).await.unwrap_or_else(|error| panic!("{error}"));
        crate::migration::run::<M>(&db, service).await.unwrap_or_else(|error| panic!("{error}"));
        db
    }

    /// Removes the database (PostgreSQL) or lets the directory go (SQLite).
    pub async fn cleanup(self) {
        if let Some(database) = self.postgres {
            database.drop_database().await;
        }
    }
}

/// Runs each `async fn name(backend: Backend)` of a test file twice, as `sqlite::name` and
/// `postgres::name`, so a storage suite proves both backends behave alike.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::testing::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::testing::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// `url` with its database name replaced by `name` (query string kept).
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|at| at + 3).unwrap_or(0);
    let prefix = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}
