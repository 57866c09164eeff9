//! Identity rules that need no I/O.

use tend_proto::v1;

/// A value that fails validation: which field (as the contract names it, dotted and indexed
/// such as `customer.emails[1]`), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {problem}")]
pub struct Invalid {
    /// The field.
    pub field: String,
    /// What is wrong and what to send instead.
    pub problem: String,
}

impl Invalid {
    /// An [`Invalid`] of `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

/// A failed check of the shared validation layer ([`tend_kernel::validate`]).
impl From<tend_kernel::ApiError> for Invalid {
    fn from(error: tend_kernel::ApiError) -> Self {
        match error {
            tend_kernel::ApiError::InvalidArgument { field, problem } => Self { field, problem },
            other => Self { field: String::new(), problem: other.to_string() },
        }
    }
}

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

/// How a profile came to be linked, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMethod {
    /// Not linked.
    None,
    /// The CRM lists the handle on the customer.
    KnownHandle,
    /// The author's email is the customer's.
    Email,
    /// A phone number in a message is the customer's.
    Phone,
    /// A person decided.
    Person,
    /// The probabilistic matcher.
    Matcher,
}

impl LinkMethod {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkMethod::None => "",
            LinkMethod::KnownHandle => "known_handle",
            LinkMethod::Email => "email",
            LinkMethod::Phone => "phone",
            LinkMethod::Person => "person",
            LinkMethod::Matcher => "matcher",
        }
    }

    /// Parses the stored form; anything unknown reads as `None`.
    pub fn parse(value: &str) -> Self {
        match value {
            "known_handle" => LinkMethod::KnownHandle,
            "email" => LinkMethod::Email,
            "phone" => LinkMethod::Phone,
            "person" => LinkMethod::Person,
            "matcher" => LinkMethod::Matcher,
            _ => LinkMethod::None,
        }
    }

    /// The contract's form.
    pub fn to_proto(self) -> v1::LinkMethod {
        match self {
            LinkMethod::None => v1::LinkMethod::Unspecified,
            LinkMethod::KnownHandle => v1::LinkMethod::KnownHandle,
            LinkMethod::Email => v1::LinkMethod::Email,
            LinkMethod::Phone => v1::LinkMethod::Phone,
            LinkMethod::Person => v1::LinkMethod::Person,
            LinkMethod::Matcher => v1::LinkMethod::Matcher,
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
        for method in [
            LinkMethod::None,
            LinkMethod::KnownHandle,
            LinkMethod::Email,
            LinkMethod::Phone,
            LinkMethod::Person,
            LinkMethod::Matcher,
        ] {
            assert_eq!(LinkMethod::parse(method.as_str()), method);
        }
    }
}
