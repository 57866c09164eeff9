//! Hot topics and escalations: routing counts posts per topic and minute as it decides them,
//! one replica at a time assesses every topic against its learned weekly baseline
//! ([`tend_trends::burst`]) and checks the escalation thresholds, and every replica keeps what
//! is hot (and which bursts are escalated) in memory for the decisions.
//!
//! - The consumer adds each batch's topics to `topic_minutes` in the batch's transaction
//!   ([`count_posts`]), and asks [`HotTopics::signals`] for each post: its hottest hot topic's
//!   heat (a priority term), the SLA overlay, and the escalation key of its topic's burst (its
//!   case joins the burst's incident).
//! - [`Evaluator`] (lease `routing.trends`, every `trends.every`) folds completed hours into the
//!   baselines, assesses each topic, saves the assessment (`ListHotTopics` reads it), opens an
//!   escalation when a threshold is crossed (published on `topics.escalated` with the posts that
//!   crossed it; cases opens the incident) and ends it when the burst is over, and forgets
//!   minutes older than 49 hours.
//! - [`HotTopics::refresh`] (every `trends.refresh_every`, on every replica) reads the hot topics
//!   and active escalations into memory.

pub mod clusters;
pub mod storage;

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, TransactionTrait};
use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate};
use tend_kernel::ids::to_timestamp;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tend_trends::burst::{Baseline, Detector, DetectorConfig, Heat, LocalOffset, Trend};

use crate::decide::Signals;
use storage::{escalation, threshold, topic_trend};

/// Most thresholds of a tenant.
pub const MAX_THRESHOLDS: usize = 100;
/// Most posts an escalation names.
const MAX_ESCALATED_POSTS: usize = 1_000;
/// How long minutes are kept: two days of hours to fold after downtime, and a margin.
const KEEP_MINUTES: TimeDelta = TimeDelta::hours(49);
/// Most topics `ListHotTopics` answers.
const MAX_LISTED: usize = 1_000;

/// `[trends]`: how hot topics are assessed and what a hot topic changes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrendsConfig {
    /// How often topics are assessed and thresholds checked (one replica at a time does).
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// How long the assessing replica holds its lease without renewing it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// How often each replica reads what is hot into memory for its decisions.
    #[serde(with = "humantime_serde")]
    pub refresh_every: Duration,
    /// A post on a hot topic gets its SLA targets at this percent of its policy's (1 to 100;
    /// 100: unchanged), lifted when the topic cools.
    pub sla_percent: u32,
    /// The burst detector: windows, significance, minimum posts and ratio (see
    /// `tend_trends::burst::DetectorConfig`).
    pub detector: DetectorConfig,
    /// How long a post counts in its cluster of similar posts.
    #[serde(with = "humantime_serde")]
    pub cluster_window: Duration,
    /// Most posts of one tenant each replica keeps for clustering (the window is
    /// `cluster_window` or the last this-many posts, whichever is shorter): about 460 bytes
    /// each, 92 MB at the default 200,000.
    pub cluster_max_posts: usize,
}

impl Default for TrendsConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            refresh_every: Duration::from_secs(5),
            sla_percent: 50,
            detector: DetectorConfig::default(),
            cluster_window: Duration::from_secs(6 * 3600),
            cluster_max_posts: 200_000,
        }
    }
}

impl TrendsConfig {
    /// The similar-post index's settings.
    pub fn clusters(&self) -> tend_trends::cluster::ClusterConfig {
        tend_trends::cluster::ClusterConfig {
            window: TimeDelta::from_std(self.cluster_window).unwrap_or(TimeDelta::hours(6)),
            max_members: self.cluster_max_posts,
            ..Default::default()
        }
    }
}

impl Validate for TrendsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&self.every) {
            return Err(ConfigError::invalid("trends.every", "must be between 1s and 10m"));
        }
        if self.lease < self.every * 2 {
            return Err(ConfigError::invalid(
                "trends.lease",
                "must be at least twice trends.every, so the holder renews it in time",
            ));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&self.refresh_every) {
            return Err(ConfigError::invalid("trends.refresh_every", "must be between 100ms and 10m"));
        }
        if !(1..=100).contains(&self.sla_percent) {
            return Err(ConfigError::invalid("trends.sla_percent", "must be between 1 and 100"));
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(7 * 24 * 3600)).contains(&self.cluster_window) {
            return Err(ConfigError::invalid("trends.cluster_window", "must be between 1m and 7d"));
        }
        if !(1_000..=10_000_000).contains(&self.cluster_max_posts) {
            return Err(ConfigError::invalid("trends.cluster_max_posts", "must be between 1000 and 10000000"));
        }
        self.detector.validate().map_err(|error| ConfigError::invalid("trends.detector", error.to_string()))
    }
}

/// What a replica knows of a tenant's topics now.
#[derive(Debug, Default, Clone)]
struct TenantSignals {
    /// Hot topics and their heat.
    hot: HashMap<String, f64>,
    /// Active escalations by topic.
    escalated: HashMap<String, String>,
    /// Active escalations by cluster.
    escalated_clusters: HashMap<String, String>,
}

/// The hot topics and active escalations of every tenant, read from the database every
/// `refresh_every` and asked by the consumer for each post.
#[derive(Default)]
pub struct HotTopics {
    tenants: RwLock<HashMap<String, TenantSignals>>,
    sla_percent: u32,
}

impl HotTopics {
    /// An empty view; posts on hot topics get their SLA at `sla_percent`.
    pub fn new(sla_percent: u32) -> Self {
        Self { tenants: RwLock::default(), sla_percent }
    }

    /// Reads the hot topics and active escalations.
    pub async fn refresh<C: ConnectionTrait>(&self, conn: &C) -> Result<(), DbErr> {
        let mut tenants: HashMap<String, TenantSignals> = HashMap::new();
        for row in storage::hot(conn).await? {
            tenants.entry(row.tenant).or_default().hot.insert(row.topic, f64::from(row.heat) / 1000.0);
        }
        for row in storage::active_escalations(conn).await? {
            let known = tenants.entry(row.tenant).or_default();
            if row.cluster_id.is_empty() {
                known.escalated.insert(row.topic, row.key);
            } else {
                known.escalated_clusters.insert(row.cluster_id, row.key);
            }
        }
        if let Ok(mut held) = self.tenants.write() {
            *held = tenants;
        }
        Ok(())
    }

    /// The escalation key of the tenant's cluster `cluster_id`, while it is escalated.
    pub fn cluster_escalation(&self, tenant: &str, cluster_id: &str) -> Option<String> {
        let tenants = self.tenants.read().ok()?;
        tenants.get(tenant)?.escalated_clusters.get(cluster_id).cloned()
    }

    /// The tenant's hot topics now, sorted.
    pub fn hot_in(&self, tenant: &str) -> Vec<String> {
        let Ok(tenants) = self.tenants.read() else { return Vec::new() };
        let mut hot: Vec<String> =
            tenants.get(tenant).map(|known| known.hot.keys().cloned().collect()).unwrap_or_default();
        hot.sort();
        hot
    }

    /// What hot-topic detection says about a post of `tenant` on `topics`.
    pub fn signals(&self, tenant: &str, topics: &[String]) -> Signals {
        let mut signals = Signals { sla_percent: self.sla_percent, ..Signals::default() };
        let Ok(tenants) = self.tenants.read() else { return signals };
        let Some(known) = tenants.get(tenant) else { return signals };
        for topic in topics {
            if let Some(heat) = known.hot.get(topic)
                && (signals.hot_topic.is_none() || *heat > signals.topic_heat)
            {
                signals.hot_topic = Some(topic.clone());
                signals.topic_heat = *heat;
            }
            if signals.escalation_key.is_none()
                && let Some(key) = known.escalated.get(topic)
            {
                signals.escalation_key = Some(key.clone());
            }
        }
        signals
    }
}

/// Adds the posts of one tenant's batch to its minutes: `posts` gives each post's receipt time
/// and topics. Runs in the batch's transaction (the inbox keeps a retried batch from counting
/// twice).
pub async fn count_posts<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    posts: &[(DateTime<Utc>, &[String])],
) -> Result<(), DbErr> {
    let mut counts: BTreeMap<(String, DateTime<Utc>), i64> = BTreeMap::new();
    for (at, topics) in posts {
        let minute = at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(*at);
        for topic in *topics {
            *counts.entry((topic.clone(), minute)).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(());
    }
    storage::add_minutes(conn, tenant, &counts).await
}

fn trend_number(trend: Trend) -> i32 {
    match trend {
        Trend::Rising => v1::TopicTrend::Rising,
        Trend::Steady => v1::TopicTrend::Steady,
        Trend::Falling => v1::TopicTrend::Falling,
    }
    .into()
}

/// The oldest hour any baseline still has to fold (now when none has).
fn fold_from(detector: &TenantDetector, baselines: &HashMap<String, Baseline>, now: DateTime<Utc>) -> DateTime<Utc> {
    baselines
        .values()
        .filter_map(|baseline| detector.hours_to_fold(baseline, now).first().copied())
        .min()
        .unwrap_or(now)
}

/// A tenant's time zone, daylight saving included, as the burst detector reads it.
#[derive(Debug, Clone, Copy)]
pub struct TenantZone(pub chrono_tz::Tz);

impl LocalOffset for TenantZone {
    fn offset_at(&self, at: DateTime<Utc>) -> chrono::FixedOffset {
        use chrono::{Offset as _, TimeZone as _};
        self.0.offset_from_utc_datetime(&at.naive_utc()).fix()
    }
}

/// A detector on a tenant's clocks.
type TenantDetector = Detector<TenantZone>;

/// The zone a tenant's hours of the week are counted in: the one most of its calendars (its
/// business hours and its accounts' hours) name, the first by name on a tie; UTC when none
/// names a zone Tend knows.
pub fn tenant_zone<'a>(zones: impl IntoIterator<Item = &'a str>) -> chrono_tz::Tz {
    // By the zone's canonical name, so that a tie goes to the first by name.
    let mut counts: std::collections::BTreeMap<&'static str, (chrono_tz::Tz, usize)> =
        std::collections::BTreeMap::new();
    for zone in zones {
        if let Ok(zone) = zone.parse::<chrono_tz::Tz>() {
            counts.entry(zone.name()).or_insert((zone, 0)).1 += 1;
        }
    }
    let most = counts.values().map(|(_, count)| *count).max().unwrap_or(0);
    counts.into_values().find(|(_, count)| *count == most).map_or(chrono_tz::UTC, |(zone, _)| zone)
}

/// Assesses topics and checks thresholds; one replica at a time runs it.
pub struct Evaluator {
    db: DatabaseConnection,
    relay: OutboxWaker,
    /// This replica's similar posts (cluster thresholds watch them).
    clusters: std::sync::Arc<clusters::Clusters>,
    /// `None` only with a configuration that did not validate.
    detector: Option<DetectorConfig>,
}

impl Evaluator {
    /// An evaluator over `db`, publishing through its outbox (waking `relay`). Baselines are
    /// kept per hour of the week in each tenant's zone ([`tenant_zone`]).
    pub fn new(
        db: DatabaseConnection,
        relay: OutboxWaker,
        config: &TrendsConfig,
        clusters: std::sync::Arc<clusters::Clusters>,
    ) -> Self {
        // The configuration was validated when it was loaded (TrendsConfig::validate).
        let detector = match config.detector.validate() {
            Ok(()) => Some(config.detector.clone()),
            Err(error) => {
                tracing::error!(%error, "trends.detector is invalid; topics are not assessed");
                None
            }
        };
        Self { db, relay, clusters, detector }
    }

    /// One round at `now`: every tenant with recent posts, then the old minutes forgotten.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<(), ApiError> {
        let Some(config) = &self.detector else {
            return Err(ApiError::FailedPrecondition("trends.detector is invalid: fix the configuration".into()));
        };
        let since = now - KEEP_MINUTES;
        let mut tenants = storage::active_tenants(&self.db, since).await.context("reading the active tenants")?;
        tenants.extend(storage::tenants_watching_clusters(&self.db).await.context("reading the thresholds")?);
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            if let Err(error) = self.assess_tenant(config, &tenant, now).await {
                tracing::warn!(%tenant, %error, "assessing the tenant's topics failed; next round retries");
            }
        }
        storage::forget_minutes(&self.db, since).await.context("forgetting old minutes")?;
        Ok(())
    }

    /// The detector on `tenant`'s clocks.
    async fn detector_of<C: sea_orm::ConnectionTrait>(
        conn: &C,
        config: &DetectorConfig,
        tenant: &str,
    ) -> Result<TenantDetector, ApiError> {
        let calendars = crate::storage::config::calendars(conn, tenant).await.context("reading the calendars")?;
        let calendars: Vec<v1::Calendar> =
            calendars.iter().filter_map(|row| v1::Calendar::decode(row.body.as_slice()).ok()).collect();
        let zone = tenant_zone(calendars.iter().map(|calendar| calendar.time_zone.as_str()));
        Detector::new(config.clone(), TenantZone(zone)).map_err(ApiError::internal)
    }

    /// Folds, assesses and saves one tenant's topics, and checks its thresholds, in one
    /// transaction.
    async fn assess_tenant(&self, config: &DetectorConfig, tenant: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
        let longest = config.window_minutes.max(config.short_window_minutes).max(config.shortest_window_minutes);
        let window = TimeDelta::minutes(i64::from(longest) + 1);
        let txn = self.db.begin().await.context("starting a transaction")?;
        let detector = &Self::detector_of(&txn, config, tenant).await?;
        let stored: HashMap<String, topic_trend::Model> = storage::trends(&txn, tenant)
            .await
            .context("reading the topics")?
            .into_iter()
            .map(|row| (row.topic.clone(), row))
            .collect();
        // The hours to fold: from the oldest any topic still needs, at most two days back.
        let mut baselines: HashMap<String, Baseline> = stored
            .iter()
            .map(|(topic, row)| (topic.clone(), serde_json::from_str(&row.baseline).unwrap_or_default()))
            .collect();
        let thresholds = storage::thresholds(&txn, tenant).await.context("reading the thresholds")?;
        let longest = thresholds.iter().map(|threshold| threshold.window_seconds).max().unwrap_or(0);
        let read_from = (now - window)
            .min(now - TimeDelta::seconds(longest))
            .min(fold_from(detector, &baselines, now))
            .max(now - KEEP_MINUTES);
        let minutes = storage::minutes(&txn, tenant, read_from, now + TimeDelta::minutes(1))
            .await
            .context("reading the minutes")?;
        let mut by_topic: HashMap<String, Vec<(DateTime<Utc>, u32)>> = HashMap::new();
        for row in minutes {
            by_topic.entry(row.topic).or_default().push((row.minute, u32::try_from(row.posts).unwrap_or(u32::MAX)));
        }
        for topic in by_topic.keys() {
            baselines.entry(topic.clone()).or_default();
        }
        let (by_cluster, by_topic_rows): (Vec<escalation::Model>, Vec<escalation::Model>) =
            storage::active_escalations_of(&txn, tenant)
                .await
                .context("reading the escalations")?
                .into_iter()
                .partition(|row| !row.cluster_id.is_empty());
        let escalated: HashMap<(String, String), escalation::Model> =
            by_topic_rows.into_iter().map(|row| ((row.threshold.clone(), row.topic.clone()), row)).collect();

        let mut saved = Vec::with_capacity(baselines.len());
        let mut hot = HashMap::new();
        for (topic, mut baseline) in baselines {
            let counts = by_topic.get(&topic).map(Vec::as_slice).unwrap_or_default();
            for hour in detector.hours_to_fold(&baseline, now) {
                let end = hour + TimeDelta::hours(1);
                let posts: u32 =
                    counts.iter().filter(|(minute, _)| *minute >= hour && *minute < end).map(|(_, posts)| *posts).sum();
                detector.fold_hour(&mut baseline, hour, posts);
            }
            let hot_since = stored.get(&topic).and_then(|row| row.hot_since);
            let heat = detector.assess(&baseline, hot_since, counts, now);
            if heat.hot && hot_since.is_none() {
                tracing::info!(tenant, topic, reason = %heat.reason, "topic turned hot");
            } else if !heat.hot && hot_since.is_some() {
                tracing::info!(tenant, topic, reason = %heat.reason, "topic cooled");
            }
            hot.insert(topic.clone(), heat.hot);
            saved.push(self.row(tenant, &topic, &baseline, &heat, &escalated, now)?);
        }
        storage::save_trends(&txn, saved).await.context("saving the topics")?;
        let mut published = self.check_thresholds(&txn, tenant, &thresholds, &by_topic, &hot, &escalated, now).await?;
        published += self.check_cluster_thresholds(&txn, tenant, &thresholds, &by_cluster, now).await?;
        txn.commit().await.context("committing the topics")?;
        if published > 0 {
            self.relay.wake();
        }
        Ok(())
    }

    fn row(
        &self,
        tenant: &str,
        topic: &str,
        baseline: &Baseline,
        heat: &Heat,
        escalated: &HashMap<(String, String), escalation::Model>,
        now: DateTime<Utc>,
    ) -> Result<topic_trend::Model, ApiError> {
        let escalation_key = escalated
            .values()
            .find(|row| row.topic == topic && row.cluster_id.is_empty())
            .map(|row| row.key.clone())
            .unwrap_or_default();
        let assessment = v1::HotTopic {
            topic: topic.to_owned(),
            hot: heat.hot,
            posts: heat.count,
            window_minutes: heat.window_minutes,
            expected: heat.expected,
            ratio: heat.ratio,
            heat: heat.score,
            hot_since: heat.since.map(to_timestamp),
            trend: trend_number(heat.trend),
            reason: heat.reason.clone(),
            escalation_key,
            assessed_at: Some(to_timestamp(now)),
        };
        Ok(topic_trend::Model {
            tenant: tenant.to_owned(),
            topic: topic.to_owned(),
            baseline: serde_json::to_string(baseline).map_err(ApiError::internal)?,
            hot_since: heat.since,
            assessment: Some(assessment.encode_to_vec()),
            heat: (heat.score.clamp(0.0, 1.0) * 1000.0).round() as i32,
            assessed_at: now,
        })
    }

    /// Opens an escalation for every threshold a topic crossed that has none active (publishing
    /// `topics.escalated`), and ends those whose burst is over (the window's posts back under
    /// the threshold and the topic not hot). Returns how many it published.
    #[allow(clippy::too_many_arguments)]
    async fn check_thresholds<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        thresholds: &[threshold::Model],
        by_topic: &HashMap<String, Vec<(DateTime<Utc>, u32)>>,
        hot: &HashMap<String, bool>,
        escalated: &HashMap<(String, String), escalation::Model>,
        now: DateTime<Utc>,
    ) -> Result<usize, ApiError> {
        let tenant_id = TenantId::parse(tenant).map_err(ApiError::internal)?;
        let mut published = 0;
        for threshold in thresholds.iter().filter(|threshold| threshold.cluster_size == 0) {
            let since = now - TimeDelta::seconds(threshold.window_seconds);
            for (topic, counts) in by_topic {
                if !threshold.topic.is_empty() && threshold.topic != *topic {
                    continue;
                }
                let posts: i64 =
                    counts.iter().filter(|(minute, _)| *minute >= since).map(|(_, posts)| i64::from(*posts)).sum();
                let active = escalated.get(&(threshold.name.clone(), topic.clone()));
                match active {
                    Some(active) if posts < threshold.posts && !hot.get(topic).copied().unwrap_or(false) => {
                        storage::end_escalation(conn, tenant, &active.key, now)
                            .await
                            .context("ending the escalation")?;
                        tracing::info!(tenant, topic, key = %active.key, "escalation over");
                    }
                    None if posts >= threshold.posts => {
                        let key = format!("{}:{}:{}", threshold.name, topic, now.timestamp());
                        let interaction_ids = storage::interactions_on(conn, tenant, topic, since, MAX_ESCALATED_POSTS)
                            .await
                            .context("finding the burst's posts")?;
                        let minutes = threshold.window_seconds / 60;
                        let event = v1::TopicEscalated {
                            escalation_key: key.clone(),
                            threshold: threshold.name.clone(),
                            topic: topic.clone(),
                            cluster_id: String::new(),
                            department: threshold.department.clone(),
                            reason: format!(
                                "{posts} posts on {topic:?} within {} (threshold {:?}: {} posts)",
                                span(minutes),
                                threshold.name,
                                threshold.posts
                            ),
                            count: u64::try_from(posts).unwrap_or(0),
                            interaction_ids,
                            crossed_at: Some(to_timestamp(now)),
                        };
                        storage::insert_escalation(
                            conn,
                            escalation::Model {
                                tenant: tenant.to_owned(),
                                key: key.clone(),
                                threshold: threshold.name.clone(),
                                topic: topic.clone(),
                                cluster_id: String::new(),
                                crossed_at: now,
                                active: true,
                                ended_at: None,
                            },
                        )
                        .await
                        .context("recording the escalation")?;
                        outbox::enqueue(conn, streams::TOPICS_ESCALATED, &envelope(crate::SERVICE, &tenant_id, &event))
                            .await?;
                        tracing::info!(tenant, topic, key, posts, "escalation threshold crossed");
                        published += 1;
                    }
                    _ => {}
                }
            }
        }
        Ok(published)
    }
}

impl Evaluator {
    /// Opens an escalation for every cluster at or over a cluster threshold that has none
    /// active (publishing `topics.escalated` with the cluster's posts), and ends those whose
    /// cluster fell back under it (its posts left the window). Returns how many it published.
    async fn check_cluster_thresholds<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        thresholds: &[threshold::Model],
        active: &[escalation::Model],
        now: DateTime<Utc>,
    ) -> Result<usize, ApiError> {
        let watching: Vec<&threshold::Model> =
            thresholds.iter().filter(|threshold| threshold.cluster_size > 0).collect();
        if watching.is_empty() && active.is_empty() {
            return Ok(0);
        }
        let tenant_id = TenantId::parse(tenant).map_err(ApiError::internal)?;
        let smallest = watching.iter().map(|threshold| threshold.cluster_size).min().unwrap_or(2);
        let large = self
            .clusters
            .largest(conn, tenant, u64::try_from(smallest).unwrap_or(2), MAX_LISTED, now)
            .await
            .context("reading the clusters")?;
        for row in active {
            let size = self.clusters.view(conn, tenant, &row.cluster_id, now).await.context("reading the cluster")?;
            let threshold = thresholds.iter().find(|threshold| threshold.name == row.threshold);
            let needed = threshold.map_or(i64::MAX, |threshold| threshold.cluster_size);
            if size.is_none_or(|view| i64::try_from(view.size).unwrap_or(i64::MAX) < needed) {
                storage::end_escalation(conn, tenant, &row.key, now).await.context("ending the escalation")?;
                tracing::info!(tenant, cluster_id = %row.cluster_id, key = %row.key, "escalation over");
            }
        }
        let mut published = 0;
        for threshold in watching {
            for view in
                large.iter().filter(|view| i64::try_from(view.size).unwrap_or(i64::MAX) >= threshold.cluster_size)
            {
                if active.iter().any(|row| row.threshold == threshold.name && row.cluster_id == view.id) {
                    continue;
                }
                let key = format!("{}:cluster:{}", threshold.name, view.id);
                // A cluster escalates once: one that fell back under and grew again is the same
                // problem, and its posts find the same incident through cases.
                if storage::escalation_exists(conn, tenant, &key).await.context("reading the escalation")? {
                    continue;
                }
                let members = clusters::members(conn, tenant, &view.id, None, MAX_ESCALATED_POSTS as u64)
                    .await
                    .context("reading the cluster's posts")?;
                let event = v1::TopicEscalated {
                    escalation_key: key.clone(),
                    threshold: threshold.name.clone(),
                    topic: String::new(),
                    cluster_id: view.id.clone(),
                    department: threshold.department.clone(),
                    reason: format!(
                        "a cluster of {} similar posts (threshold {:?}: {})",
                        view.size, threshold.name, threshold.cluster_size
                    ),
                    count: view.size,
                    interaction_ids: members.into_iter().map(|(interaction_id, _, _)| interaction_id).collect(),
                    crossed_at: Some(to_timestamp(now)),
                };
                let row = escalation::Model {
                    tenant: tenant.to_owned(),
                    key: key.clone(),
                    threshold: threshold.name.clone(),
                    topic: String::new(),
                    cluster_id: view.id.clone(),
                    crossed_at: now,
                    active: true,
                    ended_at: None,
                };
                storage::insert_escalation(conn, row).await.context("recording the escalation")?;
                outbox::enqueue(conn, streams::TOPICS_ESCALATED, &envelope(crate::SERVICE, &tenant_id, &event)).await?;
                tracing::info!(tenant, cluster_id = %view.id, key, size = view.size, "cluster threshold crossed");
                published += 1;
            }
        }
        Ok(published)
    }
}

/// A window in words: "2h", "90 min".
fn span(minutes: i64) -> String {
    if minutes % 60 == 0 { format!("{}h", minutes / 60) } else { format!("{minutes} min") }
}

/// `ListHotTopics`: the tenant's last assessments, hot first (hottest first), then by posts.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, hot_only: bool) -> Result<Vec<v1::HotTopic>, ApiError> {
    let rows = storage::trends(conn, tenant).await.context("reading the topics")?;
    let mut topics: Vec<v1::HotTopic> = rows
        .into_iter()
        .filter_map(|row| row.assessment.and_then(|bytes| v1::HotTopic::decode(bytes.as_slice()).ok()))
        .filter(|topic| !hot_only || topic.hot)
        .collect();
    topics.sort_by(|a, b| {
        b.hot.cmp(&a.hot).then(b.heat.total_cmp(&a.heat)).then(b.posts.cmp(&a.posts)).then(a.topic.cmp(&b.topic))
    });
    topics.truncate(MAX_LISTED);
    Ok(topics)
}

/// Longest topic a threshold watches, in bytes (as a reading's topics).
const MAX_TOPIC: usize = 256;
/// The shortest and longest window of a threshold, in seconds.
const THRESHOLD_WINDOW: std::ops::RangeInclusive<u32> = 60..=7 * 24 * 3600;
/// The fewest and most posts of a threshold.
const THRESHOLD_POSTS: std::ops::RangeInclusive<u32> = 2..=1_000_000;

/// A threshold in the contract's terms.
pub fn threshold_to_proto(row: threshold::Model) -> v1::EscalationThreshold {
    v1::EscalationThreshold {
        name: row.name,
        topic: row.topic,
        posts: u32::try_from(row.posts).unwrap_or(u32::MAX),
        window_seconds: u32::try_from(row.window_seconds).unwrap_or(u32::MAX),
        department: row.department,
        updated_at: Some(to_timestamp(row.updated_at)),
        cluster_size: u32::try_from(row.cluster_size).unwrap_or(u32::MAX),
    }
}

/// `PutEscalationThreshold`: checks `given` and saves it for `tenant` (replacing the one of its
/// name), at most [`MAX_THRESHOLDS`] per tenant.
pub async fn put_threshold<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    given: v1::EscalationThreshold,
    now: DateTime<Utc>,
) -> Result<v1::EscalationThreshold, ApiError> {
    let name = given.name.trim();
    tend_kernel::names::check_name(name).map_err(|problem| ApiError::invalid("threshold.name", problem))?;
    let topic = given.topic.trim();
    tend_kernel::validate::text("threshold.topic", topic, MAX_TOPIC)?;
    if topic.contains(',') {
        return Err(ApiError::invalid("threshold.topic", "a topic has no comma"));
    }
    if given.cluster_size > 0 {
        // A cluster's size counts within the cluster window: nothing else to give.
        if !THRESHOLD_POSTS.contains(&given.cluster_size) {
            return Err(ApiError::invalid("threshold.cluster_size", "must be between 2 and 1000000"));
        }
        for (field, set) in [
            ("threshold.topic", !topic.is_empty()),
            ("threshold.posts", given.posts != 0),
            ("threshold.window_seconds", given.window_seconds != 0),
        ] {
            if set {
                return Err(ApiError::invalid(field, "must be empty with cluster_size (a cluster threshold)"));
            }
        }
    } else {
        if !THRESHOLD_POSTS.contains(&given.posts) {
            return Err(ApiError::invalid("threshold.posts", "must be between 2 and 1000000 (or give cluster_size)"));
        }
        if !THRESHOLD_WINDOW.contains(&given.window_seconds) || !given.window_seconds.is_multiple_of(60) {
            return Err(ApiError::invalid(
                "threshold.window_seconds",
                "must be whole minutes between 60 (a minute) and 604800 (7 days)",
            ));
        }
    }
    let department = given.department.trim();
    if !department.is_empty() {
        tend_kernel::names::check_name(department)
            .map_err(|problem| ApiError::invalid("threshold.department", problem))?;
    }
    let stored = storage::thresholds(conn, tenant).await.context("reading the thresholds")?;
    if stored.len() >= MAX_THRESHOLDS && !stored.iter().any(|row| row.name == name) {
        return Err(ApiError::quota("escalation thresholds", MAX_THRESHOLDS as u64));
    }
    let row = threshold::Model {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        topic: topic.to_owned(),
        posts: i64::from(given.posts),
        window_seconds: i64::from(given.window_seconds),
        department: department.to_owned(),
        updated_at: now,
        cluster_size: i64::from(given.cluster_size),
    };
    let upsert = sea_orm::sea_query::OnConflict::columns([threshold::Column::Tenant, threshold::Column::Name])
        .update_columns([
            threshold::Column::ClusterSize,
            threshold::Column::Topic,
            threshold::Column::Posts,
            threshold::Column::WindowSeconds,
            threshold::Column::Department,
            threshold::Column::UpdatedAt,
        ])
        .to_owned();
    use sea_orm::EntityTrait as _;
    threshold::Entity::insert(threshold::ActiveModel::from(row.clone()))
        .on_conflict(upsert)
        .exec_without_returning(conn)
        .await
        .context("saving the threshold")?;
    Ok(threshold_to_proto(row))
}

/// `DeleteEscalationThreshold`: removes the tenant's threshold `name` and returns it. Its
/// active escalations run their course.
pub async fn delete_threshold<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    name: &str,
) -> Result<v1::EscalationThreshold, ApiError> {
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
    let name = name.trim();
    tend_kernel::names::check_name(name).map_err(|problem| ApiError::invalid("name", problem))?;
    let stored = storage::thresholds(conn, tenant).await.context("reading the thresholds")?;
    let Some(row) = stored.into_iter().find(|row| row.name == name) else {
        return Err(ApiError::not_found("escalation threshold", name));
    };
    threshold::Entity::delete_many()
        .filter(threshold::Column::Tenant.eq(tenant))
        .filter(threshold::Column::Name.eq(name))
        .exec(conn)
        .await
        .context("removing the threshold")?;
    Ok(threshold_to_proto(row))
}

/// How much of an expert an agent is on a topic, from their record on it: cases resolved and
/// not reopened (a reopened one counts against them twice), worth less the longer they took
/// on average (a day halves it). 0: no expert.
pub fn expert_score(record: &storage::expertise::Model) -> f64 {
    let good = record.resolved - 2 * record.reopened;
    if good <= 0 || record.resolved <= 0 {
        return 0.0;
    }
    let mean_hours = record.resolution_seconds as f64 / record.resolved as f64 / 3600.0;
    // Customers' satisfaction once a few have answered: from half the score (none satisfied)
    // to one and a half (all satisfied); a record without answers is neither helped nor hurt.
    let satisfaction = if record.csat_responses >= MIN_CSAT_ANSWERS {
        0.5 + record.csat_satisfied.clamp(0, record.csat_responses) as f64 / record.csat_responses as f64
    } else {
        1.0
    };
    good as f64 / (1.0 + mean_hours.max(0.0) / 24.0) * satisfaction
}

/// CSAT answers an agent's record on a topic needs before they weigh on it.
const MIN_CSAT_ANSWERS: i64 = 3;

/// What a CSAT answer adds to its agent's record on its case's topics (nothing for NPS and CES,
/// or a case that had no agent or topic).
pub fn satisfaction_of(tenant: &str, answered: &v1::SurveyAnswered) -> Vec<storage::expertise::Model> {
    if answered.kind() != v1::SurveyKind::Csat || answered.agent.is_empty() {
        return Vec::new();
    }
    let satisfied = i64::from(answered.score >= 4);
    let mut topics: Vec<&String> = answered.topics.iter().filter(|topic| !topic.is_empty()).collect();
    topics.sort();
    topics.dedup();
    topics
        .into_iter()
        .map(|topic| storage::expertise::Model {
            tenant: tenant.to_owned(),
            agent: answered.agent.clone(),
            topic: topic.clone(),
            resolved: 0,
            reopened: 0,
            resolution_seconds: 0,
            csat_responses: 1,
            csat_satisfied: satisfied,
        })
        .collect()
}

/// The experts of each of `topics` for `tenant`, best first (score above 0 only).
pub async fn experts<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    topics: &[String],
) -> Result<HashMap<String, Vec<(String, f64)>>, DbErr> {
    let mut experts: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    for record in storage::expertise_on(conn, tenant, topics).await? {
        let score = expert_score(&record);
        if score > 0.0 {
            experts.entry(record.topic).or_default().push((record.agent, score));
        }
    }
    for ranked in experts.values_mut() {
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    Ok(experts)
}

/// What a case's resolution or reopening adds to its agent's record on its topics.
pub fn expertise_of(tenant: &str, event: &v1::CaseEvent) -> Vec<storage::expertise::Model> {
    let Some(case) = &event.case else { return Vec::new() };
    if case.assignee.is_empty() || case.topics.is_empty() {
        return Vec::new();
    }
    let (resolved, reopened, seconds) = match event.kind() {
        v1::CaseEventKind::Resolved => {
            let opened = case.opened_at.map_or(0, |at| at.seconds);
            let resolved = case.resolved_at.map_or(opened, |at| at.seconds);
            (1, 0, (resolved - opened).max(0))
        }
        v1::CaseEventKind::Reopened => (0, 1, 0),
        _ => return Vec::new(),
    };
    let mut topics: Vec<&String> = case.topics.iter().filter(|topic| !topic.is_empty()).collect();
    topics.sort();
    topics.dedup();
    topics
        .into_iter()
        .map(|topic| storage::expertise::Model {
            tenant: tenant.to_owned(),
            agent: case.assignee.clone(),
            topic: topic.clone(),
            resolved,
            reopened,
            resolution_seconds: seconds,
            csat_responses: 0,
            csat_satisfied: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_counts_hours_in_the_zone_most_of_its_calendars_name() {
        assert_eq!(tenant_zone([]), chrono_tz::UTC);
        assert_eq!(tenant_zone(["", "Mars/Olympus"]), chrono_tz::UTC, "no zone Tend knows");
        let zones = ["America/New_York", "Europe/London", "America/New_York", "bogus"];
        assert_eq!(tenant_zone(zones), chrono_tz::America::New_York);
        assert_eq!(tenant_zone(["Europe/Paris", "Europe/London"]), chrono_tz::Europe::London, "a tie: first by name");
        // Daylight saving moves the offset, and the detector's local hours with it.
        let zone = TenantZone(chrono_tz::Europe::London);
        let winter = DateTime::parse_from_rfc3339("2026-01-15T12:00:00Z").unwrap().with_timezone(&Utc);
        let summer = DateTime::parse_from_rfc3339("2026-07-15T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(zone.offset_at(winter).local_minus_utc(), 0);
        assert_eq!(zone.offset_at(summer).local_minus_utc(), 3600);
    }

    fn record(resolved: i64, reopened: i64, hours: i64) -> storage::expertise::Model {
        storage::expertise::Model {
            tenant: "acme".into(),
            agent: "ana".into(),
            topic: "outage".into(),
            resolved,
            reopened,
            resolution_seconds: resolved * hours * 3600,
            csat_responses: 0,
            csat_satisfied: 0,
        }
    }

    #[test]
    fn satisfied_customers_raise_an_expert_and_unhappy_ones_lower_them() {
        let plain = expert_score(&record(10, 0, 1));
        let with = |responses, satisfied| storage::expertise::Model {
            csat_responses: responses,
            csat_satisfied: satisfied,
            ..record(10, 0, 1)
        };
        assert_eq!(expert_score(&with(2, 0)), plain, "too few answers to weigh");
        assert!(expert_score(&with(10, 10)) > plain);
        assert!(expert_score(&with(10, 1)) < plain);
        let answered = v1::SurveyAnswered {
            kind: v1::SurveyKind::Csat.into(),
            score: 5,
            agent: "ana".into(),
            topics: vec!["billing".into(), "billing".into(), "outage".into()],
            ..Default::default()
        };
        let rows = satisfaction_of("acme", &answered);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|row| (row.csat_responses, row.csat_satisfied, row.resolved) == (1, 1, 0)));
        let nps = v1::SurveyAnswered { kind: v1::SurveyKind::Nps.into(), ..answered.clone() };
        assert!(satisfaction_of("acme", &nps).is_empty());
        let unassigned = v1::SurveyAnswered { agent: String::new(), ..answered };
        assert!(satisfaction_of("acme", &unassigned).is_empty());
    }

    #[test]
    fn experts_resolve_well_and_fast() {
        assert_eq!(expert_score(&record(0, 0, 1)), 0.0);
        assert_eq!(expert_score(&record(4, 2, 1)), 0.0, "half reopened: no expert");
        assert!(expert_score(&record(10, 0, 1)) > expert_score(&record(10, 1, 1)));
        assert!(expert_score(&record(10, 0, 1)) > expert_score(&record(10, 0, 48)));
        assert!(expert_score(&record(20, 0, 24)) > expert_score(&record(5, 0, 1)));
    }

    #[test]
    fn a_resolution_counts_for_each_topic_of_the_assignee() {
        let case = v1::Case {
            assignee: "ana".into(),
            topics: vec!["outage".into(), "billing".into(), "outage".into()],
            opened_at: Some(prost_types::Timestamp { seconds: 1_000, nanos: 0 }),
            resolved_at: Some(prost_types::Timestamp { seconds: 4_600, nanos: 0 }),
            ..Default::default()
        };
        let event =
            v1::CaseEvent { kind: v1::CaseEventKind::Resolved.into(), case: Some(case.clone()), ..Default::default() };
        let added = expertise_of("acme", &event);
        assert_eq!(
            added.iter().map(|row| (row.topic.as_str(), row.resolved, row.resolution_seconds)).collect::<Vec<_>>(),
            [("billing", 1, 3600), ("outage", 1, 3600)]
        );
        let reopened =
            v1::CaseEvent { kind: v1::CaseEventKind::Reopened.into(), case: Some(case.clone()), ..Default::default() };
        assert!(expertise_of("acme", &reopened).iter().all(|row| row.reopened == 1 && row.resolved == 0));
        let unassigned = v1::CaseEvent { case: Some(v1::Case { assignee: String::new(), ..case }), ..event };
        assert!(expertise_of("acme", &unassigned).is_empty());
    }
}
