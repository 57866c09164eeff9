//! A tenant's rule set, checked and compiled once: every condition parsed into a CEL program,
//! every action within its bounds. A rule set that compiles is one routing can run.

use std::collections::HashSet;
use std::sync::Arc;

use cel::{Env, ExecutionError, Program, Value};
use tend_proto::v1;

use super::facts::Facts;
use super::{Problem, bind};

/// Most rules in a set.
pub const MAX_RULES: usize = 500;
/// Longest condition, in bytes.
pub const MAX_CONDITION_BYTES: usize = 4096;
// The bounds on a condition's shape are CEL's, shared with incident scopes (tend-scope).
pub use tend_scope::{MAX_NESTING, MAX_OPERATORS};
use tend_scope::{shape, short};
/// Bound of one rule's priority adjustment, and of all rules' together.
pub const MAX_ADJUSTMENT: i32 = 50;
/// Most tags one rule adds.
pub const MAX_TAGS: usize = 16;
/// Most skills one rule requires.
pub const MAX_SKILLS: usize = 16;
/// Highest skill level.
pub const MAX_LEVEL: u32 = 5;

/// The layer of a rule, in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    /// Who the customer is.
    Segment,
    /// What the business wants.
    Business,
    /// What was promised.
    Service,
}

/// A skill and the least level required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    /// Its name.
    pub skill: String,
    /// 1 to 5.
    pub level: u32,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actions {
    /// Points added to the priority (negative: taken away).
    pub priority: i32,
    /// Why, for the priority term.
    pub reason: String,
    /// The queue chosen.
    pub queue: Option<String>,
    /// The department routed to.
    pub department: Option<String>,
    /// Skills required.
    pub skills: Vec<Skill>,
    /// The language required.
    pub language: Option<String>,
    /// The SLA policy chosen, by name.
    pub sla_policy: Option<String>,
    /// Tags added.
    pub tags: Vec<String>,
    /// Marks the interaction (not) actionable.
    pub actionable: Option<bool>,
}

/// One compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Its name.
    pub name: String,
    /// Its layer.
    pub layer: Layer,
    /// The condition.
    pub program: Program,
    /// What it does.
    pub actions: Actions,
    /// Later rules of the layer are skipped when it fires.
    pub stop: bool,
}

/// A rule set ready to evaluate: its rules in evaluation order (by layer, then as given).
#[derive(Clone)]
pub struct RuleSet {
    /// The tenant's version; 0 for the built-in defaults.
    pub version: u32,
    /// The rules, shared between the evaluations that use this version.
    pub rules: Arc<[CompiledRule]>,
    /// The CEL environment the programs were compiled for.
    pub env: Arc<Env>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet").field("version", &self.version).field("rules", &self.rules).finish_non_exhaustive()
    }
}

/// The standard CEL environment, built once.
pub fn environment() -> Arc<Env> {
    static ENV: std::sync::OnceLock<Arc<Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

impl RuleSet {
    /// Checks and compiles `rule_set` as version `version`; every problem found, in rule order,
    /// when it is not valid.
    pub fn compile(version: u32, rule_set: &v1::RuleSet) -> Result<RuleSet, Vec<Problem>> {
        let env = environment();
        let mut problems = Vec::new();
        if rule_set.rules.len() > MAX_RULES {
            problems.push(Problem::of("", "rules", format!("{} rules; at most {MAX_RULES}", rule_set.rules.len())));
            return Err(problems);
        }
        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(rule_set.rules.len());
        for (at, rule) in rule_set.rules.iter().enumerate() {
            let label = if rule.name.is_empty() { format!("#{}", at + 1) } else { truncated(&rule.name) };
            let before = problems.len();
            if let Err(message) = check_name(&rule.name) {
                problems.push(Problem::of(&label, "name", message));
            } else if !names.insert(rule.name.as_str()) {
                problems.push(Problem::of(&label, "name", "another rule has this name; names must be unique"));
            }
            let layer = match rule.layer() {
                v1::RuleLayer::Segment => Some(Layer::Segment),
                v1::RuleLayer::Business => Some(Layer::Business),
                v1::RuleLayer::Service => Some(Layer::Service),
                v1::RuleLayer::Unspecified => {
                    problems.push(Problem::of(&label, "layer", "required: segment, business or service"));
                    None
                }
            };
            let actions = match rule.then.as_ref().map(|then| actions(&label, then, &mut problems)) {
                Some(actions) => actions,
                None => {
                    problems.push(Problem::of(&label, "then", "required: the rule must do something"));
                    Actions::default()
                }
            };
            let program = condition(&env, &label, &rule.when, &mut problems);
            if problems.len() == before
                && let (Some(layer), Some(program)) = (layer, program)
            {
                rules.push(CompiledRule { name: rule.name.clone(), layer, program, actions, stop: rule.stop });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        rules.sort_by_key(|rule| rule.layer);
        Ok(RuleSet { version, rules: rules.into(), env })
    }
}

pub use tend_kernel::names::check_name;
pub(crate) use tend_kernel::names::truncated;

fn actions(rule: &str, then: &v1::RuleActions, problems: &mut Vec<Problem>) -> Actions {
    let named = |problems: &mut Vec<Problem>, field: &str, value: &str| -> Option<String> {
        if value.is_empty() {
            return None;
        }
        match check_name(value) {
            Ok(()) => Some(value.to_owned()),
            Err(message) => {
                problems.push(Problem::of(rule, field, message));
                None
            }
        }
    };
    let queue = named(problems, "then.queue", &then.queue);
    let department = named(problems, "then.department", &then.department);
    let sla_policy = named(problems, "then.sla_policy", &then.sla_policy);
    let mut tags = Vec::new();
    for tag in &then.tags {
        tags.extend(named(problems, "then.tags", tag));
    }
    let mut skills = Vec::new();
    for skill in &then.skills {
        if let Some(name) = named(problems, "then.skills", &skill.skill) {
            if skill.level > MAX_LEVEL {
                problems.push(Problem::of(
                    rule,
                    "then.skills",
                    format!("{name}: level {} is above {MAX_LEVEL}", skill.level),
                ));
            }
            skills.push(Skill { skill: name, level: skill.level.max(1) });
        }
    }
    if then.tags.len() > MAX_TAGS {
        problems.push(Problem::of(rule, "then.tags", format!("{} tags; at most {MAX_TAGS}", then.tags.len())));
    }
    if then.skills.len() > MAX_SKILLS {
        problems.push(Problem::of(rule, "then.skills", format!("{} skills; at most {MAX_SKILLS}", then.skills.len())));
    }
    if !(-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&then.priority_adjustment) {
        problems.push(Problem::of(
            rule,
            "then.priority_adjustment",
            format!("{} is outside -{MAX_ADJUSTMENT}..{MAX_ADJUSTMENT}", then.priority_adjustment),
        ));
    }
    if then.priority_reason.len() > 200 {
        problems.push(Problem::of(rule, "then.priority_reason", "at most 200 bytes"));
    }
    let language = (!then.language.is_empty()).then(|| then.language.clone());
    if let Some(language) = &language
        && !(2..=3).contains(&language.len()) | !language.bytes().all(|byte| byte.is_ascii_lowercase())
    {
        problems.push(Problem::of(
            rule,
            "then.language",
            format!("{:?} is not an ISO 639-1 code such as \"es\"", truncated(language)),
        ));
    }
    let actions = Actions {
        priority: then.priority_adjustment,
        reason: if then.priority_reason.is_empty() { rule.to_owned() } else { then.priority_reason.clone() },
        queue: queue.or_else(|| department.clone()),
        department,
        skills,
        language,
        sla_policy,
        tags,
        actionable: then.actionable,
    };
    if *then == (v1::RuleActions { priority_reason: then.priority_reason.clone(), ..v1::RuleActions::default() }) {
        problems.push(Problem::of(rule, "then", "does nothing: give at least one action"));
    }
    actions
}

/// Compiles a condition, and checks on sample facts that it names only fields that exist and
/// yields a bool.
fn condition(env: &Env, rule: &str, when: &str, problems: &mut Vec<Problem>) -> Option<Program> {
    if when.trim().is_empty() {
        problems.push(Problem::of(
            rule,
            "when",
            "required: a CEL condition, e.g. customer.tier == \"vip\" (use \"true\" to always fire)",
        ));
        return None;
    }
    if when.len() > MAX_CONDITION_BYTES {
        problems.push(Problem::of(rule, "when", format!("{} bytes; at most {MAX_CONDITION_BYTES}", when.len())));
        return None;
    }
    let shape = shape(when);
    if shape.nesting > MAX_NESTING {
        problems.push(Problem::of(rule, "when", format!("nested deeper than {MAX_NESTING} brackets")));
        return None;
    }
    if shape.operators > MAX_OPERATORS {
        problems.push(Problem::of(
            rule,
            "when",
            format!("{} operators; at most {MAX_OPERATORS}: split the rule", shape.operators),
        ));
        return None;
    }
    let program = match env.compile(when) {
        Ok(program) => program,
        Err(errors) => {
            let first = errors.errors.first();
            let (line, column) = first.map_or((0, 0), |error| {
                (u32::try_from(error.pos.0).unwrap_or(0), u32::try_from(error.pos.1).unwrap_or(0).saturating_add(1))
            });
            // The parser quotes the input from where it gave up, which can be all of it.
            let message = short(first.map_or_else(|| errors.to_string(), |error| error.msg.clone()));
            problems.push(Problem { rule: rule.to_owned(), field: "when".into(), line, column, message });
            return None;
        }
    };
    // Two samples: a condition short-circuits over blank facts (`customer.linked && …`), so a
    // misspelt field after `&&` shows only on facts where everything holds.
    for facts in [Facts::sample_rich(), Facts::of(&v1::InteractionIdentified::default(), chrono::DateTime::UNIX_EPOCH)]
    {
        let root = cel::Context::with_env(environment());
        let scope = bind(&root, &facts);
        let problem = match program.execute(&scope) {
            Ok(Value::Bool(_)) => None,
            Ok(other) => Some(format!("yields {}, not a bool", type_name(&other))),
            Err(ExecutionError::UndeclaredReference(name)) => Some(format!(
                "{:?} is not known: conditions see interaction, enrichment, author, customer and now",
                truncated(&name)
            )),
            Err(ExecutionError::NoSuchKey(key)) => {
                Some(format!("no field {:?}: see docs/ROUTING.md for the fields", truncated(&key)))
            }
            // Other errors depend on the values (a division by zero): real facts may not cause them.
            Err(_) => None,
        };
        if let Some(message) = problem {
            problems.push(Problem::of(rule, "when", message));
            return None;
        }
    }
    Some(program)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Int(_) => "an int",
        Value::UInt(_) => "a uint",
        Value::Float(_) => "a double",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
        Value::Null => "null",
        _ => "a value",
    }
}
