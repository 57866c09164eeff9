//! Fuzz target for CEL input (docs/FUZZING.md): any text as a rule's condition is compiled by
//! `RuleSet::compile` into a rule routing can run, or refused with problems naming the rule and
//! `when`; never a panic, and never a stack overflow (CEL's parser recurses, cel-rust #212).
//! A rule set that compiles is evaluated on facts, which must not panic either.
//!
//! Inputs are the conditions of `tests/__fuzz__/cel_condition/corpus/`, then random text, each
//! tried as it is and as a mutation of a corpus condition (CEL tokens spliced in, characters cut,
//! runs repeated), so that the random phase gets past the parser into type checks and
//! evaluation. Rule files (YAML, TOML, JSON) are fuzzed by the `tend` binary's tests.

use std::time::Duration;

use tend_proto::v1;
use tend_routing::rules::{self, Facts, RuleSet};

/// Random inputs after the corpus, unless `BOLERO_RANDOM_ITERATIONS` says otherwise.
const ITERATIONS: usize = 3_000;
/// And at most this long, unless `BOLERO_RANDOM_TEST_TIME_MS` says otherwise.
const TIME: Duration = Duration::from_secs(4);

/// CEL's pieces, and the facts conditions see.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "!",
    "-",
    "&&",
    "||",
    "==",
    "!=",
    "<",
    ">=",
    "+",
    "*",
    "/",
    "%",
    "?",
    ":",
    ".",
    ",",
    " in ",
    "'",
    "\"",
    "\\",
    "r'",
    "b'",
    "'''",
    "1",
    "0",
    "-9223372036854775808",
    "18446744073709551615u",
    "1e308",
    "0.0",
    "true",
    "null",
    "size(",
    "has(",
    "matches(",
    "contains(",
    "startsWith(",
    "exists(e, ",
    "all(x, ",
    "map(x, ",
    "filter(x, ",
    "duration('1h')",
    "timestamp('2026-01-01T00:00:00Z')",
    "int(",
    "string(",
    "double(",
    "interaction",
    "enrichment",
    "author",
    "customer",
    "now",
    ".text",
    ".channel",
    ".intents",
    ".topics",
    ".followers",
    ".tier",
    "'(a+)+$'",
    "'\\\\p{L}'",
    "\u{0}",
    "é",
];

/// The corpus files, sorted by name.
fn corpus() -> Vec<Vec<u8>> {
    tend_kernel::fuzz::corpus(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__/cel_condition/corpus"),
    )
}

/// A corpus condition with one to eight edits, as `input` says (each: what, where, value).
fn mutate(seeds: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let Some((&pick, edits)) = input.split_first() else {
        return seeds[0].clone();
    };
    let mut out = seeds[usize::from(pick) % seeds.len()].clone();
    for edit in edits.chunks_exact(3).take(1 + usize::from(pick >> 5)) {
        let [what, at, value] = [edit[0], edit[1], edit[2]];
        let at = usize::from(at) % (out.len() + 1);
        match what % 6 {
            0..=2 => {
                let token = TOKENS[usize::from(value) % TOKENS.len()];
                out.splice(at..at, token.bytes());
            }
            3 => {
                let end = (at + usize::from(value % 8)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                // A run repeated: long chains of operators, deep nesting.
                let end = (at + 3).min(out.len());
                let run = out[at..end].to_vec();
                for _ in 0..usize::from(value) {
                    out.splice(at..at, run.iter().copied());
                }
            }
            _ => {
                if let Some(byte) = out.get_mut(at) {
                    *byte = value;
                }
            }
        }
    }
    out
}

fn rule_set(when: &str) -> v1::RuleSet {
    let rule = v1::Rule {
        name: "fuzzed".into(),
        layer: v1::RuleLayer::Segment.into(),
        when: when.into(),
        then: Some(v1::RuleActions { priority_adjustment: 5, tags: vec!["fuzzed".into()], ..Default::default() }),
        ..Default::default()
    };
    v1::RuleSet { rules: vec![rule], description: String::new() }
}

fn check(when: &str, facts: &[Facts]) {
    match RuleSet::compile(1, &rule_set(when)) {
        Ok(compiled) => {
            assert_eq!(compiled.rules.len(), 1);
            let root = cel::Context::with_env(rules::environment());
            for facts in facts {
                let evaluation = rules::evaluate(&compiled, &root, facts);
                assert!(evaluation.fired.len() + evaluation.errors.len() <= 1, "{evaluation:?}");
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            for problem in &problems {
                assert_eq!((problem.rule.as_str(), problem.field.as_str()), ("fuzzed", "when"), "{problem}");
                // A problem quotes at most a short piece of the condition.
                assert!(problem.message.len() <= 1024, "{} bytes: {problem}", problem.message.len());
            }
        }
    }
}

#[test]
fn cel_condition() {
    let seeds = corpus();
    let facts = [Facts::sample_rich(), Facts::of(&v1::InteractionIdentified::default(), chrono::DateTime::UNIX_EPOCH)];
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        check(&String::from_utf8_lossy(input), &facts);
        check(&String::from_utf8_lossy(&mutate(&seeds, input)), &facts);
    });
}
