//! Leases: which replica does a job that must run on one replica at a time (a service's timers),
//! coordinated through the service's own database so it needs nothing else.
//!
//! A lease is a row `(name, holder, expires_at)`. A replica takes it when nobody holds it, when
//! it holds it already (a renewal) or when the holder let it expire (it died or hung); both steps
//! are single conditional statements, so of two replicas racing for a free lease exactly one
//! wins, on SQLite and PostgreSQL alike. A replica that stops releases its lease, so another
//! takes over at its next attempt instead of after the expiry.
//!
//! A lease is an efficiency, not the guard of correctness: a replica that stalls past its
//! expiry may briefly overlap with its successor, so the work done under a lease must itself be
//! idempotent (timers fire through conditional updates).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, TryInsertResult,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, timestamp_with_time_zone};
use tend_kernel::ids::Clock;
use tokio_util::sync::CancellationToken;

/// The `leases` table.
#[allow(missing_docs)]
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub holder: String,
        pub expires_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the `leases` table; a service that runs timers includes it in its migrator.
pub struct CreateLeases;

impl MigrationName for CreateLeases {
    fn name(&self) -> &str {
        "m20261203_000001_create_leases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateLeases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("leases")
                    .if_not_exists()
                    .col(string("name").primary_key())
                    .col(string("holder"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("leases").if_exists().to_owned()).await
    }
}

/// Takes or renews lease `name` for `holder` until `now + ttl`; true when `holder` holds it now.
pub async fn try_acquire<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    holder: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let row =
        entity::ActiveModel { name: Set(name.to_owned()), holder: Set(holder.to_owned()), expires_at: Set(expires_at) };
    let inserted = entity::Entity::insert(row)
        .on_conflict_do_nothing_on([entity::Column::Name])
        .exec_without_returning(conn)
        .await?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        return Ok(true);
    }
    let taken = entity::Entity::update_many()
        .col_expr(entity::Column::Holder, Expr::value(holder))
        .col_expr(entity::Column::ExpiresAt, Expr::value(expires_at))
        .filter(entity::Column::Name.eq(name))
        .filter(entity::Column::Holder.eq(holder).or(entity::Column::ExpiresAt.lt(now)))
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Who holds lease `name` at `now`, if anyone.
pub async fn holder<C: ConnectionTrait>(conn: &C, name: &str, now: DateTime<Utc>) -> Result<Option<String>, DbErr> {
    let lease = entity::Entity::find_by_id(name.to_owned()).one(conn).await?;
    Ok(lease.filter(|lease| lease.expires_at >= now).map(|lease| lease.holder))
}

/// Gives lease `name` up if `holder` holds it, so another replica can take it at once.
pub async fn release<C: ConnectionTrait>(conn: &C, name: &str, holder: &str) -> Result<(), DbErr> {
    entity::Entity::update_many()
        .col_expr(entity::Column::ExpiresAt, Expr::value(DateTime::<Utc>::UNIX_EPOCH))
        .filter(entity::Column::Name.eq(name))
        .filter(entity::Column::Holder.eq(holder))
        .exec(conn)
        .await?;
    Ok(())
}

/// A job that runs every so often on one replica at a time: at each tick it takes (or renews)
/// its lease and, only if it holds it, runs.
pub struct Singleton {
    /// The lease's name, e.g. `cases.timers`.
    pub name: &'static str,
    /// This replica's name among the holders (the instance name).
    pub holder: String,
    /// How often it runs.
    pub every: Duration,
    /// How long a lease lasts without renewal: longer than `every`, so the holder renews it in
    /// time, and short enough that a dead holder's job moves on soon.
    pub ttl: Duration,
    /// The database whose `leases` table coordinates the replicas.
    pub db: DatabaseConnection,
    /// The clock the lease's expiry is read on (the one the job runs on).
    pub clock: Arc<dyn Clock>,
}

impl Singleton {
    /// Runs `tick` at every interval this replica holds the lease, until `shutdown`; a failing
    /// tick is logged and the next one runs as usual. The lease is released on the way out.
    pub async fn run<F, Fut, E>(self, shutdown: CancellationToken, mut tick: F)
    where
        F: FnMut(DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut interval = tokio::time::interval(self.every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            let now = self.clock.now();
            match try_acquire(&self.db, self.name, &self.holder, self.ttl, now).await {
                Ok(true) => {
                    if !held {
                        tracing::info!(lease = self.name, holder = %self.holder, "took the lease: this replica runs the job");
                    }
                    held = true;
                    if let Err(error) = tick(now).await {
                        tracing::warn!(lease = self.name, %error, "the job failed; it runs again at the next tick");
                    }
                }
                Ok(false) => {
                    if held {
                        tracing::info!(lease = self.name, "another replica took the lease");
                    }
                    held = false;
                }
                Err(error) => tracing::warn!(lease = self.name, %error, "could not take the lease"),
            }
        }
        if held && let Err(error) = release(&self.db, self.name, &self.holder).await {
            tracing::warn!(lease = self.name, %error, "could not release the lease; it expires on its own");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::{Backend, TestStore};

    crate::migrator!(
        /// The leases table alone.
        Leases,
        "lease_test_migrations",
        [CreateLeases]
    );

    const TTL: Duration = Duration::from_secs(30);

    async fn one_holder_at_a_time_until_it_expires_or_is_released(backend: Backend) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Leases>("leases").await;
        let now = tend_kernel::ids::now();
        let later = |seconds| now + chrono::Duration::seconds(seconds);

        assert!(try_acquire(&db, "timers", "a", TTL, now).await.unwrap());
        assert!(!try_acquire(&db, "timers", "b", TTL, later(1)).await.unwrap(), "a holds it");
        assert!(try_acquire(&db, "timers", "a", TTL, later(20)).await.unwrap(), "a renews it");
        assert!(!try_acquire(&db, "timers", "b", TTL, later(40)).await.unwrap(), "renewed until 50 s");
        assert_eq!(holder(&db, "timers", later(40)).await.unwrap().as_deref(), Some("a"));
        // Another lease is another row.
        assert!(try_acquire(&db, "sweeps", "b", TTL, later(40)).await.unwrap());

        // a stops renewing: after the expiry b takes over, and a can't take it back.
        assert_eq!(holder(&db, "timers", later(51)).await.unwrap(), None);
        assert!(try_acquire(&db, "timers", "b", TTL, later(51)).await.unwrap());
        assert!(!try_acquire(&db, "timers", "a", TTL, later(52)).await.unwrap());

        // Releasing is only the holder's, and frees the lease at once.
        release(&db, "timers", "a").await.unwrap();
        assert_eq!(holder(&db, "timers", later(53)).await.unwrap().as_deref(), Some("b"));
        release(&db, "timers", "b").await.unwrap();
        assert!(try_acquire(&db, "timers", "a", TTL, later(54)).await.unwrap());
        store.cleanup().await;
    }

    async fn of_replicas_racing_for_a_free_lease_one_wins(backend: Backend) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Leases>("leases").await;
        let now = tend_kernel::ids::now();
        let mut racers = tokio::task::JoinSet::new();
        for replica in 0..8 {
            let db = db.clone();
            racers.spawn(async move { try_acquire(&db, "timers", &format!("r{replica}"), TTL, now).await });
        }
        let mut won = 0;
        while let Some(outcome) = racers.join_next().await {
            // SQLite may refuse a racer with "database is locked"; that racer did not win.
            if matches!(outcome.unwrap(), Ok(true)) {
                won += 1;
            }
        }
        assert_eq!(won, 1);
        store.cleanup().await;
    }

    crate::on_both_backends!(
        one_holder_at_a_time_until_it_expires_or_is_released,
        of_replicas_racing_for_a_free_lease_one_wins,
    );
}
