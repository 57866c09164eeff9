//! Validation of what a tenant teaches enrichment: labelled examples, classifier versions and
//! topic dictionaries. No I/O, so it is tested on its own.

use std::collections::HashSet;

use tend_kernel::ApiError;
use tend_proto::v1;
use tend_text::Task;

use crate::domain::MAX_TEXT_BYTES;
use crate::enrich::BUILTIN;
use crate::storage::classifiers;
use crate::storage::topics::StoredTopic;

/// Fewest examples a training accepts (a fifth of them is held out).
pub const MIN_TRAINING_EXAMPLES: usize = 20;
/// Most examples a training or an evaluation accepts.
pub const MAX_EXAMPLES: usize = 200_000;
/// Most topics in a dictionary.
pub const MAX_TOPICS: usize = 1_000;
/// Most keywords per topic.
pub const MAX_KEYWORDS: usize = 200;
/// Longest topic name, in characters.
const MAX_TOPIC_NAME_CHARS: usize = 64;
/// Longest keyword, in characters.
const MAX_KEYWORD_CHARS: usize = 100;

/// The labels of the sentiment task.
pub const SENTIMENT_LABELS: [&str; 3] = ["negative", "neutral", "positive"];
/// The labels of the intent task: the contract's intents.
pub const INTENT_LABELS: [&str; 6] = ["question", "complaint", "churn_risk", "praise", "spam", "other"];

/// The crate's task for the contract's, or why it is refused.
pub fn task(task: i32) -> Result<Task, ApiError> {
    match v1::ClassifierTask::try_from(task) {
        Ok(v1::ClassifierTask::Sentiment) => Ok(Task::Sentiment),
        Ok(v1::ClassifierTask::Intent) => Ok(Task::Intent),
        _ => Err(ApiError::invalid("task", "is required: CLASSIFIER_TASK_SENTIMENT or CLASSIFIER_TASK_INTENT")),
    }
}

/// The task's labels.
pub fn labels_of(task: Task) -> &'static [&'static str] {
    match task {
        Task::Sentiment => &SENTIMENT_LABELS,
        Task::Intent => &INTENT_LABELS,
    }
}

/// Checks labelled examples for `task` and returns them as (text, label) with the labels
/// trimmed and lower-cased; `field` names the request field in errors.
pub fn examples(task: Task, examples: Vec<v1::LabelledText>, minimum: usize) -> Result<Examples, ApiError> {
    if examples.len() < minimum || examples.len() > MAX_EXAMPLES {
        return Err(ApiError::invalid(
            "examples",
            format!("must hold {minimum} to {MAX_EXAMPLES} labelled texts, not {}", examples.len()),
        ));
    }
    let known = labels_of(task);
    let mut checked = Vec::with_capacity(examples.len());
    for (index, example) in examples.into_iter().enumerate() {
        if example.text.trim().is_empty() || example.text.len() > MAX_TEXT_BYTES {
            return Err(ApiError::invalid(
                format!("examples[{index}].text"),
                format!("must be 1 to {MAX_TEXT_BYTES} bytes of text"),
            ));
        }
        let label = example.label.trim().to_lowercase();
        if !known.contains(&label.as_str()) {
            return Err(ApiError::invalid(
                format!("examples[{index}].label"),
                format!("{:?} is not a label of the task; use one of {}", example.label, known.join(", ")),
            ));
        }
        checked.push((example.text, label));
    }
    Ok(checked)
}

/// Checks that training examples hold at least two labels.
pub fn require_two_labels(examples: &[(String, String)]) -> Result<(), ApiError> {
    let distinct: HashSet<&str> = examples.iter().map(|(_, label)| label.as_str()).collect();
    if distinct.len() < 2 {
        return Err(ApiError::invalid("examples", "must hold at least two distinct labels to learn to tell apart"));
    }
    Ok(())
}

/// Labelled examples: (text, label).
pub type Examples = Vec<(String, String)>;

/// Splits examples into (training, held out): an example is held out when the FNV-1a hash of
/// its text falls in one fifth, so the same examples always split the same way, in any process.
pub fn split_holdout(examples: Examples) -> (Examples, Examples) {
    examples.into_iter().partition(|(text, _)| !fnv1a(text.as_bytes()).is_multiple_of(5))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// Which model a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    /// The one in use (the request left the version empty).
    Active,
    /// A stored version, or [`classifiers::BUILTIN`].
    Version(i32),
}

/// Parses a version as requests give it: "builtin", "v3" (or "3"), or empty for the active one
/// where `empty_is_active`.
pub fn version(field: &str, version: &str, empty_is_active: bool) -> Result<ModelChoice, ApiError> {
    let trimmed = version.trim();
    if trimmed.is_empty() && empty_is_active {
        return Ok(ModelChoice::Active);
    }
    if trimmed.eq_ignore_ascii_case(BUILTIN) {
        return Ok(ModelChoice::Version(classifiers::BUILTIN));
    }
    let digits = trimmed.strip_prefix('v').unwrap_or(trimmed);
    match digits.parse::<i32>() {
        Ok(number) if number > 0 => Ok(ModelChoice::Version(number)),
        _ => Err(ApiError::invalid(field, format!("{version:?} is not a version: use \"builtin\" or one like \"v3\""))),
    }
}

/// Checks a dictionary: distinct names of lower-case letters, digits, "-" and "_", each with 1 to
/// [`MAX_KEYWORDS`] keywords; keywords are trimmed and repeated ones dropped.
pub fn topics(topics: Vec<v1::Topic>) -> Result<Vec<StoredTopic>, ApiError> {
    if topics.len() > MAX_TOPICS {
        return Err(ApiError::invalid("topics", format!("at most {MAX_TOPICS} topics, not {}", topics.len())));
    }
    let mut names = HashSet::new();
    let mut checked = Vec::with_capacity(topics.len());
    for (index, topic) in topics.into_iter().enumerate() {
        let name = topic.name.trim().to_owned();
        let valid_name = !name.is_empty()
            && name.chars().count() <= MAX_TOPIC_NAME_CHARS
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_name {
            return Err(ApiError::invalid(
                format!("topics[{index}].name"),
                format!("{:?}: 1 to {MAX_TOPIC_NAME_CHARS} of a-z, 0-9, \"-\" and \"_\"", topic.name),
            ));
        }
        if !names.insert(name.clone()) {
            return Err(ApiError::invalid(format!("topics[{index}].name"), format!("{name:?} is given twice")));
        }
        let mut seen = HashSet::new();
        let mut keywords = Vec::new();
        for (position, keyword) in topic.keywords.iter().enumerate() {
            let keyword = keyword.trim();
            if keyword.is_empty() || keyword.chars().count() > MAX_KEYWORD_CHARS {
                return Err(ApiError::invalid(
                    format!("topics[{index}].keywords[{position}]"),
                    format!("must be 1 to {MAX_KEYWORD_CHARS} characters"),
                ));
            }
            if seen.insert(keyword.to_lowercase()) {
                keywords.push(keyword.to_owned());
            }
        }
        if keywords.is_empty() || keywords.len() > MAX_KEYWORDS {
            return Err(ApiError::invalid(
                format!("topics[{index}].keywords"),
                format!("must hold 1 to {MAX_KEYWORDS} keywords, not {}", keywords.len()),
            ));
        }
        checked.push(StoredTopic { name, keywords });
    }
    checked.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checked)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn labelled(text: &str, label: &str) -> v1::LabelledText {
        v1::LabelledText { text: text.to_owned(), label: label.to_owned() }
    }

    #[test]
    fn examples_name_the_one_to_fix() {
        let error = examples(Task::Sentiment, vec![labelled("fine", " Positive "), labelled("meh", "so-so")], 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("examples[1].label") && error.contains("negative, neutral, positive"), "{error}");
        let error = examples(Task::Intent, vec![labelled("  ", "other")], 1).unwrap_err().to_string();
        assert!(error.contains("examples[0].text"), "{error}");
        let error = examples(Task::Intent, vec![labelled("hi", "other")], 20).unwrap_err().to_string();
        assert!(error.contains("20 to 200000"), "{error}");
        let ok = examples(Task::Sentiment, vec![labelled("fine", " Positive ")], 1).unwrap();
        assert_eq!(ok, vec![("fine".to_owned(), "positive".to_owned())]);
        assert!(require_two_labels(&ok).is_err());
    }

    #[test]
    fn the_intent_labels_are_the_crates_builtin_intents() {
        let builtin: Vec<&str> = tend_text::Intent::BUILTIN.iter().map(tend_text::Intent::as_str).collect();
        assert_eq!(INTENT_LABELS.to_vec(), builtin);
        let sentiment: Vec<String> = tend_text::Classifier::labels(&tend_text::BuiltinSentiment);
        assert_eq!(SENTIMENT_LABELS.to_vec(), sentiment);
    }

    #[test]
    fn the_holdout_is_a_stable_fifth() {
        let all: Vec<(String, String)> =
            (0..5_000).map(|i| (format!("text number {i}"), "neutral".to_owned())).collect();
        let (train, held) = split_holdout(all.clone());
        assert!((900..1_100).contains(&held.len()), "{}", held.len());
        assert_eq!(train.len() + held.len(), all.len());
        assert_eq!(split_holdout(all).1, held, "the same examples split the same way");
    }

    #[test]
    fn versions_parse_as_requests_give_them() {
        assert_eq!(version("version", "", true).unwrap(), ModelChoice::Active);
        assert!(version("version", "", false).is_err());
        assert_eq!(version("version", "Builtin", false).unwrap(), ModelChoice::Version(classifiers::BUILTIN));
        assert_eq!(version("version", "v12", false).unwrap(), ModelChoice::Version(12));
        assert_eq!(version("version", "3", false).unwrap(), ModelChoice::Version(3));
        assert!(version("version", "v0", false).is_err());
        assert!(version("version", "latest", false).unwrap_err().to_string().contains("\"latest\""));
    }

    #[test]
    fn topics_are_checked_and_tidied() {
        let topic = |name: &str, keywords: &[&str]| v1::Topic {
            name: name.to_owned(),
            keywords: keywords.iter().map(|keyword| (*keyword).to_owned()).collect(),
        };
        let checked =
            topics(vec![topic("delivery", &["parcel"]), topic("billing", &[" invoice ", "Invoice", "charged twice"])])
                .unwrap();
        assert_eq!(
            checked[0],
            StoredTopic { name: "billing".into(), keywords: vec!["invoice".into(), "charged twice".into()] }
        );
        assert_eq!(checked[1].name, "delivery");
        assert!(topics(vec![topic("Billing", &["x"])]).unwrap_err().to_string().contains("topics[0].name"));
        assert!(topics(vec![topic("a", &["x"]), topic("a", &["y"])]).unwrap_err().to_string().contains("twice"));
        assert!(topics(vec![topic("a", &[])]).unwrap_err().to_string().contains("topics[0].keywords"));
        assert!(topics(vec![topic("a", &[""])]).unwrap_err().to_string().contains("keywords[0]"));
    }
}
