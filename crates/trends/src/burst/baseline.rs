//! A topic's usual volume: posts per hour for each hour of the week, learned one completed hour
//! at a time. The learning rule and the expectation it gives live in
//! [`Detector`](super::Detector), which knows the tenant's zone and the configuration; this is
//! the data routing stores, one blob per topic.

use chrono::{DateTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::Error;
use super::time::{SLOTS, slot_index};

/// The weekly baseline of one topic: for each of the 168 local hours of the week (weekday ×
/// hour) an exponentially weighted mean of posts per hour and how many weeks it has seen, plus
/// the last hour folded (so folding is idempotent).
///
/// Serialised as `{"m":[168 means],"n":[168 counts],"last":unix seconds|null}`: 168 `f32` and
/// 168 `u8`, 848 bytes of numbers (so under 1 KB in a binary encoding); about 1.25 KB as JSON
/// for a learned topic, 1 KB for a new one. Deserialising checks the lengths and that every
/// mean is a finite, non-negative number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BaselineBlob", into = "BaselineBlob")]
pub struct Baseline {
    /// Posts per hour, per slot (`weekday_from_monday * 24 + local hour`).
    pub(crate) means: [f32; SLOTS],
    /// Hours folded into each slot, saturating at 255.
    pub(crate) observations: [u8; SLOTS],
    /// Start of the last folded hour, in seconds since the epoch.
    pub(crate) last_folded: Option<i64>,
}

impl Default for Baseline {
    fn default() -> Self {
        Self::new()
    }
}

impl Baseline {
    /// An empty baseline, for a topic never seen before: until it learns, expectations come from
    /// [`DetectorConfig::floor_per_hour`](super::DetectorConfig::floor_per_hour).
    pub fn new() -> Self {
        Self { means: [0.0; SLOTS], observations: [0; SLOTS], last_folded: None }
    }

    /// Whether nothing has been folded yet (expectations are the new-topic prior).
    pub fn is_new(&self) -> bool {
        self.observations.iter().all(|&n| n == 0)
    }

    /// The start of the last hour folded, if any: what
    /// [`Detector::hours_to_fold`](super::Detector::hours_to_fold) continues from.
    pub fn last_folded(&self) -> Option<DateTime<Utc>> {
        self.last_folded.and_then(|secs| DateTime::from_timestamp(secs, 0))
    }

    /// The learned mean (posts per hour) and the number of hours folded for a weekday and local
    /// hour (0–23), before any blending or floor.
    pub fn slot(&self, weekday: Weekday, hour: u32) -> (f64, u8) {
        let slot = slot_index(weekday, hour);
        (f64::from(self.means[slot]), self.observations[slot])
    }

    /// The mean posts per hour over the slots that have observations, `None` for a new topic:
    /// what a slot with few observations is blended with.
    pub fn overall_mean(&self) -> Option<f64> {
        let mut sum = 0.0;
        let mut slots = 0_u32;
        for (mean, &n) in self.means.iter().zip(&self.observations) {
            if n > 0 {
                sum += f64::from(*mean);
                slots += 1;
            }
        }
        (slots > 0).then(|| sum / f64::from(slots))
    }
}

/// The serialised form of a [`Baseline`] (serde has no arrays of 168).
#[derive(Serialize, Deserialize)]
struct BaselineBlob {
    m: Vec<f32>,
    n: Vec<u8>,
    last: Option<i64>,
}

impl From<Baseline> for BaselineBlob {
    fn from(baseline: Baseline) -> Self {
        Self { m: baseline.means.to_vec(), n: baseline.observations.to_vec(), last: baseline.last_folded }
    }
}

impl TryFrom<BaselineBlob> for Baseline {
    type Error = Error;

    fn try_from(blob: BaselineBlob) -> Result<Self, Error> {
        let means: [f32; SLOTS] = blob
            .m
            .try_into()
            .map_err(|m: Vec<f32>| Error::InvalidBaseline(format!("{} means, expected {SLOTS}", m.len())))?;
        let observations: [u8; SLOTS] = blob
            .n
            .try_into()
            .map_err(|n: Vec<u8>| Error::InvalidBaseline(format!("{} counts, expected {SLOTS}", n.len())))?;
        if let Some(bad) = means.iter().find(|m| !m.is_finite() || **m < 0.0) {
            return Err(Error::InvalidBaseline(format!("mean {bad} is not a rate")));
        }
        Ok(Self { means, observations, last_folded: blob.last })
    }
}
