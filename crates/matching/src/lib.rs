//! Probabilistic record matching for Tend: who is this author, which customer is this?
//!
//! A Fellegi–Sunter matcher in the spirit of Splink, unsupervised:
//!
//! 1. [`normalize`] every value (case, accents, spaces, punctuation; canonical emails and phones);
//! 2. keep the pairs worth comparing with [`Schema::blocking`] rules ([`BlockingRule`]);
//! 3. compare each field of a pair at several agreement levels ([`FieldKind::levels`]);
//! 4. learn `u` from random pairs and `m` by EM over the candidate pairs, without labels
//!    ([`TrainOptions`]); adjust exact agreement on names by the value's frequency;
//! 5. score: match weight `log2 prior odds + Σ log2(m/u)`, probability `1 / (1 + 2^-weight)`,
//!    with an explanation per field ([`Model::score`]).
//!
//! [`Model::link`] and [`Model::dedupe`] select the pairs above a threshold, optionally one to one;
//! [`train_and_link`] and [`train_and_dedupe`] learn and match in one pass; [`batch`] does it for
//! CSV files. Pure logic: the only I/O is in [`batch`].
//!
//! ```
//! use tend_matching::{MatchOptions, Model, Record, Schema, TrainOptions, TrainingData};
//!
//! # fn main() -> Result<(), tend_matching::Error> {
//! let person = |id: &str, given: &str, surname: &str, email: &str, city: &str| {
//!     Record::new(id).with("given_name", given).with("surname", surname).with("email", email).with("city", city)
//! };
//! let customers = vec![
//!     person("c1", "Zoë", "Müller", "zoe.muller@example.org", "Lyon"),
//!     person("c2", "Ana", "Lima", "ana@example.org", "Porto"),
//!     person("c3", "John", "Smith", "js@example.org", "Leeds"),
//!     person("c4", "Jane", "Smith", "jane@example.org", "York"),
//! ];
//! let profiles = vec![
//!     person("p1", "zoe", "muller", "Zoe.Muller+shop@example.org", "lyon"),
//!     person("p2", "Jon", "Smith", "", "Leeds"),
//!     person("p3", "Ana", "Lima", "", "Porto"),
//!     person("p4", "Mark", "Tan", "mark@example.org", "Perth"),
//! ];
//! // Learn the weights from the data itself (no labels), then score and explain one pair.
//! let data = TrainingData::Link { left: &profiles, right: &customers };
//! let model = Model::train(Schema::person(), data, &TrainOptions::default())?;
//! let scored = model.score(&profiles[0], &customers[0]);
//! assert!(scored.probability > 0.9);
//! let email = scored.fields.iter().find(|field| field.field == "email").map(|field| field.level.as_str());
//! assert_eq!(email, Some("exact"));
//! // A serialisable model: store one per tenant.
//! let stored = serde_json::to_string(&model).map_err(|error| tend_matching::Error::Training(error.to_string()))?;
//! # let _ = stored;
//! // Link every profile to at most one customer.
//! let pairs = model.link(&profiles, &customers, &MatchOptions { threshold: 0.9, one_to_one: true });
//! assert!(pairs.iter().any(|pair| pair.left_id == "p1" && pair.right_id == "c1"));
//! # Ok(())
//! # }
//! ```

pub mod batch;
mod blocking;
pub mod compare;
mod model;
pub mod normalize;
mod schema;
pub mod train;

#[cfg(test)]
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

pub use compare::FieldKind;
pub use model::{
    FieldExplanation, FieldParameters, Index, MatchOptions, Model, Run, RunStats, Scored, ScoredPair, TermFrequencies,
    Timings, TrainingData, probability, train_and_dedupe, train_and_link,
};
pub use schema::{BlockingRule, DEFAULT_MAX_BLOCK_PAIRS, FieldSpec, KeyPart, KeyTransform, Record, Schema};
pub use train::{TrainOptions, TrainingSummary};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The schema is inconsistent (unknown field in a rule, duplicate field…).
    #[error("invalid schema: {0}")]
    Schema(String),
    /// Training could not learn anything (no candidate pairs).
    #[error("cannot train: {0}")]
    Training(String),
    /// A CSV file could not be read or written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// Why.
        source: csv::Error,
    },
    /// A CSV input lacks something the schema needs (an id column, any schema field).
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: String,
        /// What is missing.
        message: String,
    },
    /// Writing the results failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file (or `-` for standard output).
        path: String,
        /// Why.
        source: std::io::Error,
    },
}
