//! The retention job: posts past their tenant's retention (`[retention]`) are anonymised as an
//! erasure anonymises them, their ids recorded for the stream janitor, a batch per
//! transaction. One replica runs it at a time (the `ingest.retention` lease).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::TenantId;
use tend_kernel::ids::Clock;
use tend_store::erasure::ErasedSubjects;
use tend_store::events::{envelope, streams};
use tend_store::lease::Singleton;
use tend_store::{DbContext as _, OutboxWaker, RetentionConfig, outbox};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::SERVICE;
use crate::storage;

/// Posts anonymised per transaction.
const BATCH: u64 = 500;

/// Anonymises expired posts.
pub struct Retention {
    db: DatabaseConnection,
    config: RetentionConfig,
    waker: OutboxWaker,
    /// Per tenant, the last id anonymised by this process: the next pass starts after it
    /// instead of walking the tenant's anonymised past again.
    done_up_to: Mutex<HashMap<String, String>>,
}

impl Retention {
    /// A job over `db` with `config`.
    pub fn new(db: DatabaseConnection, config: RetentionConfig, waker: OutboxWaker) -> Self {
        Self { db, config, waker, done_up_to: Mutex::new(HashMap::new()) }
    }

    /// Runs a pass every `retention.every` while this replica holds the lease, until
    /// `shutdown`. Does nothing when no tenant has a retention.
    pub async fn run(self, instance: String, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
        if !self.config.is_enabled() {
            return;
        }
        let singleton = Singleton {
            name: "ingest.retention",
            holder: instance,
            every: self.config.every,
            ttl: self.config.every.max(Duration::from_secs(60)) * 2,
            db: self.db.clone(),
            clock,
        };
        let job = &self;
        singleton.run(shutdown, |now| async move { job.pass(now).await.map(drop) }).await;
    }

    /// Anonymises every tenant's posts received before its retention, as of `now`. Returns how
    /// many.
    pub async fn pass(&self, now: DateTime<Utc>) -> Result<u64, tend_store::Error> {
        let tenants = storage::tenants(&self.db).await.context("listing the tenants with posts")?;
        let mut anonymised = 0;
        for tenant in tenants {
            let Some(kept) = self.config.interactions_of(&tenant) else { continue };
            let Ok(tenant_id) = TenantId::parse(&tenant) else { continue };
            let before = now - chrono::Duration::from_std(kept).unwrap_or(chrono::Duration::MAX);
            let mut done_up_to = self.done_up_to.lock().await;
            let after = done_up_to.entry(tenant.clone()).or_default();
            loop {
                let txn = self.db.begin().await.context("starting a retention batch")?;
                let ids = storage::anonymise_received_before(&txn, &tenant, before, after, BATCH)
                    .await
                    .context("anonymising expired posts")?;
                let Some(last) = ids.last().cloned() else { break };
                let count = ids.len() as u64;
                let subjects = ErasedSubjects { ids };
                outbox::enqueue_many(&txn, &[(streams::ERASURES, envelope(SERVICE, &tenant_id, &subjects))]).await?;
                txn.commit().await.context("committing a retention batch")?;
                self.waker.wake();
                *after = last;
                anonymised += count;
                if count < BATCH {
                    break;
                }
            }
        }
        if anonymised > 0 {
            tracing::info!(anonymised, "posts past their retention anonymised");
            if let Err(error) = tend_store::erasure::after_erasure(&self.db).await {
                tracing::warn!(%error, "letting go of anonymised data failed");
            }
        }
        Ok(anonymised)
    }
}
