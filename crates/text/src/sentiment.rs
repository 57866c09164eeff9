//! The built-in, lexicon- and rule-based sentiment scorer (VADER-like, tuned for care posts).
//!
//! Each sentiment-bearing item (word, phrase, emoji, emoticon, hashtag, "3 hours" duration)
//! gets a valence on VADER's -4..4 scale, adjusted for ALL CAPS (+0.733 in mixed-case text),
//! elongation (+0.4), boosters and dampeners in the three tokens before it (±0.293, decaying),
//! and negation (×-0.74 when a negation precedes it within three tokens of the same clause
//! with no other lexicon word between). Items before the last "but" (or "pero", "mais",
//! "aber", "mas", "however") count half and items after it one and a half. `!` (up to four)
//! and repeated `?` add emphasis in the direction of the sum. The sum is squashed into [-1, 1]
//! with VADER's `x / sqrt(x² + 15)`.

use crate::lexicon::{self, B_INCR, Role};
use crate::normalize::{Kind, Token, Tokens};
use crate::rules::{self, SENTIMENT};
use crate::types::SentimentLabel;

/// Scores at or above this are positive (tuned on the dev split of the airline corpus).
pub const POSITIVE_THRESHOLD: f32 = 0.4;
/// Scores at or below this are negative (tuned on the dev split of the airline corpus).
pub const NEGATIVE_THRESHOLD: f32 = -0.05;

const CAPS_INCR: f32 = 0.733;
const ELONGATION_INCR: f32 = 0.4;
const NEGATION_SCALAR: f32 = -0.74;
const ALPHA: f32 = 15.0;
/// Valence of a negation with nothing to negate (care prior).
const NEGATION_PRIOR: f32 = -0.6;
/// Scale of thanks in requests and complaints.
const POLITE_SCALAR: f32 = 0.35;

/// One scored item: token span (inclusive) and its adjusted valence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    pub first: u32,
    pub last: u32,
    pub weight: f32,
    /// Thanks-like: politeness in a request or complaint, not praise.
    pub polite: bool,
}

/// Words whose positive valence is mostly politeness.
fn is_polite(word: &str) -> bool {
    matches!(
        word,
        "thanks"
            | "thank"
            | "thx"
            | "thnx"
            | "thanx"
            | "ty"
            | "appreciate"
            | "appreciated"
            | "cheers"
            | "gracias"
            | "merci"
            | "danke"
            | "obrigado"
            | "obrigada"
            | "please"
            | "kindly"
    )
}

/// Reusable buffers for scoring.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub items: Vec<Item>,
    covered: Vec<bool>,
}

/// Map a score to a label.
pub fn label_for(score: f32) -> SentimentLabel {
    if score >= POSITIVE_THRESHOLD {
        SentimentLabel::Positive
    } else if score <= NEGATIVE_THRESHOLD {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

fn sign(v: f32) -> f32 {
    if v < 0.0 { -1.0 } else { 1.0 }
}

fn norm_text<'a>(norm: &'a str, t: &Token) -> &'a str {
    norm.get(t.start as usize..t.end as usize).unwrap_or("")
}

/// A word that names a brand mentioned in the same post ("@united ... United") carries no
/// sentiment.
fn is_brand(tok: &Tokens, t: &Token) -> bool {
    let word = tok.text(t);
    word.len() >= 4 && tok.tokens.iter().any(|m| m.kind == Kind::Mention && tok.text(m).starts_with(word))
}

/// Find the token whose normalised span starts at `start` (skipping empty tokens).
fn token_starting_at(tokens: &[Token], start: usize) -> Option<usize> {
    let idx = tokens.partition_point(|t| (t.start as usize) < start);
    tokens[idx..]
        .iter()
        .position(|t| t.start != t.end)
        .map(|off| idx + off)
        .filter(|&i| tokens[i].start as usize == start)
}

/// Find the token whose normalised span ends at `end` (skipping empty tokens).
fn token_ending_at(tokens: &[Token], end: usize) -> Option<usize> {
    let idx = tokens.partition_point(|t| (t.end as usize) < end);
    tokens[idx..].iter().position(|t| t.start != t.end).map(|off| idx + off).filter(|&i| tokens[i].end as usize == end)
}

/// Score tokenised text; fills `scratch.items` with the items behind the score.
pub(crate) fn score(tok: &mut Tokens, scratch: &mut Scratch) -> f32 {
    let n = tok.tokens.len();
    scratch.items.clear();
    scratch.covered.clear();
    scratch.covered.resize(n, false);
    let mixed_case = tok.has_lower && tok.has_upper;

    // Phrases first; words inside them get no valence of their own.
    {
        let tokens = &tok.tokens;
        let items = &mut scratch.items;
        let covered = &mut scratch.covered;
        let norm = tok.norm.as_str();
        SENTIMENT.for_each_match(&tok.norm, |s, e, &w| {
            let (Some(first), Some(last)) = (token_starting_at(tokens, s), token_ending_at(tokens, e)) else {
                return;
            };
            for c in covered.iter_mut().take(last + 1).skip(first) {
                *c = true;
            }
            if w == 0.0 {
                return;
            }
            let mut v = w;
            if mixed_case && tokens[first..=last].iter().any(|t| t.caps) {
                v += sign(v) * CAPS_INCR;
            }
            let polite = tokens.get(first).is_some_and(|t| is_polite(norm_text(norm, t)));
            items.push(Item { first: first as u32, last: last as u32, weight: v, polite });
        });
    }

    let mut contrast_at: Option<usize> = None;
    let mut sarcastic = false;
    for i in 0..n {
        let t = tok.tokens[i];
        if scratch.covered[i] {
            continue;
        }
        let mut last = i;
        let base = match t.kind {
            Kind::Word if is_brand(tok, &t) => 0.0,
            Kind::Word => match tok.lookup(&t, lexicon::role) {
                Some(Role::Valence(v)) => v,
                Some(Role::Contrast) => {
                    contrast_at = Some(i);
                    0.0
                }
                _ => 0.0,
            },
            Kind::Hashtag => {
                if matches!(tok.text(&t), "sarcasm" | "not" | "sarcastic") {
                    sarcastic = true;
                }
                match tok.lookup(&t, lexicon::role) {
                    Some(Role::Valence(v)) => v * 0.8,
                    _ => 0.0,
                }
            }
            Kind::Emoji => lexicon::emoji(t.ch),
            Kind::Emoticon => lexicon::emoticon(tok.text(&t)),
            Kind::Number => {
                // "3 hours", "45 min": waiting time is a strong care complaint cue.
                match tok.tokens.get(i + 1) {
                    Some(next) if next.kind == Kind::Word && rules::is_duration_unit(tok.text(next)) => {
                        last = i + 1;
                        scratch.covered[i + 1] = true;
                        -1.4
                    }
                    _ => 0.0,
                }
            }
            _ => 0.0,
        };
        if base == 0.0 {
            continue;
        }
        let mut v = base;
        let s = sign(v);
        if t.caps && mixed_case {
            v += s * CAPS_INCR;
        }
        if t.elongated {
            v += s * ELONGATION_INCR;
        }
        let mut negated = false;
        if matches!(t.kind, Kind::Word | Kind::Hashtag) {
            let mut seen_word = false;
            for (dist, j) in (i.saturating_sub(3)..i).rev().enumerate() {
                let p = tok.tokens[j];
                if p.kind == Kind::Punct {
                    break;
                }
                if p.kind != Kind::Word {
                    continue;
                }
                match tok.lookup(&p, lexicon::role) {
                    Some(Role::Booster(b)) => {
                        let decay = [1.0, 0.95, 0.9][dist.min(2)];
                        let mut inc = B_INCR * b * decay;
                        if p.caps && mixed_case {
                            inc += CAPS_INCR * b.signum() * 0.5;
                        }
                        if p.elongated {
                            inc += B_INCR * b * 0.5;
                        }
                        v += s * inc;
                    }
                    Some(Role::Negation) if !seen_word && !scratch.covered[j] => negated = true,
                    Some(Role::Valence(_)) => seen_word = true,
                    _ => {}
                }
            }
        }
        if negated {
            v *= NEGATION_SCALAR;
        }
        let polite = t.kind == Kind::Word && is_polite(tok.text(&t));
        scratch.items.push(Item { first: i as u32, last: last as u32, weight: v, polite });
    }

    // Care prior: a negation with no sentiment word in its scope ("didn't arrive", "can't
    // log in", "never got") is itself a mild complaint.
    for i in 0..n {
        let t = tok.tokens[i];
        if t.kind != Kind::Word || scratch.covered[i] || !matches!(lexicon::role(tok.text(&t)), Some(Role::Negation)) {
            continue;
        }
        let scope_end = (i + 3).min(n - 1);
        let has_target = scratch.items.iter().any(|it| (it.first as usize) > i && (it.first as usize) <= scope_end);
        if !has_target {
            scratch.items.push(Item { first: i as u32, last: i as u32, weight: NEGATION_PRIOR, polite: false });
        }
    }

    // Thanks in a request ("any update? thanks") or a complaint is politeness.
    let has_negative = scratch.items.iter().any(|it| it.weight < -0.5);
    if tok.questions > 0 || has_negative {
        for item in scratch.items.iter_mut().filter(|it| it.polite && it.weight > 0.0) {
            item.weight *= POLITE_SCALAR;
        }
    }

    let mut sum = 0.0f32;
    for item in &mut scratch.items {
        if let Some(c) = contrast_at {
            if (item.last as usize) < c {
                item.weight *= 0.5;
            } else if (item.first as usize) > c {
                item.weight *= 1.5;
            }
        }
        sum += item.weight;
    }
    if sarcastic && sum > 0.0 {
        sum = -sum;
    }
    if sum != 0.0 {
        let exclaim = tok.exclamations.min(4) as f32 * 0.292;
        let question = if tok.questions > 1 { (tok.questions as f32 * 0.18).min(0.96) } else { 0.0 };
        sum += sign(sum) * (exclaim + question);
    }
    let compound = sum / (sum * sum + ALPHA).sqrt();
    if compound.is_finite() { compound.clamp(-1.0, 1.0) } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> f32 {
        let mut tok = Tokens::default();
        tok.fill(text, false);
        score(&mut tok, &mut Scratch::default())
    }

    #[test]
    fn negation_flips() {
        assert!(s("the service was good") > 0.2);
        assert!(s("the service was not good") < 0.0);
        assert!(s("it isn't bad at all") > 0.0);
    }

    #[test]
    fn emphasis_raises_intensity() {
        assert!(s("this is GOOD stuff") > s("this is good stuff"));
        assert!(s("this is goooood") > s("this is good"));
        assert!(s("great!!!") > s("great"));
        assert!(s("very bad") < s("bad"));
    }

    #[test]
    fn contrast_weights_later_clause() {
        assert!(s("the food was great but the service was terrible") < 0.0);
        assert!(s("the wait was terrible but the staff were great") > 0.0);
    }

    #[test]
    fn emoji_and_emoticons_count() {
        assert!(s("flight landed 😡") < 0.0);
        assert!(s("flight landed 😍") > 0.0);
        assert!(s("flight landed :(") < 0.0);
        assert!(s("flight landed :)") > 0.0);
    }

    #[test]
    fn care_cues_are_negative() {
        for text in [
            "still waiting for my refund",
            "3 hours on hold",
            "nobody answers the phone",
            "app still not working smh",
            "been waiting since monday, fix this",
            "no response from your team",
        ] {
            assert!(s(text) < -0.2, "{text}: {}", s(text));
        }
    }

    #[test]
    fn slang() {
        assert!(s("ty so much") > 0.3);
        assert!(s("wtf is this") < -0.3);
        assert!(s("ugh") < 0.0);
    }

    #[test]
    fn other_languages() {
        assert!(s("el servicio es pésimo") < -0.3);
        assert!(s("muchas gracias, excelente atención") > 0.3);
        assert!(s("service client nul") < -0.3);
        assert!(s("vielen Dank, super") > 0.3);
        assert!(s("atendimento péssimo") < -0.3);
    }
}
