//! What a rule's condition sees: the interaction, its enrichment, its author and the customer,
//! as the CEL variables `interaction`, `enrichment`, `author`, `customer` and `now`.
//!
//! Every field is always present (an empty string, 0, false or an empty list when unknown), so a
//! condition never fails on a missing key and a typo in a field name is caught when the rule
//! set is validated. Numbers are CEL `int` or `double`, never `uint`, so `author.followers >
//! 1000` compares as written.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::Value;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tend_proto::v1;

/// The facts of one interaction, ready to bind.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// `interaction`.
    pub interaction: InteractionFacts,
    /// `enrichment`.
    pub enrichment: EnrichmentFacts,
    /// `author`.
    pub author: AuthorFacts,
    /// `customer`.
    pub customer: CustomerFacts,
    /// `now`: the time of the decision.
    #[serde(skip)]
    pub now: cel::Timestamp,
}

/// `interaction.*`.
#[derive(Debug, Clone, Serialize)]
pub struct InteractionFacts {
    /// Tend's id.
    pub id: String,
    /// "x", "facebook", "instagram", "email", "chat", "review".
    pub channel: &'static str,
    /// The channel's id of the post.
    pub external_id: String,
    /// The normalised text.
    pub text: String,
    /// A link to the post, if any.
    pub url: String,
    /// Whether it answers another post.
    pub is_reply: bool,
    /// The channel's id of the post it answers.
    pub in_reply_to: String,
    /// When the author posted it.
    pub posted_at: cel::Timestamp,
    /// When Tend received it.
    pub received_at: cel::Timestamp,
}

/// `enrichment.*`.
#[derive(Debug, Clone, Serialize)]
pub struct EnrichmentFacts {
    /// False for an interaction stored before enrichment existed (the rest is then neutral).
    pub present: bool,
    /// ISO 639-1, or "und".
    pub language: String,
    /// 0 to 1.
    pub language_confidence: f64,
    /// -1 to 1.
    pub sentiment: f64,
    /// "negative", "neutral", "positive", or "" when not computed.
    pub sentiment_label: &'static str,
    /// Every intent's score, 0 when absent: `question`, `complaint`, `churn_risk`, `praise`,
    /// `spam`, `other`.
    pub intents: BTreeMap<&'static str, f64>,
    /// The strongest intent's name ("other" when none).
    pub intent: &'static str,
    /// Enrichment's verdict: work for an agent or not.
    pub actionable: bool,
    /// Why: "complaint", "praise", "spam", "chatter"…
    pub actionable_reason: String,
    /// Praise worth a testimonial.
    pub testimonial_candidate: bool,
    /// The tenant's topics mentioned.
    pub topics: Vec<String>,
    /// Hashtags, lower-cased, without "#".
    pub hashtags: Vec<String>,
    /// Order, ticket, tracking… numbers found, as `{kind, value}`.
    pub entities: Vec<EntityFacts>,
}

/// One entity of `enrichment.entities`.
#[derive(Debug, Clone, Serialize)]
pub struct EntityFacts {
    /// "order", "ticket", "tracking", "booking", "invoice".
    pub kind: String,
    /// The number as written.
    pub value: String,
}

/// `author.*`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorFacts {
    /// The channel's id of the author.
    pub id: String,
    /// The handle, without "@".
    pub handle: String,
    /// The display name.
    pub display_name: String,
    /// Followers at the time of the post.
    pub followers: i64,
    /// Verified by the channel.
    pub verified: bool,
    /// Free-text location from the profile.
    pub location: String,
    /// Tend's profile id.
    pub profile_id: String,
}

/// `customer.*`: the CRM's summary of a linked customer; blank unless `linked`.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerFacts {
    /// Identity tied the author to a customer.
    pub linked: bool,
    /// "linked", "candidate" (a review is pending) or "unknown".
    pub status: &'static str,
    /// Tend's customer id.
    pub id: String,
    /// The CRM's segment.
    pub segment: String,
    /// The CRM's tier.
    pub tier: String,
    /// Lifetime value.
    pub lifetime_value: f64,
    /// Orders placed.
    pub orders: i64,
    /// Total spent.
    pub total_spent: f64,
    /// Days since the last order; -1 when unknown.
    pub days_since_last_order: i64,
}

/// The name rules use for a channel.
pub fn channel_name(channel: i32) -> &'static str {
    match v1::Channel::try_from(channel).unwrap_or_default() {
        v1::Channel::X => "x",
        v1::Channel::Facebook => "facebook",
        v1::Channel::Instagram => "instagram",
        v1::Channel::Email => "email",
        v1::Channel::Chat => "chat",
        v1::Channel::Review => "review",
        v1::Channel::Unspecified => "",
    }
}

/// The name rules use for an intent.
pub fn intent_name(intent: v1::Intent) -> &'static str {
    match intent {
        v1::Intent::Question => "question",
        v1::Intent::Complaint => "complaint",
        v1::Intent::ChurnRisk => "churn_risk",
        v1::Intent::Praise => "praise",
        v1::Intent::Spam => "spam",
        v1::Intent::Other | v1::Intent::Unspecified => "other",
    }
}

const INTENTS: [v1::Intent; 6] = [
    v1::Intent::Question,
    v1::Intent::Complaint,
    v1::Intent::ChurnRisk,
    v1::Intent::Praise,
    v1::Intent::Spam,
    v1::Intent::Other,
];

fn timestamp(at: Option<&prost_types::Timestamp>) -> cel::Timestamp {
    cel::Timestamp(crate::time_of(at).unwrap_or_default().fixed_offset())
}

impl Facts {
    /// The facts of an identified interaction, `now` being the time of the decision.
    pub fn of(identified: &v1::InteractionIdentified, now: DateTime<Utc>) -> Self {
        let default_interaction = v1::Interaction::default();
        let interaction = identified.interaction.as_ref().unwrap_or(&default_interaction);
        let author = interaction.author.clone().unwrap_or_default();
        let linked = identified.status() == v1::IdentityStatus::Linked;
        let summary =
            if linked { identified.customer.clone().unwrap_or_default() } else { v1::CustomerSummary::default() };
        let days_since_last_order =
            crate::time_of(summary.last_order_at.as_ref()).map_or(-1, |at| (now - at).num_days().max(0));
        Facts {
            interaction: InteractionFacts {
                id: interaction.id.clone(),
                channel: channel_name(interaction.channel),
                external_id: interaction.external_id.clone(),
                text: interaction.text.clone(),
                url: interaction.url.clone(),
                is_reply: !interaction.in_reply_to_external_id.is_empty(),
                in_reply_to: interaction.in_reply_to_external_id.clone(),
                posted_at: timestamp(interaction.posted_at.as_ref()),
                received_at: timestamp(interaction.received_at.as_ref()),
            },
            enrichment: EnrichmentFacts::of(interaction.enrichment.as_ref()),
            author: AuthorFacts {
                id: author.external_id,
                handle: author.handle,
                display_name: author.display_name,
                followers: i64::try_from(author.followers).unwrap_or(i64::MAX),
                verified: author.verified,
                location: author.location,
                profile_id: identified.profile.as_ref().map(|profile| profile.id.clone()).unwrap_or_default(),
            },
            customer: CustomerFacts {
                linked,
                status: match identified.status() {
                    v1::IdentityStatus::Linked => "linked",
                    v1::IdentityStatus::Candidate => "candidate",
                    _ => "unknown",
                },
                id: if linked { identified.customer_id.clone() } else { String::new() },
                segment: summary.segment,
                tier: summary.tier,
                lifetime_value: finite(summary.lifetime_value),
                orders: i64::from(summary.orders),
                total_spent: finite(summary.total_spent),
                days_since_last_order,
            },
            now: cel::Timestamp(now.fixed_offset()),
        }
    }

    /// Facts with every field set to something true-ish, for checking that a condition names only
    /// fields that exist (a short-circuit on blank facts could hide a typo behind `&&`).
    pub fn sample_rich() -> Self {
        let identified = v1::InteractionIdentified {
            interaction: Some(v1::Interaction {
                id: "sample".into(),
                channel: v1::Channel::X.into(),
                external_id: "1".into(),
                text: "my order 123 never arrived, I want to cancel".into(),
                in_reply_to_external_id: "0".into(),
                author: Some(v1::Author {
                    external_id: "a".into(),
                    handle: "sample".into(),
                    followers: 10_000,
                    verified: true,
                    ..v1::Author::default()
                }),
                enrichment: Some(v1::Enrichment {
                    language: "en".into(),
                    language_confidence: 1.0,
                    sentiment: Some(v1::Sentiment { score: -0.5, label: v1::SentimentLabel::Negative.into() }),
                    intents: INTENTS
                        .iter()
                        .map(|intent| v1::IntentScore { intent: (*intent).into(), score: 1.0 })
                        .collect(),
                    actionable: true,
                    actionable_reason: "complaint".into(),
                    testimonial_candidate: true,
                    topics: vec!["delivery".into()],
                    hashtags: vec!["fail".into()],
                    entities: vec![v1::Entity { kind: "order".into(), value: "123".into() }],
                    ..v1::Enrichment::default()
                }),
                ..v1::Interaction::default()
            }),
            status: v1::IdentityStatus::Linked.into(),
            customer_id: "c".into(),
            customer: Some(v1::CustomerSummary {
                segment: "enterprise".into(),
                tier: "vip".into(),
                lifetime_value: 100_000.0,
                orders: 10,
                total_spent: 5_000.0,
                last_order_at: Some(prost_types::Timestamp { seconds: 0, nanos: 0 }),
            }),
            ..v1::InteractionIdentified::default()
        };
        Facts::of(&identified, DateTime::<Utc>::UNIX_EPOCH)
    }
}

impl EnrichmentFacts {
    fn of(enrichment: Option<&v1::Enrichment>) -> Self {
        let mut intents: BTreeMap<&'static str, f64> =
            INTENTS.iter().map(|intent| (intent_name(*intent), 0.0)).collect();
        let Some(enrichment) = enrichment else {
            return EnrichmentFacts {
                present: false,
                language: "und".into(),
                language_confidence: 0.0,
                sentiment: 0.0,
                sentiment_label: "",
                intents,
                intent: "other",
                actionable: true,
                actionable_reason: String::new(),
                testimonial_candidate: false,
                topics: Vec::new(),
                hashtags: Vec::new(),
                entities: Vec::new(),
            };
        };
        for scored in &enrichment.intents {
            intents.insert(intent_name(scored.intent()), finite(scored.score));
        }
        let sentiment = enrichment.sentiment.unwrap_or_default();
        EnrichmentFacts {
            present: true,
            language: enrichment.language.clone(),
            language_confidence: finite(enrichment.language_confidence),
            sentiment: finite(sentiment.score),
            sentiment_label: match sentiment.label() {
                v1::SentimentLabel::Negative => "negative",
                v1::SentimentLabel::Neutral => "neutral",
                v1::SentimentLabel::Positive => "positive",
                v1::SentimentLabel::Unspecified => "",
            },
            intents,
            intent: enrichment.intents.first().map_or("other", |scored| intent_name(scored.intent())),
            actionable: enrichment.actionable,
            actionable_reason: enrichment.actionable_reason.clone(),
            testimonial_candidate: enrichment.testimonial_candidate,
            topics: enrichment.topics.clone(),
            hashtags: enrichment.hashtags.clone(),
            entities: enrichment
                .entities
                .iter()
                .map(|entity| EntityFacts { kind: entity.kind.clone(), value: entity.value.clone() })
                .collect(),
        }
    }
}

/// NaN and infinities become 0: a condition compares numbers, and NaN compares false both ways.
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// Conditions read the facts through a resolver: a field is turned into a CEL value only when a
/// condition names it (`customer.tier` is looked up whole before `customer`), so a decision
/// costs what its rules read, not the whole interaction. Naming a whole object (`customer`)
/// still works: it is built then.
impl cel::context::VariableResolver for Facts {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        let value = self.field(variable)?;
        let value: Box<dyn cel::common::value::Val> = value.try_into().ok()?;
        Some(cel::common::value::CowVal::Owned(value))
    }
}

fn text(value: &str) -> Value {
    Value::String(Arc::new(value.to_owned()))
}

fn texts(values: &[String]) -> Value {
    Value::List(Arc::new(values.iter().map(|value| text(value)).collect()))
}

impl Facts {
    /// The CEL value of a variable or a dotted field of one; `None` for a name that is neither.
    fn field(&self, name: &str) -> Option<Value> {
        let (root, rest) = name.split_once('.').unwrap_or((name, ""));
        let (interaction, enrichment, author, customer) =
            (&self.interaction, &self.enrichment, &self.author, &self.customer);
        let value = match (root, rest) {
            ("now", "") => Value::Timestamp(self.now.0),
            ("interaction", "") => cel::to_value(interaction).ok()?,
            ("interaction", "id") => text(&interaction.id),
            ("interaction", "channel") => text(interaction.channel),
            ("interaction", "external_id") => text(&interaction.external_id),
            ("interaction", "text") => text(&interaction.text),
            ("interaction", "url") => text(&interaction.url),
            ("interaction", "is_reply") => Value::Bool(interaction.is_reply),
            ("interaction", "in_reply_to") => text(&interaction.in_reply_to),
            ("interaction", "posted_at") => Value::Timestamp(interaction.posted_at.0),
            ("interaction", "received_at") => Value::Timestamp(interaction.received_at.0),
            ("enrichment", "") => cel::to_value(enrichment).ok()?,
            ("enrichment", "present") => Value::Bool(enrichment.present),
            ("enrichment", "language") => text(&enrichment.language),
            ("enrichment", "language_confidence") => Value::Float(enrichment.language_confidence),
            ("enrichment", "sentiment") => Value::Float(enrichment.sentiment),
            ("enrichment", "sentiment_label") => text(enrichment.sentiment_label),
            ("enrichment", "intents") => cel::to_value(&enrichment.intents).ok()?,
            ("enrichment", field) if field.starts_with("intents.") => {
                Value::Float(*enrichment.intents.get(&field["intents.".len()..])?)
            }
            ("enrichment", "intent") => text(enrichment.intent),
            ("enrichment", "actionable") => Value::Bool(enrichment.actionable),
            ("enrichment", "actionable_reason") => text(&enrichment.actionable_reason),
            ("enrichment", "testimonial_candidate") => Value::Bool(enrichment.testimonial_candidate),
            ("enrichment", "topics") => texts(&enrichment.topics),
            ("enrichment", "hashtags") => texts(&enrichment.hashtags),
            ("enrichment", "entities") => cel::to_value(&enrichment.entities).ok()?,
            ("author", "") => cel::to_value(author).ok()?,
            ("author", "id") => text(&author.id),
            ("author", "handle") => text(&author.handle),
            ("author", "display_name") => text(&author.display_name),
            ("author", "followers") => Value::Int(author.followers),
            ("author", "verified") => Value::Bool(author.verified),
            ("author", "location") => text(&author.location),
            ("author", "profile_id") => text(&author.profile_id),
            ("customer", "") => cel::to_value(customer).ok()?,
            ("customer", "linked") => Value::Bool(customer.linked),
            ("customer", "status") => text(customer.status),
            ("customer", "id") => text(&customer.id),
            ("customer", "segment") => text(&customer.segment),
            ("customer", "tier") => text(&customer.tier),
            ("customer", "lifetime_value") => Value::Float(customer.lifetime_value),
            ("customer", "orders") => Value::Int(customer.orders),
            ("customer", "total_spent") => Value::Float(customer.total_spent),
            ("customer", "days_since_last_order") => Value::Int(customer.days_since_last_order),
            _ => return None,
        };
        Some(value)
    }
}
