//! Enrichment in ingest: each tenant's analyser (its topic dictionary and active classifiers,
//! cached), and the reading of a text as the contract carries it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use tend_proto::v1;
use tend_store::DbContext as _;
use tend_text::{Analyzer, AnalyzerConfig, CueField, Input, Model, TopicDictionary, TopicEntry, VersionedModel};

use crate::storage::{classifiers, topics};

/// How long a tenant's analyser is used before it is read again. A change made through this
/// process (an activation, a new dictionary) applies at once; one made through another replica
/// applies here within this time.
const REFRESH_AFTER: Duration = Duration::from_secs(10);

/// Tenants' analysers, loaded on first use and refreshed every [`REFRESH_AFTER`].
pub struct Analyzers {
    db: DatabaseConnection,
    cache: RwLock<HashMap<String, Cached>>,
    /// One load at a time, so a burst of a new tenant's posts loads its analyser once.
    loading: tokio::sync::Mutex<()>,
}

struct Cached {
    analyzer: Arc<Analyzer>,
    loaded_at: Instant,
}

impl Analyzers {
    /// An empty cache over ingest's database.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, cache: RwLock::new(HashMap::new()), loading: tokio::sync::Mutex::new(()) }
    }

    /// The tenant's analyser: its dictionary and active classifiers, or the built-in models.
    ///
    /// A stale one is refreshed by one caller while the others go on with it, so a refresh
    /// never makes a burst of posts wait on the database.
    pub async fn for_tenant(&self, tenant: &str) -> Result<Arc<Analyzer>, tend_store::Error> {
        let stale = match self.cached(tenant) {
            Some((analyzer, true)) => return Ok(analyzer),
            Some((analyzer, false)) => Some(analyzer),
            None => None,
        };
        let _loading = match (&stale, self.loading.try_lock()) {
            (_, Ok(guard)) => guard,
            (Some(stale), Err(_)) => return Ok(stale.clone()),
            (None, Err(_)) => self.loading.lock().await,
        };
        if let Some((fresh, true)) = self.cached(tenant) {
            return Ok(fresh);
        }
        let analyzer = match self.load(tenant).await {
            Ok(analyzer) => Arc::new(analyzer),
            Err(error) => {
                let Some(stale) = stale else { return Err(error) };
                // The database is away: keep reading posts as before rather than refusing them.
                tracing::warn!(tenant, %error, "could not refresh the tenant's analyser; using the one loaded before");
                return Ok(stale);
            }
        };
        let mut cache = self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(tenant.to_owned(), Cached { analyzer: analyzer.clone(), loaded_at: Instant::now() });
        Ok(analyzer)
    }

    /// Forgets the tenant's analyser, so the next post loads its new configuration.
    pub fn invalidate(&self, tenant: &str) {
        self.cache.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(tenant);
    }

    /// The cached analyser and whether it is fresh.
    fn cached(&self, tenant: &str) -> Option<(Arc<Analyzer>, bool)> {
        let cache = self.cache.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(tenant).map(|entry| (entry.analyzer.clone(), entry.loaded_at.elapsed() < REFRESH_AFTER))
    }

    async fn load(&self, tenant: &str) -> Result<Analyzer, tend_store::Error> {
        let mut config = AnalyzerConfig::default();
        if let Some((stored, _)) = topics::get(&self.db, tenant).await.context("reading the topic dictionary")? {
            config.topics = dictionary(stored);
        }
        for row in classifiers::active_models(&self.db, tenant).await.context("reading the active classifiers")? {
            // A model that no longer loads must not stop posts: the built-in one reads them,
            // and the error says which version to retrain.
            let model = match Model::from_bytes(&row.model) {
                Ok(model) => model,
                Err(error) => {
                    tracing::error!(tenant, task = row.task, version = row.version, %error, "stored classifier does not load; using the built-in model");
                    continue;
                }
            };
            let versioned = VersionedModel { version: version_name(row.version), model };
            match v1::ClassifierTask::try_from(row.task) {
                Ok(v1::ClassifierTask::Sentiment) => config.sentiment_model = Some(versioned),
                Ok(v1::ClassifierTask::Intent) => config.intent_model = Some(versioned),
                _ => tracing::error!(tenant, task = row.task, "stored classifier of an unknown task ignored"),
            }
        }
        match Analyzer::new(config.clone()) {
            Ok(analyzer) => Ok(analyzer),
            Err(error) => {
                tracing::error!(tenant, %error, "tenant's classifiers rejected; using the built-in models");
                let topics_only = AnalyzerConfig { topics: config.topics, ..AnalyzerConfig::default() };
                Ok(Analyzer::new(topics_only).unwrap_or_default())
            }
        }
    }
}

/// The analyser's dictionary for the stored topics.
pub fn dictionary(stored: Vec<topics::StoredTopic>) -> TopicDictionary {
    TopicDictionary::from_entries(
        stored.into_iter().map(|topic| TopicEntry { name: topic.name, keywords: topic.keywords }).collect(),
    )
}

/// How a version number is shown: "builtin" for the built-in model, "v1", "v2", … otherwise.
pub fn version_name(version: i32) -> String {
    if version == classifiers::BUILTIN { BUILTIN.to_owned() } else { format!("v{version}") }
}

/// The name of the built-in models, in requests and on interactions.
pub const BUILTIN: &str = "builtin";

/// Reads `text` from `channel` with `analyzer`, as the contract carries it.
pub fn enrich(analyzer: &Analyzer, text: &str, channel: v1::Channel, language_hint: Option<&str>) -> v1::Enrichment {
    let mut input = Input::new(text).channel(text_channel(channel));
    if let Some(hint) = language_hint.filter(|hint| !hint.is_empty()) {
        input = input.language_hint(hint);
    }
    to_proto(analyzer.enrich(&input))
}

fn text_channel(channel: v1::Channel) -> tend_text::Channel {
    match channel {
        v1::Channel::X => tend_text::Channel::X,
        v1::Channel::Facebook => tend_text::Channel::Facebook,
        v1::Channel::Instagram => tend_text::Channel::Instagram,
        v1::Channel::Email => tend_text::Channel::Email,
        v1::Channel::Chat => tend_text::Channel::Chat,
        v1::Channel::Review => tend_text::Channel::Review,
        v1::Channel::Unspecified => tend_text::Channel::Other,
    }
}

/// The contract's form of the crate's reading.
pub fn to_proto(reading: tend_text::Enrichment) -> v1::Enrichment {
    v1::Enrichment {
        language: tend_text::iso639_1(&reading.language.code).map_or(reading.language.code, str::to_owned),
        language_confidence: f64::from(reading.language.confidence),
        sentiment: Some(v1::Sentiment {
            score: f64::from(reading.sentiment.score),
            label: sentiment_label(reading.sentiment.label) as i32,
        }),
        intents: reading
            .intents
            .iter()
            .map(|scored| v1::IntentScore { intent: intent(&scored.intent) as i32, score: f64::from(scored.score) })
            .collect(),
        actionable: reading.actionable.actionable,
        actionable_reason: action_reason(reading.actionable.reason).to_owned(),
        testimonial_candidate: reading.actionable.testimonial_candidate,
        topics: reading.topics.into_iter().map(|topic| topic.topic).collect(),
        entities: reading
            .entities
            .into_iter()
            .map(|entity| v1::Entity { kind: entity_kind(entity.kind).to_owned(), value: entity.value })
            .collect(),
        signature: reading.signature.0,
        cues: reading
            .cues
            .into_iter()
            .map(|cue| v1::Cue { field: cue_field(&cue.field), text: cue.text, weight: f64::from(cue.weight) })
            .collect(),
        sentiment_model: reading.models.sentiment,
        intent_model: reading.models.intent,
        hashtags: reading.hashtags,
        truncated: reading.truncated,
    }
}

fn sentiment_label(label: tend_text::SentimentLabel) -> v1::SentimentLabel {
    match label {
        tend_text::SentimentLabel::Negative => v1::SentimentLabel::Negative,
        tend_text::SentimentLabel::Neutral => v1::SentimentLabel::Neutral,
        tend_text::SentimentLabel::Positive => v1::SentimentLabel::Positive,
    }
}

/// The contract's intent; a label outside the six (only a trained model could give one, and
/// training refuses them) reads as other.
fn intent(intent: &tend_text::Intent) -> v1::Intent {
    match intent {
        tend_text::Intent::Question => v1::Intent::Question,
        tend_text::Intent::Complaint => v1::Intent::Complaint,
        tend_text::Intent::ChurnRisk => v1::Intent::ChurnRisk,
        tend_text::Intent::Praise => v1::Intent::Praise,
        tend_text::Intent::Spam => v1::Intent::Spam,
        tend_text::Intent::Other | tend_text::Intent::Custom(_) => v1::Intent::Other,
    }
}

fn action_reason(reason: tend_text::ActionReason) -> &'static str {
    match reason {
        tend_text::ActionReason::ChurnRisk => "churn_risk",
        tend_text::ActionReason::Complaint => "complaint",
        tend_text::ActionReason::Question => "question",
        tend_text::ActionReason::Praise => "praise",
        tend_text::ActionReason::Spam => "spam",
        tend_text::ActionReason::Chatter => "chatter",
    }
}

fn entity_kind(kind: tend_text::EntityKind) -> &'static str {
    match kind {
        tend_text::EntityKind::Order => "order",
        tend_text::EntityKind::Ticket => "ticket",
        tend_text::EntityKind::Tracking => "tracking",
        tend_text::EntityKind::Booking => "booking",
        tend_text::EntityKind::Invoice => "invoice",
    }
}

fn cue_field(field: &CueField) -> String {
    match field {
        CueField::Language => "language".to_owned(),
        CueField::Sentiment => "sentiment".to_owned(),
        CueField::Intent(intent) => format!("intent:{}", intent.as_str()),
        CueField::Topic => "topic".to_owned(),
        CueField::Entity => "entity".to_owned(),
    }
}
