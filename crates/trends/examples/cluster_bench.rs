//! Throughput and quality of near-duplicate clustering on a generated stream.
//!
//! `cargo run --release -p tend-trends --example cluster_bench [-- --posts N --seed S]`
//! (also `--threshold T`, `--max-bucket M`, `--dup-share F`, `--originals K`)
//!
//! The corpus is deterministic (own SplitMix64 PRNG, fixed seed): unrelated posts built from a
//! Zipf-distributed vocabulary of made-up words, plus families of near-duplicates injected from a
//! few hundred originals (word replacements, insertions and deletions, edits of edits, and
//! "RT @user:" reposts); a fifth of all posts open with one of 30 stock phrases (hard
//! negatives: similar openings, different posts). Posts are spread over two days of simulated time (a 24 h window, so expiry runs),
//! delivered slightly out of order. Signatures are computed with `tend-text` first (not timed);
//! then only the inserts are timed, on one thread.
//!
//! True Jaccard similarity is **exact**: the generator keeps each post's token list, which is
//! what `tend-text` tokenises (lowercase made-up words, "rt"; mentions and punctuation dropped),
//! so its 3-token shingle sets are the ones the signatures estimate (the output checks the
//! estimate against them).
//!
//! Figures, one per line, then one JSON line for scripts. Never asserts timings.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use tend_text::{Analyzer, Input, Signature};
use tend_trends::cluster::{Assignment, ClusterConfig, ClusterIndex};
use xxhash_rust::xxh3::xxh3_64;

/// SplitMix64: small, fast, good enough for a corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

struct Options {
    posts: usize,
    seed: u64,
    threshold: Option<f64>,
    max_bucket: Option<usize>,
    dup_share: f64,
    originals: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options { posts: 200_000, seed: 42, threshold: None, max_bucket: None, dup_share: 0.2, originals: 300 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--posts" => o.posts = value.parse().map_err(|e| bad(&e))?,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            "--threshold" => o.threshold = Some(value.parse().map_err(|e| bad(&e))?),
            "--max-bucket" => o.max_bucket = Some(value.parse().map_err(|e| bad(&e))?),
            "--dup-share" => o.dup_share = value.parse().map_err(|e| bad(&e))?,
            "--originals" => o.originals = value.parse().map_err(|e| bad(&e))?,
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--posts, --seed, --threshold, --max-bucket, --dup-share, --originals)"
                ));
            }
        }
    }
    if o.originals == 0 || o.posts <= o.originals {
        return Err("need --originals ≥ 1 and --posts > --originals".into());
    }
    Ok(o)
}

/// Made-up words of consonant-vowel syllables (no repeated letters, so no elongation folding).
fn vocabulary(rng: &mut Rng, size: usize) -> Vec<String> {
    const C: &[u8] = b"bcdfgklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut seen = HashSet::new();
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        let syllables = 1 + rng.below(3) + usize::from(words.len() > 200);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push(C[rng.below(C.len())] as char);
            w.push(V[rng.below(V.len())] as char);
        }
        if seen.insert(w.clone()) {
            words.push(w);
        }
    }
    words
}

/// Zipf(1) sampler over word ranks.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Self {
        let mut acc = 0.0;
        let cdf = (1..=n)
            .map(|r| {
                acc += 1.0 / r as f64;
                acc
            })
            .collect::<Vec<_>>();
        let total = acc;
        Zipf(cdf.into_iter().map(|c| c / total).collect())
    }

    fn sample(&self, rng: &mut Rng) -> u32 {
        let u = rng.unit();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1) as u32
    }
}

/// Token id of "rt" (outside the vocabulary).
const RT: u32 = u32::MAX;

struct Post {
    tokens: Vec<u32>,
    /// "@user " mentions and the "RT @x:" prefix are part of the text, not of the tokens.
    text: String,
    family: Option<u32>,
    at_ms: i64,
    arrival_ms: i64,
}

fn render(tokens: &[u32], vocab: &[String], mention: Option<&str>, rt_from: Option<usize>) -> String {
    let mut text = String::new();
    let mut rest = tokens;
    if let Some(user) = rt_from {
        text.push_str(&format!("RT @user{user}: "));
        rest = tokens.get(1..).unwrap_or(&[]);
    }
    if let Some(m) = mention {
        text.push_str(m);
        text.push(' ');
    }
    for (i, &t) in rest.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(if t == RT { "rt" } else { &vocab[t as usize] });
    }
    text
}

fn random_tokens(rng: &mut Rng, zipf: &Zipf, min: usize, max: usize) -> Vec<u32> {
    let len = min + rng.below(max - min + 1);
    (0..len).map(|_| zipf.sample(rng)).collect()
}

/// A few word edits: replacements, insertions, deletions.
fn edit(rng: &mut Rng, zipf: &Zipf, parent: &[u32]) -> Vec<u32> {
    let mut tokens = parent.to_vec();
    let edits = match rng.below(10) {
        0..=3 => 1,
        4..=6 => 2,
        7..=8 => 3,
        _ => 4 + rng.below(2),
    };
    for _ in 0..edits {
        let pos = rng.below(tokens.len().max(1));
        match rng.below(4) {
            0 | 1 if !tokens.is_empty() => tokens[pos] = zipf.sample(rng),
            2 => tokens.insert(pos, zipf.sample(rng)),
            _ if tokens.len() > 3 => {
                tokens.remove(pos);
            }
            _ => tokens.push(zipf.sample(rng)),
        }
    }
    tokens
}

const HOUR_MS: i64 = 3_600_000;

fn corpus(o: &Options) -> (Vec<Post>, Vec<String>) {
    let mut rng = Rng(o.seed);
    let vocab = vocabulary(&mut rng, 5_000);
    let zipf = Zipf::new(vocab.len());
    let span_ms = 48 * HOUR_MS;
    let duplicates = ((o.posts as f64 * o.dup_share) as usize).saturating_sub(o.originals);
    let unrelated = o.posts - o.originals - duplicates;
    let mut posts = Vec::with_capacity(o.posts);

    // Hard negatives: a share of posts (unrelated ones and originals) open with one of a few
    // stock phrases, as "my flight was cancelled and …" posts do.
    let templates: Vec<Vec<u32>> = (0..30).map(|_| random_tokens(&mut rng, &zipf, 4, 7)).collect();
    let templated = |rng: &mut Rng, min: usize, max: usize| {
        let mut tokens = random_tokens(rng, &zipf, min, max);
        if rng.chance(0.2) {
            let mut with = templates[rng.below(templates.len())].clone();
            with.append(&mut tokens);
            tokens = with;
        }
        tokens
    };
    for _ in 0..unrelated {
        let tokens = templated(&mut rng, 6, 30);
        let mention = rng.chance(0.5).then_some("@brand");
        let at_ms = (rng.unit() * span_ms as f64) as i64;
        posts.push(Post { text: render(&tokens, &vocab, mention, None), tokens, family: None, at_ms, arrival_ms: 0 });
    }

    // Families: an original at a random start, its near-duplicates over the next hours.
    let mut per_family = vec![duplicates / o.originals; o.originals];
    for slot in per_family.iter_mut().take(duplicates % o.originals) {
        *slot += 1;
    }
    for (family, &count) in per_family.iter().enumerate() {
        let start = (rng.unit() * (span_ms - 6 * HOUR_MS) as f64) as i64;
        let original = templated(&mut rng, 12, 30);
        let mut times: Vec<i64> = (0..count)
            .map(|_| start + ((-(1.0 - rng.unit()).ln() * 1.5 * HOUR_MS as f64) as i64).min(6 * HOUR_MS))
            .collect();
        times.sort_unstable();
        let mut members: Vec<Vec<u32>> = vec![original.clone()];
        posts.push(Post {
            text: render(&original, &vocab, Some("@brand"), None),
            tokens: original,
            family: Some(family as u32),
            at_ms: start,
            arrival_ms: 0,
        });
        for at_ms in times {
            // Parent: the original mostly, else an earlier member (edits of edits).
            let parent = if rng.chance(0.6) { members[0].clone() } else { members[rng.below(members.len())].clone() };
            let (tokens, text) = if rng.chance(0.25) {
                let mut tokens = vec![RT];
                tokens.extend_from_slice(&parent);
                let text = render(&tokens, &vocab, None, Some(rng.below(100_000)));
                (tokens, text)
            } else {
                let tokens = edit(&mut rng, &zipf, &parent);
                let mention = rng.chance(0.7).then_some("@brand");
                let text = render(&tokens, &vocab, mention, None);
                (tokens, text)
            };
            members.push(tokens.clone());
            posts.push(Post { tokens, text, family: Some(family as u32), at_ms, arrival_ms: 0 });
        }
    }
    // Delivered up to two minutes late: arrival order differs slightly from post time.
    for p in &mut posts {
        p.arrival_ms = p.at_ms + rng.below(120_000) as i64;
    }
    posts.sort_by_key(|p| (p.arrival_ms, p.at_ms));
    (posts, vocab)
}

/// Exact 3-token shingle set (sorted, deduped), as tend-text builds it.
fn shingles(tokens: &[u32], vocab: &[String]) -> Vec<u64> {
    let word = |t: u32| if t == RT { "rt" } else { vocab[t as usize].as_str() };
    let hash = |window: &[u32]| {
        let joined: Vec<&str> = window.iter().map(|&t| word(t)).collect();
        xxh3_64(joined.join("\u{1}").as_bytes())
    };
    let mut set: Vec<u64> = if tokens.is_empty() {
        Vec::new()
    } else if tokens.len() < 3 {
        vec![hash(tokens)]
    } else {
        tokens.windows(3).map(hash).collect()
    };
    set.sort_unstable();
    set.dedup();
    set
}

fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f64 / (a.len() + b.len() - both) as f64
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cluster_bench: {e}");
            std::process::exit(2);
        }
    };
    let mut config = ClusterConfig::default();
    if let Some(t) = o.threshold {
        config.threshold = t;
    }
    if let Some(m) = o.max_bucket {
        config.max_bucket = m;
    }
    if let Err(e) = config.validate() {
        eprintln!("cluster_bench: {e}");
        std::process::exit(2);
    }

    let started = Instant::now();
    let (posts, vocab) = corpus(&o);
    let analyzer = Analyzer::default();
    let signatures: Vec<Signature> = posts.iter().map(|p| analyzer.enrich(&Input::new(&p.text)).signature).collect();
    let sets: Vec<Vec<u64>> = posts.iter().map(|p| shingles(&p.tokens, &vocab)).collect();
    let ids: Vec<String> = (0..posts.len()).map(|i| format!("{}", 1_790_000_000_000_000_000u64 + i as u64)).collect();
    let epoch = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
    let times: Vec<DateTime<Utc>> = posts.iter().map(|p| epoch + Duration::milliseconds(p.at_ms)).collect();
    let injected = posts.iter().filter(|p| p.family.is_some()).count();
    let reposts = posts.iter().filter(|p| p.tokens.first() == Some(&RT)).count();
    let out_of_order = posts.windows(2).filter(|w| w[1].at_ms < w[0].at_ms).count();
    println!(
        "corpus: {} posts ({} injected near-duplicates in {} families, {} of them reposts; {} unrelated), \
         48 h of posts, {} delivered out of order, seed {}, built in {:.1} s",
        posts.len(),
        injected,
        o.originals,
        reposts,
        posts.len() - injected,
        out_of_order,
        o.seed,
        started.elapsed().as_secs_f64()
    );

    // The generator's shingles are tend-text's: the signature estimate should track them.
    let mut rng = Rng(o.seed ^ 0x5eed);
    let mut diff_sum = 0.0;
    let mut diff_n = 0usize;
    let mut by_family: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in posts.iter().enumerate() {
        if let Some(f) = p.family {
            by_family.entry(f).or_default().push(i);
        }
    }
    for members in by_family.values() {
        for _ in 0..20 {
            let (a, b) = (members[rng.below(members.len())], members[rng.below(members.len())]);
            diff_sum += (signatures[a].jaccard(&signatures[b]) - jaccard(&sets[a], &sets[b])).abs();
            diff_n += 1;
        }
    }
    println!(
        "true jaccard: exact on 3-token shingles; signature estimate vs exact, mean |diff| = {:.3} over {} family pairs",
        diff_sum / diff_n.max(1) as f64,
        diff_n
    );
    println!(
        "config: {} bands × {} rows, threshold {}, window {} h, max_bucket {}, max_members {}",
        config.bands,
        config.rows,
        config.threshold,
        config.window.num_hours(),
        config.max_bucket,
        config.max_members
    );

    // Pass 1: throughput, only the inserts timed.
    let mut index = match ClusterIndex::new(config.clone()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cluster_bench: {e}");
            std::process::exit(2);
        }
    };
    let mut assigned: Vec<Assignment> = Vec::with_capacity(posts.len());
    let mut peak_bytes = 0usize;
    let mut peak_members = 0usize;
    let mut elapsed = std::time::Duration::ZERO;
    for chunk_start in (0..posts.len()).step_by(10_000) {
        let end = (chunk_start + 10_000).min(posts.len());
        let t0 = Instant::now();
        for i in chunk_start..end {
            match index.insert(&ids[i], &signatures[i].0, times[i]) {
                Ok(a) => assigned.push(a),
                Err(e) => {
                    eprintln!("cluster_bench: insert {i}: {e}");
                    std::process::exit(1);
                }
            }
        }
        elapsed += t0.elapsed();
        // Outside the timed part: memory at this point.
        if index.members() > peak_members {
            peak_members = index.members();
        }
        peak_bytes = peak_bytes.max(index.memory_bytes());
    }
    let posts_per_s = posts.len() as f64 / elapsed.as_secs_f64();

    // Pass 2: per-insert latency on a fresh index; the same stream must give the same answers.
    let mut again = match ClusterIndex::new(config.clone()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cluster_bench: {e}");
            std::process::exit(2);
        }
    };
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(posts.len());
    let mut replay_identical = true;
    for i in 0..posts.len() {
        let t0 = Instant::now();
        let a = again.insert(&ids[i], &signatures[i].0, times[i]);
        latencies_ns.push(t0.elapsed().as_nanos() as u64);
        replay_identical &= a.as_ref().ok() == assigned.get(i);
    }
    // The second day: the window is full, containers have stopped growing.
    let mut steady_ns = latencies_ns.get(posts.len() / 2..).unwrap_or(&[]).to_vec();
    steady_ns.sort_unstable();
    latencies_ns.sort_unstable();

    // Quality. Recall: pairs of one family, less than a window apart, exact Jaccard ≥ 0.5.
    let window_ms = config.window.num_milliseconds();
    let (mut want, mut found) = (0usize, 0usize);
    let mut bands = [(0usize, 0usize); 3];
    for members in by_family.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if (posts[a].at_ms - posts[b].at_ms).abs() >= window_ms {
                    continue;
                }
                let j = jaccard(&sets[a], &sets[b]);
                if j < 0.5 {
                    continue;
                }
                let hit = assigned[a].cluster_id == assigned[b].cluster_id;
                want += 1;
                found += usize::from(hit);
                let band = if j < 0.6 {
                    0
                } else if j < 0.8 {
                    1
                } else {
                    2
                };
                bands[band].0 += 1;
                bands[band].1 += usize::from(hit);
            }
        }
    }
    let recall = found as f64 / want.max(1) as f64;

    // Precision: pairs put in one cluster that are one family or have exact Jaccard ≥ 0.3.
    let mut clusters: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in assigned.iter().enumerate() {
        clusters.entry(a.cluster_id.as_str()).or_default().push(i);
    }
    let (mut pairs, mut good) = (0usize, 0usize);
    let mut bad_examples = Vec::new();
    for members in clusters.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                pairs += 1;
                let same_family = posts[a].family.is_some() && posts[a].family == posts[b].family;
                if same_family || jaccard(&sets[a], &sets[b]) >= 0.3 {
                    good += 1;
                } else if bad_examples.len() < 3 {
                    bad_examples.push((posts[a].text.clone(), posts[b].text.clone()));
                }
            }
        }
    }
    let precision = if pairs == 0 { 1.0 } else { good as f64 / pairs as f64 };
    let multi = clusters.values().filter(|m| m.len() > 1).count();
    let largest = clusters.values().map(Vec::len).max().unwrap_or(0);
    let families_split: f64 = {
        // Clusters per family (1.0 = every family in one cluster).
        let mut per: HashMap<u32, HashSet<&str>> = HashMap::new();
        for (i, p) in posts.iter().enumerate() {
            if let Some(f) = p.family {
                per.entry(f).or_default().insert(assigned[i].cluster_id.as_str());
            }
        }
        per.values().map(HashSet::len).sum::<usize>() as f64 / per.len().max(1) as f64
    };
    let bytes_per_member = peak_bytes as f64 / peak_members.max(1) as f64;

    println!(
        "posts/s: {posts_per_s:.0} (inserts only, one thread, {:.3} s for {} posts)",
        elapsed.as_secs_f64(),
        posts.len()
    );
    println!(
        "latency per insert: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        percentile(&latencies_ns, 0.50) as f64 / 1000.0,
        percentile(&latencies_ns, 0.99) as f64 / 1000.0,
        latencies_ns.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!(
        "latency per insert, second day only (window full): p50 {:.1} µs, p99 {:.1} µs",
        percentile(&steady_ns, 0.50) as f64 / 1000.0,
        percentile(&steady_ns, 0.99) as f64 / 1000.0,
    );
    println!("recall: {recall:.4} ({found} of {want} injected pairs with exact Jaccard ≥ 0.5 in one cluster)");
    for (label, (w, f)) in ["[0.5, 0.6)", "[0.6, 0.8)", "[0.8, 1.0]"].iter().zip(bands) {
        println!("recall at jaccard {label}: {:.4} ({f} of {w})", f as f64 / w.max(1) as f64);
    }
    println!(
        "precision: {precision:.4} ({good} of {pairs} pairs in one cluster are one family or exact Jaccard ≥ 0.3)"
    );
    for (a, b) in &bad_examples {
        println!("  wrongly together: {a:?} / {b:?}");
    }
    println!(
        "clusters: {} ever opened, {multi} with more than one post, largest {largest}, {families_split:.2} clusters per family",
        clusters.len()
    );
    println!(
        "memory: peak ≈ {:.1} MB for {peak_members} live members ≈ {bytes_per_member:.0} B per member \
         (ClusterIndex::memory_bytes: the capacity of every container, not the allocator's overhead)",
        peak_bytes as f64 / 1e6
    );
    println!("replay identical: {replay_identical}");
    let json = serde_json::json!({
        "posts": posts.len(),
        "seed": o.seed,
        "threshold": config.threshold,
        "bands": config.bands,
        "rows": config.rows,
        "posts_per_s": posts_per_s.round(),
        "p50_us": percentile(&latencies_ns, 0.50) as f64 / 1000.0,
        "p99_us": percentile(&latencies_ns, 0.99) as f64 / 1000.0,
        "recall": recall,
        "recall_pairs": want,
        "precision": precision,
        "precision_pairs": pairs,
        "true_jaccard": "exact",
        "clusters_per_family": families_split,
        "peak_memory_bytes": peak_bytes,
        "peak_members": peak_members,
        "bytes_per_member": bytes_per_member.round(),
        "replay_identical": replay_identical,
    });
    println!("{json}");
}
