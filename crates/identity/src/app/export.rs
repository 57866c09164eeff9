//! Subject access (GDPR article 15): what identity holds about a customer, and whom the other
//! services must look for. The API asks them (`ExportSubjectData`) and assembles the document.

use chrono::{DateTime, SecondsFormat, Utc};
use tend_client::export::record;
use tend_kernel::TenantId;
use tend_kernel::auth::Caller;
use tend_kernel::proto_json::{Value, json};
use tend_proto::v1;

use super::{App, Error, audit, parse_id};
use crate::contract::{candidate_to_proto, customer_to_proto, link_event_to_proto, profile_to_proto};
use crate::domain::LinkStatus;
use crate::storage;

/// Identity's part of an export, and the subject to ask the other services about.
#[derive(Debug)]
pub struct Holdings {
    /// Identity's records, as JSON.
    pub identity: Value,
    /// The customer and their linked profiles, for `ExportSubjectData`.
    pub subject: v1::ExportSubjectDataRequest,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl App {
    /// Everything identity holds about customer `customer_id` of `tenant` and the customers
    /// merged into it: the customers with their identifiers, their profiles (linked or waiting
    /// for review as theirs), the audit log, merges, review candidates and rejected pairs.
    /// NOT_FOUND for a customer the tenant does not have (an erased one included).
    ///
    /// Only *linked* profiles are the customer's: a profile merely proposed as theirs may be
    /// someone else, so the other services are asked about linked profiles only.
    pub async fn holdings(&self, tenant: &TenantId, customer_id: &str) -> Result<Holdings, Error> {
        let id = parse_id("customer_id", customer_id)?;
        let tenant_id = tenant.as_str();
        let customer = storage::customers::find(&self.db, tenant_id, &id)
            .await?
            .ok_or_else(|| Error::not_found("customer", &id))?;
        let mut customers = vec![customer];
        customers.extend(storage::customers::merged_into(&self.db, tenant_id, &id).await?);
        let customer_ids: Vec<String> = customers.iter().map(|row| row.id.clone()).collect();
        let mut profiles = Vec::new();
        for customer_id in &customer_ids {
            profiles.extend(storage::profiles::of_customer(&self.db, tenant_id, customer_id).await?);
        }
        let profile_ids: Vec<String> = profiles.iter().map(|row| row.id.clone()).collect();
        let rows = storage::export::rows_of(&self.db, tenant_id, &customer_ids, &profile_ids).await?;

        let linked: Vec<_> =
            profiles.iter().filter(|row| LinkStatus::parse(&row.status) == LinkStatus::Linked).collect();
        let subject = v1::ExportSubjectDataRequest {
            customer_id: id.clone(),
            profile_ids: linked.iter().map(|row| row.id.clone()).collect(),
            handles: linked
                .iter()
                .map(|row| v1::SubjectHandle { channel: row.channel, external_id: row.external_id.clone() })
                .collect(),
        };

        let mut customer_records = Vec::with_capacity(customers.len());
        for customer in customers {
            let identifiers: Vec<Value> = rows
                .identifiers
                .iter()
                .filter(|identifier| identifier.customer_id == customer.id)
                .map(|identifier| json!({ "kind": identifier.kind, "value": identifier.value }))
                .collect();
            let (crm_id, merged_into) = (customer.crm_id.clone(), customer.merged_into.clone());
            customer_records.push(json!({
                "crm_id": crm_id,
                "merged_into": merged_into,
                "customer": record("Customer", &customer_to_proto(customer)?),
                "identifiers": identifiers,
            }));
        }
        let profile_records: Vec<Value> = profiles
            .into_iter()
            .map(|profile| {
                let email = profile.email.clone();
                json!({ "email": email, "profile": record("Profile", &profile_to_proto(profile)) })
            })
            .collect();
        let link_events: Vec<Value> =
            rows.link_events.into_iter().map(|row| record("LinkEvent", &link_event_to_proto(row))).collect();
        let merges: Vec<Value> = rows
            .merges
            .into_iter()
            .map(|row| {
                let parsed = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::from(text));
                json!({
                    "id": row.id,
                    "survivor_id": row.survivor_id,
                    "merged_id": row.merged_id,
                    "moved_identifiers": parsed(&row.moved_identifiers),
                    "moved_profiles": parsed(&row.moved_profiles),
                    "actor": row.actor,
                    "reason": row.reason,
                    "at": time(row.at),
                    "undone_at": row.undone_at.map(time),
                })
            })
            .collect();
        let candidates: Vec<Value> = rows
            .candidates
            .into_iter()
            .map(|row| {
                let (status, decided_at) = (row.status.clone(), row.decided_at.map(time));
                json!({
                    "status": status,
                    "decided_at": decided_at,
                    "candidate": record("ReviewCandidate", &candidate_to_proto(row)),
                })
            })
            .collect();
        let rejected: Vec<Value> = rows
            .rejected_pairs
            .into_iter()
            .map(|row| json!({ "profile_id": row.profile_id, "customer_id": row.customer_id, "at": time(row.at) }))
            .collect();
        let identity = json!({
            "customers": customer_records,
            "profiles": profile_records,
            "link_events": link_events,
            "merges": merges,
            "review_candidates": candidates,
            "rejected_pairs": rejected,
        });
        Ok(Holdings { identity, subject })
    }

    /// Records in the customer's audit log that `caller` exported their data, `bytes` long:
    /// who looked at everything held about a person, and when, is itself kept.
    pub async fn record_export(&self, caller: &Caller, customer_id: &str, bytes: usize) -> Result<(), Error> {
        let mut event = audit(&caller.tenant, caller, "", customer_id, "exported");
        event.evidence = format!("subject access export, {bytes} bytes");
        storage::audit::record(&self.db, event).await?;
        Ok(())
    }
}
