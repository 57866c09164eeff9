//! Routing rules that need no I/O: the priority of an interaction, with its reasons.

/// What priority is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PriorityInput {
    /// The author's followers.
    pub followers: u64,
    /// The channel verified the author.
    pub verified: bool,
    /// Identity tied the author to a customer.
    pub known_customer: bool,
    /// What ingest's enrichment read in the text; `None` for an interaction without one.
    pub reading: Option<Reading>,
}

/// The parts of an interaction's enrichment that weigh on its priority.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Churn-risk score, 0 to 1.
    pub churn_risk: f64,
    /// Complaint score, 0 to 1.
    pub complaint: f64,
    /// Question score, 0 to 1.
    pub question: f64,
    /// Sentiment score, -1 to 1.
    pub sentiment: f64,
    /// Whether the post is work for an agent.
    pub actionable: bool,
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
/// An intent counts when its score reaches this.
const INTENT_PRESENT: f64 = 0.5;
/// A customer who may leave comes first…
const CHURN_RISK: u32 = 20;
/// …then one with a problem…
const COMPLAINT: u32 = 10;
/// …then one with a question.
const QUESTION: u32 = 5;
/// Negative sentiment adds up to this much, in proportion.
const MAX_NEGATIVE: u32 = 10;
/// What a post that is not work (spam, chatter, praise) loses.
const NOT_ACTIONABLE: u32 = 20;

/// The priority of an interaction: a base, plus influence (log-scaled followers, bounded),
/// plus a verified author, plus a known customer, plus what the text says (churn risk, a
/// complaint, a question, negative sentiment), minus a penalty when the post is not work.
/// Always within 0..=100, and never lower for more followers.
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
    if let Some(reading) = input.reading {
        for (score, points, what) in [
            (reading.churn_risk, CHURN_RISK, "churn risk"),
            (reading.complaint, COMPLAINT, "complaint"),
            (reading.question, QUESTION, "question"),
        ] {
            if score >= INTENT_PRESENT {
                value += points;
                reasons.push(format!("+{points} {what} ({score:.2})"));
            }
        }
        // Truncation toward zero: -0.05 adds nothing, -1 adds the whole term.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let negative = (-reading.sentiment.clamp(-1.0, 0.0) * f64::from(MAX_NEGATIVE)) as u32;
        if negative > 0 {
            value += negative;
            reasons.push(format!("+{negative} negative sentiment ({:.2})", reading.sentiment));
        }
        if !reading.actionable {
            value = value.saturating_sub(NOT_ACTIONABLE);
            reasons.push(format!("-{NOT_ACTIONABLE} not actionable"));
        }
    }
    Priority { value: value.min(100), reasons }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn input(followers: u64) -> PriorityInput {
        PriorityInput { followers, ..PriorityInput::default() }
    }

    #[test]
    fn explains_each_factor() {
        let computed =
            priority(PriorityInput { followers: 25_000, verified: true, known_customer: true, reading: None });
        assert_eq!(computed.value, 30 + 15 + 5 + 10);
        assert_eq!(computed.reasons.len(), 4);
        assert!(computed.reasons[1].contains("25000 followers"));
    }

    #[test]
    fn nobody_gets_the_base() {
        assert_eq!(priority(input(0)), Priority { value: BASE, reasons: vec!["base 30".into()] });
    }

    #[test]
    fn what_the_text_says_weighs_in() {
        let reading = Reading { churn_risk: 0.8, complaint: 0.6, question: 0.1, sentiment: -0.55, actionable: true };
        let computed = priority(PriorityInput { reading: Some(reading), ..input(0) });
        assert_eq!(computed.value, BASE + CHURN_RISK + COMPLAINT + 5);
        assert_eq!(
            computed.reasons,
            vec!["base 30", "+20 churn risk (0.80)", "+10 complaint (0.60)", "+5 negative sentiment (-0.55)"]
        );
        let spam = Reading { actionable: false, ..Reading::default() };
        let computed = priority(PriorityInput { reading: Some(spam), ..input(0) });
        assert_eq!(computed.value, BASE - NOT_ACTIONABLE);
        assert_eq!(computed.reasons.last().map(String::as_str), Some("-20 not actionable"));
    }

    proptest! {
        #[test]
        fn bounded(
            followers: u64,
            verified: bool,
            known_customer: bool,
            churn_risk in 0.0..=1.0f64,
            complaint in 0.0..=1.0f64,
            sentiment in -1.0..=1.0f64,
            actionable: bool,
        ) {
            let reading = Reading { churn_risk, complaint, question: 0.0, sentiment, actionable };
            let computed = priority(PriorityInput { followers, verified, known_customer, reading: Some(reading) });
            prop_assert!(computed.value <= 100);
            if actionable {
                prop_assert!(computed.value >= BASE);
            }
        }

        #[test]
        fn more_followers_never_lower(a: u64, b: u64) {
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(priority(input(low)).value <= priority(input(high)).value);
        }
    }
}
