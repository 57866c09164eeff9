//! Deterministic links: evidence that ties an author to exactly one customer outright.
//!
//! Strongest first: a handle the CRM lists on the customer, the author's own email (login-based
//! channels such as email and chat), then emails and phone numbers written in the message. An
//! identifier shared by several customers (a family email) proves nothing and is skipped.

use sea_orm::{ConnectionTrait, DbErr};
use tend_proto::v1;

use crate::domain::LinkMethod;
use crate::normalize;
use crate::storage;

/// A link found, with its evidence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The customer.
    pub customer_id: String,
    /// How.
    pub method: LinkMethod,
    /// Why, in words.
    pub evidence: String,
}

/// The identifiers an interaction offers, strongest first: `(kind, value, method, where)`.
fn offered(interaction: &v1::Interaction) -> Vec<(&'static str, String, LinkMethod, &'static str)> {
    let author = interaction.author.clone().unwrap_or_default();
    let mut offered = Vec::new();
    if let Ok(handle) = normalize::handle(interaction.channel, &author.handle) {
        offered.push(("handle", handle, LinkMethod::KnownHandle, "the author's handle"));
    }
    if let Ok(email) = normalize::email(&author.email) {
        offered.push(("email", email, LinkMethod::Email, "the author's address"));
    }
    for email in normalize::emails_in(&interaction.text) {
        offered.push(("email", email, LinkMethod::Email, "given in the message"));
    }
    for phone in normalize::phones_in(&interaction.text, None) {
        offered.push(("phone", phone, LinkMethod::Phone, "given in the message"));
    }
    offered
}

/// The customer this interaction's author (profile `profile_id`) deterministically is, if any.
/// Pairs a person rejected are skipped.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    interaction: &v1::Interaction,
) -> Result<Option<Found>, DbErr> {
    for (kind, value, method, source) in offered(interaction) {
        let customers = storage::customers_with(conn, tenant, kind, &value).await?;
        match customers.as_slice() {
            [customer_id] if storage::is_rejected(conn, tenant, profile_id, customer_id).await? => {
                tracing::debug!(kind, "a person rejected this pair; not linking");
            }
            [customer_id] => {
                let crm_id = storage::find_customer(conn, tenant, customer_id)
                    .await?
                    .map(|customer| customer.crm_id)
                    .unwrap_or_default();
                let evidence = format!("{kind} {value} ({source}) is on customer {crm_id}");
                return Ok(Some(Found { customer_id: customer_id.clone(), method, evidence }));
            }
            [] => {}
            several => {
                tracing::info!(kind, count = several.len(), "identifier shared by several customers; not linking on it")
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_strongest_evidence_first() {
        let interaction = v1::Interaction {
            channel: v1::Channel::X.into(),
            author: Some(v1::Author { handle: "@Jane".into(), email: "JANE@example.com".into(), ..Default::default() }),
            text: "my number is +44 7911 123456, mail jane.alt@example.com".into(),
            ..Default::default()
        };
        let kinds: Vec<_> =
            offered(&interaction).into_iter().map(|(kind, value, ..)| format!("{kind}={value}")).collect();
        assert_eq!(
            kinds,
            vec!["handle=x:jane", "email=jane@example.com", "email=jane.alt@example.com", "phone=+447911123456"]
        );
    }
}
