//! Proactive notices: when an incident is resolved with `notify`, cases publishes
//! `incidents.notice_requested`; identity tells the tenant's customers in the notice's scope
//! who did not write about it (members) and did not opt out, each on their preferred channel.
//!
//! The consumer ([`StartNotices`]) only records a run (`notice_runs`, once per incident). The
//! [`NoticeWorker`] then takes runs step by step, each step one transaction that also saves its
//! checkpoint: first it pages the incident's members from cases (`ListIncidentMembers`, 500 at
//! a time, into `notice_members`), then it goes through the tenant's customers by id, 500 at a
//! time: the scope is evaluated (`tend_scope`, the language of routing's rules), members and
//! opted-out customers are skipped, a channel is picked, and one `ReplyRequested` with a
//! `recipient` is written to the outbox per customer, with the reply id
//! `notice.{incident_id}.{customer_id}`. A crash redoes at most the step it was in, whose
//! requests were not committed; should a step be redone anyway, ingest's delivery log keeps one
//! message per reply id. The last step publishes `incidents.notice_reported` with the counts.
//!
//! Members are read from cases rather than carried on the event: an incident of 100,000 members
//! would make a 4 MB event, while pages of 500 keep every step small and resumable. An erased
//! customer is gone from `customers`, so is never reached; the logs carry counts only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use prost::Message as _;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use tend_client::CaseClient;
use tend_kernel::TenantId;
use tend_kernel::auth::Caller;
use tend_proto::v1;
use tend_scope::{CustomerFacts, Scope};
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError, OutboxWaker, outbox};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{App, Error, commit, parse_id};
use crate::SERVICE;
use crate::domain::LinkStatus;
use crate::storage::notices::{self, phase, run};
use crate::storage::{customer, profile};

/// Members and customers taken per step.
const PAGE: u32 = 500;
/// How long the worker sleeps with nothing to do (it is woken when a run starts), or after a
/// failed step.
const IDLE: Duration = Duration::from_secs(5);
/// The prefix of a notice's reply ids.
pub const REPLY_PREFIX: &str = "notice.";

impl App {
    /// SetNoticeOptOut: records the customer's choice; returns the customer.
    pub async fn set_notice_opt_out(
        &self,
        caller: &Caller,
        customer_id: &str,
        opted_out: bool,
    ) -> Result<customer::Model, Error> {
        let id = parse_id("customer_id", customer_id)?;
        let tenant = caller.tenant.as_str();
        let txn = self.begin().await?;
        let customer = crate::storage::customers::find(&txn, tenant, &id)
            .await?
            .ok_or_else(|| Error::not_found("customer", &id))?;
        notices::set_opt_out(&txn, tenant, &customer.id, opted_out, Utc::now()).await?;
        commit(txn).await?;
        tracing::info!(opted_out, actor = %caller.actor, "notice opt-out recorded");
        Ok(customer)
    }

    /// Whether the customer opted out of notices.
    pub async fn notices_opted_out(&self, tenant: &TenantId, customer_id: &str) -> Result<bool, Error> {
        Ok(!notices::opted_out(&self.db, tenant.as_str(), &[customer_id]).await?.is_empty())
    }
}

/// Consumes `incidents.notice_requested`: records the run (once per incident) and wakes the
/// worker.
pub struct StartNotices {
    /// Woken when a run starts.
    pub wake: Arc<Notify>,
}

#[async_trait]
impl EventHandler for StartNotices {
    type Payload = v1::NoticeRequested;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<Self::Payload>]) -> Result<(), HandleError> {
        let now = Utc::now();
        let mut started = 0;
        for event in events {
            let requested = &event.payload;
            if requested.incident_id.trim().is_empty() {
                return Err(HandleError::poison(event, "the notice names no incident"));
            }
            if let Err(problem) = Scope::compile(&requested.scope) {
                return Err(HandleError::poison(event, format!("the notice's scope does not compile: {problem}")));
            }
            let translations: BTreeMap<&String, &String> = requested.translations.iter().collect();
            let row = run::Model {
                tenant: event.tenant.as_str().to_owned(),
                incident_id: requested.incident_id.clone(),
                title: requested.title.clone(),
                scope: requested.scope.clone(),
                text: requested.text.clone(),
                translations: serde_json::to_string(&translations).unwrap_or_else(|_| "{}".into()),
                subject: requested.subject.clone(),
                opt_out_text: requested.opt_out_text.clone(),
                phase: phase::MEMBERS.to_owned(),
                members_token: String::new(),
                after: String::new(),
                in_scope: 0,
                requested: 0,
                skipped_members: 0,
                skipped_opted_out: 0,
                skipped_no_channel: 0,
                created_at: now,
                updated_at: now,
            };
            if notices::start(effects.db(), row).await? {
                started += 1;
            }
        }
        if started > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Goes through the runs not done, a step at a time, until shut down.
pub struct NoticeWorker {
    db: DatabaseConnection,
    relay: OutboxWaker,
    cases: Option<CaseClient>,
    wake: Arc<Notify>,
    page: u32,
}

impl NoticeWorker {
    /// A worker over `db`, reading members through `cases` (none: runs wait, with a warning).
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, cases: Option<CaseClient>, wake: Arc<Notify>) -> Self {
        Self { db, relay, cases, wake, page: PAGE }
    }

    /// The same worker taking `page` members or customers per step (tests use small pages).
    #[cfg(test)]
    pub fn with_page(self, page: u32) -> Self {
        Self { page, ..self }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let wait = match self.step().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => IDLE,
                Err(error) => {
                    tracing::warn!(%error, "notice step failed; retrying");
                    IDLE
                }
            };
            if wait.is_zero() {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One step of the oldest run not done; false when there is none.
    pub async fn step(&self) -> Result<bool, Error> {
        let Some(run) = notices::next_run(&self.db).await? else { return Ok(false) };
        match run.phase.as_str() {
            phase::MEMBERS => self.read_members(run).await?,
            _ => self.notify_customers(run).await?,
        }
        Ok(true)
    }

    /// Reads one page of the incident's members from cases.
    async fn read_members(&self, seen: run::Model) -> Result<(), Error> {
        let Some(cases) = &self.cases else {
            return Err(Error::Unexpected(
                "identity cannot reach cases (not in this process, no [clients] endpoint): notices wait".into(),
            ));
        };
        let tenant = TenantId::parse(&seen.tenant).map_err(|error| Error::Unexpected(error.to_string()))?;
        let request = v1::ListIncidentMembersRequest {
            incident_id: seen.incident_id.clone(),
            page_size: self.page,
            page_token: seen.members_token.clone(),
        };
        let page = cases
            .list_incident_members(&tenant, request)
            .await
            .map_err(|status| Error::Unexpected(format!("reading the incident's members: {}", status.message())))?;
        let customer_ids: Vec<String> = page
            .cases
            .iter()
            .map(|case| case.customer_id.clone())
            .filter(|id| !id.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let txn = self.db.begin().await.context("starting a transaction")?;
        notices::add_members(&txn, &seen.tenant, &seen.incident_id, &customer_ids).await?;
        let mut next = seen.clone();
        if page.next_page_token.is_empty() {
            next.phase = phase::CUSTOMERS.to_owned();
        }
        next.members_token = page.next_page_token;
        next.updated_at = Utc::now();
        if notices::advance(&txn, &seen, next).await? {
            commit(txn).await?;
        }
        Ok(())
    }

    /// Goes through one page of customers; the last (empty) page finishes the run.
    async fn notify_customers(&self, seen: run::Model) -> Result<(), Error> {
        let tenant = TenantId::parse(&seen.tenant).map_err(|error| Error::Unexpected(error.to_string()))?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let customers = notices::customers_after(&txn, &seen.tenant, &seen.after, u64::from(self.page)).await?;
        let mut next = seen.clone();
        next.updated_at = Utc::now();
        let mut envelopes = Vec::new();
        if customers.is_empty() {
            next.phase = phase::DONE.to_owned();
            let count = |value: i64| u64::try_from(value).unwrap_or(0);
            let reported = v1::NoticeReported {
                incident_id: seen.incident_id.clone(),
                in_scope: count(seen.in_scope),
                requested: count(seen.requested),
                skipped_members: count(seen.skipped_members),
                skipped_opted_out: count(seen.skipped_opted_out),
                skipped_no_channel: count(seen.skipped_no_channel),
            };
            envelopes.push((streams::NOTICE_REPORTED, envelope(SERVICE, &tenant, &reported)));
            notices::drop_members(&txn, &seen.tenant, &seen.incident_id).await?;
        } else {
            let scope = Scope::compile(&seen.scope)
                .map_err(|problem| Error::Unexpected(format!("the notice's scope does not compile: {problem}")))?;
            let root = tend_scope::root();
            let now = Utc::now();
            let mut in_scope = Vec::new();
            for row in &customers {
                let input = v1::CustomerInput::decode(row.original.as_slice()).unwrap_or_default();
                if scope.matches(&root, &facts(row, &input, now)) {
                    in_scope.push((row, input));
                }
            }
            let ids: Vec<&str> = in_scope.iter().map(|(row, _)| row.id.as_str()).collect();
            let members: HashSet<String> =
                notices::members(&txn, &seen.tenant, &seen.incident_id, &ids).await?.into_iter().collect();
            let opted_out: HashSet<String> = notices::opted_out(&txn, &seen.tenant, &ids).await?.into_iter().collect();
            let mut profiles: HashMap<String, Vec<profile::Model>> = HashMap::new();
            if !ids.is_empty() {
                let rows = profile::Entity::find()
                    .filter(profile::Column::Tenant.eq(seen.tenant.as_str()))
                    .filter(profile::Column::CustomerId.is_in(ids.iter().copied()))
                    .filter(profile::Column::Status.eq(LinkStatus::Linked.as_str()))
                    .all(&txn)
                    .await
                    .context("reading the customers' profiles")?;
                for row in rows {
                    profiles.entry(row.customer_id.clone()).or_default().push(row);
                }
            }
            let translations: BTreeMap<String, String> = serde_json::from_str(&seen.translations).unwrap_or_default();
            let subject = if seen.subject.is_empty() { seen.title.clone() } else { seen.subject.clone() };
            for (row, input) in in_scope {
                next.in_scope += 1;
                if members.contains(&row.id) {
                    next.skipped_members += 1;
                    continue;
                }
                if opted_out.contains(&row.id) {
                    next.skipped_opted_out += 1;
                    continue;
                }
                let linked = profiles.get(&row.id).map(Vec::as_slice).unwrap_or_default();
                let Some(mut recipient) = recipient(&input, linked) else {
                    next.skipped_no_channel += 1;
                    continue;
                };
                recipient.customer_id.clone_from(&row.id);
                let language = input.attributes.get("language").map(|language| language.trim().to_lowercase());
                let text = language.and_then(|language| translations.get(&language)).unwrap_or(&seen.text);
                let text = format!("{}\n\n{}", personalize(text, &input), seen.opt_out_text);
                let requested = v1::ReplyRequested {
                    reply_id: format!("{REPLY_PREFIX}{}.{}", seen.incident_id, row.id),
                    text,
                    visibility: v1::ReplyVisibility::Private.into(),
                    requested_by: SERVICE.to_owned(),
                    subject: subject.clone(),
                    recipient: Some(recipient),
                    ..Default::default()
                };
                envelopes.push((streams::REPLIES_REQUESTED, envelope(SERVICE, &tenant, &requested)));
                next.requested += 1;
            }
            if let Some(last) = customers.last() {
                next.after.clone_from(&last.id);
            }
        }
        if !notices::advance(&txn, &seen, next.clone()).await? {
            // Another worker took this step meanwhile: nothing of ours is committed.
            return Ok(());
        }
        outbox::enqueue_many(&txn, &envelopes).await?;
        commit(txn).await?;
        if !envelopes.is_empty() {
            self.relay.wake();
        }
        if next.phase == phase::DONE {
            tracing::info!(
                incident_id = %seen.incident_id,
                in_scope = next.in_scope,
                requested = next.requested,
                skipped_members = next.skipped_members,
                skipped_opted_out = next.skipped_opted_out,
                skipped_no_channel = next.skipped_no_channel,
                "incident notice done"
            );
        }
        Ok(())
    }
}

/// What a scope sees of a customer.
fn facts(row: &customer::Model, input: &v1::CustomerInput, now: DateTime<Utc>) -> CustomerFacts {
    let purchases = input.purchases.as_ref();
    let days_since_last_order = purchases
        .and_then(|purchases| purchases.last_order_at.as_ref())
        .and_then(|at| DateTime::from_timestamp(at.seconds, 0))
        .map_or(-1, |at| (now - at).num_days().max(0));
    let address = input.address.clone().unwrap_or_default();
    CustomerFacts {
        id: row.id.clone(),
        segment: row.segment.clone(),
        tier: row.tier.clone(),
        lifetime_value: if row.lifetime_value.is_finite() { row.lifetime_value } else { 0.0 },
        orders: purchases.map_or(0, |purchases| i64::from(purchases.orders)),
        total_spent: purchases.map_or(0.0, |purchases| purchases.total_spent),
        days_since_last_order,
        region: address.region,
        country: address.country,
        attributes: input.attributes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
    }
}

/// The channels a notice can go to a profile on (a direct message).
const DIRECT: [v1::Channel; 3] = [v1::Channel::X, v1::Channel::Facebook, v1::Channel::Instagram];

/// Where a customer's notice goes: their `preferred_channel` attribute when it can be used,
/// else their linked profile most recently active (a direct message, or its email), else the
/// CRM's first email; none when none of these exists.
fn recipient(input: &v1::CustomerInput, linked: &[profile::Model]) -> Option<v1::ReplyRecipient> {
    let crm_email = input.emails.iter().map(|email| email.trim()).find(|email| !email.is_empty());
    let email = |address: &str| v1::ReplyRecipient {
        channel: v1::Channel::Email.into(),
        email: address.to_owned(),
        ..Default::default()
    };
    let of_profile = |profile: &profile::Model| -> Option<v1::ReplyRecipient> {
        let channel = v1::Channel::try_from(profile.channel).ok()?;
        if DIRECT.contains(&channel) {
            return Some(v1::ReplyRecipient {
                channel: channel.into(),
                external_id: profile.external_id.clone(),
                ..Default::default()
            });
        }
        if channel == v1::Channel::Email {
            let address = if profile.email.is_empty() { &profile.external_id } else { &profile.email };
            return Some(email(address));
        }
        None
    };
    let mut recent: Vec<&profile::Model> = linked.iter().collect();
    recent.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at).then_with(|| a.id.cmp(&b.id)));
    let preferred = input.attributes.get("preferred_channel").map(|name| name.trim().to_lowercase());
    match preferred.as_deref() {
        Some("email") => {
            if let Some(address) = crm_email {
                return Some(email(address));
            }
        }
        Some(name @ ("x" | "facebook" | "instagram")) => {
            let wanted = match name {
                "x" => v1::Channel::X,
                "facebook" => v1::Channel::Facebook,
                _ => v1::Channel::Instagram,
            };
            if let Some(found) = recent.iter().find(|profile| profile.channel == i32::from(wanted)) {
                return of_profile(found);
            }
        }
        _ => {}
    }
    recent.iter().find_map(|profile| of_profile(profile)).or_else(|| crm_email.map(email))
}

/// `{name}` and `{first_name}` filled in from the CRM's names (`{handle}` is left blank: a
/// notice answers no post).
fn personalize(text: &str, input: &v1::CustomerInput) -> String {
    let first_name = input.given_name.trim();
    let name = format!("{first_name} {}", input.family_name.trim()).trim().to_owned();
    text.replace("{first_name}", first_name).replace("{name}", &name).replace("{handle}", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(channel: v1::Channel, external_id: &str, seen: i64) -> profile::Model {
        let at = DateTime::from_timestamp(seen, 0).unwrap();
        profile::Model {
            id: format!("p-{external_id}"),
            tenant: "t".into(),
            channel: channel.into(),
            external_id: external_id.into(),
            handle: String::new(),
            display_name: String::new(),
            followers: 0,
            customer_id: "c".into(),
            status: "linked".into(),
            first_seen_at: at,
            last_seen_at: at,
            link_method: String::new(),
            link_evidence: String::new(),
            linked_at: None,
            email: String::new(),
            location: String::new(),
        }
    }

    #[test]
    fn the_channel_is_the_preferred_then_the_most_recent_then_the_crm_email() {
        let mut input = v1::CustomerInput { emails: vec!["ann@example.com".into()], ..Default::default() };
        let profiles = [profile(v1::Channel::X, "x-1", 100), profile(v1::Channel::Facebook, "fb-1", 200)];
        let chosen = recipient(&input, &profiles).unwrap();
        assert_eq!((chosen.channel(), chosen.external_id.as_str()), (v1::Channel::Facebook, "fb-1"));
        input.attributes.insert("preferred_channel".into(), "x".into());
        let chosen = recipient(&input, &profiles).unwrap();
        assert_eq!((chosen.channel(), chosen.external_id.as_str()), (v1::Channel::X, "x-1"));
        input.attributes.insert("preferred_channel".into(), "email".into());
        assert_eq!(recipient(&input, &profiles).unwrap().email, "ann@example.com");
        // Preferred but not there: the most recent profile.
        input.attributes.insert("preferred_channel".into(), "instagram".into());
        assert_eq!(recipient(&input, &profiles).unwrap().external_id, "fb-1");
        input.attributes.clear();
        assert_eq!(recipient(&input, &[]).unwrap().email, "ann@example.com");
        input.emails.clear();
        assert!(recipient(&input, &[]).is_none());
    }

    mod resume {
        use sea_orm::{EntityTrait, QueryOrder};

        use super::*;
        use crate::testing::{TestDb, tenant};

        on_both_backends!(a_notice_run_resumes_from_its_checkpoint_and_sends_each_customer_one_request);

        fn input(crm_id: &str, region: &str) -> v1::CustomerInput {
            v1::CustomerInput {
                crm_id: crm_id.into(),
                given_name: crm_id.into(),
                emails: vec![format!("{}@example.com", crm_id.to_lowercase())],
                address: Some(v1::PostalAddress { region: region.into(), ..Default::default() }),
                ..Default::default()
            }
        }

        /// The outbox's requests (reply ids) and reports.
        async fn published(db: &TestDb) -> (Vec<String>, Vec<v1::NoticeReported>) {
            let rows = tend_store::outbox::entity::Entity::find()
                .order_by_asc(tend_store::outbox::entity::Column::Id)
                .all(&db.db)
                .await
                .unwrap();
            let mut requests = Vec::new();
            let mut reports = Vec::new();
            for row in rows {
                let envelope = v1::EventEnvelope::decode(row.payload.as_slice()).unwrap();
                if row.stream == streams::REPLIES_REQUESTED {
                    let request = v1::ReplyRequested::decode(envelope.payload.as_slice()).unwrap();
                    assert!(request.recipient.is_some());
                    requests.push(request.reply_id);
                } else if row.stream == streams::NOTICE_REPORTED {
                    reports.push(v1::NoticeReported::decode(envelope.payload.as_slice()).unwrap());
                }
            }
            (requests, reports)
        }

        async fn a_notice_run_resumes_from_its_checkpoint_and_sends_each_customer_one_request(db: &TestDb) {
            let app = db.app();
            let acme = tenant("acme");
            let mut ids = Vec::new();
            for (crm_id, region) in
                [("C1", "north"), ("C2", "north"), ("C3", "north"), ("C4", "south"), ("C5", "north"), ("C6", "north")]
            {
                ids.push(app.upsert_customer(&acme, input(crm_id, region)).await.unwrap().customer.id);
            }
            let caller = crate::testing::person("acme");
            app.set_notice_opt_out(&caller, &ids[1], true).await.unwrap();
            let now = Utc::now();
            let run = run::Model {
                tenant: "acme".into(),
                incident_id: "incident-1".into(),
                title: "Outage".into(),
                scope: "customer.region == 'north'".into(),
                text: "Fixed, {first_name}.".into(),
                translations: "{}".into(),
                subject: String::new(),
                opt_out_text: "Reply STOP.".into(),
                // Members are read from cases first; here they are given.
                phase: phase::CUSTOMERS.into(),
                members_token: String::new(),
                after: String::new(),
                in_scope: 0,
                requested: 0,
                skipped_members: 0,
                skipped_opted_out: 0,
                skipped_no_channel: 0,
                created_at: now,
                updated_at: now,
            };
            assert!(notices::start(&db.db, run.clone()).await.unwrap());
            assert!(!notices::start(&db.db, run.clone()).await.unwrap(), "a redelivered request starts nothing");
            notices::add_members(&db.db, "acme", "incident-1", std::slice::from_ref(&ids[2])).await.unwrap();

            let wake = Arc::new(Notify::new());
            let worker = NoticeWorker::new(db.db.clone(), OutboxWaker::default(), None, wake.clone()).with_page(2);
            let before = notices::next_run(&db.db).await.unwrap().unwrap();
            assert!(worker.step().await.unwrap());
            let first = published(db).await.0.len();
            assert!(first <= 2, "one page of two customers: {first} requests");
            assert!(notices::next_run(&db.db).await.unwrap().unwrap().after > String::new(), "a checkpoint");
            // A worker that read the run before that step and does it again commits nothing.
            worker.notify_customers(before).await.unwrap();
            assert_eq!(published(db).await.0.len(), first);
            // A restart: a new worker goes on from the checkpoint.
            drop(worker);
            let worker = NoticeWorker::new(db.db.clone(), OutboxWaker::default(), None, wake).with_page(2);
            while worker.step().await.unwrap() {}
            let (mut requests, reports) = published(db).await;
            requests.sort();
            let mut expected: Vec<String> =
                [&ids[0], &ids[4], &ids[5]].iter().map(|id| format!("notice.incident-1.{id}")).collect();
            expected.sort();
            assert_eq!(requests, expected, "each customer in scope, not a member, not opted out, once");
            assert_eq!(reports.len(), 1);
            let report = &reports[0];
            assert_eq!(
                (report.in_scope, report.requested, report.skipped_members, report.skipped_opted_out),
                (5, 3, 1, 1)
            );
            assert!(notices::members(&db.db, "acme", "incident-1", &[ids[2].as_str()]).await.unwrap().is_empty());
        }
    }

    #[test]
    fn names_come_from_the_crm() {
        let input = v1::CustomerInput { given_name: "Ann".into(), family_name: "Lee".into(), ..Default::default() };
        assert_eq!(personalize("Hi {first_name} ({name}){handle}", &input), "Hi Ann (Ann Lee)");
    }
}
