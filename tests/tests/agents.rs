//! The universal queue's people over gRPC with named keys: teams and agents kept by an admin,
//! each bad field named, presence set from the agent's desk tool and kept across changes,
//! lists filtered and paged, and nothing seen across tenants.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tend_tests::{Backend, TestApp};
use tonic::Code;

tend_tests::on_both_backends!(
    agents_and_teams_are_kept_with_their_presence,
    lists_filter_by_team_skill_and_presence_and_page_by_id,
    bad_input_is_refused_naming_what_to_fix,
    an_agents_own_key_acts_only_as_that_agent,
);

const ADMIN: &str = "acme-admin-key-0001";
const ANA: &str = "ana-agent-key-00001";
const VIEWER: &str = "acme-viewer-key-001";
const GLOBEX: &str = "globex-admin-key-01";
/// Bo's own key: `agent = "bo"`.
const BO: &str = "bo-own-desk-key-001";

use tend_tests::with_key as by;

/// Routing (with cases), with keys for acme's admin, an agent's desk tool and a viewer, and globex's
/// admin.
async fn spawn(backend: Backend) -> TestApp {
    let key = |key: &str, tenant: &str, role| ApiKeyConfig::plain("", key, Some(tenant), role);
    // Routing opens cases through the cases service: both in one process.
    TestApp::spawn_with(backend, &[ServiceName::Routing, ServiceName::Cases], |config| {
        config.auth.keys = vec![
            key(ADMIN, "acme", Role::Admin),
            key(ANA, "acme", Role::Agent),
            key(VIEWER, "acme", Role::Viewer),
            key(GLOBEX, "globex", Role::Admin),
            ApiKeyConfig { agent: Some("bo".into()), ..key(BO, "acme", Role::Agent) },
        ]
    })
    .await
}

fn team(id: &str, queues: &[&str]) -> v1::UpsertTeamRequest {
    let team = v1::Team {
        id: id.into(),
        queues: queues.iter().map(|queue| (*queue).to_owned()).collect(),
        ..Default::default()
    };
    v1::UpsertTeamRequest { team: Some(team) }
}

fn skill(skill: &str, level: u32) -> v1::AgentSkill {
    v1::AgentSkill { skill: skill.into(), level }
}

fn capacity(channel: v1::Channel, max: u32) -> v1::ChannelCapacity {
    v1::ChannelCapacity { channel: channel.into(), max }
}

fn agent(id: &str, teams: &[&str], skills: Vec<v1::AgentSkill>) -> v1::Agent {
    v1::Agent {
        id: id.into(),
        display_name: format!("Agent {id}"),
        teams: teams.iter().map(|team| (*team).to_owned()).collect(),
        skills,
        languages: vec!["en".into()],
        capacity: vec![capacity(v1::Channel::Chat, 3), capacity(v1::Channel::X, 8)],
        ..Default::default()
    }
}

async fn upsert(app: &TestApp, key: &str, agent: v1::Agent) -> Result<v1::Agent, tonic::Status> {
    app.queue()
        .upsert_agent(by(key, v1::UpsertAgentRequest { agent: Some(agent) }))
        .await
        .map(tonic::Response::into_inner)
}

async fn presence(app: &TestApp, key: &str, id: &str, presence: v1::Presence, reason: &str) -> v1::Agent {
    let request = v1::SetPresenceRequest { agent_id: id.into(), presence: presence.into(), reason: reason.into() };
    app.queue().set_presence(by(key, request)).await.unwrap().into_inner()
}

async fn agents_and_teams_are_kept_with_their_presence(backend: Backend) {
    let app = spawn(backend).await;
    app.queue().upsert_team(by(ADMIN, team("tier1", &["default", "retention"]))).await.unwrap();
    let teams = app.queue().list_teams(by(VIEWER, v1::ListTeamsRequest {})).await.unwrap().into_inner().teams;
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].queues, ["default", "retention"]);

    // A new agent starts offline, at version 1.
    let mut ana = agent("ana", &["tier1"], vec![skill("retention", 4), skill("billing", 0)]);
    ana.languages = vec!["es".into(), "en".into()];
    let saved = upsert(&app, ADMIN, ana.clone()).await.unwrap();
    assert_eq!((saved.presence(), saved.version), (v1::Presence::Offline, 1));
    assert_eq!(saved.skills, [skill("billing", 1), skill("retention", 4)], "sorted, level 0 read as 1");
    assert_eq!(saved.languages, ["en", "es"]);

    // Her desk tool signs her in; a change of her skills keeps her presence.
    let available = presence(&app, ANA, "ana", v1::Presence::Available, "").await;
    assert_eq!((available.presence(), available.version), (v1::Presence::Available, 2));
    ana.skills.push(skill("spanish-legal", 2));
    let changed = upsert(&app, ADMIN, ana).await.unwrap();
    assert_eq!((changed.presence(), changed.version), (v1::Presence::Available, 3));
    assert_eq!(changed.presence_since, available.presence_since);
    assert_eq!(changed.created_at, saved.created_at);
    let away = presence(&app, ANA, "ana", v1::Presence::Away, "lunch").await;
    assert_eq!((away.presence(), away.presence_reason.as_str()), (v1::Presence::Away, "lunch"));
    let got = app.queue().get_agent(by(VIEWER, v1::GetAgentRequest { id: "ana".into() })).await.unwrap().into_inner();
    assert_eq!(got, away);

    // Globex sees none of it, and its own ids are its own.
    let foreign = app.queue().get_agent(by(GLOBEX, v1::GetAgentRequest { id: "ana".into() })).await.unwrap_err();
    assert_eq!(foreign.code(), Code::NotFound);
    let listed = app.queue().list_agents(by(GLOBEX, v1::ListAgentsRequest::default())).await.unwrap().into_inner();
    assert!(listed.agents.is_empty());
    assert!(app.queue().list_teams(by(GLOBEX, v1::ListTeamsRequest {})).await.unwrap().into_inner().teams.is_empty());
    let refused = upsert(&app, GLOBEX, agent("ana", &["tier1"], vec![])).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "globex has no team tier1: {refused:?}");

    // Who may do what: an agent's key sets presence but not definitions, a viewer only reads.
    assert_eq!(upsert(&app, ANA, agent("ben", &[], vec![])).await.unwrap_err().code(), Code::PermissionDenied);
    let request =
        v1::SetPresenceRequest { agent_id: "ana".into(), presence: v1::Presence::Busy.into(), reason: String::new() };
    assert_eq!(app.queue().set_presence(by(VIEWER, request)).await.unwrap_err().code(), Code::PermissionDenied);
    let unknown = v1::SetPresenceRequest {
        agent_id: "nobody".into(),
        presence: v1::Presence::Busy.into(),
        reason: String::new(),
    };
    assert_eq!(app.queue().set_presence(by(ANA, unknown)).await.unwrap_err().code(), Code::NotFound);
    app.stop().await;
}

async fn lists_filter_by_team_skill_and_presence_and_page_by_id(backend: Backend) {
    let app = spawn(backend).await;
    for id in ["tier_1", "tier11", "spanish"] {
        app.queue().upsert_team(by(ADMIN, team(id, &["default"]))).await.unwrap();
    }
    for n in 0..7 {
        let teams: &[&str] = if n % 2 == 0 { &["tier_1", "spanish"] } else { &["tier11"] };
        let skills = if n < 3 { vec![skill("billing", 2)] } else { vec![skill("retention", 5)] };
        upsert(&app, ADMIN, agent(&format!("agent{n}"), teams, skills)).await.unwrap();
    }
    presence(&app, ANA, "agent3", v1::Presence::Available, "").await;
    presence(&app, ANA, "agent4", v1::Presence::Available, "").await;
    let list = async |request: v1::ListAgentsRequest| -> (Vec<String>, String) {
        let page = app.queue().list_agents(by(VIEWER, request)).await.unwrap().into_inner();
        (page.agents.into_iter().map(|agent| agent.id).collect(), page.next_page_token)
    };

    // "tier_1" is not a pattern: tier11's members are not its members.
    let (tier1, _) = list(v1::ListAgentsRequest { team: "tier_1".into(), ..Default::default() }).await;
    assert_eq!(tier1, ["agent0", "agent2", "agent4", "agent6"]);
    let (billing, _) = list(v1::ListAgentsRequest { skill: "billing".into(), ..Default::default() }).await;
    assert_eq!(billing, ["agent0", "agent1", "agent2"]);
    let available = v1::ListAgentsRequest { presence: v1::Presence::Available.into(), ..Default::default() };
    assert_eq!(list(available).await.0, ["agent3", "agent4"]);
    let both = v1::ListAgentsRequest {
        team: "tier_1".into(),
        skill: "retention".into(),
        presence: v1::Presence::Available.into(),
        ..Default::default()
    };
    assert_eq!(list(both).await.0, ["agent4"]);

    // Pages of three, by id, to the end.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (ids, next) = list(v1::ListAgentsRequest { page_size: 3, page_token: token, ..Default::default() }).await;
        seen.extend(ids);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(seen, (0..7).map(|n| format!("agent{n}")).collect::<Vec<_>>());
    app.stop().await;
}

async fn bad_input_is_refused_naming_what_to_fix(backend: Backend) {
    let app = spawn(backend).await;
    let invalid = |status: tonic::Status, field: &str| {
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(&format!("`{field}`")), "should name `{field}`: {:?}", status.message());
    };
    invalid(upsert(&app, ADMIN, agent("Ana Lopez", &[], vec![])).await.unwrap_err(), "agent.id");
    invalid(upsert(&app, ADMIN, agent("ana", &["tier1"], vec![])).await.unwrap_err(), "agent.teams");
    invalid(upsert(&app, ADMIN, agent("ana", &[], vec![skill("billing", 9)])).await.unwrap_err(), "agent.skills");
    let mut twice = agent("ana", &[], vec![]);
    twice.capacity.push(capacity(v1::Channel::Chat, 2));
    invalid(upsert(&app, ADMIN, twice).await.unwrap_err(), "agent.capacity");
    let mut no_calendar = agent("ana", &[], vec![]);
    no_calendar.calendar = "uk-hours".into();
    let status = upsert(&app, ADMIN, no_calendar).await.unwrap_err();
    assert!(status.message().contains("PutCalendar"), "says how to fix it: {status:?}");
    invalid(status, "agent.calendar");
    let missing = app.queue().upsert_agent(by(ADMIN, v1::UpsertAgentRequest { agent: None })).await.unwrap_err();
    invalid(missing, "agent");
    invalid(app.queue().upsert_team(by(ADMIN, team("tier1", &["Default Queue"]))).await.unwrap_err(), "team.queues");

    upsert(&app, ADMIN, agent("ana", &[], vec![])).await.unwrap();
    let request = v1::SetPresenceRequest { agent_id: "ana".into(), presence: 0, reason: String::new() };
    invalid(app.queue().set_presence(by(ANA, request)).await.unwrap_err(), "presence");
    let page = v1::ListAgentsRequest { page_size: 501, ..Default::default() };
    invalid(app.queue().list_agents(by(VIEWER, page)).await.unwrap_err(), "page_size");
    let token = v1::ListAgentsRequest { page_token: "not a token!".into(), ..Default::default() };
    invalid(app.queue().list_agents(by(VIEWER, token)).await.unwrap_err(), "page_token");
    app.stop().await;
}

/// A key of one agent's (`agent = "bo"`) works the queue as bo only: presence, pulling work and
/// watching offers as another agent are PERMISSION_DENIED; a key of no one agent may act for any.
async fn an_agents_own_key_acts_only_as_that_agent(backend: Backend) {
    let app = spawn(backend).await;
    for id in ["ana", "bo"] {
        upsert(&app, ADMIN, agent(id, &[], vec![])).await.unwrap();
    }
    let available = v1::Presence::Available.into();
    let as_bo = v1::SetPresenceRequest { agent_id: "bo".into(), presence: available, reason: String::new() };
    app.queue().set_presence(by(BO, as_bo)).await.unwrap();
    let as_ana = v1::SetPresenceRequest { agent_id: "ana".into(), presence: available, reason: String::new() };
    let refused = app.queue().set_presence(by(BO, as_ana.clone())).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("agent bo"), "{}", refused.message());
    let next = app.queue().next_work(by(BO, v1::NextWorkRequest { agent_id: "ana".into() })).await.unwrap_err();
    assert_eq!(next.code(), tonic::Code::PermissionDenied);
    let watch = app.queue().watch_offers(by(BO, v1::WatchOffersRequest { agent_id: "ana".into() })).await;
    assert_eq!(watch.err().map(|status| status.code()), Some(tonic::Code::PermissionDenied));
    // Ana's desk key is no one agent's: it may act for her, as before.
    app.queue().set_presence(by(ANA, as_ana)).await.unwrap();
    app.stop().await;
}
