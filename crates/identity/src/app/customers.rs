//! Customers from the CRM (upsert one, import many), and what people read: customers, profiles,
//! the audit log, the review queue.

use prost::Message as _;
use tend_kernel::TenantId;
use tend_kernel::paging::Page;
use tend_proto::v1;

use super::{App, Error, commit, parse_id};
use crate::customers;
use crate::storage::audit::Subject;
use crate::storage::{self, candidate, customer, link_event, profile};

/// A customer saved by [`App::upsert_customer`].
#[derive(Debug, Clone)]
pub struct Upserted {
    /// The customer as stored.
    pub customer: customer::Model,
    /// Whether the CRM id was new to the tenant.
    pub created: bool,
}

/// Most rejections an import describes (it counts them all).
const MAX_IMPORT_ERRORS: usize = 100;

/// Records an import must have written for its tables' planner statistics to be refreshed at
/// its end.
const ANALYZE_AFTER_RECORDS: u64 = 1_000;

/// How an import is going: [`App::import_customer`] counts each record in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Import {
    /// Records that created a customer.
    pub created: u64,
    /// Records that updated one (or repeated it unchanged).
    pub updated: u64,
    /// Records refused as invalid.
    pub rejected: u64,
    /// Why, for the first rejections: the record's number, its CRM id and the field to fix.
    pub errors: Vec<String>,
    /// Records seen.
    records: u64,
}

impl App {
    /// Creates or updates a customer from the CRM, keyed by its CRM id; see `UpsertCustomer` in
    /// identity.proto. The same input again changes nothing.
    pub async fn upsert_customer(&self, tenant: &TenantId, input: v1::CustomerInput) -> Result<Upserted, Error> {
        let checked = customers::check(&input)?;
        let crm_id = input.crm_id.trim().to_owned();
        let original = input.encode_to_vec();
        // A concurrent first upsert of the same CRM id may win the insert; then update theirs.
        for _ in 0..2 {
            let txn = self.begin().await?;
            let existing = storage::customers::find_by_crm_id(&txn, tenant.as_str(), &crm_id).await?;
            if let Some(row) = existing.as_ref().filter(|row| row.original == original) {
                return Ok(Upserted { customer: row.clone(), created: false });
            }
            let now = tend_kernel::ids::now();
            let is_new = existing.is_none();
            let row = customer::Model {
                id: existing.as_ref().map(|row| row.id.clone()).unwrap_or_else(tend_kernel::ids::new_id),
                tenant: tenant.as_str().to_owned(),
                crm_id: crm_id.clone(),
                given_name: checked.normalized.given_name.clone(),
                family_name: checked.normalized.family_name.clone(),
                postcode: checked.normalized.postcode.clone(),
                date_of_birth: checked.date_of_birth.clone(),
                segment: input.segment.trim().to_owned(),
                tier: input.tier.trim().to_owned(),
                lifetime_value: input.lifetime_value,
                original: original.clone(),
                merged_into: existing.as_ref().and_then(|row| row.merged_into.clone()),
                created_at: existing.as_ref().map(|row| row.created_at).unwrap_or(now),
                updated_at: now,
            };
            match storage::customers::save_customer(&txn, row.clone(), &checked.identifiers(), is_new).await {
                Ok(()) => {
                    commit(txn).await?;
                    // Ids only: the CRM id is the customer's, and logs are not erased.
                    tracing::debug!(customer_id = %row.id, created = is_new, "customer saved");
                    return Ok(Upserted { customer: row, created: is_new });
                }
                Err(error) if is_new && error.is_unique_violation() => {
                    tracing::debug!("customer insert lost a race; updating");
                }
                Err(error) => return Err(error.into()),
            }
        }
        // Not the CRM id: an UNAVAILABLE answer is logged with its message, and the id may be
        // an email.
        Err(Error::Contended("the customer is being changed concurrently; retry".to_owned()))
    }

    /// Upserts the next record of an import, counting it in `import`. An invalid record is
    /// counted and described, not an error: the import goes on. Any other failure is, and stops
    /// the import; sending it all again is safe (upserts are idempotent).
    pub async fn import_customer(
        &self,
        tenant: &TenantId,
        import: &mut Import,
        input: v1::CustomerInput,
    ) -> Result<(), Error> {
        import.records += 1;
        let crm_id = input.crm_id.clone();
        match self.upsert_customer(tenant, input).await {
            Ok(saved) if saved.created => import.created += 1,
            Ok(_) => import.updated += 1,
            Err(error @ Error::InvalidArgument { .. }) => {
                import.rejected += 1;
                if import.errors.len() < MAX_IMPORT_ERRORS {
                    import.errors.push(format!(
                        "record {} (crm_id {}): {error}",
                        import.records,
                        tend_kernel::validate::quote(crm_id.trim())
                    ));
                }
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Ends an import: after a large one on PostgreSQL, refreshes the planner's statistics of
    /// the customer tables. Linking looks identifiers up in batches, and a plan made from
    /// statistics of the tables before the import (autovacuum's analyze comes a minute or more
    /// later, never when it is off) read every identifier of the tenant per batch instead of
    /// seeking them (5 ms against 0.8 ms a batch at 24,000 identifiers, growing with the CRM).
    pub async fn finish_import(&self, import: &Import) -> Result<(), Error> {
        if import.created + import.updated < ANALYZE_AFTER_RECORDS || !storage::is_postgres(&self.db) {
            return Ok(());
        }
        use sea_orm::ConnectionTrait as _;
        use tend_store::DbContext as _;
        self.db
            .execute_unprepared("ANALYZE customers, customer_identifiers")
            .await
            .context("refreshing the statistics of the customer tables")?;
        Ok(())
    }

    /// One customer of the tenant (a merged one too: its id still answers).
    pub async fn customer(&self, tenant: &TenantId, id: &str) -> Result<customer::Model, Error> {
        let id = parse_id("id", id)?;
        storage::customers::find(&self.db, tenant.as_str(), &id).await?.ok_or_else(|| Error::not_found("customer", &id))
    }

    /// A page of the tenant's live customers, newest first.
    pub async fn customers(&self, tenant: &TenantId, page: &Page) -> Result<Vec<customer::Model>, Error> {
        Ok(storage::customers::list(&self.db, tenant.as_str(), page).await?)
    }

    /// One profile of the tenant.
    pub async fn profile(&self, tenant: &TenantId, id: &str) -> Result<profile::Model, Error> {
        let id = parse_id("id", id)?;
        storage::profiles::find(&self.db, tenant.as_str(), &id).await?.ok_or_else(|| Error::not_found("profile", &id))
    }

    /// A page of the tenant's profiles, newest first.
    pub async fn profiles(&self, tenant: &TenantId, page: &Page) -> Result<Vec<profile::Model>, Error> {
        Ok(storage::profiles::list(&self.db, tenant.as_str(), page).await?)
    }

    /// A page of the audit log of a profile or a customer (exactly one of the two ids given),
    /// newest first.
    pub async fn link_events(
        &self,
        tenant: &TenantId,
        profile_id: &str,
        customer_id: &str,
        page: &Page,
    ) -> Result<Vec<link_event::Model>, Error> {
        let subject = match (profile_id.is_empty(), customer_id.is_empty()) {
            (false, true) => Subject::Profile(parse_id("profile_id", profile_id)?),
            (true, false) => Subject::Customer(parse_id("customer_id", customer_id)?),
            _ => {
                return Err(Error::InvalidArgument {
                    field: "profile_id".to_owned(),
                    problem: "give exactly one of profile_id and customer_id".to_owned(),
                });
            }
        };
        Ok(storage::audit::page(&self.db, tenant.as_str(), &subject, page).await?)
    }

    /// A page of the tenant's candidates waiting for a person, newest first.
    pub async fn review_queue(&self, tenant: &TenantId, page: &Page) -> Result<Vec<candidate::Model>, Error> {
        Ok(storage::review::pending(&self.db, tenant.as_str(), page).await?)
    }
}
