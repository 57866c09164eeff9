//! The universal queue handing out work (docs/QUEUE.md): cases offered to the agents watching
//! their offers, accepted (the case shows the assignee), declined (the next agent gets it),
//! left to expire (the next agent, and the agent set away), pulled with NextWork, never past an
//! agent's capacity; and, with two processes on one database and stream, no case offered to
//! two agents.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend::app::ServiceName;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually};
use tokio_stream::StreamExt as _;
use tonic::Code;

tend_tests::on_both_backends!(
    offers_go_to_watching_agents_within_capacity_and_acceptance_assigns,
    a_declined_or_unanswered_offer_goes_to_the_next_agent,
    next_work_pulls_the_best_case_the_agent_may_take,
    stats_count_what_waits_is_offered_and_had,
    policies_choose_the_agent_and_relax_or_move_what_waits_too_long,
    working_hours_set_agents_offline_and_back,
    a_quiet_watch_sends_heartbeats,
);

/// A watch with nothing to say sends a heartbeat (an event without an offer) after
/// `queue.watch_heartbeat` of quiet, so proxies keep it open; offers still arrive between.
async fn a_quiet_watch_sends_heartbeats(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Routing, ServiceName::Cases], |config| {
        config.queue.dispatch_every = Duration::from_millis(50);
        config.queue.dispatch_lease = Duration::from_secs(2);
        config.queue.watch_heartbeat = Duration::from_millis(300);
    })
    .await;
    agent(&app, "ana", 2, &["en"]).await;
    let mut offers = watch(&app, "ana").await;
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(5), offers.next()).await.expect("a heartbeat in time");
        assert_eq!(event.unwrap().unwrap().offer, None, "a heartbeat carries no offer");
    }
    let case = open(&app, 50, "en").await;
    assert_eq!(next(&mut offers).await.item.unwrap().case_id, case.id);
    app.stop().await;
}

const TENANT: &str = "acme";
/// How long a test waits for the queue to act.
const WAIT: Duration = Duration::from_secs(20);

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Routing, ServiceName::Cases], |config| {
        config.queue.dispatch_every = Duration::from_millis(50);
        config.queue.dispatch_lease = Duration::from_secs(2);
        config.queue.watch_poll = Duration::from_millis(20);
        config.queue.offer_timeout = Duration::from_secs(30);
        config.queue.away_after_missed = 1;
    })
    .await
}

/// Agent `id` in the default queue, taking `x` X posts at once, available.
async fn agent(app: &TestApp, id: &str, x: u32, languages: &[&str]) {
    let agent = v1::Agent {
        id: id.into(),
        languages: languages.iter().map(|language| (*language).to_owned()).collect(),
        capacity: vec![v1::ChannelCapacity { channel: v1::Channel::X.into(), max: x }],
        ..Default::default()
    };
    app.queue().upsert_agent(as_tenant(TENANT, v1::UpsertAgentRequest { agent: Some(agent) })).await.unwrap();
    presence(app, id, v1::Presence::Available).await;
}

async fn presence(app: &TestApp, id: &str, presence: v1::Presence) {
    let request = v1::SetPresenceRequest { agent_id: id.into(), presence: presence.into(), reason: String::new() };
    app.queue().set_presence(as_tenant(TENANT, request)).await.unwrap();
}

/// Opens an X case with `priority`, requiring `language` if given.
async fn open(app: &TestApp, priority: u32, language: &str) -> v1::Case {
    let routing = v1::RoutingOutcome { queue: "default".into(), language: language.into(), ..Default::default() };
    open_with(app, priority, routing).await
}

/// Opens an X case in `queue` requiring `skills`.
async fn open_in(app: &TestApp, queue: &str, skills: &[(&str, u32)]) -> v1::Case {
    let skills = skills.iter().map(|(skill, level)| v1::SkillRequirement { skill: (*skill).into(), level: *level });
    let routing = v1::RoutingOutcome { queue: queue.into(), skills: skills.collect(), ..Default::default() };
    open_with(app, 50, routing).await
}

async fn open_with(app: &TestApp, priority: u32, routing: v1::RoutingOutcome) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: TENANT.into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "my parcel never arrived".into(),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        priority,
        routing: Some(routing),
        ..Default::default()
    };
    app.cases().open_case(as_tenant(TENANT, request)).await.unwrap().into_inner().case.unwrap()
}

async fn case(app: &TestApp, id: &str) -> v1::Case {
    app.cases().get_case(as_tenant(TENANT, v1::GetCaseRequest { id: id.into() })).await.unwrap().into_inner()
}

type Offers = tonic::Streaming<v1::OfferEvent>;

async fn watch(app: &TestApp, agent: &str) -> Offers {
    let request = v1::WatchOffersRequest { agent_id: agent.into() };
    app.queue().watch_offers(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

/// The next offer event of a watch, past heartbeats.
async fn next(offers: &mut Offers) -> v1::Offer {
    loop {
        let event = tokio::time::timeout(WAIT, offers.next()).await.expect("an offer event in time");
        if let Some(offer) = event.unwrap().unwrap().offer {
            return offer;
        }
    }
}

/// Whether a watch gets nothing for a while.
async fn quiet(offers: &mut Offers) -> bool {
    tokio::time::timeout(Duration::from_millis(700), offers.next()).await.is_err()
}

async fn accept(app: &TestApp, offer: &v1::Offer) -> Result<v1::Assignment, tonic::Status> {
    let request = v1::AcceptOfferRequest { offer_id: offer.id.clone(), agent_id: offer.agent_id.clone() };
    app.queue().accept_offer(as_tenant(TENANT, request)).await.map(tonic::Response::into_inner)
}

fn state(offer: &v1::Offer) -> v1::OfferState {
    v1::OfferState::try_from(offer.state).unwrap()
}

fn case_of(offer: &v1::Offer) -> String {
    offer.item.as_ref().unwrap().case_id.clone()
}

async fn offers_go_to_watching_agents_within_capacity_and_acceptance_assigns(backend: Backend) {
    let app = spawn(backend).await;
    agent(&app, "ana", 1, &["en"]).await;
    agent(&app, "ben", 1, &["en"]).await;
    let mut ana = watch(&app, "ana").await;
    let mut ben = watch(&app, "ben").await;

    let first = open(&app, 50, "").await;
    // Both are free and idle: the first by id gets it.
    let offer = next(&mut ana).await;
    assert_eq!(state(&offer), v1::OfferState::Open);
    assert_eq!(case_of(&offer), first.id);
    assert_eq!(offer.item.as_ref().unwrap().channel, i32::from(v1::Channel::X));
    assert!(offer.expires_at.is_some());
    let assignment = accept(&app, &offer).await.unwrap();
    assert_eq!(assignment.agent_id, "ana");
    assert_eq!(next(&mut ana).await.state, i32::from(v1::OfferState::Accepted));
    let assigned = case(&app, &first.id).await;
    assert_eq!(assigned.assignee, "ana");
    assert_eq!(assigned.status, i32::from(v1::CaseStatus::Open));
    // Accepting again is refused: the offer is no longer open.
    assert_eq!(accept(&app, &offer).await.unwrap_err().code(), Code::FailedPrecondition);

    // Ana is full (one X post at once): the next case goes to Ben.
    let second = open(&app, 50, "").await;
    let offer = next(&mut ben).await;
    assert_eq!(case_of(&offer), second.id);
    accept(&app, &offer).await.unwrap();
    assert_eq!(next(&mut ben).await.state, i32::from(v1::OfferState::Accepted));

    // Both full: a third case waits, offered to nobody.
    let third = open(&app, 50, "").await;
    assert!(quiet(&mut ana).await);
    assert!(quiet(&mut ben).await);

    // Ana resolves hers: her room comes back, and the waiting case is offered to her.
    let resolve = v1::ResolveCaseRequest { id: first.id.clone(), note: "sent a new one".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant(TENANT, resolve)).await.unwrap();
    let offer = next(&mut ana).await;
    assert_eq!(case_of(&offer), third.id);

    // A case taken by hand while offered withdraws the offer.
    let request = v1::AssignCaseRequest { id: third.id.clone(), agent_id: "carol".into(), ..Default::default() };
    app.cases().assign_case(as_tenant(TENANT, request)).await.unwrap();
    let withdrawn = next(&mut ana).await;
    assert_eq!((state(&withdrawn), case_of(&withdrawn)), (v1::OfferState::Withdrawn, third.id.clone()));
    assert_eq!(accept(&app, &offer).await.unwrap_err().code(), Code::FailedPrecondition);

    // A watch opened later starts with the open offers.
    let fourth = open(&app, 50, "").await;
    let offer = next(&mut ana).await;
    assert_eq!(case_of(&offer), fourth.id);
    let mut again = watch(&app, "ana").await;
    assert_eq!(next(&mut again).await.id, offer.id);

    // Ana steps away: her open offer is withdrawn, and the case goes to Ben once he has room.
    presence(&app, "ana", v1::Presence::Away).await;
    let withdrawn = next(&mut ana).await;
    assert_eq!((state(&withdrawn), withdrawn.id.clone()), (v1::OfferState::Withdrawn, offer.id.clone()));
    let request = v1::ResolveCaseRequest { id: second.id.clone(), note: "done".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant(TENANT, request)).await.unwrap();
    let offer = loop {
        let offer = next(&mut ben).await;
        if state(&offer) == v1::OfferState::Open {
            break offer;
        }
    };
    assert_eq!(case_of(&offer), fourth.id);

    // Unknown agents are named.
    let request = v1::WatchOffersRequest { agent_id: "nobody".into() };
    let refused = app.queue().watch_offers(as_tenant(TENANT, request)).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    app.stop().await;
}

async fn a_declined_or_unanswered_offer_goes_to_the_next_agent(backend: Backend) {
    let app = spawn(backend).await;
    agent(&app, "ana", 2, &["en"]).await;
    agent(&app, "ben", 2, &["en"]).await;
    let mut ana = watch(&app, "ana").await;
    let mut ben = watch(&app, "ben").await;

    let declined = open(&app, 50, "").await;
    let offer = next(&mut ana).await;
    let request =
        v1::DeclineOfferRequest { offer_id: offer.id.clone(), agent_id: "ana".into(), reason: "not mine".into() };
    let answer = app.queue().decline_offer(as_tenant(TENANT, request)).await.unwrap().into_inner();
    assert_eq!(state(&answer), v1::OfferState::Declined);
    assert_eq!(next(&mut ana).await.state, i32::from(v1::OfferState::Declined));
    // Ben gets it; Ana is never offered it again.
    let offer = next(&mut ben).await;
    assert_eq!(case_of(&offer), declined.id);

    // Ben lets it expire: it goes back, Ana passed on it, so it waits; Ben is set away.
    app.clock.advance(Duration::from_secs(31));
    let expired = next(&mut ben).await;
    assert_eq!((state(&expired), case_of(&expired)), (v1::OfferState::Expired, declined.id.clone()));
    let ben_now = eventually("ben set away", WAIT, || async {
        let request = v1::GetAgentRequest { id: "ben".into() };
        let ben = app.queue().get_agent(as_tenant(TENANT, request)).await.unwrap().into_inner();
        (ben.presence == i32::from(v1::Presence::Away)).then_some(ben)
    })
    .await;
    assert!(ben_now.presence_reason.contains("unanswered"), "{}", ben_now.presence_reason);
    assert!(quiet(&mut ana).await);

    // Carol joins: the case both passed on is hers.
    agent(&app, "carol", 1, &["en"]).await;
    let mut carol = watch(&app, "carol").await;
    let offer = next(&mut carol).await;
    assert_eq!(case_of(&offer), declined.id);
    app.stop().await;
}

async fn next_work_pulls_the_best_case_the_agent_may_take(backend: Backend) {
    let app = spawn(backend).await;
    agent(&app, "ana", 2, &["en"]).await;
    // Busy: nothing is pushed to her, but she may pull.
    presence(&app, "ana", v1::Presence::Busy).await;
    let low = open(&app, 20, "").await;
    let high = open(&app, 80, "").await;
    let spanish = open(&app, 95, "es").await;
    let pull = || async {
        let request = v1::NextWorkRequest { agent_id: "ana".into() };
        app.queue().next_work(as_tenant(TENANT, request)).await.map(|response| response.into_inner().assignment)
    };
    // The queue learns of the cases from cases.events: wait for all three, or the first pull
    // could find only the lower one.
    eventually("three cases waiting", WAIT, || async {
        (stats(&app, "").await.queues.first().is_some_and(|queue| queue.waiting == 3)).then_some(())
    })
    .await;
    let first = pull().await.unwrap().expect("work to pull");
    // The Spanish one is the highest, but she answers in English only.
    assert_eq!(first.item.as_ref().unwrap().case_id, high.id);
    assert_eq!(case(&app, &high.id).await.assignee, "ana");
    let second = pull().await.unwrap().unwrap();
    assert_eq!(second.item.as_ref().unwrap().case_id, low.id);
    // Full (two X posts at once).
    assert!(pull().await.unwrap().is_none());
    assert_eq!(case(&app, &spanish.id).await.assignee, "");

    presence(&app, "ana", v1::Presence::Away).await;
    assert_eq!(pull().await.unwrap_err().code(), Code::FailedPrecondition);
    let request = v1::NextWorkRequest { agent_id: "nobody".into() };
    assert_eq!(app.queue().next_work(as_tenant(TENANT, request)).await.unwrap_err().code(), Code::NotFound);
    let request = v1::NextWorkRequest { agent_id: "Not An Id".into() };
    assert_eq!(app.queue().next_work(as_tenant(TENANT, request)).await.unwrap_err().code(), Code::InvalidArgument);
    app.stop().await;
}

async fn stats(app: &TestApp, queue: &str) -> v1::QueueStats {
    let request = v1::GetQueueStatsRequest { queue: queue.into() };
    app.queue().get_queue_stats(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

async fn stats_count_what_waits_is_offered_and_had(backend: Backend) {
    let app = spawn(backend).await;
    agent(&app, "ana", 1, &["en"]).await;
    agent(&app, "ben", 2, &["en"]).await;
    presence(&app, "ben", v1::Presence::Busy).await;
    agent(&app, "carol", 5, &["en"]).await;
    presence(&app, "carol", v1::Presence::Away).await;
    presence(&app, "ana", v1::Presence::Offline).await;
    for priority in [10, 50, 90, 95] {
        open(&app, priority, "").await;
    }
    eventually("four cases waiting", WAIT, || async {
        (stats(&app, "").await.queues.first().is_some_and(|queue| queue.waiting == 4)).then_some(())
    })
    .await;
    // Ana signs in and is offered the highest; the rest wait.
    presence(&app, "ana", v1::Presence::Available).await;
    let seen = eventually("an offer counted", WAIT, || async {
        let seen = stats(&app, "").await;
        (seen.queues.first().is_some_and(|queue| queue.offered == 1)).then_some(seen)
    })
    .await;
    let default = &seen.queues[0];
    assert_eq!(default.queue, "default");
    assert_eq!((default.waiting, default.offered, default.assigned), (3, 1, 0));
    assert_eq!(default.waiting_by_priority, [1, 0, 1, 0, 1]);
    let presences: Vec<(i32, u32)> = seen.agents.iter().map(|count| (count.presence, count.agents)).collect();
    let presence = |presence: v1::Presence| i32::from(presence);
    let expected =
        [(presence(v1::Presence::Available), 1), (presence(v1::Presence::Busy), 1), (presence(v1::Presence::Away), 1)];
    assert_eq!(presences, expected);
    // Signed in: ana (1) and ben (2); in use: ana's offer.
    assert!((seen.occupancy - 1.0 / 3.0).abs() < 1e-9, "{}", seen.occupancy);

    let request = v1::NextWorkRequest { agent_id: "ben".into() };
    app.queue().next_work(as_tenant(TENANT, request)).await.unwrap().into_inner().assignment.unwrap();
    let seen = stats(&app, "default").await;
    assert_eq!((seen.queues[0].waiting, seen.queues[0].assigned), (2, 1));
    assert!((seen.occupancy - 2.0 / 3.0).abs() < 1e-9, "{}", seen.occupancy);
    assert!(stats(&app, "retention").await.queues.is_empty());
    let request = v1::GetQueueStatsRequest { queue: "Not A Queue".into() };
    let refused = app.queue().get_queue_stats(as_tenant(TENANT, request)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    app.stop().await;
}

async fn policy(app: &TestApp, policy: v1::QueuePolicy) -> Result<v1::QueuePolicy, tonic::Status> {
    let request = v1::PutQueuePolicyRequest { policy: Some(policy) };
    app.queue().put_queue_policy(as_tenant(TENANT, request)).await.map(tonic::Response::into_inner)
}

async fn policies_choose_the_agent_and_relax_or_move_what_waits_too_long(backend: Backend) {
    let app = spawn(backend).await;
    const MINUTE: Duration = Duration::from_secs(60);
    // The default queue offers to the agent with the most room, not the least active.
    let most_available = v1::QueuePolicy {
        queue: "default".into(),
        strategy: v1::QueueStrategy::MostAvailable.into(),
        ..Default::default()
    };
    policy(&app, most_available).await.unwrap();
    agent(&app, "ana", 5, &["en"]).await;
    agent(&app, "ben", 2, &["en"]).await;
    presence(&app, "ana", v1::Presence::Offline).await;
    presence(&app, "ben", v1::Presence::Offline).await;
    let mut ana = watch(&app, "ana").await;
    let handled = open(&app, 50, "").await;
    let request = v1::AssignCaseRequest { id: handled.id.clone(), agent_id: "ana".into(), ..Default::default() };
    app.cases().assign_case(as_tenant(TENANT, request)).await.unwrap();
    eventually("ana's case counted", WAIT, || async {
        (stats(&app, "default").await.queues.first().is_some_and(|queue| queue.assigned == 1)).then_some(())
    })
    .await;
    presence(&app, "ana", v1::Presence::Available).await;
    presence(&app, "ben", v1::Presence::Available).await;
    let second = open(&app, 50, "").await;
    // Ana has 4 places left, Ben 2: least active would have chosen Ben.
    let offer = next(&mut ana).await;
    assert_eq!(case_of(&offer), second.id);
    accept(&app, &offer).await.unwrap();
    assert_eq!(next(&mut ana).await.state, i32::from(v1::OfferState::Accepted));

    // VIP cases wait for gold agents; too long, and levels are lowered, then skills dropped.
    let team = v1::Team { id: "gold".into(), queues: vec!["vip".into()], ..Default::default() };
    app.queue().upsert_team(as_tenant(TENANT, v1::UpsertTeamRequest { team: Some(team) })).await.unwrap();
    let carol = v1::Agent {
        id: "carol".into(),
        teams: vec!["gold".into()],
        skills: vec![v1::AgentSkill { skill: "billing".into(), level: 2 }],
        capacity: vec![v1::ChannelCapacity { channel: v1::Channel::X.into(), max: 3 }],
        ..Default::default()
    };
    app.queue().upsert_agent(as_tenant(TENANT, v1::UpsertAgentRequest { agent: Some(carol) })).await.unwrap();
    presence(&app, "carol", v1::Presence::Available).await;
    let vip = v1::QueuePolicy {
        queue: "vip".into(),
        relax_after_seconds: 600,
        drop_skills_after_seconds: 1_200,
        ..Default::default()
    };
    policy(&app, vip).await.unwrap();
    // Nobody serves "nowhere": after half an hour its cases move to the default queue.
    let nowhere = v1::QueuePolicy {
        queue: "nowhere".into(),
        overflow_after_seconds: 1_800,
        overflow_to: "default".into(),
        ..Default::default()
    };
    policy(&app, nowhere).await.unwrap();
    let expert = open_in(&app, "vip", &[("billing", 3)]).await;
    let legal = open_in(&app, "vip", &[("legal", 1)]).await;
    let lost = open_in(&app, "nowhere", &[]).await;
    let mut carol = watch(&app, "carol").await;
    eventually("three cases waiting", WAIT, || async {
        let seen = stats(&app, "").await;
        (seen.queues.iter().map(|queue| queue.waiting).sum::<u32>() == 3).then_some(())
    })
    .await;
    assert!(quiet(&mut carol).await, "billing:3 and legal are beyond carol");

    app.clock.advance(11 * MINUTE);
    let offer = next(&mut carol).await;
    assert_eq!(case_of(&offer), expert.id);
    let item = offer.item.clone().unwrap();
    assert_eq!(item.relaxation, i32::from(v1::Relaxation::LevelsLowered));
    assert_eq!(item.skills, [v1::SkillRequirement { skill: "billing".into(), level: 2 }]);
    accept(&app, &offer).await.unwrap();

    app.clock.advance(10 * MINUTE);
    let offer = loop {
        let offer = next(&mut carol).await;
        if state(&offer) == v1::OfferState::Open {
            break offer;
        }
    };
    assert_eq!(case_of(&offer), legal.id);
    assert_eq!(offer.item.as_ref().unwrap().relaxation, i32::from(v1::Relaxation::SkillsDropped));
    assert!(offer.item.as_ref().unwrap().skills.is_empty());
    accept(&app, &offer).await.unwrap();

    // It goes to the default queue's agent with the most room: Ana (5 places, 2 taken).
    app.clock.advance(10 * MINUTE);
    let offer = loop {
        let offer = next(&mut ana).await;
        if state(&offer) == v1::OfferState::Open {
            break offer;
        }
    };
    assert_eq!(case_of(&offer), lost.id);
    let item = offer.item.unwrap();
    assert_eq!((item.queue.as_str(), item.overflowed_from.as_str()), ("default", "nowhere"));

    // Policies are listed, and bad ones refused naming the field.
    let listed = app.queue().list_queue_policies(as_tenant(TENANT, v1::ListQueuePoliciesRequest {})).await;
    let queues: Vec<String> = listed.unwrap().into_inner().policies.into_iter().map(|policy| policy.queue).collect();
    assert_eq!(queues, ["default", "nowhere", "vip"]);
    let bad = [
        (v1::QueuePolicy { queue: "Bad Name".into(), ..Default::default() }, "policy.queue"),
        (v1::QueuePolicy { queue: "q".into(), strategy: 9, ..Default::default() }, "policy.strategy"),
        (
            v1::QueuePolicy {
                queue: "q".into(),
                relax_after_seconds: 60,
                drop_skills_after_seconds: 30,
                ..Default::default()
            },
            "policy.drop_skills_after_seconds",
        ),
        (v1::QueuePolicy { queue: "q".into(), overflow_after_seconds: 60, ..Default::default() }, "policy.overflow_to"),
        (
            v1::QueuePolicy {
                queue: "q".into(),
                overflow_after_seconds: 60,
                overflow_to: "q".into(),
                ..Default::default()
            },
            "policy.overflow_to",
        ),
        (
            v1::QueuePolicy { queue: "q".into(), overflow_to: "r".into(), ..Default::default() },
            "policy.overflow_after_seconds",
        ),
    ];
    for (given, field) in bad {
        let refused = policy(&app, given).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }
    app.stop().await;
}

async fn working_hours_set_agents_offline_and_back(backend: Backend) {
    use chrono::Timelike as _;
    use tend_kernel::ids::Clock as _;
    let app = spawn(backend).await;
    // Open one hour a day, every day, starting two hours from now (UTC).
    let now = app.clock.now();
    let hour = (now.hour() + 2) % 24;
    let periods = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(|weekday| v1::WorkingPeriod {
        weekday: weekday.into(),
        start: format!("{hour:02}:00"),
        end: format!("{hour:02}:59"),
    });
    let calendar =
        v1::Calendar { name: "late".into(), time_zone: "UTC".into(), periods: periods.to_vec(), ..Default::default() };
    let request = v1::PutCalendarRequest { calendar: Some(calendar), ..Default::default() };
    app.routing().put_calendar(as_tenant(TENANT, request)).await.unwrap();
    let dana = v1::Agent {
        id: "dana".into(),
        calendar: "late".into(),
        capacity: vec![v1::ChannelCapacity { channel: v1::Channel::X.into(), max: 2 }],
        ..Default::default()
    };
    app.queue().upsert_agent(as_tenant(TENANT, v1::UpsertAgentRequest { agent: Some(dana) })).await.unwrap();
    presence(&app, "dana", v1::Presence::Available).await;
    let get = || async {
        let request = v1::GetAgentRequest { id: "dana".into() };
        app.queue().get_agent(as_tenant(TENANT, request)).await.unwrap().into_inner()
    };
    // Outside her hours: offline, with the reason (hours are checked every 10 s).
    app.clock.advance(Duration::from_secs(11));
    let off = eventually("dana offline outside her hours", WAIT, || async {
        let dana = get().await;
        (dana.presence == i32::from(v1::Presence::Offline)).then_some(dana)
    })
    .await;
    assert_eq!(off.presence_reason, "outside working hours");

    // Ten minutes into her hours: available again.
    let start = now.with_minute(0).unwrap().with_second(0).unwrap() + chrono::Duration::hours(2);
    app.clock.advance((start + chrono::Duration::minutes(10) - app.clock.now()).to_std().unwrap());
    eventually("dana available in her hours", WAIT, || async {
        (get().await.presence == i32::from(v1::Presence::Available)).then_some(())
    })
    .await;
    // Her own choice inside her hours stands.
    presence(&app, "dana", v1::Presence::Away).await;
    app.clock.advance(Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get().await.presence, i32::from(v1::Presence::Away));
    app.stop().await;
}

/// Two processes (routing and cases each) on one PostgreSQL database and one Redis: cases
/// opened while 20 agents accept every offer their desks are shown and resolve their cases when
/// full. Every case is assigned exactly once, no agent is ever offered work past their capacity,
/// and when the first process stops mid-run the second takes the dispatching over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_offer_a_case_twice_nor_past_capacity() {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    const CASES: usize = 400;
    const AGENTS: usize = 20;
    const CAPACITY: usize = 3;
    let (mut config, first_dir, database) = tend_tests::test_config(Backend::PostgresRedis).await;
    config.queue.dispatch_every = Duration::from_millis(50);
    config.queue.dispatch_lease = Duration::from_secs(1);
    config.queue.watch_poll = Duration::from_millis(20);
    let mut second_config = config.clone();
    config.stream.instance = "routing-a".into();
    second_config.stream.instance = "routing-b".into();
    let services = [ServiceName::Routing, ServiceName::Cases];
    let first = TestApp::spawn_config(config, &services, first_dir, None).await;
    let second = Arc::new(TestApp::spawn_config(second_config, &services, tempfile::tempdir().unwrap(), None).await);

    let assigned: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut desks = Vec::new();
    for index in 0..AGENTS {
        let id = format!("agent-{index:02}");
        agent(&second, &id, u32::try_from(CAPACITY).unwrap(), &["en"]).await;
        let mut offers = watch(&second, &id).await;
        let (app, assigned) = (second.clone(), assigned.clone());
        desks.push(tokio::spawn(async move {
            let mut active: Vec<String> = Vec::new();
            while let Ok(Some(Ok(event))) = tokio::time::timeout(Duration::from_secs(5), offers.next()).await {
                let Some(offer) = event.offer else { continue };
                if state(&offer) != v1::OfferState::Open {
                    continue;
                }
                assert!(active.len() < CAPACITY, "{id} offered work with {} cases at once", active.len());
                let Ok(assignment) = accept(&app, &offer).await else { continue };
                let case_id = assignment.item.unwrap().case_id;
                let before = assigned.lock().unwrap().insert(case_id.clone(), id.clone());
                assert!(before.is_none(), "case {case_id} assigned to {before:?} and to {id}");
                active.push(case_id);
                if active.len() == CAPACITY {
                    for case_id in active.drain(..) {
                        let resolve = v1::ResolveCaseRequest { id: case_id, note: "done".into(), ..Default::default() };
                        app.cases().resolve_case(as_tenant(TENANT, resolve)).await.unwrap();
                    }
                }
            }
        }));
    }

    for _ in 0..CASES / 2 {
        open(&second, 50, "").await;
    }
    eventually("half the cases assigned", WAIT, || async {
        (assigned.lock().unwrap().len() >= CASES / 4).then_some(())
    })
    .await;
    // One process stops; the other dispatches what is left and what comes.
    first.halt().await;
    for _ in 0..CASES / 2 {
        open(&second, 50, "").await;
    }
    eventually("every case assigned", Duration::from_secs(60), || async {
        (assigned.lock().unwrap().len() == CASES).then_some(())
    })
    .await;
    for desk in desks {
        desk.await.unwrap();
    }
    let assigned = assigned.lock().unwrap().clone();
    assert_eq!(assigned.len(), CASES);
    for (case_id, agent) in assigned.iter().take(20) {
        assert_eq!(&case(&second, case_id).await.assignee, agent);
    }
    Arc::try_unwrap(second).ok().unwrap().stop().await;
    database.unwrap().drop_database().await;
}
