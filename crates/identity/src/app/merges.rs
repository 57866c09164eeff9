//! Merging two customers the CRM holds twice, and undoing it exactly.

use serde::{Deserialize, Serialize};
use tend_kernel::auth::Caller;

use super::{App, Error, audit, commit, live_customer, parse_id, reason};
use crate::domain::Invalid;
use crate::storage::{self, customer, merge};

/// What a merge moved, so that undo can move it back (stored as JSON in the merge record).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Moved {
    /// All identifiers the merged customer had.
    merged: Vec<(String, String)>,
    /// Those the survivor did not have and received.
    added: Vec<(String, String)>,
}

/// A merge done by [`App::merge`].
#[derive(Debug, Clone)]
pub struct Merged {
    /// Its record (its id undoes it).
    pub merge: merge::Model,
    /// The customer that remains.
    pub survivor: customer::Model,
    /// How many profiles moved to the survivor.
    pub profiles_moved: u32,
}

fn unreadable(what: &str, error: serde_json::Error) -> Error {
    Error::Unexpected(format!("{what}: {error}"))
}

impl App {
    /// Merges customer `merged_id` into `survivor_id`: the survivor receives its identifiers and
    /// profiles, and the merged one is hidden from lists.
    pub async fn merge(&self, caller: &Caller, survivor_id: &str, merged_id: &str, why: &str) -> Result<Merged, Error> {
        let tenant = &caller.tenant;
        let why = reason(why)?;
        let txn = self.begin().await?;
        let survivor = live_customer(&txn, tenant, "survivor_id", survivor_id).await?;
        let merged = live_customer(&txn, tenant, "merged_id", merged_id).await?;
        if survivor.id == merged.id {
            return Err(Invalid::new("merged_id", "must differ from survivor_id").into());
        }
        let had = storage::customers::identifiers_of(&txn, tenant.as_str(), &survivor.id).await?;
        let merged_identifiers = storage::customers::identifiers_of(&txn, tenant.as_str(), &merged.id).await?;
        let added: Vec<_> = merged_identifiers.iter().filter(|identifier| !had.contains(identifier)).cloned().collect();
        storage::customers::remove_identifiers(&txn, tenant.as_str(), &merged.id, None).await?;
        storage::customers::add_identifiers(&txn, tenant.as_str(), &survivor.id, &added).await?;

        let profiles = storage::profiles::of_customer(&txn, tenant.as_str(), &merged.id).await?;
        for mut row in profiles.clone() {
            row.customer_id = survivor.id.clone();
            row.link_evidence =
                format!("{} (moved by the merge of customer {} into {})", row.link_evidence, merged.id, survivor.id);
            let mut event = audit(tenant, caller, &row.id, &survivor.id, "linked");
            event.method = row.link_method.clone();
            event.evidence = row.link_evidence.clone();
            storage::profiles::save_link(&txn, &row, event).await?;
        }
        storage::customers::set_merged_into(&txn, tenant.as_str(), &merged.id, Some(&survivor.id)).await?;
        let moved = Moved { merged: merged_identifiers, added };
        let profile_ids: Vec<&String> = profiles.iter().map(|row| &row.id).collect();
        let record = merge::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.as_str().to_owned(),
            survivor_id: survivor.id.clone(),
            merged_id: merged.id.clone(),
            moved_identifiers: serde_json::to_string(&moved).map_err(|error| unreadable("moved identifiers", error))?,
            moved_profiles: serde_json::to_string(&profile_ids).map_err(|error| unreadable("moved profiles", error))?,
            actor: caller.actor.clone(),
            reason: why.clone(),
            at: tend_kernel::ids::now(),
            undone_at: None,
        };
        storage::merges::save_merge(&txn, record.clone(), true).await?;
        let mut event = audit(tenant, caller, "", &merged.id, "merged");
        event.evidence = format!("merged into customer {} (merge {})", survivor.id, record.id);
        event.reason = why;
        storage::audit::record(&txn, event).await?;
        commit(txn).await?;
        tracing::info!(merge_id = %record.id, survivor_id = %survivor.id, merged_id = %merged.id, "customers merged");
        let profiles_moved = u32::try_from(profiles.len()).unwrap_or(u32::MAX);
        Ok(Merged { merge: record, survivor, profiles_moved })
    }

    /// Undoes a merge: the merged customer gets back its identifiers and the profiles that are
    /// still on the survivor, and is listed again. Returns it.
    pub async fn undo_merge(&self, caller: &Caller, merge_id: &str, why: &str) -> Result<customer::Model, Error> {
        let tenant = &caller.tenant;
        let why = reason(why)?;
        let id = parse_id("merge_id", merge_id)?;
        let txn = self.begin().await?;
        let mut record =
            storage::merges::find(&txn, tenant.as_str(), &id).await?.ok_or_else(|| Error::not_found("merge", &id))?;
        if record.undone_at.is_some() {
            return Err(Error::FailedPrecondition(format!("merge {id} was already undone")));
        }
        let moved: Moved =
            serde_json::from_str(&record.moved_identifiers).map_err(|error| unreadable("moved identifiers", error))?;
        let profiles: Vec<String> =
            serde_json::from_str(&record.moved_profiles).map_err(|error| unreadable("moved profiles", error))?;
        storage::customers::remove_identifiers(&txn, tenant.as_str(), &record.survivor_id, Some(&moved.added)).await?;
        storage::customers::add_identifiers(&txn, tenant.as_str(), &record.merged_id, &moved.merged).await?;
        for profile_id in &profiles {
            // Only profiles still on the survivor go back: a person may have re-linked one since.
            let Some(mut row) = storage::profiles::find(&txn, tenant.as_str(), profile_id).await? else { continue };
            if row.customer_id != record.survivor_id {
                continue;
            }
            row.customer_id = record.merged_id.clone();
            let mut event = audit(tenant, caller, &row.id, &record.merged_id, "linked");
            event.method = row.link_method.clone();
            event.evidence = format!("moved back by undoing merge {}", record.id);
            storage::profiles::save_link(&txn, &row, event).await?;
        }
        storage::customers::set_merged_into(&txn, tenant.as_str(), &record.merged_id, None).await?;
        record.undone_at = Some(tend_kernel::ids::now());
        storage::merges::save_merge(&txn, record.clone(), false).await?;
        let mut event = audit(tenant, caller, "", &record.merged_id, "merge_undone");
        event.evidence = format!("merge {} into customer {} undone", record.id, record.survivor_id);
        event.reason = why;
        storage::audit::record(&txn, event).await?;
        let restored = storage::customers::find(&txn, tenant.as_str(), &record.merged_id)
            .await?
            .ok_or_else(|| Error::not_found("customer", &record.merged_id))?;
        commit(txn).await?;
        tracing::info!(merge_id = %record.id, "merge undone");
        Ok(restored)
    }
}
