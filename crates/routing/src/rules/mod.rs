//! Layered routing rules: a tenant's rule set of CEL conditions and actions, compiled once
//! ([`RuleSet::compile`]) and evaluated for every identified interaction ([`evaluate`]).
//!
//! Layers run in order, segment, business, service; within a layer rules run as written, and a
//! rule with `stop` ends its layer when it fires. Single-valued choices (queue, department,
//! language, SLA policy, actionable) made by a later rule replace an earlier one's, so the more
//! specific layers have the last word; skills, tags and priority adjustments add up.

mod compile;
mod defaults;
pub mod facts;

use cel::{Context, Value};

pub use compile::{Actions, CompiledRule, Layer, MAX_ADJUSTMENT, RuleSet, Skill, check_name, environment};
pub use defaults::{builtin, builtin_spec};
pub use facts::Facts;

/// A problem found in a rule set, naming the rule and field, and for a condition that does not
/// compile the line and column within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The rule's name, or "#N".
    pub rule: String,
    /// "when", "then.queue"…
    pub field: String,
    /// From 1; 0 when not about a position.
    pub line: u32,
    /// From 1; 0 when not about a position.
    pub column: u32,
    /// What to fix.
    pub message: String,
}

impl Problem {
    fn of(rule: &str, field: &str, message: impl Into<String>) -> Self {
        Problem { rule: rule.to_owned(), field: field.to_owned(), line: 0, column: 0, message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {}, {}", self.rule, self.field)?;
        if self.line > 0 {
            write!(f, " (line {}, column {})", self.line, self.column)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What the rules decided for one interaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// The rules that fired, in evaluation order.
    pub fired: Vec<String>,
    /// Rules whose condition failed to evaluate, with the error; they did not fire.
    pub errors: Vec<(String, String)>,
    /// Each firing rule's priority adjustment: (rule, points, reason).
    pub adjustments: Vec<(String, i32, String)>,
    /// The queue chosen, if any.
    pub queue: Option<String>,
    /// The department routed to, if any.
    pub department: Option<String>,
    /// Skills required, each once at its highest level, in the order first required.
    pub skills: Vec<Skill>,
    /// The language required, if any.
    pub language: Option<String>,
    /// The SLA policy chosen, if any.
    pub sla_policy: Option<String>,
    /// Tags added, sorted, without repeats.
    pub tags: Vec<String>,
    /// A rule's verdict on actionable, with the rule's name.
    pub actionable: Option<(bool, String)>,
}

/// A scope of `root` in which conditions see `facts` (and `now`, the time the facts were taken
/// at), read on demand through [`Facts`]' resolver.
pub fn bind<'a>(root: &'a Context<'a, 'a>, facts: &'a Facts) -> Context<'a, 'a> {
    let mut scope = root.new_inner_scope();
    scope.set_variable_resolver(facts);
    scope
}

/// Evaluates `rules` on `facts`: layer by layer, each rule's condition in a scope of `root`
/// (a context built once for many evaluations), `now` being the facts' time.
pub fn evaluate(rules: &RuleSet, root: &Context<'_, '_>, facts: &Facts) -> Evaluation {
    let mut evaluation = Evaluation::default();
    let scope = bind(root, facts);
    let mut stopped: Option<Layer> = None;
    for rule in rules.rules.iter() {
        if stopped == Some(rule.layer) {
            continue;
        }
        match rule.program.execute(&scope) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => continue,
            Ok(other) => {
                evaluation.errors.push((rule.name.clone(), format!("yielded {other:?}, not a bool")));
                continue;
            }
            Err(error) => {
                evaluation.errors.push((rule.name.clone(), error.to_string()));
                continue;
            }
        }
        apply(&mut evaluation, rule);
        if rule.stop {
            stopped = Some(rule.layer);
        }
    }
    evaluation.tags.sort();
    evaluation.tags.dedup();
    evaluation
}

fn apply(evaluation: &mut Evaluation, rule: &CompiledRule) {
    let actions = &rule.actions;
    evaluation.fired.push(rule.name.clone());
    if actions.priority != 0 {
        evaluation.adjustments.push((rule.name.clone(), actions.priority, actions.reason.clone()));
    }
    for (chosen, value) in [
        (&mut evaluation.queue, &actions.queue),
        (&mut evaluation.department, &actions.department),
        (&mut evaluation.language, &actions.language),
        (&mut evaluation.sla_policy, &actions.sla_policy),
    ] {
        if value.is_some() {
            chosen.clone_from(value);
        }
    }
    for skill in &actions.skills {
        match evaluation.skills.iter_mut().find(|held| held.skill == skill.skill) {
            Some(held) => held.level = held.level.max(skill.level),
            None => evaluation.skills.push(skill.clone()),
        }
    }
    evaluation.tags.extend(actions.tags.iter().cloned());
    if let Some(actionable) = actions.actionable {
        evaluation.actionable = Some((actionable, rule.name.clone()));
    }
}

#[cfg(test)]
mod tests;
