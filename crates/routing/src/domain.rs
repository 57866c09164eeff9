//! The priority of an interaction: explained term by term, bounded to 0..100, and monotone in
//! every input that should raise it.

/// What priority is computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriorityInput {
    /// The author's followers.
    pub followers: u64,
    /// The channel verified the author.
    pub verified: bool,
    /// Identity tied the author to a customer.
    pub known_customer: bool,
    /// The linked customer's lifetime value (0 when unknown).
    pub lifetime_value: f64,
    /// What ingest's enrichment read in the text; `None` for an interaction without one.
    pub reading: Option<Reading>,
    /// The rules' adjustments: (rule, points, reason).
    pub adjustments: Vec<(String, i32, String)>,
    /// How many posts say nearly the same (the near-duplicate cluster's size, 1 for a lone
    /// post); 0 when unknown. Filled in by hot-topic detection.
    pub cluster_size: u32,
    /// How hot the post's hottest topic runs, 0 (normal volume) to 1 (a burst); filled in by
    /// hot-topic detection.
    pub topic_heat: f64,
    /// Whether it is work for an agent (enrichment's reading, or a rule's verdict).
    pub actionable: bool,
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
    /// Praise score, 0 to 1.
    pub praise: f64,
    /// Sentiment score, -1 to 1.
    pub sentiment: f64,
}

/// The detail of the `cluster` term: "N similar posts".
pub fn cluster_detail(size: u32) -> String {
    format!("{size} similar posts")
}

/// The cluster size a `cluster` term's detail says ([`cluster_detail`]).
pub fn cluster_size_of(detail: &str) -> Option<u32> {
    detail.strip_suffix(" similar posts")?.parse().ok()
}

/// One term of a priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// A stable name ("influence", "rule"…).
    pub name: &'static str,
    /// Points added (negative: taken away).
    pub points: i32,
    /// Why, for a person.
    pub detail: String,
}

impl Term {
    /// The term as one line: "+15 influence (25000 followers)".
    pub fn line(&self) -> String {
        if self.detail.is_empty() {
            format!("{:+} {}", self.points, self.name.replace('_', " "))
        } else {
            format!("{:+} {} ({})", self.points, self.name.replace('_', " "), self.detail)
        }
    }
}

/// A priority from 0 to 100 and its terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// 0 (lowest) to 100 (highest).
    pub value: u32,
    /// Every term that contributed, in a fixed order.
    pub terms: Vec<Term>,
}

impl Priority {
    /// One line per term.
    pub fn reasons(&self) -> Vec<String> {
        self.terms.iter().map(Term::line).collect()
    }
}

/// Every interaction starts here.
const BASE: i32 = 30;
/// Influence adds this much per decade of followers above 10…
const PER_FOLLOWER_DECADE: i32 = 5;
/// …up to this much.
const MAX_INFLUENCE: i32 = 25;
const VERIFIED: i32 = 5;
const KNOWN_CUSTOMER: i32 = 10;
/// Customer value adds this much per decade of lifetime value above 100…
const PER_VALUE_DECADE: i32 = 2;
/// …up to this much.
const MAX_VALUE: i32 = 10;
/// An intent counts when its score reaches this.
const INTENT_PRESENT: f64 = 0.5;
/// A customer who may leave comes first…
const CHURN_RISK: i32 = 20;
/// …then one with a problem…
const COMPLAINT: i32 = 10;
/// …then one with a question.
const QUESTION: i32 = 5;
/// Praise can wait.
const PRAISE: i32 = -5;
/// Negative sentiment adds up to this much, in proportion.
const MAX_NEGATIVE: i32 = 10;
/// A cluster adds this much per doubling of its size…
const PER_CLUSTER_DOUBLING: i32 = 3;
/// …up to this much.
const MAX_CLUSTER: i32 = 15;
/// A hot topic adds up to this much, in proportion to its heat.
const MAX_HEAT: i32 = 10;
/// What a post that is not work (spam, chatter, praise) loses.
const NOT_ACTIONABLE: i32 = -20;

/// The priority of an interaction: a base, plus influence (log-scaled followers, bounded), a
/// verified author, a known customer and their value (log-scaled, bounded), what the text says
/// (churn risk, a complaint, a question up; praise down; negative sentiment up), the rules'
/// adjustments (bounded together to ±50), the size of its near-duplicate cluster and the heat of
/// its topic, minus a penalty when the post is not work. Always within 0..=100, and never lower
/// for more of anything that should raise it.
pub fn priority(input: &PriorityInput) -> Priority {
    let mut terms = vec![Term { name: "base", points: BASE, detail: String::new() }];
    let mut add = |name: &'static str, points: i32, detail: String| {
        if points != 0 {
            terms.push(Term { name, points, detail });
        }
    };
    let decades = i32::try_from(input.followers.checked_ilog10().unwrap_or(0)).unwrap_or(i32::MAX);
    add(
        "influence",
        (decades.saturating_sub(1) * PER_FOLLOWER_DECADE).clamp(0, MAX_INFLUENCE),
        format!("{} followers", input.followers),
    );
    add("verified", if input.verified { VERIFIED } else { 0 }, "verified author".into());
    add("customer", if input.known_customer { KNOWN_CUSTOMER } else { 0 }, "known customer".into());
    if input.known_customer && input.lifetime_value.is_finite() && input.lifetime_value > 100.0 {
        // Whole decades only: 999 counts as 100, so the term only steps up.
        #[allow(clippy::cast_possible_truncation)]
        let decades = (input.lifetime_value.log10().floor() as i32) - 2;
        add(
            "customer_value",
            (decades * PER_VALUE_DECADE).clamp(0, MAX_VALUE),
            format!("lifetime value {:.0}", input.lifetime_value),
        );
    }
    if let Some(reading) = input.reading {
        for (score, points, name) in [
            (reading.churn_risk, CHURN_RISK, "churn_risk"),
            (reading.complaint, COMPLAINT, "complaint"),
            (reading.question, QUESTION, "question"),
            (reading.praise, PRAISE, "praise"),
        ] {
            if score >= INTENT_PRESENT {
                add(name, points, format!("{score:.2}"));
            }
        }
        // Truncation toward zero: -0.05 adds nothing, -1 adds the whole term.
        #[allow(clippy::cast_possible_truncation)]
        let negative = (-reading.sentiment.clamp(-1.0, 0.0) * f64::from(MAX_NEGATIVE)) as i32;
        add("sentiment", negative, format!("{:.2}", reading.sentiment));
    }
    let mut budget = 0i32;
    for (rule, points, reason) in &input.adjustments {
        // The rules together move the priority by at most ±MAX_ADJUSTMENT: the bound applies
        // in order, so a later rule's points are cut when the earlier ones used the budget.
        let allowed = (budget + points).clamp(-crate::rules::MAX_ADJUSTMENT, crate::rules::MAX_ADJUSTMENT) - budget;
        budget += allowed;
        let detail = if reason == rule { format!("rule {rule}") } else { format!("rule {rule}: {reason}") };
        add("rule", allowed, detail);
    }
    if input.cluster_size > 1 {
        let doublings = i32::try_from(input.cluster_size.ilog2()).unwrap_or(i32::MAX);
        add(
            "cluster",
            doublings.saturating_mul(PER_CLUSTER_DOUBLING).min(MAX_CLUSTER),
            cluster_detail(input.cluster_size),
        );
    }
    #[allow(clippy::cast_possible_truncation)]
    let heat = (input.topic_heat.clamp(0.0, 1.0) * f64::from(MAX_HEAT)) as i32;
    add("topic_heat", heat, format!("{:.2}", input.topic_heat));
    if !input.actionable {
        add("not_actionable", NOT_ACTIONABLE, String::new());
    }
    let total: i32 = terms.iter().map(|term| term.points).sum();
    Priority { value: u32::try_from(total.clamp(0, 100)).unwrap_or(0), terms }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn input(followers: u64) -> PriorityInput {
        PriorityInput { followers, actionable: true, ..PriorityInput::default() }
    }

    #[test]
    fn explains_each_term() {
        let computed = priority(&PriorityInput {
            verified: true,
            known_customer: true,
            lifetime_value: 25_000.0,
            ..input(25_000)
        });
        assert_eq!(computed.value, 30 + 15 + 5 + 10 + 4);
        let names: Vec<&str> = computed.terms.iter().map(|term| term.name).collect();
        assert_eq!(names, vec!["base", "influence", "verified", "customer", "customer_value"]);
        assert_eq!(computed.reasons()[1], "+15 influence (25000 followers)");
        assert_eq!(computed.reasons()[4], "+4 customer value (lifetime value 25000)");
    }

    #[test]
    fn nobody_gets_the_base() {
        let computed = priority(&input(0));
        assert_eq!(computed.value, 30);
        assert_eq!(computed.reasons(), vec!["+30 base"]);
    }

    #[test]
    fn what_the_text_says_weighs_in() {
        let reading = Reading { churn_risk: 0.8, complaint: 0.6, question: 0.1, praise: 0.0, sentiment: -0.55 };
        let computed = priority(&PriorityInput { reading: Some(reading), ..input(0) });
        assert_eq!(computed.value, 30 + 20 + 10 + 5);
        assert_eq!(
            computed.reasons(),
            vec!["+30 base", "+20 churn risk (0.80)", "+10 complaint (0.60)", "+5 sentiment (-0.55)"]
        );
        let praise = Reading { praise: 0.9, sentiment: 0.8, ..Reading::default() };
        let computed = priority(&PriorityInput { reading: Some(praise), actionable: false, ..input(0) });
        assert_eq!(computed.value, 30 - 5 - 20);
        assert_eq!(computed.reasons().last().map(String::as_str), Some("-20 not actionable"));
    }

    #[test]
    fn rule_adjustments_are_bounded_together() {
        let adjustments = vec![
            ("vip".to_owned(), 40, "VIP customer".to_owned()),
            ("campaign".to_owned(), 30, "campaign".to_owned()),
            ("calm".to_owned(), -10, "calm".to_owned()),
        ];
        let computed = priority(&PriorityInput { adjustments, ..input(0) });
        let rules: Vec<String> = computed
            .terms
            .iter()
            .filter(|term| term.name == "rule")
            .map(|term| format!("{} {}", term.points, term.detail))
            .collect();
        assert_eq!(rules, vec!["40 rule vip: VIP customer", "10 rule campaign", "-10 rule calm"]);
        assert_eq!(computed.value, 30 + 40);
    }

    #[test]
    fn clusters_and_hot_topics_raise_it() {
        let computed = priority(&PriorityInput { cluster_size: 200, topic_heat: 0.5, ..input(0) });
        assert_eq!(computed.reasons(), vec!["+30 base", "+15 cluster (200 similar posts)", "+5 topic heat (0.50)"]);
    }

    fn arbitrary_input() -> impl Strategy<Value = PriorityInput> {
        (
            (any::<u64>(), any::<bool>(), any::<bool>(), 0.0..1e9f64),
            (0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64, 0.0..=1.0f64, -1.0..=1.0f64),
            (prop::collection::vec(-50..=50i32, 0..4), 0..10_000u32, 0.0..=1.0f64, any::<bool>()),
        )
            .prop_map(
                |(
                    (followers, verified, known_customer, lifetime_value),
                    (churn_risk, complaint, question, praise, sentiment),
                    (points, cluster_size, topic_heat, actionable),
                )| {
                    PriorityInput {
                        followers,
                        verified,
                        known_customer,
                        lifetime_value,
                        reading: Some(Reading { churn_risk, complaint, question, praise, sentiment }),
                        adjustments: points
                            .into_iter()
                            .enumerate()
                            .map(|(at, points)| (format!("r{at}"), points, String::new()))
                            .collect(),
                        cluster_size,
                        topic_heat,
                        actionable,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn bounded_and_explained(input in arbitrary_input()) {
            let computed = priority(&input);
            prop_assert!(computed.value <= 100);
            let total: i32 = computed.terms.iter().map(|term| term.points).sum();
            prop_assert_eq!(i64::from(computed.value), i64::from(total.clamp(0, 100)));
            let rules: i32 = computed.terms.iter().filter(|term| term.name == "rule").map(|term| term.points).sum();
            prop_assert!(rules.abs() <= crate::rules::MAX_ADJUSTMENT);
        }

        #[test]
        fn monotone_in_what_should_raise_it(input in arbitrary_input(), which in 0..10usize, more in 0.0..=1.0f64) {
            let mut raised = input.clone();
            let reading = raised.reading.get_or_insert_with(Reading::default);
            match which {
                0 => raised.followers = raised.followers.saturating_add((more * 1e7) as u64),
                1 => raised.verified = true,
                2 => raised.known_customer = true,
                3 => raised.lifetime_value += more * 1e6,
                4 => reading.churn_risk = (reading.churn_risk + more).min(1.0),
                5 => reading.complaint = (reading.complaint + more).min(1.0),
                6 => reading.sentiment = (reading.sentiment - more).max(-1.0),
                7 => raised.adjustments.push(("more".into(), (more * 50.0) as i32, String::new())),
                8 => raised.cluster_size = raised.cluster_size.saturating_add((more * 1000.0) as u32),
                _ => raised.topic_heat = (raised.topic_heat + more).min(1.0),
            }
            prop_assert!(priority(&raised).value >= priority(&input).value, "{:?} -> {:?}", input, raised);
        }
    }
}
