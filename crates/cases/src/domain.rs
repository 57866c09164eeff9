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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Opened, not yet taken by anyone.
    New,
    /// Being worked on.
    Open,
    /// Waiting for the customer.
    PendingCustomer,
    /// Waiting for a department.
    PendingDepartment,
    /// Done; the customer may still answer.
    Resolved,
    /// Finished for good.
    Closed,
    /// Resolved, then opened again.
    Reopened,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Open,
        Status::PendingCustomer,
        Status::PendingDepartment,
        Status::Resolved,
        Status::Closed,
        Status::Reopened,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::PendingCustomer => "pending_customer",
            Status::PendingDepartment => "pending_department",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == value)
    }

    /// The contract's form.
    pub fn to_proto(self) -> v1::CaseStatus {
        match self {
            Status::New => v1::CaseStatus::New,
            Status::Open => v1::CaseStatus::Open,
            Status::PendingCustomer => v1::CaseStatus::PendingCustomer,
            Status::PendingDepartment => v1::CaseStatus::PendingDepartment,
            Status::Resolved => v1::CaseStatus::Resolved,
            Status::Closed => v1::CaseStatus::Closed,
            Status::Reopened => v1::CaseStatus::Reopened,
        }
    }

    /// From the contract's number; `None` for UNSPECIFIED or an unknown number.
    pub fn from_proto(number: i32) -> Option<Self> {
        let status = v1::CaseStatus::try_from(number).ok()?;
        Self::ALL.into_iter().find(|known| known.to_proto() == status)
    }

    /// The statuses a case in this one may move to.
    pub fn allowed_moves(self) -> &'static [Status] {
        use Status::*;
        match self {
            New => &[Open, PendingCustomer, PendingDepartment, Resolved],
            Open => &[PendingCustomer, PendingDepartment, Resolved],
            PendingCustomer => &[Open, PendingDepartment, Resolved],
            PendingDepartment => &[Open, PendingCustomer, Resolved],
            Resolved => &[Reopened, Closed],
            Closed => &[],
            Reopened => &[Open, PendingCustomer, PendingDepartment, Resolved],
        }
    }

    /// Whether the case is still to be worked on (neither resolved nor closed).
    pub fn is_active(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks that case `id` may move from `from` to `to`; the refusal names the status and the
/// moves it allows.
pub fn check_transition(id: &str, from: Status, to: Status) -> Result<(), ApiError> {
    if from.allowed_moves().contains(&to) {
        return Ok(());
    }
    let allowed = from.allowed_moves().iter().map(|status| status.as_str()).collect::<Vec<_>>();
    let allowed = if allowed.is_empty() { "none: it is final".to_owned() } else { allowed.join(", ") };
    Err(ApiError::FailedPrecondition(format!("case {id} is {from} and cannot become {to}; allowed: {allowed}")))
}

/// Checks that the case's `version` is the one the caller read (`expected`, 0 for "any").
pub fn check_version(id: &str, version: i64, expected: u64) -> Result<(), ApiError> {
    if expected == 0 || u64::try_from(version).is_ok_and(|version| version == expected) {
        return Ok(());
    }
    Err(ApiError::Aborted(format!("case {id} is at version {version}, not {expected}: read it again and retry")))
}

/// Longest reason of a change, in bytes.
pub const MAX_REASON: usize = 4096;
/// Longest internal note, in bytes.
pub const MAX_CASE_NOTE: usize = 16 * 1024;
/// Longest agent id, in bytes.
pub const MAX_AGENT_ID: usize = 128;
/// Most tags on one case.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in bytes.
const MAX_TAG: usize = 64;

/// Checks a reason's size.
pub fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.len() > MAX_REASON {
        return Err(ApiError::invalid("reason", format!("must be at most {MAX_REASON} bytes")));
    }
    Ok(())
}

/// A tag as stored: trimmed and lowercased, then checked.
pub fn tag(field: &str, raw: &str) -> Result<String, ApiError> {
    let tag = raw.trim().to_lowercase();
    let fits = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b':'));
    if !fits {
        return Err(ApiError::invalid(
            field,
            format!(
                "{} is not a tag: 1 to {MAX_TAG} of a-z, 0-9, \"-\", \"_\", \":\"",
                tend_kernel::validate::quote(raw)
            ),
        ));
    }
    Ok(tag)
}

/// The stored tags ("," separated, sorted) as a list.
pub fn tags_of(stored: &str) -> Vec<String> {
    stored.split(',').filter(|tag| !tag.is_empty()).map(str::to_owned).collect()
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

/// What an erased case's subject (and resolution note, if it has one) becomes.
pub const ERASED_TEXT: &str = "[erased]";

/// `column` as [`ERASED_TEXT`], unless it is empty (an erasure leaves an empty text empty, so
/// nothing says there was one).
pub fn erased_unless_empty(column: impl sea_orm::sea_query::IntoColumnRef + Copy) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait as _};
    Expr::case(Expr::col(column).eq(""), Expr::value("")).finally(Expr::value(ERASED_TEXT)).into()
}

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
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(Status::from_proto(status.to_proto().into()), Some(status));
        }
        assert_eq!(Status::from_proto(0), None);
    }

    #[test]
    fn a_refused_move_names_the_status_and_the_allowed_ones() {
        let error = check_transition("c1", Status::Resolved, Status::Open).unwrap_err().to_string();
        assert_eq!(error, "case c1 is resolved and cannot become open; allowed: reopened, closed");
        let error = check_transition("c1", Status::Closed, Status::Reopened).unwrap_err().to_string();
        assert!(error.ends_with("allowed: none: it is final"), "{error}");
    }

    #[test]
    fn versions_and_tags() {
        assert!(check_version("c", 3, 0).is_ok());
        assert!(check_version("c", 3, 3).is_ok());
        assert!(matches!(check_version("c", 3, 2), Err(ApiError::Aborted(_))));
        assert_eq!(tag("add", " VIP:Gold ").unwrap(), "vip:gold");
        assert!(tag("add", "no spaces").is_err());
        assert!(tag("add", "").is_err());
        assert_eq!(tags_of("a,b"), ["a", "b"]);
        assert!(tags_of("").is_empty());
    }

    proptest::proptest! {
        /// Random sequences of moves: each is taken exactly when the table allows it, a closed
        /// case never changes again, and every status stays reachable from NEW.
        #[test]
        fn random_moves_follow_the_table(moves in proptest::collection::vec(0usize..7, 0..64)) {
            let mut status = Status::New;
            let mut closed = false;
            for index in moves {
                let to = Status::ALL[index];
                let allowed = status.allowed_moves().contains(&to);
                let outcome = check_transition("c", status, to);
                proptest::prop_assert_eq!(outcome.is_ok(), allowed);
                if let Err(error) = outcome {
                    proptest::prop_assert!(error.to_string().contains(status.as_str()));
                } else {
                    proptest::prop_assert!(!closed, "a closed case moved");
                    status = to;
                    closed = status == Status::Closed;
                }
            }
        }
    }

    #[test]
    fn every_status_is_reachable_from_new() {
        let mut seen = std::collections::HashSet::from([Status::New]);
        let mut frontier = vec![Status::New];
        while let Some(status) = frontier.pop() {
            for next in status.allowed_moves() {
                if seen.insert(*next) {
                    frontier.push(*next);
                }
            }
        }
        assert_eq!(seen.len(), Status::ALL.len());
    }

    #[test]
    fn checks_inputs() {
        assert!(check_idempotency_key("").is_err());
        assert!(check_idempotency_key(&"k".repeat(257)).is_err());
        assert!(check_priority(101).is_err());
        assert_eq!(check_priority(40).ok(), Some(40));
    }
}
