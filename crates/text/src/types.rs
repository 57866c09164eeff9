//! The public result types. All of them serialise with serde, since callers store them as JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::minhash::Signature;

/// Where a post came from; changes a few rules (email skips quoted `>` lines, reviews and
/// emails count less toward spam for links).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// X (Twitter).
    X,
    /// Facebook posts, comments and messages.
    Facebook,
    /// Instagram comments and messages.
    Instagram,
    /// Email.
    Email,
    /// Live chat.
    Chat,
    /// App-store or review-site reviews.
    Review,
    /// Anything else.
    #[default]
    Other,
}

impl Channel {
    /// The lowercase name used in JSON and in [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::X => "x",
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::Email => "email",
            Channel::Chat => "chat",
            Channel::Review => "review",
            Channel::Other => "other",
        }
    }
}

impl FromStr for Channel {
    type Err = std::convert::Infallible;

    /// Parses a channel name; unknown names become [`Channel::Other`] (never fails).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "x" | "twitter" | "tweet" => Channel::X,
            "facebook" | "fb" | "messenger" => Channel::Facebook,
            "instagram" | "ig" => Channel::Instagram,
            "email" | "mail" | "e-mail" => Channel::Email,
            "chat" | "livechat" | "whatsapp" => Channel::Chat,
            "review" | "reviews" | "appstore" | "play" => Channel::Review,
            _ => Channel::Other,
        })
    }
}

/// One text to enrich.
#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    /// The post text.
    pub text: &'a str,
    /// The channel it came from.
    pub channel: Channel,
    /// A language the caller believes the text is in (ISO 639-1 like `"es"` or 639-3 like
    /// `"spa"`); used when detection is unreliable, which is common for short posts.
    pub language_hint: Option<&'a str>,
}

impl<'a> Input<'a> {
    /// An input with no channel and no hint.
    pub fn new(text: &'a str) -> Self {
        Input { text, channel: Channel::Other, language_hint: None }
    }

    /// Set the channel.
    pub fn channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// Set the language hint.
    pub fn language_hint(mut self, hint: &'a str) -> Self {
        self.language_hint = Some(hint);
        self
    }
}

/// How the language was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LanguageSource {
    /// Detected from the text, reliably.
    Detected,
    /// Detection was unreliable or impossible and the caller's hint was used.
    Hint,
    /// Detection was unreliable, there was no usable hint, and the detector's best guess is given.
    Guess,
    /// Nothing readable: `code` is `"und"`.
    Unknown,
}

/// The language of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// ISO 639-3 code (`"eng"`, `"spa"`, `"fra"`, `"deu"`, `"por"`, ...), `"und"` when unknown.
    pub code: String,
    /// Confidence in [0, 1] (the detector's, or 0.5 for a hint, 0 for unknown).
    pub confidence: f32,
    /// How `code` was decided.
    pub source: LanguageSource,
}

/// Three-way sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    /// Unhappy, angry, complaining.
    Negative,
    /// Neither.
    Neutral,
    /// Happy, thankful, praising.
    Positive,
}

impl SentimentLabel {
    /// `"negative"`, `"neutral"` or `"positive"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }

    /// Parse the label names used by [`as_str`](Self::as_str) (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "negative" | "neg" => Some(SentimentLabel::Negative),
            "neutral" | "neu" => Some(SentimentLabel::Neutral),
            "positive" | "pos" => Some(SentimentLabel::Positive),
            _ => None,
        }
    }
}

impl fmt::Display for SentimentLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sentiment of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// Score in [-1, 1]; negative below zero.
    pub score: f32,
    /// The label the score maps to.
    pub label: SentimentLabel,
    /// `"builtin"` or the version string of the tenant model that produced it.
    pub model: String,
}

/// What a post wants. Serialises as its snake_case name; labels a trained model invents are
/// kept as [`Intent::Custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Intent {
    /// Asks something.
    Question,
    /// Reports a problem or is unhappy with the service.
    Complaint,
    /// Says or hints that the customer may leave.
    ChurnRisk,
    /// Thanks or compliments.
    Praise,
    /// Promotion, scams, bots.
    Spam,
    /// None of the above.
    Other,
    /// A label from a tenant-trained intent model that is none of the above.
    Custom(String),
}

impl Intent {
    /// The built-in intents, in the order the built-in analyser reports labels.
    pub const BUILTIN: [Intent; 6] =
        [Intent::Question, Intent::Complaint, Intent::ChurnRisk, Intent::Praise, Intent::Spam, Intent::Other];

    /// The snake_case name.
    pub fn as_str(&self) -> &str {
        match self {
            Intent::Question => "question",
            Intent::Complaint => "complaint",
            Intent::ChurnRisk => "churn_risk",
            Intent::Praise => "praise",
            Intent::Spam => "spam",
            Intent::Other => "other",
            Intent::Custom(s) => s,
        }
    }

    /// Parse a label; unknown labels become [`Intent::Custom`].
    pub fn from_label(label: &str) -> Intent {
        match label.trim().to_ascii_lowercase().as_str() {
            "question" => Intent::Question,
            "complaint" => Intent::Complaint,
            "churn_risk" | "churn" => Intent::ChurnRisk,
            "praise" => Intent::Praise,
            "spam" => Intent::Spam,
            "other" => Intent::Other,
            _ => Intent::Custom(label.to_string()),
        }
    }
}

impl From<Intent> for String {
    fn from(i: Intent) -> String {
        i.as_str().to_string()
    }
}

impl From<String> for Intent {
    fn from(s: String) -> Intent {
        Intent::from_label(&s)
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One intent with its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentScore {
    /// The intent.
    pub intent: Intent,
    /// Score in [0, 1]; 0.5 and above counts as present.
    pub score: f32,
}

/// Why a post is, or is not, work for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionReason {
    /// The customer may leave: most urgent.
    ChurnRisk,
    /// A problem to handle.
    Complaint,
    /// A question to answer.
    Question,
    /// Thanks or compliments: no work, but maybe a testimonial.
    Praise,
    /// Spam: ignore.
    Spam,
    /// Chatter with nothing to do.
    Chatter,
}

/// Whether a post needs an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actionability {
    /// True for churn risk, complaints and questions.
    pub actionable: bool,
    /// The deciding intent.
    pub reason: ActionReason,
    /// Praise worth asking to quote.
    pub testimonial_candidate: bool,
}

/// A tenant topic found in the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMatch {
    /// The topic name from the [`TopicDictionary`](crate::TopicDictionary).
    pub topic: String,
    /// The keywords that matched, as written in the dictionary.
    pub keywords: Vec<String>,
    /// How many times keywords matched.
    pub count: u32,
}

/// The kind of reference number found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// Order numbers ("order #12345", "pedido 1234", "commande 5678", "Bestellung 123456").
    Order,
    /// Ticket or case numbers ("ticket 98765", "case #4432", "caso 123").
    Ticket,
    /// Shipment tracking numbers ("tracking 1Z999...", "rastreio BR123...").
    Tracking,
    /// Booking or confirmation codes ("booking ref ABC123", "confirmation 12345").
    Booking,
    /// Invoice numbers ("invoice 2024-0012", "factura 555").
    Invoice,
}

/// A reference number found in the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// The number as written (without a leading `#`).
    pub value: String,
    /// Byte offsets of the value in the input text.
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
}

/// Which result a cue explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CueField {
    /// The language decision.
    Language,
    /// The sentiment score.
    Sentiment,
    /// One intent's score.
    Intent(Intent),
    /// A topic match.
    Topic,
    /// An entity.
    Entity,
}

/// One piece of evidence behind a result, so an agent can see why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    /// The result it explains.
    pub field: CueField,
    /// The words, emoji or rule name (rules are written in brackets, like `[3 exclamation marks]`).
    pub text: String,
    /// Its contribution: for sentiment a signed weight in [-1, 1], for intents a weight in [0, 1].
    pub weight: f32,
}

/// Which model produced sentiment and intents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsUsed {
    /// `"builtin"` or the tenant model version.
    pub sentiment: String,
    /// `"builtin"` or the tenant model version.
    pub intent: String,
}

/// Everything the analyser derives from one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// The text's language.
    pub language: Language,
    /// Its sentiment.
    pub sentiment: Sentiment,
    /// Intents with a score of at least 0.1, highest first.
    pub intents: Vec<IntentScore>,
    /// Whether an agent should act.
    pub actionable: Actionability,
    /// Hashtags, lowercased, without `#`, first occurrence order, no duplicates.
    pub hashtags: Vec<String>,
    /// Tenant topics matched.
    pub topics: Vec<TopicMatch>,
    /// Order, ticket, tracking, booking and invoice numbers.
    pub entities: Vec<Entity>,
    /// MinHash near-duplicate signature.
    pub signature: Signature,
    /// Evidence behind sentiment, intents, topics and entities.
    pub cues: Vec<Cue>,
    /// Models used.
    pub models: ModelsUsed,
    /// The text was longer than the analysed cap and only its start was read.
    pub truncated: bool,
}

impl Enrichment {
    /// The score of one intent (0 when it is not listed).
    pub fn intent_score(&self, intent: &Intent) -> f32 {
        self.intents.iter().find(|s| &s.intent == intent).map_or(0.0, |s| s.score)
    }

    /// Whether an intent is present (score ≥ 0.5).
    pub fn has_intent(&self, intent: &Intent) -> bool {
        self.intent_score(intent) >= crate::intent::PRESENT
    }

    /// The highest-scoring intent.
    pub fn primary_intent(&self) -> Intent {
        self.intents.first().map_or(Intent::Other, |s| s.intent.clone())
    }
}
