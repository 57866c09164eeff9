//! The trained model: Fellegi–Sunter weights, scoring with explanations, linkage and dedupe.
//!
//! A pair's match weight is `log2(λ / (1 − λ)) + Σ_f log2(m_f,l / u_f,l)` over its fields, `l`
//! being the pair's agreement level on field `f` (missing values add 0). Its match probability is
//! `1 / (1 + 2^-weight)`. With term-frequency adjustment, an `exact` agreement on value `v` of a
//! field uses `u = frequency(v)` instead of the average `u`: two "smith"s weigh less than two
//! "zabrowski"s.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::blocking::{self, BlockIndex, Candidates};
use crate::compare::{self, FieldKind, FnvMap, NULL, Value};
use crate::schema::{Prepared, Record, Schema};
use crate::train::{self, TrainOptions, TrainingSummary};

/// The learned parameters of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldParameters {
    /// The field.
    pub name: String,
    /// Its level names, for people reading the model (see [`FieldKind::levels`]).
    pub levels: Vec<String>,
    /// `m[l]`: the probability that a matching pair shows level `l`.
    pub m: Vec<f64>,
    /// `u[l]`: the probability that a non-matching pair shows level `l`.
    pub u: Vec<f64>,
    /// Value frequencies for term-frequency adjustment, when the field asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_frequencies: Option<TermFrequencies>,
}

impl FieldParameters {
    /// The match weight `log2(m / u)` of `level` (0 for [`NULL`] or an unknown level).
    pub fn weight(&self, level: u8) -> f64 {
        match (self.m.get(usize::from(level)), self.u.get(usize::from(level))) {
            (Some(m), Some(u)) if *m > 0.0 && *u > 0.0 => (m / u).log2(),
            _ => 0.0,
        }
    }
}

/// How often each value of a field occurs in the training data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TermFrequencies {
    /// Records with a value for the field.
    pub total: u64,
    /// Occurrences of each normalised value seen at least twice (others count as seen once).
    pub counts: BTreeMap<String, u64>,
}

impl TermFrequencies {
    fn from_values<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut all: FnvMap<&str, u64> = FnvMap::default();
        let mut total = 0;
        for value in values {
            total += 1;
            *all.entry(value).or_default() += 1;
        }
        let counts =
            all.into_iter().filter(|(_, count)| *count >= 2).map(|(value, count)| (value.to_string(), count)).collect();
        Self { total, counts }
    }

    /// The frequency of a normalised value: its share of the records that have one.
    pub fn frequency(&self, key: &str) -> f64 {
        let count = self.counts.get(key).copied().unwrap_or(1);
        count as f64 / self.total.max(1) as f64
    }
}

/// A trained matcher. Serialisable, so a service can keep one per tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Fields, comparators and blocking rules.
    pub schema: Schema,
    /// λ: the prior probability that two records drawn at random (from the population `u`
    /// describes) are a match.
    pub prior: f64,
    /// Learned parameters, one per schema field, in order.
    pub fields: Vec<FieldParameters>,
    /// How training went.
    pub training: TrainingSummary,
}

/// The data to learn from: two sets to link, or one set to deduplicate.
#[derive(Debug, Clone, Copy)]
pub enum TrainingData<'a> {
    /// Link records of `left` to records of `right`.
    Link {
        /// One side (e.g. social profiles).
        left: &'a [Record],
        /// The other (e.g. CRM customers).
        right: &'a [Record],
    },
    /// Find duplicates within one set.
    Dedupe(&'a [Record]),
}

/// How matched pairs are selected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchOptions {
    /// Keep pairs whose match probability is at least this.
    pub threshold: f64,
    /// Link mode only: each record takes part in at most one pair, best weight first (greedy).
    pub one_to_one: bool,
}

impl Default for MatchOptions {
    fn default() -> Self {
        Self { threshold: 0.9, one_to_one: false }
    }
}

/// A matched pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    /// Index of the left record (in dedupe mode, the lower index).
    pub left: usize,
    /// Index of the right record.
    pub right: usize,
    /// The left record's id.
    pub left_id: String,
    /// The right record's id.
    pub right_id: String,
    /// The match weight, in bits.
    pub weight: f64,
    /// The match probability.
    pub probability: f64,
}

/// How one field contributed to a pair's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldExplanation {
    /// The field.
    pub field: String,
    /// The agreement level's name (`"null"` when a value is missing).
    pub level: String,
    /// The left value, normalised.
    pub left: Option<String>,
    /// The right value, normalised.
    pub right: Option<String>,
    /// The field's contribution to the weight, in bits.
    pub weight: f64,
    /// The value frequency used as `u` when term-frequency adjustment applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_frequency: Option<f64>,
}

/// A pair's score with its explanation: `weight = prior_weight + Σ fields[i].weight`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The match probability, `1 / (1 + 2^-weight)`.
    pub probability: f64,
    /// The match weight, in bits.
    pub weight: f64,
    /// The prior's part of the weight, `log2(λ / (1 − λ))`.
    pub prior_weight: f64,
    /// Each field's part.
    pub fields: Vec<FieldExplanation>,
}

/// Time spent per phase of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Normalising the records.
    pub prepare: Duration,
    /// Generating candidate pairs.
    pub block: Duration,
    /// Computing the candidates' comparison vectors.
    pub compare: Duration,
    /// Estimating `u` (random pairs) and `m` (EM).
    pub train: Duration,
    /// Weighing the candidates and selecting the pairs.
    pub score: Duration,
}

impl Timings {
    /// All phases together.
    pub fn total(&self) -> Duration {
        self.prepare + self.block + self.compare + self.train + self.score
    }
}

/// Figures of one linkage or dedupe run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    /// Candidate pairs compared.
    pub candidate_pairs: usize,
    /// New pairs per blocking rule, by rule name.
    pub pairs_per_rule: Vec<(String, usize)>,
    /// Blocks skipped for size.
    pub skipped_blocks: usize,
    /// Time per phase.
    pub timings: Timings,
}

/// The result of training and matching in one pass.
#[derive(Debug, Clone)]
pub struct Run {
    /// The model learned from the data.
    pub model: Model,
    /// The selected pairs, highest weight first.
    pub pairs: Vec<ScoredPair>,
    /// Figures.
    pub stats: RunStats,
}

/// The probability of a match weight.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}

impl Model {
    /// Learn a model from unlabelled data (see [`crate::train`] for how).
    pub fn train(schema: Schema, data: TrainingData<'_>, options: &TrainOptions) -> Result<Self, Error> {
        schema.validate()?;
        let (left, right) = match data {
            TrainingData::Link { left, right } => (schema.prepare(left), Some(schema.prepare(right))),
            TrainingData::Dedupe(records) => (schema.prepare(records), None),
        };
        let candidates = blocking::candidates(&schema, &left, right.as_ref());
        let vectors = compare_all(&schema, &left, right.as_ref().unwrap_or(&left), &candidates.pairs);
        fit(schema, &left, right.as_ref(), &candidates, &vectors, options)
    }

    /// Score one pair, with each field's level, values and weight.
    pub fn score(&self, left: &Record, right: &Record) -> Scored {
        let prepared_left = self.schema.prepare(std::slice::from_ref(left));
        let prepared_right = self.schema.prepare(std::slice::from_ref(right));
        let partners = self.schema.partners();
        let prior_weight = self.prior_weight();
        let mut weight = prior_weight;
        let mut fields = Vec::with_capacity(self.schema.fields.len());
        for (index, spec) in self.schema.fields.iter().enumerate() {
            let (a, b) = (prepared_left.value(0, index), prepared_right.value(0, index));
            let pair_partners = match partners.get(index).copied().flatten() {
                Some(partner) => (prepared_left.value(0, partner), prepared_right.value(0, partner)),
                None => (None, None),
            };
            let level = compare::compare(spec.kind, a, b, pair_partners);
            let term_frequency = self.term_frequency(index, level, a, b);
            let field_weight = match term_frequency {
                Some(frequency) => self.exact_weight_for(index, frequency),
                None => self.fields.get(index).map_or(0.0, |parameters| parameters.weight(level)),
            };
            weight += field_weight;
            fields.push(FieldExplanation {
                field: spec.name.clone(),
                level: spec.kind.level_name(level).to_string(),
                left: a.map(|value| value.display.clone()),
                right: b.map(|value| value.display.clone()),
                weight: field_weight,
                term_frequency,
            });
        }
        Scored { probability: probability(weight), weight, prior_weight, fields }
    }

    /// Link `left` to `right`: the candidate pairs whose probability reaches the threshold.
    pub fn link(&self, left: &[Record], right: &[Record], options: &MatchOptions) -> Vec<ScoredPair> {
        let (prepared_left, prepared_right) = (self.schema.prepare(left), self.schema.prepare(right));
        let candidates = blocking::candidates(&self.schema, &prepared_left, Some(&prepared_right));
        let vectors = compare_all(&self.schema, &prepared_left, &prepared_right, &candidates.pairs);
        let sides = Sides { left, right, prepared_left: &prepared_left, prepared_right: &prepared_right };
        self.select(&sides, &candidates.pairs, &vectors, options)
    }

    /// Duplicates within `records`: pairs `i < j` whose probability reaches the threshold
    /// (`one_to_one` does not apply).
    pub fn dedupe(&self, records: &[Record], options: &MatchOptions) -> Vec<ScoredPair> {
        let prepared = self.schema.prepare(records);
        let candidates = blocking::candidates(&self.schema, &prepared, None);
        let vectors = compare_all(&self.schema, &prepared, &prepared, &candidates.pairs);
        let sides = Sides { left: records, right: records, prepared_left: &prepared, prepared_right: &prepared };
        let options = MatchOptions { one_to_one: false, ..options.clone() };
        self.select(&sides, &candidates.pairs, &vectors, &options)
    }

    /// Keep `records` (the CRM customers) normalised and blocked, to find the matches of one
    /// record at a time ([`Index::matches`]) without going over all of them.
    pub fn index(&self, records: Vec<Record>) -> Index {
        let prepared = self.schema.prepare(&records);
        let blocks = BlockIndex::new(&self.schema, &prepared);
        Index { model: self.clone(), records, prepared, blocks }
    }

    /// `log2(λ / (1 − λ))`.
    pub fn prior_weight(&self) -> f64 {
        let prior = self.prior.clamp(f64::MIN_POSITIVE, 1.0 - f64::EPSILON);
        (prior / (1.0 - prior)).log2()
    }

    /// The frequency to use as `u` when `level` is an exact agreement on a field with
    /// term-frequency adjustment.
    fn term_frequency(&self, field: usize, level: u8, left: Option<&Value>, right: Option<&Value>) -> Option<f64> {
        if level != 0 {
            return None;
        }
        let table = self.fields.get(field)?.term_frequencies.as_ref()?;
        let (left, right) = (left?, right?);
        Some(table.frequency(&left.key).max(table.frequency(&right.key)))
    }

    /// The weight of an exact agreement on a value of this frequency: `log2(m_exact / frequency)`.
    fn exact_weight_for(&self, field: usize, frequency: f64) -> f64 {
        let m_exact = self.fields.get(field).and_then(|parameters| parameters.m.first()).copied().unwrap_or(1.0);
        (m_exact / frequency.max(train::FLOOR)).log2()
    }

    /// Weigh the candidates and select the pairs to report.
    fn select(
        &self,
        sides: &Sides<'_>,
        pairs: &[(u32, u32)],
        vectors: &[u8],
        options: &MatchOptions,
    ) -> Vec<ScoredPair> {
        let weights = self.weights(sides, pairs, vectors);
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by(|a, b| {
            let (weight_a, weight_b) =
                (weights.get(*a).copied().unwrap_or_default(), weights.get(*b).copied().unwrap_or_default());
            weight_b.total_cmp(&weight_a).then(a.cmp(b))
        });
        let mut used_left = vec![false; sides.left.len()];
        let mut used_right = vec![false; sides.right.len()];
        let mut selected = Vec::new();
        for index in order {
            let (Some(&(left_index, right_index)), Some(&weight)) = (pairs.get(index), weights.get(index)) else {
                continue;
            };
            let (left, right) = (left_index as usize, right_index as usize);
            let match_probability = probability(weight);
            if match_probability < options.threshold {
                break;
            }
            if options.one_to_one {
                let (Some(left_used), Some(right_used)) = (used_left.get_mut(left), used_right.get_mut(right)) else {
                    continue;
                };
                if *left_used || *right_used {
                    continue;
                }
                (*left_used, *right_used) = (true, true);
            }
            let id = |records: &[Record], index: usize| records.get(index).map(|record| record.id.clone());
            selected.push(ScoredPair {
                left,
                right,
                left_id: id(sides.left, left).unwrap_or_default(),
                right_id: id(sides.right, right).unwrap_or_default(),
                weight,
                probability: match_probability,
            });
        }
        selected
    }

    /// The match weight of every candidate pair, from its comparison vector.
    fn weights(&self, sides: &Sides<'_>, pairs: &[(u32, u32)], vectors: &[u8]) -> Vec<f64> {
        let width = self.schema.fields.len();
        // Level weights, NULL mapped to 0.
        let table: Vec<Vec<f64>> = self
            .fields
            .iter()
            .map(|parameters| (0..parameters.m.len()).map(|level| parameters.weight(level as u8)).collect())
            .collect();
        // Per record, per term-frequency field, the exact-agreement weight of its own value.
        let tf_fields: Vec<usize> = (0..width)
            .filter(|field| self.fields.get(*field).is_some_and(|parameters| parameters.term_frequencies.is_some()))
            .collect();
        let exact_weights = |prepared: &Prepared| -> Vec<f64> {
            let mut out = Vec::with_capacity(prepared.len() * tf_fields.len());
            for index in 0..prepared.len() {
                for &field in &tf_fields {
                    let value = prepared.value(index, field);
                    let frequency = self.term_frequency(field, 0, value, value);
                    out.push(frequency.map_or(f64::INFINITY, |frequency| self.exact_weight_for(field, frequency)));
                }
            }
            out
        };
        let tf_left = exact_weights(sides.prepared_left);
        // In dedupe mode both sides are the same records: compute their weights once.
        let tf_right_own =
            (!std::ptr::eq(sides.prepared_left, sides.prepared_right)).then(|| exact_weights(sides.prepared_right));
        let tf_right = tf_right_own.as_ref().unwrap_or(&tf_left);
        let prior_weight = self.prior_weight();
        let mut is_tf = vec![usize::MAX; width];
        for (position, field) in tf_fields.iter().enumerate() {
            if let Some(slot) = is_tf.get_mut(*field) {
                *slot = position;
            }
        }
        pairs
            .iter()
            .zip(vectors.chunks_exact(width.max(1)))
            .map(|(&(left, right), levels)| {
                let mut weight = prior_weight;
                for (field, &level) in levels.iter().enumerate() {
                    if level == NULL {
                        continue;
                    }
                    let position = is_tf.get(field).copied().unwrap_or(usize::MAX);
                    if level == 0 && position != usize::MAX {
                        // The less frequent of the two values' weights is the more cautious one:
                        // take the lower weight, i.e. the higher frequency.
                        let slot = |tf: &[f64], index: u32| {
                            tf.get(index as usize * tf_fields.len() + position).copied().unwrap_or(f64::INFINITY)
                        };
                        let tf_weight = slot(&tf_left, left).min(slot(tf_right, right));
                        if tf_weight.is_finite() {
                            weight += tf_weight;
                            continue;
                        }
                    }
                    weight +=
                        table.get(field).and_then(|levels| levels.get(usize::from(level))).copied().unwrap_or(0.0);
                }
                weight
            })
            .collect()
    }
}

/// A record set normalised and blocked under a model, for one-at-a-time lookups.
#[derive(Debug, Clone)]
pub struct Index {
    model: Model,
    records: Vec<Record>,
    prepared: Prepared,
    blocks: BlockIndex,
}

impl Index {
    /// The records of `self` that match `record`: pairs `(0, i)` with `i` an index into
    /// [`Index::records`], above the threshold, highest weight first (`one_to_one` keeps the best).
    pub fn matches(&self, record: &Record, options: &MatchOptions) -> Vec<ScoredPair> {
        let query = self.model.schema.prepare(std::slice::from_ref(record));
        let pairs: Vec<(u32, u32)> =
            self.blocks.lookup(&self.model.schema, &query, 0).into_iter().map(|index| (0, index)).collect();
        let vectors = compare_all(&self.model.schema, &query, &self.prepared, &pairs);
        let sides = Sides {
            left: std::slice::from_ref(record),
            right: &self.records,
            prepared_left: &query,
            prepared_right: &self.prepared,
        };
        self.model.select(&sides, &pairs, &vectors, options)
    }

    /// The indexed records.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The model it scores with.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// The two sides of a linkage (the same records twice in dedupe mode).
struct Sides<'a> {
    left: &'a [Record],
    right: &'a [Record],
    prepared_left: &'a Prepared,
    prepared_right: &'a Prepared,
}

/// Train on `left` and `right` and link them in one pass (each record normalised once, each
/// candidate pair compared once): what `tend identity link` and the benchmark run.
pub fn train_and_link(
    schema: Schema,
    left: &[Record],
    right: &[Record],
    train_options: &TrainOptions,
    options: &MatchOptions,
) -> Result<Run, Error> {
    run(schema, left, Some(right), train_options, options)
}

/// Train on `records` and deduplicate them in one pass.
pub fn train_and_dedupe(
    schema: Schema,
    records: &[Record],
    train_options: &TrainOptions,
    options: &MatchOptions,
) -> Result<Run, Error> {
    let options = MatchOptions { one_to_one: false, ..options.clone() };
    run(schema, records, None, train_options, &options)
}

fn run(
    schema: Schema,
    left: &[Record],
    right: Option<&[Record]>,
    train_options: &TrainOptions,
    options: &MatchOptions,
) -> Result<Run, Error> {
    schema.validate()?;
    let mut timings = Timings::default();
    let clock = Instant::now();
    let prepared_left = schema.prepare(left);
    let prepared_right = right.map(|right| schema.prepare(right));
    timings.prepare = clock.elapsed();

    let clock = Instant::now();
    let candidates = blocking::candidates(&schema, &prepared_left, prepared_right.as_ref());
    timings.block = clock.elapsed();

    let clock = Instant::now();
    let other = prepared_right.as_ref().unwrap_or(&prepared_left);
    let vectors = compare_all(&schema, &prepared_left, other, &candidates.pairs);
    timings.compare = clock.elapsed();

    let clock = Instant::now();
    let stats_rules: Vec<(String, usize)> =
        schema.blocking.iter().map(|rule| rule.name.clone()).zip(candidates.per_rule.iter().copied()).collect();
    let model = fit(schema, &prepared_left, prepared_right.as_ref(), &candidates, &vectors, train_options)?;
    timings.train = clock.elapsed();

    let clock = Instant::now();
    let sides = Sides { left, right: right.unwrap_or(left), prepared_left: &prepared_left, prepared_right: other };
    let pairs = model.select(&sides, &candidates.pairs, &vectors, options);
    timings.score = clock.elapsed();

    let stats = RunStats {
        candidate_pairs: candidates.pairs.len(),
        pairs_per_rule: stats_rules,
        skipped_blocks: candidates.skipped_blocks,
        timings,
    };
    Ok(Run { model, pairs, stats })
}

/// The comparison vectors of `pairs`, `width` levels per pair, row after row.
fn compare_all(schema: &Schema, left: &Prepared, right: &Prepared, pairs: &[(u32, u32)]) -> Vec<u8> {
    let comparer = Comparer::new(schema);
    let mut vectors = vec![NULL; pairs.len() * schema.fields.len()];
    for (&(a, b), out) in pairs.iter().zip(vectors.chunks_exact_mut(schema.fields.len().max(1))) {
        comparer.compare(left.row(a as usize), right.row(b as usize), out);
    }
    vectors
}

/// Compares two prepared rows field by field.
struct Comparer {
    kinds: Vec<FieldKind>,
    partners: Vec<Option<usize>>,
}

impl Comparer {
    fn new(schema: &Schema) -> Self {
        Self { kinds: schema.fields.iter().map(|field| field.kind).collect(), partners: schema.partners() }
    }

    fn compare(&self, left: &[Option<Value>], right: &[Option<Value>], out: &mut [u8]) {
        fn value(row: &[Option<Value>], index: usize) -> Option<&Value> {
            row.get(index).and_then(Option::as_ref)
        }
        for (field, (slot, kind)) in out.iter_mut().zip(&self.kinds).enumerate() {
            let partners = match self.partners.get(field).copied().flatten() {
                Some(partner) => (value(left, partner), value(right, partner)),
                None => (None, None),
            };
            *slot = compare::compare(*kind, value(left, field), value(right, field), partners);
        }
    }
}

/// Estimate the parameters from prepared data, its candidates and their comparison vectors.
fn fit(
    schema: Schema,
    left: &Prepared,
    right: Option<&Prepared>,
    candidates: &Candidates,
    vectors: &[u8],
    options: &TrainOptions,
) -> Result<Model, Error> {
    if candidates.pairs.is_empty() {
        return Err(Error::Training("the blocking rules found no candidate pairs to learn from".into()));
    }
    let comparer = Comparer::new(&schema);
    let other = right.unwrap_or(left);
    let compare_pair = |a: usize, b: usize, out: &mut [u8]| comparer.compare(left.row(a), other.row(b), out);
    let (u, sampled) = train::estimate_u(&schema, left, right, options, &compare_pair);
    let kinds: Vec<FieldKind> = schema.fields.iter().map(|field| field.kind).collect();
    let estimate = train::expectation_maximisation(&kinds, vectors, u, options);

    let (left_count, right_count) = (left.len(), right.map_or(0, Prepared::len));
    let all_pairs = match right {
        Some(_) => left_count as f64 * right_count as f64,
        None => left_count as f64 * (left_count as f64 - 1.0) / 2.0,
    };
    let prior = if options.refine_u {
        estimate.match_rate
    } else {
        (estimate.match_rate * candidates.pairs.len() as f64 / all_pairs.max(1.0)).clamp(1e-12, 1.0 - train::FLOOR)
    };

    let fields = schema
        .fields
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let term_frequencies = spec.term_frequency.then(|| {
                let sides = std::iter::once(left).chain(right);
                let keys = sides.flat_map(|prepared| {
                    (0..prepared.len())
                        .filter_map(move |row| prepared.value(row, index).map(|value| value.key.as_str()))
                });
                TermFrequencies::from_values(keys)
            });
            FieldParameters {
                name: spec.name.clone(),
                levels: spec.kind.levels().iter().map(|level| (*level).to_string()).collect(),
                m: estimate.m.get(index).cloned().unwrap_or_default(),
                u: estimate.u.get(index).cloned().unwrap_or_default(),
                term_frequencies,
            }
        })
        .collect();
    let training = TrainingSummary {
        left_records: left_count,
        right_records: right_count,
        candidate_pairs: candidates.pairs.len(),
        patterns: estimate.patterns,
        u_sample_pairs: sampled,
        iterations: estimate.iterations,
        converged: estimate.converged,
        candidate_match_rate: estimate.match_rate,
    };
    Ok(Model { schema, prior, fields, training })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::synthetic;

    fn data() -> &'static (Vec<Record>, Vec<Record>) {
        static DATA: OnceLock<(Vec<Record>, Vec<Record>)> = OnceLock::new();
        DATA.get_or_init(|| synthetic::linkage(7, 400, 300, 100))
    }

    fn model() -> &'static Model {
        static MODEL: OnceLock<Model> = OnceLock::new();
        MODEL.get_or_init(|| {
            let (left, right) = data();
            Model::train(Schema::febrl(), TrainingData::Link { left, right }, &TrainOptions::default()).unwrap()
        })
    }

    #[test]
    fn training_learns_m_above_u_where_values_agree() {
        let model = model();
        assert!(model.training.converged);
        assert!(model.prior > 0.0 && model.prior < 0.01, "{}", model.prior);
        for field in &model.fields {
            let (m, u) = (&field.m, &field.u);
            assert!(m[0] > 5.0 * u[0], "{}: exact m {} u {}", field.name, m[0], u[0]);
            let last = m.len() - 1;
            assert!(m[last] < u[last], "{}: else m {} u {}", field.name, m[last], u[last]);
            for probabilities in [m, u] {
                assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(probabilities.iter().all(|p| *p > 0.0 && *p < 1.0));
            }
        }
    }

    #[test]
    fn scores_separate_matches_from_non_matches() {
        let (left, right) = data();
        let model = model();
        let (mut matches, mut others) = (Vec::new(), Vec::new());
        for (index, a) in left.iter().enumerate().take(200) {
            for b in right.iter().skip(index % 7).step_by(7) {
                let probability = model.score(a, b).probability;
                if synthetic::same_person(&a.id, &b.id) { matches.push(probability) } else { others.push(probability) }
            }
        }
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        assert!(!matches.is_empty() && !others.is_empty());
        assert!(mean(&matches) > 0.9, "matches {}", mean(&matches));
        assert!(mean(&others) < 0.01, "non-matches {}", mean(&others));
    }

    #[test]
    fn term_frequency_lowers_the_weight_of_a_common_surname() {
        let model = model();
        let surname_weight = |surname: &str| {
            let a = Record::new("a").with("surname", surname).with("given_name", "ann");
            let b = Record::new("b").with("surname", surname).with("given_name", "zed");
            let scored = model.score(&a, &b);
            let field = scored.fields.iter().find(|field| field.field == "surname").unwrap().clone();
            assert_eq!(field.level, "exact");
            assert!(field.term_frequency.is_some());
            field.weight
        };
        let (common, rare) = (surname_weight("smith"), surname_weight("zabrowski"));
        assert!(common + 1.0 < rare, "smith {common}, zabrowski {rare}");
        let average = model.fields[1].weight(0);
        assert!(common < average && average < rare, "smith {common} < average {average} < zabrowski {rare}");
    }

    #[test]
    fn explanations_add_up_to_the_weight() {
        let (left, right) = data();
        let model = model();
        for (a, b) in left.iter().zip(right).take(50) {
            let scored = model.score(a, b);
            let sum: f64 = scored.prior_weight + scored.fields.iter().map(|field| field.weight).sum::<f64>();
            assert!((sum - scored.weight).abs() < 1e-9);
            assert_eq!(scored.fields.len(), model.schema.fields.len());
            assert!((scored.probability - probability(scored.weight)).abs() < 1e-12);
            for field in &scored.fields {
                if field.level == "null" {
                    assert_eq!(field.weight, 0.0);
                }
            }
        }
    }

    #[test]
    fn missing_values_carry_no_weight() {
        let model = model();
        let scored = model.score(&Record::new("a"), &Record::new("b").with("surname", "smith"));
        assert!(scored.fields.iter().all(|field| field.level == "null" && field.weight == 0.0));
        assert_eq!(scored.weight, scored.prior_weight);
    }

    #[test]
    fn a_stored_model_scores_the_same() {
        let (left, right) = data();
        let model = model();
        let json = serde_json::to_string(model).unwrap();
        let restored: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(restored.schema, model.schema);
        // JSON may round the last bit of a float: the scores agree to far below a rounding error.
        for (a, b) in left.iter().zip(right).take(20) {
            let (before, after) = (model.score(a, b), restored.score(a, b));
            assert!((before.weight - after.weight).abs() < 1e-9);
            let levels = |scored: &Scored| scored.fields.iter().map(|field| field.level.clone()).collect::<Vec<_>>();
            assert_eq!(levels(&before), levels(&after));
        }
    }

    #[test]
    fn link_with_a_trained_model_equals_the_one_pass_run() {
        let (left, right) = data();
        let options = MatchOptions { threshold: 0.5, one_to_one: true };
        let run = train_and_link(Schema::febrl(), left, right, &TrainOptions::default(), &options).unwrap();
        assert_eq!(&run.model, model());
        assert_eq!(model().link(left, right, &options), run.pairs);
        // The batch weights are the explained ones.
        for pair in &run.pairs {
            let scored = model().score(&left[pair.left], &right[pair.right]);
            assert!((scored.weight - pair.weight).abs() < 1e-9, "{} ~ {}", pair.left_id, pair.right_id);
        }
        assert!(run.stats.candidate_pairs > 0);
        assert_eq!(run.stats.pairs_per_rule.iter().map(|(_, count)| count).sum::<usize>(), run.stats.candidate_pairs);
    }

    #[test]
    fn an_index_finds_what_link_finds() {
        let (left, right) = data();
        let index = model().index(right.clone());
        assert_eq!(index.records().len(), right.len());
        let options = MatchOptions { threshold: 0.5, one_to_one: false };
        for (position, record) in left.iter().enumerate().take(60) {
            let expected: Vec<ScoredPair> = model()
                .link(std::slice::from_ref(record), right, &options)
                .into_iter()
                .map(|pair| ScoredPair { left: 0, ..pair })
                .collect();
            assert_eq!(index.matches(record, &options), expected, "record {position}");
        }
    }

    #[test]
    fn one_to_one_uses_each_record_once() {
        let (left, right) = data();
        let pairs = model().link(left, right, &MatchOptions { threshold: 0.0, one_to_one: true });
        let lefts: HashSet<usize> = pairs.iter().map(|pair| pair.left).collect();
        let rights: HashSet<usize> = pairs.iter().map(|pair| pair.right).collect();
        assert_eq!(lefts.len(), pairs.len());
        assert_eq!(rights.len(), pairs.len());
        let all = model().link(left, right, &MatchOptions { threshold: 0.0, one_to_one: false });
        assert!(all.len() > pairs.len());
        assert!(all.windows(2).all(|pair| pair[0].weight >= pair[1].weight));
    }

    #[test]
    fn dedupe_finds_duplicates_within_one_set() {
        let (left, right) = data();
        let records: Vec<Record> = left.iter().chain(right).cloned().collect();
        let run =
            train_and_dedupe(Schema::febrl(), &records, &TrainOptions::default(), &MatchOptions::default()).unwrap();
        assert!(run.pairs.iter().all(|pair| pair.left < pair.right));
        let correct = run.pairs.iter().filter(|pair| synthetic::same_person(&pair.left_id, &pair.right_id)).count();
        assert!(correct as f64 >= 0.9 * 300.0, "{correct} of 300 duplicates");
        assert!(correct as f64 >= 0.95 * run.pairs.len() as f64, "{correct} of {} pairs", run.pairs.len());
        assert_eq!(run.model.dedupe(&records, &MatchOptions::default()), run.pairs);
    }

    #[test]
    fn training_without_candidates_is_an_error() {
        let left = [Record::new("a").with("surname", "lee")];
        let right = [Record::new("b").with("surname", "kim")];
        let result =
            Model::train(Schema::febrl(), TrainingData::Link { left: &left, right: &right }, &TrainOptions::default());
        assert!(matches!(result, Err(Error::Training(_))));
    }

    fn arbitrary_record() -> impl Strategy<Value = Record> {
        let value = proptest::option::of("[a-zA-Z0-9 ]{0,12}");
        (value.clone(), value.clone(), value.clone(), value.clone(), value, proptest::option::of("19[0-9]{6}"))
            .prop_map(|(given, surname, street, suburb, postcode, dob)| {
                let mut record = Record::new("x");
                let fields = [("given_name", given), ("surname", surname), ("address_1", street), ("suburb", suburb)];
                for (field, value) in fields.into_iter().chain([("postcode", postcode), ("date_of_birth", dob)]) {
                    if let Some(value) = value {
                        record.set(field, value);
                    }
                }
                record
            })
    }

    proptest! {
        #[test]
        fn probabilities_are_probabilities_and_scores_symmetric(a in arbitrary_record(), b in arbitrary_record()) {
            let model = model();
            let forward = model.score(&a, &b);
            let backward = model.score(&b, &a);
            prop_assert!((0.0..=1.0).contains(&forward.probability));
            prop_assert!(forward.weight.is_finite());
            prop_assert_eq!(forward.weight, backward.weight);
            prop_assert_eq!(forward.probability, backward.probability);
            let levels = |scored: &Scored| scored.fields.iter().map(|field| field.level.clone()).collect::<Vec<_>>();
            prop_assert_eq!(levels(&forward), levels(&backward));
        }
    }
}
