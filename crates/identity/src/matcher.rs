//! The tenant's probabilistic matcher: trained by EM on the tenant's own profiles and customers
//! (no labels), stored as JSON, and kept in memory with an index of the tenant's customers.
//!
//! A profile the deterministic evidence did not link is scored against the customers its
//! blocking keys reach; the best pair a person has not rejected links outright at or above the
//! tenant's link threshold, waits in the review queue at or above the review threshold, and
//! is ignored below it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use sea_orm::ConnectionTrait;
use tend_matching::{Index, MatchOptions, Model, Record, Schema, Scored};
use tend_proto::v1;

use crate::app::Error;
use crate::storage::{customer, customers, model, profile};

/// Link outright at or above this probability unless the tenant set another.
pub const DEFAULT_LINK_THRESHOLD: f64 = 0.99;
/// Queue for review at or above this probability unless the tenant set another.
pub const DEFAULT_REVIEW_THRESHOLD: f64 = 0.8;
/// How long a tenant's customer index is reused before it is rebuilt with new customers.
const INDEX_FRESH_FOR: Duration = Duration::from_secs(30);

/// A profile as the matcher sees it: its display name split into given name and surname, its
/// email and its location.
pub fn profile_record(row: &profile::Model) -> Record {
    let mut record = Record::new(row.id.clone());
    let names: Vec<&str> = row.display_name.split_whitespace().collect();
    if let [given, .., surname] = names.as_slice() {
        record = record.with("given_name", *given).with("surname", *surname);
    } else if let [only] = names.as_slice() {
        record = record.with("given_name", *only);
    }
    if !row.email.is_empty() {
        record = record.with("email", row.email.clone());
    }
    if !row.location.is_empty() {
        // "Leeds, UK" against a customer's city "Leeds": the text comparator's word-overlap level
        // rewards it.
        record = record.with("city", row.location.clone());
    }
    record
}

/// A customer as the matcher sees it.
pub fn customer_record(row: &customer::Model) -> Record {
    let mut record = Record::new(row.id.clone())
        .with("given_name", row.given_name.clone())
        .with("surname", row.family_name.clone())
        .with("postcode", row.postcode.clone());
    if let Some(date) = &row.date_of_birth {
        record = record.with("date_of_birth", date.clone());
    }
    if let Ok(original) = v1::CustomerInput::decode(row.original.as_slice()) {
        if let Ok(checked) = crate::customers::check(&original) {
            if let Some(email) = checked.normalized.emails.first() {
                record = record.with("email", email.clone());
            }
            if let Some(phone) = checked.normalized.phones.first() {
                record = record.with("phone", phone.clone());
            }
        }
        if let Some(address) = original.address {
            record = record.with("city", address.city).with("country", address.country);
        }
    }
    record
}

/// The schema profiles and customers are compared on.
pub fn schema() -> Schema {
    Schema::person()
}

/// A match explanation in the contract's shape.
pub fn explanation(scored: &Scored) -> v1::MatchExplanation {
    v1::MatchExplanation {
        probability: scored.probability,
        weight: scored.weight,
        prior_weight: scored.prior_weight,
        fields: scored
            .fields
            .iter()
            .map(|field| v1::FieldAgreement {
                field: field.field.clone(),
                level: field.level.clone(),
                profile_value: field.left.clone().unwrap_or_default(),
                customer_value: field.right.clone().unwrap_or_default(),
                weight: field.weight,
            })
            .collect(),
    }
}

/// One line for people: the probability and the fields that agreed.
pub fn summary(scored: &Scored) -> String {
    let agreeing: Vec<String> = scored
        .fields
        .iter()
        .filter(|field| field.weight > 0.0)
        .map(|field| format!("{} {}", field.field, field.level))
        .collect();
    format!("matcher p={:.4}: {}", scored.probability, agreeing.join(", "))
}

/// A tenant's model, thresholds and customer index, ready to score.
pub struct Loaded {
    /// The trained model.
    pub model: Model,
    /// The tenant's customers, indexed by the model's blocking keys.
    index: Index,
    /// Link at or above.
    pub link_threshold: f64,
    /// Review at or above.
    pub review_threshold: f64,
}

/// What the cache knows of one tenant: its matcher, or that it has none, as of `at`.
struct Cached {
    loaded: Option<Arc<Loaded>>,
    at: Instant,
}

/// Trained matchers of every tenant, cached for [`INDEX_FRESH_FOR`].
///
/// The absence of a trained matcher is cached too: before a tenant trains one, the consumer
/// would otherwise read `matcher_models` once per batch for nothing. Training, new thresholds
/// and erasure in this process [`invalidate`](Matchers::invalidate) the entry at once; another
/// replica's see them within [`INDEX_FRESH_FOR`], as they see a retrained model.
#[derive(Default)]
pub struct Matchers {
    cache: Mutex<HashMap<String, Cached>>,
}

impl Matchers {
    /// Forgets the tenant's cached matcher (after training or new thresholds).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }

    /// The tenant's matcher, if trained.
    pub async fn load<C: ConnectionTrait>(&self, conn: &C, tenant: &str) -> Result<Option<Arc<Loaded>>, Error> {
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache.get(tenant).filter(|cached| cached.at.elapsed() < INDEX_FRESH_FOR).map(|cached| cached.loaded.clone())
        });
        if let Some(loaded) = cached {
            return Ok(loaded);
        }
        let loaded = match model::find(conn, tenant).await? {
            Some(row) if !row.model.is_empty() => {
                let model: Model = serde_json::from_str(&row.model)
                    .map_err(|error| Error::Unexpected(format!("the stored matcher does not read: {error}")))?;
                let customers = customers::live(conn, tenant).await?;
                let index = model.index(customers.iter().map(customer_record).collect());
                Some(Arc::new(Loaded {
                    model,
                    index,
                    link_threshold: row.link_threshold,
                    review_threshold: row.review_threshold,
                }))
            }
            _ => None,
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.to_owned(), Cached { loaded: loaded.clone(), at: Instant::now() });
        }
        Ok(loaded)
    }
}

impl Loaded {
    /// The customers `record` may be, most likely first, at or above the review threshold.
    pub fn candidates(&self, record: &Record) -> Vec<(String, f64)> {
        let options = MatchOptions { threshold: self.review_threshold, one_to_one: false };
        let mut pairs = self.index.matches(record, &options);
        pairs.sort_by(|a, b| b.probability.total_cmp(&a.probability));
        pairs.into_iter().map(|pair| (pair.right_id, pair.probability)).collect()
    }
}
