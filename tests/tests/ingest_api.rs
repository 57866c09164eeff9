//! The ingest API as a connector sees it: validation of every required field (INVALID_ARGUMENT
//! naming the field), size and timestamp limits, normalisation, deduplication (sequential and
//! concurrent), `IngestBatch` per-item results, `ListInteractions` paging and `GetInteraction`
//! look-ups. Only the ingest service runs, so nothing downstream interferes.
//!
//! Scenarios that store or publish run on both backends; pure request validation runs on the
//! embedded backend only.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually, post};
use tonic::Code;

tend_tests::on_both_backends!(
    posts_are_normalised_and_stored_as_normalised,
    duplicate_post_returns_the_first_interaction_and_publishes_once,
    concurrent_copies_of_one_post_store_it_once,
    batch_returns_one_result_per_post_in_order,
    list_interactions_pages_newest_first,
    a_page_of_large_posts_stops_before_a_clients_limit,
);

/// Starts ingest alone on `backend`.
async fn ingest_only(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Ingest], |_| {}).await
}

/// `interaction` with its times cut to whole microseconds, the precision PostgreSQL keeps; see
/// [`stored_interaction_reads_back_exactly_as_returned`] for why this is needed.
fn to_micros(mut interaction: v1::Interaction) -> v1::Interaction {
    for time in [&mut interaction.posted_at, &mut interaction.received_at].into_iter().flatten() {
        time.nanos -= time.nanos % 1_000;
    }
    interaction
}

/// Asserts that `status` is INVALID_ARGUMENT naming `field` the way the API names fields.
#[track_caller]
fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "message should name `{field}`: {:?}", status.message());
}

/// A field a test breaks, and how.
type Breaker = (&'static str, fn(&mut v1::IngestInteractionRequest));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_missing_required_field_is_rejected_by_name() {
    let app = ingest_only(Backend::Embedded).await;
    let breakers: [Breaker; 8] = [
        ("channel", |r| r.channel = v1::Channel::Unspecified.into()),
        ("channel", |r| r.channel = 99),
        ("external_id", |r| r.external_id = "   ".into()),
        ("author", |r| r.author = None),
        ("author.external_id", |r| {
            if let Some(author) = r.author.as_mut() {
                author.external_id.clear();
            }
        }),
        ("text", |r| r.text.clear()),
        ("text", |r| r.text = " \n\t ".into()),
        ("external_id", |r| r.external_id = "x".repeat(257)),
    ];
    for (field, break_it) in breakers {
        let mut request = post("ana", "hello");
        break_it(&mut request);
        let status = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, field);
    }
    // Nothing was stored.
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert!(listed.unwrap().into_inner().interactions.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_over_64_kib_is_rejected_and_64_kib_is_accepted() {
    let app = ingest_only(Backend::Embedded).await;
    let too_big = post("ana", &"a".repeat(64 * 1024 + 1));
    let status = app.ingest().ingest_interaction(as_tenant("acme", too_big)).await.unwrap_err();
    assert_invalid(&status, "text");
    assert!(status.message().contains("65536"), "{:?}", status.message());

    // The limit counts bytes of UTF-8: 32 Ki two-byte characters are exactly 64 KiB.
    let exactly = post("ana", &"é".repeat(32 * 1024));
    let stored = app.ingest().ingest_interaction(as_tenant("acme", exactly)).await.unwrap().into_inner();
    assert_eq!(stored.interaction.unwrap().text.len(), 64 * 1024);
    let over = post("ana", &format!("{}a", "é".repeat(32 * 1024)));
    let status = app.ingest().ingest_interaction(as_tenant("acme", over)).await.unwrap_err();
    assert_invalid(&status, "text");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_at_with_nanos_out_of_range_is_rejected() {
    let app = ingest_only(Backend::Embedded).await;
    for nanos in [-1, 1_000_000_000, i32::MAX] {
        let mut request = post("ana", "hello");
        request.posted_at = Some(tend_proto::Timestamp { seconds: 1_700_000_000, nanos });
        let status = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, "posted_at");
    }
    // A valid time is kept as sent.
    let mut request = post("ana", "hello");
    let sent = tend_proto::Timestamp { seconds: 1_700_000_000, nanos: 123_456_000 };
    request.posted_at = Some(sent);
    let stored = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!(stored.interaction.unwrap().posted_at, Some(sent));
    app.stop().await;
}

/// Issue 14, defect 6: a time protobuf can't hold (year 10000, year 0) is refused, not stored
/// for clients to fail on when they read it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_at_outside_protobufs_range_is_rejected() {
    let app = ingest_only(Backend::Embedded).await;
    // 10000-01-01T00:00:00Z, and one second before 0001-01-01T00:00:00Z.
    for seconds in [253_402_300_800, -62_135_596_801, i64::MAX] {
        let mut request = post("ana", "hello");
        request.posted_at = Some(tend_proto::Timestamp { seconds, nanos: 0 });
        let status = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, "posted_at");
    }
    // The ends of the range are fine.
    for seconds in [253_402_300_799, -62_135_596_800] {
        let mut request = post("ana", "hello");
        request.posted_at = Some(tend_proto::Timestamp { seconds, nanos: 0 });
        let stored = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
        assert_eq!(stored.interaction.unwrap().posted_at.unwrap().seconds, seconds);
    }
    app.stop().await;
}

/// Issue 14, defect 9: a text of only control and zero-width characters is as blank as an empty
/// one; an author's email must be an address; a post's link must be http(s), never
/// `javascript:`. Each is INVALID_ARGUMENT naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_text_odd_emails_and_non_http_links_are_rejected() {
    let app = ingest_only(Backend::Embedded).await;
    let cases: [Breaker; 7] = [
        ("text", |r| r.text = "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}".into()),
        ("text", |r| r.text = "\u{0}\u{1}\u{7}\u{1B}\u{7F}\u{200E}\u{202E} \r\n".into()),
        ("author.email", |r| r.author.as_mut().unwrap().email = "jane".into()),
        ("author.email", |r| r.author.as_mut().unwrap().email = "<script>@x".into()),
        ("url", |r| r.url = "javascript:alert(document.cookie)".into()),
        ("url", |r| r.url = "JavaScript://x.com/%0Aalert(1)".into()),
        ("url", |r| r.url = "data:text/html,<script>alert(1)</script>".into()),
    ];
    for (field, break_it) in cases {
        let mut request = post("ana", "hello");
        break_it(&mut request);
        let status = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, field);
    }
    let mut request = post("ana", "hello");
    request.url = "https://x.com/ana/status/1".into();
    request.author.as_mut().unwrap().email = "Ana@Example.com".into();
    let stored = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    let interaction = stored.interaction.unwrap();
    assert_eq!(interaction.url, "https://x.com/ana/status/1");
    assert_eq!(interaction.author.unwrap().email, "ana@example.com");
    app.stop().await;
}

/// A `google.protobuf.Timestamp` must have nanos in 0..=999_999_999, whatever the seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_at_with_leap_second_nanos_is_rejected() {
    let app = ingest_only(Backend::Embedded).await;
    let mut request = post("ana", "hello");
    // 1_699_999_979 % 60 == 59: chrono reads 1.5e9 nanos as a leap second.
    request.posted_at = Some(tend_proto::Timestamp { seconds: 1_699_999_979, nanos: 1_500_000_000 });
    let status = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap_err();
    assert_invalid(&status, "posted_at");
    app.stop().await;
}

async fn posts_are_normalised_and_stored_as_normalised(backend: Backend) {
    let app = ingest_only(backend).await;
    let request = v1::IngestInteractionRequest {
        channel: v1::Channel::Email.into(),
        external_id: "  msg-1789 ".into(),
        author: Some(v1::Author {
            external_id: " u-1 ".into(),
            handle: " @x ".into(),
            display_name: "  Jane\u{0007} Doe ".into(),
            email: " Jane.Doe@Example.COM ".into(),
            followers: 42,
            verified: true,
            location: " Leeds,\u{0007} UK ".into(),
        }),
        text: "  Cafe\u{301} order\r\n la\u{0000}te  ".into(),
        in_reply_to_external_id: " msg-1000 ".into(),
        url: " https://example.invalid/1 ".into(),
        ..Default::default()
    };
    let stored = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    assert!(!stored.duplicate);
    let interaction = stored.interaction.unwrap();
    let check = |interaction: &v1::Interaction| {
        assert_eq!(interaction.tenant, "acme");
        assert_eq!(interaction.channel(), v1::Channel::Email);
        assert_eq!(interaction.external_id, "msg-1789");
        // NFC: "e" + combining acute becomes the one character "é"; the NUL is dropped.
        assert_eq!(interaction.text, "Café order\n late");
        assert_eq!(interaction.text.chars().filter(|c| *c == 'é').count(), 1);
        assert_eq!(interaction.in_reply_to_external_id, "msg-1000");
        assert_eq!(interaction.url, "https://example.invalid/1");
        let author = interaction.author.as_ref().unwrap();
        assert_eq!(author.external_id, "u-1");
        assert_eq!(author.handle, "x");
        assert_eq!(author.display_name, "Jane Doe");
        assert_eq!(author.email, "jane.doe@example.com");
        assert_eq!(author.location, "Leeds, UK");
        assert_eq!(author.followers, 42);
        assert!(author.verified);
        assert!(interaction.posted_at.is_some());
        assert!(interaction.received_at.is_some());
        assert!(uuid::Uuid::parse_str(&interaction.id).is_ok(), "{}", interaction.id);
    };
    check(&interaction);
    // What the database gives back is the same normalised post.
    let request = as_tenant("acme", v1::GetInteractionRequest { id: interaction.id.clone() });
    let fetched = app.ingest().get_interaction(request).await.unwrap().into_inner();
    check(&fetched);
    assert_eq!(to_micros(fetched), to_micros(interaction));
    app.stop().await;
}

/// Decodes every `InteractionReceived` on the stream, oldest first.
async fn received_events(stream: &dyn tend_queue::EventStream) -> Vec<v1::InteractionReceived> {
    let envelopes = envelopes(stream, "interactions.received").await;
    envelopes
        .iter()
        .map(|envelope| {
            assert_eq!(envelope.r#type, "tend.v1.InteractionReceived");
            assert_eq!(envelope.source, "ingest");
            v1::InteractionReceived::decode(envelope.payload.as_slice()).unwrap()
        })
        .collect()
}

async fn duplicate_post_returns_the_first_interaction_and_publishes_once(backend: Backend) {
    let app = ingest_only(backend).await;
    let first_request = post("sam", "where is my refund");
    let first = app.ingest().ingest_interaction(as_tenant("acme", first_request.clone())).await.unwrap().into_inner();
    assert!(!first.duplicate);
    let first = first.interaction.unwrap();

    // Same channel and channel id (after trimming), different text: a duplicate, answered with
    // the interaction stored the first time.
    let mut again = first_request.clone();
    again.external_id = format!("  {} ", first_request.external_id);
    again.text = "edited text".into();
    let second = app.ingest().ingest_interaction(as_tenant("acme", again)).await.unwrap().into_inner();
    assert!(second.duplicate);
    assert_eq!(second.interaction.map(to_micros), Some(to_micros(first.clone())));

    // The same channel id on another channel is another post.
    let mut elsewhere = first_request;
    elsewhere.channel = v1::Channel::Facebook.into();
    let other = app.ingest().ingest_interaction(as_tenant("acme", elsewhere)).await.unwrap().into_inner();
    assert!(!other.duplicate);
    let other = other.interaction.unwrap();
    assert_ne!(other.id, first.id);

    // Two interactions stored, two events published, and none for the duplicate: the events
    // leave the outbox in order, so once the second is there the duplicate would be too.
    let stream = app.event_stream().await;
    let events = eventually("two interactions.received events", Duration::from_secs(5), || async {
        let events = received_events(stream.as_ref()).await;
        (events.len() >= 2).then_some(events)
    })
    .await;
    let ids: Vec<_> = events.iter().map(|event| event.interaction.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids, vec![first.id.clone(), other.id.clone()]);
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert_eq!(listed.unwrap().into_inner().interactions.len(), 2);
    app.stop().await;
}

async fn concurrent_copies_of_one_post_store_it_once(backend: Backend) {
    let app = ingest_only(backend).await;
    let request = post("sam", "same post, eight connectors");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut client = app.ingest();
        let request = request.clone();
        calls.spawn(async move { client.ingest_interaction(as_tenant("acme", request)).await });
    }
    let mut responses = Vec::new();
    while let Some(joined) = calls.join_next().await {
        responses.push(joined.unwrap().unwrap().into_inner());
    }
    assert_eq!(responses.iter().filter(|response| !response.duplicate).count(), 1, "{responses:?}");
    let ids: std::collections::HashSet<_> =
        responses.iter().map(|response| response.interaction.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert_eq!(listed.unwrap().into_inner().interactions.len(), 1);
    app.stop().await;
}

async fn batch_returns_one_result_per_post_in_order(backend: Backend) {
    use v1::ingest_batch_result::Outcome;

    let app = ingest_only(backend).await;
    let good = post("ana", "first good");
    let mut no_text = post("ana", "");
    no_text.text.clear();
    let other_good = post("bob", "second good");
    let mut no_channel = post("bob", "no channel");
    no_channel.channel = 0;
    let mut no_author_id = post("cy", "no author id");
    if let Some(author) = no_author_id.author.as_mut() {
        author.external_id.clear();
    }
    let interactions =
        vec![good.clone(), no_text, other_good, no_channel, good, no_author_id, post("dee", "third good")];
    let request = as_tenant("acme", v1::IngestBatchRequest { interactions });
    let results = app.ingest().ingest_batch(request).await.unwrap().into_inner().results;
    assert_eq!(results.len(), 7);
    let outcomes: Vec<_> = results.into_iter().map(|result| result.outcome.unwrap()).collect();

    let stored = |outcome: &Outcome| match outcome {
        Outcome::Ok(response) => response.clone(),
        Outcome::Error(error) => panic!("expected a stored post, got error {error:?}"),
    };
    let error = |outcome: &Outcome| match outcome {
        Outcome::Error(error) => error.clone(),
        Outcome::Ok(response) => panic!("expected an error, got {response:?}"),
    };
    let first = stored(&outcomes[0]);
    assert!(!first.duplicate);
    assert_eq!(first.interaction.as_ref().unwrap().text, "first good");
    assert!(error(&outcomes[1]).contains("`text`"), "{:?}", outcomes[1]);
    let second = stored(&outcomes[2]);
    assert!(!second.duplicate);
    assert_eq!(second.interaction.as_ref().unwrap().text, "second good");
    assert!(error(&outcomes[3]).contains("`channel`"), "{:?}", outcomes[3]);
    // The repeat of the first post within the batch is a duplicate of it.
    let repeat = stored(&outcomes[4]);
    assert!(repeat.duplicate);
    assert_eq!(repeat.interaction.map(to_micros), first.interaction.map(to_micros));
    assert!(error(&outcomes[5]).contains("`author.external_id`"), "{:?}", outcomes[5]);
    assert_eq!(stored(&outcomes[6]).interaction.unwrap().text, "third good");

    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert_eq!(listed.unwrap().into_inner().interactions.len(), 3);
    app.stop().await;
}

/// What IngestInteraction answers is what GetInteraction (and a duplicate) later reads back,
/// to the nanosecond.
async fn stored_interaction_reads_back_exactly_as_returned(backend: Backend) {
    let app = ingest_only(backend).await;
    let mut request = post("ana", "exact times");
    request.posted_at = Some(tend_proto::Timestamp { seconds: 1_700_000_000, nanos: 123_456_789 });
    let returned = app.ingest().ingest_interaction(as_tenant("acme", request.clone())).await.unwrap().into_inner();
    let returned = returned.interaction.unwrap();
    let request_again = as_tenant("acme", request);
    let duplicate = app.ingest().ingest_interaction(request_again).await.unwrap().into_inner();
    let get = as_tenant("acme", v1::GetInteractionRequest { id: returned.id.clone() });
    let fetched = app.ingest().get_interaction(get).await.unwrap().into_inner();
    assert_eq!(fetched, returned);
    assert_eq!(duplicate.interaction, Some(returned));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_interaction_reads_back_exactly_as_returned_embedded() {
    stored_interaction_reads_back_exactly_as_returned(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_interaction_reads_back_exactly_as_returned_postgres_redis() {
    stored_interaction_reads_back_exactly_as_returned(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_of_zero_or_more_than_500_posts_is_rejected() {
    let app = ingest_only(Backend::Embedded).await;
    let empty = as_tenant("acme", v1::IngestBatchRequest { interactions: vec![] });
    assert_invalid(&app.ingest().ingest_batch(empty).await.unwrap_err(), "interactions");

    let too_many = (0..501).map(|n| post("ana", &format!("post {n}"))).collect();
    let status = app.ingest().ingest_batch(as_tenant("acme", v1::IngestBatchRequest { interactions: too_many })).await;
    let status = status.unwrap_err();
    assert_invalid(&status, "interactions");
    assert!(status.message().contains("501"), "{:?}", status.message());
    // The batch was refused whole: nothing was stored.
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert!(listed.unwrap().into_inner().interactions.is_empty());
    app.stop().await;
}

async fn list_interactions_pages_newest_first(backend: Backend) {
    let app = ingest_only(backend).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let request = as_tenant("acme", post("ana", &format!("post {n}")));
        ids.push(app.ingest().ingest_interaction(request).await.unwrap().into_inner().interaction.unwrap().id);
    }
    // Another tenant's posts never show up.
    app.ingest().ingest_interaction(as_tenant("globex", post("gus", "not yours"))).await.unwrap();
    ids.reverse();

    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let request = as_tenant("acme", v1::ListInteractionsRequest { page_size: 2, page_token: token.clone() });
        let page = app.ingest().list_interactions(request).await.unwrap().into_inner();
        let page_ids: Vec<_> = page.interactions.iter().map(|i| i.id.clone()).collect();
        assert!(page.interactions.iter().all(|i| i.tenant == "acme"));
        pages.push((page_ids, page.next_page_token.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages.len() < 5, "paging does not end: {pages:?}");
        token = page.next_page_token;
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages[0].0, ids[0..2]);
    assert_eq!(pages[1].0, ids[2..4]);
    assert_eq!(pages[2].0, ids[4..5]);
    assert!(!pages[0].1.is_empty());
    assert!(!pages[1].1.is_empty());
    assert!(pages[2].1.is_empty());

    // page_size 0 means the default (50): everything on one page, no token.
    let all = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    let all = all.unwrap().into_inner();
    assert_eq!(all.interactions.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), ids);
    assert!(all.next_page_token.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_interactions_rejects_bad_page_size_and_token() {
    let app = ingest_only(Backend::Embedded).await;
    let request = as_tenant("acme", v1::ListInteractionsRequest { page_size: 501, page_token: String::new() });
    assert_invalid(&app.ingest().list_interactions(request).await.unwrap_err(), "page_size");
    let request = as_tenant("acme", v1::ListInteractionsRequest { page_size: 500, page_token: String::new() });
    assert!(app.ingest().list_interactions(request).await.is_ok());
    for garbage in ["garbage", "0192f0c1", "' OR 1=1 --"] {
        let request = as_tenant("acme", v1::ListInteractionsRequest { page_size: 2, page_token: garbage.into() });
        assert_invalid(&app.ingest().list_interactions(request).await.unwrap_err(), "page_token");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_interaction_not_found_for_unknown_id_and_invalid_for_non_uuid() {
    let app = ingest_only(Backend::Embedded).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let status =
        app.ingest().get_interaction(as_tenant("acme", v1::GetInteractionRequest { id: unknown.clone() })).await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&unknown), "{:?}", status.message());
    for bad in ["not-a-uuid", ""] {
        let request = as_tenant("acme", v1::GetInteractionRequest { id: bad.into() });
        assert_invalid(&app.ingest().get_interaction(request).await.unwrap_err(), "id");
    }
    app.stop().await;
}

/// 40 posts of 60 KiB are 2.4 MB: a page of them stops before 2 MiB, under a client's 4 MiB
/// limit, and the next page goes on where it stopped, until every post was listed once.
async fn a_page_of_large_posts_stops_before_a_clients_limit(backend: Backend) {
    let app = ingest_only(backend).await;
    let mut ingest = app.ingest();
    for n in 0..40 {
        let text = format!("{n} {}", "large post ".repeat(60 * 1024 / 11));
        ingest.ingest_interaction(as_tenant("acme", post("ana", &text))).await.unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let request = v1::ListInteractionsRequest { page_size: 100, page_token };
        let page = ingest.list_interactions(as_tenant("acme", request)).await.unwrap().into_inner();
        assert!(page.encoded_len() < 2 * 1024 * 1024 + 64 * 1024, "{} bytes", page.encoded_len());
        pages += 1;
        for interaction in page.interactions {
            assert!(seen.insert(interaction.id), "an interaction listed twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!((seen.len(), pages > 1), (40, true), "{pages} pages");
    app.stop().await;
}
