//! The gRPC face of the universal queue (docs/QUEUE.md): agents and teams, and the work they
//! are offered ([`crate::offers`]) or pull, through the workflows of [`crate::queue`].

use std::sync::Arc;

use sea_orm::{DatabaseConnection, TransactionTrait as _};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use tend_proto::v1;
use tend_store::DbContext as _;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::agents::{self, MAX_AGENTS, MAX_TEAMS};
use crate::offers::{self, OfferFeed};
use crate::queue::Queue;
use crate::storage::agents as stored;
use crate::storage::config as config_storage;
use crate::storage::{policies, work};

/// Most queue policies of a tenant.
const MAX_POLICIES: usize = 1_000;

/// How often a presence change that raced another change of the agent is tried.
const PRESENCE_ATTEMPTS: usize = 5;

/// Implements `tend.v1.QueueService` over the routing service's database.
pub struct QueueApi {
    db: DatabaseConnection,
    queue: Queue,
    feed: Arc<OfferFeed>,
    stop: CancellationToken,
    heartbeat: std::time::Duration,
}

impl QueueApi {
    /// An API over `queue`'s database, streaming offers from `feed` with a heartbeat after
    /// `heartbeat` of quiet; its watches end when `stop` is cancelled.
    pub fn new(queue: Queue, feed: Arc<OfferFeed>, stop: CancellationToken, heartbeat: std::time::Duration) -> Self {
        Self { db: queue.db().clone(), queue, feed, stop, heartbeat }
    }
}

/// The offer id of a request: an id as Tend makes them.
fn offer_id(value: &str) -> Result<String, ApiError> {
    tend_kernel::ids::parse_id("offer_id", value.trim())
}

/// The page a list request asks for: its size, and the agent id it continues after.
fn agent_page(page_size: u32, page_token: &str) -> Result<(u64, Option<String>), ApiError> {
    let limit = match page_size {
        0 => DEFAULT_PAGE_SIZE,
        1..=MAX_PAGE_SIZE => page_size,
        _ => return Err(ApiError::invalid("page_size", format!("must be at most {MAX_PAGE_SIZE}"))),
    };
    let after = match page_token {
        "" => None,
        token => Some(
            agents::name("page_token", token)
                .map_err(|_| ApiError::invalid("page_token", "is not a token from a previous response"))?,
        ),
    };
    Ok((u64::from(limit), after))
}

#[tonic::async_trait]
impl v1::queue_service_server::QueueService for QueueApi {
    type WatchOffersStream = offers::Responses;

    async fn next_work(&self, request: Request<v1::NextWorkRequest>) -> Result<Response<v1::NextWorkResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let agent = agents::name("agent_id", &request.get_ref().agent_id)?;
        caller.require_agent(&agent)?;
        let assignment =
            self.queue.next_work(caller.tenant.as_str(), &agent, self.queue.now()).await.map_err(ApiError::from)?;
        Ok(Response::new(v1::NextWorkResponse { assignment }))
    }

    async fn watch_offers(
        &self,
        request: Request<v1::WatchOffersRequest>,
    ) -> Result<Response<Self::WatchOffersStream>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let agent = agents::name("agent_id", &request.get_ref().agent_id)?;
        caller.require_agent(&agent)?;
        let tenant = caller.tenant.as_str();
        stored::find(&self.db, tenant, &agent)
            .await
            .context("reading the agent")?
            .ok_or_else(|| ApiError::not_found("agent", &agent))?;
        // Subscribed before the open offers are read: an offer made in between arrives by
        // the feed (and once only).
        let subscription = self.feed.subscribe(tenant, &agent)?;
        let open = work::open_offers(&self.db, tenant, &agent).await.context("reading the open offers")?;
        let open = open.iter().map(|row| crate::work::offer(row, v1::OfferState::Open)).collect();
        tracing::info!(agent = %agent, actor = %caller.actor, "offer watch started");
        Ok(Response::new(offers::serve(open, subscription, self.stop.clone(), self.heartbeat)))
    }

    async fn accept_offer(&self, request: Request<v1::AcceptOfferRequest>) -> Result<Response<v1::Assignment>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let agent = agents::name("agent_id", &request.agent_id)?;
        caller.require_agent(&agent)?;
        let offer = offer_id(&request.offer_id)?;
        let assignment = self
            .queue
            .accept(caller.tenant.as_str(), &agent, &offer, self.queue.now())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(assignment))
    }

    async fn get_queue_stats(
        &self,
        request: Request<v1::GetQueueStatsRequest>,
    ) -> Result<Response<v1::QueueStats>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let queue = match request.get_ref().queue.trim() {
            "" => None,
            queue => Some(agents::name("queue", queue)?),
        };
        let stats = self
            .queue
            .stats(caller.tenant.as_str(), queue.as_deref(), self.queue.now())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(stats))
    }

    async fn put_queue_policy(
        &self,
        request: Request<v1::PutQueuePolicyRequest>,
    ) -> Result<Response<v1::QueuePolicy>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().policy.ok_or_else(|| ApiError::invalid("policy", "is required"))?;
        let policy = agents::checked_policy(given)?;
        let tenant = caller.tenant.as_str();
        let existing = policies::of_tenant(&self.db, tenant).await.context("reading the queue policies")?;
        if existing.len() >= MAX_POLICIES && !existing.iter().any(|row| row.queue == policy.queue) {
            return Err(ApiError::quota("queue policies", MAX_POLICIES as u64).into());
        }
        let row = policies::policy::Model {
            tenant: tenant.to_owned(),
            queue: policy.queue.clone(),
            body: prost::Message::encode_to_vec(&policy),
            updated_at: self.queue.now(),
        };
        policies::save(&self.db, row.clone()).await.context("saving the queue policy")?;
        tracing::info!(queue = %row.queue, actor = %caller.actor, "queue policy saved");
        Ok(Response::new(agents::policy_to_proto(&row)?))
    }

    async fn list_queue_policies(
        &self,
        request: Request<v1::ListQueuePoliciesRequest>,
    ) -> Result<Response<v1::ListQueuePoliciesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = policies::of_tenant(&self.db, caller.tenant.as_str()).await.context("reading the queue policies")?;
        let policies = rows.iter().map(agents::policy_to_proto).collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(v1::ListQueuePoliciesResponse { policies }))
    }

    async fn decline_offer(&self, request: Request<v1::DeclineOfferRequest>) -> Result<Response<v1::Offer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let agent = agents::name("agent_id", &request.agent_id)?;
        caller.require_agent(&agent)?;
        let offer = offer_id(&request.offer_id)?;
        let reason = agents::label("reason", &request.reason)?;
        let declined = self
            .queue
            .decline(caller.tenant.as_str(), &agent, &offer, &reason, self.queue.now())
            .await
            .map_err(ApiError::from)?;
        Ok(Response::new(declined))
    }

    async fn upsert_agent(&self, request: Request<v1::UpsertAgentRequest>) -> Result<Response<v1::Agent>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().agent.ok_or_else(|| ApiError::invalid("agent", "is required"))?;
        let definition = agents::checked_agent(given)?;
        let tenant = caller.tenant.as_str();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let teams: Vec<&str> = definition.teams.iter().map(String::as_str).collect();
        let known = stored::existing_teams(&txn, tenant, &teams).await.context("reading the teams")?;
        if let Some(missing) = teams.iter().find(|team| !known.iter().any(|known| known == *team)) {
            return Err(
                ApiError::invalid("agent.teams", format!("no team {missing}: save it with UpsertTeam first")).into()
            );
        }
        if !definition.calendar.is_empty() {
            let calendars = config_storage::calendars(&txn, tenant).await.context("reading the calendars")?;
            if !calendars.iter().any(|calendar| calendar.name == definition.calendar) {
                return Err(ApiError::invalid(
                    "agent.calendar",
                    format!("no calendar {}: save it with PutCalendar first", definition.calendar),
                )
                .into());
            }
        }
        let existing = stored::find(&txn, tenant, &definition.id).await.context("reading the agent")?;
        if existing.is_none() && stored::count(&txn, tenant).await.context("counting agents")? >= MAX_AGENTS {
            return Err(ApiError::quota("agents", MAX_AGENTS).into());
        }
        let row = agents::agent_row(tenant, &definition, existing.as_ref(), self.queue.now());
        stored::save(&txn, row.clone(), existing.is_none()).await.context("saving the agent")?;
        txn.commit().await.context("committing the agent")?;
        tracing::info!(agent = %row.id, version = row.version, actor = %caller.actor, "agent saved");
        Ok(Response::new(agents::agent_to_proto(row)?))
    }

    async fn get_agent(&self, request: Request<v1::GetAgentRequest>) -> Result<Response<v1::Agent>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = agents::name("id", &request.get_ref().id)?;
        let row = stored::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the agent")?
            .ok_or_else(|| ApiError::not_found("agent", &id))?;
        Ok(Response::new(agents::agent_to_proto(row)?))
    }

    async fn list_agents(
        &self,
        request: Request<v1::ListAgentsRequest>,
    ) -> Result<Response<v1::ListAgentsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let (limit, after) = agent_page(request.page_size, &request.page_token)?;
        let team = match request.team.as_str() {
            "" => None,
            team => Some(agents::name("team", team)?),
        };
        let skill = match request.skill.as_str() {
            "" => None,
            skill => Some(agents::name("skill", skill)?),
        };
        let presence = match v1::Presence::try_from(request.presence) {
            Ok(v1::Presence::Unspecified) => None,
            Ok(presence) => Some(i32::from(presence)),
            Err(_) => {
                return Err(ApiError::invalid("presence", format!("{} is not a presence", request.presence)).into());
            }
        };
        let filter = stored::Filter { team: team.as_deref(), presence, skill: skill.as_deref() };
        let rows = stored::list(&self.db, caller.tenant.as_str(), &filter, after.as_deref(), limit)
            .await
            .context("listing agents")?;
        let agents = rows.into_iter().map(agents::agent_to_proto).collect::<Result<Vec<_>, _>>()?;
        // Agents' ids are names, not time-ordered ids: the same keyset page, bounded in bytes.
        let page = tend_kernel::paging::Page { limit, after };
        let (agents, next_page_token) = page.fit(agents, |agent| agent.id.as_str());
        Ok(Response::new(v1::ListAgentsResponse { agents, next_page_token }))
    }

    async fn set_presence(&self, request: Request<v1::SetPresenceRequest>) -> Result<Response<v1::Agent>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let id = agents::name("agent_id", &request.agent_id)?;
        caller.require_agent(&id)?;
        let (presence, reason) = agents::checked_presence(request.presence, &request.reason)?;
        let tenant = caller.tenant.as_str();
        for _ in 0..PRESENCE_ATTEMPTS {
            let row = stored::find(&self.db, tenant, &id)
                .await
                .context("reading the agent")?
                .ok_or_else(|| ApiError::not_found("agent", &id))?;
            let now = self.queue.now();
            if stored::set_presence(&self.db, &row, presence, &reason, now).await.context("setting the presence")? {
                let row = stored::find(&self.db, tenant, &id)
                    .await
                    .context("reading the agent")?
                    .ok_or_else(|| ApiError::not_found("agent", &id))?;
                tracing::info!(agent = %id, presence = row.presence, actor = %caller.actor, "presence set");
                if presence != v1::Presence::Available as i32 {
                    self.queue.withdraw_offers(tenant, &id, now).await.map_err(ApiError::from)?;
                }
                return Ok(Response::new(agents::agent_to_proto(row)?));
            }
        }
        Err(ApiError::Aborted(format!("agent {id} kept changing while its presence was set; retry")).into())
    }

    async fn upsert_team(&self, request: Request<v1::UpsertTeamRequest>) -> Result<Response<v1::Team>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().team.ok_or_else(|| ApiError::invalid("team", "is required"))?;
        let definition = agents::checked_team(given)?;
        let tenant = caller.tenant.as_str();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let existing = stored::find_team(&txn, tenant, &definition.id).await.context("reading the team")?;
        if existing.is_none() && stored::count_teams(&txn, tenant).await.context("counting teams")? >= MAX_TEAMS {
            return Err(ApiError::quota("teams", MAX_TEAMS).into());
        }
        let row = agents::team_row(tenant, &definition, existing.as_ref(), self.queue.now());
        stored::save_team(&txn, row.clone(), existing.is_none()).await.context("saving the team")?;
        txn.commit().await.context("committing the team")?;
        tracing::info!(team = %row.id, actor = %caller.actor, "team saved");
        Ok(Response::new(agents::team_to_proto(row)?))
    }

    async fn list_teams(
        &self,
        request: Request<v1::ListTeamsRequest>,
    ) -> Result<Response<v1::ListTeamsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = stored::teams(&self.db, caller.tenant.as_str()).await.context("listing teams")?;
        let teams = rows.into_iter().map(agents::team_to_proto).collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(v1::ListTeamsResponse { teams }))
    }
}
