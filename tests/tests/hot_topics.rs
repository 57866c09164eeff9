//! Hot topics across the whole pipeline: a burst of posts on one topic turns it hot (with the
//! reason in words), tightens the SLA of its posts and raises their priority, crosses the
//! tenant's escalation threshold and opens exactly one incident in cases that later posts join;
//! hours later, with the burst over, the topic cools, the escalation ends and posts are routed
//! as before.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};
use tokio_stream::StreamExt as _;
use tonic::Code;

tend_tests::on_both_backends!(
    a_burst_turns_its_topic_hot_and_opens_one_incident,
    thresholds_are_checked_and_bounded,
    a_hot_topic_is_offered_to_its_experts_first,
    similar_posts_cluster_and_raise_priority,
    a_cluster_threshold_opens_one_incident_that_later_echoes_join,
    loadgen_traffic_with_a_planted_outage_runs_the_whole_course,
);

const TENANT: &str = "acme";
const HOUR: Duration = Duration::from_secs(3600);

/// Every service, assessing topics every second.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &tend::app::ServiceName::ALL, |config| {
        config.trends.every = Duration::from_secs(1);
        config.trends.lease = Duration::from_secs(3);
        config.trends.refresh_every = Duration::from_millis(200);
        config.queue.dispatch_every = Duration::from_millis(50);
        config.queue.dispatch_lease = Duration::from_secs(2);
        config.queue.watch_poll = Duration::from_millis(20);
    })
    .await
}

async fn ingest(app: &TestApp, author: &str, text: &str) -> v1::Interaction {
    let request = post(author, text);
    app.ingest().ingest_interaction(as_tenant(TENANT, request)).await.unwrap().into_inner().interaction.unwrap()
}

async fn hot_topics(app: &TestApp) -> Vec<v1::HotTopic> {
    let request = v1::ListHotTopicsRequest::default();
    app.routing().list_hot_topics(as_tenant(TENANT, request)).await.unwrap().into_inner().topics
}

async fn case_of(app: &TestApp, interaction_id: &str) -> v1::Case {
    let decision = routed(app, TENANT, interaction_id).await;
    assert!(!decision.case_id.is_empty(), "no case for {interaction_id}: {decision:?}");
    let request = v1::GetCaseRequest { id: decision.case_id };
    app.cases().get_case(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

fn first_response_minutes(interaction: &v1::Interaction, case: &v1::Case) -> i64 {
    let due = case.routing.as_ref().unwrap().sla.as_ref().unwrap().first_response_due.unwrap();
    (due.seconds - interaction.received_at.unwrap().seconds) / 60
}

/// The tenant's "outage" topic (posts with any of `keywords`), an SLA policy of one hour to first
/// response, and a threshold of 20 posts on the outage within 2 hours.
async fn watch_outages(app: &TestApp, keywords: &[&str]) {
    let keywords = keywords.iter().map(|keyword| (*keyword).to_owned()).collect();
    let topics = vec![v1::Topic { name: "outage".into(), keywords }];
    app.enrichment().put_topics(as_tenant(TENANT, v1::PutTopicsRequest { topics })).await.unwrap();
    let policy = v1::SlaPolicy {
        name: "social".into(),
        first_response: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
        ..Default::default()
    };
    app.routing().put_sla_policy(as_tenant(TENANT, v1::PutSlaPolicyRequest { policy: Some(policy) })).await.unwrap();
    let threshold = v1::EscalationThreshold {
        name: "outage-burst".into(),
        topic: "outage".into(),
        posts: 20,
        window_seconds: 7200,
        ..Default::default()
    };
    let request = v1::PutEscalationThresholdRequest { threshold: Some(threshold) };
    app.routing().put_escalation_threshold(as_tenant(TENANT, request)).await.unwrap();
}

async fn a_burst_turns_its_topic_hot_and_opens_one_incident(backend: Backend) {
    let app = spawn(backend).await;
    watch_outages(&app, &["down", "outage"]).await;

    // Before the burst: a post on the topic is routed at the policy's pace.
    let calm = ingest(&app, "early", "is the app down for anyone else? complaint").await;
    let calm_case = case_of(&app, &calm.id).await;
    assert_eq!(first_response_minutes(&calm, &calm_case), 60);
    assert_eq!(calm_case.incident_id, "");

    // The burst: 40 people within a minute, for a topic that usually sees none.
    let mut burst = Vec::new();
    for n in 0..40 {
        let text = format!("app down again, outage number {n} this week, I can't pay my bill. fix it");
        burst.push(ingest(&app, &format!("angry{n}"), &text).await);
    }
    let hot = eventually("the topic turns hot", Duration::from_secs(30), || async {
        hot_topics(&app).await.into_iter().find(|topic| topic.topic == "outage" && topic.hot)
    })
    .await;
    // "41 posts in 10 min, 132× the usual for a Monday evening"
    assert!(hot.reason.starts_with(&format!("{} posts in", hot.posts)) && hot.reason.contains('×'), "{hot:?}");
    assert!(hot.posts >= 10 && hot.heat > 0.5 && hot.hot_since.is_some(), "{hot:?}");

    // The threshold opened exactly one incident, with the burst's cases in it.
    let incident = eventually("the burst's incident", Duration::from_secs(30), || async {
        let request = v1::ListIncidentsRequest::default();
        let listed = app.cases().list_incidents(as_tenant(TENANT, request)).await.ok()?.into_inner().incidents;
        listed.into_iter().find(|incident| incident.members >= 20)
    })
    .await;
    assert_eq!(incident.topic, "outage");
    assert!(incident.escalation_key.starts_with("outage-burst:outage:"), "{incident:?}");
    assert!(incident.trigger.contains("threshold \"outage-burst\""), "{incident:?}");
    let escalated = eventually("the escalation in the hot topic", Duration::from_secs(10), || async {
        hot_topics(&app).await.into_iter().find(|topic| topic.topic == "outage" && !topic.escalation_key.is_empty())
    })
    .await;
    assert_eq!(escalated.escalation_key, incident.escalation_key);

    // A post now: its case joins the incident, its SLA is tightened, its priority raised.
    let late = ingest(&app, "late", "still down, total outage, this is unacceptable").await;
    let late_case = case_of(&app, &late.id).await;
    assert_eq!(late_case.incident_id, incident.id);
    assert_eq!(first_response_minutes(&late, &late_case), 30, "50% of the policy while hot");
    let routing = late_case.routing.as_ref().unwrap();
    assert!(routing.tags.contains(&"hot-topic:outage".to_owned()), "{routing:?}");
    let heat = routing.priority_terms.iter().find(|term| term.name == "topic_heat").unwrap();
    assert!(heat.points > 0, "{heat:?}");
    let request = v1::ListIncidentsRequest::default();
    let incidents = app.cases().list_incidents(as_tenant(TENANT, request)).await.unwrap().into_inner().incidents;
    assert_eq!(incidents.len(), 1, "exactly one incident for the burst: {incidents:?}");

    // Three hours on, nothing new: the topic cools and the escalation ends.
    app.clock.advance(3 * HOUR);
    eventually("the topic cools", Duration::from_secs(30), || async {
        hot_topics(&app)
            .await
            .into_iter()
            .find(|topic| topic.topic == "outage" && !topic.hot && topic.escalation_key.is_empty())
    })
    .await;
    // Let every replica's memory catch up, then a post is routed as before the burst.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = ingest(&app, "after", "app down? complaint").await;
    let after_case = case_of(&app, &after.id).await;
    assert_eq!(after_case.incident_id, "");
    assert_eq!(first_response_minutes(&after, &after_case), 60);
    app.stop().await;
}

async fn thresholds_are_checked_and_bounded(backend: Backend) {
    let app = spawn(backend).await;
    let threshold = |name: &str, posts: u32, window_seconds: u32| v1::PutEscalationThresholdRequest {
        threshold: Some(v1::EscalationThreshold {
            name: name.into(),
            topic: "billing".into(),
            posts,
            window_seconds,
            department: "billing".into(),
            updated_at: None,
            cluster_size: 0,
        }),
    };
    let saved = app.routing().put_escalation_threshold(as_tenant(TENANT, threshold("b", 20, 3600))).await.unwrap();
    assert_eq!(saved.into_inner().posts, 20);
    // Saved again by name: replaced, not added.
    app.routing().put_escalation_threshold(as_tenant(TENANT, threshold("b", 30, 3600))).await.unwrap();
    let listed = app
        .routing()
        .list_escalation_thresholds(as_tenant(TENANT, v1::ListEscalationThresholdsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .thresholds;
    assert_eq!(listed.iter().map(|t| (t.name.as_str(), t.posts)).collect::<Vec<_>>(), [("b", 30)]);

    for (request, field) in [
        (threshold("Bad Name", 20, 3600), "threshold.name"),
        (threshold("b", 1, 3600), "threshold.posts"),
        (threshold("b", 20, 30), "threshold.window_seconds"),
        (threshold("b", 20, 90), "threshold.window_seconds"),
    ] {
        let status = app.routing().put_escalation_threshold(as_tenant(TENANT, request)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().contains(field), "{field}: {status:?}");
    }
    for n in 1..100 {
        app.routing().put_escalation_threshold(as_tenant(TENANT, threshold(&format!("t{n}"), 20, 3600))).await.unwrap();
    }
    let status = app.routing().put_escalation_threshold(as_tenant(TENANT, threshold("t100", 20, 3600))).await;
    assert_eq!(status.unwrap_err().code(), Code::ResourceExhausted);

    let request = v1::DeleteEscalationThresholdRequest { name: "b".into() };
    let removed = app.routing().delete_escalation_threshold(as_tenant(TENANT, request.clone())).await.unwrap();
    assert_eq!(removed.into_inner().name, "b");
    let again = app.routing().delete_escalation_threshold(as_tenant(TENANT, request)).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    app.stop().await;
}

/// Opens a case on `topics` straight through cases (as routing would), in the default queue.
async fn open_on(app: &TestApp, topics: &[&str]) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: TENANT.into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "it's down".into(),
        enrichment: Some(v1::Enrichment {
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        priority: 50,
        routing: Some(v1::RoutingOutcome { queue: "default".into(), ..Default::default() }),
        ..Default::default()
    };
    app.cases().open_case(as_tenant(TENANT, request)).await.unwrap().into_inner().case.unwrap()
}

async fn resolve(app: &TestApp, case_id: &str) {
    let request = v1::ResolveCaseRequest { id: case_id.into(), note: "fixed".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant(TENANT, request)).await.unwrap();
}

async fn agent(app: &TestApp, id: &str) {
    let agent = v1::Agent {
        id: id.into(),
        capacity: vec![v1::ChannelCapacity { channel: v1::Channel::X.into(), max: 5 }],
        ..Default::default()
    };
    app.queue().upsert_agent(as_tenant(TENANT, v1::UpsertAgentRequest { agent: Some(agent) })).await.unwrap();
}

async fn available(app: &TestApp, id: &str) {
    let request =
        v1::SetPresenceRequest { agent_id: id.into(), presence: v1::Presence::Available.into(), reason: String::new() };
    app.queue().set_presence(as_tenant(TENANT, request)).await.unwrap();
}

type Offers = tonic::Streaming<v1::OfferEvent>;

async fn watch(app: &TestApp, agent: &str) -> Offers {
    let request = v1::WatchOffersRequest { agent_id: agent.into() };
    app.queue().watch_offers(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

/// The case of the next offer a watch gets, past heartbeats and other events.
async fn next_offered(offers: &mut Offers) -> String {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), offers.next()).await.expect("an offer in time");
        if let Some(offer) = event.unwrap().unwrap().offer
            && offer.state == i32::from(v1::OfferState::Open)
        {
            return offer.item.unwrap().case_id;
        }
    }
}

/// Zoe resolved outage cases well before; when outage is hot, its new case goes to her, though
/// the queue's strategy (least active, then by id) would give it to Bob; other work still goes
/// by the strategy.
async fn a_hot_topic_is_offered_to_its_experts_first(backend: Backend) {
    let app = spawn(backend).await;
    let topics = vec![v1::Topic { name: "outage".into(), keywords: vec!["down".into(), "outage".into()] }];
    app.enrichment().put_topics(as_tenant(TENANT, v1::PutTopicsRequest { topics })).await.unwrap();

    // Zoe's record: three outage cases resolved within the hour.
    for _ in 0..3 {
        let case = open_on(&app, &["outage"]).await;
        let request = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "zoe".into(), ..Default::default() };
        app.cases().assign_case(as_tenant(TENANT, request)).await.unwrap();
        resolve(&app, &case.id).await;
    }

    // A burst makes outage hot; its cases are dealt with (resolved) before anyone is on duty.
    let mut burst = Vec::new();
    for n in 0..40 {
        burst.push(ingest(&app, &format!("user{n}"), &format!("app down again, outage {n}, fix it")).await);
    }
    eventually("the topic turns hot", Duration::from_secs(30), || async {
        hot_topics(&app).await.into_iter().find(|topic| topic.topic == "outage" && topic.hot)
    })
    .await;
    for interaction in &burst {
        resolve(&app, &case_of(&app, &interaction.id).await.id).await;
    }
    // Let routing see the resolutions (the work items end), read what is hot, and read the
    // experts again (every 5 s while a topic is hot: the first read may have come before
    // Zoe's record was kept, on a busy machine).
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Bob and Zoe come on duty, both free; then an outage case comes in.
    agent(&app, "bob").await;
    agent(&app, "zoe").await;
    let (mut bob, mut zoe) = (watch(&app, "bob").await, watch(&app, "zoe").await);
    available(&app, "bob").await;
    available(&app, "zoe").await;
    let waiting = open_on(&app, &["outage"]).await;
    assert_eq!(next_offered(&mut zoe).await, waiting.id, "the expert of the hot topic first");
    // Other work still goes by the strategy: Bob, who has nothing yet.
    let other = open_on(&app, &[]).await;
    assert_eq!(next_offered(&mut bob).await, other.id);
    app.stop().await;
}

/// Near-duplicates and a repost of one complaint form one cluster: each later one gets the
/// `cluster` priority term, `ListClusters` shows it with its size and `GetCluster` its posts; an
/// unrelated post stays out.
async fn similar_posts_cluster_and_raise_priority(backend: Backend) {
    let app = spawn(backend).await;
    let original = "my order from the spring sale never arrived and nobody at support answers my emails about it";
    let first = ingest(&app, "ann", original).await;
    let mut echoes = Vec::new();
    for (n, ending) in ["at all", "any more", "this week", "since monday", "for days"].iter().enumerate() {
        let text =
            format!("my order from the spring sale never arrived and nobody at support answers my emails {ending}");
        echoes.push(ingest(&app, &format!("echo{n}"), &text).await);
    }
    echoes.push(ingest(&app, "fan", &format!("RT @ann: {original}")).await);
    let unrelated = ingest(&app, "kim", "how do I change the delivery address of an order I placed yesterday?").await;

    for echo in &echoes {
        routed(&app, TENANT, &echo.id).await;
    }
    let last = routed(&app, TENANT, &echoes.last().unwrap().id).await;
    let terms = last.outcome.as_ref().unwrap().priority_terms.clone();
    let cluster =
        terms.iter().find(|term| term.name == "cluster").unwrap_or_else(|| panic!("no cluster term: {terms:?}"));
    assert!(cluster.points > 0 && cluster.detail.contains("similar posts"), "{cluster:?}");
    routed(&app, TENANT, &unrelated.id).await;

    let listed = app
        .routing()
        .list_clusters(as_tenant(TENANT, v1::ListClustersRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .clusters;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].id.as_str(), listed[0].size), (first.id.as_str(), 7));
    assert_eq!(listed[0].growth.iter().map(|hour| hour.posts).sum::<u64>(), 7);

    let request = v1::GetClusterRequest { cluster_id: first.id.clone(), page_size: 4, page_token: String::new() };
    let page = app.routing().get_cluster(as_tenant(TENANT, request)).await.unwrap().into_inner();
    assert_eq!((page.members.len(), page.cluster.unwrap().size), (4, 7));
    let request =
        v1::GetClusterRequest { cluster_id: first.id.clone(), page_size: 4, page_token: page.next_page_token };
    let rest = app.routing().get_cluster(as_tenant(TENANT, request)).await.unwrap().into_inner();
    let mut members: Vec<String> =
        page.members.into_iter().chain(rest.members).map(|member| member.interaction_id).collect();
    members.sort();
    let mut expected: Vec<String> = std::iter::once(&first).chain(&echoes).map(|post| post.id.clone()).collect();
    expected.sort();
    assert_eq!(members, expected);
    let request = v1::GetClusterRequest { cluster_id: unrelated.id.clone(), ..Default::default() };
    let alone = app.routing().get_cluster(as_tenant(TENANT, request)).await.unwrap().into_inner();
    assert_eq!(alone.cluster.unwrap().size, 1);
    let request = v1::GetClusterRequest { cluster_id: uuid::Uuid::now_v7().to_string(), ..Default::default() };
    assert_eq!(app.routing().get_cluster(as_tenant(TENANT, request)).await.unwrap_err().code(), Code::NotFound);
    app.stop().await;
}

/// "A cluster of 5": five near-duplicates open one incident with their cases; a sixth echo's
/// case joins it.
async fn a_cluster_threshold_opens_one_incident_that_later_echoes_join(backend: Backend) {
    let app = spawn(backend).await;
    let threshold = v1::EscalationThreshold { name: "echo-5".into(), cluster_size: 5, ..Default::default() };
    let request = v1::PutEscalationThresholdRequest { threshold: Some(threshold) };
    let saved = app.routing().put_escalation_threshold(as_tenant(TENANT, request)).await.unwrap().into_inner();
    assert_eq!((saved.cluster_size, saved.posts), (5, 0));
    let mixed = v1::EscalationThreshold { name: "bad".into(), cluster_size: 5, posts: 20, ..Default::default() };
    let request = v1::PutEscalationThresholdRequest { threshold: Some(mixed) };
    let status = app.routing().put_escalation_threshold(as_tenant(TENANT, request)).await.unwrap_err();
    assert!(status.message().contains("threshold.posts"), "{status:?}");

    let text = |n: usize| {
        format!("my order from the spring sale never arrived and nobody at support answers my emails, day {n}")
    };
    let mut echoes = Vec::new();
    for n in 0..5 {
        echoes.push(ingest(&app, &format!("router{n}"), &text(n)).await);
    }
    for echo in &echoes {
        case_of(&app, &echo.id).await;
    }
    let incident = eventually("the cluster's incident", Duration::from_secs(30), || async {
        let request = v1::ListIncidentsRequest::default();
        let listed = app.cases().list_incidents(as_tenant(TENANT, request)).await.ok()?.into_inner().incidents;
        listed.into_iter().find(|incident| incident.members == 5)
    })
    .await;
    assert_eq!(incident.cluster_id, echoes[0].id);
    assert!(incident.escalation_key.starts_with("echo-5:cluster:"), "{incident:?}");
    assert!(incident.trigger.contains("a cluster of 5 similar posts"), "{incident:?}");
    // Every replica knows it within a refresh; then the next echo's case joins it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let late = ingest(&app, "router-late", &text(6)).await;
    assert_eq!(case_of(&app, &late.id).await.incident_id, incident.id);
    let request = v1::ListIncidentsRequest::default();
    let incidents = app.cases().list_incidents(as_tenant(TENANT, request)).await.unwrap().into_inner().incidents;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    app.stop().await;
}

/// Sends posts `range` of `traffic` in batches, and returns the stored interactions of the
/// posts that were new.
async fn send(
    app: &TestApp,
    traffic: &tend_loadgen::traffic::Traffic,
    range: std::ops::Range<u64>,
) -> Vec<(tend_loadgen::traffic::Post, v1::Interaction)> {
    let seed = traffic.config().seed;
    let mut sent = Vec::new();
    let indices: Vec<u64> = range.collect();
    for chunk in indices.chunks(100) {
        let posts: Vec<_> = chunk.iter().map(|&index| traffic.post(index)).collect();
        let interactions = posts.iter().map(|post| post.request(seed, None)).collect();
        let request = v1::IngestBatchRequest { interactions };
        let results = app.ingest().ingest_batch(as_tenant(TENANT, request)).await.unwrap().into_inner().results;
        for (post, result) in posts.into_iter().zip(results) {
            match result.outcome {
                Some(v1::ingest_batch_result::Outcome::Ok(ok)) if !ok.duplicate => {
                    sent.push((post, ok.interaction.unwrap()))
                }
                Some(v1::ingest_batch_result::Outcome::Ok(_)) => {}
                other => panic!("post {} refused: {other:?}", post.index),
            }
        }
    }
    sent
}

/// Issue 12's course on `tend loadgen`'s own traffic (its generator, seeded): calm traffic,
/// then a planted outage burst of posts, near-duplicates and reposts of one viral complaint in
/// five languages. The outage turns hot, its posts' SLA tightens and their priority rises with
/// the cluster they echo, the threshold opens exactly one incident that later posts join, and
/// three hours after the burst the topic has cooled.
async fn loadgen_traffic_with_a_planted_outage_runs_the_whole_course(backend: Backend) {
    use tend_loadgen::traffic::{Kind, Traffic, TrafficConfig};
    let app = spawn(backend).await;
    let keywords = ["down", "outage", "503", "caído", "caída", "panne", "inaccessible", "störung", "baixo", "service"];
    watch_outages(&app, &keywords).await;

    let mut config = TrafficConfig::new(12, "burst");
    config.burst = Some(100..480);
    config.burst_share = 0.9;
    let traffic = Traffic::new(config);

    // Calm: nothing is hot.
    let calm = send(&app, &traffic, 0..100).await;
    eventually("the calm posts routed", Duration::from_secs(60), || async {
        let request = v1::ListRoutingDecisionsRequest { page_size: 200, ..Default::default() };
        let listed = app.routing().list_routing_decisions(as_tenant(TENANT, request)).await.ok()?.into_inner();
        (listed.decisions.len() >= calm.len()).then_some(())
    })
    .await;
    assert!(hot_topics(&app).await.iter().all(|topic| !topic.hot), "nothing hot before the burst");

    // The burst.
    let burst = send(&app, &traffic, 100..400).await;
    let outage_posts = burst.iter().filter(|(post, _)| post.kind == Kind::Outage).count();
    assert!(outage_posts > 200, "the planted burst: {outage_posts} outage posts");
    let hot = eventually("the outage turns hot", Duration::from_secs(60), || async {
        hot_topics(&app).await.into_iter().find(|topic| topic.topic == "outage" && topic.hot)
    })
    .await;
    assert!(hot.heat > 0.5 && hot.reason.contains('×'), "{hot:?}");
    let incident = eventually("the burst's incident", Duration::from_secs(60), || async {
        let request = v1::ListIncidentsRequest::default();
        let listed = app.cases().list_incidents(as_tenant(TENANT, request)).await.ok()?.into_inner().incidents;
        listed.into_iter().find(|incident| incident.members >= 20)
    })
    .await;
    assert_eq!(incident.topic, "outage");

    // Later posts of the burst: they join the incident, on a tightened SLA, and an echo of the
    // viral complaint carries the cluster's weight in its priority.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = send(&app, &traffic, 400..480).await;
    let (mut cases, mut joined, mut clustered) = (0, 0, 0);
    for (post, interaction) in later.iter().filter(|(post, _)| post.kind == Kind::Outage) {
        let decision = routed(&app, TENANT, &interaction.id).await;
        if decision.case_id.is_empty() {
            continue;
        }
        let case = case_of(&app, &interaction.id).await;
        // An echo that lost the topic's words in the copying is in the cluster, not on the topic.
        if !case.topics.contains(&"outage".to_owned()) {
            continue;
        }
        cases += 1;
        if case.incident_id == incident.id {
            joined += 1;
            assert_eq!(first_response_minutes(interaction, &case), 30, "50% of the policy while hot: {post:?}");
        }
        let terms = &case.routing.as_ref().unwrap().priority_terms;
        if terms.iter().any(|term| term.name == "cluster" && term.points > 0) {
            clustered += 1;
        }
    }
    assert!(cases > 10 && joined == cases, "every later post on the outage joins the incident: {joined} of {cases}");
    assert!(clustered > 0, "echoes of the viral complaint rank by their cluster");
    let request = v1::ListIncidentsRequest::default();
    let incidents = app.cases().list_incidents(as_tenant(TENANT, request)).await.unwrap().into_inner().incidents;
    assert_eq!(incidents.len(), 1, "exactly one incident for the burst: {incidents:?}");

    // Three hours on, the burst over: the topic cools.
    app.clock.advance(3 * HOUR);
    eventually("the outage cools", Duration::from_secs(30), || async {
        hot_topics(&app).await.into_iter().find(|topic| topic.topic == "outage" && !topic.hot)
    })
    .await;
    app.stop().await;
}
