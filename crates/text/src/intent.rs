//! The built-in, rule-based intent scorer.
//!
//! Each intent collects evidence, each piece a weight in [0, 1], combined by noisy-or
//! (`1 - Π(1 - w)`), so several weak cues add up but never pass 1:
//! - **question**: a `?` (0.7), a question word opening a sentence (0.45), and question
//!   phrases ("can you", "any update", "alguien sabe", "est-ce que", "weiß jemand", ...).
//! - **complaint**: complaint phrases ("not working", "still waiting", "no funciona",
//!   "ne marche pas", "funktioniert nicht", "não chegou", ...) plus negative sentiment
//!   (its magnitude, from -0.15 down).
//! - **churn_risk**: leaving phrases in five languages ("switching to", "cancel my",
//!   "taking my business elsewhere", "me doy de baja", "je résilie", "ich kündige",
//!   "vou cancelar", ...). "switching to" next to "dark mode", "the app", "premium" and the
//!   like barely counts; phrases such as "never again" only count fully when the post is
//!   not positive; a joke marker ("jk", "lol", "haha", 😂) cuts churn to 40 %.
//! - **praise**: thanks and compliment phrases plus positive sentiment; "thanks in advance"
//!   and "thanks for nothing" are not praise, and praise is damped when a complaint is strong.
//! - **spam**: promo phrases ("dm for promo", "follow me", crypto words), links (more with
//!   promo words), many hashtags or mentions, long character runs; damped when the post is
//!   a real complaint or question.
//! - **other**: `1 - max(other scores)`.

use crate::normalize::{Kind, Tokens};
use crate::rules::{self, CANCEL, INTENT, NEEDS_NEGATIVE, SWITCH, Signal};
use crate::types::{Channel, Intent};

/// Scores at or above this count as present.
pub const PRESENT: f32 = 0.5;
/// Intents scoring below this are left out of the result.
pub const LISTED: f32 = 0.1;

/// One piece of evidence for an intent (token span in the input, weight).
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    pub intent: usize,
    pub orig_start: u32,
    pub orig_end: u32,
    /// A rule description used instead of the text span.
    pub rule: Option<&'static str>,
    pub weight: f32,
}

pub(crate) const QUESTION: usize = 0;
pub(crate) const COMPLAINT: usize = 1;
pub(crate) const CHURN: usize = 2;
pub(crate) const PRAISE: usize = 3;
pub(crate) const SPAM: usize = 4;
pub(crate) const OTHER: usize = 5;

/// The intent at an index.
pub(crate) fn intent_at(i: usize) -> Intent {
    Intent::BUILTIN.get(i).cloned().unwrap_or(Intent::Other)
}

/// Reusable buffers.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub evidence: Vec<Evidence>,
    matches: Vec<(usize, usize, rules::IntentRule)>,
}

fn noisy_or(acc: f32, w: f32) -> f32 {
    1.0 - (1.0 - acc) * (1.0 - w.clamp(0.0, 1.0))
}

/// Score the six built-in intents for tokenised text with a known sentiment score.
pub(crate) fn score(tok: &Tokens, sentiment: f32, channel: Channel, scratch: &mut Scratch) -> [f32; 6] {
    scratch.evidence.clear();
    scratch.matches.clear();
    let matches = &mut scratch.matches;
    INTENT.for_each_match(&tok.norm, |s, e, r| matches.push((s, e, *r)));

    let mut switch_guard = false;
    let mut cancel_guard = false;
    let mut joke = false;
    let mut praise_guard = false;
    for (_, _, r) in matches.iter() {
        match r.signal {
            Signal::SwitchGuard => switch_guard = true,
            Signal::CancelGuard => cancel_guard = true,
            Signal::Joke => joke = true,
            Signal::PraiseGuard => praise_guard = true,
            _ => {}
        }
    }
    joke |= tok.tokens.iter().any(|t| t.kind == Kind::Emoji && matches!(t.ch, '😂' | '🤣' | '😜' | '😝'));

    let mut scores = [0.0f32; 6];
    let span = |s: usize, e: usize| -> (u32, u32) {
        // Map normalised offsets back to input offsets through the tokens.
        let first = tok.tokens.iter().find(|t| t.start as usize == s && t.start != t.end);
        let last = tok.tokens.iter().find(|t| t.end as usize == e && t.start != t.end);
        match (first, last) {
            (Some(f), Some(l)) => (f.orig_start, l.orig_end),
            _ => (0, 0),
        }
    };

    for &(s, e, r) in matches.iter() {
        let idx = match r.signal {
            Signal::Question => QUESTION,
            Signal::Complaint => COMPLAINT,
            Signal::Churn => CHURN,
            Signal::Praise => PRAISE,
            Signal::Spam => SPAM,
            _ => continue,
        };
        let mut w = r.weight;
        if idx == CHURN {
            if r.flags & SWITCH != 0 && switch_guard {
                w *= 0.15;
            }
            if r.flags & CANCEL != 0 && cancel_guard {
                w *= 0.15;
            }
            if r.flags & NEEDS_NEGATIVE != 0 {
                if sentiment > 0.2 {
                    w *= 0.3;
                } else if sentiment > -0.05 {
                    w *= 0.75;
                }
            }
            if joke {
                w *= 0.4;
            }
        }
        if idx == PRAISE && praise_guard {
            w *= 0.2;
        }
        let (os, oe) = span(s, e);
        scores[idx] = noisy_or(scores[idx], w);
        scratch.evidence.push(Evidence { intent: idx, orig_start: os, orig_end: oe, rule: None, weight: w });
    }

    // Question marks and question words opening a sentence.
    if tok.questions > 0 {
        push_rule(scratch, &mut scores, QUESTION, "[question mark]", 0.7);
    }
    let mut sentence_start = true;
    let mut opener = None;
    for t in &tok.tokens {
        match t.kind {
            Kind::Punct => sentence_start = true,
            Kind::Mention | Kind::Url | Kind::Emoji | Kind::Emoticon => {}
            Kind::Word => {
                if sentence_start && opener.is_none() && rules::is_question_start(tok.text(t)) {
                    opener = Some((t.orig_start, t.orig_end));
                }
                sentence_start = false;
            }
            _ => sentence_start = false,
        }
    }
    if let Some((os, oe)) = opener {
        scores[QUESTION] = noisy_or(scores[QUESTION], 0.45);
        scratch.evidence.push(Evidence { intent: QUESTION, orig_start: os, orig_end: oe, rule: None, weight: 0.45 });
    }

    // Sentiment as evidence for complaint and praise.
    if sentiment <= -0.15 {
        push_rule(scratch, &mut scores, COMPLAINT, "[negative sentiment]", (-sentiment * 1.1).min(0.9));
    }
    if sentiment >= 0.25 && !praise_guard {
        push_rule(scratch, &mut scores, PRAISE, "[positive sentiment]", (sentiment * 0.9).min(0.85));
    }
    if scores[COMPLAINT] > 0.6 {
        scores[PRAISE] *= 0.4;
    }

    // Structural spam cues.
    let hashtags = tok.tokens.iter().filter(|t| t.kind == Kind::Hashtag).count();
    let mentions = tok.tokens.iter().filter(|t| t.kind == Kind::Mention).count();
    let emoji = tok.tokens.iter().filter(|t| t.kind == Kind::Emoji).count();
    let link_weight = match channel {
        Channel::Email | Channel::Review => 0.5,
        _ => 1.0,
    };
    if tok.urls > 0 {
        let promo = scores[SPAM] > 0.0;
        let w = if tok.urls >= 3 {
            0.5
        } else if promo {
            0.4
        } else {
            0.2
        };
        push_rule(scratch, &mut scores, SPAM, "[links]", w * link_weight);
    }
    if hashtags >= 5 {
        push_rule(scratch, &mut scores, SPAM, "[many hashtags]", 0.4);
    }
    if mentions >= 5 {
        push_rule(scratch, &mut scores, SPAM, "[many mentions]", 0.3);
    }
    if tok.max_char_run >= 8 {
        push_rule(scratch, &mut scores, SPAM, "[repeated characters]", 0.35);
    }
    if emoji >= 10 {
        push_rule(scratch, &mut scores, SPAM, "[many emoji]", 0.25);
    }
    if scores[COMPLAINT] > 0.6 || scores[CHURN] > 0.6 || scores[QUESTION] > 0.6 {
        scores[SPAM] *= 0.5;
    }

    let max = scores[..OTHER].iter().copied().fold(0.0f32, f32::max);
    scores[OTHER] = 1.0 - max;
    scores
}

fn push_rule(scratch: &mut Scratch, scores: &mut [f32; 6], idx: usize, rule: &'static str, w: f32) {
    scores[idx] = noisy_or(scores[idx], w);
    scratch.evidence.push(Evidence { intent: idx, orig_start: 0, orig_end: 0, rule: Some(rule), weight: w });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment;

    fn scores(text: &str) -> [f32; 6] {
        let mut tok = Tokens::default();
        tok.fill(text, false);
        let s = sentiment::score(&mut tok, &mut sentiment::Scratch::default());
        score(&tok, s, Channel::X, &mut Scratch::default())
    }

    #[test]
    fn churn_examples() {
        for text in [
            "thinking of switching to another carrier, your service is awful",
            "cancel my subscription today",
            "I'm done with you, taking my business elsewhere",
            "me doy de baja, pésimo servicio",
            "je vais résilier mon abonnement",
            "ich kündige meinen Vertrag",
            "vou cancelar minha assinatura",
        ] {
            assert!(scores(text)[CHURN] >= PRESENT, "{text}: {:?}", scores(text));
        }
        for text in ["switching to dark mode", "I will never again wait this long... jk love you"] {
            assert!(scores(text)[CHURN] < PRESENT, "{text}: {:?}", scores(text));
        }
    }

    #[test]
    fn question_complaint_praise_spam() {
        assert!(scores("how do I reset my password?")[QUESTION] >= PRESENT);
        assert!(scores("¿alguien sabe cuándo abren?")[QUESTION] >= PRESENT);
        assert!(scores("my order never arrived and nobody answers")[COMPLAINT] >= PRESENT);
        assert!(scores("la app no funciona desde ayer")[COMPLAINT] >= PRESENT);
        assert!(scores("thank you so much, great service!")[PRAISE] >= PRESENT);
        assert!(scores("merci beaucoup, service parfait")[PRAISE] >= PRESENT);
        assert!(scores("DM for promo 🚀 crypto 100x http://x.y follow me")[SPAM] >= PRESENT);
        assert!(scores("thanks for nothing, still broken")[PRAISE] < PRESENT);
    }
}
