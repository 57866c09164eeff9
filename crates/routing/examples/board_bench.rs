//! How long the queue takes to pick an agent's next item (issue 10's targets): the waiting board
//! with ITEMS items and AGENTS agents of realistic variety, one decision at a time (the best
//! item for a random agent, taken off, and a new item in its place so the board stays full),
//! timed one by one. Prints the latency percentiles, the number of requirement groups, and the
//! process's peak memory, as JSON on the last line for scripts/bench.sh.
//!
//!   cargo run --release -p tend-routing --example board_bench -- [ITEMS] [AGENTS] [DECISIONS]
//!
//! Defaults: 100,000 items, 1,000 agents, 100,000 decisions.

use std::time::Instant;

use tend_routing::board::{Board, Item, Millis, Requirements, Taker};

const MINUTE: Millis = 60_000;

/// A small deterministic generator (xorshift), so every run draws the same board.
struct Draw(u64);

impl Draw {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[usize::try_from(self.below(from.len() as u64)).unwrap_or(0)]
    }
}

const QUEUES: [&str; 4] = ["default", "retention", "billing", "vip"];
const LANGUAGES: [&str; 5] = ["en", "es", "fr", "de", "pt"];
const SKILLS: [&str; 4] = ["billing", "retention", "tech", "legal"];
const CHANNELS: [i32; 6] = [1, 2, 3, 4, 5, 6];

fn item(draw: &mut Draw, n: u64, now: Millis) -> Item {
    // Most work asks for little: the default queue, any language, no skill.
    let queue = if draw.below(10) < 6 { "default" } else { draw.pick(&QUEUES) };
    let language = if draw.below(10) < 7 { "" } else { draw.pick(&LANGUAGES) };
    let mut skills = Vec::new();
    if draw.below(10) < 3 {
        skills.push((draw.pick(&SKILLS).to_owned(), u32::try_from(draw.below(5)).unwrap_or(0) + 1));
    }
    Item {
        case_id: format!("01890000-0000-7000-8000-{n:012x}"),
        requirements: Requirements {
            queue: queue.to_owned(),
            channel: CHANNELS[usize::try_from(draw.below(6)).unwrap_or(0)],
            language: language.to_owned(),
            skills,
        },
        priority: u32::try_from(draw.below(101)).unwrap_or(0),
        due_at: (draw.below(2) == 0).then(|| now + i64::try_from(draw.below(240)).unwrap_or(0) * MINUTE),
        enqueued_at: now - i64::try_from(draw.below(60)).unwrap_or(0) * MINUTE,
        topics: Vec::new(),
    }
}

struct Agent {
    queues: Vec<String>,
    languages: Vec<String>,
    skills: Vec<(String, u32)>,
    channels: Vec<i32>,
}

fn agent(draw: &mut Draw) -> Agent {
    let mut queues = vec!["default".to_owned(), draw.pick(&QUEUES).to_owned()];
    queues.sort();
    queues.dedup();
    let mut languages = vec!["en".to_owned(), draw.pick(&LANGUAGES).to_owned()];
    languages.sort();
    languages.dedup();
    let mut skills: Vec<(String, u32)> = (0..draw.below(4))
        .map(|_| (draw.pick(&SKILLS).to_owned(), u32::try_from(draw.below(5)).unwrap_or(0) + 1))
        .collect();
    skills.sort();
    skills.dedup_by(|a, b| a.0 == b.0);
    let mut channels: Vec<i32> =
        (0..2 + draw.below(3)).map(|_| CHANNELS[usize::try_from(draw.below(6)).unwrap_or(0)]).collect();
    channels.sort_unstable();
    channels.dedup();
    Agent { queues, languages, skills, channels }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:").and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            })
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|arg| arg.replace('_', "").parse().ok()).collect();
    let items = args.first().copied().unwrap_or(100_000);
    let agents = args.get(1).copied().unwrap_or(1_000);
    let decisions = args.get(2).copied().unwrap_or(100_000);
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    let now: Millis = 1_800_000_000_000;

    let started = Instant::now();
    let mut board = Board::new(15 * MINUTE);
    for n in 0..items {
        board.insert(item(&mut draw, n, now));
    }
    let fill_seconds = started.elapsed().as_secs_f64();
    let people: Vec<Agent> = (0..agents).map(|_| agent(&mut draw)).collect();

    let mut latencies_ns = Vec::with_capacity(usize::try_from(decisions).unwrap_or(0));
    let mut taken = 0_u64;
    for n in 0..decisions {
        let who = &people[usize::try_from(draw.below(agents)).unwrap_or(0)];
        let taker =
            Taker { queues: &who.queues, languages: &who.languages, skills: &who.skills, channels: &who.channels };
        let at = now + i64::try_from(n / 100).unwrap_or(0);
        let started = Instant::now();
        let picked = board.best_for(&taker, at).map(|item| item.case_id.clone());
        if let Some(case_id) = &picked {
            board.remove(case_id);
        }
        latencies_ns.push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        if picked.is_some() {
            taken += 1;
            board.insert(item(&mut draw, items + n, at));
        }
    }
    latencies_ns.sort_unstable();
    let percentile = |p: f64| {
        let at = ((latencies_ns.len() as f64 - 1.0) * p).round() as usize;
        latencies_ns.get(at).copied().unwrap_or(0) as f64 / 1e3
    };
    let (p50, p99, p999, max) = (percentile(0.5), percentile(0.99), percentile(0.999), percentile(1.0));
    println!(
        "board: {items} items in {} requirement groups (filled in {fill_seconds:.2} s), {agents} agents, {decisions} decisions ({taken} took an item)",
        board.groups()
    );
    println!("decision: p50 {p50:.1} µs, p99 {p99:.1} µs, p99.9 {p999:.1} µs, max {max:.1} µs");
    println!("peak RSS: {} MiB", peak_rss_kib() / 1024);
    println!(
        "{{\"items\": {items}, \"agents\": {agents}, \"decisions\": {decisions}, \"taken\": {taken}, \"groups\": {}, \"p50_us\": {p50:.2}, \"p99_us\": {p99:.2}, \"p999_us\": {p999:.2}, \"max_us\": {max:.2}, \"peak_rss_kb\": {}}}",
        board.groups(),
        peak_rss_kib()
    );
}
