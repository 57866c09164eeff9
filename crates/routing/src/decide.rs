//! One routing decision, from an identified interaction and the tenant's configuration: the
//! rules, the priority, actionable or not, and the SLA deadlines. Pure: the consumer records what
//! it returns, and a simulation replays stored inputs through it.

use chrono::{DateTime, Utc};
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use crate::config::TenantRouting;
use crate::domain::{Priority, PriorityInput, Reading, priority};
use crate::rules::{Evaluation, Facts, evaluate};
use crate::sla::{self, Deadlines};

/// The queue of work no rule sent elsewhere.
pub const DEFAULT_QUEUE: &str = "default";

/// What routing decided for one interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The priority, term by term.
    pub priority: Priority,
    /// What the rules did.
    pub evaluation: Evaluation,
    /// Whether it is work (a case is opened).
    pub actionable: bool,
    /// Why not, when not.
    pub not_actionable_reason: String,
    /// The deadlines of the SLA policy that covers it, if one does.
    pub deadlines: Option<Deadlines>,
    /// The rule-set version.
    pub rule_set_version: u32,
    /// The linked customer's CRM segment ("" when none), carried on the outcome for reports.
    pub segment: String,
    /// The linked customer's CRM lifetime value (0 when none), carried on the outcome for
    /// feedback's insights.
    pub lifetime_value: f64,
}

/// What hot-topic detection says about one interaction when it is decided: how hot its
/// hottest topic runs, how many posts echo it, and how its SLA tightens meanwhile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// The hottest of its topics that is hot, if any.
    pub hot_topic: Option<String>,
    /// That topic's heat, 0 (normal volume) to 1.
    pub topic_heat: f64,
    /// Its near-duplicate cluster's size (1 for a lone post; 0 unknown).
    pub cluster_size: u32,
    /// The SLA targets of a post on a hot topic, in percent of the policy's (100: unchanged).
    pub sla_percent: u32,
    /// The escalation key of the burst it belongs to, while one is active (its case joins the
    /// burst's incident).
    pub escalation_key: Option<String>,
}

impl Signals {
    /// What hot-topic detection said when `outcome` was decided, read back from its priority
    /// terms and tags: a simulation replays a decision with them, so that only the draft's
    /// rules make a difference (the SLA overlay of a hot topic is not replayed).
    pub fn of_outcome(outcome: &v1::RoutingOutcome) -> Self {
        let term = |name: &str| outcome.priority_terms.iter().find(|term| term.name == name);
        Signals {
            hot_topic: outcome.tags.iter().find_map(|tag| tag.strip_prefix("hot-topic:")).map(str::to_owned),
            topic_heat: term("topic_heat").and_then(|term| term.detail.parse().ok()).unwrap_or(0.0),
            cluster_size: term("cluster").and_then(|term| crate::domain::cluster_size_of(&term.detail)).unwrap_or(0),
            sla_percent: 100,
            escalation_key: None,
        }
    }
}

/// Decides for `identified` with `config`, each rule's condition evaluated in a scope of `root`
/// (see [`crate::rules::evaluate`]); `now` is the time of the decision, which a condition sees as
/// `now`. Deadlines count from when ingest received the interaction; a post on a hot topic
/// (`signals`) gets its policy's targets tightened to `sla_percent` and its heat and cluster
/// as priority terms.
pub fn decide(
    config: &TenantRouting,
    root: &cel::Context<'_, '_>,
    identified: &v1::InteractionIdentified,
    now: DateTime<Utc>,
    signals: &Signals,
) -> Decision {
    let facts = Facts::of(identified, now);
    let evaluation = evaluate(&config.rules, root, &facts);
    let default_interaction = v1::Interaction::default();
    let interaction = identified.interaction.as_ref().unwrap_or(&default_interaction);
    let enrichment = interaction.enrichment.as_ref();

    let (actionable, not_actionable_reason) = match (&evaluation.actionable, enrichment) {
        (Some((verdict, rule)), _) => (*verdict, if *verdict { String::new() } else { format!("rule {rule}") }),
        (None, Some(enrichment)) if !enrichment.actionable => {
            (false, format!("enrichment: {}", enrichment.actionable_reason))
        }
        (None, _) => (true, String::new()),
    };

    let author = interaction.author.as_ref();
    let computed = priority(&PriorityInput {
        followers: author.map_or(0, |author| author.followers),
        verified: author.is_some_and(|author| author.verified),
        known_customer: facts.customer.linked,
        lifetime_value: facts.customer.lifetime_value,
        reading: enrichment.map(reading),
        adjustments: evaluation.adjustments.clone(),
        cluster_size: signals.cluster_size,
        topic_heat: signals.topic_heat,
        actionable,
    });

    let start = crate::time_of(interaction.received_at.as_ref()).unwrap_or(now);
    let percent = if signals.hot_topic.is_some() { signals.sla_percent.clamp(1, 100) } else { 100 };
    let deadlines =
        sla::choose(&config.policies, evaluation.sla_policy.as_deref(), interaction.channel, &facts.customer.segment)
            .map(|policy| {
                let calendar = config.calendar_of(policy, &interaction.account);
                if percent == 100 {
                    policy.deadlines(calendar, start)
                } else {
                    policy.tightened(percent).deadlines(calendar, start)
                }
            });
    let mut evaluation = evaluation;
    if let Some(topic) = &signals.hot_topic
        && !evaluation.tags.iter().any(|tag| tag.starts_with("hot-topic:"))
    {
        // Said on the case and the decision, so an agent sees why its clock runs faster.
        evaluation.tags.push(format!("hot-topic:{topic}"));
    }

    Decision {
        priority: computed,
        evaluation,
        actionable,
        not_actionable_reason,
        deadlines,
        rule_set_version: config.rules.version,
        segment: facts.customer.segment.clone(),
        lifetime_value: facts.customer.lifetime_value,
    }
}

impl Decision {
    /// The queue the work waits in.
    pub fn queue(&self) -> &str {
        self.evaluation.queue.as_deref().unwrap_or(DEFAULT_QUEUE)
    }

    /// The SLA policy's name, or "" for none.
    pub fn sla_policy(&self) -> &str {
        self.deadlines.as_ref().map_or("", |deadlines| deadlines.policy.as_str())
    }

    /// The decision in the contract's terms, as the case and the decision record carry it.
    pub fn outcome(&self) -> v1::RoutingOutcome {
        let evaluation = &self.evaluation;
        v1::RoutingOutcome {
            queue: self.queue().to_owned(),
            department: evaluation.department.clone().unwrap_or_default(),
            skills: evaluation
                .skills
                .iter()
                .map(|skill| v1::SkillRequirement { skill: skill.skill.clone(), level: skill.level })
                .collect(),
            language: evaluation.language.clone().unwrap_or_default(),
            tags: evaluation.tags.clone(),
            sla: self.deadlines.as_ref().map(|deadlines| v1::SlaDeadlines {
                policy: deadlines.policy.clone(),
                calendar: deadlines.calendar.clone().unwrap_or_default(),
                first_response_due: deadlines.first_response_due.map(to_timestamp),
                first_response_warn: deadlines.first_response_warn.map(to_timestamp),
                resolution_due: deadlines.resolution_due.map(to_timestamp),
                resolution_warn: deadlines.resolution_warn.map(to_timestamp),
                next_response_seconds: deadlines
                    .next_response
                    .map_or(0, |target| u64::try_from(target.num_seconds()).unwrap_or(0)),
                warn_at_percent: deadlines.warn_at_percent,
                hours: deadlines.hours.clone(),
            }),
            priority_terms: self
                .priority
                .terms
                .iter()
                .map(|term| v1::PriorityTerm {
                    name: term.name.to_owned(),
                    points: term.points,
                    detail: term.detail.clone(),
                })
                .collect(),
            rule_set_version: self.rule_set_version,
            rules_fired: evaluation.fired.clone(),
            segment: self.segment.clone(),
            lifetime_value: self.lifetime_value,
        }
    }

    /// "rule: error" per failed condition.
    pub fn rule_errors(&self) -> Vec<String> {
        self.evaluation.errors.iter().map(|(rule, error)| format!("{rule}: {error}")).collect()
    }
}

/// What of the interaction's enrichment weighs on its priority.
fn reading(enrichment: &v1::Enrichment) -> Reading {
    let score = |wanted: v1::Intent| {
        enrichment.intents.iter().find(|scored| scored.intent == wanted as i32).map_or(0.0, |scored| scored.score)
    };
    Reading {
        churn_risk: score(v1::Intent::ChurnRisk),
        complaint: score(v1::Intent::Complaint),
        question: score(v1::Intent::Question),
        praise: score(v1::Intent::Praise),
        sentiment: enrichment.sentiment.as_ref().map_or(0.0, |sentiment| sentiment.score),
    }
}

/// The input kept for simulations: the identified interaction without what no rule reads (the
/// enrichment's cues and signature, the author's email, the profile beyond its id).
pub fn stored_input(identified: &v1::InteractionIdentified) -> v1::InteractionIdentified {
    let mut input = identified.clone();
    if let Some(profile) = input.profile.as_mut() {
        *profile = v1::Profile { id: std::mem::take(&mut profile.id), ..v1::Profile::default() };
    }
    if let Some(interaction) = input.interaction.as_mut() {
        if let Some(enrichment) = interaction.enrichment.as_mut() {
            enrichment.cues.clear();
            enrichment.signature.clear();
        }
        if let Some(author) = interaction.author.as_mut() {
            author.email.clear();
        }
    }
    input
}
