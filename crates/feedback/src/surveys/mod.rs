//! Surveys after resolution (docs/FEEDBACK.md).
//!
//! A tenant keeps survey templates (CSAT, NPS or CES, texts per language, whom to ask and how
//! often). When a case is resolved ([`consumer::SendSurveys`] on `cases.events`), the first
//! enabled template by name that fits the case's channel and segment sends one survey: a reply
//! on the customer's channel (`replies.requested`, through feedback's outbox) carrying a signed,
//! expiring link ([`token`]), unless the person opted out, was surveyed within the template's
//! frequency cap, or the case is in an incident and the template says to wait. The survey page
//! shows the survey ([`api`]'s OpenSurvey) and answers it (SubmitResponse) with the link's
//! token, once; the response is stored with what the case carried for the reports, and a low
//! score publishes `SurveyAnswered` for a supervisor or cases to act on.

pub mod api;
pub mod consumer;
pub mod storage;
#[cfg(test)]
pub(crate) mod tests;
pub mod token;

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tend_kernel::ApiError;
use tend_kernel::ids::Clock;
use tend_proto::v1;

use crate::config::{FeedbackConfig, check_survey_url};
use token::Signer;

/// Most templates per tenant.
pub const MAX_TEMPLATES: usize = 50;
/// Most languages per template.
const MAX_LANGUAGES: usize = 20;
/// Longest invitation, in bytes.
const MAX_INVITATION: usize = 1_000;
/// Longest question, in bytes.
const MAX_QUESTION: usize = 500;
/// Longest free-text answer, in bytes.
pub const MAX_COMMENT: usize = 2_000;
/// Most segments a template names.
const MAX_SEGMENTS: usize = 100;
/// Longest frequency cap, in days.
const MAX_CAP_DAYS: u32 = 365;

/// What surveys need beside the database: the link signer, the clock and the deployment's
/// settings.
#[derive(Clone)]
pub struct Surveys {
    /// Signs and checks the links' tokens.
    pub signer: Signer,
    /// The clock surveys are sent and answered on.
    pub clock: Arc<dyn Clock>,
    /// The survey page's address, with `{token}`.
    pub survey_url: String,
    /// How long a link works.
    pub expires_after: chrono::Duration,
}

impl Surveys {
    /// Surveys with `config`'s settings, signing with `signer`, on `clock`.
    pub fn new(config: &FeedbackConfig, signer: Signer, clock: Arc<dyn Clock>) -> Self {
        Self {
            signer,
            clock,
            survey_url: config.survey_url.clone(),
            expires_after: chrono::Duration::from_std(config.survey_expires_after)
                .unwrap_or_else(|_| chrono::Duration::days(14)),
        }
    }
}

/// The lowest and highest score of `kind`.
pub fn scale(kind: v1::SurveyKind) -> (u32, u32) {
    match kind {
        v1::SurveyKind::Nps => (0, 10),
        v1::SurveyKind::Ces => (1, 7),
        v1::SurveyKind::Csat | v1::SurveyKind::Unspecified => (1, 5),
    }
}

/// The name `survey_responses.kind` keeps for `kind`.
pub fn kind_name(kind: v1::SurveyKind) -> &'static str {
    match kind {
        v1::SurveyKind::Nps => "nps",
        v1::SurveyKind::Ces => "ces",
        v1::SurveyKind::Csat | v1::SurveyKind::Unspecified => "csat",
    }
}

/// A template's texts in one language, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Texts {
    /// ISO 639-1 (or a tag such as "pt-br"), lowercase.
    pub language: String,
    /// With `{link}`.
    pub invitation: String,
    /// The question.
    pub question: String,
    /// Empty: none.
    pub free_text_question: String,
}

/// Whether `name` is a valid template name.
fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
        return Err(ApiError::invalid(field, "must be 1 to 64 characters of a-z, 0-9, '-' and '_'"));
    }
    Ok(())
}

/// A language tag, lowercased: 2 to 8 ASCII letters and '-'.
fn language(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim().to_ascii_lowercase();
    let valid = (2..=8).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && !value.starts_with('-');
    if !valid {
        return Err(ApiError::invalid(field, "must be a language code such as \"en\" or \"pt-br\""));
    }
    Ok(value)
}

/// Checks `text` is 1 (0 when optional) to `max` bytes.
fn bounded(field: &str, text: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if text.len() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} bytes (it is {})", text.len())));
    }
    Ok(text.to_owned())
}

/// Checks a template from a request and returns its row for `tenant` (version and time left
/// for the caller to set).
pub fn template_row(
    tenant: &str,
    template: &v1::SurveyTemplate,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<storage::template::Model, ApiError> {
    check_name("template.name", &template.name)?;
    let kind = v1::SurveyKind::try_from(template.kind).unwrap_or(v1::SurveyKind::Unspecified);
    if kind == v1::SurveyKind::Unspecified {
        return Err(ApiError::invalid(
            "template.kind",
            "is required: SURVEY_KIND_CSAT, SURVEY_KIND_NPS or SURVEY_KIND_CES",
        ));
    }
    if template.texts.is_empty() || template.texts.len() > MAX_LANGUAGES {
        return Err(ApiError::invalid("template.texts", format!("must hold 1 to {MAX_LANGUAGES} languages")));
    }
    let mut texts = Vec::with_capacity(template.texts.len());
    let mut languages = HashSet::new();
    for (index, text) in template.texts.iter().enumerate() {
        let at = |field: &str| format!("template.texts[{index}].{field}");
        let language = language(&at("language"), &text.language)?;
        if !languages.insert(language.clone()) {
            return Err(ApiError::invalid(at("language"), format!("{language} is given twice")));
        }
        let invitation = bounded(&at("invitation"), &text.invitation, MAX_INVITATION, true)?;
        if !invitation.contains("{link}") {
            return Err(ApiError::invalid(at("invitation"), "must contain {link} where the survey's link goes"));
        }
        texts.push(Texts {
            language,
            invitation,
            question: bounded(&at("question"), &text.question, MAX_QUESTION, true)?,
            free_text_question: bounded(&at("free_text_question"), &text.free_text_question, MAX_QUESTION, false)?,
        });
    }
    let default_language = language("template.default_language", &template.default_language)?;
    if !languages.contains(&default_language) {
        return Err(ApiError::invalid("template.default_language", "must be one of the languages of template.texts"));
    }
    let mut channels = Vec::new();
    for (index, channel) in template.channels.iter().enumerate() {
        match v1::Channel::try_from(*channel) {
            Ok(v1::Channel::Unspecified) | Err(_) => {
                return Err(ApiError::invalid(format!("template.channels[{index}]"), "must be a defined channel"));
            }
            Ok(_) => channels.push(channel.to_string()),
        }
    }
    channels.sort();
    channels.dedup();
    if template.segments.len() > MAX_SEGMENTS {
        return Err(ApiError::invalid("template.segments", format!("must name at most {MAX_SEGMENTS} segments")));
    }
    let mut segments = Vec::new();
    for (index, segment) in template.segments.iter().enumerate() {
        let segment = segment.trim();
        if segment.is_empty() || segment.len() > 64 || segment.contains(',') {
            return Err(ApiError::invalid(format!("template.segments[{index}]"), "must be 1 to 64 bytes, without ','"));
        }
        segments.push(segment.to_owned());
    }
    segments.sort();
    segments.dedup();
    if template.frequency_cap_days > MAX_CAP_DAYS {
        return Err(ApiError::invalid("template.frequency_cap_days", format!("must be at most {MAX_CAP_DAYS}")));
    }
    let (_, max) = scale(kind);
    if template.low_score_threshold > max {
        return Err(ApiError::invalid(
            "template.low_score_threshold",
            format!("must be within the scale of {} (at most {max})", kind_name(kind)),
        ));
    }
    if template.testimonial_min_score > max {
        return Err(ApiError::invalid(
            "template.testimonial_min_score",
            format!("must be within the scale of {} (at most {max}); 0 never asks", kind_name(kind)),
        ));
    }
    if v1::LowScoreAction::try_from(template.low_score_action).is_err() {
        return Err(ApiError::invalid("template.low_score_action", "must be a defined LowScoreAction"));
    }
    if v1::ReplyVisibility::try_from(template.visibility).is_err() {
        return Err(ApiError::invalid("template.visibility", "must be a defined ReplyVisibility"));
    }
    let survey_url = template.survey_url.trim();
    if !survey_url.is_empty() {
        check_survey_url(survey_url).map_err(|problem| ApiError::invalid("template.survey_url", problem))?;
    }
    Ok(storage::template::Model {
        tenant: tenant.to_owned(),
        name: template.name.clone(),
        kind: kind as i32,
        default_language,
        texts: serde_json::to_string(&texts).unwrap_or_else(|_| "[]".into()),
        channels: channels.join(","),
        segments: segments.join(","),
        frequency_cap_days: i32::try_from(template.frequency_cap_days).unwrap_or(0),
        skip_during_incident: template.skip_during_incident,
        enabled: template.enabled,
        low_score_threshold: i32::try_from(template.low_score_threshold).unwrap_or(0),
        low_score_action: template.low_score_action,
        visibility: template.visibility,
        survey_url: survey_url.to_owned(),
        version: 1,
        updated_at: now,
        testimonial_min_score: i32::try_from(template.testimonial_min_score).unwrap_or(0),
    })
}

/// The texts of a stored template.
pub fn texts_of(row: &storage::template::Model) -> Vec<Texts> {
    serde_json::from_str(&row.texts).unwrap_or_default()
}

/// A stored template on the wire.
pub fn template_to_proto(row: &storage::template::Model) -> v1::SurveyTemplate {
    v1::SurveyTemplate {
        name: row.name.clone(),
        kind: row.kind,
        default_language: row.default_language.clone(),
        texts: texts_of(row)
            .into_iter()
            .map(|texts| v1::SurveyText {
                language: texts.language,
                invitation: texts.invitation,
                question: texts.question,
                free_text_question: texts.free_text_question,
            })
            .collect(),
        channels: split(&row.channels).filter_map(|channel| channel.parse().ok()).collect(),
        segments: split(&row.segments).map(str::to_owned).collect(),
        frequency_cap_days: u32::try_from(row.frequency_cap_days).unwrap_or(0),
        skip_during_incident: row.skip_during_incident,
        enabled: row.enabled,
        low_score_threshold: u32::try_from(row.low_score_threshold).unwrap_or(0),
        low_score_action: row.low_score_action,
        visibility: row.visibility,
        survey_url: row.survey_url.clone(),
        version: u32::try_from(row.version).unwrap_or(0),
        updated_at: Some(tend_kernel::ids::to_timestamp(row.updated_at)),
        testimonial_min_score: u32::try_from(row.testimonial_min_score).unwrap_or(0),
    }
}

/// The non-empty items of a ","-joined list.
pub fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter(|item| !item.is_empty())
}

/// The texts for a case in `case_language`: that language's, else its base language's ("pt"
/// for "pt-br"), else the template's default language's.
pub fn pick_texts(texts: &[Texts], case_language: &str, default_language: &str) -> Option<Texts> {
    let wanted = case_language.trim().to_ascii_lowercase();
    let base = wanted.split('-').next().unwrap_or_default();
    texts
        .iter()
        .find(|texts| texts.language == wanted)
        .or_else(|| texts.iter().find(|texts| texts.language == base))
        .or_else(|| texts.iter().find(|texts| texts.language == default_language))
        .cloned()
}

/// The value of a case's `<prefix>:<value>` tag (the first one), or empty.
pub fn tagged(tags: &[String], prefix: &str) -> String {
    tags.iter()
        .find_map(|tag| tag.strip_prefix(prefix).and_then(|rest| rest.strip_prefix(':')))
        .map(str::to_owned)
        .unwrap_or_default()
}

/// Whether `row` surveys a case on `channel` with `segment`.
pub fn fits(row: &storage::template::Model, channel: i32, segment: &str) -> bool {
    let channel = channel.to_string();
    let channel_fits = row.channels.is_empty() || split(&row.channels).any(|listed| listed == channel);
    let segment_fits = row.segments.is_empty() || split(&row.segments).any(|listed| listed == segment);
    channel_fits && segment_fits && row.enabled
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod unit_tests {
    use super::*;

    fn template() -> v1::SurveyTemplate {
        v1::SurveyTemplate {
            name: "after-care".into(),
            kind: v1::SurveyKind::Csat as i32,
            default_language: "en".into(),
            texts: vec![
                v1::SurveyText {
                    language: "en".into(),
                    invitation: "How did we do? {link}".into(),
                    question: "How satisfied are you?".into(),
                    free_text_question: "Anything to add?".into(),
                },
                v1::SurveyText {
                    language: "FR".into(),
                    invitation: "Votre avis ? {link}".into(),
                    question: "Êtes-vous satisfait ?".into(),
                    free_text_question: String::new(),
                },
            ],
            channels: vec![v1::Channel::X as i32],
            enabled: true,
            low_score_threshold: 2,
            ..Default::default()
        }
    }

    #[test]
    fn templates_are_checked_field_by_field() {
        let now = tend_kernel::ids::now();
        let row = template_row("acme", &template(), now).unwrap();
        assert_eq!(row.channels, "1");
        let back = template_to_proto(&row);
        assert_eq!(back.texts[1].language, "fr");
        assert_eq!(back.channels, vec![v1::Channel::X as i32]);

        let field_of = |change: &dyn Fn(&mut v1::SurveyTemplate)| {
            let mut bad = template();
            change(&mut bad);
            match template_row("acme", &bad, now) {
                Err(ApiError::InvalidArgument { field, .. }) => field,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(field_of(&|t| t.name = "After Care".into()), "template.name");
        assert_eq!(field_of(&|t| t.kind = 0), "template.kind");
        assert_eq!(field_of(&|t| t.texts.clear()), "template.texts");
        assert_eq!(field_of(&|t| t.texts[0].invitation = "no link".into()), "template.texts[0].invitation");
        assert_eq!(field_of(&|t| t.texts[1].language = "en".into()), "template.texts[1].language");
        assert_eq!(field_of(&|t| t.texts[0].question = "x".repeat(501)), "template.texts[0].question");
        assert_eq!(field_of(&|t| t.default_language = "de".into()), "template.default_language");
        assert_eq!(field_of(&|t| t.channels = vec![0]), "template.channels[0]");
        assert_eq!(field_of(&|t| t.frequency_cap_days = 366), "template.frequency_cap_days");
        assert_eq!(field_of(&|t| t.low_score_threshold = 6), "template.low_score_threshold");
        assert_eq!(field_of(&|t| t.survey_url = "ftp://x/{token}".into()), "template.survey_url");
        assert_eq!(field_of(&|t| t.segments = vec!["a,b".into()]), "template.segments[0]");
    }

    #[test]
    fn texts_follow_the_case_language_then_the_default() {
        let row = template_row("acme", &template(), tend_kernel::ids::now()).unwrap();
        let texts = texts_of(&row);
        assert_eq!(pick_texts(&texts, "fr", "en").unwrap().language, "fr");
        assert_eq!(pick_texts(&texts, "fr-CA", "en").unwrap().language, "fr");
        assert_eq!(pick_texts(&texts, "und", "en").unwrap().language, "en");
        assert_eq!(pick_texts(&texts, "", "en").unwrap().language, "en");
    }

    #[test]
    fn segments_and_teams_come_from_tags() {
        let tags = vec!["cause:billing".to_owned(), "segment:vip".to_owned(), "team:emea".to_owned()];
        assert_eq!(tagged(&tags, "segment"), "vip");
        assert_eq!(tagged(&tags, "team"), "emea");
        assert_eq!(tagged(&tags, "tier"), "");
        let mut row = template_row("acme", &template(), tend_kernel::ids::now()).unwrap();
        assert!(fits(&row, v1::Channel::X as i32, ""));
        assert!(!fits(&row, v1::Channel::Email as i32, ""));
        row.segments = "vip".into();
        assert!(fits(&row, v1::Channel::X as i32, "vip"));
        assert!(!fits(&row, v1::Channel::X as i32, ""));
        row.enabled = false;
        assert!(!fits(&row, v1::Channel::X as i32, "vip"));
    }
}
