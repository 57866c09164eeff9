//! `[cases]`: the service's timers (promises falling due, SLA clocks) and what they do, and the
//! bounds of `WatchCases`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate};

/// `[cases]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CasesConfig {
    /// How often the timers look for what fell due (one replica at a time does).
    #[serde(with = "humantime_serde")]
    pub timers_every: Duration,
    /// How long the replica running the timers holds its lease without renewing it: after it
    /// dies, another replica takes over within this.
    #[serde(with = "humantime_serde")]
    pub timers_lease: Duration,
    /// A promise is due soon (PROMISE_DUE_SOON) this long before its time.
    #[serde(with = "humantime_serde")]
    pub promise_warning: Duration,
    /// An overdue promise raises its case's priority by this much (at most to 100).
    pub overdue_priority_boost: u32,
    /// An SLA breach raises its case's priority by this much (at most to 100).
    pub breach_priority_boost: u32,
    /// An SLA breach also takes the case from its agent, back to the queue, for someone free to
    /// take it.
    pub breach_unassigns: bool,
    /// An interaction joins the case of the same thread, customer or profile changed within
    /// this long (reopening it if resolved) instead of opening another; `0s` (the default for
    /// now) opens a case for every interaction. Joining costs a change of the joined case per
    /// interaction and is not batched yet: under a flood of posts by the same authors it cuts
    /// the pipeline's rate to a fraction (measured: ~70 cases/s against ~2,800 without).
    #[serde(with = "humantime_serde")]
    pub attach_window: Duration,
    /// Most `WatchCases` streams open at once on one replica.
    pub max_watchers: usize,
    /// How often a watch that has caught up looks for new events.
    #[serde(with = "humantime_serde")]
    pub watch_poll: Duration,
    /// A watch whose filters left everything out for this long sends a heartbeat with its
    /// cursor.
    #[serde(with = "humantime_serde")]
    pub watch_heartbeat: Duration,
}

impl Default for CasesConfig {
    fn default() -> Self {
        Self {
            timers_every: Duration::from_secs(5),
            timers_lease: Duration::from_secs(30),
            promise_warning: Duration::from_secs(3600),
            overdue_priority_boost: 20,
            breach_priority_boost: 20,
            breach_unassigns: false,
            attach_window: Duration::ZERO,
            max_watchers: 256,
            watch_poll: Duration::from_millis(250),
            watch_heartbeat: Duration::from_secs(15),
        }
    }
}

impl Validate for CasesConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&self.timers_every) {
            return Err(ConfigError::invalid("cases.timers_every", "must be between 10ms and 1h"));
        }
        if self.timers_lease < self.timers_every * 2 {
            return Err(ConfigError::invalid(
                "cases.timers_lease",
                "must be at least twice cases.timers_every, so the holder renews it in time",
            ));
        }
        if self.promise_warning > Duration::from_secs(7 * 24 * 3600) {
            return Err(ConfigError::invalid("cases.promise_warning", "must be at most 7 days"));
        }
        if self.overdue_priority_boost > 100 {
            return Err(ConfigError::invalid("cases.overdue_priority_boost", "must be at most 100"));
        }
        if self.breach_priority_boost > 100 {
            return Err(ConfigError::invalid("cases.breach_priority_boost", "must be at most 100"));
        }
        if self.attach_window > Duration::from_secs(90 * 24 * 3600) {
            return Err(ConfigError::invalid("cases.attach_window", "must be at most 90 days"));
        }
        if !(1..=10_000).contains(&self.max_watchers) {
            return Err(ConfigError::invalid("cases.max_watchers", "must be between 1 and 10000"));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&self.watch_poll) {
            return Err(ConfigError::invalid("cases.watch_poll", "must be between 10ms and 10s"));
        }
        if self.watch_heartbeat < Duration::from_secs(1) {
            return Err(ConfigError::invalid("cases.watch_heartbeat", "must be at least 1s"));
        }
        Ok(())
    }
}
