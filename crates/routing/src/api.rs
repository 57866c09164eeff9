//! The gRPC face of the routing service: decisions, rule sets, SLA policies, calendars and
//! simulations.

use std::sync::Arc;

use chrono::{Datelike as _, Utc};
use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait as _};
use tend_calendar::{Calendar, HolidaySpec};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{from_timestamp, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::DbContext as _;
use tonic::{Request, Response, Status};

use crate::config::{self, TenantRouting};
use crate::rules::{Problem, RuleSet};
use crate::simulate::{Recorded, simulate};
use crate::storage::config::{self as stored, state};
use crate::storage::{self, decision};

/// Rule-set versions a tenant may keep: each `PutRuleSet` adds one, and a script saving in a loop
/// must not grow the table without end.
pub const MAX_RULE_SET_VERSIONS: i32 = 10_000;
/// Calendars a tenant may have.
pub const MAX_CALENDARS: usize = 500;
/// SLA policies a tenant may have.
pub const MAX_SLA_POLICIES: usize = 1_000;

/// Implements `tend.v1.RoutingService` over the service's database.
pub struct RoutingApi {
    db: DatabaseConnection,
    clusters: Arc<crate::trends::clusters::Clusters>,
    clock: Arc<dyn tend_kernel::ids::Clock>,
    tip_sheet: crate::tipsheet::Sources,
}

impl RoutingApi {
    /// An API over `db`, reading similar posts from `clusters`, on `clock`, assembling the tip
    /// sheet with `tip_sheet`.
    pub fn new(
        db: DatabaseConnection,
        clusters: Arc<crate::trends::clusters::Clusters>,
        clock: Arc<dyn tend_kernel::ids::Clock>,
        tip_sheet: crate::tipsheet::Sources,
    ) -> Self {
        Self { db, clusters, clock, tip_sheet }
    }
}

/// Most decisions one simulation replays.
const MAX_SIMULATED: u32 = 100_000;
/// What a simulation replays when the request says nothing.
const DEFAULT_SIMULATED: u32 = 20_000;
/// Most problems a refused save names in its message.
const PROBLEMS_IN_MESSAGE: usize = 10;

fn to_proto(row: decision::Model) -> v1::RoutingDecision {
    v1::RoutingDecision {
        interaction_id: row.interaction_id,
        case_id: row.case_id,
        priority: u32::try_from(row.priority).unwrap_or(0),
        reasons: row.reasons.lines().map(str::to_owned).collect(),
        decided_at: Some(to_timestamp(row.decided_at)),
        outcome: row.outcome.as_deref().and_then(|bytes| v1::RoutingOutcome::decode(bytes).ok()),
        actionable: row.actionable,
        not_actionable_reason: row.not_actionable_reason,
        rule_errors: row.rule_errors.lines().map(str::to_owned).collect(),
    }
}

fn problem_to_proto(problem: Problem) -> v1::RuleProblem {
    v1::RuleProblem {
        rule: problem.rule,
        field: problem.field,
        line: problem.line,
        column: problem.column,
        message: problem.message,
    }
}

/// Compiles a rule set of a request, or INVALID_ARGUMENT naming its first problems.
fn compiled(version: u32, rule_set: &v1::RuleSet) -> Result<RuleSet, ApiError> {
    RuleSet::compile(version, rule_set).map_err(|problems| {
        let count = problems.len();
        let mut listed: Vec<String> = problems.iter().take(PROBLEMS_IN_MESSAGE).map(ToString::to_string).collect();
        if count > PROBLEMS_IN_MESSAGE {
            listed.push(format!("and {} more (ValidateRuleSet lists them all)", count - PROBLEMS_IN_MESSAGE));
        }
        ApiError::invalid("rule_set", listed.join("; "))
    })
}

fn rule_set_to_proto(row: stored::rule_set::Model) -> Result<v1::RuleSetVersion, ApiError> {
    let rule_set = v1::RuleSet::decode(row.body.as_slice()).map_err(ApiError::internal)?;
    let state = match row.state.as_str() {
        state::ACTIVE => v1::RuleSetState::Active,
        state::RETIRED => v1::RuleSetState::Retired,
        _ => v1::RuleSetState::Draft,
    };
    Ok(v1::RuleSetVersion {
        version: u32::try_from(row.version).unwrap_or(0),
        rule_set: Some(rule_set),
        state: state.into(),
        created_at: Some(to_timestamp(row.created_at)),
        activated_at: row.activated_at.map(to_timestamp),
    })
}

fn version_of(field: &str, version: u32) -> Result<i32, ApiError> {
    i32::try_from(version).map_err(|_| ApiError::invalid(field, "is not a version of this tenant's"))
}

fn field_error((field, message): config::FieldError) -> ApiError {
    ApiError::invalid(field, message)
}

/// The SLA policies a rule set names that do not exist.
fn missing_policies(rule_set: &v1::RuleSet, policies: &[stored::sla_policy::Model]) -> Vec<String> {
    let mut missing: Vec<String> = rule_set
        .rules
        .iter()
        .filter_map(|rule| rule.then.as_ref())
        .map(|then| then.sla_policy.clone())
        .filter(|name| !name.is_empty() && !policies.iter().any(|policy| &policy.name == name))
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

impl RoutingApi {
    /// The tenant's configuration now, with `rules` in place of the active rule set.
    async fn draft(&self, tenant: &str, rules: RuleSet) -> Result<TenantRouting, ApiError> {
        let row = stored::tenant(&self.db, tenant).await.context("reading the tenant")?;
        let config = TenantRouting::load(&self.db, tenant, row.generation, None).await?;
        Ok(TenantRouting { rules, ..config })
    }
}

#[tonic::async_trait]
impl v1::routing_service_server::RoutingService for RoutingApi {
    async fn list_clusters(
        &self,
        request: Request<v1::ListClustersRequest>,
    ) -> Result<Response<v1::ListClustersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let page = tend_kernel::paging::Page::parse(request.page_size, "")?;
        let min_size = if request.min_size == 0 { 2 } else { request.min_size };
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let views = self
            .clusters
            .largest(&self.db, caller.tenant.as_str(), min_size, limit, self.clock.now())
            .await
            .context("reading the similar posts")?;
        Ok(Response::new(v1::ListClustersResponse { clusters: views.into_iter().map(cluster_to_proto).collect() }))
    }

    async fn get_cluster(
        &self,
        request: Request<v1::GetClusterRequest>,
    ) -> Result<Response<v1::GetClusterResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let cluster_id = tend_kernel::ids::parse_id("cluster_id", &request.cluster_id)?;
        let page = tend_kernel::paging::Page::parse(request.page_size, &request.page_token)?;
        let tenant = caller.tenant.as_str();
        let view =
            self.clusters.view(&self.db, tenant, &cluster_id, self.clock.now()).await.context("reading the cluster")?;
        let view = view.ok_or_else(|| ApiError::not_found("cluster", &cluster_id))?;
        let rows = crate::trends::clusters::members(&self.db, tenant, &cluster_id, page.after.as_deref(), page.limit)
            .await
            .context("reading the cluster's posts")?;
        let members: Vec<v1::ClusterMember> = rows
            .into_iter()
            .map(|(interaction_id, case_id, decided_at)| v1::ClusterMember {
                interaction_id,
                case_id,
                decided_at: Some(to_timestamp(decided_at)),
            })
            .collect();
        let next_page_token = page.next_token(&members, |member| member.interaction_id.as_str());
        Ok(Response::new(v1::GetClusterResponse { cluster: Some(cluster_to_proto(view)), members, next_page_token }))
    }

    async fn get_tip_sheet(&self, request: Request<v1::GetTipSheetRequest>) -> Result<Response<v1::TipSheet>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let sheet = crate::tipsheet::assemble(&self.db, &caller.tenant, &self.tip_sheet, self.clock.now()).await?;
        Ok(Response::new(sheet))
    }

    async fn put_care_standards(
        &self,
        request: Request<v1::PutCareStandardsRequest>,
    ) -> Result<Response<v1::CareStandards>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().standards.ok_or_else(|| ApiError::invalid("standards", "required"))?;
        let now = tend_kernel::ids::now();
        let standards = crate::tipsheet::checked_standards(given, now)?;
        crate::tipsheet::storage::put_standards(&self.db, caller.tenant.as_str(), standards.encode_to_vec(), now)
            .await
            .context("saving the care standards")?;
        tracing::info!(actor = %caller.actor, standards = standards.quality_standards.len(), "care standards saved");
        Ok(Response::new(standards))
    }

    async fn list_hot_topics(
        &self,
        request: Request<v1::ListHotTopicsRequest>,
    ) -> Result<Response<v1::ListHotTopicsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let topics = crate::trends::list(&self.db, caller.tenant.as_str(), request.get_ref().hot_only).await?;
        Ok(Response::new(v1::ListHotTopicsResponse { topics }))
    }

    async fn put_escalation_threshold(
        &self,
        request: Request<v1::PutEscalationThresholdRequest>,
    ) -> Result<Response<v1::EscalationThreshold>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().threshold.ok_or_else(|| ApiError::invalid("threshold", "required"))?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let saved = crate::trends::put_threshold(&txn, caller.tenant.as_str(), given, tend_kernel::ids::now()).await?;
        txn.commit().await.context("committing the threshold")?;
        tracing::info!(actor = %caller.actor, threshold = %saved.name, "escalation threshold saved");
        Ok(Response::new(saved))
    }

    async fn list_escalation_thresholds(
        &self,
        request: Request<v1::ListEscalationThresholdsRequest>,
    ) -> Result<Response<v1::ListEscalationThresholdsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = crate::trends::storage::thresholds(&self.db, caller.tenant.as_str())
            .await
            .context("reading the thresholds")?;
        let thresholds = rows.into_iter().map(crate::trends::threshold_to_proto).collect();
        Ok(Response::new(v1::ListEscalationThresholdsResponse { thresholds }))
    }

    async fn delete_escalation_threshold(
        &self,
        request: Request<v1::DeleteEscalationThresholdRequest>,
    ) -> Result<Response<v1::EscalationThreshold>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let removed =
            crate::trends::delete_threshold(&self.db, caller.tenant.as_str(), &request.get_ref().name).await?;
        tracing::info!(actor = %caller.actor, threshold = %removed.name, "escalation threshold removed");
        Ok(Response::new(removed))
    }

    async fn get_routing_decision(
        &self,
        request: Request<v1::GetRoutingDecisionRequest>,
    ) -> Result<Response<v1::RoutingDecision>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("interaction_id", &request.get_ref().interaction_id)?;
        let row = storage::find_by_interaction(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the decision")?
            .ok_or_else(|| ApiError::not_found("routing decision for interaction", &id))?;
        Ok(Response::new(to_proto(row)))
    }

    async fn list_routing_decisions(
        &self,
        request: Request<v1::ListRoutingDecisionsRequest>,
    ) -> Result<Response<v1::ListRoutingDecisionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::list(&self.db, caller.tenant.as_str(), &page).await.context("listing decisions")?;
        // The token is the row's id (the decision's own), which the proto does not carry.
        let pairs: Vec<(String, v1::RoutingDecision)> =
            rows.into_iter().map(|row| (row.id.clone(), to_proto(row))).collect();
        let (pairs, next_page_token) =
            page.fit_by(pairs, |(_, decision)| decision.encoded_len(), |(id, _)| id.as_str());
        Ok(Response::new(v1::ListRoutingDecisionsResponse {
            decisions: pairs.into_iter().map(|(_, decision)| decision).collect(),
            next_page_token,
        }))
    }

    async fn validate_rule_set(
        &self,
        request: Request<v1::ValidateRuleSetRequest>,
    ) -> Result<Response<v1::ValidateRuleSetResponse>, Status> {
        caller(&request)?.require(Access::Read)?;
        let rule_set = request.into_inner().rule_set.ok_or_else(|| ApiError::invalid("rule_set", "required"))?;
        let problems = match RuleSet::compile(0, &rule_set) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(problem_to_proto).collect(),
        };
        Ok(Response::new(v1::ValidateRuleSetResponse { problems }))
    }

    async fn put_rule_set(
        &self,
        request: Request<v1::PutRuleSetRequest>,
    ) -> Result<Response<v1::RuleSetVersion>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let rule_set = request.into_inner().rule_set.ok_or_else(|| ApiError::invalid("rule_set", "required"))?;
        compiled(0, &rule_set)?;
        let tenant = caller.tenant.as_str();
        if stored::latest_rule_set_version(&self.db, tenant).await.context("reading the latest version")?
            >= MAX_RULE_SET_VERSIONS
        {
            return Err(ApiError::quota("rule set versions", MAX_RULE_SET_VERSIONS as u64).into());
        }
        let row = stored::insert_rule_set(&self.db, tenant, rule_set.encode_to_vec(), tend_kernel::ids::now())
            .await
            .context("saving the rule set");
        let row = row.map_err(|error| {
            if error.is_unique_violation() {
                ApiError::Unavailable("another rule set was saved at the same moment; retry".into())
            } else {
                ApiError::from(error)
            }
        })?;
        tracing::info!(tenant, version = row.version, rules = rule_set.rules.len(), "rule set saved");
        Ok(Response::new(rule_set_to_proto(row)?))
    }

    async fn activate_rule_set(
        &self,
        request: Request<v1::ActivateRuleSetRequest>,
    ) -> Result<Response<v1::RuleSetVersion>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let tenant = caller.tenant.as_str();
        let requested = request.into_inner().version;
        let version = version_of("version", requested)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let row = stored::rule_set(&txn, tenant, version)
            .await
            .context("reading the rule set")?
            .ok_or_else(|| ApiError::not_found("rule set version", requested.to_string()))?;
        let rule_set = v1::RuleSet::decode(row.body.as_slice()).map_err(ApiError::internal)?;
        compiled(requested, &rule_set)?;
        let missing =
            missing_policies(&rule_set, &stored::sla_policies(&txn, tenant).await.context("reading SLA policies")?);
        if !missing.is_empty() {
            return Err(ApiError::FailedPrecondition(format!(
                "version {requested} names SLA policies that do not exist: {}; create them with PutSlaPolicy first",
                missing.join(", ")
            ))
            .into());
        }
        stored::activate(&txn, tenant, version, tend_kernel::ids::now()).await.context("activating the rule set")?;
        let row = stored::rule_set(&txn, tenant, version).await.context("reading the rule set")?;
        txn.commit().await.context("committing the activation")?;
        tracing::info!(tenant, version, "rule set activated");
        let row = row.ok_or_else(|| ApiError::not_found("rule set version", requested.to_string()))?;
        Ok(Response::new(rule_set_to_proto(row)?))
    }

    async fn get_rule_set(
        &self,
        request: Request<v1::GetRuleSetRequest>,
    ) -> Result<Response<v1::RuleSetVersion>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let tenant = caller.tenant.as_str();
        let requested = request.into_inner().version;
        let version = if requested == 0 {
            stored::tenant(&self.db, tenant).await.context("reading the tenant")?.active_version.ok_or_else(|| {
                ApiError::not_found("active rule set", "(none: the built-in rules apply; see docs/ROUTING.md)")
            })?
        } else {
            version_of("version", requested)?
        };
        let row = stored::rule_set(&self.db, tenant, version)
            .await
            .context("reading the rule set")?
            .ok_or_else(|| ApiError::not_found("rule set version", version.to_string()))?;
        Ok(Response::new(rule_set_to_proto(row)?))
    }

    async fn list_rule_set_versions(
        &self,
        request: Request<v1::ListRuleSetVersionsRequest>,
    ) -> Result<Response<v1::ListRuleSetVersionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = stored::rule_sets(&self.db, caller.tenant.as_str(), &page).await.context("listing rule sets")?;
        let versions: Vec<String> = rows.iter().map(|row| row.version.to_string()).collect();
        let next_page_token = page.next_token(&versions, String::as_str);
        let versions = rows.into_iter().map(rule_set_to_proto).collect::<Result<_, _>>()?;
        Ok(Response::new(v1::ListRuleSetVersionsResponse { versions, next_page_token }))
    }

    async fn simulate_rule_set(
        &self,
        request: Request<v1::SimulateRuleSetRequest>,
    ) -> Result<Response<v1::SimulationReport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let tenant = caller.tenant.as_str();
        let request = request.into_inner();
        let rules = match request.draft {
            Some(v1::simulate_rule_set_request::Draft::Version(requested)) => {
                let row = stored::rule_set(&self.db, tenant, version_of("version", requested)?)
                    .await
                    .context("reading the rule set")?
                    .ok_or_else(|| ApiError::not_found("rule set version", requested.to_string()))?;
                compiled(requested, &v1::RuleSet::decode(row.body.as_slice()).map_err(ApiError::internal)?)?
            }
            Some(v1::simulate_rule_set_request::Draft::RuleSet(rule_set)) => compiled(0, &rule_set)?,
            None => return Err(ApiError::invalid("draft", "required: a version or a rule set").into()),
        };
        let now = tend_kernel::ids::now();
        let since = request
            .since
            .as_ref()
            .map(|at| from_timestamp("since", at))
            .transpose()?
            .ok_or_else(|| ApiError::invalid("since", "required: the start of the window to replay"))?;
        let until = request.until.as_ref().map(|at| from_timestamp("until", at)).transpose()?.unwrap_or(now);
        if since >= until {
            return Err(ApiError::invalid("since", "must be before `until` (or now)").into());
        }
        let limit = match request.limit {
            0 => DEFAULT_SIMULATED,
            limit if limit <= MAX_SIMULATED => limit,
            limit => return Err(ApiError::invalid("limit", format!("{limit} is above {MAX_SIMULATED}")).into()),
        };
        let draft = self.draft(tenant, rules).await?;
        let rows =
            storage::window(&self.db, tenant, since, until, u64::from(limit)).await.context("reading decisions")?;
        let window: Vec<Recorded> = rows.iter().map(Recorded::of).collect();
        // Thousands of decisions at a few microseconds each: off the async workers.
        let report =
            tokio::task::spawn_blocking(move || simulate(&draft, &window, now)).await.map_err(ApiError::internal)?;
        tracing::info!(tenant, decisions = report.decisions, changed = report.changed, "rule set simulated");
        Ok(Response::new(report))
    }

    async fn put_sla_policy(
        &self,
        request: Request<v1::PutSlaPolicyRequest>,
    ) -> Result<Response<v1::SlaPolicy>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let tenant = caller.tenant.as_str();
        let mut policy = request.into_inner().policy.ok_or_else(|| ApiError::invalid("policy", "required"))?;
        let checked = config::sla_policy(&policy).map_err(field_error)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        // "account" is each post's account's hours, which ingest keeps routing told of.
        if let Some(calendar) = checked.calendar.as_ref().filter(|name| *name != tend_kernel::names::ACCOUNT_CALENDAR) {
            let calendars = stored::calendars(&txn, tenant).await.context("reading calendars")?;
            if !calendars.iter().any(|row| &row.name == calendar) {
                return Err(ApiError::invalid(
                    "policy.calendar",
                    format!("no calendar {calendar:?}: create it with PutCalendar first"),
                )
                .into());
            }
        }
        let now = tend_kernel::ids::now();
        policy.updated_at = Some(to_timestamp(now));
        policy.warn_at_percent = checked.warn_at_percent;
        let row = stored::sla_policy::Model {
            tenant: tenant.to_owned(),
            name: policy.name.clone(),
            body: policy.encode_to_vec(),
            updated_at: now,
        };
        let policies = stored::sla_policies(&txn, tenant).await.context("reading the SLA policies")?;
        if policies.len() >= MAX_SLA_POLICIES && !policies.iter().any(|stored| stored.name == row.name) {
            return Err(ApiError::quota("SLA policies", MAX_SLA_POLICIES as u64).into());
        }
        stored::put_sla_policy(&txn, row).await.context("saving the SLA policy")?;
        txn.commit().await.context("committing the SLA policy")?;
        tracing::info!(tenant, policy = %policy.name, "SLA policy saved");
        Ok(Response::new(policy))
    }

    async fn list_sla_policies(
        &self,
        request: Request<v1::ListSlaPoliciesRequest>,
    ) -> Result<Response<v1::ListSlaPoliciesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = stored::sla_policies(&self.db, caller.tenant.as_str()).await.context("listing SLA policies")?;
        let policies = rows
            .into_iter()
            .map(|row| v1::SlaPolicy::decode(row.body.as_slice()).map_err(ApiError::internal))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(v1::ListSlaPoliciesResponse { policies }))
    }

    async fn put_calendar(&self, request: Request<v1::PutCalendarRequest>) -> Result<Response<v1::Calendar>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let tenant = caller.tenant.as_str();
        let request = request.into_inner();
        let proto = request.calendar.ok_or_else(|| ApiError::invalid("calendar", "required"))?;
        let mut calendar = config::calendar(&proto).map_err(field_error)?;
        if !request.ical.is_empty() {
            calendar = with_ical(calendar, &request.ical, request.ical_years)?;
        }
        let now = tend_kernel::ids::now();
        let saved = config::calendar_to_proto(&proto.name, &calendar, Some(now));
        let row = stored::calendar::Model {
            tenant: tenant.to_owned(),
            name: proto.name.clone(),
            body: saved.encode_to_vec(),
            updated_at: now,
        };
        let calendars = stored::calendars(&self.db, tenant).await.context("reading the calendars")?;
        if calendars.len() >= MAX_CALENDARS && !calendars.iter().any(|stored| stored.name == row.name) {
            return Err(ApiError::quota("calendars", MAX_CALENDARS as u64).into());
        }
        stored::put_calendar(&self.db, row).await.context("saving the calendar")?;
        tracing::info!(tenant, calendar = %proto.name, holidays = saved.holidays.len(), "calendar saved");
        Ok(Response::new(saved))
    }

    async fn list_calendars(
        &self,
        request: Request<v1::ListCalendarsRequest>,
    ) -> Result<Response<v1::ListCalendarsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = stored::calendars(&self.db, caller.tenant.as_str()).await.context("listing calendars")?;
        let calendars = rows
            .into_iter()
            .map(|row| v1::Calendar::decode(row.body.as_slice()).map_err(ApiError::internal))
            .collect::<Result<_, _>>()?;
        Ok(Response::new(v1::ListCalendarsResponse { calendars }))
    }

    async fn export_subject_data(
        &self,
        request: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let subject = tend_client::export::Subject::parse(request.get_ref())?;
        let rows = storage::of_person(&self.db, caller.tenant.as_str(), &subject.customer_id, &subject.profile_ids)
            .await
            .context("reading the decisions")?;
        let decisions: Vec<_> = rows
            .into_iter()
            .map(|row| {
                // What the decision was made from (kept for simulations), when it still is.
                let input = row.input.as_deref().and_then(|bytes| v1::InteractionIdentified::decode(bytes).ok());
                let (customer_id, profile_id) = (row.customer_id.clone(), row.profile_id.clone());
                let time = |at: Option<chrono::DateTime<Utc>>| {
                    at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                };
                let (resolved_at, first_response_at) = (time(row.resolved_at), time(row.first_response_at));
                tend_kernel::proto_json::json!({
                    "customer_id": customer_id,
                    "profile_id": profile_id,
                    "first_response_at": first_response_at,
                    "resolved_at": resolved_at,
                    "decision": tend_client::export::record("RoutingDecision", &to_proto(row)),
                    "input": input.map(|input| tend_client::export::record("InteractionIdentified", &input)),
                })
            })
            .collect();
        let document = tend_kernel::proto_json::json!({ "decisions": decisions });
        Ok(Response::new(tend_client::export::answer(crate::SERVICE, &document)?))
    }
}

/// Most years a yearly iCalendar event is expanded over.
const MAX_ICAL_YEARS: u32 = 20;

/// `calendar` with the holidays of an iCalendar file added (the calendar's own name wins on a
/// date both have), yearly events expanded over `years` from this year (0: 3).
fn with_ical(calendar: Calendar, ics: &str, years: u32) -> Result<Calendar, ApiError> {
    let years = match years {
        0 => 3,
        years if years <= MAX_ICAL_YEARS => years,
        years => return Err(ApiError::invalid("ical_years", format!("{years} is above {MAX_ICAL_YEARS}"))),
    };
    let this_year = Utc::now().year();
    let last_year = this_year + i32::try_from(years).unwrap_or(3) - 1;
    let imported = tend_calendar::import_holidays(ics, calendar.zone(), this_year..=last_year)
        .map_err(|error| ApiError::invalid("ical", error.to_string()))?;
    let mut spec = calendar.to_spec();
    for holiday in imported {
        let date = holiday.date.format("%Y-%m-%d").to_string();
        if !spec.holidays.iter().any(|held| held.date == date) {
            spec.holidays.push(HolidaySpec { date, name: holiday.name });
        }
    }
    Calendar::from_spec(&spec).map_err(|error| ApiError::invalid("ical", error.to_string()))
}

/// A cluster in the contract's terms.
fn cluster_to_proto(view: tend_trends::cluster::ClusterView) -> v1::Cluster {
    v1::Cluster {
        id: view.id,
        size: view.size,
        first_at: Some(to_timestamp(view.first_at)),
        last_at: Some(to_timestamp(view.last_at)),
        growth: view
            .growth
            .into_iter()
            .map(|bucket| v1::ClusterGrowth { start: Some(to_timestamp(bucket.start)), posts: bucket.members })
            .collect(),
    }
}
