//! Customer scope expressions: which customers an incident's proactive notice concerns.
//!
//! A scope is a CEL condition over the variable `customer`, in the language routing's rules
//! are written in and with the same names for the fields they share (`customer.segment`,
//! `customer.tier`, `customer.lifetime_value`, `customer.orders`, `customer.total_spent`,
//! `customer.days_since_last_order`, `customer.id`), plus what a notice is scoped by:
//! `customer.region`, `customer.country` and `customer.attributes` (the CRM's free attributes, a
//! map of strings). [`Scope::compile`] checks an expression once (size, nesting, syntax, the
//! fields it names, that it yields a bool); [`Scope::matches`] evaluates it for one customer. An
//! evaluation that fails for a customer (an attribute they lack, a division by zero) leaves the
//! customer out: a notice goes only where the scope holds.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};

use cel::{Context, Env, ExecutionError, Program, Value};
use serde::Serialize;

/// Longest expression, in bytes.
pub const MAX_SCOPE_BYTES: usize = 4096;
/// Deepest nesting of brackets in an expression (a scope, a routing condition): CEL's parser
/// recurses per level and a deep enough input overflows its stack (cel-rust #212). Fuzzing found
/// 13 levels enough to overflow a 2 MiB thread's stack in a debug build.
pub const MAX_NESTING: usize = 8;
/// Most operators in an expression (`+`, `==`, `&&`, `!`, `.`, `(`, `?`, …, each counted once):
/// the parser nests a chain of them, and the interpreter and the tree's drop recurse through it;
/// fuzzing found `1 + 1 + …` of 64 terms enough to overflow a 2 MiB thread's stack in a debug
/// build.
pub const MAX_OPERATORS: usize = 48;

/// The fields of `customer` a scope may name.
pub const FIELDS: [&str; 10] = [
    "id",
    "segment",
    "tier",
    "lifetime_value",
    "orders",
    "total_spent",
    "days_since_last_order",
    "region",
    "country",
    "attributes",
];

/// `customer`: what a scope sees of one customer.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CustomerFacts {
    /// Tend's customer id.
    pub id: String,
    /// The CRM's segment.
    pub segment: String,
    /// The CRM's tier.
    pub tier: String,
    /// Lifetime value.
    pub lifetime_value: f64,
    /// Orders placed.
    pub orders: i64,
    /// Total spent.
    pub total_spent: f64,
    /// Days since the last order; -1 when unknown.
    pub days_since_last_order: i64,
    /// The postal address's region (state, county).
    pub region: String,
    /// The postal address's country.
    pub country: String,
    /// The CRM's free attributes.
    pub attributes: BTreeMap<String, String>,
}

/// Why an expression is not a scope: a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of a syntax error; 0 otherwise.
    pub line: u32,
    /// 1-based column of a syntax error; 0 otherwise.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for Problem {}

fn problem(message: impl Into<String>) -> Problem {
    Problem { line: 0, column: 0, message: message.into() }
}

/// A checked scope, ready to evaluate.
pub struct Scope {
    program: Program,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// The standard CEL environment, built once.
fn environment() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

/// A context built once per evaluation run: [`Scope::matches`] evaluates in a scope of it.
pub fn root() -> Context<'static, 'static> {
    Context::with_env(environment())
}

impl Scope {
    /// Checks and compiles `source`.
    pub fn compile(source: &str) -> Result<Scope, Problem> {
        let source = source.trim();
        if source.is_empty() {
            return Err(problem("required: a CEL condition over customer, e.g. customer.region == \"GB\""));
        }
        if source.len() > MAX_SCOPE_BYTES {
            return Err(problem(format!("{} bytes; at most {MAX_SCOPE_BYTES}", source.len())));
        }
        let shape = shape(source);
        if shape.nesting > MAX_NESTING {
            return Err(problem(format!("nested deeper than {MAX_NESTING} brackets")));
        }
        if shape.operators > MAX_OPERATORS {
            return Err(problem(format!("{} operators; at most {MAX_OPERATORS}", shape.operators)));
        }
        let program = environment().compile(source).map_err(|errors| {
            let first = errors.errors.first();
            let (line, column) = first.map_or((0, 0), |error| {
                (u32::try_from(error.pos.0).unwrap_or(0), u32::try_from(error.pos.1).unwrap_or(0).saturating_add(1))
            });
            let message = short(first.map_or_else(|| errors.to_string(), |error| error.msg.clone()));
            Problem { line, column, message }
        })?;
        for name in named_fields(source) {
            if !FIELDS.contains(&name.as_str()) {
                return Err(problem(format!(
                    "customer has no field {name:?}: it has {}; free attributes are customer.attributes.<name>",
                    FIELDS.join(", ")
                )));
            }
        }
        let references = program.references();
        for variable in references.variables() {
            if variable != "customer" {
                return Err(problem(format!(
                    "{:?} is not known: a scope sees customer only",
                    short(variable.to_owned())
                )));
            }
        }
        // A sample customer with every field set: a scope must yield a bool on it (a missing
        // attribute is the only error a real customer may cause).
        let sample = CustomerFacts {
            id: "sample".into(),
            segment: "consumer".into(),
            tier: "gold".into(),
            lifetime_value: 100.0,
            orders: 1,
            total_spent: 100.0,
            days_since_last_order: 1,
            region: "north".into(),
            country: "GB".into(),
            attributes: BTreeMap::new(),
        };
        let scope = Scope { program };
        let root = root();
        match scope.evaluate(&root, &sample) {
            Ok(Value::Bool(_)) | Err(_) => Ok(scope),
            Ok(other) => Err(problem(format!("yields a {}, not a bool", type_name(&other)))),
        }
    }

    fn evaluate(&self, root: &Context<'_, '_>, customer: &CustomerFacts) -> Result<Value, ExecutionError> {
        let mut context = root.new_inner_scope();
        let value =
            cel::to_value(customer).map_err(|error| ExecutionError::function_error("customer", error.to_string()))?;
        context.add_variable_from_value("customer", value);
        self.program.execute(&context)
    }

    /// Whether the scope holds for `customer`; false when it cannot be evaluated for them.
    pub fn matches(&self, root: &Context<'_, '_>, customer: &CustomerFacts) -> bool {
        matches!(self.evaluate(root, customer), Ok(Value::Bool(true)))
    }
}

/// The names after `customer.` in `source`, outside string literals.
fn named_fields(source: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let code = without_strings(source);
    let mut rest = code.as_str();
    while let Some(at) = rest.find("customer") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "customer".len()..];
        rest = after;
        if before.is_some_and(|ch| ch.is_alphanumeric() || ch == '_' || ch == '.') {
            continue;
        }
        let after = after.trim_start();
        let Some(field) = after.strip_prefix('.') else { continue };
        let field: String = field.trim_start().chars().take_while(|ch| ch.is_alphanumeric() || *ch == '_').collect();
        if !field.is_empty() {
            names.insert(field);
        }
    }
    names
}

/// `source` with the content of its string literals blanked.
fn without_strings(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for ch in source.chars() {
        match quote {
            Some(open) => {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == open {
                    quote = None;
                    out.push(ch);
                    continue;
                }
                out.push(' ');
            }
            None => {
                if ch == '"' || ch == '\'' {
                    quote = Some(ch);
                }
                out.push(ch);
            }
        }
    }
    out
}

/// Longest message of the CEL parser a problem carries, in bytes.
pub const MAX_PARSER_MESSAGE: usize = 200;

/// `message` cut to [`MAX_PARSER_MESSAGE`] bytes on a character boundary, marked "…" when cut:
/// the parser quotes the input, which must not come back whole in an error.
pub fn short(mut message: String) -> String {
    if message.len() > MAX_PARSER_MESSAGE {
        let mut end = MAX_PARSER_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Int(_) | Value::UInt(_) => "number",
        Value::Float(_) => "number",
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Null => "null",
        _ => "value",
    }
}

/// How deep and how long an expression is.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The deepest nesting of (), [] and {}, inside string literals too.
    pub nesting: usize,
    /// Operators outside string literals: `&&`, `==`, `!`, `.`, `(` and the like each count one.
    pub operators: usize,
}

/// The [`Shape`] of `source`, to refuse before CEL parses it what would overflow the parser's
/// stack ([`MAX_NESTING`], [`MAX_OPERATORS`]). String literals are told apart as CEL reads them:
/// quoted with ' or ", tripled or not, raw (`r'…'`, no escapes) or not; what follows an unclosed
/// quote is all string.
pub fn shape(source: &str) -> Shape {
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut previous = ' ';
    let chars: Vec<char> = source.chars().collect();
    let mut at = 0;
    while at < chars.len() {
        let ch = chars[at];
        if ch == '"' || ch == '\'' {
            let raw = at > 0 && matches!(chars[at - 1], 'r' | 'R');
            let triple = chars.get(at + 1) == Some(&ch) && chars.get(at + 2) == Some(&ch);
            at += if triple { 3 } else { 1 };
            while at < chars.len() {
                // Brackets count inside strings too: CEL's lexer gives up on a string with a bad
                // escape and the parser reads on, nesting on each `{` it sees.
                match chars[at] {
                    '(' | '[' | '{' => {
                        depth += 1;
                        shape.nesting = shape.nesting.max(depth);
                    }
                    ')' | ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if chars[at] == '\\' && !raw {
                    at += 2;
                } else if chars[at] == ch
                    && (!triple || (chars.get(at + 1) == Some(&ch) && chars.get(at + 2) == Some(&ch)))
                {
                    at += if triple { 3 } else { 1 };
                    break;
                } else {
                    at += 1;
                }
            }
            previous = ' ';
            continue;
        }
        let operator = matches!(
            ch,
            '+' | '-' | '*' | '/' | '%' | '!' | '<' | '>' | '=' | '&' | '|' | '?' | ':' | '.' | '(' | '[' | '{'
        );
        // The second character of `&&`, `||`, `==`, `!=`, `<=`, `>=` is the same operator.
        let second = matches!((previous, ch), ('&', '&') | ('|', '|') | ('=' | '!' | '<' | '>', '='));
        if operator && !second {
            shape.operators += 1;
        }
        previous = if second { ' ' } else { ch };
        match ch {
            '(' | '[' | '{' => {
                depth += 1;
                shape.nesting = shape.nesting.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    shape
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape_counts_brackets_everywhere_and_operators_outside_strings() {
        use super::{Shape, shape};
        assert_eq!(shape("customer.tier == 'vip' && !x"), Shape { nesting: 0, operators: 4 });
        assert_eq!(shape("size([1, (2)]) >= 1 || a != b"), Shape { nesting: 3, operators: 6 });
        assert_eq!(shape("interaction.text.matches('(?i)(refund|chargeback)+')"), Shape { nesting: 2, operators: 3 });
        assert_eq!(shape(r#""a \" ((( + " + 'b'"#), Shape { nesting: 3, operators: 1 });
        // A raw string has no escapes: what follows it is not string.
        assert_eq!(shape(r"r'\' + ((1))"), Shape { nesting: 2, operators: 3 });
        // A triple-quoted string ends at the triple, not at a lone quote inside it.
        assert_eq!(shape("'''it's''' + (1 + 1)"), Shape { nesting: 1, operators: 3 });
        // An unclosed string runs to the end.
        assert_eq!(shape("1 + 'a ((( + +"), Shape { nesting: 3, operators: 1 });
    }

    use super::*;

    fn customer(region: &str, product: Option<&str>) -> CustomerFacts {
        let mut attributes = BTreeMap::new();
        if let Some(product) = product {
            attributes.insert("product".to_owned(), product.to_owned());
        }
        CustomerFacts { region: region.into(), segment: "consumer".into(), attributes, ..CustomerFacts::default() }
    }

    #[test]
    fn a_scope_holds_for_the_customers_it_names() {
        let scope = Scope::compile("customer.region == 'north' && customer.attributes.product == 'router-x'").unwrap();
        let root = root();
        assert!(scope.matches(&root, &customer("north", Some("router-x"))));
        assert!(!scope.matches(&root, &customer("south", Some("router-x"))));
        assert!(!scope.matches(&root, &customer("north", Some("other"))));
        // An attribute the customer lacks: out of scope, not an error.
        assert!(!scope.matches(&root, &customer("north", None)));
        let has = Scope::compile("has(customer.attributes.product) && customer.segment in ['consumer']").unwrap();
        assert!(has.matches(&root, &customer("x", Some("y"))));
        assert!(!has.matches(&root, &customer("x", None)));
    }

    #[test]
    fn bad_scopes_say_what_is_wrong() {
        let message = |source: &str| Scope::compile(source).unwrap_err().to_string();
        assert!(message("").contains("required"));
        assert!(
            message("customer.regoin == 'x'").contains("no field \"regoin\""),
            "{}",
            message("customer.regoin == 'x'")
        );
        assert!(message("interaction.text == 'x'").contains("not known"));
        assert!(message("customer.region").contains("not a bool"));
        assert!(message("customer.region == ").starts_with("line 1"));
        assert!(message(&"(".repeat(20)).contains("nested"));
        // A field name inside a string is not a field.
        assert!(Scope::compile("customer.region == 'customer.nope'").is_ok());
    }
}
