//! Per-tenant trainable linear classifiers and the evaluation shared with the built-in analysers.
//!
//! **Features** (hashed into `2^hash_bits` buckets, default 2^18, with `xxh3` and fixed seeds):
//! word unigrams (words after a negation within the clause are marked, so "not good" ≠ "good"),
//! word bigrams, character 3–5-grams of each word (with word-boundary padding), mentions,
//! hashtags, emoji, emoticons, `!`/`?`/link markers, and — unless disabled — the built-in
//! lexicon score as two real-valued features, so a small tenant set starts from what the
//! lexicon knows. Each vector is L2-normalised.
//!
//! **Training**: multinomial logistic regression by averaged SGD (a fixed, seeded shuffle each
//! epoch, learning rate decaying as `lr / (1 + epoch)`), deterministic for a given seed and
//! input. Weights below 1e-4 in absolute value are dropped at the end, so the stored model is
//! sparse and predicts exactly like the in-memory one.
//!
//! **Format** ([`Model::to_bytes`]): `b"TTXM"`, version byte (1), task, hash bits, flags;
//! labels (u16 count, each u16 length + UTF-8); biases (f32 per label); then the non-zero
//! bucket rows: u32 row count, each row a LEB128 delta from the previous bucket followed by
//! one f32 per label, all little-endian.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::Error;
use crate::normalize::{Kind, Tokens, cap};
use crate::types::{Cue, CueField, Intent, SentimentLabel};
use crate::{lexicon, sentiment};

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Labels must be `negative`, `neutral`, `positive` (at least two of them).
    Sentiment,
    /// Any label strings (e.g. question, complaint, churn_risk, praise, spam, other).
    Intent,
}

/// Training settings; `Default` gives the values used for the measured figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// Passes over the data.
    pub epochs: u32,
    /// Initial SGD learning rate.
    pub learning_rate: f32,
    /// Shuffle seed; same seed and data give the same model.
    pub seed: u64,
    /// log2 of the number of feature buckets (10..=24).
    pub hash_bits: u8,
    /// Add character 3–5-grams.
    pub char_ngrams: bool,
    /// Add the built-in lexicon score as features.
    pub lexicon_features: bool,
    /// Weight classes inversely to their frequency (helps macro-F1 on skewed data).
    pub balance_classes: bool,
    /// Fewest examples accepted.
    pub min_examples: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            learning_rate: 0.5,
            seed: 0x7465_6e64,
            hash_bits: 18,
            char_ngrams: true,
            lexicon_features: true,
            balance_classes: false,
            min_examples: 10,
        }
    }
}

/// A classifier's answer for one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The predicted label.
    pub label: String,
    /// Its probability (trained models) or score (built-in analysers), in [0, 1].
    pub score: f32,
    /// The words or rules that pushed toward the label most.
    pub cues: Vec<Cue>,
}

/// Anything that labels text: trained [`Model`]s and the built-in analysers, so all can be
/// measured with [`evaluate`].
pub trait Classifier {
    /// The labels it can predict, in a stable order.
    fn labels(&self) -> Vec<String>;
    /// Label one text.
    fn classify(&self, text: &str) -> Prediction;
}

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The label.
    pub label: String,
    /// Correct predictions of this label / all predictions of it (0 when never predicted).
    pub precision: f64,
    /// Correct predictions of this label / examples that have it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples that have this label.
    pub support: usize,
}

/// Quality of a classifier on labelled examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Examples evaluated.
    pub examples: usize,
    /// Share predicted correctly.
    pub accuracy: f64,
    /// Mean F1 over the labels that occur in the examples (support > 0).
    pub macro_f1: f64,
    /// Per-label figures, in `labels` order.
    pub per_class: Vec<ClassMetrics>,
    /// Label order of `per_class` and of the confusion matrix: the classifier's labels, then
    /// any other labels seen in the examples, in first-seen order.
    pub labels: Vec<String>,
    /// `confusion[gold][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Evaluate a classifier on `(text, label)` pairs.
pub fn evaluate<C, T, L>(classifier: &C, examples: &[(T, L)]) -> Evaluation
where
    C: Classifier + ?Sized,
    T: AsRef<str>,
    L: AsRef<str>,
{
    let mut labels = classifier.labels();
    let index_of = |labels: &mut Vec<String>, l: &str| -> usize {
        match labels.iter().position(|x| x == l) {
            Some(i) => i,
            None => {
                labels.push(l.to_string());
                labels.len() - 1
            }
        }
    };
    let mut pairs = Vec::with_capacity(examples.len());
    for (text, gold) in examples {
        let predicted = classifier.classify(text.as_ref()).label;
        let g = index_of(&mut labels, gold.as_ref().trim());
        let p = index_of(&mut labels, &predicted);
        pairs.push((g, p));
    }
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for &(g, p) in &pairs {
        confusion[g][p] += 1;
    }
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let mut per_class = Vec::with_capacity(k);
    let mut f1_sum = 0.0;
    let mut f1_n = 0usize;
    for i in 0..k {
        let support: usize = confusion[i].iter().sum();
        let predicted: usize = (0..k).map(|g| confusion[g][i]).sum();
        let tp = confusion[i][i] as f64;
        let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
        let recall = if support > 0 { tp / support as f64 } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        if support > 0 {
            f1_sum += f1;
            f1_n += 1;
        }
        per_class.push(ClassMetrics { label: labels[i].clone(), precision, recall, f1, support });
    }
    Evaluation {
        examples: pairs.len(),
        accuracy: if pairs.is_empty() { 0.0 } else { correct as f64 / pairs.len() as f64 },
        macro_f1: if f1_n > 0 { f1_sum / f1_n as f64 } else { 0.0 },
        per_class,
        labels,
        confusion,
    }
}

const FLAG_CHAR_NGRAMS: u8 = 1;
const FLAG_LEXICON: u8 = 2;
const MAGIC: &[u8; 4] = b"TTXM";
const FORMAT_VERSION: u8 = 1;
const PRUNE_BELOW: f32 = 1e-4;

const SEED_WORD: u64 = 0x5445_4e44_5755_4e49;
const SEED_NEG: u64 = 0x5445_4e44_4e45_4755;
const SEED_BIGRAM: u64 = 0x5445_4e44_4249_4752;
const SEED_CHAR: u64 = 0x5445_4e44_4348_4152;
const SEED_OTHER: u64 = 0x5445_4e44_4f54_4852;

/// One feature before merging: bucket, value and the tokens it came from.
#[derive(Debug, Clone, Copy)]
struct Feat {
    bucket: u32,
    value: f32,
    first: u32,
    last: u32,
}

/// Feature extraction settings and buffers.
#[derive(Debug, Default)]
struct Extractor {
    tokens: Tokens,
    scratch: sentiment::Scratch,
    feats: Vec<Feat>,
    word_hashes: Vec<(u64, u32)>,
    padded: Vec<u8>,
}

impl Extractor {
    /// Extract features; returns the feature list (with origins, not merged).
    fn extract(&mut self, text: &str, bits: u8, flags: u8) -> &[Feat] {
        let (text, _) = cap(text);
        self.tokens.fill(text, false);
        self.feats.clear();
        self.word_hashes.clear();
        let mask = (1u64 << bits) - 1;
        let bucket = |h: u64| (h & mask) as u32;
        let tok = &self.tokens;
        let mut negated = false;
        for (i, t) in tok.tokens.iter().enumerate() {
            let i = i as u32;
            let text = tok.text(t);
            match t.kind {
                Kind::Word | Kind::Number => {
                    let role = lexicon::role(text);
                    let seed = if negated { SEED_NEG } else { SEED_WORD };
                    let h = xxh3_64_with_seed(text.as_bytes(), seed);
                    self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: i, last: i });
                    self.word_hashes.push((xxh3_64_with_seed(text.as_bytes(), SEED_WORD), i));
                    if matches!(role, Some(lexicon::Role::Negation)) {
                        negated = true;
                    }
                    if flags & FLAG_CHAR_NGRAMS != 0 && t.kind == Kind::Word {
                        self.padded.clear();
                        self.padded.push(b' ');
                        self.padded.extend_from_slice(text.as_bytes());
                        self.padded.push(b' ');
                        for n in 3..=5usize {
                            if self.padded.len() < n {
                                break;
                            }
                            for w in self.padded.windows(n) {
                                let h = xxh3_64_with_seed(w, SEED_CHAR ^ n as u64);
                                self.feats.push(Feat { bucket: bucket(h), value: 0.5, first: i, last: i });
                            }
                        }
                    }
                }
                Kind::Punct => {
                    negated = false;
                    self.word_hashes.push((0, u32::MAX));
                    let key: &[u8] = match t.ch {
                        '!' => b"__exclaim__",
                        '?' => b"__question__",
                        _ => continue,
                    };
                    let h = xxh3_64_with_seed(key, SEED_OTHER);
                    self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: i, last: i });
                }
                Kind::Url => {
                    let h = xxh3_64_with_seed(b"__url__", SEED_OTHER);
                    self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: i, last: i });
                }
                Kind::Emoji => {
                    let mut b = [0u8; 4];
                    let h = xxh3_64_with_seed(t.ch.encode_utf8(&mut b).as_bytes(), SEED_OTHER);
                    self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: i, last: i });
                }
                Kind::Emoticon | Kind::Hashtag | Kind::Mention => {
                    let seed = SEED_OTHER ^ (t.kind as u64 + 1);
                    let h = xxh3_64_with_seed(text.as_bytes(), seed);
                    self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: i, last: i });
                }
            }
        }
        for w in self.word_hashes.windows(2) {
            let ((a, ia), (b, ib)) = (w[0], w[1]);
            if ia == u32::MAX || ib == u32::MAX {
                continue;
            }
            let mut pair = [0u8; 16];
            pair[..8].copy_from_slice(&a.to_le_bytes());
            pair[8..].copy_from_slice(&b.to_le_bytes());
            let h = xxh3_64_with_seed(&pair, SEED_BIGRAM);
            self.feats.push(Feat { bucket: bucket(h), value: 1.0, first: ia, last: ib });
        }
        if flags & FLAG_LEXICON != 0 {
            let s = sentiment::score(&mut self.tokens, &mut self.scratch);
            let pos = xxh3_64_with_seed(b"__lexicon_pos__", SEED_OTHER);
            let neg = xxh3_64_with_seed(b"__lexicon_neg__", SEED_OTHER);
            let n = self.tokens.tokens.len() as u32;
            if s > 0.0 {
                self.feats.push(Feat { bucket: bucket(pos), value: 3.0 * s, first: n, last: n });
            } else if s < 0.0 {
                self.feats.push(Feat { bucket: bucket(neg), value: -3.0 * s, first: n, last: n });
            }
        }
        // L2-normalise over the whole vector.
        let norm: f32 = self.feats.iter().map(|f| f.value * f.value).sum::<f32>().sqrt();
        if norm > 0.0 {
            for f in &mut self.feats {
                f.value /= norm;
            }
        }
        &self.feats
    }
}

/// Merge features by bucket into a sorted sparse vector.
fn merge(feats: &[Feat]) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = feats.iter().map(|f| (f.bucket, f.value)).collect();
    v.sort_unstable_by_key(|&(b, _)| b);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (b, x) in v {
        match out.last_mut() {
            Some(last) if last.0 == b => last.1 += x,
            _ => out.push((b, x)),
        }
    }
    out
}

/// A trained linear classifier for one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    task: Task,
    labels: Vec<String>,
    hash_bits: u8,
    flags: u8,
    bias: Vec<f32>,
    /// Dense `buckets × labels` weights, row-major by bucket.
    weights: Vec<f32>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 && sum.is_finite() {
        for s in scores.iter_mut() {
            *s /= sum;
        }
    }
}

/// Train a model on `(text, label)` pairs.
///
/// Errors: fewer than `options.min_examples` examples, fewer than two distinct labels, an empty
/// label, a non-sentiment label for [`Task::Sentiment`], or options out of range.
pub fn train<T, L>(task: Task, examples: &[(T, L)], options: &TrainOptions) -> Result<Model, Error>
where
    T: AsRef<str>,
    L: AsRef<str>,
{
    if !(10..=24).contains(&options.hash_bits) {
        return Err(Error::InvalidOptions(format!("hash_bits {} not in 10..=24", options.hash_bits)));
    }
    if options.epochs == 0 || options.epochs > 1000 {
        return Err(Error::InvalidOptions(format!("epochs {} not in 1..=1000", options.epochs)));
    }
    if !(options.learning_rate.is_finite() && options.learning_rate > 0.0) {
        return Err(Error::InvalidOptions("learning_rate must be positive".into()));
    }
    let needed = options.min_examples.max(2);
    if examples.len() < needed {
        return Err(Error::TooFewExamples { needed, got: examples.len() });
    }
    let mut label_set = BTreeSet::new();
    let mut gold_labels = Vec::with_capacity(examples.len());
    for (index, (_, label)) in examples.iter().enumerate() {
        let raw = label.as_ref().trim();
        if raw.is_empty() {
            return Err(Error::InvalidLabel { index, label: raw.to_string(), reason: "empty" });
        }
        let label = match task {
            Task::Sentiment => match SentimentLabel::parse(raw) {
                Some(l) => l.as_str().to_string(),
                None => {
                    return Err(Error::InvalidLabel {
                        index,
                        label: raw.to_string(),
                        reason: "sentiment labels are negative, neutral, positive",
                    });
                }
            },
            Task::Intent => raw.to_string(),
        };
        label_set.insert(label.clone());
        gold_labels.push(label);
    }
    if label_set.len() < 2 {
        return Err(Error::TooFewClasses(label_set.len()));
    }
    let labels: Vec<String> = match task {
        // Keep the conventional order for sentiment.
        Task::Sentiment => ["negative", "neutral", "positive"]
            .iter()
            .filter(|l| label_set.contains(**l))
            .map(|l| l.to_string())
            .collect(),
        Task::Intent => label_set.into_iter().collect(),
    };
    let k = labels.len();
    let flags = (if options.char_ngrams { FLAG_CHAR_NGRAMS } else { 0 })
        | (if options.lexicon_features { FLAG_LEXICON } else { 0 });

    let mut extractor = Extractor::default();
    let mut data: Vec<(Vec<(u32, f32)>, usize)> = Vec::with_capacity(examples.len());
    let mut counts = vec![0usize; k];
    for ((text, _), gold) in examples.iter().zip(&gold_labels) {
        let y = labels.iter().position(|l| l == gold).unwrap_or(0);
        counts[y] += 1;
        let feats = extractor.extract(text.as_ref(), options.hash_bits, flags);
        data.push((merge(feats), y));
    }
    let class_weight: Vec<f32> = counts
        .iter()
        .map(|&c| if options.balance_classes && c > 0 { data.len() as f32 / (k as f32 * c as f32) } else { 1.0 })
        .collect();

    let buckets = 1usize << options.hash_bits;
    let mut w = vec![0f32; buckets * k];
    let mut u = vec![0f32; buckets * k];
    let mut b = vec![0f32; k];
    let mut ub = vec![0f32; k];
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = Rng(options.seed);
    let mut c: f32 = 1.0;
    let mut scores = vec![0f32; k];
    for epoch in 0..options.epochs {
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let lr = options.learning_rate / (1.0 + epoch as f32);
        for &idx in &order {
            let (x, y) = &data[idx];
            scores.copy_from_slice(&b);
            for &(f, v) in x {
                let row = &w[f as usize * k..f as usize * k + k];
                for (s, wk) in scores.iter_mut().zip(row) {
                    *s += wk * v;
                }
            }
            softmax(&mut scores);
            let cw = class_weight[*y];
            for (cls, p) in scores.iter().enumerate() {
                let g = (p - if cls == *y { 1.0 } else { 0.0 }) * cw;
                if g == 0.0 {
                    continue;
                }
                let step = lr * g;
                b[cls] -= step;
                ub[cls] -= c * step;
                for &(f, v) in x {
                    let at = f as usize * k + cls;
                    w[at] -= step * v;
                    u[at] -= c * step * v;
                }
            }
            c += 1.0;
        }
    }
    // Averaged weights: w - u / c; then prune tiny ones.
    for (wi, ui) in w.iter_mut().zip(&u) {
        let avg = *wi - ui / c;
        *wi = if avg.abs() < PRUNE_BELOW { 0.0 } else { avg };
    }
    for (bi, ui) in b.iter_mut().zip(&ub) {
        *bi -= ui / c;
    }
    Ok(Model { task, labels, hash_bits: options.hash_bits, flags, bias: b, weights: w })
}

impl Model {
    /// The task it was trained for.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Its labels, in the order of [`probabilities`](Self::probabilities).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of non-zero weights.
    pub fn non_zero_weights(&self) -> usize {
        self.weights.iter().filter(|w| **w != 0.0).count()
    }

    fn scores_for(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let k = self.labels.len();
        let mut scores = self.bias.clone();
        for &(f, v) in x {
            let start = f as usize * k;
            if let Some(row) = self.weights.get(start..start + k) {
                for (s, wk) in scores.iter_mut().zip(row) {
                    *s += wk * v;
                }
            }
        }
        softmax(&mut scores);
        scores
    }

    /// Probability of each label (same order as [`labels`](Self::labels)).
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let mut ex = Extractor::default();
        let x = merge(ex.extract(text, self.hash_bits, self.flags));
        self.scores_for(&x)
    }

    /// Predict the label of a text, with its probability and the (at most five) words that
    /// pushed toward it most.
    pub fn predict(&self, text: &str) -> Prediction {
        let (capped, _) = cap(text);
        let mut ex = Extractor::default();
        let feats = ex.extract(capped, self.hash_bits, self.flags).to_vec();
        let x = merge(&feats);
        let probs = self.scores_for(&x);
        let (best, p) =
            probs.iter().enumerate().fold((0usize, f32::MIN), |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc });
        let k = self.labels.len();
        // Contribution of each feature to the winning label's margin over the mean label.
        let mut by_origin: Vec<((u32, u32), f32)> = Vec::new();
        for f in &feats {
            let start = f.bucket as usize * k;
            let Some(row) = self.weights.get(start..start + k) else {
                continue;
            };
            let mean = row.iter().sum::<f32>() / k as f32;
            let contrib = f.value * (row[best] - mean);
            match by_origin.iter_mut().find(|(o, _)| *o == (f.first, f.last)) {
                Some((_, c)) => *c += contrib,
                None => by_origin.push(((f.first, f.last), contrib)),
            }
        }
        by_origin.sort_by(|a, b| b.1.total_cmp(&a.1));
        let tokens = &ex.tokens.tokens;
        let field = match self.task {
            Task::Sentiment => CueField::Sentiment,
            Task::Intent => CueField::Intent(Intent::from_label(&self.labels[best])),
        };
        let cues = by_origin
            .into_iter()
            .filter(|(_, c)| *c > 0.0)
            .take(5)
            .map(|((first, last), c)| {
                let text = match (tokens.get(first as usize), tokens.get(last as usize)) {
                    (Some(a), Some(b)) => {
                        capped.get(a.orig_start as usize..b.orig_end as usize).unwrap_or("").to_string()
                    }
                    _ => "[lexicon score]".to_string(),
                };
                Cue { field: field.clone(), text, weight: c.clamp(0.0, 1.0) }
            })
            .collect();
        Prediction { label: self.labels[best].clone(), score: p, cues }
    }

    /// Serialise to the compact, versioned binary format (only non-zero weight rows).
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.labels.len();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(match self.task {
            Task::Sentiment => 0,
            Task::Intent => 1,
        });
        out.push(self.hash_bits);
        out.push(self.flags);
        out.extend_from_slice(&(k as u16).to_le_bytes());
        for l in &self.labels {
            let bytes = l.as_bytes();
            let len = bytes.len().min(u16::MAX as usize);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&bytes[..len]);
        }
        for v in &self.bias {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let rows: Vec<usize> = (0..self.weights.len() / k.max(1))
            .filter(|&r| self.weights[r * k..r * k + k].iter().any(|w| *w != 0.0))
            .collect();
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        let mut prev = 0usize;
        for (n, &r) in rows.iter().enumerate() {
            let delta = if n == 0 { r } else { r - prev };
            prev = r;
            let mut d = delta as u64;
            loop {
                let byte = (d & 0x7f) as u8;
                d >>= 7;
                if d == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
            for v in &self.weights[r * k..r * k + k] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Read a model written by [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, Error> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(Error::InvalidModel("not a tend-text model (bad magic)".into()));
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(Error::InvalidModel(format!("unsupported format version {version}")));
        }
        let task = match r.u8()? {
            0 => Task::Sentiment,
            1 => Task::Intent,
            t => return Err(Error::InvalidModel(format!("unknown task {t}"))),
        };
        let hash_bits = r.u8()?;
        if !(10..=24).contains(&hash_bits) {
            return Err(Error::InvalidModel(format!("hash bits {hash_bits} out of range")));
        }
        let flags = r.u8()?;
        let k = u16::from_le_bytes([r.u8()?, r.u8()?]) as usize;
        if k < 2 {
            return Err(Error::InvalidModel(format!("{k} labels")));
        }
        let mut labels = Vec::with_capacity(k);
        for _ in 0..k {
            let len = u16::from_le_bytes([r.u8()?, r.u8()?]) as usize;
            let s = std::str::from_utf8(r.take(len)?).map_err(|_| Error::InvalidModel("label is not UTF-8".into()))?;
            labels.push(s.to_string());
        }
        let mut bias = Vec::with_capacity(k);
        for _ in 0..k {
            bias.push(r.f32()?);
        }
        let buckets = 1usize << hash_bits;
        let mut weights = vec![0f32; buckets * k];
        let rows = u32::from_le_bytes([r.u8()?, r.u8()?, r.u8()?, r.u8()?]) as usize;
        let mut bucket = 0usize;
        for n in 0..rows {
            let mut delta = 0u64;
            let mut shift = 0;
            loop {
                let byte = r.u8()?;
                if shift > 56 {
                    return Err(Error::InvalidModel("bad varint".into()));
                }
                delta |= u64::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            bucket = if n == 0 { delta as usize } else { bucket.saturating_add(delta as usize) };
            if bucket >= buckets || (n > 0 && delta == 0) {
                return Err(Error::InvalidModel(format!("bucket {bucket} out of range")));
            }
            for cls in 0..k {
                weights[bucket * k + cls] = r.f32()?;
            }
        }
        if r.at != bytes.len() {
            return Err(Error::InvalidModel("trailing bytes".into()));
        }
        Ok(Model { task, labels, hash_bits, flags, bias, weights })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::InvalidModel("truncated".into()));
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn f32(&mut self) -> Result<f32, Error> {
        let b = self.take(4)?;
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if v.is_finite() { Ok(v) } else { Err(Error::InvalidModel("non-finite weight".into())) }
    }
}

impl Classifier for Model {
    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }
    fn classify(&self, text: &str) -> Prediction {
        self.predict(text)
    }
}
