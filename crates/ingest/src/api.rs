//! The gRPC face of the ingest service.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use prost::Message as _;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{from_timestamp, new_id, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::telemetry::current_trace_context;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope_in_trace, streams};
use tend_store::{DbContext as _, GroupCommit, GroupOptions, GroupWriter, OutboxWaker, outbox};
use tend_text::Analyzer;
use tonic::{Request, Response, Status};

use crate::SERVICE;
use crate::domain;
use crate::enrich::{self, Analyzers};
use crate::storage::{self, interaction};

/// Implements `tend.v1.IngestService` over the service's database.
pub struct IngestApi {
    db: DatabaseConnection,
    analyzers: Arc<Analyzers>,
    writer: GroupCommit<PostWriter>,
}

/// The outcome of one post of a batch: stored (or found a duplicate), or refused.
type PostOutcome = Result<v1::IngestInteractionResponse, ApiError>;

/// How many posts one transaction stores at most when concurrent calls share it.
const MAX_POSTS_PER_TRANSACTION: usize = 1000;

/// Calls with more posts than this are read on a blocking thread: enriching hundreds of posts
/// takes milliseconds that the async threads owe to other calls.
const ENRICH_INLINE_POSTS: usize = 8;

impl IngestApi {
    /// An API over `db`, waking `relay` after each committed event. Concurrent calls share
    /// transactions (see [`tend_store::group_commit`]); each is answered once its posts are
    /// committed.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, analyzers: Arc<Analyzers>) -> Self {
        let options = GroupOptions { max_weight: MAX_POSTS_PER_TRANSACTION, ..GroupOptions::default() };
        let writer = GroupCommit::start(Arc::new(PostWriter { db: db.clone(), relay }), options);
        Self { db, analyzers, writer }
    }

    /// Validates and enriches the posts of one call and has them stored; one outcome per post,
    /// in order: a post that fails validation is refused alone. An infrastructure failure fails them all
    /// (nothing is stored), and a retry finds what an earlier attempt stored as duplicates.
    async fn ingest(
        &self,
        tenant: &TenantId,
        requests: Vec<v1::IngestInteractionRequest>,
    ) -> Result<Vec<PostOutcome>, ApiError> {
        let now = tend_kernel::ids::now();
        let analyzer = self.analyzers.for_tenant(tenant.as_str()).await?;
        let inline = requests.len() <= ENRICH_INLINE_POSTS;
        let read = {
            let tenant = tenant.clone();
            move || -> Vec<_> {
                requests.into_iter().map(|request| new_row(&tenant, &analyzer, request, now)).collect()
            }
        };
        let posts =
            if inline { read() } else { tokio::task::spawn_blocking(read).await.map_err(ApiError::internal)? };
        let call = Call { tenant: tenant.clone(), posts, trace_context: current_trace_context() };
        self.writer.submit(call).await
    }
}

/// One call's posts on their way to the database: each a row to store or why it was refused.
struct Call {
    tenant: TenantId,
    posts: Vec<Result<(interaction::Model, v1::Enrichment), ApiError>>,
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
        for (call_index, call) in calls.into_iter().enumerate() {
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
    request: v1::IngestInteractionRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(interaction::Model, v1::Enrichment), ApiError> {
    let posted_at = match &request.posted_at {
        Some(timestamp) => from_timestamp("posted_at", timestamp)?,
        None => now,
    };
    let post = domain::normalise(request)?;
    let channel = v1::Channel::try_from(post.channel).unwrap_or(v1::Channel::Unspecified);
    let enrichment = enrich::enrich(analyzer, &post.text, channel, None);
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
    };
    Ok((row, enrichment))
}

fn duplicate(existing: interaction::Model) -> v1::IngestInteractionResponse {
    v1::IngestInteractionResponse { interaction: Some(to_proto(existing)), duplicate: true }
}

/// The contract's form of a stored row.
fn to_proto(row: interaction::Model) -> v1::Interaction {
    // A stored reading that no longer decodes is dropped rather than failing the read.
    let enrichment = row.enrichment.as_deref().and_then(|bytes| v1::Enrichment::decode(bytes).ok());
    interaction_proto(row, enrichment)
}

/// The contract's form of a row whose reading is at hand (its stored bytes are ignored).
fn interaction_proto(row: interaction::Model, enrichment: Option<v1::Enrichment>) -> v1::Interaction {
    v1::Interaction {
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

#[tonic::async_trait]
impl v1::ingest_service_server::IngestService for IngestApi {
    async fn ingest_interaction(
        &self,
        request: Request<v1::IngestInteractionRequest>,
    ) -> Result<Response<v1::IngestInteractionResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let outcome = self.ingest(&caller.tenant, vec![request.into_inner()]).await?.pop();
        let outcome = outcome.unwrap_or_else(|| Err(ApiError::internal("no outcome for the post")))?;
        Ok(Response::new(outcome))
    }

    async fn ingest_batch(
        &self,
        request: Request<v1::IngestBatchRequest>,
    ) -> Result<Response<v1::IngestBatchResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let posts = request.into_inner().interactions;
        domain::check_batch(posts.len())?;
        let mut results = Vec::with_capacity(posts.len());
        for outcome in self.ingest(&caller.tenant, posts).await? {
            let outcome = match outcome {
                Ok(stored) => v1::ingest_batch_result::Outcome::Ok(stored),
                Err(error) => v1::ingest_batch_result::Outcome::Error(error.to_string()),
            };
            results.push(v1::IngestBatchResult { outcome: Some(outcome) });
        }
        Ok(Response::new(v1::IngestBatchResponse { results }))
    }

    async fn get_interaction(
        &self,
        request: Request<v1::GetInteractionRequest>,
    ) -> Result<Response<v1::Interaction>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the interaction")?
            .ok_or_else(|| ApiError::not_found("interaction", &id))?;
        Ok(Response::new(to_proto(row)))
    }

    async fn list_interactions(
        &self,
        request: Request<v1::ListInteractionsRequest>,
    ) -> Result<Response<v1::ListInteractionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::list(&self.db, caller.tenant.as_str(), &page).await.context("listing interactions")?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        Ok(Response::new(v1::ListInteractionsResponse {
            interactions: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
