//! The analyser: one call that turns a post into an [`Enrichment`].

use std::cell::Cell;

use crate::classifier::{Classifier, Model, Prediction, Task};
use crate::error::Error;
use crate::intent::{self, LISTED, OTHER, PRESENT};
use crate::language;
use crate::minhash;
use crate::normalize::{Tokens, cap};
use crate::sentiment::{self, label_for};
use crate::topics::{self, TopicDictionary};
use crate::types::{
    ActionReason, Actionability, Channel, Cue, CueField, Enrichment, Input, Intent, IntentScore, LanguageSource,
    ModelsUsed, Sentiment, SentimentLabel,
};

/// Name recorded for the built-in analysers in [`ModelsUsed`] and [`Sentiment::model`].
pub const BUILTIN: &str = "builtin";

/// Most sentiment cues reported per text.
const MAX_SENTIMENT_CUES: usize = 6;
/// Most cues reported per intent.
const MAX_INTENT_CUES: usize = 3;

/// A tenant-trained model with the version string recorded in results.
#[derive(Debug, Clone)]
pub struct VersionedModel {
    /// Recorded in [`ModelsUsed`] (e.g. `"acme-sentiment-2026-03-01"`).
    pub version: String,
    /// The model.
    pub model: Model,
}

/// What an [`Analyzer`] knows about its tenant.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerConfig {
    /// Topics to find.
    pub topics: TopicDictionary,
    /// Replaces the built-in sentiment scorer (must be a [`Task::Sentiment`] model).
    pub sentiment_model: Option<VersionedModel>,
    /// Replaces the built-in intent rules (must be a [`Task::Intent`] model).
    pub intent_model: Option<VersionedModel>,
}

/// Enriches texts for one tenant. Cheap to share across threads (`&self` only).
#[derive(Debug, Clone, Default)]
pub struct Analyzer {
    config: AnalyzerConfig,
}

/// Buffers reused between calls on one thread.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub tokens: Tokens,
    pub sentiment: sentiment::Scratch,
    pub intent: intent::Scratch,
    pub minhash: minhash::Scratch,
}

thread_local! {
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
}

/// Run `f` with this thread's scratch buffers (a fresh set if they are in use or gone).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut scratch = SCRATCH.try_with(Cell::take).ok().flatten().unwrap_or_default();
    let out = f(&mut scratch);
    let _ = SCRATCH.try_with(|c| c.set(Some(scratch)));
    out
}

impl Analyzer {
    /// Build an analyser; fails if a model is given for the wrong task or with labels that
    /// are not sentiment labels.
    pub fn new(config: AnalyzerConfig) -> Result<Self, Error> {
        if let Some(m) = &config.sentiment_model {
            if m.model.task() != Task::Sentiment {
                return Err(Error::InvalidModel(format!("{} is not a sentiment model", m.version)));
            }
            if m.model.labels().iter().any(|l| SentimentLabel::parse(l).is_none()) {
                return Err(Error::InvalidModel(format!("{} has non-sentiment labels", m.version)));
            }
        }
        if let Some(m) = &config.intent_model
            && m.model.task() != Task::Intent
        {
            return Err(Error::InvalidModel(format!("{} is not an intent model", m.version)));
        }
        Ok(Analyzer { config })
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Enrich one text. Never fails and never panics: unreadable input gives `"und"` and
    /// neutral results.
    pub fn enrich(&self, input: &Input<'_>) -> Enrichment {
        let (text, truncated) = cap(input.text);
        with_scratch(|s| self.enrich_with(text, truncated, input, s))
    }

    fn enrich_with(&self, text: &str, truncated: bool, input: &Input<'_>, s: &mut Scratch) -> Enrichment {
        s.tokens.fill(text, input.channel == Channel::Email);
        let mut cues: Vec<Cue> = Vec::new();
        let span = |a: u32, b: u32| text.get(a as usize..b as usize).unwrap_or("").to_string();

        let language = language::detect(&s.tokens.lang_sample, input.language_hint);

        // Sentiment: built-in always (intents use it), replaced by the tenant model if any.
        let builtin_score = sentiment::score(&mut s.tokens, &mut s.sentiment);
        let (sentiment, sentiment_model) = match &self.config.sentiment_model {
            Some(m) => {
                let (probs, pred) = predict_full(&m.model, text);
                let p = |name: &str| {
                    m.model.labels().iter().position(|l| l == name).and_then(|i| probs.get(i)).copied().unwrap_or(0.0)
                };
                let score = (p("positive") - p("negative")).clamp(-1.0, 1.0);
                let label = SentimentLabel::parse(&pred.label).unwrap_or(SentimentLabel::Neutral);
                for mut c in pred.cues {
                    if label == SentimentLabel::Negative {
                        c.weight = -c.weight;
                    }
                    cues.push(c);
                }
                (Sentiment { score, label, model: m.version.clone() }, m.version.clone())
            }
            None => {
                let mut items = s.sentiment.items.clone();
                items.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
                for item in items.iter().take(MAX_SENTIMENT_CUES) {
                    let (Some(a), Some(b)) =
                        (s.tokens.tokens.get(item.first as usize), s.tokens.tokens.get(item.last as usize))
                    else {
                        continue;
                    };
                    cues.push(Cue {
                        field: CueField::Sentiment,
                        text: span(a.orig_start, b.orig_end),
                        weight: (item.weight / 4.0).clamp(-1.0, 1.0),
                    });
                }
                let label = label_for(builtin_score);
                (Sentiment { score: builtin_score, label, model: BUILTIN.to_string() }, BUILTIN.to_string())
            }
        };

        // Intents.
        let (intents, intent_model) = match &self.config.intent_model {
            Some(m) => {
                let (probs, pred) = predict_full(&m.model, text);
                cues.extend(pred.cues);
                let mut list: Vec<IntentScore> = m
                    .model
                    .labels()
                    .iter()
                    .zip(&probs)
                    .filter(|(_, p)| **p >= LISTED)
                    .map(|(l, p)| IntentScore { intent: Intent::from_label(l), score: *p })
                    .collect();
                list.sort_by(|a, b| b.score.total_cmp(&a.score));
                (list, m.version.clone())
            }
            None => {
                let scores = intent::score(&s.tokens, sentiment.score, input.channel, &mut s.intent);
                let mut list: Vec<IntentScore> = scores
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v >= LISTED)
                    .map(|(i, v)| IntentScore { intent: intent::intent_at(i), score: *v })
                    .collect();
                list.sort_by(|a, b| b.score.total_cmp(&a.score));
                for (idx, v) in scores.iter().enumerate() {
                    if idx == OTHER || *v < LISTED {
                        continue;
                    }
                    let mut ev: Vec<&intent::Evidence> = s.intent.evidence.iter().filter(|e| e.intent == idx).collect();
                    ev.sort_by(|a, b| b.weight.total_cmp(&a.weight));
                    for e in ev.into_iter().take(MAX_INTENT_CUES) {
                        let text = match e.rule {
                            Some(r) => r.to_string(),
                            None => span(e.orig_start, e.orig_end),
                        };
                        cues.push(Cue { field: CueField::Intent(intent::intent_at(idx)), text, weight: e.weight });
                    }
                }
                (list, BUILTIN.to_string())
            }
        };

        let score_of = |i: Intent| intents.iter().find(|x| x.intent == i).map_or(0.0, |x| x.score);
        let actionable = decide_action(
            [
                score_of(Intent::Question),
                score_of(Intent::Complaint),
                score_of(Intent::ChurnRisk),
                score_of(Intent::Praise),
                score_of(Intent::Spam),
            ],
            sentiment.score,
        );

        let hashtags = topics::hashtags(&s.tokens, text);
        let topics = self.config.topics.find(&s.tokens.norm);
        for t in &topics {
            for k in &t.keywords {
                cues.push(Cue { field: CueField::Topic, text: format!("{}: {k}", t.topic), weight: 1.0 });
            }
        }
        let entities = topics::entities(&s.tokens, text);
        for e in &entities {
            cues.push(Cue { field: CueField::Entity, text: span(e.start as u32, e.end as u32), weight: 1.0 });
        }
        if language.source == LanguageSource::Hint {
            cues.push(Cue { field: CueField::Language, text: "[language hint]".into(), weight: language.confidence });
        }
        let signature = minhash::signature(&s.tokens, &mut s.minhash);

        Enrichment {
            language,
            sentiment,
            intents,
            actionable,
            hashtags,
            topics,
            entities,
            signature,
            cues,
            models: ModelsUsed { sentiment: sentiment_model, intent: intent_model },
            truncated,
        }
    }
}

/// `[question, complaint, churn, praise, spam]` scores → actionability.
fn decide_action(s: [f32; 5], sentiment: f32) -> Actionability {
    let [q, c, ch, p, sp] = s;
    let (actionable, reason) = if ch >= PRESENT {
        (true, ActionReason::ChurnRisk)
    } else if sp >= PRESENT && sp >= c.max(q) {
        (false, ActionReason::Spam)
    } else if c >= PRESENT {
        (true, ActionReason::Complaint)
    } else if q >= PRESENT {
        (true, ActionReason::Question)
    } else if p >= PRESENT {
        (false, ActionReason::Praise)
    } else {
        (false, ActionReason::Chatter)
    };
    let testimonial_candidate = reason == ActionReason::Praise && p >= 0.6 && sentiment >= 0.4;
    Actionability { actionable, reason, testimonial_candidate }
}

/// Probabilities and the prediction in one pass.
fn predict_full(model: &Model, text: &str) -> (Vec<f32>, Prediction) {
    let pred = model.predict(text);
    let probs = model.probabilities(text);
    (probs, pred)
}

/// Score sentiment with the built-in scorer only (the fast path; no language, intents or
/// signature).
pub fn sentiment(text: &str) -> Sentiment {
    let (text, _) = cap(text);
    with_scratch(|s| {
        s.tokens.fill(text, false);
        let score = sentiment::score(&mut s.tokens, &mut s.sentiment);
        Sentiment { score, label: label_for(score), model: BUILTIN.to_string() }
    })
}

/// The built-in sentiment scorer as a [`Classifier`] (labels negative, neutral, positive).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSentiment;

impl Classifier for BuiltinSentiment {
    fn labels(&self) -> Vec<String> {
        ["negative", "neutral", "positive"].iter().map(|s| s.to_string()).collect()
    }

    fn classify(&self, text: &str) -> Prediction {
        let (text, _) = cap(text);
        with_scratch(|s| {
            s.tokens.fill(text, false);
            let score = sentiment::score(&mut s.tokens, &mut s.sentiment);
            let label = label_for(score);
            let mut items = s.sentiment.items.clone();
            items.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
            let cues = items
                .iter()
                .take(MAX_SENTIMENT_CUES)
                .filter_map(|item| {
                    let a = s.tokens.tokens.get(item.first as usize)?;
                    let b = s.tokens.tokens.get(item.last as usize)?;
                    Some(Cue {
                        field: CueField::Sentiment,
                        text: text.get(a.orig_start as usize..b.orig_end as usize)?.to_string(),
                        weight: (item.weight / 4.0).clamp(-1.0, 1.0),
                    })
                })
                .collect();
            Prediction { label: label.as_str().to_string(), score: score.abs(), cues }
        })
    }
}

/// The built-in intent rules as a [`Classifier`]: predicts the highest-scoring intent among
/// question, complaint, churn_risk, praise, spam and other.
#[derive(Debug, Clone, Default)]
pub struct BuiltinIntent {
    analyzer: Analyzer,
}

impl Classifier for BuiltinIntent {
    fn labels(&self) -> Vec<String> {
        Intent::BUILTIN.iter().map(|i| i.as_str().to_string()).collect()
    }

    fn classify(&self, text: &str) -> Prediction {
        let e = self.analyzer.enrich(&Input::new(text));
        let top = e.intents.first().cloned().unwrap_or(IntentScore { intent: Intent::Other, score: 1.0 });
        let cues = e.cues.into_iter().filter(|c| c.field == CueField::Intent(top.intent.clone())).collect();
        Prediction { label: top.intent.as_str().to_string(), score: top.score, cues }
    }
}

/// The built-in churn-risk detector as a binary [`Classifier`]: `churn` when the churn-risk
/// score is at least 0.5, else `not_churn`.
#[derive(Debug, Clone, Default)]
pub struct BuiltinChurn {
    analyzer: Analyzer,
}

impl Classifier for BuiltinChurn {
    fn labels(&self) -> Vec<String> {
        vec!["churn".to_string(), "not_churn".to_string()]
    }

    fn classify(&self, text: &str) -> Prediction {
        let e = self.analyzer.enrich(&Input::new(text));
        let score = e.intent_score(&Intent::ChurnRisk);
        let churn = score >= PRESENT;
        let cues = e.cues.into_iter().filter(|c| c.field == CueField::Intent(Intent::ChurnRisk)).collect();
        Prediction {
            label: if churn { "churn" } else { "not_churn" }.to_string(),
            score: if churn { score } else { 1.0 - score },
            cues,
        }
    }
}
