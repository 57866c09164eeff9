//! Similar posts: every replica keeps each tenant's recent posts in a near-duplicate index
//! ([`tend_trends::cluster::ClusterIndex`]) and asks it, for each post it routes, which cluster
//! of similar posts the post joins and how large that cluster is now (the `cluster` term of
//! priority: a post 200 people echo outranks a lone one).
//!
//! The decisions keep each post's signature and cluster id, so the index is rebuilt from them
//! when a replica first needs a tenant (after a start), with the cluster ids as they were
//! answered; and every `trends.refresh_every` each replica reads the decisions the other
//! replicas made meanwhile into its index, so replicas see each other's posts within seconds.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tend_trends::cluster::{Assignment, ClusterConfig, ClusterIndex, ClusterView, SIGNATURE_LEN};
use tokio::sync::Mutex;

use crate::storage::decision;

/// Most decisions read to rebuild or catch up a tenant's index at once.
const MAX_READ: u64 = 200_000;
/// How far back a catch-up reads again, for decisions committed after later ones.
const OVERLAP: TimeDelta = TimeDelta::seconds(5);

/// One tenant's index, and the decisions read into it.
struct TenantIndex {
    index: ClusterIndex,
    /// The latest decision time read from the database.
    read_to: DateTime<Utc>,
}

/// Every tenant's index on this replica.
pub struct Clusters {
    config: ClusterConfig,
    tenants: Mutex<HashMap<String, TenantIndex>>,
}

/// A signature as the decisions keep it: 64 little-endian `u32`.
pub fn signature_bytes(signature: &[u32]) -> Option<Vec<u8>> {
    (signature.len() == SIGNATURE_LEN).then(|| signature.iter().flat_map(|value| value.to_le_bytes()).collect())
}

fn signature_from_bytes(bytes: &[u8]) -> Option<Vec<u32>> {
    (bytes.len() == SIGNATURE_LEN * 4).then(|| {
        bytes.chunks_exact(4).map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])).collect()
    })
}

/// A stored decision as the index reads it.
type Stored = (String, Option<Vec<u8>>, String, DateTime<Utc>);

/// The tenant's decisions with a signature made since `since`, oldest first.
async fn stored<C: ConnectionTrait>(conn: &C, tenant: &str, since: DateTime<Utc>) -> Result<Vec<Stored>, DbErr> {
    decision::Entity::find()
        .select_only()
        .column(decision::Column::InteractionId)
        .column(decision::Column::Signature)
        .column(decision::Column::ClusterId)
        .column(decision::Column::DecidedAt)
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::DecidedAt.gte(since))
        .filter(decision::Column::ClusterId.ne(""))
        .order_by_asc(decision::Column::DecidedAt)
        .limit(MAX_READ)
        .into_tuple()
        .all(conn)
        .await
}

impl Clusters {
    /// No tenant loaded yet; `config` for every tenant's index (validated by `TrendsConfig`).
    pub fn new(config: ClusterConfig) -> Self {
        Self { config, tenants: Mutex::new(HashMap::new()) }
    }

    fn empty(&self) -> Option<ClusterIndex> {
        match ClusterIndex::new(self.config.clone()) {
            Ok(index) => Some(index),
            Err(error) => {
                tracing::error!(%error, "trends.clusters is invalid; posts are not clustered");
                None
            }
        }
    }

    /// Reads `rows` into `index`, keeping the cluster ids they were answered with.
    fn restore(index: &mut ClusterIndex, rows: &[Stored]) {
        for (member, signature, cluster_id, at) in rows {
            let Some(signature) = signature.as_deref().and_then(signature_from_bytes) else { continue };
            if let Err(error) = index.restore(member, &signature, *at, cluster_id) {
                tracing::debug!(%error, "a stored signature was not restored");
            }
        }
    }

    /// Makes sure `tenant`'s index is in memory (rebuilt from its decisions of the window).
    async fn load<C: ConnectionTrait>(&self, conn: &C, tenant: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
        if self.tenants.lock().await.contains_key(tenant) {
            return Ok(());
        }
        let since = now - self.config.window;
        let rows = stored(conn, tenant, since).await?;
        let Some(mut index) = self.empty() else { return Ok(()) };
        Self::restore(&mut index, &rows);
        let read_to = rows.last().map_or(since, |row| row.3);
        tracing::info!(tenant, posts = rows.len(), clusters = index.len(), "similar-post index rebuilt");
        self.tenants.lock().await.entry(tenant.to_owned()).or_insert(TenantIndex { index, read_to });
        Ok(())
    }

    /// The cluster each of `posts` (interaction id, signature, time) joins, in order; `None`
    /// for a post without a full signature.
    pub async fn assign<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        posts: &[(&str, &[u32], DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<Assignment>>, DbErr> {
        if posts.iter().all(|(_, signature, _)| signature.len() != SIGNATURE_LEN) {
            return Ok(vec![None; posts.len()]);
        }
        self.load(conn, tenant, now).await?;
        let mut tenants = self.tenants.lock().await;
        let Some(known) = tenants.get_mut(tenant) else { return Ok(vec![None; posts.len()]) };
        Ok(posts
            .iter()
            .map(|(member, signature, at)| {
                if signature.len() != SIGNATURE_LEN {
                    return None;
                }
                known.index.insert(member, signature, *at).ok()
            })
            .collect())
    }

    /// Reads into every loaded tenant's index the decisions made since it last read (those of
    /// other replicas; its own are known already), and lets what left the window go.
    pub async fn catch_up<C: ConnectionTrait>(&self, conn: &C, now: DateTime<Utc>) -> Result<(), DbErr> {
        let loaded: Vec<(String, DateTime<Utc>)> =
            self.tenants.lock().await.iter().map(|(tenant, known)| (tenant.clone(), known.read_to)).collect();
        for (tenant, read_to) in loaded {
            let rows = stored(conn, &tenant, read_to - OVERLAP).await?;
            let mut tenants = self.tenants.lock().await;
            let Some(known) = tenants.get_mut(&tenant) else { continue };
            Self::restore(&mut known.index, &rows);
            known.index.expire(now);
            if let Some(last) = rows.last() {
                known.read_to = known.read_to.max(last.3);
            }
        }
        Ok(())
    }

    /// The tenant's largest clusters now, at least `min_size` posts, at most `limit`.
    pub async fn largest<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        min_size: u64,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClusterView>, DbErr> {
        self.load(conn, tenant, now).await?;
        let tenants = self.tenants.lock().await;
        let Some(known) = tenants.get(tenant) else { return Ok(Vec::new()) };
        Ok(known.index.largest(limit).into_iter().filter(|view| view.size >= min_size.max(1)).collect())
    }

    /// One of the tenant's clusters, if it is in the window.
    pub async fn view<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        cluster_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ClusterView>, DbErr> {
        self.load(conn, tenant, now).await?;
        let tenants = self.tenants.lock().await;
        Ok(tenants.get(tenant).and_then(|known| known.index.cluster(cluster_id)))
    }
}

/// The members of the tenant's cluster `cluster_id`, newest first: (interaction, case, decided
/// at), a page of at most `limit` after the interaction id `after`.
pub async fn members<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    cluster_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<(String, String, DateTime<Utc>)>, DbErr> {
    let mut query = decision::Entity::find()
        .select_only()
        .column(decision::Column::InteractionId)
        .column(decision::Column::CaseId)
        .column(decision::Column::DecidedAt)
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::ClusterId.eq(cluster_id));
    if let Some(after) = after {
        query = query.filter(decision::Column::InteractionId.lt(after));
    }
    query.order_by_desc(decision::Column::InteractionId).limit(limit).into_tuple().all(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_through_the_column() {
        let signature: Vec<u32> = (0..64).map(|n| n * 7919).collect();
        let bytes = signature_bytes(&signature).unwrap();
        assert_eq!(bytes.len(), 256);
        assert_eq!(signature_from_bytes(&bytes).unwrap(), signature);
        assert!(signature_bytes(&signature[..10]).is_none());
        assert!(signature_from_bytes(&bytes[..10]).is_none());
    }
}
