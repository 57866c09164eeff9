//! The rules a tenant has before activating a rule set of its own (version 0). A tenant changes
//! them by activating a set that says otherwise; `tend rules show` of a fresh tenant prints
//! nothing, docs/ROUTING.md prints these.

use std::sync::OnceLock;

use tend_proto::v1;

use super::RuleSet;

/// The built-in rules as a rule set a tenant could write: churn risk goes to the retention
/// department's queue and needs the retention skill. (Spam, praise and chatter are already not
/// actionable by enrichment's reading; no rule is needed for them.)
pub fn builtin_spec() -> v1::RuleSet {
    v1::RuleSet {
        description: "Built-in defaults".into(),
        rules: vec![v1::Rule {
            name: "churn-risk-to-retention".into(),
            layer: v1::RuleLayer::Business.into(),
            when: "enrichment.intents.churn_risk >= 0.5".into(),
            then: Some(v1::RuleActions {
                department: "retention".into(),
                skills: vec![v1::SkillRequirement { skill: "retention".into(), level: 1 }],
                ..v1::RuleActions::default()
            }),
            stop: false,
            description: "A customer who may leave is for the retention team".into(),
        }],
    }
}

/// The built-in rules, compiled once.
pub fn builtin() -> RuleSet {
    static BUILTIN: OnceLock<RuleSet> = OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            // A test keeps the spec valid; an empty set would only lose the default routing.
            RuleSet::compile(0, &builtin_spec()).unwrap_or_else(|_| RuleSet {
                version: 0,
                rules: Vec::new().into(),
                env: super::environment(),
            })
        })
        .clone()
}
