//! The rule set a load run routes with: `--rules N` realistic rules over every layer (most of
//! which do not fire, as in a real tenant's set), then one that makes every post work, so that
//! every acknowledged post can be followed to its case. Routing's benchmark evaluates the same
//! rules (`rule_set`).

use tend_proto::v1;

/// The name of the last rule, which makes every post work.
pub const EVERY_POST_IS_WORK: &str = "loadgen-every-post-is-work";

fn rule(name: String, layer: v1::RuleLayer, when: String, then: v1::RuleActions) -> v1::Rule {
    v1::Rule { name, layer: layer.into(), when, then: Some(then), stop: false, description: String::new() }
}

/// `count` rules cycling through realistic shapes (customer tier and value, topics and intents,
/// channel and influence), then [`EVERY_POST_IS_WORK`].
pub fn rule_set(count: usize) -> v1::RuleSet {
    let mut rules = Vec::with_capacity(count + 1);
    for n in 0..count {
        let name = format!("loadgen-{n:03}");
        let rule = match n % 5 {
            0 => rule(
                name,
                v1::RuleLayer::Segment,
                format!("customer.linked && customer.tier == 'tier-{n}'"),
                v1::RuleActions { priority_adjustment: 10, tags: vec![format!("tier-{n}")], ..Default::default() },
            ),
            1 => rule(
                name,
                v1::RuleLayer::Segment,
                format!("customer.lifetime_value > {}.0 && author.followers > {}", 1_000 * (n + 1), 100 * n),
                v1::RuleActions { priority_adjustment: 2, ..Default::default() },
            ),
            2 => rule(
                name,
                v1::RuleLayer::Business,
                format!("'campaign-{n}' in enrichment.hashtags || 'product-{n}' in enrichment.topics"),
                v1::RuleActions {
                    queue: format!("campaign-{n}"),
                    skills: vec![v1::SkillRequirement { skill: format!("product-{n}"), level: 2 }],
                    ..Default::default()
                },
            ),
            3 => rule(
                name,
                v1::RuleLayer::Business,
                format!("enrichment.intents.complaint >= 0.5 && interaction.text.contains('code-{n}')"),
                v1::RuleActions { tags: vec![format!("code-{n}")], priority_adjustment: 5, ..Default::default() },
            ),
            _ => rule(
                name,
                v1::RuleLayer::Service,
                format!("interaction.channel == 'email' && enrichment.language == 'x{n}'"),
                v1::RuleActions { language: "en".into(), ..Default::default() },
            ),
        };
        rules.push(rule);
    }
    rules.push(rule(
        EVERY_POST_IS_WORK.to_owned(),
        v1::RuleLayer::Service,
        "true".to_owned(),
        v1::RuleActions { actionable: Some(true), ..Default::default() },
    ));
    v1::RuleSet { rules, description: format!("tend loadgen: {count} rules and every post is work") }
}
