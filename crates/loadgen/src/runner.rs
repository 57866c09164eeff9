//! Sending the load, sampling the backlog, and following the posts to cases.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use tend_proto::v1::{
    self, case_service_client::CaseServiceClient, feedback_service_client::FeedbackServiceClient,
    ingest_service_client::IngestServiceClient, routing_service_client::RoutingServiceClient,
};
use tokio::sync::watch;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::args::LoadgenArgs;
use crate::report::{
    Ack, Backlog, CallCounts, CrmFile, EndToEnd, Latency, Mix, PostCounts, Report, Sample, Settings, thousands,
};
use crate::rng::mix;
use crate::target::check_loopback;
use crate::text::Language;
use crate::traffic::{CHANNELS, Kind, Post, Traffic, TrafficConfig, channel_name};

/// The tenant header Tend reads when authentication is off (or for service keys).
const TENANT_HEADER: &str = "x-tend-tenant";
/// ListCases' largest page.
const CASES_PAGE: u32 = 500;
const MESSAGE_LIMIT: usize = 64 << 20;

const FEEDBACK_UNKNOWN: u8 = 0;
const FEEDBACK_ANSWERING: u8 = 1;
const FEEDBACK_ABSENT: u8 = 2;
const NOT_KNOWN: u64 = u64::MAX;

/// The headers every call carries.
#[derive(Debug, Clone)]
struct Headers {
    tenant: MetadataValue<Ascii>,
    authorization: Option<MetadataValue<Ascii>>,
}

impl Headers {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(TENANT_HEADER, self.tenant.clone());
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        request
    }
}

/// How the posts are spread over calls and time.
#[derive(Debug, Clone)]
struct Plan {
    rate: Option<f64>,
    /// At most this many posts.
    total: Option<u64>,
    duration: Option<Duration>,
    batch: u64,
    unary: bool,
    /// Rate mode: stop issuing calls this long after the start (the server fell behind).
    hard_stop: Option<Duration>,
}

/// What the callers, the sampler and the drain share.
struct Shared {
    plan: Plan,
    traffic: Traffic,
    headers: Headers,
    seed: u64,
    t0: Instant,
    t0_sys: SystemTime,
    next_batch: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    new: AtomicU64,
    feedback_cases: AtomicU64,
    feedback_state: AtomicU8,
    draining: AtomicU8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    New,
    Duplicate,
    Rejected,
    Failed,
}

/// One post as sent and answered.
#[derive(Debug, Clone, Copy)]
struct PostRecord {
    index: u64,
    /// Scheduled send time, from the start, in microseconds.
    offset_us: u64,
    key: u128,
    outcome: Outcome,
    redelivery_of: Option<u64>,
}

/// Counts of what was sent, cheap to bump.
#[derive(Debug, Default)]
struct MixCounter {
    kinds: [u64; 8],
    languages: [u64; 5],
    channels: [u64; 6],
    burst: u64,
    influencers: u64,
    verified: u64,
    known: u64,
    orders: u64,
}

impl MixCounter {
    fn count(&mut self, post: &Post) {
        self.kinds[Kind::ALL.iter().position(|k| *k == post.kind).unwrap_or(0)] += 1;
        self.languages[Language::ALL.iter().position(|l| *l == post.language).unwrap_or(0)] += 1;
        self.channels[CHANNELS.iter().position(|c| *c == post.channel).unwrap_or(0)] += 1;
        self.burst += u64::from(post.in_burst);
        self.influencers += u64::from(post.author.is_influencer());
        self.verified += u64::from(post.author.verified);
        self.known += u64::from(post.author.known);
        let bytes = post.text.as_bytes();
        self.orders += u64::from(bytes.windows(2).any(|w| w[0] == b'#' && w[1].is_ascii_digit()));
    }

    fn into_mix(self) -> Mix {
        let named = |names: Vec<&str>, counts: &[u64]| -> BTreeMap<String, u64> {
            names.into_iter().zip(counts).filter(|(_, n)| **n > 0).map(|(name, n)| (name.to_owned(), *n)).collect()
        };
        Mix {
            kinds: named(Kind::ALL.iter().map(|k| k.name()).collect(), &self.kinds),
            languages: named(Language::ALL.iter().map(|l| l.code()).collect(), &self.languages),
            channels: named(CHANNELS.iter().map(|c| channel_name(*c)).collect(), &self.channels),
            burst: self.burst,
            influencers: self.influencers,
            verified: self.verified,
            known_customers: self.known,
            order_numbers: self.orders,
        }
    }
}

/// What one caller did.
#[derive(Debug, Default)]
struct CallerOutput {
    latency_us: Vec<u64>,
    posts: Vec<PostRecord>,
    calls: u64,
    ok: u64,
    errors: BTreeMap<String, u64>,
    error_messages: BTreeMap<String, u64>,
    rejection_messages: BTreeMap<String, u64>,
    mix: MixCounter,
    last_answer: Option<Instant>,
}

fn sample_message(messages: &mut BTreeMap<String, u64>, message: &str) {
    let message: String = message.chars().take(200).collect();
    if let Some(n) = messages.get_mut(&message) {
        *n += 1;
    } else if messages.len() < 10 {
        messages.insert(message, 1);
    }
}

/// The gRPC status code's canonical name.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A compact key for an interaction id: the UUID's 128 bits, or a 128-bit hash of another id.
pub(crate) fn interaction_key(id: &str) -> u128 {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() == 32
        && let Ok(value) = u128::from_str_radix(&hex, 16)
    {
        return value;
    }
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in id.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        b = mix(b ^ u64::from(byte));
    }
    (u128::from(a) << 64) | u128::from(b)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Post `index`'s scheduled send time from the start, in rate mode.
fn due(index: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

type Answer = Result<(bool, String), String>;

async fn send(
    ingest: &mut IngestServiceClient<Channel>,
    shared: &Shared,
    requests: Vec<v1::IngestInteractionRequest>,
) -> Result<Vec<Answer>, tonic::Status> {
    if shared.plan.unary {
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let response = ingest.ingest_interaction(shared.headers.request(request)).await?.into_inner();
            answers.push(match response.interaction {
                Some(interaction) => Ok((response.duplicate, interaction.id)),
                None => Err("answered without an interaction".to_owned()),
            });
        }
        return Ok(answers);
    }
    let n = requests.len();
    let response = ingest
        .ingest_batch(shared.headers.request(v1::IngestBatchRequest { interactions: requests }))
        .await?
        .into_inner();
    if response.results.len() != n {
        return Err(tonic::Status::data_loss(format!("{} results for a batch of {n}", response.results.len())));
    }
    Ok(response
        .results
        .into_iter()
        .map(|result| match result.outcome {
            Some(v1::ingest_batch_result::Outcome::Ok(ok)) => match ok.interaction {
                Some(interaction) => Ok((ok.duplicate, interaction.id)),
                None => Err("answered without an interaction".to_owned()),
            },
            Some(v1::ingest_batch_result::Outcome::Error(message)) => Err(message),
            None => Err("empty result".to_owned()),
        })
        .collect())
}

async fn caller(shared: Arc<Shared>, channel: Channel) -> CallerOutput {
    let mut ingest = IngestServiceClient::new(channel)
        .max_decoding_message_size(MESSAGE_LIMIT)
        .max_encoding_message_size(MESSAGE_LIMIT);
    let mut out = CallerOutput::default();
    let plan = &shared.plan;
    loop {
        let k = shared.next_batch.fetch_add(1, Ordering::Relaxed);
        let start = k.saturating_mul(plan.batch);
        let mut end = start.saturating_add(plan.batch);
        if let Some(total) = plan.total {
            if start >= total {
                break;
            }
            end = end.min(total);
        }
        // The call is due when its last post is (a connector sends a batch once it is full).
        let call_due = match plan.rate {
            Some(rate) => {
                let call_due = due(end - 1, rate);
                tokio::time::sleep_until((shared.t0 + call_due).into()).await;
                if plan.hard_stop.is_some_and(|stop| shared.t0.elapsed() > stop) {
                    break;
                }
                call_due
            }
            None => {
                let now = shared.t0.elapsed();
                if plan.duration.is_some_and(|duration| now >= duration) {
                    break;
                }
                now
            }
        };
        let posts: Vec<Post> = (start..end).map(|index| shared.traffic.post(index)).collect();
        let offsets: Vec<Duration> =
            posts.iter().map(|post| plan.rate.map_or(call_due, |rate| due(post.index, rate))).collect();
        let requests = posts
            .iter()
            .zip(&offsets)
            .map(|(post, offset)| post.request(shared.seed, Some(shared.t0_sys + *offset)))
            .collect();
        for post in &posts {
            out.mix.count(post);
        }
        shared.sent.fetch_add(posts.len() as u64, Ordering::Relaxed);
        out.calls += 1;
        let result = send(&mut ingest, &shared, requests).await;
        let answered = Instant::now();
        out.latency_us.push(micros(answered.saturating_duration_since(shared.t0 + call_due)));
        out.last_answer = Some(answered);
        let record = |post: &Post, offset: &Duration, key: u128, outcome: Outcome| PostRecord {
            index: post.index,
            offset_us: micros(*offset),
            key,
            outcome,
            redelivery_of: post.redelivery_of,
        };
        match result {
            Ok(answers) => {
                out.ok += 1;
                let (mut acked, mut new) = (0, 0);
                for ((post, offset), answer) in posts.iter().zip(&offsets).zip(answers) {
                    match answer {
                        Ok((duplicate, id)) => {
                            acked += 1;
                            new += u64::from(!duplicate);
                            let outcome = if duplicate { Outcome::Duplicate } else { Outcome::New };
                            out.posts.push(record(post, offset, interaction_key(&id), outcome));
                        }
                        Err(message) => {
                            sample_message(&mut out.rejection_messages, &message);
                            out.posts.push(record(post, offset, 0, Outcome::Rejected));
                        }
                    }
                }
                shared.acked.fetch_add(acked, Ordering::Relaxed);
                shared.new.fetch_add(new, Ordering::Relaxed);
            }
            Err(status) => {
                *out.errors.entry(code_name(status.code()).to_owned()).or_default() += 1;
                sample_message(&mut out.error_messages, &format!("{}: {}", code_name(status.code()), status.message()));
                for (post, offset) in posts.iter().zip(&offsets) {
                    out.posts.push(record(post, offset, 0, Outcome::Failed));
                }
            }
        }
    }
    out
}

/// Asks feedback how many cases it has seen opened since the start.
async fn feedback_cases(feedback: &mut FeedbackServiceClient<Channel>, shared: &Shared) -> Result<u64, tonic::Status> {
    let from = shared.t0_sys.checked_sub(Duration::from_secs(1)).unwrap_or(shared.t0_sys);
    let request = v1::GetServiceReportRequest { from: Some(from.into()), ..Default::default() };
    let call = feedback.get_service_report(shared.headers.request(request));
    match tokio::time::timeout(Duration::from_millis(900), call).await {
        Ok(answer) => Ok(answer?.into_inner().cases_opened),
        Err(_) => Err(tonic::Status::deadline_exceeded("feedback did not answer within 900 ms")),
    }
}

async fn sampler(
    shared: Arc<Shared>,
    channel: Channel,
    mut stop: watch::Receiver<bool>,
    quiet: bool,
) -> (Vec<Sample>, Option<String>) {
    let mut feedback = FeedbackServiceClient::new(channel);
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    interval.tick().await;
    let mut samples = Vec::new();
    let mut failures = 0;
    let mut note = None;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => break,
        }
        let t = shared.t0.elapsed().as_secs_f64();
        let mut cases = None;
        if shared.feedback_state.load(Ordering::Relaxed) != FEEDBACK_ABSENT {
            match feedback_cases(&mut feedback, &shared).await {
                Ok(opened) => {
                    shared.feedback_state.store(FEEDBACK_ANSWERING, Ordering::Relaxed);
                    shared.feedback_cases.store(opened, Ordering::Relaxed);
                    cases = Some(opened);
                }
                Err(status) => {
                    failures += 1;
                    let absent = status.code() == tonic::Code::Unimplemented
                        || (shared.feedback_state.load(Ordering::Relaxed) == FEEDBACK_UNKNOWN && failures >= 5);
                    if absent {
                        shared.feedback_state.store(FEEDBACK_ABSENT, Ordering::Relaxed);
                        note = Some(if status.code() == tonic::Code::Unimplemented {
                            "the feedback service is not running here: no backlog samples".to_owned()
                        } else {
                            format!(
                                "feedback did not answer ({}: {}): no backlog samples",
                                code_name(status.code()),
                                status.message()
                            )
                        });
                    }
                }
            }
        }
        let sent = shared.sent.load(Ordering::Relaxed);
        let acked = shared.acked.load(Ordering::Relaxed);
        let new = shared.new.load(Ordering::Relaxed);
        let backlog = cases.map(|cases| new as i64 - cases as i64);
        let phase = if shared.draining.load(Ordering::Relaxed) == 0 { "send" } else { "drain" };
        if !quiet && samples.len() % 5 == 4 {
            let cases_text = match (cases, backlog) {
                (Some(cases), Some(backlog)) => format!(", cases {} (backlog {backlog})", thousands(cases)),
                _ => String::new(),
            };
            eprintln!("loadgen: {t:>5.0} s {phase}: sent {}, acked {}{cases_text}", thousands(sent), thousands(acked));
        }
        samples.push(Sample { t: (t * 1000.0).round() / 1000.0, phase, sent, acked, new, cases, backlog });
    }
    (samples, note)
}

/// The acknowledged new posts, by interaction.
struct Expected {
    keys: HashMap<u128, u32>,
    offsets_us: Vec<u64>,
}

struct Scan {
    hits: Vec<u8>,
    latencies_us: Vec<u64>,
    last_opened_us: Option<u64>,
    cases: u64,
    foreign: u64,
}

impl Scan {
    fn lost(&self) -> u64 {
        self.hits.iter().filter(|hits| **hits == 0).count() as u64
    }
}

async fn scan_cases(
    cases: &mut CaseServiceClient<Channel>,
    shared: &Shared,
    expected: &Expected,
) -> Result<Scan, tonic::Status> {
    let mut scan = Scan {
        hits: vec![0; expected.offsets_us.len()],
        latencies_us: Vec::with_capacity(expected.offsets_us.len()),
        last_opened_us: None,
        cases: 0,
        foreign: 0,
    };
    let mut page_token = String::new();
    loop {
        let request = v1::ListCasesRequest { status: 0, page_size: CASES_PAGE, page_token };
        let page = cases.list_cases(shared.headers.request(request)).await?.into_inner();
        for case in page.cases {
            let opened_us = case
                .opened_at
                .and_then(|at| SystemTime::try_from(at).ok())
                .and_then(|at| at.duration_since(shared.t0_sys).ok())
                .map(micros);
            let mut ours = false;
            for id in &case.interaction_ids {
                let Some(&slot) = expected.keys.get(&interaction_key(id)) else {
                    scan.foreign += 1;
                    continue;
                };
                ours = true;
                let hits = &mut scan.hits[slot as usize];
                *hits = hits.saturating_add(1);
                if *hits == 1
                    && let Some(opened) = opened_us
                    && opened >= expected.offsets_us[slot as usize]
                {
                    scan.latencies_us.push(opened - expected.offsets_us[slot as usize]);
                }
            }
            if ours {
                scan.cases += 1;
                scan.last_opened_us = scan.last_opened_us.max(opened_us);
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(scan);
        }
        page_token = page.next_page_token;
    }
}

async fn wait_for_feedback(shared: &Shared, expected: u64, deadline: Instant) {
    while shared.feedback_state.load(Ordering::Relaxed) == FEEDBACK_ANSWERING
        && shared.feedback_cases.load(Ordering::Relaxed) < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Saves and activates the run's rule set for the tenant. Routing not being reachable is a
/// note (the run measures ingest alone); a refusal is an error.
async fn install_rules(
    channel: &Channel,
    headers: &Headers,
    count: u64,
    notes: &mut Vec<String>,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut routing = RoutingServiceClient::new(channel.clone());
    let rule_set = crate::rules::rule_set(usize::try_from(count).unwrap_or(0));
    let saved = match routing.put_rule_set(headers.request(v1::PutRuleSetRequest { rule_set: Some(rule_set) })).await {
        Ok(saved) => saved.into_inner(),
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            notes.push("the routing service is not running here: no rules installed".to_owned());
            return Ok(());
        }
        Err(status) => anyhow::bail!("installing the rules: {}: {}", code_name(status.code()), status.message()),
    };
    let request = v1::ActivateRuleSetRequest { version: saved.version };
    routing.activate_rule_set(headers.request(request)).await.map_err(|status| {
        anyhow::anyhow!("activating the rules: {}: {}", code_name(status.code()), status.message())
    })?;
    if !quiet {
        eprintln!("loadgen: routing with {count} rules (version {})", saved.version);
    }
    Ok(())
}

/// Waits until every expected post is on a case (or the timeout), and measures.
async fn drain(
    shared: &Shared,
    channel: Channel,
    expected: &Expected,
    timeout: Duration,
    notes: &mut Vec<String>,
) -> Option<EndToEnd> {
    let mut cases = CaseServiceClient::new(channel.clone()).max_decoding_message_size(MESSAGE_LIMIT);
    let mut feedback = FeedbackServiceClient::new(channel);
    let n = expected.offsets_us.len() as u64;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut last: Option<Scan> = None;
    loop {
        wait_for_feedback(shared, n, deadline).await;
        match scan_cases(&mut cases, shared, expected).await {
            Ok(scan) => {
                let complete = scan.lost() == 0;
                last = Some(scan);
                if complete {
                    break;
                }
            }
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                notes.push("the cases service is not running here: posts were not followed to cases".to_owned());
                return None;
            }
            Err(status) => {
                let message = format!("listing cases failed: {}: {}", code_name(status.code()), status.message());
                if !notes.contains(&message) {
                    notes.push(message);
                }
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drain_seconds = start.elapsed().as_secs_f64();
    let Some(mut scan) = last else {
        notes.push("cases could not be listed: nothing to count".to_owned());
        return None;
    };
    // End to end is post -> case seen by feedback: give feedback the same deadline to catch up.
    let lost = scan.lost();
    if lost == 0 {
        wait_for_feedback(shared, n, deadline).await;
    }
    let cases_seen_by_feedback = match shared.feedback_state.load(Ordering::Relaxed) {
        FEEDBACK_ABSENT => None,
        _ => feedback_cases(&mut feedback, shared).await.ok(),
    };
    let seconds = scan.last_opened_us.map_or(0.0, |us| us as f64 / 1e6);
    let posts_with_case = n - lost;
    Some(EndToEnd {
        expected: n,
        cases: scan.cases,
        posts_with_case,
        lost,
        duplicated: scan.hits.iter().filter(|hits| **hits > 1).count() as u64,
        foreign: scan.foreign,
        complete: lost == 0,
        drain_seconds,
        seconds,
        posts_per_s: if seconds > 0.0 { posts_with_case as f64 / seconds } else { 0.0 },
        latency_ms: Latency::from_micros(&mut scan.latencies_us),
        cases_seen_by_feedback,
    })
}

/// The run's nominal length and pace, to place the burst by post number.
fn burst_window(args: &LoadgenArgs) -> Option<Range<u64>> {
    if args.no_burst || args.burst_share == 0.0 {
        return None;
    }
    let duration = args.duration.map(|d| d.as_secs_f64());
    let count = args.count.map(|c| c as f64);
    let (length, pace) = match (args.rate, duration, count) {
        (Some(rate), Some(duration), Some(count)) => ((count / rate).min(duration), rate),
        (Some(rate), Some(duration), None) => (duration, rate),
        (Some(rate), None, Some(count)) => (count / rate, rate),
        (None, Some(duration), Some(count)) => (duration, count / duration),
        (None, None, Some(count)) => (60.0, count / 60.0),
        (None, Some(duration), None) => (duration, 5_000.0),
        _ => return None,
    };
    let at = args.burst_at.map_or(length / 4.0, |at| at.as_secs_f64());
    let lasts = args.burst_for.as_secs_f64().min(length / 2.0);
    let from = (at * pace) as u64;
    let to = ((at + lasts) * pace) as u64;
    (to > from).then_some(from..to)
}

fn nonce() -> u32 {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    mix(nanos as u64 ^ (u64::from(std::process::id()) << 32)) as u32
}

async fn connect(endpoint: &str, timeout: Duration) -> anyhow::Result<Channel> {
    Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("--endpoint {endpoint:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot reach Tend at {endpoint} (is `tend dev` running?)"))
}

/// Runs the load described by `args` and returns what it measured (printing progress and the
/// summary unless `--quiet`, and writing `--json`).
pub async fn run(args: LoadgenArgs) -> anyhow::Result<Report> {
    let endpoint = check_loopback(&args.endpoint)?;
    let run_nonce = nonce();
    let tenant = args.tenant.clone().unwrap_or_else(|| format!("loadgen-{}-{run_nonce:08x}", args.seed));
    let id_prefix = args.id_prefix.clone().unwrap_or_else(|| format!("lg-{run_nonce:08x}"));
    let started_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let batch = u64::from(args.batch.max(1));
    let concurrency = args.concurrency.max(1);
    let connections = args.connections.unwrap_or(concurrency.min(4)).clamp(1, concurrency);

    let mut config = TrafficConfig::new(args.seed, id_prefix);
    config.brand = args.brand.clone();
    config.authors = args.authors;
    config.known_share = args.known_share;
    config.kinds = args.mix.clone();
    config.languages = args.languages.clone();
    config.channels = args.channels.clone();
    config.burst = burst_window(&args);
    config.burst_share = args.burst_share;
    config.duplicate_rate = args.duplicates;
    let rate_lag = args.rate.map_or(0, |rate| rate as u64);
    config.duplicate_lag = 1_000u64.max(4 * batch * u64::from(concurrency)).max(rate_lag);
    let traffic = Traffic::new(config);

    let settings = Settings {
        mode: if args.rate.is_some() { "rate" } else { "max" }.to_owned(),
        rate: args.rate,
        count: args.count,
        duration_s: args.duration.map(|d| d.as_secs_f64()),
        batch: batch as u32,
        concurrency,
        connections,
        duplicates: args.duplicates,
        burst: traffic.config().burst.as_ref().map(|burst| [burst.start, burst.end]),
        burst_share: args.burst_share,
        rules: (!args.keep_rules).then_some(args.rules),
    };
    let mut report = Report {
        version: format!("tend-loadgen {}", env!("CARGO_PKG_VERSION")),
        started_at,
        endpoint: endpoint.clone(),
        tenant: tenant.clone(),
        seed: args.seed,
        settings,
        crm: None,
        posts: PostCounts::default(),
        calls: CallCounts::default(),
        ack: None,
        end_to_end: None,
        backlog: Backlog::default(),
        mix: Mix::default(),
        notes: Vec::new(),
    };

    if let Some(path) = &args.write_crm {
        let customers = traffic.write_crm(path)?;
        report.crm = Some(CrmFile { path: path.display().to_string(), customers });
        if args.count.is_none() && args.duration.is_none() {
            return finish(&args, report);
        }
    }
    if args.count.is_none() && args.duration.is_none() {
        bail!("say how much to send: --count N and/or --duration 60s");
    }
    if args.rate.is_none() && !args.max {
        bail!("say how fast: --rate N (posts per second) or --max");
    }

    let total = match (args.rate, args.duration, args.count) {
        (Some(rate), Some(duration), count) => {
            let by_time = (rate * duration.as_secs_f64()).floor() as u64;
            Some(count.map_or(by_time, |count| count.min(by_time)))
        }
        (_, _, count) => count,
    };
    let hard_stop = args.rate.map(|rate| {
        let length = args.duration.map_or(0.0, |d| d.as_secs_f64()).max(total.unwrap_or(0) as f64 / rate);
        Duration::from_secs_f64(length + (length / 10.0).max(5.0))
    });
    let plan = Plan { rate: args.rate, total, duration: args.duration, batch, unary: args.batch <= 1, hard_stop };

    let headers = Headers {
        tenant: MetadataValue::try_from(tenant.as_str())
            .map_err(|_| anyhow::anyhow!("--tenant {tenant:?} must be printable ASCII"))?,
        authorization: args
            .api_key
            .as_ref()
            .map(|key| MetadataValue::try_from(format!("Bearer {key}")))
            .transpose()
            .map_err(|_| anyhow::anyhow!("--api-key must be printable ASCII"))?,
    };

    let mut channels = Vec::with_capacity(connections as usize);
    for _ in 0..connections {
        channels.push(connect(&endpoint, args.timeout).await?);
    }
    let control = connect(&endpoint, args.timeout.max(Duration::from_secs(30))).await?;
    if !args.keep_rules {
        install_rules(&control, &headers, args.rules, &mut report.notes, args.quiet).await?;
    }
    if !args.quiet {
        eprintln!(
            "loadgen: sending to {endpoint} as tenant {tenant} ({}, {} callers{})",
            match args.rate {
                Some(rate) => format!("{rate} posts/s"),
                None => "max rate".to_owned(),
            },
            concurrency,
            if batch > 1 { format!(", batches of {batch}") } else { String::new() }
        );
    }

    let shared = Arc::new(Shared {
        plan,
        traffic,
        headers,
        seed: args.seed,
        t0: Instant::now(),
        t0_sys: SystemTime::now(),
        next_batch: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        new: AtomicU64::new(0),
        feedback_cases: AtomicU64::new(NOT_KNOWN),
        feedback_state: AtomicU8::new(FEEDBACK_UNKNOWN),
        draining: AtomicU8::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler_task = tokio::spawn(sampler(shared.clone(), control.clone(), stop_rx, args.quiet));
    let callers: Vec<_> = (0..concurrency as usize)
        .map(|i| tokio::spawn(caller(shared.clone(), channels[i % channels.len()].clone())))
        .collect();
    let mut outputs = Vec::with_capacity(callers.len());
    for task in callers {
        outputs.push(task.await.context("a caller panicked")?);
    }
    shared.draining.store(1, Ordering::Relaxed);

    // Merge the callers' records.
    let mut latencies = Vec::new();
    let mut records = Vec::new();
    let mut mix_total = Mix::default();
    let mut last_answer: Option<Instant> = None;
    for output in outputs {
        latencies.extend(output.latency_us);
        records.extend(output.posts);
        report.calls.total += output.calls;
        report.calls.ok += output.ok;
        for (map, theirs) in [
            (&mut report.calls.errors, output.errors),
            (&mut report.calls.error_messages, output.error_messages),
            (&mut report.calls.rejection_messages, output.rejection_messages),
        ] {
            for (key, n) in theirs {
                if map.len() < 10 || map.contains_key(&key) {
                    *map.entry(key).or_default() += n;
                }
            }
        }
        mix_total.merge(&output.mix.into_mix());
        last_answer = last_answer.max(output.last_answer);
    }
    report.mix = mix_total;
    records.sort_unstable_by_key(|record| record.index);
    let expected = count_posts(&records, &mut report.posts);
    report.posts.planned = total.unwrap_or(report.posts.sent).max(report.posts.sent);
    report.posts.not_sent = if args.rate.is_some() { report.posts.planned - report.posts.sent } else { 0 };
    if let Some(last) = last_answer {
        let seconds = last.saturating_duration_since(shared.t0).as_secs_f64().max(1e-6);
        report.ack = Some(Ack {
            seconds,
            posts_per_s: report.posts.acked as f64 / seconds,
            calls_per_s: report.calls.total as f64 / seconds,
            latency_ms: Latency::from_micros(&mut latencies),
        });
    }

    if args.no_drain {
        report.notes.push("--no-drain: posts were not followed to cases".to_owned());
    } else if !expected.offsets_us.is_empty() {
        if !args.quiet {
            eprintln!(
                "loadgen: sent; waiting up to {:?} for {} cases",
                args.drain_timeout,
                thousands(expected.offsets_us.len() as u64)
            );
        }
        report.end_to_end = drain(&shared, control.clone(), &expected, args.drain_timeout, &mut report.notes).await;
    }

    let _ = stop_tx.send(true);
    let (samples, note) = sampler_task.await.context("the sampler panicked")?;
    report.notes.extend(note);
    report.backlog.samples = samples;
    report.backlog.analyse(report.ack.as_ref().map_or(0.0, |ack| ack.posts_per_s));
    finish(&args, report)
}

/// Counts the outcomes, checks redeliveries, and lists the posts that should become cases.
fn count_posts(records: &[PostRecord], counts: &mut PostCounts) -> Expected {
    let find = |index: u64| records.binary_search_by_key(&index, |record| record.index).ok().map(|at| &records[at]);
    let mut explained = std::collections::HashSet::new();
    for record in records {
        counts.sent += 1;
        match record.outcome {
            Outcome::New => {
                counts.acked += 1;
                counts.new += 1;
            }
            Outcome::Duplicate => {
                counts.acked += 1;
                counts.duplicate += 1;
            }
            Outcome::Rejected => counts.rejected += 1,
            Outcome::Failed => counts.failed += 1,
        }
        let Some(original) = record.redelivery_of else { continue };
        counts.redeliveries += 1;
        if record.outcome == Outcome::Duplicate {
            counts.redeliveries_flagged += 1;
        }
        if let Some(first) = find(original) {
            match (first.outcome, record.outcome) {
                // Both stored as new: the redelivery was not recognised.
                (Outcome::New, Outcome::New) => counts.dedupe_failures += 1,
                // The redelivery overtook its original: fine, the original was the duplicate.
                (Outcome::Duplicate, Outcome::New) if first.key == record.key => {
                    explained.insert(original);
                }
                (Outcome::Duplicate, Outcome::New) => counts.dedupe_failures += 1,
                _ => {}
            }
        }
    }
    counts.unexpected_duplicates = records
        .iter()
        .filter(|r| r.outcome == Outcome::Duplicate && r.redelivery_of.is_none() && !explained.contains(&r.index))
        .count() as u64;
    let mut expected = Expected { keys: HashMap::with_capacity(counts.new as usize), offsets_us: Vec::new() };
    for record in records.iter().filter(|record| record.outcome == Outcome::New) {
        let slot = expected.offsets_us.len() as u32;
        if let std::collections::hash_map::Entry::Vacant(entry) = expected.keys.entry(record.key) {
            entry.insert(slot);
            expected.offsets_us.push(record.offset_us);
        }
    }
    expected
}

fn finish(args: &LoadgenArgs, report: Report) -> anyhow::Result<Report> {
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !args.quiet {
        print!("{report}");
    }
    if args.strict {
        let problems = report.problems();
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u64, key: u128, outcome: Outcome, redelivery_of: Option<u64>) -> PostRecord {
        PostRecord { index, offset_us: index * 10, key, outcome, redelivery_of }
    }

    #[test]
    fn interaction_keys() {
        let id = "01a207bb-892c-75b9-95b4-e94fe99d4a91";
        assert_eq!(interaction_key(id), 0x01a207bb_892c_75b9_95b4_e94fe99d4a91);
        assert_ne!(interaction_key("a"), interaction_key("b"));
        assert_eq!(interaction_key("not-a-uuid"), interaction_key("not-a-uuid"));
    }

    #[test]
    fn counting_redeliveries_and_expected_posts() {
        let records = vec![
            record(0, 10, Outcome::New, None),
            record(1, 11, Outcome::New, None),
            record(2, 12, Outcome::Duplicate, None), // overtaken by its redelivery (5)
            record(3, 0, Outcome::Rejected, None),
            record(4, 10, Outcome::Duplicate, Some(0)), // flagged
            record(5, 12, Outcome::New, Some(2)),       // overtook its original
            record(6, 16, Outcome::New, Some(1)),       // stored twice
            record(7, 0, Outcome::Failed, None),
            record(8, 18, Outcome::Duplicate, None), // unexplained
        ];
        let mut counts = PostCounts::default();
        let expected = count_posts(&records, &mut counts);
        assert_eq!((counts.sent, counts.acked, counts.new, counts.duplicate), (9, 7, 4, 3));
        assert_eq!((counts.rejected, counts.failed), (1, 1));
        assert_eq!((counts.redeliveries, counts.redeliveries_flagged, counts.dedupe_failures), (3, 1, 1));
        assert_eq!(counts.unexpected_duplicates, 1);
        assert_eq!(expected.offsets_us.len(), 4);
        assert_eq!(expected.offsets_us[expected.keys[&12] as usize], 50, "the redelivery's own send time");
    }

    #[test]
    fn burst_windows() {
        let args = LoadgenArgs::parse_from(["--rate", "1000", "--duration", "120s"]).unwrap();
        assert_eq!(burst_window(&args), Some(30_000..60_000));
        let args = LoadgenArgs::parse_from(["--rate", "1000", "--duration", "20s"]).unwrap();
        assert_eq!(burst_window(&args), Some(5_000..15_000), "at most half the run");
        let args = LoadgenArgs::parse_from(["--max", "--count", "60000"]).unwrap();
        assert_eq!(burst_window(&args), Some(15_000..45_000));
        let args =
            LoadgenArgs::parse_from(["--rate", "100", "--count", "10000", "--burst-at", "10s", "--burst-for", "5s"])
                .unwrap();
        assert_eq!(burst_window(&args), Some(1_000..1_500));
        let args = LoadgenArgs::parse_from(["--rate", "100", "--count", "100", "--no-burst"]).unwrap();
        assert_eq!(burst_window(&args), None);
    }

    #[tokio::test]
    async fn refuses_remote_hosts_before_connecting() {
        let args =
            LoadgenArgs::parse_from(["--endpoint", "http://10.1.2.3:50051", "--rate", "1", "--count", "1"]).unwrap();
        let error = run(args).await.unwrap_err().to_string();
        assert!(error.contains("refusing"), "{error}");
    }

    #[tokio::test]
    async fn needs_a_bound_and_a_pace() {
        let args = LoadgenArgs::parse_from(["--rate", "10"]).unwrap();
        assert!(run(args).await.unwrap_err().to_string().contains("--count"));
        let args = LoadgenArgs::parse_from(["--count", "10"]).unwrap();
        assert!(run(args).await.unwrap_err().to_string().contains("--rate"));
    }

    #[tokio::test]
    async fn write_crm_alone_writes_and_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.csv");
        let args =
            LoadgenArgs::parse_from(["--write-crm", path.to_str().unwrap(), "--authors", "100", "--quiet"]).unwrap();
        let report = run(args).await.unwrap();
        let crm = report.crm.unwrap();
        assert!(crm.customers > 10);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count() as u64, crm.customers + 1);
        assert_eq!(report.calls.total, 0);
    }

    #[tokio::test]
    async fn unreachable_server_is_a_clear_error() {
        // A port nothing listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let args =
            LoadgenArgs::parse_from(["--endpoint", &endpoint, "--rate", "1", "--count", "1", "--quiet"]).unwrap();
        let error = format!("{:#}", run(args).await.unwrap_err());
        assert!(error.contains("cannot reach Tend"), "{error}");
    }
}
