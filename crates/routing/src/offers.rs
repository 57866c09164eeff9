//! `WatchOffers`: each agent's offers, streamed to their desk from whichever replica it is
//! connected to.
//!
//! Offers are made by the dispatching replica and committed with an [`v1::OfferEvent`] in the
//! outbox, which the relay publishes on `queue.offers`. Every replica runs one reader of that
//! stream ([`OfferFeed::run`]) that hands each event to the watches of its agent on this
//! replica: one read of the stream per replica, however many desks are connected. A watch
//! starts with the agent's open offers read from the database (subscribed first, so nothing
//! made meanwhile is missed), then follows the feed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use tend_proto::v1;
use tend_queue::EventStream;
use tend_store::events::streams;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// Stream entries read per page.
const PAGE: usize = 512;
/// Events a watch may have waiting before it is closed as too slow.
const BUFFER: usize = 256;

/// The responses of one watch, as tonic streams them.
pub type Responses = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<v1::OfferEvent, Status>> + Send>>;

type Watchers = HashMap<(String, String), Vec<mpsc::Sender<v1::OfferEvent>>>;

/// The replica's reader of `queue.offers` and its watches.
pub struct OfferFeed {
    stream: Arc<dyn EventStream>,
    watchers: Mutex<Watchers>,
    slots: Arc<Semaphore>,
    poll: Duration,
}

/// A watch's place in the feed: its events, and its slot among the replica's watches.
pub struct Subscription {
    events: mpsc::Receiver<v1::OfferEvent>,
    _slot: OwnedSemaphorePermit,
}

impl OfferFeed {
    /// A feed of `stream` read every `poll`, serving at most `max_watchers` watches.
    pub fn new(stream: Arc<dyn EventStream>, max_watchers: usize, poll: Duration) -> Self {
        Self { stream, watchers: Mutex::new(HashMap::new()), slots: Arc::new(Semaphore::new(max_watchers)), poll }
    }

    /// Subscribes a watch to `agent`'s offers in `tenant`.
    pub fn subscribe(&self, tenant: &str, agent: &str) -> Result<Subscription, Status> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(
                "too many WatchOffers streams on this replica: close one, or retry on another replica",
            ));
        };
        let (sender, events) = mpsc::channel(BUFFER);
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry((tenant.to_owned(), agent.to_owned()))
            .or_default()
            .push(sender);
        Ok(Subscription { events, _slot: slot })
    }

    /// Reads `queue.offers` from its end as of now and hands each event to its agent's
    /// watches, until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut after = loop {
            match self.stream.last_id(streams::QUEUE_OFFERS).await {
                Ok(last) => break last,
                Err(error) => {
                    tracing::warn!(%error, "the offers feed could not read queue.offers; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(self.poll * 10) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        };
        loop {
            let caught_up = match self.stream.range(streams::QUEUE_OFFERS, after.as_deref(), PAGE).await {
                Ok(page) => {
                    let caught_up = page.len() < PAGE;
                    for entry in page {
                        self.deliver(&entry.id, &entry.payload);
                        after = Some(entry.id);
                    }
                    caught_up
                }
                Err(error) => {
                    tracing::warn!(%error, "the offers feed could not read queue.offers; retrying");
                    true
                }
            };
            if caught_up {
                tokio::select! {
                    () = tokio::time::sleep(self.poll) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }

    /// Hands stream entry `id` to its agent's watches; a watch that went, or is too slow to
    /// keep up, is dropped.
    fn deliver(&self, id: &str, payload: &[u8]) {
        let Ok(envelope) = v1::EventEnvelope::decode(payload) else {
            tracing::warn!(entry = id, "a queue.offers entry is not an envelope; skipped");
            return;
        };
        let Ok(event) = v1::OfferEvent::decode(envelope.payload.as_slice()) else {
            tracing::warn!(entry = id, "a queue.offers entry is not an OfferEvent; skipped");
            return;
        };
        let Some(agent) = event.offer.as_ref().map(|offer| offer.agent_id.clone()) else { return };
        let mut watchers = self.watchers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (envelope.tenant, agent);
        let Some(senders) = watchers.get_mut(&key) else { return };
        senders.retain(|sender| sender.try_send(event.clone()).is_ok());
        if senders.is_empty() {
            watchers.remove(&key);
        }
    }
}

/// Streams `open` (the agent's open offers now), then what `subscription` brings, until the
/// client goes or `stop`.
pub fn serve(
    open: Vec<v1::Offer>,
    mut subscription: Subscription,
    stop: CancellationToken,
    heartbeat: std::time::Duration,
) -> Responses {
    let (sender, receiver) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let sent: HashSet<String> = open.iter().map(|offer| offer.id.clone()).collect();
        for offer in open {
            if sender.send(Ok(v1::OfferEvent { offer: Some(offer) })).await.is_err() {
                return;
            }
        }
        let quiet = tokio::time::sleep(heartbeat);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                () = &mut quiet => {
                    if sender.send(Ok(v1::OfferEvent { offer: None })).await.is_err() {
                        return;
                    }
                    quiet.as_mut().reset(tokio::time::Instant::now() + heartbeat);
                }
                event = subscription.events.recv() => {
                    let Some(event) = event else {
                        let _ = sender.send(Err(Status::unavailable("this watch fell behind: open it again"))).await;
                        return;
                    };
                    let again = event.offer.as_ref().is_some_and(|offer| {
                        offer.state == v1::OfferState::Open as i32 && sent.contains(&offer.id)
                    });
                    if !again {
                        if sender.send(Ok(event)).await.is_err() {
                            return;
                        }
                        quiet.as_mut().reset(tokio::time::Instant::now() + heartbeat);
                    }
                }
                () = sender.closed() => return,
                () = stop.cancelled() => {
                    let _ = sender.send(Err(Status::unavailable("the routing service is stopping: open the watch again"))).await;
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}
