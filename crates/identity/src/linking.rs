//! Deterministic links: evidence that ties an author to exactly one customer outright.
//!
//! Strongest first: a handle the CRM lists on the customer, the author's own email (login-based
//! channels such as email and chat), then emails and phone numbers written in the message. An
//! identifier shared by several customers (a family email) proves nothing and is skipped.
//!
//! Pure: the caller looks up who holds the identifiers offered (for a whole batch at once) and
//! which pairs people rejected, and [`decide`] reads the answer.

use crate::domain::LinkMethod;
use crate::normalize;
use crate::storage::customers::Holders;
use crate::storage::review::Rejections;

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

/// An identifier an interaction offers as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// "handle", "email" or "phone", as stored in `customer_identifiers`.
    pub kind: &'static str,
    /// The normal form.
    pub value: String,
    /// The link it makes.
    pub method: LinkMethod,
    /// Where it was found, for the evidence.
    pub source: &'static str,
}

/// The identifiers an interaction on `channel` by an author with `handle` and `email` saying
/// `text` offers, strongest first.
pub fn offered(channel: i32, handle: &str, email: &str, text: &str) -> Vec<Offered> {
    let mut offered = Vec::new();
    let mut offer = |kind, value, method, source| offered.push(Offered { kind, value, method, source });
    if let Ok(handle) = normalize::handle(channel, handle) {
        offer("handle", handle, LinkMethod::KnownHandle, "the author's handle");
    }
    if let Ok(email) = normalize::email(email) {
        offer("email", email, LinkMethod::Email, "the author's address");
    }
    for email in normalize::emails_in(text) {
        offer("email", email, LinkMethod::Email, "given in the message");
    }
    for phone in normalize::phones_in(text, None) {
        offer("phone", phone, LinkMethod::Phone, "given in the message");
    }
    offered
}

/// The customer the author of profile `profile_id` deterministically is, if any, given what
/// they `offered`, who `holds` each identifier and the pairs people `rejected`: the strongest
/// identifier held by exactly one customer whose pair with the profile nobody rejected.
pub fn decide(profile_id: &str, offered: &[Offered], holds: &Holders, rejected: &Rejections) -> Option<Found> {
    for offer in offered {
        let mut holders = holds.of(offer.kind, &offer.value);
        match (holders.next(), holders.next()) {
            (None, _) => {}
            (Some(holder), None) if rejected.contains(profile_id, &holder.customer_id) => {
                tracing::debug!(kind = offer.kind, "a person rejected this pair; not linking");
            }
            (Some(holder), None) => {
                let Offered { kind, value, method, source } = offer;
                let evidence = format!("{kind} {value} ({source}) is on customer {}", holder.crm_id);
                return Some(Found { customer_id: holder.customer_id.clone(), method: *method, evidence });
            }
            (Some(_), Some(_)) => {
                let count = 2 + holders.count();
                tracing::debug!(kind = offer.kind, count, "identifier shared by several customers; not linking on it");
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::storage::customers::Holder;
    use tend_proto::v1;

    #[test]
    fn offers_strongest_evidence_first() {
        let kinds: Vec<_> = offered(
            v1::Channel::X.into(),
            "@Jane",
            "JANE@example.com",
            "my number is +44 7911 123456, mail jane.alt@example.com",
        )
        .into_iter()
        .map(|offer| format!("{}={}", offer.kind, offer.value))
        .collect();
        assert_eq!(
            kinds,
            vec!["handle=x:jane", "email=jane@example.com", "email=jane.alt@example.com", "phone=+447911123456"]
        );
    }

    fn holder(customer_id: &str, crm_id: &str) -> Holder {
        Holder { customer_id: customer_id.into(), crm_id: crm_id.into() }
    }

    #[test]
    fn links_on_the_strongest_identifier_one_customer_holds_and_nobody_rejected() {
        let offers = offered(v1::Channel::X.into(), "@jane", "", "mail family@example.com or call +44 7911 123456");
        let mut holds = Holders::default();
        holds.insert("handle".into(), "x:jane".into(), holder("c-jane", "CRM-1"));
        holds.insert("email".into(), "family@example.com".into(), holder("c-parent", "P"));
        holds.insert("email".into(), "family@example.com".into(), holder("c-child", "C"));
        holds.insert("phone".into(), "+447911123456".into(), holder("c-phone", "CRM-9"));
        // The same value as another kind is another identifier.
        holds.insert("handle".into(), "+447911123456".into(), holder("c-other", "CRM-8"));

        let found = decide("p1", &offers, &holds, &Rejections::default()).unwrap();
        assert_eq!((found.customer_id.as_str(), found.method), ("c-jane", LinkMethod::KnownHandle));
        assert_eq!(found.evidence, "handle x:jane (the author's handle) is on customer CRM-1");

        // Jane's pair rejected: the shared email proves nothing, the phone links.
        let mut rejected = Rejections::default();
        rejected.insert("p1".into(), "c-jane".into());
        let found = decide("p1", &offers, &holds, &rejected).unwrap();
        assert_eq!((found.customer_id.as_str(), found.method), ("c-phone", LinkMethod::Phone));
        // Another profile's rejection does not count.
        let found = decide("p2", &offers, &holds, &rejected).unwrap();
        assert_eq!(found.customer_id, "c-jane");
        assert_eq!(decide("p1", &offers[1..2], &holds, &rejected), None);
    }
}
