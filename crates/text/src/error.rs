//! The crate's one error type. Enrichment itself never fails; only training, model loading and
//! label-file parsing can.

/// What can go wrong when training, loading a model or reading labels.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Training needs more examples.
    #[error("need at least {needed} labelled examples, got {got}")]
    TooFewExamples {
        /// The minimum ([`TrainOptions::min_examples`](crate::TrainOptions::min_examples)).
        needed: usize,
        /// How many were given.
        got: usize,
    },
    /// Training needs at least two distinct labels.
    #[error("need at least 2 distinct labels, got {0}")]
    TooFewClasses(usize),
    /// A label is empty or not valid for the task.
    #[error("example {index}: invalid label {label:?} ({reason})")]
    InvalidLabel {
        /// Zero-based example index.
        index: usize,
        /// The label as given.
        label: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Training options out of range.
    #[error("invalid training options: {0}")]
    InvalidOptions(String),
    /// Model bytes that are not a model this version can read.
    #[error("invalid model bytes: {0}")]
    InvalidModel(String),
    /// A labelled CSV file that could not be read.
    #[error("labels csv, line {line}: {message}")]
    Csv {
        /// One-based line number (the header is line 1).
        line: u64,
        /// What is wrong there.
        message: String,
    },
}
