//! The one path every post takes into storage, whether it came by gRPC, a webhook or a
//! mailbox: validated, its account resolved against the registry, enriched, deduplicated,
//! stored and announced, in transactions shared by concurrent callers. Edits and deletions
//! delivered by the platforms change the stored interaction and announce that too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use prost::Message as _;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tend_kernel::ids::{new_id, to_timestamp};
use tend_kernel::telemetry::current_trace_context;
use tend_kernel::validate;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope_in_trace, streams};
use tend_store::{DbContext as _, GroupCommit, GroupOptions, GroupWriter, OutboxWaker, outbox};
use tend_text::Analyzer;

use crate::SERVICE;
use crate::domain;
use crate::enrich::{self, Analyzers};
use crate::metrics::metrics;
use crate::registry::{Channels, Registry};
use crate::storage::{self, Details, delivery, interaction};

/// The outcome of one post of a batch: stored (or found a duplicate), or refused.
pub type PostOutcome = Result<v1::IngestInteractionResponse, ApiError>;

/// How many posts one transaction stores at most when concurrent calls share it.
const MAX_POSTS_PER_TRANSACTION: usize = 1000;

/// Calls with more posts than this are read on a blocking thread: enriching hundreds of posts
/// takes milliseconds that the async threads owe to other calls.
const ENRICH_INLINE_POSTS: usize = 8;

/// Stores posts, edits and deletions.
pub struct Posts {
    db: DatabaseConnection,
    analyzers: Arc<Analyzers>,
    channels: Arc<Channels>,
    relay: OutboxWaker,
    writer: GroupCommit<PostWriter>,
    /// Stamps `received_at` (retention counts from it); tests move theirs ahead.
    clock: Arc<dyn tend_kernel::ids::Clock>,
}

/// What an edit or a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The stored interaction was changed and the change announced.
    Applied(String),
    /// Nothing to do: the same edit or deletion again, or an edit of a deleted post.
    Unchanged(String),
    /// The post was never stored: an edit was stored as a new post, a deletion as a tombstone.
    Stored(String),
}

impl Posts {
    /// Posts into `db`, waking `relay` after each committed event. Concurrent calls share
    /// transactions (see [`tend_store::group_commit`]); each is answered once its posts are
    /// committed.
    pub fn new(
        db: DatabaseConnection,
        relay: OutboxWaker,
        analyzers: Arc<Analyzers>,
        channels: Arc<Channels>,
        clock: Arc<dyn tend_kernel::ids::Clock>,
    ) -> Self {
        let options = GroupOptions { max_weight: MAX_POSTS_PER_TRANSACTION, ..GroupOptions::default() };
        let writer = GroupCommit::start(Arc::new(PostWriter { db: db.clone(), relay: relay.clone() }), options);
        Self { db, analyzers, channels, relay, writer, clock }
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The registry.
    pub fn channels(&self) -> &Arc<Channels> {
        &self.channels
    }

    /// Validates and enriches the posts of one call and has them stored; one outcome per post,
    /// in order: a post that fails validation (or names an unknown or disabled account) is
    /// refused alone. An infrastructure failure fails them all (nothing is stored), and a retry
    /// finds what an earlier attempt stored as duplicates. `delivery`, when given, is the raw
    /// webhook body the posts came in, stored with them for audit.
    pub async fn ingest(
        &self,
        tenant: &TenantId,
        requests: Vec<v1::IngestInteractionRequest>,
        delivery: Option<delivery::Model>,
    ) -> Result<Vec<PostOutcome>, ApiError> {
        let now = self.clock.now();
        let analyzer = self.analyzers.for_tenant(tenant.as_str()).await?;
        let registry = self.channels.snapshot();
        let delivery_id = delivery.as_ref().map(|row| row.id.clone()).unwrap_or_default();
        let inline = requests.len() <= ENRICH_INLINE_POSTS;
        let read = {
            let tenant = tenant.clone();
            move || -> Vec<_> {
                requests
                    .into_iter()
                    .map(|request| new_row(&tenant, &analyzer, &registry, request, &delivery_id, now))
                    .collect()
            }
        };
        let posts =
            if inline { read() } else { tokio::task::spawn_blocking(read).await.map_err(ApiError::internal)? };
        let call = Call { tenant: tenant.clone(), posts, delivery, trace_context: current_trace_context() };
        self.writer.submit(call).await
    }

    /// Applies an edit made on the platform to the stored post `(channel, external_id)`: the
    /// old text goes to its revisions, the new one is read again, and `interactions.updated`
    /// is published. A post never stored is stored as new from `request`.
    pub async fn edit(&self, tenant: &TenantId, request: v1::IngestInteractionRequest) -> Result<Changed, ApiError> {
        let channel = request.channel;
        let external_id = request.external_id.trim().to_owned();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let stored = storage::find_by_external_ids(&txn, tenant.as_str(), &[(channel, external_id.as_str())])
            .await
            .context("finding the edited interaction")?
            .pop();
        let Some(stored) = stored else {
            drop(txn);
            let outcome = self.ingest(tenant, vec![request], None).await?.pop();
            let stored = outcome.unwrap_or_else(|| Err(ApiError::internal("no outcome for the post")))?;
            return Ok(Changed::Stored(stored.interaction.map(|i| i.id).unwrap_or_default()));
        };
        let text = domain::edited_text(&request.text)?;
        let analyzer = self.analyzers.for_tenant(tenant.as_str()).await?;
        let typed = v1::Channel::try_from(channel).unwrap_or(v1::Channel::Unspecified);
        let reading = enrich::enrich(&analyzer, &text, typed, Some(&request.language_hint));
        let now = self.clock.now();
        let id = stored.id.clone();
        let Some((updated, previous_text)) =
            storage::edit(&txn, stored, text, reading.encode_to_vec(), now).await.context("storing the edit")?
        else {
            return Ok(Changed::Unchanged(id));
        };
        let interaction = interaction_proto(updated, Some(reading));
        let event = v1::InteractionUpdated { interaction: Some(interaction), previous_text };
        let envelope = envelope_in_trace(SERVICE, tenant, &event, current_trace_context());
        outbox::enqueue(&txn, streams::INTERACTIONS_UPDATED, &envelope).await?;
        txn.commit().await.context("committing the edit")?;
        self.relay.wake();
        tracing::info!(tenant = tenant.as_str(), interaction = %id, "interaction edited on its channel");
        Ok(Changed::Applied(id))
    }

    /// Applies a deletion made on the platform: the stored post is tombstoned and
    /// `interactions.deleted` published. A post never stored is stored as a tombstone, so a
    /// late delivery of it is a duplicate rather than a new post.
    pub async fn delete(
        &self,
        tenant: &TenantId,
        channel: v1::Channel,
        account: &str,
        external_id: &str,
    ) -> Result<Changed, ApiError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        let now = self.clock.now();
        let stored = storage::find_by_external_ids(&txn, tenant.as_str(), &[(channel.into(), external_id)])
            .await
            .context("finding the deleted interaction")?
            .pop();
        let Some(stored) = stored else {
            let row = tombstone_row(tenant, channel, account, external_id, now);
            let id = row.id.clone();
            storage::insert_new(&txn, &[row]).await.context("storing the tombstone")?;
            txn.commit().await.context("committing the tombstone")?;
            return Ok(Changed::Stored(id));
        };
        let id = stored.id.clone();
        let Some(deleted) = storage::tombstone(&txn, stored, now).await.context("deleting the interaction")? else {
            return Ok(Changed::Unchanged(id));
        };
        let event = v1::InteractionDeleted {
            interaction_id: deleted.id.clone(),
            channel: channel.into(),
            external_id: deleted.external_id.clone(),
            deleted_at: Some(to_timestamp(now)),
        };
        let envelope = envelope_in_trace(SERVICE, tenant, &event, current_trace_context());
        outbox::enqueue(&txn, streams::INTERACTIONS_DELETED, &envelope).await?;
        txn.commit().await.context("committing the deletion")?;
        self.relay.wake();
        tracing::info!(tenant = tenant.as_str(), interaction = %id, "interaction deleted on its channel");
        Ok(Changed::Applied(id))
    }

    /// One stored interaction with its earlier texts.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<v1::Interaction, ApiError> {
        let row = storage::find(&self.db, tenant, id)
            .await
            .context("reading the interaction")?
            .ok_or_else(|| ApiError::not_found("interaction", id))?;
        let revisions = storage::revisions(&self.db, tenant, id).await.context("reading the revisions")?;
        let mut interaction = to_proto(row);
        interaction.revisions = revisions
            .into_iter()
            .map(|revision| v1::InteractionRevision {
                text: revision.text,
                replaced_at: Some(to_timestamp(revision.replaced_at)),
            })
            .collect();
        Ok(interaction)
    }
}

/// A deleted post that was never stored: ids and times only.
fn tombstone_row(
    tenant: &TenantId,
    channel: v1::Channel,
    account: &str,
    external_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> interaction::Model {
    interaction::Model {
        id: new_id(),
        tenant: tenant.as_str().to_owned(),
        channel: channel.into(),
        external_id: external_id.to_owned(),
        author_external_id: String::new(),
        author_handle: String::new(),
        author_display_name: String::new(),
        author_followers: 0,
        author_verified: false,
        author_email: String::new(),
        author_location: String::new(),
        text: String::new(),
        in_reply_to_external_id: String::new(),
        url: String::new(),
        posted_at: now,
        received_at: now,
        enrichment: None,
        account: account.to_owned(),
        thread_external_id: String::new(),
        private: false,
        edited_at: None,
        deleted_at: Some(now),
        details: None,
    }
}

/// One call's posts on their way to the database: each a row to store or why it was refused.
struct Call {
    tenant: TenantId,
    posts: Vec<Result<(interaction::Model, v1::Enrichment), ApiError>>,
    /// The webhook body the posts came in, if any.
    delivery: Option<delivery::Model>,
    /// The call's trace, continued by the events its posts cause.
    trace_context: HashMap<String, String>,
}

/// Stores the posts of concurrent calls in one transaction: the new ones, each announced on
/// `interactions.received` through the outbox, and the duplicates found as stored.
struct PostWriter {
    db: DatabaseConnection,
    relay: OutboxWaker,
}

#[tonic::async_trait]
impl GroupWriter for PostWriter {
    type Unit = Call;
    type Output = Vec<PostOutcome>;
    type Error = ApiError;

    fn weight(call: &Call) -> usize {
        call.posts.len()
    }

    async fn write(&self, calls: Vec<Call>) -> Result<Vec<Vec<PostOutcome>>, ApiError> {
        let mut outcomes: Vec<Vec<Option<PostOutcome>>> = Vec::with_capacity(calls.len());
        let mut rows = Vec::new();
        // For each row: its reading (kept decoded, so the answer and the event need not decode
        // the stored bytes), its call and its place among the call's posts.
        let mut readings = Vec::new();
        let mut places = Vec::new();
        let mut traces = Vec::with_capacity(calls.len());
        let mut deliveries = Vec::new();
        for (call_index, call) in calls.into_iter().enumerate() {
            deliveries.extend(call.delivery);
            let mut call_outcomes = Vec::with_capacity(call.posts.len());
            for (post_index, post) in call.posts.into_iter().enumerate() {
                match post {
                    Ok((row, reading)) => {
                        rows.push(row);
                        readings.push(reading);
                        places.push((call_index, post_index));
                        call_outcomes.push(None);
                    }
                    Err(error) => call_outcomes.push(Some(Err(error))),
                }
            }
            outcomes.push(call_outcomes);
            traces.push((call.tenant, call.trace_context));
        }
        if !rows.is_empty() {
            let txn = self.db.begin().await.context("starting a transaction")?;
            for delivery in deliveries {
                storage::insert_delivery(&txn, delivery).await.context("storing the webhook delivery")?;
            }
            let inserted = storage::insert_new(&txn, &rows).await.context("storing interactions")?;
            let stored = find_duplicates(&txn, &rows, &inserted).await?;
            let stored: HashMap<(&str, i32, &str), &interaction::Model> =
                stored.iter().map(|row| ((row.tenant.as_str(), row.channel, row.external_id.as_str()), row)).collect();
            let mut events = Vec::with_capacity(inserted.len());
            let posts = rows.len();
            for ((row, reading), (call_index, post_index)) in rows.into_iter().zip(readings).zip(places) {
                let outcome = if inserted.contains(&row.id) {
                    let interaction = interaction_proto(row, Some(reading));
                    let received = v1::InteractionReceived { interaction: Some(interaction.clone()) };
                    let (tenant, trace_context) = &traces[call_index];
                    let event = envelope_in_trace(SERVICE, tenant, &received, trace_context.clone());
                    events.push((streams::INTERACTIONS_RECEIVED, event));
                    v1::IngestInteractionResponse { interaction: Some(interaction), duplicate: false }
                } else {
                    match stored.get(&(row.tenant.as_str(), row.channel, row.external_id.as_str())) {
                        Some(existing) => duplicate((*existing).clone()),
                        // Neither inserted nor found: a unique key other than the dedupe key.
                        None => {
                            return Err(ApiError::internal(format!(
                                "interaction {} was neither stored nor found",
                                row.id
                            )));
                        }
                    }
                };
                outcomes[call_index][post_index] = Some(Ok(outcome));
            }
            outbox::enqueue_many(&txn, &events).await?;
            txn.commit().await.context("committing interactions")?;
            if !events.is_empty() {
                self.relay.wake();
            }
            tracing::info!(stored = events.len(), duplicates = posts - events.len(), "interactions ingested");
        }
        Ok(outcomes
            .into_iter()
            .map(|call| {
                call.into_iter()
                    .map(|outcome| outcome.unwrap_or_else(|| Err(ApiError::internal("post left without an outcome"))))
                    .collect()
            })
            .collect())
    }

    fn share(error: &ApiError) -> ApiError {
        match error {
            ApiError::Unavailable(message) => ApiError::Unavailable(message.clone()),
            other => ApiError::internal(other.to_string()),
        }
    }

    fn abandoned(reason: &str) -> ApiError {
        ApiError::Unavailable(format!("{reason}; retry (a retry is answered as a duplicate if it was stored)"))
    }
}

/// The stored copies of the rows that were not inserted (one query per tenant).
async fn find_duplicates(
    txn: &DatabaseTransaction,
    rows: &[interaction::Model],
    inserted: &HashSet<String>,
) -> Result<Vec<interaction::Model>, ApiError> {
    let mut keys_by_tenant: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for row in rows.iter().filter(|row| !inserted.contains(&row.id)) {
        keys_by_tenant.entry(row.tenant.as_str()).or_default().push((row.channel, row.external_id.as_str()));
    }
    let mut stored = Vec::new();
    for (tenant, keys) in keys_by_tenant {
        stored.extend(storage::find_by_external_ids(txn, tenant, &keys).await.context("finding duplicates")?);
    }
    Ok(stored)
}

/// The row to store for `request`, enriched, or why it is refused.
fn new_row(
    tenant: &TenantId,
    analyzer: &Analyzer,
    registry: &Registry,
    request: v1::IngestInteractionRequest,
    delivery: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(interaction::Model, v1::Enrichment), ApiError> {
    let posted_at = match &request.posted_at {
        Some(timestamp) => validate::timestamp("posted_at", timestamp)?,
        None => now,
    };
    let mut post = domain::normalise(request).inspect_err(|_| metrics().refused("invalid"))?;
    let channel = v1::Channel::try_from(post.channel).unwrap_or(v1::Channel::Unspecified);
    let account = match registry.account_for_post(tenant.as_str(), channel, &post.account) {
        Ok(account) => account.map(|account| account.id.clone()).unwrap_or_default(),
        Err(refused) => {
            metrics().refused(refused.label());
            tracing::info!(tenant = tenant.as_str(), account = %post.account, reason = refused.label(), "post refused");
            return Err(refused.to_api_error(&post.account));
        }
    };
    post.details.delivery = delivery.to_owned();
    let hint = Some(post.language_hint.as_str());
    let enrichment = enrich::enrich(analyzer, &post.text, channel, hint);
    let row = interaction::Model {
        id: new_id(),
        tenant: tenant.as_str().to_owned(),
        channel: post.channel,
        external_id: post.external_id,
        author_external_id: post.author_external_id,
        author_handle: post.author_handle,
        author_display_name: post.author_display_name,
        author_followers: i64::try_from(post.author_followers).unwrap_or(i64::MAX),
        author_verified: post.author_verified,
        author_email: post.author_email,
        author_location: post.author_location,
        text: post.text,
        in_reply_to_external_id: post.in_reply_to_external_id,
        url: post.url,
        posted_at,
        received_at: now,
        enrichment: Some(enrichment.encode_to_vec()),
        account,
        thread_external_id: post.thread_external_id,
        private: post.private,
        edited_at: None,
        deleted_at: None,
        details: post.details.to_column(),
    };
    Ok((row, enrichment))
}

fn duplicate(existing: interaction::Model) -> v1::IngestInteractionResponse {
    v1::IngestInteractionResponse { interaction: Some(to_proto(existing)), duplicate: true }
}

/// The contract's form of a stored row.
pub fn to_proto(row: interaction::Model) -> v1::Interaction {
    // A stored reading that no longer decodes is dropped rather than failing the read.
    let enrichment = row.enrichment.as_deref().and_then(|bytes| v1::Enrichment::decode(bytes).ok());
    interaction_proto(row, enrichment)
}

/// The contract's form of a row whose reading is at hand (its stored bytes are ignored).
fn interaction_proto(row: interaction::Model, enrichment: Option<v1::Enrichment>) -> v1::Interaction {
    let details = Details::from_column(row.details.as_deref());
    v1::Interaction {
        account: row.account,
        thread_external_id: row.thread_external_id,
        attachments: details
            .attachments
            .into_iter()
            .map(|a| v1::Attachment { name: a.name, content_type: a.content_type, size: a.size, url: a.url })
            .collect(),
        subject: details.subject,
        private: row.private,
        edited_at: row.edited_at.map(to_timestamp),
        deleted_at: row.deleted_at.map(to_timestamp),
        revisions: Vec::new(),
        rating: details.rating,
        id: row.id,
        tenant: row.tenant,
        channel: row.channel,
        external_id: row.external_id,
        author: Some(v1::Author {
            external_id: row.author_external_id,
            handle: row.author_handle,
            display_name: row.author_display_name,
            followers: u64::try_from(row.author_followers).unwrap_or(0),
            verified: row.author_verified,
            email: row.author_email,
            location: row.author_location,
        }),
        text: row.text,
        posted_at: Some(to_timestamp(row.posted_at)),
        received_at: Some(to_timestamp(row.received_at)),
        in_reply_to_external_id: row.in_reply_to_external_id,
        url: row.url,
        enrichment,
    }
}
