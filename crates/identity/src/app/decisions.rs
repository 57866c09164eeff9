//! Decisions people make about a profile: link it, unlink it, confirm or reject the matcher's
//! candidate. Each runs in one transaction with its audit entry, and a person's decision is never
//! overridden by automatic linking.

use sea_orm::DatabaseTransaction;
use tend_kernel::auth::Caller;

use super::{App, Error, audit, commit, find_profile, live_customer, parse_id, reason};
use crate::domain::{LinkMethod, LinkStatus};
use crate::storage::{self, profile, review};

/// What a person says about a review candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The profile is that customer: link them.
    Confirm,
    /// It is not: never propose the pair again.
    Reject,
}

impl App {
    /// A person links a profile to a customer (replacing any link it had).
    pub async fn link(
        &self,
        caller: &Caller,
        profile_id: &str,
        customer_id: &str,
        why: &str,
    ) -> Result<profile::Model, Error> {
        let why = reason(why)?;
        let txn = self.begin().await?;
        let row = link_in(&txn, caller, profile_id, customer_id, why).await?;
        commit(txn).await?;
        tracing::info!(profile_id = %row.id, customer_id = %row.customer_id, actor = %caller.actor, "profile linked by a person");
        Ok(row)
    }

    /// A person removes a profile's link; the pair is remembered as rejected.
    pub async fn unlink(&self, caller: &Caller, profile_id: &str, why: &str) -> Result<profile::Model, Error> {
        let tenant = &caller.tenant;
        let why = reason(why)?;
        let txn = self.begin().await?;
        let mut row = find_profile(&txn, tenant, profile_id).await?;
        if row.customer_id.is_empty() {
            return Err(Error::FailedPrecondition(format!("profile {} is not linked", row.id)));
        }
        let old = std::mem::take(&mut row.customer_id);
        storage::review::reject_pair(&txn, tenant.as_str(), &row.id, &old).await?;
        row.status = LinkStatus::Unknown.as_str().to_owned();
        row.link_method = LinkMethod::None.as_str().to_owned();
        row.link_evidence = String::new();
        row.linked_at = None;
        let mut event = audit(tenant, caller, &row.id, &old, "unlinked");
        event.method = LinkMethod::Person.as_str().to_owned();
        event.evidence = format!("unlinked by {}; the pair will not be linked again automatically", caller.actor);
        event.reason = why;
        storage::profiles::save_link(&txn, &row, event).await?;
        commit(txn).await?;
        tracing::info!(profile_id = %row.id, actor = %caller.actor, "profile unlinked by a person");
        Ok(row)
    }

    /// A person confirms (links) or rejects (never proposes again) a review candidate.
    ///
    /// The decision and its effect on the profile commit together or not at all: a candidate
    /// is never left confirmed with its profile unlinked, nor rejected without the rejection.
    pub async fn decide(
        &self,
        caller: &Caller,
        candidate_id: &str,
        verdict: Verdict,
        why: &str,
    ) -> Result<profile::Model, Error> {
        let tenant = &caller.tenant;
        let id = parse_id("candidate_id", candidate_id)?;
        let why = reason(why)?;
        let txn = self.begin().await?;
        let mut candidate = storage::review::find(&txn, tenant.as_str(), &id)
            .await?
            .ok_or_else(|| Error::not_found("review candidate", &id))?;
        if candidate.status != review::PENDING {
            return Err(Error::FailedPrecondition(format!("candidate {id} was already {}", candidate.status)));
        }
        candidate.status = match verdict {
            Verdict::Confirm => "confirmed",
            Verdict::Reject => "rejected",
        }
        .to_owned();
        candidate.decided_at = Some(tend_kernel::ids::now());
        storage::review::save_candidate(&txn, candidate.clone()).await?;
        let row = match verdict {
            Verdict::Confirm => link_in(&txn, caller, &candidate.profile_id, &candidate.customer_id, why).await?,
            Verdict::Reject => {
                storage::review::reject_pair(&txn, tenant.as_str(), &candidate.profile_id, &candidate.customer_id)
                    .await?;
                let mut row = find_profile(&txn, tenant, &candidate.profile_id).await?;
                if LinkStatus::parse(&row.status) == LinkStatus::Candidate && row.customer_id == candidate.customer_id {
                    row.customer_id = String::new();
                    row.status = LinkStatus::Unknown.as_str().to_owned();
                }
                let mut event = audit(tenant, caller, &row.id, &candidate.customer_id, "rejected");
                event.method = LinkMethod::Person.as_str().to_owned();
                event.evidence = format!(
                    "candidate p={:.4} rejected by {}; never proposed again",
                    candidate.probability, caller.actor
                );
                event.reason = why;
                storage::profiles::save_link(&txn, &row, event).await?;
                row
            }
        };
        commit(txn).await?;
        tracing::info!(candidate_id = %id, profile_id = %row.id, ?verdict, actor = %caller.actor, "candidate decided");
        Ok(row)
    }
}

/// Links `profile_id` to `customer_id` for `caller`, with its audit entry, in `txn`.
async fn link_in(
    txn: &DatabaseTransaction,
    caller: &Caller,
    profile_id: &str,
    customer_id: &str,
    why: Option<String>,
) -> Result<profile::Model, Error> {
    let tenant = &caller.tenant;
    let mut row = find_profile(txn, tenant, profile_id).await?;
    let customer = live_customer(txn, tenant, "customer_id", customer_id).await?;
    let replaces = Some(row.customer_id.clone()).filter(|old| !old.is_empty() && *old != customer.id);
    // The person now says these are the same: an earlier rejection no longer holds.
    storage::review::forget_rejection(txn, tenant.as_str(), &row.id, &customer.id).await?;
    row.customer_id = customer.id.clone();
    row.status = LinkStatus::Linked.as_str().to_owned();
    row.link_method = LinkMethod::Person.as_str().to_owned();
    row.link_evidence = match &replaces {
        Some(old) => format!("linked by {} (replacing customer {old})", caller.actor),
        None => format!("linked by {}", caller.actor),
    };
    row.linked_at = Some(tend_kernel::ids::now());
    let mut event = audit(tenant, caller, &row.id, &customer.id, "linked");
    event.method = LinkMethod::Person.as_str().to_owned();
    event.evidence = row.link_evidence.clone();
    event.reason = why;
    storage::profiles::save_link(txn, &row, event).await?;
    Ok(row)
}
