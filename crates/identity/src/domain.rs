//! Identity rules that need no I/O.

use tend_proto::v1;

/// A profile's link status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not tied to any customer.
    Unknown,
    /// A likely customer awaits review.
    Candidate,
    /// Tied to a customer.
    Linked,
}

impl LinkStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Unknown => "unknown",
            LinkStatus::Candidate => "candidate",
            LinkStatus::Linked => "linked",
        }
    }

    /// Parses the stored form; anything unknown reads as `Unknown`.
    pub fn parse(value: &str) -> Self {
        match value {
            "candidate" => LinkStatus::Candidate,
            "linked" => LinkStatus::Linked,
            _ => LinkStatus::Unknown,
        }
    }

    /// The contract's form.
    pub fn to_proto(self) -> v1::IdentityStatus {
        match self {
            LinkStatus::Unknown => v1::IdentityStatus::Unknown,
            LinkStatus::Candidate => v1::IdentityStatus::Candidate,
            LinkStatus::Linked => v1::IdentityStatus::Linked,
        }
    }

    /// How sure the link is, for `InteractionIdentified.confidence`: 1 when linked by a person
    /// or deterministic evidence, 0 when unknown. Probabilistic matching will set its own.
    pub fn confidence(self) -> f64 {
        match self {
            LinkStatus::Linked => 1.0,
            LinkStatus::Candidate | LinkStatus::Unknown => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for status in [LinkStatus::Unknown, LinkStatus::Candidate, LinkStatus::Linked] {
            assert_eq!(LinkStatus::parse(status.as_str()), status);
        }
        assert_eq!(LinkStatus::parse("garbage"), LinkStatus::Unknown);
    }
}
