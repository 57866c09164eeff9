//! Case rules that need no I/O.

use tend_kernel::ApiError;
use tend_proto::v1;

/// Longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;
/// Longest resolution note accepted, in bytes.
pub const MAX_NOTE: usize = 4096;
/// Longest subject kept, in characters.
const SUBJECT_CHARS: usize = 120;

/// What enrichment read in a case's opening interaction, in the form the case stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The language code, "" when the interaction carried no reading.
    pub language: String,
    /// The `SentimentLabel` number.
    pub sentiment: i32,
    /// The intents that hold, strongest first, as numbers joined by ",".
    pub intents: String,
    /// The tenant's topics, joined by ",".
    pub topics: String,
    /// Work for an agent (true when unknown: nothing is dropped for lack of a reading).
    pub actionable: bool,
}

/// An intent holds on a case when its score reaches this.
const INTENT_HOLDS: f64 = 0.5;

impl Reading {
    /// The reading of `enrichment`, or neutral defaults without one.
    pub fn of(enrichment: Option<&v1::Enrichment>) -> Self {
        let Some(enrichment) = enrichment else {
            return Self {
                language: String::new(),
                sentiment: 0,
                intents: String::new(),
                topics: String::new(),
                actionable: true,
            };
        };
        let intents: Vec<String> = enrichment
            .intents
            .iter()
            .filter(|scored| scored.score >= INTENT_HOLDS && scored.intent != v1::Intent::Other as i32)
            .map(|scored| scored.intent.to_string())
            .collect();
        Self {
            language: enrichment.language.clone(),
            sentiment: enrichment.sentiment.as_ref().map_or(0, |sentiment| sentiment.label),
            intents: intents.join(","),
            // Topic names are letters, digits, "-" and "_" (ingest checks), so "," can't clash.
            topics: enrichment.topics.join(","),
            actionable: enrichment.actionable,
        }
    }

    /// The stored intents back as numbers.
    pub fn intents_of(stored: &str) -> Vec<i32> {
        stored.split(',').filter_map(|number| number.parse().ok()).collect()
    }
}

/// Where a case is in its life, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the care team.
    Open,
    /// Done.
    Resolved,
}

impl Status {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "open" => Some(Status::Open),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

/// A one-line subject from an interaction's text: whitespace folded, at most 120 characters,
/// cut at a word boundary with an ellipsis when longer.
pub fn subject_from(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= SUBJECT_CHARS {
        return folded;
    }
    let cut: String = folded.chars().take(SUBJECT_CHARS - 1).collect();
    let at_word = match cut.rfind(' ') {
        Some(space) if space > SUBJECT_CHARS / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{at_word}…")
}

/// Most cases opened in one call.
pub const MAX_BATCH: usize = 500;

/// Checks the size of a batch of cases to open.
pub fn check_batch(size: usize) -> Result<(), ApiError> {
    if size == 0 || size > MAX_BATCH {
        return Err(ApiError::invalid("cases", format!("must hold 1 to {MAX_BATCH} requests, not {size}")));
    }
    Ok(())
}

/// Checks an idempotency key.
pub fn check_idempotency_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::invalid("idempotency_key", "is required (e.g. the interaction id)"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::invalid("idempotency_key", format!("must be at most {MAX_IDEMPOTENCY_KEY} bytes")));
    }
    Ok(())
}

/// Checks a priority.
pub fn check_priority(priority: u32) -> Result<i32, ApiError> {
    if priority > 100 {
        return Err(ApiError::invalid("priority", "must be between 0 and 100"));
    }
    Ok(i32::try_from(priority).unwrap_or(100))
}

/// Checks that a case in `status` may be resolved.
pub fn check_resolvable(id: &str, status: Status) -> Result<(), ApiError> {
    match status {
        Status::Open => Ok(()),
        Status::Resolved => Err(ApiError::FailedPrecondition(format!("case {id} is already resolved"))),
    }
}

/// What an erased case's subject (and resolution note, if it has one) becomes.
pub const ERASED_TEXT: &str = "[erased]";

/// Whose cases a `customers.erased` event erases: the customer's, and those of each erased
/// profile (a case opened before the profile was linked carries the profile only).
pub use tend_store::events::ErasedPeople;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_one_short_line() {
        assert_eq!(subject_from("  my order\n\nnever   arrived "), "my order never arrived");
        let long = "word ".repeat(60);
        let subject = subject_from(&long);
        assert!(subject.chars().count() <= SUBJECT_CHARS);
        assert!(subject.ends_with('…'));
        assert!(!subject.contains("  "));
    }

    #[test]
    fn subject_cuts_on_char_boundaries() {
        let subject = subject_from(&"é".repeat(500));
        assert_eq!(subject.chars().count(), SUBJECT_CHARS);
    }

    #[test]
    fn status_round_trips() {
        for status in [Status::Open, Status::Resolved] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn checks_inputs() {
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key(&"k".repeat(257)).is_err());
        assert!(check_priority(101).is_err());
        assert_eq!(check_priority(40).ok(), Some(40));
        assert!(check_resolvable("c", Status::Resolved).is_err());
    }
}
