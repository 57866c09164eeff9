//! Automatic linking: who wrote each interaction of a batch. The consumer of
//! `interactions.received` calls [`App::identify`] inside its batch's transaction.
//!
//! For every sighting of an author, in order: the author's profile is created or updated with
//! what the sighting says; an unlinked profile is linked on deterministic evidence
//! ([`crate::linking`]); a profile still open is scored by the tenant's matcher, if trained, and
//! linked or queued for review by its thresholds. A person's decision is never overridden: only
//! unlinked profiles are linked automatically, and never to a pair a person rejected.
//!
//! The database is read and written a batch at a time, not a sighting at a time: one query for
//! the authors' profiles, one for who holds the identifiers they offer, one each for the
//! rejections, the review queue and the customers the matcher proposes (when there is anything
//! to ask), then one statement for every profile, one for the audit events and one for the new
//! candidates. In between, the sightings are decided in memory in stream order, so two
//! sightings of one author in a batch behave as if handled one after the other: the second sees
//! the profile the first created or linked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use tend_kernel::TenantId;
use tend_matching::Record;

use super::{App, Error};
use crate::SERVICE;
use crate::domain::{LinkMethod, LinkStatus};
use crate::linking::{self, Offered};
use crate::matcher::{self, Loaded};
use crate::normalize;
use crate::storage::customers::Holders;
use crate::storage::review::Rejections;
use crate::storage::{self, candidate, customer, link_event, profile, review};

/// One sighting of an author: what an interaction says about who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting<'a> {
    /// The channel (`tend.v1.Channel`).
    pub channel: i32,
    /// The author's id on the channel.
    pub external_id: &'a str,
    /// The author's handle.
    pub handle: &'a str,
    /// The author's display name.
    pub display_name: &'a str,
    /// The author's followers.
    pub followers: u64,
    /// The author's own email (login-based channels), possibly empty or malformed.
    pub email: &'a str,
    /// Where the author says they are, possibly empty.
    pub location: &'a str,
    /// What they wrote (emails and phone numbers in it are evidence).
    pub text: &'a str,
}

/// Who wrote one interaction, as far as identity can tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Identified {
    /// The author's profile as it stands after this sighting.
    pub profile: profile::Model,
    /// The profile's link status.
    pub status: LinkStatus,
    /// How sure: the matcher's probability when it decided on this sighting, otherwise the
    /// status's confidence (1 linked, 0 otherwise).
    pub confidence: f64,
}

/// An author of the batch: its profile as the batch found it, and what it could become.
struct Author {
    /// As stored before the batch, or blank when new.
    start: profile::Model,
    /// Not stored before the batch (no rejection or candidate can name it yet).
    is_new: bool,
}

impl Author {
    /// Whether automatic linking may touch it: nobody (person or evidence) linked it.
    fn unlinked(&self) -> bool {
        LinkMethod::parse(&self.start.link_method) == LinkMethod::None
    }

    /// Whether the matcher may score it: unlinked and not a candidate already.
    fn open(&self) -> bool {
        self.unlinked() && self.start.customer_id.is_empty()
    }
}

/// What the batch needs to know beyond its profiles, read before anything is decided.
#[derive(Default)]
struct Lookups {
    /// Who holds each identifier offered.
    holders: Holders,
    /// The pairs people rejected, of the batch's unlinked profiles.
    rejected: Rejections,
    /// The batch's open profiles that have a pending candidate.
    pending: HashSet<String>,
    /// The customers the matcher proposes, by id.
    customers: HashMap<String, customer::Model>,
    /// The tenant's matcher, if trained and needed.
    matcher: Option<Arc<Loaded>>,
}

/// What one sighting offers, worked out before the decisions: its evidence, and how the
/// matcher sees its author then and which customers it proposes.
#[derive(Default)]
struct Plan {
    offered: Vec<Offered>,
    record: Option<Record>,
    proposed: Vec<String>,
}

/// What the batch decided: the final profiles and the rows to add.
struct Decided {
    identified: Vec<Identified>,
    profiles: Vec<profile::Model>,
    events: Vec<link_event::Model>,
    candidates: Vec<candidate::Model>,
}

impl App {
    /// Identifies the authors of `sightings` (one tenant's, in stream order) within `conn` (the
    /// consumer's batch transaction): one [`Identified`] per sighting, in the same order.
    pub async fn identify<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
        sightings: &[Sighting<'_>],
    ) -> Result<Vec<Identified>, Error> {
        let tenant = tenant.as_str();
        let now = tend_kernel::ids::now();

        // The authors, each once, with their profiles (read, and on PostgreSQL locked).
        let mut keys: Vec<(i32, &str)> = Vec::new();
        let mut author_of = Vec::with_capacity(sightings.len());
        let mut index: HashMap<(i32, &str), usize> = HashMap::new();
        for sighting in sightings {
            let key = (sighting.channel, sighting.external_id);
            let at = *index.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() - 1
            });
            author_of.push(at);
        }
        let mut stored: HashMap<(i32, String), profile::Model> = storage::profiles::of_authors(conn, tenant, &keys)
            .await?
            .into_iter()
            .map(|row| ((row.channel, row.external_id.clone()), row))
            .collect();
        let mut blanks: HashMap<(i32, &str), profile::Model> = keys
            .iter()
            .filter(|(channel, external_id)| !stored.contains_key(&(*channel, (*external_id).to_owned())))
            .map(|&(channel, external_id)| ((channel, external_id), blank(tenant, channel, external_id, now)))
            .collect();
        if !blanks.is_empty() && storage::is_postgres(conn) {
            // Another consumer (or replica) may be creating some of these authors right now:
            // claim them first, and read the ones it created once it has committed, instead of
            // failing the batch on the unique index when the profiles are saved.
            let claimed = storage::profiles::claim(conn, blanks.values().cloned().collect()).await?;
            let raced: Vec<(i32, &str)> =
                blanks.iter().filter(|(_, blank)| !claimed.contains(&blank.id)).map(|(key, _)| *key).collect();
            if !raced.is_empty() {
                tracing::debug!(authors = raced.len(), "new authors created concurrently; reading theirs");
                for row in storage::profiles::of_authors(conn, tenant, &raced).await? {
                    if let Some(key) =
                        raced.iter().find(|(channel, id)| row.channel == *channel && row.external_id == *id)
                    {
                        blanks.remove(key);
                    }
                    stored.insert((row.channel, row.external_id.clone()), row);
                }
            }
        }
        let authors: Vec<Author> = keys
            .iter()
            .map(|(channel, external_id)| match stored.remove(&(*channel, (*external_id).to_owned())) {
                Some(start) => Author { start, is_new: false },
                None => Author {
                    start: blanks
                        .remove(&(*channel, *external_id))
                        .unwrap_or_else(|| blank(tenant, *channel, external_id, now)),
                    is_new: true,
                },
            })
            .collect();

        // What each sighting offers, with its author's profile as of that sighting.
        let mut plans: Vec<Plan> = Vec::with_capacity(sightings.len());
        let mut scratch: Vec<profile::Model> = authors.iter().map(|author| author.start.clone()).collect();
        for (sighting, &at) in sightings.iter().zip(&author_of) {
            see(&mut scratch[at], sighting, now);
            let mut plan = Plan::default();
            if authors[at].unlinked() {
                plan.offered = linking::offered(sighting.channel, sighting.handle, sighting.email, sighting.text);
            }
            if authors[at].open() {
                plan.record = Some(matcher::profile_record(&scratch[at]));
            }
            plans.push(plan);
        }

        let lookups = self.look_up(conn, tenant, &authors, &author_of, &mut plans).await?;
        let decided = decide(tenant, &authors, sightings, &author_of, plans, &lookups, now);

        storage::profiles::save_all(conn, &decided.profiles).await?;
        let (linked, queued) = (decided.events.len(), decided.candidates.len());
        storage::audit::record_all(conn, decided.events).await?;
        storage::review::insert_all(conn, decided.candidates).await?;
        let created = authors.iter().filter(|author| author.is_new).count();
        tracing::debug!(
            sightings = sightings.len(),
            authors = authors.len(),
            created,
            linked,
            queued,
            "authors identified"
        );
        Ok(decided.identified)
    }

    /// Reads what the decisions need, a query for each kind of thing and only when there is
    /// something to ask; fills in the customers the matcher proposes for each plan.
    async fn look_up<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
        authors: &[Author],
        author_of: &[usize],
        plans: &mut [Plan],
    ) -> Result<Lookups, Error> {
        let mut lookups = Lookups::default();
        let offered: Vec<(&str, &str)> =
            plans.iter().flat_map(|plan| plan.offered.iter().map(|o| (o.kind, o.value.as_str()))).collect();
        if !offered.is_empty() {
            lookups.holders = storage::customers::holders(conn, tenant, &offered).await?;
        }
        if authors.iter().any(Author::open) {
            lookups.matcher = self.matchers.load(conn, tenant).await?;
        }
        // Rejections and candidates can only name profiles stored before the batch.
        let stored = |keep: fn(&Author) -> bool| -> Vec<&str> {
            authors
                .iter()
                .filter(|author| !author.is_new && keep(author))
                .map(|author| author.start.id.as_str())
                .collect()
        };
        let unlinked = stored(Author::unlinked);
        if !unlinked.is_empty() && (!lookups.holders.is_empty() || lookups.matcher.is_some()) {
            lookups.rejected = storage::review::rejected_among(conn, tenant, &unlinked).await?;
        }
        let Some(matcher) = lookups.matcher.clone() else { return Ok(lookups) };
        let open = stored(Author::open);
        if !open.is_empty() {
            lookups.pending = storage::review::pending_among(conn, tenant, &open).await?;
        }
        // The customers the matcher proposes for each sighting that may need it: its author was
        // open and not waiting for review when the batch began, and it offers no evidence that
        // links. (A sighting after another of its author that linked or queued it will not need
        // them; reading a few customers too many is cheaper than a query per sighting.)
        for (plan, &at) in plans.iter_mut().zip(author_of) {
            let profile_id = authors[at].start.id.as_str();
            let Some(record) = &plan.record else { continue };
            if lookups.pending.contains(profile_id)
                || linking::decide(profile_id, &plan.offered, &lookups.holders, &lookups.rejected).is_some()
            {
                continue;
            }
            plan.proposed = matcher
                .candidates(record)
                .into_iter()
                .map(|(customer_id, _)| customer_id)
                .filter(|customer_id| !lookups.rejected.contains(profile_id, customer_id))
                .collect();
        }
        let mut wanted: Vec<&str> = plans.iter().flat_map(|plan| plan.proposed.iter().map(String::as_str)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            lookups.customers = storage::customers::find_many(conn, tenant, &wanted).await?;
        }
        Ok(lookups)
    }
}

/// A new author's profile before its first sighting is applied.
fn blank(tenant: &str, channel: i32, external_id: &str, now: DateTime<Utc>) -> profile::Model {
    profile::Model {
        id: tend_kernel::ids::new_id(),
        tenant: tenant.to_owned(),
        channel,
        external_id: external_id.to_owned(),
        handle: String::new(),
        display_name: String::new(),
        followers: 0,
        customer_id: String::new(),
        status: LinkStatus::Unknown.as_str().to_owned(),
        first_seen_at: now,
        last_seen_at: now,
        link_method: String::new(),
        link_evidence: String::new(),
        linked_at: None,
        email: String::new(),
        location: String::new(),
    }
}

/// What a sighting tells about its author: the latest handle, name and followers; the location
/// and email when it gives them.
fn see(row: &mut profile::Model, sighting: &Sighting<'_>, now: DateTime<Utc>) {
    sighting.handle.clone_into(&mut row.handle);
    sighting.display_name.clone_into(&mut row.display_name);
    row.followers = i64::try_from(sighting.followers).unwrap_or(i64::MAX);
    row.last_seen_at = now;
    if !sighting.location.is_empty() {
        sighting.location.clone_into(&mut row.location);
    }
    if let Ok(email) = normalize::email(sighting.email) {
        row.email = email;
    }
}

/// An automatic link's audit event.
fn linked_event(row: &profile::Model, method: LinkMethod, now: DateTime<Utc>) -> link_event::Model {
    link_event::Model {
        id: tend_kernel::ids::new_id(),
        tenant: row.tenant.clone(),
        profile_id: row.id.clone(),
        customer_id: row.customer_id.clone(),
        action: "linked".to_owned(),
        method: method.as_str().to_owned(),
        evidence: row.link_evidence.clone(),
        actor: SERVICE.to_owned(),
        reason: None,
        at: now,
    }
}

/// Decides every sighting in stream order, in memory, from what was looked up.
fn decide(
    tenant: &str,
    authors: &[Author],
    sightings: &[Sighting<'_>],
    author_of: &[usize],
    plans: Vec<Plan>,
    lookups: &Lookups,
    now: DateTime<Utc>,
) -> Decided {
    let mut rows: Vec<profile::Model> = authors.iter().map(|author| author.start.clone()).collect();
    let mut pending = lookups.pending.clone();
    let mut decided = Decided {
        identified: Vec::with_capacity(sightings.len()),
        profiles: Vec::new(),
        events: Vec::new(),
        candidates: Vec::new(),
    };
    for ((sighting, &at), plan) in sightings.iter().zip(author_of).zip(plans) {
        let row = &mut rows[at];
        see(row, sighting, now);
        // Only an unlinked profile is linked automatically: a person's decision, or an earlier
        // link, is never overridden here.
        let unlinked = LinkMethod::parse(&row.link_method) == LinkMethod::None;
        if unlinked && let Some(found) = linking::decide(&row.id, &plan.offered, &lookups.holders, &lookups.rejected) {
            row.customer_id = found.customer_id;
            row.status = LinkStatus::Linked.as_str().to_owned();
            row.link_method = found.method.as_str().to_owned();
            row.link_evidence = found.evidence;
            row.linked_at = Some(now);
            decided.events.push(linked_event(row, found.method, now));
            tracing::debug!(profile_id = %row.id, customer_id = %row.customer_id, method = %row.link_method, "profile linked");
        }
        // Nor is a candidate scored again: it waits for a person.
        let still_open = LinkMethod::parse(&row.link_method) == LinkMethod::None && row.customer_id.is_empty();
        let mut confidence = None;
        if let (true, Some(matcher), Some(record)) = (still_open, &lookups.matcher, &plan.record)
            && !pending.contains(&row.id)
        {
            confidence = score(tenant, row, record, &plan.proposed, matcher, lookups, now, &mut decided);
            if LinkStatus::parse(&row.status) == LinkStatus::Candidate {
                pending.insert(row.id.clone());
            }
        }
        let status = LinkStatus::parse(&row.status);
        decided.identified.push(Identified {
            profile: row.clone(),
            status,
            confidence: confidence.unwrap_or_else(|| status.confidence()),
        });
    }
    decided.profiles = rows;
    decided
}

/// Scores an open profile against the customers the matcher proposed (most likely first): the
/// first one still stored links it at or above the link threshold, or else queues it for
/// review. Returns the probability acted on.
#[allow(clippy::too_many_arguments)]
fn score(
    tenant: &str,
    row: &mut profile::Model,
    record: &Record,
    proposed: &[String],
    matcher: &Loaded,
    lookups: &Lookups,
    now: DateTime<Utc>,
    decided: &mut Decided,
) -> Option<f64> {
    let (customer_id, customer) =
        proposed.iter().find_map(|customer_id| lookups.customers.get(customer_id).map(|row| (customer_id, row)))?;
    let scored = matcher.model.score(record, &matcher::customer_record(customer));
    customer_id.clone_into(&mut row.customer_id);
    if scored.probability >= matcher.link_threshold {
        row.status = LinkStatus::Linked.as_str().to_owned();
        row.link_method = LinkMethod::Matcher.as_str().to_owned();
        row.link_evidence = matcher::summary(&scored);
        row.linked_at = Some(now);
        decided.events.push(linked_event(row, LinkMethod::Matcher, now));
    } else {
        row.status = LinkStatus::Candidate.as_str().to_owned();
        decided.candidates.push(candidate::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            profile_id: row.id.clone(),
            customer_id: customer_id.clone(),
            probability: scored.probability,
            explanation: prost::Message::encode_to_vec(&matcher::explanation(&scored)),
            status: review::PENDING.to_owned(),
            proposed_at: now,
            decided_at: None,
        });
    }
    tracing::debug!(profile_id = %row.id, status = %row.status, probability = scored.probability, "matcher decided");
    Some(scored.probability)
}
