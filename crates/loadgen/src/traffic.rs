//! The traffic: deterministic, realistic social care posts.
//!
//! Every post is a pure function of the seed, its index and the [`TrafficConfig`]: any caller can
//! generate post 123,456 without generating the ones before it, and the same seed gives the same
//! posts on every run (only the external ids carry a per-run prefix, so runs don't collide).

use std::fmt::Write as _;
use std::io::Write as _;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;
use std::time::SystemTime;

use anyhow::Context as _;
use serde::Serialize;
use tend_proto::v1;

use crate::rng::{Rng, mix};
use crate::text::{self, Language, Topic};

/// What a post is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A question ("how do I change the delivery address on order #…?").
    Question,
    /// A complaint, often with an order number.
    Complaint,
    /// A customer about to leave ("thinking of switching to …", "cancel my subscription").
    Churn,
    /// Thanks and praise.
    Praise,
    /// Spam and scams that mention the brand.
    Spam,
    /// A retweet or share of a viral complaint ("RT @someone: …").
    Repost,
    /// A near-duplicate of a viral complaint: the same text with small edits.
    NearDuplicate,
    /// The outage topic: "is the app down?". Most of the traffic during the burst.
    Outage,
}

impl Kind {
    /// Every kind, in the order of `--mix` weights.
    pub const ALL: [Kind; 8] = [
        Kind::Question,
        Kind::Complaint,
        Kind::Churn,
        Kind::Praise,
        Kind::Spam,
        Kind::Repost,
        Kind::NearDuplicate,
        Kind::Outage,
    ];

    /// Its name in `--mix` and in the report.
    pub fn name(self) -> &'static str {
        KIND_NAMES[Kind::ALL.iter().position(|kind| *kind == self).unwrap_or(0)]
    }
}

const KIND_NAMES: &[&str] = &["question", "complaint", "churn", "praise", "spam", "repost", "near_duplicate", "outage"];
const LANGUAGE_NAMES: &[&str] = &["en", "es", "fr", "de", "pt"];
const CHANNEL_NAMES: &[&str] = &["x", "facebook", "instagram", "email", "chat", "review"];
/// The channels, in the order of `--channels` weights.
pub const CHANNELS: [v1::Channel; 6] = [
    v1::Channel::X,
    v1::Channel::Facebook,
    v1::Channel::Instagram,
    v1::Channel::Email,
    v1::Channel::Chat,
    v1::Channel::Review,
];

/// The name of a channel as in `--channels` and in `tend identity import` handles (`x:jane`).
pub fn channel_name(channel: v1::Channel) -> &'static str {
    CHANNEL_NAMES[CHANNELS.iter().position(|c| *c == channel).unwrap_or(0)]
}

/// The names a set of weights is given for.
pub trait WeightNames {
    /// The names, in order.
    const NAMES: &'static [&'static str];
    /// The default weights, as written on the command line.
    const DEFAULT: &'static str;
}

/// Weights of post kinds (`--mix`).
#[derive(Debug, Clone, Copy)]
pub struct KindNames;
impl WeightNames for KindNames {
    const NAMES: &'static [&'static str] = KIND_NAMES;
    const DEFAULT: &'static str =
        "question=24,complaint=24,churn=8,praise=12,spam=8,repost=10,near_duplicate=8,outage=6";
}

/// Weights of languages (`--languages`).
#[derive(Debug, Clone, Copy)]
pub struct LanguageNames;
impl WeightNames for LanguageNames {
    const NAMES: &'static [&'static str] = LANGUAGE_NAMES;
    const DEFAULT: &'static str = "en=60,es=12,fr=10,de=10,pt=8";
}

/// Weights of channels (`--channels`).
#[derive(Debug, Clone, Copy)]
pub struct ChannelNames;
impl WeightNames for ChannelNames {
    const NAMES: &'static [&'static str] = CHANNEL_NAMES;
    const DEFAULT: &'static str = "x=40,facebook=15,instagram=15,email=12,chat=10,review=8";
}

/// Relative weights by name, written `name=weight,name=weight`; names left out keep their
/// default weight (`spam=0` turns spam off).
#[derive(Debug)]
pub struct Weights<N> {
    values: Vec<f64>,
    names: PhantomData<fn() -> N>,
}

impl<N> Clone for Weights<N> {
    fn clone(&self) -> Self {
        Weights { values: self.values.clone(), names: PhantomData }
    }
}

impl<N: WeightNames> Weights<N> {
    /// The weights, in the order of `N::NAMES`.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The share (0 to 1) of each name.
    pub fn shares(&self) -> Vec<f64> {
        let total: f64 = self.values.iter().sum();
        self.values.iter().map(|value| value / total).collect()
    }

    fn parse_over(mut values: Vec<f64>, text: &str) -> Result<Vec<f64>, String> {
        for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let (name, weight) =
                part.split_once('=').ok_or_else(|| format!("{part:?}: write name=weight, e.g. {}", N::DEFAULT))?;
            let index = N::NAMES
                .iter()
                .position(|known| known.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| format!("unknown name {name:?} (known: {})", N::NAMES.join(", ")))?;
            let weight: f64 = weight.trim().parse().map_err(|_| format!("{part:?}: the weight must be a number"))?;
            if !weight.is_finite() || weight < 0.0 {
                return Err(format!("{part:?}: the weight must be 0 or more"));
            }
            values[index] = weight;
        }
        Ok(values)
    }
}

impl<N: WeightNames> Default for Weights<N> {
    fn default() -> Self {
        #[allow(clippy::expect_used)] // the defaults are constants, checked by a test
        let values = Self::parse_over(vec![0.0; N::NAMES.len()], N::DEFAULT).expect("default weights parse");
        Weights { values, names: PhantomData }
    }
}

impl<N: WeightNames> FromStr for Weights<N> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let values = Self::parse_over(Weights::<N>::default().values, text)?;
        if values.iter().all(|value| *value == 0.0) {
            return Err("at least one weight must be above 0".to_owned());
        }
        Ok(Weights { values, names: PhantomData })
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// Everything follows from it.
    pub seed: u64,
    /// The brand the posts talk to and about.
    pub brand: String,
    /// How many distinct authors write the posts (a few write many: the choice is skewed).
    pub authors: u64,
    /// Share of authors who are known customers (listed in the CRM file).
    pub known_share: f64,
    /// Kinds of post, outside the burst.
    pub kinds: Weights<KindNames>,
    /// Languages.
    pub languages: Weights<LanguageNames>,
    /// Channels (reposts and near-duplicates keep to the social channels).
    pub channels: Weights<ChannelNames>,
    /// Post indices of the burst on the outage topic, if any.
    pub burst: Option<Range<u64>>,
    /// Share of the burst's posts that are on the outage topic.
    pub burst_share: f64,
    /// Share of posts that are exact redeliveries of an earlier post (same channel and id).
    pub duplicate_rate: f64,
    /// A redelivery repeats a post at least this many posts earlier (so the original has been
    /// acknowledged by the time it is sent).
    pub duplicate_lag: u64,
    /// External ids are `<prefix>-<index>`.
    pub id_prefix: String,
}

impl TrafficConfig {
    /// The defaults of `tend loadgen` with a seed and id prefix.
    pub fn new(seed: u64, id_prefix: impl Into<String>) -> Self {
        TrafficConfig {
            seed,
            brand: "Acme".to_owned(),
            authors: 20_000,
            known_share: 0.3,
            kinds: Weights::default(),
            languages: Weights::default(),
            channels: Weights::default(),
            burst: None,
            burst_share: 0.7,
            duplicate_rate: 0.0,
            duplicate_lag: 1_000,
            id_prefix: id_prefix.into(),
        }
    }
}

/// Who writes a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    /// The author's number in the population (stable for a seed).
    pub index: u64,
    /// Given name as shown (may have accents).
    pub given_name: &'static str,
    /// Family name as shown.
    pub family_name: &'static str,
    /// Handle on the social channels, unique in the population, without "@".
    pub handle: String,
    /// Email address (the CRM's for known customers).
    pub email: String,
    /// Followers on the social channels: long-tailed, a few influencers have hundreds of thousands.
    pub followers: u64,
    /// Marked verified by the channel.
    pub verified: bool,
    /// Listed in the CRM file (`--write-crm`): a known customer.
    pub known: bool,
    /// "City, Country", or empty.
    pub location: String,
}

impl Author {
    /// At least this many followers makes an influencer.
    pub const INFLUENCER_FOLLOWERS: u64 = 10_000;

    /// The author's id on a channel: stable, distinct per channel.
    pub fn external_id(&self, seed: u64, channel: v1::Channel) -> String {
        let number = mix(seed ^ mix(self.index.wrapping_add(0xA5A5))) % 1_000_000_000_000_000;
        match channel {
            v1::Channel::Email => self.email.clone(),
            v1::Channel::Facebook => format!("fb{number}"),
            v1::Channel::Instagram => format!("ig{number}"),
            v1::Channel::Chat => format!("chat-{number}"),
            v1::Channel::Review => format!("rv-{number}"),
            _ => number.to_string(),
        }
    }

    /// True for an influencer.
    pub fn is_influencer(&self) -> bool {
        self.followers >= Self::INFLUENCER_FOLLOWERS
    }
}

/// One generated post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Its number in the run (0-based); the external id ends with it, unless it is a redelivery.
    pub index: u64,
    /// Set when this post is an exact redelivery of an earlier post (that post's index).
    pub redelivery_of: Option<u64>,
    /// What it is.
    pub kind: Kind,
    /// Its language.
    pub language: Language,
    /// Where it comes from.
    pub channel: v1::Channel,
    /// Inside the burst window.
    pub in_burst: bool,
    /// For reposts and near-duplicates: which viral post it copies (0 to 4; 5 is the outage's).
    pub copy_of: Option<usize>,
    /// Who wrote it.
    pub author: Author,
    /// The channel's id of the post.
    pub external_id: String,
    /// The text.
    pub text: String,
}

impl Post {
    /// The ingest request for this post.
    pub fn request(&self, seed: u64, posted_at: Option<SystemTime>) -> v1::IngestInteractionRequest {
        let social = matches!(self.channel, v1::Channel::X | v1::Channel::Facebook | v1::Channel::Instagram);
        let email = match self.channel {
            v1::Channel::Email => self.author.email.clone(),
            v1::Channel::Chat if self.author.index.is_multiple_of(2) => self.author.email.clone(),
            _ => String::new(),
        };
        let display_name = if self.author.index.is_multiple_of(3) {
            self.author.given_name.to_owned()
        } else {
            format!("{} {}", self.author.given_name, self.author.family_name)
        };
        let url = match self.channel {
            v1::Channel::X => format!("https://x.example/{}/status/{}", self.author.handle, self.external_id),
            _ => String::new(),
        };
        v1::IngestInteractionRequest {
            channel: self.channel.into(),
            external_id: self.external_id.clone(),
            author: Some(v1::Author {
                external_id: self.author.external_id(seed, self.channel),
                handle: if social { self.author.handle.clone() } else { String::new() },
                display_name,
                followers: if social { self.author.followers } else { 0 },
                verified: social && self.author.verified,
                email,
                location: if social { self.author.location.clone() } else { String::new() },
            }),
            text: self.text.clone(),
            posted_at: posted_at.map(tend_proto::Timestamp::from),
            in_reply_to_external_id: String::new(),
            url,
            ..Default::default()
        }
    }
}

/// A viral post others copy.
#[derive(Debug, Clone)]
struct Viral {
    author: Author,
    language: Language,
    text: String,
}

/// How many viral complaints there are (plus one on the outage).
pub const VIRAL_COMPLAINTS: usize = 5;
const VIRAL_WEIGHTS: [f64; VIRAL_COMPLAINTS] = [8.0, 4.0, 2.0, 1.0, 1.0];

const STREAM_POST: u64 = 1;
const STREAM_AUTHOR: u64 = 2;
const STREAM_VIRAL: u64 = 3;
const STREAM_DUPLICATE: u64 = 4;

/// The generator.
#[derive(Debug, Clone)]
pub struct Traffic {
    config: TrafficConfig,
    virals: Vec<Viral>,
    step: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Traffic {
    /// A generator for `config`.
    pub fn new(mut config: TrafficConfig) -> Self {
        config.authors = config.authors.max(1);
        // A multiplier coprime with the population: spreads the busiest authors over it.
        let mut step = ((config.authors as f64 * 0.618_033_988_7) as u64) | 1;
        while gcd(step, config.authors) != 1 {
            step += 1;
        }
        let mut traffic = Traffic { config, virals: Vec::new(), step };
        traffic.virals = (0..=VIRAL_COMPLAINTS).map(|v| traffic.viral(v)).collect();
        traffic
    }

    /// The configuration.
    pub fn config(&self) -> &TrafficConfig {
        &self.config
    }

    /// The texts of the viral posts the copies are made from (the last is the outage's).
    pub fn viral_texts(&self) -> Vec<&str> {
        self.virals.iter().map(|viral| viral.text.as_str()).collect()
    }

    /// Author `index` of the population (indices past `authors` are the viral posts' authors).
    pub fn author(&self, index: u64) -> Author {
        let mut rng = Rng::derive(self.config.seed, STREAM_AUTHOR, index);
        let (given_name, given) = *rng.pick(text::GIVEN_NAMES);
        let (family_name, family) = *rng.pick(text::FAMILY_NAMES);
        let handle = match rng.below(4) {
            0 => format!("{given}{family}_{index}"),
            1 => format!("{given}_{family}_{index}"),
            2 => format!("{family}{given}_{index}"),
            _ => format!("{given}.{index}"),
        };
        let viral = index >= self.config.authors;
        // Pareto(x_m = 20, alpha = 0.9): most have tens or hundreds, one in ~300 has 10,000 or
        // more, one in ~2,000 hundreds of thousands.
        let u = 1.0 - rng.unit();
        let mut followers = (20.0 / u.powf(1.0 / 0.9)).min(50_000_000.0) as u64;
        if viral {
            followers = rng.between(50_000, 3_000_000);
        }
        let verified = match followers {
            100_000.. => rng.chance(0.6),
            10_000.. => rng.chance(0.1),
            _ => rng.chance(0.002),
        };
        let known = !viral && rng.chance(self.config.known_share);
        let email = if known {
            format!("{given}.{family}{index}@example.com")
        } else {
            format!("{}@mail.example.net", handle.replace('.', "_"))
        };
        let home = Language::ALL[rng.weighted(self.config.languages.values())];
        let location = if rng.chance(0.6) {
            format!("{}, {}", rng.pick_str(text::cities(home)), text::region(home))
        } else {
            String::new()
        };
        Author { index, given_name, family_name, handle, email, followers, verified, known, location }
    }

    fn viral(&self, v: usize) -> Viral {
        let mut rng = Rng::derive(self.config.seed, STREAM_VIRAL, v as u64);
        let outage = v == VIRAL_COMPLAINTS;
        let language = match v {
            0..=2 => Language::En,
            3 => Language::Es,
            _ if outage => Language::En,
            _ => Language::ALL[rng.weighted(self.config.languages.values())],
        };
        let topic = if outage { Topic::Outage } else { Topic::Complaint };
        let template = rng.pick_str(text::templates(topic, language));
        let text = self.fill(template, language, &mut rng);
        Viral { author: self.author(self.config.authors + v as u64), language, text }
    }

    /// The post an index stands for: a redelivery of an earlier post, or an original.
    pub fn post(&self, index: u64) -> Post {
        let mut target = index;
        while let Some(earlier) = self.redelivery_target(target) {
            target = earlier;
        }
        let mut post = self.original(target);
        if target != index {
            post.redelivery_of = Some(target);
            post.index = index;
        }
        post
    }

    fn redelivery_target(&self, index: u64) -> Option<u64> {
        let lag = self.config.duplicate_lag.max(1);
        if self.config.duplicate_rate <= 0.0 || index <= lag {
            return None;
        }
        let mut rng = Rng::derive(self.config.seed, STREAM_DUPLICATE, index);
        if !rng.chance(self.config.duplicate_rate) {
            return None;
        }
        let room = (index - lag).min(1_000);
        Some(index - lag - rng.below(room))
    }

    fn pick_author(&self, rng: &mut Rng) -> Author {
        let authors = self.config.authors;
        let u = rng.unit();
        let rank = ((authors as f64) * u * u) as u64 % authors;
        self.author(rank.wrapping_mul(self.step) % authors)
    }

    fn pick_channel(&self, kind: Kind, rng: &mut Rng) -> v1::Channel {
        match kind {
            Kind::Repost => {
                if rng.chance(0.75) {
                    v1::Channel::X
                } else {
                    v1::Channel::Facebook
                }
            }
            Kind::NearDuplicate => CHANNELS[rng.weighted(&[6.0, 2.0, 2.0])],
            _ => CHANNELS[rng.weighted(self.config.channels.values())],
        }
    }

    /// Post `index` as first sent.
    fn original(&self, index: u64) -> Post {
        let config = &self.config;
        let mut rng = Rng::derive(config.seed, STREAM_POST, index);
        let in_burst = config.burst.as_ref().is_some_and(|burst| burst.contains(&index));
        let kind = if in_burst && rng.chance(config.burst_share) {
            Kind::Outage
        } else {
            Kind::ALL[rng.weighted(config.kinds.values())]
        };
        let mut language = Language::ALL[rng.weighted(config.languages.values())];
        let mut channel = self.pick_channel(kind, &mut rng);
        let author = self.pick_author(&mut rng);
        let mut copy_of = None;
        let text = match kind {
            Kind::NearDuplicate => {
                let v = rng.weighted(&VIRAL_WEIGHTS);
                copy_of = Some(v);
                language = self.virals[v].language;
                near_duplicate(&self.virals[v].text, &config.brand, &mut rng)
            }
            Kind::Repost => {
                let v = rng.weighted(&VIRAL_WEIGHTS);
                copy_of = Some(v);
                language = self.virals[v].language;
                self.repost(v, channel)
            }
            Kind::Outage if in_burst => {
                let outage = VIRAL_COMPLAINTS;
                match rng.weighted(&[0.6, 0.25, 0.15]) {
                    0 => self.fill(rng.pick_str(text::templates(Topic::Outage, language)), language, &mut rng),
                    1 => {
                        copy_of = Some(outage);
                        language = self.virals[outage].language;
                        channel = v1::Channel::X;
                        near_duplicate(&self.virals[outage].text, &config.brand, &mut rng)
                    }
                    _ => {
                        copy_of = Some(outage);
                        language = self.virals[outage].language;
                        channel = v1::Channel::X;
                        self.repost(outage, channel)
                    }
                }
            }
            _ => {
                let topic = match kind {
                    Kind::Question => Topic::Question,
                    Kind::Complaint => Topic::Complaint,
                    Kind::Churn => Topic::Churn,
                    Kind::Praise => Topic::Praise,
                    Kind::Spam => Topic::Spam,
                    _ => Topic::Outage,
                };
                let body = self.fill(rng.pick_str(text::templates(topic, language)), language, &mut rng);
                decorate(body, kind, language, channel, &author)
            }
        };
        Post {
            index,
            redelivery_of: None,
            kind,
            language,
            channel,
            in_burst,
            copy_of,
            author,
            external_id: format!("{}-{index}", config.id_prefix),
            text,
        }
    }

    fn repost(&self, v: usize, channel: v1::Channel) -> String {
        let viral = &self.virals[v];
        match channel {
            v1::Channel::X => format!("RT @{}: {}", viral.author.handle, viral.text),
            _ => format!("Sharing this 👇 \"{}\" (via {})", viral.text, viral.author.handle),
        }
    }

    fn fill(&self, template: &str, language: Language, rng: &mut Rng) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                return out;
            };
            match &after[..close] {
                "brand" => out.push_str(&self.config.brand),
                "order" => {
                    let _ = write!(out, "#{}", rng.between(1_000_000, 9_999_999));
                }
                "competitor" => out.push_str(rng.pick_str(text::COMPETITORS)),
                "days" => {
                    let _ = write!(out, "{}", rng.between(2, 21));
                }
                "amount" => {
                    let _ = write!(out, "{}.{:02}", rng.between(9, 299), rng.below(100));
                }
                "city" => out.push_str(rng.pick_str(text::cities(language))),
                "code" => {
                    for _ in 0..6 {
                        out.push(char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.below(32) as usize]));
                    }
                }
                other => {
                    out.push('{');
                    out.push_str(other);
                    out.push('}');
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Writes the known customers as a CSV file `tend identity import` reads
    /// (`crm_id,given_name,family_name,emails,handles`), and returns how many.
    pub fn write_crm(&self, path: &Path) -> anyhow::Result<u64> {
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut written = 0;
        writeln!(out, "crm_id,given_name,family_name,emails,handles")?;
        for index in 0..self.config.authors {
            let author = self.author(index);
            if !author.known {
                continue;
            }
            let handles = ["x", "instagram", "facebook"]
                .iter()
                .map(|channel| format!("{channel}:{}", author.handle))
                .collect::<Vec<_>>()
                .join(";");
            writeln!(
                out,
                "{},{},{},{},{}",
                csv_field(&format!("LG{index}")),
                csv_field(author.given_name),
                csv_field(author.family_name),
                csv_field(&author.email),
                csv_field(&handles)
            )?;
            written += 1;
        }
        out.flush().with_context(|| format!("cannot write {}", path.display()))?;
        Ok(written)
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// Channel conventions: emails are signed, reviews carry stars.
fn decorate(body: String, kind: Kind, language: Language, channel: v1::Channel, author: &Author) -> String {
    match channel {
        v1::Channel::Email if kind != Kind::Spam => {
            let sign_off = match language {
                Language::En => "Thanks,",
                Language::Es => "Gracias,",
                Language::Fr => "Merci,",
                Language::De => "Danke,",
                Language::Pt => "Obrigado,",
            };
            format!("{body}\n\n{sign_off}\n{}", author.given_name)
        }
        v1::Channel::Review => {
            let stars = match kind {
                Kind::Praise => "★★★★★",
                Kind::Question => "★★★☆☆",
                Kind::Spam => "★★★★★",
                _ => "★☆☆☆☆",
            };
            format!("{stars} {body}")
        }
        _ => body,
    }
}

/// The viral text with one to three small edits (an added word or emoji, a dropped word,
/// punctuation, a mention).
fn near_duplicate(original: &str, brand: &str, rng: &mut Rng) -> String {
    let mut copy = original.to_owned();
    let edits = rng.between(1, 3);
    let mut changed = false;
    for _ in 0..edits {
        match rng.below(6) {
            0 => copy.push_str(rng.pick_str(text::SUFFIXES)),
            1 => copy.insert_str(0, rng.pick_str(text::PREFIXES)),
            2 => {
                let words: Vec<&str> = copy.split(' ').collect();
                if words.len() > 5 {
                    let drop = rng.between(1, words.len() as u64 - 1) as usize;
                    copy = words
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != drop)
                        .map(|(_, w)| *w)
                        .collect::<Vec<_>>()
                        .join(" ");
                } else {
                    copy.push('!');
                }
            }
            3 => {
                if let Some(first) = copy.chars().next() {
                    let flipped: String = if first.is_uppercase() {
                        first.to_lowercase().collect()
                    } else {
                        first.to_uppercase().collect()
                    };
                    if flipped == first.to_string() {
                        copy.push('.');
                    } else {
                        copy.replace_range(..first.len_utf8(), &flipped);
                    }
                }
            }
            4 => {
                if copy.ends_with(['.', '!', '?']) {
                    copy.pop();
                } else {
                    copy.push('.');
                }
            }
            _ => copy = format!("@{brand} {copy}"),
        }
        changed |= copy != original;
    }
    if !changed || copy == original {
        copy.push_str(" !");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(seed: u64) -> Traffic {
        let mut config = TrafficConfig::new(seed, "t");
        config.burst = Some(4_000..7_000);
        config.authors = 5_000;
        Traffic::new(config)
    }

    fn levenshtein(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut previous: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut current = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                current[j + 1] = (previous[j] + usize::from(ca != cb)).min(previous[j + 1] + 1).min(current[j] + 1);
            }
            previous = current;
        }
        previous[b.len()]
    }

    #[test]
    fn default_weights_parse() {
        assert_eq!(Weights::<KindNames>::default().values().len(), Kind::ALL.len());
        assert_eq!(Weights::<LanguageNames>::default().values().len(), Language::ALL.len());
        assert_eq!(Weights::<ChannelNames>::default().values().len(), CHANNELS.len());
        let mix: Weights<KindNames> = "spam=0, question=50".parse().unwrap();
        assert_eq!(mix.values()[4], 0.0);
        assert_eq!(mix.values()[0], 50.0);
        assert_eq!(mix.values()[1], 24.0, "names left out keep their default");
        assert!("nonsense=1".parse::<Weights<KindNames>>().is_err());
        assert!("spam=-1".parse::<Weights<KindNames>>().is_err());
        assert!("en".parse::<Weights<LanguageNames>>().is_err());
        assert!("en=0,es=0,fr=0,de=0,pt=0".parse::<Weights<LanguageNames>>().is_err());
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = traffic(42);
        let b = traffic(42);
        let c = traffic(43);
        for index in [0, 1, 2, 999, 4_500, 12_345] {
            assert_eq!(a.post(index), b.post(index));
        }
        let differ = (0..100).filter(|index| a.post(*index).text != c.post(*index).text).count();
        assert!(differ > 80, "another seed gives other posts ({differ} of 100 differ)");
        // Order of generation does not matter.
        let forwards: Vec<Post> = (0..50).map(|i| a.post(i)).collect();
        let backwards: Vec<Post> = (0..50).rev().map(|i| b.post(i)).collect();
        assert!(forwards.iter().eq(backwards.iter().rev()));
    }

    #[test]
    fn external_ids_unique_without_duplicates() {
        let traffic = traffic(1);
        let ids: std::collections::HashSet<String> = (0..10_000).map(|i| traffic.post(i).external_id).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn mix_roughly_as_configured() {
        let traffic = traffic(7); // burst at 4,000..7,000: look outside it
        let n = 40_000u64;
        let posts: Vec<Post> = (10_000..10_000 + n).map(|i| traffic.post(i)).collect();
        let config = traffic.config();
        for (kind, share) in Kind::ALL.iter().zip(config.kinds.shares()) {
            let seen = posts.iter().filter(|post| post.kind == *kind).count() as f64 / n as f64;
            assert!((seen - share).abs() < 0.01, "{kind:?}: {seen} vs {share}");
        }
        // Languages: copies take their viral's language, so look at the rest.
        let own: Vec<&Post> = posts.iter().filter(|post| post.copy_of.is_none()).collect();
        for (language, share) in Language::ALL.iter().zip(config.languages.shares()) {
            let seen = own.iter().filter(|post| post.language == *language).count() as f64 / own.len() as f64;
            assert!((seen - share).abs() < 0.015, "{language:?}: {seen} vs {share}");
        }
        for (channel, share) in CHANNELS.iter().zip(config.channels.shares()) {
            let seen = own.iter().filter(|post| post.channel == *channel).count() as f64 / own.len() as f64;
            assert!((seen - share).abs() < 0.015, "{channel:?}: {seen} vs {share}");
        }
        // Known customers and influencers.
        let known = posts.iter().filter(|post| post.author.known).count() as f64 / n as f64;
        assert!((0.2..0.4).contains(&known), "known share {known}");
        let influencer = posts.iter().filter(|post| post.author.is_influencer()).count();
        assert!(influencer > 0 && (influencer as f64) < 0.05 * n as f64, "influencer posts {influencer}");
        assert!(posts.iter().any(|post| post.author.verified));
        // Several posts per author for some: the choice is skewed.
        let mut per_author = std::collections::HashMap::new();
        for post in &posts {
            *per_author.entry(post.author.index).or_insert(0u32) += 1;
        }
        assert!(per_author.values().copied().max().unwrap_or(0) > 20);
        // Order numbers, churn words, reposts.
        assert!(posts.iter().any(|post| post.text.contains("order #")));
        assert!(posts.iter().any(|post| post.text.contains("switching to")));
        assert!(posts.iter().any(|post| post.text.contains("cancel my subscription")));
        assert!(posts.iter().filter(|post| post.kind == Kind::Repost).any(|post| post.text.starts_with("RT @")));
    }

    #[test]
    fn mix_can_be_changed() {
        let mut config = TrafficConfig::new(3, "t");
        config.kinds =
            "question=1,complaint=0,churn=0,praise=0,spam=0,repost=0,near_duplicate=0,outage=0".parse().unwrap();
        config.channels = "email=1,x=0,facebook=0,instagram=0,chat=0,review=0".parse().unwrap();
        let traffic = Traffic::new(config);
        for index in 0..500 {
            let post = traffic.post(index);
            assert_eq!(post.kind, Kind::Question);
            assert_eq!(post.channel, v1::Channel::Email);
            let request = post.request(3, None);
            assert_eq!(request.author.unwrap().external_id, post.author.email);
        }
    }

    #[test]
    fn burst_present() {
        let traffic = traffic(11);
        let share = |range: Range<u64>| {
            let len = range.end - range.start;
            range.filter(|i| traffic.post(*i).kind == Kind::Outage).count() as f64 / len as f64
        };
        let inside = share(4_000..7_000);
        let before = share(0..3_000);
        let after = share(8_000..11_000);
        assert!(inside > 0.65, "outage share in the burst {inside}");
        assert!(before < 0.1 && after < 0.1, "outside {before} {after}");
        assert!((0..4_000).all(|i| !traffic.post(i).in_burst));
        assert!((4_000..7_000).all(|i| traffic.post(i).in_burst));
        // The burst carries copies of the outage's viral post too.
        let outage_copies = (4_000..7_000).filter(|i| traffic.post(*i).copy_of == Some(VIRAL_COMPLAINTS)).count();
        assert!(outage_copies > 300, "{outage_copies}");
    }

    #[test]
    fn near_duplicates_are_near() {
        let traffic = traffic(5);
        let virals = traffic.viral_texts();
        let mut seen = 0;
        for index in 0..20_000 {
            let post = traffic.post(index);
            let Some(v) = post.copy_of else { continue };
            let original = virals[v];
            if post.kind == Kind::Repost || post.text.starts_with("RT @") || post.text.starts_with("Sharing") {
                assert!(post.text.contains(original));
                continue;
            }
            seen += 1;
            assert_ne!(post.text, original, "a near-duplicate is not an exact copy");
            let distance = levenshtein(&post.text, original);
            let length = original.chars().count();
            assert!(
                distance <= 40 && distance * 2 < length,
                "{distance} edits of {length}: {:?} vs {original:?}",
                post.text
            );
        }
        assert!(seen > 1_000);
        // Few distinct virals: the copies cluster.
        assert_eq!(virals.len(), VIRAL_COMPLAINTS + 1);
    }

    #[test]
    fn redeliveries_repeat_an_earlier_post_exactly() {
        let mut config = TrafficConfig::new(9, "t");
        config.duplicate_rate = 0.1;
        config.duplicate_lag = 100;
        let traffic = Traffic::new(config);
        let mut redeliveries = 0;
        for index in 0..5_000 {
            let post = traffic.post(index);
            if let Some(earlier) = post.redelivery_of {
                redeliveries += 1;
                assert!(earlier + 100 <= index);
                let original = traffic.post(earlier);
                assert!(original.redelivery_of.is_none());
                assert_eq!(original.external_id, post.external_id);
                assert_eq!(original.text, post.text);
                assert_eq!(original.request(9, None), post.request(9, None));
            } else {
                assert_eq!(post.external_id, format!("t-{index}"));
            }
        }
        let share = f64::from(redeliveries) / 4_900.0;
        assert!((0.07..0.13).contains(&share), "{share}");
    }

    #[test]
    fn crm_lists_the_known_authors_in_import_format() {
        let mut config = TrafficConfig::new(2, "t");
        config.authors = 1_000;
        let traffic = Traffic::new(config);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.csv");
        let written = traffic.write_crm(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("crm_id,given_name,family_name,emails,handles"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len() as u64, written);
        assert!((200..400).contains(&written), "{written}");
        let known: Vec<Author> = (0..1_000).map(|i| traffic.author(i)).filter(|a| a.known).collect();
        assert_eq!(known.len() as u64, written);
        let first = &known[0];
        assert!(rows[0].contains(&format!("x:{}", first.handle)), "{}", rows[0]);
        assert!(rows[0].contains(&first.email));
        // Posts by a known author carry the handle and email the CRM has.
        let post = (0..5_000).map(|i| traffic.post(i)).find(|p| p.author.known && p.channel == v1::Channel::X).unwrap();
        let author = post.request(2, None).author.unwrap();
        assert!(text.contains(&format!("x:{}", author.handle)));
    }

    #[test]
    fn handles_are_unique() {
        let traffic = traffic(4);
        let handles: std::collections::HashSet<String> = (0..5_010).map(|i| traffic.author(i).handle).collect();
        assert_eq!(handles.len(), 5_010);
    }
}
