//! Decisions people make about identity, and erasure: link and unlink by hand, merge customers
//! and undo it, forget a customer. Each runs in one transaction with its audit entry; a person's
//! decision is never overridden by automatic linking.

use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde::{Deserialize, Serialize};
use tend_kernel::auth::Caller;
use tend_kernel::ids::{self, parse_id};
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::outbox;

use crate::SERVICE;
use crate::api::{IdentityApi, profile_to_proto};
use crate::domain::{LinkMethod, LinkStatus};
use crate::storage::{self, customer, link_event, merge, profile};

/// Longest reason accepted, in bytes.
const MAX_REASON: usize = 1024;

/// What a merge moved, so that undo can move it back.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Moved {
    /// All identifiers the merged customer had.
    merged: Vec<(String, String)>,
    /// Those the survivor did not have and received.
    added: Vec<(String, String)>,
}

fn reason(value: &str) -> Result<Option<String>, ApiError> {
    if value.len() > MAX_REASON {
        return Err(ApiError::invalid("reason", format!("must be at most {MAX_REASON} bytes")));
    }
    Ok(Some(value.trim().to_owned()).filter(|reason| !reason.is_empty()))
}

fn audit(tenant: &TenantId, caller: &Caller, profile_id: &str, customer_id: &str, action: &str) -> link_event::Model {
    link_event::Model {
        id: ids::new_id(),
        tenant: tenant.as_str().to_owned(),
        profile_id: profile_id.to_owned(),
        customer_id: customer_id.to_owned(),
        action: action.to_owned(),
        method: String::new(),
        evidence: String::new(),
        actor: caller.actor.clone(),
        reason: None,
        at: ids::now(),
    }
}

async fn live_customer(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    field: &str,
    id: &str,
) -> Result<customer::Model, ApiError> {
    let id = parse_id(field, id)?;
    let row = storage::find_customer(txn, tenant.as_str(), &id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("customer", &id))?;
    if let Some(into) = &row.merged_into {
        return Err(ApiError::FailedPrecondition(format!("customer {id} was merged into {into}; use that one")));
    }
    Ok(row)
}

async fn profile(txn: &DatabaseTransaction, tenant: &TenantId, id: &str) -> Result<profile::Model, ApiError> {
    let id = parse_id("profile_id", id)?;
    storage::find(txn, tenant.as_str(), &id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("profile", &id))
}

impl IdentityApi {
    /// A person links a profile to a customer.
    pub(crate) async fn link_by_person(
        &self,
        caller: &Caller,
        request: v1::LinkProfileRequest,
    ) -> Result<v1::Profile, ApiError> {
        let tenant = &caller.tenant;
        let reason = reason(&request.reason)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let mut row = profile(&txn, tenant, &request.profile_id).await?;
        let customer = live_customer(&txn, tenant, "customer_id", &request.customer_id).await?;
        let replaces = Some(row.customer_id.clone()).filter(|old| !old.is_empty() && *old != customer.id);
        // The person now says these are the same: an earlier rejection no longer holds.
        storage::forget_rejection(&txn, tenant.as_str(), &row.id, &customer.id).await.map_err(ApiError::internal)?;
        row.customer_id = customer.id.clone();
        row.status = LinkStatus::Linked.as_str().to_owned();
        row.link_method = LinkMethod::Person.as_str().to_owned();
        row.link_evidence = match &replaces {
            Some(old) => format!("linked by {} (replacing customer {old})", caller.actor),
            None => format!("linked by {}", caller.actor),
        };
        row.linked_at = Some(ids::now());
        let mut event = audit(tenant, caller, &row.id, &customer.id, "linked");
        event.method = LinkMethod::Person.as_str().to_owned();
        event.evidence = row.link_evidence.clone();
        event.reason = reason;
        storage::save_link(&txn, &row, event).await.map_err(ApiError::internal)?;
        txn.commit().await.map_err(ApiError::internal)?;
        tracing::info!(profile_id = %row.id, customer_id = %row.customer_id, actor = %caller.actor, "profile linked by a person");
        Ok(profile_to_proto(row))
    }

    /// A person removes a profile's link; the pair is remembered as rejected.
    pub(crate) async fn unlink_by_person(
        &self,
        caller: &Caller,
        request: v1::UnlinkProfileRequest,
    ) -> Result<v1::Profile, ApiError> {
        let tenant = &caller.tenant;
        let reason = reason(&request.reason)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let mut row = profile(&txn, tenant, &request.profile_id).await?;
        if row.customer_id.is_empty() {
            return Err(ApiError::FailedPrecondition(format!("profile {} is not linked", row.id)));
        }
        let old = std::mem::take(&mut row.customer_id);
        storage::reject_pair(&txn, tenant.as_str(), &row.id, &old).await.map_err(ApiError::internal)?;
        row.status = LinkStatus::Unknown.as_str().to_owned();
        row.link_method = LinkMethod::None.as_str().to_owned();
        row.link_evidence = String::new();
        row.linked_at = None;
        let mut event = audit(tenant, caller, &row.id, &old, "unlinked");
        event.method = LinkMethod::Person.as_str().to_owned();
        event.evidence = format!("unlinked by {}; the pair will not be linked again automatically", caller.actor);
        event.reason = reason;
        storage::save_link(&txn, &row, event).await.map_err(ApiError::internal)?;
        txn.commit().await.map_err(ApiError::internal)?;
        tracing::info!(profile_id = %row.id, actor = %caller.actor, "profile unlinked by a person");
        Ok(profile_to_proto(row))
    }

    /// A person confirms (links) or rejects (never proposes again) a review candidate.
    pub(crate) async fn decide_candidate(
        &self,
        caller: &Caller,
        candidate_id: &str,
        reason: String,
        confirm: bool,
    ) -> Result<v1::Profile, ApiError> {
        let tenant = &caller.tenant;
        let id = parse_id("candidate_id", candidate_id)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let db = |error| ApiError::internal(error);
        let mut candidate = storage::find_candidate(&txn, tenant.as_str(), &id)
            .await
            .map_err(db)?
            .ok_or_else(|| ApiError::not_found("review candidate", &id))?;
        if candidate.status != "pending" {
            return Err(ApiError::FailedPrecondition(format!("candidate {id} was already {}", candidate.status)));
        }
        candidate.status = if confirm { "confirmed" } else { "rejected" }.to_owned();
        candidate.decided_at = Some(ids::now());
        storage::save_candidate(&txn, candidate.clone(), false).await.map_err(db)?;
        txn.commit().await.map_err(ApiError::internal)?;
        if confirm {
            let link =
                v1::LinkProfileRequest { profile_id: candidate.profile_id, customer_id: candidate.customer_id, reason };
            return self.link_by_person(caller, link).await;
        }
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        storage::reject_pair(&txn, tenant.as_str(), &candidate.profile_id, &candidate.customer_id).await.map_err(db)?;
        let mut row = profile(&txn, tenant, &candidate.profile_id).await?;
        if LinkStatus::parse(&row.status) == LinkStatus::Candidate && row.customer_id == candidate.customer_id {
            row.customer_id = String::new();
            row.status = LinkStatus::Unknown.as_str().to_owned();
        }
        let mut event = audit(tenant, caller, &row.id, &candidate.customer_id, "rejected");
        event.method = LinkMethod::Person.as_str().to_owned();
        event.evidence =
            format!("candidate p={:.4} rejected by {}; never proposed again", candidate.probability, caller.actor);
        event.reason = self::reason(&reason)?;
        storage::save_link(&txn, &row, event).await.map_err(db)?;
        txn.commit().await.map_err(ApiError::internal)?;
        Ok(profile_to_proto(row))
    }

    /// Merges one customer into another.
    pub(crate) async fn merge(
        &self,
        caller: &Caller,
        request: v1::MergeCustomersRequest,
    ) -> Result<(merge::Model, customer::Model, u32), ApiError> {
        let tenant = &caller.tenant;
        let reason = reason(&request.reason)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let survivor = live_customer(&txn, tenant, "survivor_id", &request.survivor_id).await?;
        let merged = live_customer(&txn, tenant, "merged_id", &request.merged_id).await?;
        if survivor.id == merged.id {
            return Err(ApiError::invalid("merged_id", "must differ from survivor_id"));
        }
        let db = |error| ApiError::internal(error);
        let had = storage::identifiers_of(&txn, tenant.as_str(), &survivor.id).await.map_err(db)?;
        let merged_identifiers = storage::identifiers_of(&txn, tenant.as_str(), &merged.id).await.map_err(db)?;
        let added: Vec<_> = merged_identifiers.iter().filter(|identifier| !had.contains(identifier)).cloned().collect();
        storage::remove_identifiers(&txn, tenant.as_str(), &merged.id, None).await.map_err(db)?;
        storage::add_identifiers(&txn, tenant.as_str(), &survivor.id, &added).await.map_err(db)?;

        let profiles = storage::profiles_of(&txn, tenant.as_str(), &merged.id).await.map_err(db)?;
        for mut row in profiles.clone() {
            row.customer_id = survivor.id.clone();
            row.link_evidence =
                format!("{} (moved by the merge of customer {} into {})", row.link_evidence, merged.id, survivor.id);
            let mut event = audit(tenant, caller, &row.id, &survivor.id, "linked");
            event.method = row.link_method.clone();
            event.evidence = row.link_evidence.clone();
            storage::save_link(&txn, &row, event).await.map_err(db)?;
        }
        storage::set_merged_into(&txn, tenant.as_str(), &merged.id, Some(&survivor.id)).await.map_err(db)?;
        let moved = Moved { merged: merged_identifiers, added };
        let record = merge::Model {
            id: ids::new_id(),
            tenant: tenant.as_str().to_owned(),
            survivor_id: survivor.id.clone(),
            merged_id: merged.id.clone(),
            moved_identifiers: serde_json::to_string(&moved).map_err(ApiError::internal)?,
            moved_profiles: serde_json::to_string(&profiles.iter().map(|row| &row.id).collect::<Vec<_>>())
                .map_err(ApiError::internal)?,
            actor: caller.actor.clone(),
            reason: reason.clone(),
            at: ids::now(),
            undone_at: None,
        };
        storage::save_merge(&txn, record.clone(), true).await.map_err(db)?;
        let mut event = audit(tenant, caller, "", &merged.id, "merged");
        event.evidence = format!("merged into customer {} (merge {})", survivor.id, record.id);
        event.reason = reason;
        storage::record(&txn, event).await.map_err(db)?;
        txn.commit().await.map_err(ApiError::internal)?;
        tracing::info!(merge_id = %record.id, survivor_id = %survivor.id, merged_id = %merged.id, "customers merged");
        let moved_profiles = u32::try_from(profiles.len()).unwrap_or(u32::MAX);
        Ok((record, survivor, moved_profiles))
    }

    /// Undoes a merge.
    pub(crate) async fn undo_merge(
        &self,
        caller: &Caller,
        request: v1::UndoMergeRequest,
    ) -> Result<customer::Model, ApiError> {
        let tenant = &caller.tenant;
        let reason = reason(&request.reason)?;
        let id = parse_id("merge_id", &request.merge_id)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let db = |error| ApiError::internal(error);
        let mut record = storage::find_merge(&txn, tenant.as_str(), &id)
            .await
            .map_err(db)?
            .ok_or_else(|| ApiError::not_found("merge", &id))?;
        if record.undone_at.is_some() {
            return Err(ApiError::FailedPrecondition(format!("merge {id} was already undone")));
        }
        let moved: Moved = serde_json::from_str(&record.moved_identifiers).map_err(ApiError::internal)?;
        let profiles: Vec<String> = serde_json::from_str(&record.moved_profiles).map_err(ApiError::internal)?;
        storage::remove_identifiers(&txn, tenant.as_str(), &record.survivor_id, Some(&moved.added))
            .await
            .map_err(db)?;
        storage::add_identifiers(&txn, tenant.as_str(), &record.merged_id, &moved.merged).await.map_err(db)?;
        for profile_id in &profiles {
            // Only profiles still on the survivor go back: a person may have re-linked one since.
            let Some(mut row) = storage::find(&txn, tenant.as_str(), profile_id).await.map_err(db)? else { continue };
            if row.customer_id != record.survivor_id {
                continue;
            }
            row.customer_id = record.merged_id.clone();
            let mut event = audit(tenant, caller, &row.id, &record.merged_id, "linked");
            event.method = row.link_method.clone();
            event.evidence = format!("moved back by undoing merge {}", record.id);
            storage::save_link(&txn, &row, event).await.map_err(db)?;
        }
        storage::set_merged_into(&txn, tenant.as_str(), &record.merged_id, None).await.map_err(db)?;
        record.undone_at = Some(ids::now());
        storage::save_merge(&txn, record.clone(), false).await.map_err(db)?;
        let mut event = audit(tenant, caller, "", &record.merged_id, "merge_undone");
        event.evidence = format!("merge {} into customer {} undone", record.id, record.survivor_id);
        event.reason = reason;
        storage::record(&txn, event).await.map_err(db)?;
        let restored = storage::find_customer(&txn, tenant.as_str(), &record.merged_id)
            .await
            .map_err(db)?
            .ok_or_else(|| ApiError::not_found("customer", &record.merged_id))?;
        txn.commit().await.map_err(ApiError::internal)?;
        tracing::info!(merge_id = %record.id, "merge undone");
        Ok(restored)
    }

    /// Forgets a customer (and any customer merged into it), and tells every service.
    pub(crate) async fn forget(&self, caller: &Caller, request: v1::ForgetCustomerRequest) -> Result<u32, ApiError> {
        let tenant = &caller.tenant;
        let reason = reason(&request.reason)?;
        let id = parse_id("customer_id", &request.customer_id)?;
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let db = |error| ApiError::internal(error);
        let customer = storage::find_customer(&txn, tenant.as_str(), &id)
            .await
            .map_err(db)?
            .ok_or_else(|| ApiError::not_found("customer", &id))?;
        let mut erased_profiles = 0_u32;
        let merged = storage::merged_into(&txn, tenant.as_str(), &customer.id).await.map_err(db)?;
        for target in merged.iter().chain(std::iter::once(&customer)) {
            let profiles = storage::profiles_of(&txn, tenant.as_str(), &target.id).await.map_err(db)?;
            let profile_ids: Vec<String> = profiles.iter().map(|row| row.id.clone()).collect();
            storage::erase(&txn, tenant.as_str(), &target.id, &profile_ids).await.map_err(db)?;
            let erased = v1::CustomerErased {
                customer_id: target.id.clone(),
                profiles: profiles
                    .iter()
                    .map(|row| v1::ErasedProfile {
                        profile_id: row.id.clone(),
                        channel: row.channel,
                        external_id: row.external_id.clone(),
                    })
                    .collect(),
                reason: reason.clone().unwrap_or_default(),
            };
            outbox::enqueue(&txn, streams::CUSTOMERS_ERASED, &envelope(SERVICE, tenant, &erased))
                .await
                .map_err(ApiError::internal)?;
            let mut event = audit(tenant, caller, "", &target.id, "erased");
            event.evidence = format!("{} profile(s) erased", profiles.len());
            event.reason = reason.clone();
            storage::record(&txn, event).await.map_err(db)?;
            erased_profiles += u32::try_from(profiles.len()).unwrap_or(u32::MAX);
        }
        // The trained model's name-frequency tables may hold the customer's names: drop it (the
        // thresholds stay); automatic matching resumes after the next TrainMatcher.
        storage::clear_model(&txn, tenant.as_str()).await.map_err(db)?;
        txn.commit().await.map_err(ApiError::internal)?;
        self.matchers.invalidate(tenant.as_str());
        self.relay.wake();
        tracing::info!(customer_id = %customer.id, erased_profiles, actor = %caller.actor, "customer forgotten");
        Ok(erased_profiles)
    }
}
