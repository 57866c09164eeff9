//! `WatchCases`: the tenant's `cases.events`, served as a gRPC stream with filters and a resume
//! cursor.
//!
//! The stream is the event stream itself (Redis Streams, or the embedded stream), which the
//! relay fills in outbox order, so a case's events are in the order of its versions. A cursor
//! is the id of the stream entry last sent: resuming after it sees everything later, once, and
//! nothing is held in the process, so a restart of the cases service (or a watch served by
//! another replica) loses nothing. Each watch is a task that reads a page of the stream after
//! its cursor, sends what passes the filters, and waits a little when it has caught up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_queue::EventStream;
use tend_store::events::streams;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::config::CasesConfig;

/// Stream entries read per page.
const PAGE: usize = 256;
/// Longest filter value accepted, in bytes.
const MAX_FILTER: usize = 256;

/// The responses of one watch, as tonic streams them.
pub type Responses = tend_client::WatchCasesStream;

/// Serves watches of `cases.events`.
pub struct Watches {
    stream: Arc<dyn EventStream>,
    slots: Arc<Semaphore>,
    poll: Duration,
    heartbeat: Duration,
    stop: CancellationToken,
}

/// What a watch lets through.
struct Filters {
    statuses: HashSet<i32>,
    kinds: HashSet<i32>,
    queue: String,
    assignee: String,
    customer_id: String,
    case_id: String,
}

impl Filters {
    /// The filters of `request`, checked.
    fn of(request: &v1::WatchCasesRequest) -> Result<Self, ApiError> {
        for status in &request.statuses {
            if *status == 0 || v1::CaseStatus::try_from(*status).is_err() {
                return Err(ApiError::invalid("statuses", format!("{status} is not a case status")));
            }
        }
        for kind in &request.kinds {
            if *kind == 0 || v1::CaseEventKind::try_from(*kind).is_err() {
                return Err(ApiError::invalid("kinds", format!("{kind} is not a CaseEventKind")));
            }
        }
        let text = |field: &str, value: &str| {
            if value.len() > MAX_FILTER {
                return Err(ApiError::invalid(field, format!("must be at most {MAX_FILTER} bytes")));
            }
            Ok(value.trim().to_owned())
        };
        let case_id = match request.case_id.trim() {
            "" => String::new(),
            id => tend_kernel::ids::parse_id("case_id", id)?,
        };
        Ok(Self {
            statuses: request.statuses.iter().copied().collect(),
            kinds: request.kinds.iter().copied().collect(),
            queue: text("queue", &request.queue)?,
            assignee: text("assignee", &request.assignee)?,
            customer_id: text("customer_id", &request.customer_id)?,
            case_id,
        })
    }

    /// Whether `event` passes.
    fn pass(&self, event: &v1::CaseEvent) -> bool {
        let Some(case) = &event.case else { return false };
        let queue = case.routing.as_ref().map_or("", |routing| routing.queue.as_str());
        (self.kinds.is_empty() || self.kinds.contains(&event.kind))
            && (self.statuses.is_empty() || self.statuses.contains(&case.status))
            && (self.queue.is_empty() || self.queue == queue)
            && (self.assignee.is_empty() || self.assignee == case.assignee)
            && (self.customer_id.is_empty() || self.customer_id == case.customer_id)
            && (self.case_id.is_empty() || self.case_id == case.id)
    }
}

/// A cursor as the stream backends hand them out: digits, or digits, "-" and digits.
fn check_cursor(cursor: &str) -> Result<(), ApiError> {
    let digits = |part: &str| !part.is_empty() && part.len() <= 20 && part.bytes().all(|b| b.is_ascii_digit());
    let valid = match cursor.split_once('-') {
        Some((ms, seq)) => digits(ms) && digits(seq),
        None => digits(cursor),
    };
    if valid { Ok(()) } else { Err(ApiError::invalid("cursor", "is not a cursor from a WatchCases response")) }
}

impl Watches {
    /// Watches of `stream` as `config` bounds them; all end when `stop` is cancelled.
    pub fn new(stream: Arc<dyn EventStream>, config: &CasesConfig, stop: CancellationToken) -> Self {
        Self {
            stream,
            slots: Arc::new(Semaphore::new(config.max_watchers)),
            poll: config.watch_poll,
            heartbeat: config.watch_heartbeat,
            stop,
        }
    }

    /// Starts a watch of `tenant`'s events as `request` asks.
    pub async fn start(&self, tenant: TenantId, request: v1::WatchCasesRequest) -> Result<Responses, Status> {
        let filters = Filters::of(&request)?;
        let cursor = request.cursor.trim();
        let start = v1::WatchStart::try_from(request.start)
            .map_err(|_| ApiError::invalid("start", format!("{} is not a WatchStart", request.start)))?;
        let after = if cursor.is_empty() {
            match start {
                v1::WatchStart::Earliest => None,
                v1::WatchStart::Unspecified | v1::WatchStart::Latest => {
                    self.stream.last_id(streams::CASES_EVENTS).await.map_err(unavailable)?
                }
            }
        } else {
            check_cursor(cursor)?;
            Some(cursor.to_owned())
        };
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(
                "too many WatchCases streams on this replica: close one, or retry on another replica",
            ));
        };
        let (sender, receiver) = mpsc::channel(PAGE);
        let watch = Watch {
            stream: self.stream.clone(),
            tenant,
            filters,
            after,
            sender,
            poll: self.poll,
            heartbeat: self.heartbeat,
            stop: self.stop.clone(),
            _slot: slot,
        };
        tokio::spawn(watch.run());
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver)))
    }
}

fn unavailable(error: tend_queue::Error) -> Status {
    tracing::warn!(%error, "WatchCases could not read the event stream");
    match error {
        tend_queue::Error::InvalidInput(_) => {
            ApiError::invalid("cursor", "is not a cursor from a WatchCases response").into()
        }
        _ => Status::unavailable("the event stream is unavailable: resume with your last cursor"),
    }
}

/// One watch, running until its client goes or the service stops.
struct Watch {
    stream: Arc<dyn EventStream>,
    tenant: TenantId,
    filters: Filters,
    after: Option<String>,
    sender: mpsc::Sender<Result<v1::WatchCasesResponse, Status>>,
    poll: Duration,
    heartbeat: Duration,
    stop: CancellationToken,
    _slot: OwnedSemaphorePermit,
}

impl Watch {
    async fn run(mut self) {
        let mut sent_at = Instant::now();
        let mut sent_cursor = self.after.clone();
        loop {
            if self.stop.is_cancelled() {
                let _ = self
                    .sender
                    .send(Err(Status::unavailable("the cases service is stopping: resume with your last cursor")))
                    .await;
                return;
            }
            let page = match self.stream.range(streams::CASES_EVENTS, self.after.as_deref(), PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    let _ = self.sender.send(Err(unavailable(error))).await;
                    return;
                }
            };
            let caught_up = page.len() < PAGE;
            for entry in page {
                let response = self.response(&entry.id, &entry.payload);
                self.after = Some(entry.id);
                let Some(response) = response else { continue };
                if self.sender.send(Ok(response)).await.is_err() {
                    return;
                }
                sent_at = Instant::now();
                sent_cursor = self.after.clone();
            }
            // Events the filters left out still move the cursor: say so now and then, so a
            // consumer that resumes does not read them again.
            if sent_cursor != self.after && sent_at.elapsed() >= self.heartbeat {
                let cursor = self.after.clone().unwrap_or_default();
                let heartbeat = v1::WatchCasesResponse { cursor, ..Default::default() };
                if self.sender.send(Ok(heartbeat)).await.is_err() {
                    return;
                }
                sent_at = Instant::now();
                sent_cursor = self.after.clone();
            }
            if caught_up {
                tokio::select! {
                    () = tokio::time::sleep(self.poll) => {}
                    () = self.sender.closed() => return,
                    () = self.stop.cancelled() => {}
                }
            }
        }
    }

    /// The response for stream entry `id`, if it is the tenant's and passes the filters.
    fn response(&self, id: &str, payload: &[u8]) -> Option<v1::WatchCasesResponse> {
        let envelope = v1::EventEnvelope::decode(payload).ok()?;
        if envelope.tenant != self.tenant.as_str() {
            return None;
        }
        let event = match v1::CaseEvent::decode(envelope.payload.as_slice()) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(entry = id, %error, "a cases.events entry is not a CaseEvent; skipped");
                return None;
            }
        };
        self.filters.pass(&event).then(|| v1::WatchCasesResponse {
            cursor: id.to_owned(),
            event_id: envelope.event_id,
            occurred_at: envelope.occurred_at,
            event: Some(event),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_stream_ids() {
        for good in ["0", "17", "1700000000000-0", "1700000000000-12"] {
            assert!(check_cursor(good).is_ok(), "{good}");
        }
        for bad in ["", "-", "1-", "-1", "1-2-3", "abc", "+5", "1 2", &"9".repeat(21)] {
            assert!(check_cursor(bad).is_err(), "{bad}");
        }
    }
}
