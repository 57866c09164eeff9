//! The tenant's probabilistic matcher: train it, set its thresholds, explain how it sees a pair.

use chrono::{DateTime, Utc};
use tend_kernel::TenantId;
use tend_matching::{MatchOptions, Record, Scored, TrainOptions};

use super::{App, Error, parse_id};
use crate::domain::Invalid;
use crate::matcher::{self, DEFAULT_LINK_THRESHOLD, DEFAULT_REVIEW_THRESHOLD};
use crate::storage::{self, matcher_model};

/// What a training run learnt from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trained {
    /// Profiles trained on.
    pub profiles: u64,
    /// Customers trained on.
    pub customers: u64,
    /// Profile–customer pairs the blocking keys compared.
    pub candidate_pairs: u64,
    /// When.
    pub trained_at: DateTime<Utc>,
}

impl App {
    /// Trains the tenant's matcher on all its profiles and customers (no labels: EM), and
    /// stores it; the thresholds stay as they were.
    pub async fn train(&self, tenant: &TenantId) -> Result<Trained, Error> {
        let tenant = tenant.as_str();
        let profiles = storage::profiles::all(&self.db, tenant).await?;
        let customers = storage::customers::live(&self.db, tenant).await?;
        if profiles.is_empty() || customers.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "training needs profiles and customers; the tenant has {} and {}",
                profiles.len(),
                customers.len()
            )));
        }
        let left: Vec<Record> = profiles.iter().map(matcher::profile_record).collect();
        let right: Vec<Record> = customers.iter().map(matcher::customer_record).collect();
        // EM is CPU-bound: keep it off the async workers.
        let run = tokio::task::spawn_blocking(move || {
            let no_pairs = MatchOptions { threshold: 1.1, one_to_one: false };
            tend_matching::train_and_link(matcher::schema(), &left, &right, &TrainOptions::default(), &no_pairs)
        })
        .await
        .map_err(|error| Error::Unexpected(format!("the training task failed: {error}")))?
        .map_err(|error| Error::FailedPrecondition(format!("cannot train on this data yet: {error}")))?;
        let existing = storage::model::find(&self.db, tenant).await?;
        let now = tend_kernel::ids::now();
        let row = matcher_model::Model {
            tenant: tenant.to_owned(),
            model: serde_json::to_string(&run.model)
                .map_err(|error| Error::Unexpected(format!("the model does not write: {error}")))?,
            link_threshold: existing.as_ref().map_or(DEFAULT_LINK_THRESHOLD, |row| row.link_threshold),
            review_threshold: existing.as_ref().map_or(DEFAULT_REVIEW_THRESHOLD, |row| row.review_threshold),
            trained_at: Some(now),
        };
        storage::model::save_matcher(&self.db, row, existing.is_none()).await?;
        self.matchers.invalidate(tenant);
        tracing::info!(
            tenant,
            profiles = profiles.len(),
            customers = customers.len(),
            candidates = run.stats.candidate_pairs,
            "matcher trained"
        );
        Ok(Trained {
            profiles: profiles.len() as u64,
            customers: customers.len() as u64,
            candidate_pairs: run.stats.candidate_pairs as u64,
            trained_at: now,
        })
    }

    /// Sets the tenant's thresholds: link at or above `link`, queue for review at or above
    /// `review` (`0 ≤ review ≤ link ≤ 1`).
    pub async fn set_thresholds(&self, tenant: &TenantId, link: f64, review: f64) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&link) {
            return Err(Invalid::new("link_threshold", "must be between 0 and 1").into());
        }
        if !(0.0..=link).contains(&review) {
            return Err(Invalid::new("review_threshold", "must be between 0 and link_threshold").into());
        }
        let tenant = tenant.as_str();
        let existing = storage::model::find(&self.db, tenant).await?;
        let row = matcher_model::Model {
            tenant: tenant.to_owned(),
            model: existing.as_ref().map(|row| row.model.clone()).unwrap_or_default(),
            link_threshold: link,
            review_threshold: review,
            trained_at: existing.as_ref().and_then(|row| row.trained_at),
        };
        storage::model::save_matcher(&self.db, row, existing.is_none()).await?;
        self.matchers.invalidate(tenant);
        Ok(())
    }

    /// How the tenant's matcher scores a profile against a customer, field by field.
    pub async fn explain(&self, tenant: &TenantId, profile_id: &str, customer_id: &str) -> Result<Scored, Error> {
        let profile_id = parse_id("profile_id", profile_id)?;
        let customer_id = parse_id("customer_id", customer_id)?;
        let tenant = tenant.as_str();
        let Some(loaded) = self.matchers.load(&self.db, tenant).await? else {
            return Err(Error::FailedPrecondition("the matcher is not trained yet: call TrainMatcher".into()));
        };
        let profile = storage::profiles::find(&self.db, tenant, &profile_id)
            .await?
            .ok_or_else(|| Error::not_found("profile", &profile_id))?;
        let customer = storage::customers::find(&self.db, tenant, &customer_id)
            .await?
            .ok_or_else(|| Error::not_found("customer", &customer_id))?;
        Ok(loaded.model.score(&matcher::profile_record(&profile), &matcher::customer_record(&customer)))
    }
}
