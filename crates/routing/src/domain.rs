//! Routing rules that need no I/O: the priority of an interaction, with its reasons.

/// What priority is computed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorityInput {
    /// The author's followers.
    pub followers: u64,
    /// The channel verified the author.
    pub verified: bool,
    /// Identity tied the author to a customer.
    pub known_customer: bool,
}

/// A priority from 0 to 100 and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// 0 (lowest) to 100 (highest).
    pub value: u32,
    /// One line per factor that contributed.
    pub reasons: Vec<String>,
}

/// Every interaction starts here.
const BASE: u32 = 30;
/// Influence adds this much per decade of followers above 10…
const PER_FOLLOWER_DECADE: u32 = 5;
/// …up to this much.
const MAX_INFLUENCE: u32 = 25;
const VERIFIED: u32 = 5;
const KNOWN_CUSTOMER: u32 = 10;

/// The priority of an interaction: a base, plus influence (log-scaled followers, bounded),
/// plus a verified author, plus a known customer. Always within 0..=100, and never lower for
/// more followers.
pub fn priority(input: PriorityInput) -> Priority {
    let mut value = BASE;
    let mut reasons = vec![format!("base {BASE}")];
    let decades = input.followers.checked_ilog10().unwrap_or(0);
    let influence = (decades.saturating_sub(1) * PER_FOLLOWER_DECADE).min(MAX_INFLUENCE);
    if influence > 0 {
        value += influence;
        reasons.push(format!("+{influence} influence ({} followers)", input.followers));
    }
    if input.verified {
        value += VERIFIED;
        reasons.push(format!("+{VERIFIED} verified author"));
    }
    if input.known_customer {
        value += KNOWN_CUSTOMER;
        reasons.push(format!("+{KNOWN_CUSTOMER} known customer"));
    }
    Priority { value: value.min(100), reasons }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn input(followers: u64) -> PriorityInput {
        PriorityInput { followers, verified: false, known_customer: false }
    }

    #[test]
    fn explains_each_factor() {
        let computed = priority(PriorityInput { followers: 25_000, verified: true, known_customer: true });
        assert_eq!(computed.value, 30 + 15 + 5 + 10);
        assert_eq!(computed.reasons.len(), 4);
        assert!(computed.reasons[1].contains("25000 followers"));
    }

    #[test]
    fn nobody_gets_the_base() {
        assert_eq!(priority(input(0)), Priority { value: BASE, reasons: vec!["base 30".into()] });
    }

    proptest! {
        #[test]
        fn bounded(followers: u64, verified: bool, known_customer: bool) {
            let computed = priority(PriorityInput { followers, verified, known_customer });
            prop_assert!(computed.value <= 100);
            prop_assert!(computed.value >= BASE);
        }

        #[test]
        fn more_followers_never_lower(a: u64, b: u64) {
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(priority(input(low)).value <= priority(input(high)).value);
        }
    }
}
