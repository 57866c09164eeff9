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
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tend_kernel::ApiError;
use tend_matching::{Index, MatchOptions, Model, Record, Schema, Scored, TrainOptions};
use tend_proto::v1;

use crate::customers;
use crate::storage::{self, customer, matcher_model, profile};

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
        if let Ok(checked) = customers::check(&original) {
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
fn schema() -> Schema {
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
    built: Instant,
}

/// Trained matchers of every tenant, cached.
#[derive(Default)]
pub struct Matchers {
    cache: Mutex<HashMap<String, Arc<Loaded>>>,
}

impl Matchers {
    /// Forgets the tenant's cached matcher (after training or new thresholds).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(tenant);
        }
    }

    /// The tenant's matcher, if trained.
    pub async fn load<C: ConnectionTrait>(&self, conn: &C, tenant: &str) -> Result<Option<Arc<Loaded>>, ApiError> {
        let cached = self.cache.lock().ok().and_then(|cache| cache.get(tenant).cloned());
        if let Some(loaded) = cached.filter(|loaded| loaded.built.elapsed() < INDEX_FRESH_FOR) {
            return Ok(Some(loaded));
        }
        let Some(row) = storage::matcher_of(conn, tenant).await.map_err(ApiError::internal)? else { return Ok(None) };
        if row.model.is_empty() {
            return Ok(None);
        }
        let model: Model = serde_json::from_str(&row.model).map_err(ApiError::internal)?;
        let customers = storage::all_customers(conn, tenant).await.map_err(ApiError::internal)?;
        let index = model.index(customers.iter().map(customer_record).collect());
        let loaded = Arc::new(Loaded {
            model,
            index,
            link_threshold: row.link_threshold,
            review_threshold: row.review_threshold,
            built: Instant::now(),
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(tenant.to_owned(), loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// Trains the tenant's matcher on all its profiles and customers, and stores it.
    pub async fn train(&self, db: &DatabaseConnection, tenant: &str) -> Result<v1::TrainMatcherResponse, ApiError> {
        let profiles = storage::all_profiles(db, tenant).await.map_err(ApiError::internal)?;
        let customers = storage::all_customers(db, tenant).await.map_err(ApiError::internal)?;
        if profiles.is_empty() || customers.is_empty() {
            return Err(ApiError::FailedPrecondition(format!(
                "training needs profiles and customers; the tenant has {} and {}",
                profiles.len(),
                customers.len()
            )));
        }
        let left: Vec<Record> = profiles.iter().map(profile_record).collect();
        let right: Vec<Record> = customers.iter().map(customer_record).collect();
        // EM is CPU-bound: keep it off the async workers.
        let run = tokio::task::spawn_blocking(move || {
            let no_pairs = MatchOptions { threshold: 1.1, one_to_one: false };
            tend_matching::train_and_link(schema(), &left, &right, &TrainOptions::default(), &no_pairs)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::FailedPrecondition(format!("cannot train on this data yet: {error}")))?;
        let existing = storage::matcher_of(db, tenant).await.map_err(ApiError::internal)?;
        let now = tend_kernel::ids::now();
        let row = matcher_model::Model {
            tenant: tenant.to_owned(),
            model: serde_json::to_string(&run.model).map_err(ApiError::internal)?,
            link_threshold: existing.as_ref().map_or(DEFAULT_LINK_THRESHOLD, |row| row.link_threshold),
            review_threshold: existing.as_ref().map_or(DEFAULT_REVIEW_THRESHOLD, |row| row.review_threshold),
            trained_at: Some(now),
        };
        storage::save_matcher(db, row, existing.is_none()).await.map_err(ApiError::internal)?;
        self.invalidate(tenant);
        tracing::info!(
            tenant,
            profiles = profiles.len(),
            customers = customers.len(),
            candidates = run.stats.candidate_pairs,
            "matcher trained"
        );
        Ok(v1::TrainMatcherResponse {
            profiles: profiles.len() as u64,
            customers: customers.len() as u64,
            candidate_pairs: run.stats.candidate_pairs as u64,
            trained_at: Some(tend_kernel::ids::to_timestamp(now)),
        })
    }

    /// Sets the tenant's thresholds.
    pub async fn set_thresholds(
        &self,
        db: &DatabaseConnection,
        tenant: &str,
        link: f64,
        review: f64,
    ) -> Result<(), ApiError> {
        if !(0.0..=1.0).contains(&link) {
            return Err(ApiError::invalid("link_threshold", "must be between 0 and 1"));
        }
        if !(0.0..=link).contains(&review) {
            return Err(ApiError::invalid("review_threshold", "must be between 0 and link_threshold"));
        }
        let existing = storage::matcher_of(db, tenant).await.map_err(ApiError::internal)?;
        let row = matcher_model::Model {
            tenant: tenant.to_owned(),
            model: existing.as_ref().map(|row| row.model.clone()).unwrap_or_default(),
            link_threshold: link,
            review_threshold: review,
            trained_at: existing.as_ref().and_then(|row| row.trained_at),
        };
        storage::save_matcher(db, row, existing.is_none()).await.map_err(ApiError::internal)?;
        self.invalidate(tenant);
        Ok(())
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
