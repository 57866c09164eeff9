//! Forgetting a customer (the right to erasure): identity erases its own copies through
//! [`storage::erasure`], which knows every table that holds personal data, and announces
//! `customers.erased` so that every other service erases theirs.

use tend_kernel::auth::Caller;
use tend_proto::v1;
use tend_store::erasure::ErasedSubjects;
use tend_store::events::{envelope, streams};
use tend_store::outbox;

use super::{App, Error, audit, commit, parse_id, reason};
use crate::SERVICE;
use crate::storage;

impl App {
    /// Forgets a customer and every customer merged into it, with their profiles, in one
    /// transaction with the `customers.erased` event of each. Returns how many profiles were
    /// erased.
    pub async fn forget(&self, caller: &Caller, customer_id: &str, why: &str) -> Result<u32, Error> {
        let tenant = &caller.tenant;
        let why = reason(why)?;
        let id = parse_id("customer_id", customer_id)?;
        let txn = self.begin().await?;
        let customer = storage::customers::find(&txn, tenant.as_str(), &id)
            .await?
            .ok_or_else(|| Error::not_found("customer", &id))?;
        let mut targets = storage::customers::merged_into(&txn, tenant.as_str(), &customer.id).await?;
        targets.push(customer);

        let mut customer_ids = Vec::with_capacity(targets.len());
        let mut profile_ids = Vec::new();
        let mut announcements = Vec::with_capacity(targets.len());
        for target in &targets {
            let profiles = storage::profiles::of_customer(&txn, tenant.as_str(), &target.id).await?;
            customer_ids.push(target.id.clone());
            profile_ids.extend(profiles.iter().map(|row| row.id.clone()));
            // What other services need to find their copies: ids and channel ids only.
            announcements.push(v1::CustomerErased {
                customer_id: target.id.clone(),
                profiles: profiles
                    .iter()
                    .map(|row| v1::ErasedProfile {
                        profile_id: row.id.clone(),
                        channel: row.channel,
                        external_id: row.external_id.clone(),
                    })
                    .collect(),
                reason: why.clone().unwrap_or_default(),
            });
        }
        storage::erasure::erase(&txn, tenant.as_str(), &customer_ids, &profile_ids).await?;

        let mut events = Vec::with_capacity(announcements.len() + 1);
        // For the stream janitor: every entry that carries one of these ids goes from the
        // streams once every consumer has handled it (tend_store::erasure).
        let subjects = ErasedSubjects { ids: customer_ids.iter().chain(&profile_ids).cloned().collect() };
        events.push((streams::ERASURES, envelope(SERVICE, tenant, &subjects)));
        let mut trail = Vec::with_capacity(announcements.len());
        for erased in &announcements {
            events.push((streams::CUSTOMERS_ERASED, envelope(SERVICE, tenant, erased)));
            // Recorded after the erasure blanked the trail: who erased whom, when, and why.
            let mut event = audit(tenant, caller, "", &erased.customer_id, "erased");
            event.evidence = format!("{} profile(s) erased", erased.profiles.len());
            event.reason = why.clone();
            trail.push(event);
        }
        outbox::enqueue_many(&txn, &events).await?;
        storage::audit::record_all(&txn, trail).await?;
        commit(txn).await?;
        self.relay.wake();
        // Committed: a failure here leaves the bytes to the next checkpoint or vacuum.
        if let Err(error) = tend_store::erasure::after_erasure(&self.db).await {
            tracing::warn!(%error, "letting go of erased data failed");
        }
        // The trained model went with the erasure; automatic matching resumes after the next
        // TrainMatcher.
        self.matchers.invalidate(tenant.as_str());
        let erased_profiles = u32::try_from(profile_ids.len()).unwrap_or(u32::MAX);
        tracing::info!(customer_id = %id, customers = customer_ids.len(), erased_profiles, actor = %caller.actor, "customer forgotten");
        Ok(erased_profiles)
    }
}
