//! The dispatcher: offers waiting cases to available agents, one replica at a time (under the
//! `routing.queue` lease), and sweeps offers left unanswered and acceptances cases has not
//! shown yet.
//!
//! It keeps each tenant's waiting items on a [`Board`] and the agents' loads in memory, read
//! from the database: every look reads the work items changed since the last; once every
//! `queue.changes_overlap` it reads those of the last `queue.changes_overlap` again, for
//! transactions that committed after later ones; and it reads everything when it takes the
//! lease (or did not look for longer than the lease lasts) and every 10 minutes. The memory only chooses; every offer is a conditional update in the
//! database ([`crate::queue::Queue::offer`]), so a stale choice fails instead of offering a
//! case twice or filling an agent past capacity, even while two replicas overlap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message as _;
use tend_kernel::ids::Clock;
use tend_proto::v1;
use tend_store::DbContext as _;
use tend_store::lease::Singleton;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::board::{Board, Taker};
use crate::queue::{Queue, QueueError};
use crate::storage::agents as stored;
use crate::storage::policies;
use crate::storage::work::{self, ACCEPTED, ENDED_STATUSES, Held, Mark, OFFERED, item};
use crate::trends::HotTopics;
use crate::work::{board_item, is_waiting};

/// Rows read per query while catching up.
const PAGE: u64 = 5_000;
/// Most offers made in one look, so a look stays short and the lease is renewed in time.
const MAX_OFFERS_PER_LOOK: usize = 1_000;
/// Most expired offers and unconfirmed acceptances handled in one look.
const MAX_SWEEP: u64 = 500;
/// How often everything is read again, whatever the changes said.
/// (Reading every active item costs a scan of them: under a backlog of 300,000 cases, reading
/// them every minute took the database from the pipeline.)
const FULL_READ_EVERY: chrono::Duration = chrono::Duration::minutes(10);
/// How long the item of an ended case is kept (so a redelivered old event of it changes
/// nothing), and how many are deleted at each full read.
const KEEP_ENDED: chrono::Duration = chrono::Duration::days(7);
const PRUNE_BATCH: u64 = 5_000;
/// How often the queues' policies are applied to the cases that waited too long.
const RELAX_EVERY: chrono::Duration = chrono::Duration::seconds(1);
/// How often the experts of hot topics are read again while a topic is hot (a query per tenant
/// with hot topics; records change with every resolution).
const EXPERTS_EVERY: chrono::Duration = chrono::Duration::seconds(5);
/// How often agents' presence is checked against their working hours.
const HOURS_EVERY: chrono::Duration = chrono::Duration::seconds(10);
/// The reason of a presence set offline by working hours; only such a presence is set
/// available again when the hours begin.
pub const OUTSIDE_HOURS: &str = "outside working hours";

/// An agent as the dispatcher matches them.
#[derive(Debug, Default)]
struct AgentView {
    definition: v1::Agent,
    queues: Vec<String>,
    languages: Vec<String>,
    skills: Vec<(String, u32)>,
    presence: i32,
    presence_reason: String,
    disabled: bool,
}

/// Who has or holds an active case: `(agent, channel, an open offer)`.
type Holder = (String, i32, bool);

/// One tenant's queue in memory.
#[derive(Default)]
struct TenantQueue {
    board: Option<Board>,
    agents: BTreeMap<String, AgentView>,
    /// Active cases somebody has or holds.
    holders: HashMap<String, Holder>,
    /// Per agent and channel, how many active cases they have or hold.
    loads: HashMap<String, HashMap<i32, u32>>,
    /// Per agent, their open offers.
    offers: HashMap<String, u32>,
    /// Per waiting case, the agents who passed on it.
    passes: HashMap<String, Vec<String>>,
    /// Per agent, offers they let expire since they last accepted one.
    missed: HashMap<String, u32>,
    /// Per agent, when they were last given work (ms), for the longest idle first.
    last_given: HashMap<String, i64>,
    /// The tenant's teams when agents' queues were last worked out: how many, last change.
    teams_seen: Option<(usize, Option<DateTime<Utc>>)>,
    /// The experts of the tenant's hot topics, best first, and which hot topics and when they
    /// were read.
    experts: HashMap<String, Vec<(String, f64)>>,
    experts_read: Option<(Vec<String>, DateTime<Utc>)>,
}

impl TenantQueue {
    /// Drops the tenant's items from memory (nobody to offer them to any more).
    fn forget_items(&mut self) {
        self.board = None;
        self.holders.clear();
        self.loads.clear();
        self.offers.clear();
        self.passes.clear();
    }

    fn board(&mut self, risk_window: i64) -> &mut Board {
        self.board.get_or_insert_with(|| Board::new(risk_window))
    }

    /// Brings the memory in line with `row`, the current state of its case.
    fn apply(&mut self, row: &item::Model, risk_window: i64) {
        let holder = if ENDED_STATUSES.contains(&row.status) {
            None
        } else if !row.held_by.is_empty() {
            Some((row.held_by.clone(), row.channel, row.hold == OFFERED))
        } else if !row.assignee.is_empty() {
            Some((row.assignee.clone(), row.channel, false))
        } else {
            None
        };
        if let Some((agent, channel, offered)) = self.holders.remove(&row.case_id) {
            if let Some(load) = self.loads.get_mut(&agent).and_then(|loads| loads.get_mut(&channel)) {
                *load = load.saturating_sub(1);
            }
            if offered && let Some(count) = self.offers.get_mut(&agent) {
                *count = count.saturating_sub(1);
            }
        }
        if let Some((agent, channel, offered)) = holder {
            *self.loads.entry(agent.clone()).or_default().entry(channel).or_default() += 1;
            if offered {
                *self.offers.entry(agent.clone()).or_default() += 1;
            }
            if row.hold == ACCEPTED {
                self.missed.remove(&agent);
            }
            if let Some(at) = row.held_at {
                let last = self.last_given.entry(agent.clone()).or_default();
                *last = (*last).max(at.timestamp_millis());
            }
            self.holders.insert(row.case_id.clone(), (agent, channel, offered));
        }
        if is_waiting(row) {
            let passed: Vec<String> =
                row.passed_by.split(',').filter(|agent| !agent.is_empty()).map(str::to_owned).collect();
            if passed.is_empty() {
                self.passes.remove(&row.case_id);
            } else {
                self.passes.insert(row.case_id.clone(), passed);
            }
            self.board(risk_window).insert(board_item(row));
        } else {
            self.passes.remove(&row.case_id);
            self.board(risk_window).remove(&row.case_id);
        }
    }

    /// The agents who may be offered work now: available, no offer open, room on a channel.
    fn free_agents(&self) -> Vec<Free<'_>> {
        let available = v1::Presence::Available as i32;
        self.agents
            .iter()
            .filter(|(id, agent)| {
                agent.presence == available && !agent.disabled && self.offers.get(*id).copied().unwrap_or(0) == 0
            })
            .filter_map(|(id, agent)| {
                let loads = self.loads.get(id);
                let load_of = |channel: i32| loads.and_then(|loads| loads.get(&channel)).copied().unwrap_or(0);
                let mut channels = Vec::new();
                let mut spare = 0;
                for capacity in &agent.definition.capacity {
                    let load = load_of(capacity.channel);
                    if load < capacity.max {
                        channels.push(capacity.channel);
                        spare += capacity.max - load;
                    }
                }
                if channels.is_empty() || agent.queues.is_empty() {
                    return None;
                }
                channels.sort_unstable();
                Some(Free {
                    id,
                    view: agent,
                    channels,
                    load: loads.map_or(0, |loads| loads.values().sum()),
                    spare,
                    last_given: self.last_given.get(id).copied().unwrap_or(0),
                })
            })
            .collect()
    }
}

/// An agent who may be offered work now, with what strategies order by.
struct Free<'a> {
    id: &'a String,
    view: &'a AgentView,
    /// The channels they have room on, sorted.
    channels: Vec<i32>,
    /// Their active cases.
    load: u32,
    /// Their room, over all channels.
    spare: u32,
    /// When they were last given work (ms).
    last_given: i64,
}

/// Orders `agents` as `strategy` says the first should be offered work first.
fn order_by_strategy(agents: &mut [&Free<'_>], strategy: v1::QueueStrategy) {
    match strategy {
        v1::QueueStrategy::Unspecified | v1::QueueStrategy::LeastActive => {
            agents.sort_by(|a, b| (a.load, a.last_given, a.id).cmp(&(b.load, b.last_given, b.id)));
        }
        v1::QueueStrategy::MostAvailable => {
            agents.sort_by(|a, b| (b.spare, a.last_given, a.id).cmp(&(a.spare, b.last_given, b.id)));
        }
        v1::QueueStrategy::LongestIdle => {
            agents.sort_by(|a, b| (a.last_given, a.load, a.id).cmp(&(b.last_given, b.load, b.id)));
        }
    }
}

/// What the dispatcher knows, between looks.
#[derive(Default)]
struct State {
    tenants: HashMap<String, TenantQueue>,
    /// The last work item read.
    items_mark: Option<Mark>,
    /// When agents were last read.
    agents_read: Option<DateTime<Utc>>,
    /// When everything was last read.
    full_read: Option<DateTime<Utc>>,
    /// When the last look ended.
    last_look: Option<DateTime<Utc>>,
    /// When the changes of the last `queue.changes_overlap` were last read again.
    overlap_read: Option<DateTime<Utc>>,
    /// The queue policies, per tenant and queue, as of the last look.
    policies: HashMap<String, HashMap<String, v1::QueuePolicy>>,
    /// When the queues' policies were last applied.
    relaxed_at: Option<DateTime<Utc>>,
    /// When agents' presence was last checked against their hours.
    hours_at: Option<DateTime<Utc>>,
}

/// Offers the queues' work to agents; see the module's documentation.
pub struct Dispatcher {
    queue: Queue,
    /// What is hot now (read by every replica; see [`crate::trends`]).
    hot: Arc<HotTopics>,
    /// Looks run one at a time (the lease's job runs them in turn; the lock says so).
    state: Mutex<State>,
}

impl Dispatcher {
    /// A dispatcher working through `queue`, offering the items on `hot` topics to the topics'
    /// experts first.
    pub fn new(queue: Queue, hot: Arc<HotTopics>) -> Self {
        Self { queue, hot, state: Mutex::new(State::default()) }
    }

    /// Runs a look at every `queue.dispatch_every` on the replica holding the lease, until
    /// `shutdown`.
    pub async fn run(self, instance: String, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
        let config = self.queue.config().clone();
        let singleton = Singleton {
            name: "routing.queue",
            holder: instance,
            every: config.dispatch_every,
            ttl: config.dispatch_lease,
            db: self.queue.db().clone(),
            clock,
        };
        let this = Arc::new(self);
        singleton
            .run(shutdown, move |now| {
                let this = this.clone();
                async move { this.look(now).await }
            })
            .await;
    }

    /// One look: relax what waited too long, read what changed, end what expired, confirm
    /// what was accepted, offer.
    pub async fn look(&self, now: DateTime<Utc>) -> Result<(), QueueError> {
        let mut state = self.state.lock().await;
        self.relax(&mut state, now).await?;
        self.read(&mut state, now).await?;
        self.keep_hours(&mut state, now).await?;
        self.expire(&mut state, now).await?;
        self.confirm(now).await?;
        self.offer(&mut state, now).await?;
        state.last_look = Some(self.queue.now());
        Ok(())
    }

    fn risk_window(&self) -> i64 {
        i64::try_from(self.queue.config().risk_window.as_millis()).unwrap_or(i64::MAX)
    }

    /// Reads the agents and work items changed since the last look. Only the items of tenants
    /// with an agent available are kept (offers go to no one else): all of a tenant's active
    /// items when it gets one, then their changes. Everything is read again on the first look,
    /// every 10 minutes, and after a pause longer than the lease (another replica may have
    /// dispatched meanwhile).
    async fn read(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), QueueError> {
        let config = self.queue.config();
        let lease = chrono::Duration::from_std(config.dispatch_lease).unwrap_or(chrono::Duration::MAX);
        let overlap = chrono::Duration::from_std(config.changes_overlap).unwrap_or(chrono::Duration::MAX);
        let full = state.full_read.is_none_or(|at| now - at >= FULL_READ_EVERY)
            || state.last_look.is_none_or(|at| now - at > lease);
        let db = self.queue.db();
        if full {
            state.tenants.clear();
            state.full_read = Some(now);
            state.overlap_read = Some(now);
            let pruned = work::prune_ended(db, now - KEEP_ENDED, PRUNE_BATCH).await.context("pruning ended items")?;
            if pruned > 0 {
                tracing::debug!(pruned, "work items of long-ended cases deleted");
            }
        }
        self.read_agents(state, full, now, overlap).await?;

        // Which tenants have someone to offer to; those that just got one are read whole.
        let available = v1::Presence::Available as i32;
        let mut load = Vec::new();
        let mut follow = Vec::new();
        for (tenant, queue) in &mut state.tenants {
            let served = queue.agents.values().any(|agent| agent.presence == available && !agent.disabled);
            match (served, queue.board.is_some()) {
                (true, true) => follow.push(tenant.clone()),
                (true, false) => load.push(tenant.clone()),
                (false, true) => queue.forget_items(),
                (false, false) => {}
            }
        }
        let risk_window = self.risk_window();
        for tenant in &load {
            if let Some(queue) = state.tenants.get_mut(tenant) {
                queue.forget_items();
                queue.board(risk_window);
            }
        }
        self.read_items(state, &load, None, true).await?;
        if !load.is_empty() {
            // What changes from now on is read as changes (late commits with the overlap).
            let from = Mark { updated_at: now - overlap, ..Mark::default() };
            if state.items_mark.as_ref().is_none_or(|mark| *mark < from) {
                state.items_mark = Some(from);
            }
        }
        let after = if state.overlap_read.is_none_or(|at| now - at >= overlap) {
            state.overlap_read = Some(now);
            let since = state.items_mark.as_ref().map_or(now, |mark| mark.updated_at).min(now) - overlap;
            Some(Mark { updated_at: since, ..Mark::default() })
        } else {
            state.items_mark.clone()
        };
        self.read_items(state, &follow, after, false).await
    }

    /// Applies the items of `tenants` changed after `after` (all active ones with
    /// `active_only`), page by page, and moves the mark of what was read.
    async fn read_items(
        &self,
        state: &mut State,
        tenants: &[String],
        mut after: Option<Mark>,
        active_only: bool,
    ) -> Result<(), QueueError> {
        let risk_window = self.risk_window();
        let db = self.queue.db();
        loop {
            let rows = work::changed(db, tenants, after.as_ref(), active_only, PAGE)
                .await
                .context("reading the work items")?;
            for row in &rows {
                state.tenants.entry(row.tenant.clone()).or_default().apply(row, risk_window);
            }
            let Some(last) = rows.last() else { return Ok(()) };
            let mark = Mark { updated_at: last.updated_at, tenant: last.tenant.clone(), case_id: last.case_id.clone() };
            if !active_only && state.items_mark.as_ref().is_none_or(|seen| mark > *seen) {
                state.items_mark = Some(mark.clone());
            }
            after = Some(mark);
            if (rows.len() as u64) < PAGE {
                return Ok(());
            }
        }
    }

    /// Reads the agents changed since the last look (all of them on a full read) and the
    /// teams, and works out each agent's queues.
    async fn read_agents(
        &self,
        state: &mut State,
        full: bool,
        now: DateTime<Utc>,
        overlap: chrono::Duration,
    ) -> Result<(), QueueError> {
        let db = self.queue.db();
        let agents_since = if full { None } else { state.agents_read.map(|at| at - overlap) };
        let agents = stored::changed_since(db, agents_since).await.context("reading the agents")?;
        let mut tenants_with_agents: BTreeMap<String, Vec<stored::agent::Model>> = BTreeMap::new();
        for agent in agents {
            tenants_with_agents.entry(agent.tenant.clone()).or_default().push(agent);
        }
        // Teams are few: read them all, and when a tenant's changed, give its agents their
        // teams' queues again.
        let teams = stored::all_teams(db).await.context("reading the teams")?;
        state.agents_read = Some(now);
        let mut fingerprints: HashMap<String, (usize, Option<DateTime<Utc>>)> = HashMap::new();
        for team in &teams {
            let entry = fingerprints.entry(team.tenant.clone()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(Some(team.updated_at));
        }
        for (tenant, queue) in &mut state.tenants {
            let fingerprint = fingerprints.get(tenant).copied().unwrap_or_default();
            if queue.teams_seen == Some(fingerprint) {
                continue;
            }
            queue.teams_seen = Some(fingerprint);
            let tenant_teams: Vec<stored::team::Model> =
                teams.iter().filter(|team| &team.tenant == tenant).cloned().collect();
            for agent in queue.agents.values_mut() {
                agent.queues = crate::agents::queues_of(&agent.definition, &tenant_teams)?;
            }
        }
        for (tenant, rows) in tenants_with_agents {
            let tenant_teams: Vec<stored::team::Model> =
                teams.iter().filter(|team| team.tenant == tenant).cloned().collect();
            let queue = state.tenants.entry(tenant).or_default();
            for row in rows {
                let definition = crate::agents::definition_of(&row)?;
                let (languages, skills) = crate::agents::abilities(&definition);
                let queues = crate::agents::queues_of(&definition, &tenant_teams)?;
                queue.agents.insert(
                    row.id.clone(),
                    AgentView {
                        definition,
                        queues,
                        languages,
                        skills,
                        presence: row.presence,
                        presence_reason: row.presence_reason,
                        disabled: row.disabled,
                    },
                );
            }
        }
        Ok(())
    }

    /// Ends the offers left unanswered past their time, and sets away the agents who let too
    /// many expire in a row.
    async fn expire(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), QueueError> {
        let expired = work::expired_offers(self.queue.db(), now, MAX_SWEEP).await.context("reading expired offers")?;
        let away_after = self.queue.config().away_after_missed;
        let risk_window = self.risk_window();
        for row in expired {
            if !self.queue.expire(&row, now).await? {
                continue;
            }
            let queue = state.tenants.entry(row.tenant.clone()).or_default();
            let released = item::Model {
                held_by: String::new(),
                hold: String::new(),
                offer_id: String::new(),
                held_at: None,
                hold_until: None,
                passed_by: format!("{}{},", row.passed_by, row.held_by),
                ..row.clone()
            };
            queue.apply(&released, risk_window);
            let missed = queue.missed.entry(row.held_by.clone()).or_default();
            *missed += 1;
            if away_after > 0 && *missed >= away_after {
                let missed = *missed;
                queue.missed.remove(&row.held_by);
                self.set_away(&row.tenant, &row.held_by, missed, now).await?;
                if let Some(agent) = queue.agents.get_mut(&row.held_by) {
                    agent.presence = v1::Presence::Away as i32;
                }
            }
        }
        Ok(())
    }

    /// Sets offline the agents outside their working hours (a calendar on their definition),
    /// and available again those the hours had set offline when the hours begin (at most
    /// every [`HOURS_EVERY`]). A presence the agent chose inside their hours is theirs.
    async fn keep_hours(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), QueueError> {
        if state.hours_at.is_some_and(|at| now - at < HOURS_EVERY) {
            return Ok(());
        }
        state.hours_at = Some(now);
        let db = self.queue.db();
        let offline = v1::Presence::Offline as i32;
        for (tenant, queue) in &mut state.tenants {
            let with_hours: Vec<(&String, &mut AgentView)> =
                queue.agents.iter_mut().filter(|(_, agent)| !agent.definition.calendar.is_empty()).collect();
            if with_hours.is_empty() {
                continue;
            }
            let rows = crate::storage::config::calendars(db, tenant).await.context("reading the calendars")?;
            let mut calendars = HashMap::new();
            for row in rows {
                let Ok(proto) = v1::Calendar::decode(row.body.as_slice()) else { continue };
                if let Ok(calendar) = tend_calendar::contract::from_contract(&proto) {
                    calendars.insert(row.name, calendar);
                }
            }
            for (id, agent) in with_hours {
                let Some(calendar) = calendars.get(&agent.definition.calendar) else { continue };
                let open = calendar.is_open(now);
                let change = if !open && agent.presence != offline {
                    Some((offline, OUTSIDE_HOURS))
                } else if open && agent.presence == offline && agent.presence_reason == OUTSIDE_HOURS {
                    Some((v1::Presence::Available as i32, "working hours began"))
                } else {
                    None
                };
                let Some((presence, reason)) = change else { continue };
                let Some(row) = stored::find(db, tenant, id).await.context("reading the agent")? else { continue };
                // A change racing this one (the agent's own) wins; the next check sees it.
                if stored::set_presence(db, &row, presence, reason, now).await.context("setting the presence")? {
                    tracing::info!(tenant = %tenant, agent = %id, presence, reason, "presence set by working hours");
                    if presence == offline {
                        self.queue.withdraw_offers(tenant, id, now).await?;
                    }
                    agent.presence = presence;
                    agent.presence_reason = reason.to_owned();
                }
            }
        }
        Ok(())
    }

    async fn set_away(&self, tenant: &str, agent: &str, missed: u32, now: DateTime<Utc>) -> Result<(), QueueError> {
        let db = self.queue.db();
        let Some(row) = stored::find(db, tenant, agent).await.context("reading the agent")? else { return Ok(()) };
        if row.presence != v1::Presence::Available as i32 {
            return Ok(());
        }
        let reason = format!("left {missed} offers unanswered in a row");
        // A change racing this one (the agent's own) wins: nothing to retry.
        if stored::set_presence(db, &row, v1::Presence::Away as i32, &reason, now).await.context("setting away")? {
            tracing::info!(tenant, agent, missed, "agent set away after unanswered offers");
        }
        Ok(())
    }

    /// Sends again to cases the acceptances it has not shown for a while (a crash between
    /// the acceptance and the call, or cases unreachable then).
    async fn confirm(&self, now: DateTime<Utc>) -> Result<(), QueueError> {
        let after = chrono::Duration::from_std(self.queue.config().confirm_after).unwrap_or(chrono::Duration::MAX);
        let rows = work::unconfirmed(self.queue.db(), now - after, MAX_SWEEP).await.context("reading acceptances")?;
        for row in rows {
            match self.queue.assign(&row, now).await {
                Ok(_) => {}
                Err(QueueError::Refused(reason)) => {
                    tracing::info!(case_id = %row.case_id, %reason, "acceptance dropped")
                }
                Err(error) => {
                    tracing::warn!(case_id = %row.case_id, %error, "cases could not be told of an acceptance; trying again later");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Offers each free agent the best item they may take: queue by queue, the one with the
    /// most urgent item first, its agents in the order of its strategy.
    async fn offer(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), QueueError> {
        let now_ms = now.timestamp_millis();
        let risk_window = self.risk_window();
        let mut made = 0;
        let State { tenants, policies, .. } = state;
        for (tenant, queue) in tenants.iter_mut() {
            if queue.board.as_ref().is_none_or(Board::is_empty) {
                continue;
            }
            let hot = self.hot.hot_in(tenant);
            self.read_experts(tenant, queue, &hot, now).await?;
            let Some(board) = &queue.board else { continue };
            let mut picks: Vec<(String, String)> = Vec::new();
            {
                let free = queue.free_agents();
                let (mut taken, mut given) = (HashSet::new(), HashSet::new());
                // Items on a hot topic go to its experts first (most urgent first, best expert
                // first), whatever their queues' strategies say.
                if !hot.is_empty() && !queue.experts.is_empty() {
                    let on_hot =
                        |item: &crate::board::Item| item.topics.iter().any(|topic| hot.binary_search(topic).is_ok());
                    for item in board.in_order_where(now_ms, on_hot) {
                        let Some(ranked) = item.topics.iter().find_map(|topic| queue.experts.get(topic)) else {
                            continue;
                        };
                        let passed = queue.passes.get(&item.case_id);
                        let expert = ranked.iter().find_map(|(expert, _)| {
                            let agent = free.iter().find(|agent| agent.id == expert)?;
                            let taker = Taker {
                                queues: &agent.view.queues,
                                languages: &agent.view.languages,
                                skills: &agent.view.skills,
                                channels: &agent.channels,
                            };
                            let fits = !given.contains(agent.id)
                                && passed.is_none_or(|passed| !passed.contains(agent.id))
                                && taker.qualifies(&item.requirements);
                            fits.then_some(agent)
                        });
                        if let Some(agent) = expert {
                            taken.insert(item.case_id.clone());
                            given.insert(agent.id);
                            picks.push((agent.id.clone(), item.case_id.clone()));
                            tracing::debug!(tenant = %tenant, agent = %agent.id, case_id = %item.case_id, "offered to an expert of its hot topic");
                        }
                        if picks.len() + made >= MAX_OFFERS_PER_LOOK || given.len() == free.len() {
                            break;
                        }
                    }
                }
                for name in board.queues_by_urgency(now_ms) {
                    let strategy = policies
                        .get(tenant)
                        .and_then(|policies| policies.get(name))
                        .map_or(v1::QueueStrategy::LeastActive, v1::QueuePolicy::strategy);
                    let mut serving: Vec<&Free<'_>> = free
                        .iter()
                        .filter(|agent| {
                            !given.contains(agent.id) && agent.view.queues.iter().any(|served| served == name)
                        })
                        .collect();
                    order_by_strategy(&mut serving, strategy);
                    let only = [name.to_owned()];
                    for agent in serving {
                        let view = agent.view;
                        let taker = Taker {
                            queues: &only,
                            languages: &view.languages,
                            skills: &view.skills,
                            channels: &agent.channels,
                        };
                        let pick = board.best_for_where(&taker, now_ms, |item| {
                            !taken.contains(&item.case_id)
                                && queue.passes.get(&item.case_id).is_none_or(|passed| !passed.contains(agent.id))
                        });
                        if let Some(item) = pick {
                            taken.insert(item.case_id.clone());
                            given.insert(agent.id);
                            picks.push((agent.id.clone(), item.case_id.clone()));
                        }
                        if picks.len() + made >= MAX_OFFERS_PER_LOOK {
                            break;
                        }
                    }
                }
            }
            for (agent, case_id) in picks {
                made += 1;
                match self.queue.offer(tenant, &case_id, &agent, now).await? {
                    Held::Taken(row) => {
                        tracing::debug!(tenant = %tenant, agent = %agent, case_id = %case_id, "offered");
                        queue.apply(&row, risk_window);
                    }
                    Held::Gone => {
                        // Someone else has it, or it ended: the next read says what it is.
                        if let Some(board) = &mut queue.board {
                            board.remove(&case_id);
                        }
                    }
                    Held::NoRoom => {}
                }
            }
            if made >= MAX_OFFERS_PER_LOOK {
                break;
            }
        }
        Ok(())
    }

    /// Reads the experts of the tenant's `hot` topics when they changed, and every
    /// [`EXPERTS_EVERY`] while any is hot (forgets them when none is).
    async fn read_experts(
        &self,
        tenant: &str,
        queue: &mut TenantQueue,
        hot: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        if hot.is_empty() {
            queue.experts.clear();
            queue.experts_read = None;
            return Ok(());
        }
        let fresh = queue.experts_read.as_ref().is_some_and(|(read, at)| read == hot && now - *at < EXPERTS_EVERY);
        if !fresh {
            queue.experts =
                crate::trends::experts(self.queue.db(), tenant, hot).await.context("reading the topics' experts")?;
            queue.experts_read = Some((hot.to_vec(), now));
        }
        Ok(())
    }

    /// Reads the queues' policies, and applies them to the cases that waited too long (at most
    /// every [`RELAX_EVERY`]): skill levels lowered, skills dropped, moved to another queue.
    /// The changed items come back in the next read of changes, with their new requirements.
    async fn relax(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), QueueError> {
        // Policies are few: read at every look, so a change applies at the next.
        let db = self.queue.db();
        let rows = policies::all(db).await.context("reading the queue policies")?;
        state.policies.clear();
        for row in &rows {
            let policy = v1::QueuePolicy::decode(row.body.as_slice())
                .map_err(|error| QueueError::Corrupt(format!("queue policy {}: {error}", row.queue)))?;
            state.policies.entry(row.tenant.clone()).or_default().insert(row.queue.clone(), policy);
        }
        if state.relaxed_at.is_some_and(|at| now - at < RELAX_EVERY) {
            return Ok(());
        }
        state.relaxed_at = Some(now);
        let seconds = |value: u32| (value > 0).then(|| now - chrono::Duration::seconds(i64::from(value)));
        for row in &rows {
            let Some(policy) = state.policies.get(&row.tenant).and_then(|policies| policies.get(&row.queue)) else {
                continue;
            };
            let dropped =
                seconds(policy.drop_skills_after_seconds).map(|at| (v1::Relaxation::SkillsDropped as i32, at));
            let lowered = seconds(policy.relax_after_seconds).map(|at| (v1::Relaxation::LevelsLowered as i32, at));
            let overflow = seconds(policy.overflow_after_seconds).map(|at| (policy.overflow_to.as_str(), at));
            let mut changed = 0;
            for step in [dropped, lowered] {
                let relax = work::Relax { tenant: &row.tenant, queue: &row.queue, step, overflow: None, now };
                changed += work::relax(db, &relax).await.context("relaxing requirements")?;
            }
            let relax = work::Relax { tenant: &row.tenant, queue: &row.queue, step: None, overflow, now };
            changed += work::relax(db, &relax).await.context("overflowing")?;
            if changed > 0 {
                tracing::info!(tenant = %row.tenant, queue = %row.queue, changed, "waiting cases relaxed or overflowed");
            }
        }
        Ok(())
    }
}
