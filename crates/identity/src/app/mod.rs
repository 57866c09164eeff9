//! Identity's application layer: its workflows as plain Rust, one module each, called by the gRPC
//! adapter ([`crate::api`]) and the event consumer ([`crate::consumer`]) alike.
//!
//! | module | workflows |
//! |---|---|
//! | [`customers`] | upsert and import customers from the CRM; read customers, profiles, the audit log and the review queue |
//! | [`decisions`] | a person links, unlinks, confirms or rejects a candidate |
//! | [`merges`] | merge two customers, undo a merge |
//! | [`erasure`] | forget a customer |
//! | [`matching`] | train the matcher, set its thresholds, explain a pair |
//! | [`identify`] | automatic linking of a batch of authors (the consumer's) |
//! | [`notice`] | notice opt-outs; an incident's proactive notice going through the customers |
//!
//! Each workflow that changes something runs in one transaction with its audit entries and the
//! events it publishes. Failures are an [`Error`], which the adapters translate (the API into a
//! gRPC status, in one place; the consumer into a retry).

pub mod customers;
pub mod decisions;
pub mod erasure;
pub mod export;
pub mod identify;
pub mod matching;
pub mod merges;
pub mod notice;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tend_kernel::TenantId;
use tend_kernel::auth::Caller;
use tend_store::{DbContext as _, OutboxWaker};

use crate::domain::Invalid;
use crate::matcher::Matchers;
use crate::storage::{self, customer, link_event, profile};

/// Why a workflow did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument is missing or malformed.
    #[error("invalid `{field}`: {problem}")]
    InvalidArgument {
        /// The argument, as the contract names it (dotted for nested fields).
        field: String,
        /// What is wrong and what to send instead.
        problem: String,
    },
    /// The thing asked for does not exist for the tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of thing ("customer", "profile").
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request is valid but the thing is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another request is changing the same thing right now; the same request may succeed if
    /// sent again.
    #[error("{0}")]
    Contended(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] tend_store::Error),
    /// Something that cannot happen did: stored data that does not read, a task that died.
    #[error("{0}")]
    Unexpected(String),
}

impl Error {
    /// An [`Error::NotFound`].
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { kind, id: id.into() }
    }
}

impl From<Invalid> for Error {
    fn from(invalid: Invalid) -> Self {
        Self::InvalidArgument { field: invalid.field, problem: invalid.problem }
    }
}

/// Identity's workflows over its database. Cheap to share: the API and the consumer hold one
/// each, behind an `Arc`.
pub struct App {
    db: DatabaseConnection,
    relay: OutboxWaker,
    matchers: Arc<Matchers>,
}

impl App {
    /// Workflows over `db`, waking `relay` after committing events, scoring with `matchers`.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, matchers: Arc<Matchers>) -> Self {
        Self { db, relay, matchers }
    }

    /// Begins a workflow's transaction.
    async fn begin(&self) -> Result<DatabaseTransaction, Error> {
        Ok(self.db.begin().await.context("starting a transaction")?)
    }
}

/// Commits a workflow's transaction.
async fn commit(txn: DatabaseTransaction) -> Result<(), Error> {
    Ok(txn.commit().await.context("committing")?)
}

/// Longest reason accepted, in bytes.
const MAX_REASON: usize = 1024;

/// The reason a person gave, trimmed (`None` when blank), or why it is refused.
fn reason(value: &str) -> Result<Option<String>, Error> {
    if value.len() > MAX_REASON {
        return Err(Invalid::new("reason", format!("must be at most {MAX_REASON} bytes")).into());
    }
    Ok(Some(value.trim().to_owned()).filter(|reason| !reason.is_empty()))
}

/// Checks that `value` is a Tend id; `field` names it in the error.
fn parse_id(field: &str, value: &str) -> Result<String, Error> {
    tend_kernel::ids::parse_id(field, value).map_err(|error| match error {
        tend_kernel::ApiError::InvalidArgument { field, problem } => Error::InvalidArgument { field, problem },
        other => Error::Unexpected(other.to_string()),
    })
}

/// An audit event of `caller`'s, about `profile_id` and `customer_id`.
fn audit(tenant: &TenantId, caller: &Caller, profile_id: &str, customer_id: &str, action: &str) -> link_event::Model {
    link_event::Model {
        id: tend_kernel::ids::new_id(),
        tenant: tenant.as_str().to_owned(),
        profile_id: profile_id.to_owned(),
        customer_id: customer_id.to_owned(),
        action: action.to_owned(),
        method: String::new(),
        evidence: String::new(),
        actor: caller.actor.clone(),
        reason: None,
        at: tend_kernel::ids::now(),
    }
}

/// The customer `id` (argument `field`), which must not have been merged into another.
async fn live_customer(
    txn: &DatabaseTransaction,
    tenant: &TenantId,
    field: &str,
    id: &str,
) -> Result<customer::Model, Error> {
    let id = parse_id(field, id)?;
    let row =
        storage::customers::find(txn, tenant.as_str(), &id).await?.ok_or_else(|| Error::not_found("customer", &id))?;
    if let Some(into) = &row.merged_into {
        return Err(Error::FailedPrecondition(format!("customer {id} was merged into {into}; use that one")));
    }
    Ok(row)
}

/// The profile `id` (argument `profile_id`).
async fn find_profile(txn: &DatabaseTransaction, tenant: &TenantId, id: &str) -> Result<profile::Model, Error> {
    let id = parse_id("profile_id", id)?;
    storage::profiles::find(txn, tenant.as_str(), &id).await?.ok_or_else(|| Error::not_found("profile", &id))
}
