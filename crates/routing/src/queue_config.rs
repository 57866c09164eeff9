//! `[queue]`: how the universal queue hands out work (docs/QUEUE.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate};

/// `[queue]`: the dispatcher's pace, offers' time, and the watches a replica serves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// How often the dispatcher looks for work to offer (one replica at a time does).
    #[serde(with = "humantime_serde")]
    pub dispatch_every: Duration,
    /// How long the dispatching replica holds its lease without renewing it: after it dies,
    /// another replica takes over within this.
    #[serde(with = "humantime_serde")]
    pub dispatch_lease: Duration,
    /// How long an agent has to accept an offer before it goes to the next agent.
    #[serde(with = "humantime_serde")]
    pub offer_timeout: Duration,
    /// After this many offers in a row left to expire, the agent is set away (0: never).
    pub away_after_missed: u32,
    /// How long before its first-response deadline an item goes ahead of higher priorities.
    #[serde(with = "humantime_serde")]
    pub risk_window: Duration,
    /// An acceptance that cases has not shown as the assignment after this long is sent
    /// again (after a crash between the two).
    #[serde(with = "humantime_serde")]
    pub confirm_after: Duration,
    /// How far back the dispatcher reads changes again at each look, for transactions that
    /// committed after later ones; every minute it reads everything.
    #[serde(with = "humantime_serde")]
    pub changes_overlap: Duration,
    /// Most `WatchOffers` streams open at once on one replica.
    pub max_watchers: usize,
    /// How often the replica's reader of `queue.offers` looks for new offers to forward to its
    /// watches.
    #[serde(with = "humantime_serde")]
    pub watch_poll: Duration,
    /// A `WatchOffers` stream that has sent nothing for this long sends a heartbeat (an event
    /// without an offer), so proxies and load balancers do not close it as idle and the desk
    /// knows the stream is alive.
    #[serde(with = "humantime_serde")]
    pub watch_heartbeat: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            dispatch_every: Duration::from_millis(250),
            dispatch_lease: Duration::from_secs(10),
            offer_timeout: Duration::from_secs(30),
            away_after_missed: 2,
            risk_window: Duration::from_secs(15 * 60),
            confirm_after: Duration::from_secs(10),
            changes_overlap: Duration::from_secs(2),
            max_watchers: 4_096,
            watch_poll: Duration::from_millis(100),
            watch_heartbeat: Duration::from_secs(30),
        }
    }
}

impl Validate for QueueConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(Duration::from_millis(10)..=Duration::from_secs(60)).contains(&self.dispatch_every) {
            return Err(ConfigError::invalid("queue.dispatch_every", "must be between 10ms and 60s"));
        }
        if self.dispatch_lease < self.dispatch_every * 2 {
            return Err(ConfigError::invalid(
                "queue.dispatch_lease",
                "must be at least twice queue.dispatch_every, so the holder renews it in time",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.offer_timeout) {
            return Err(ConfigError::invalid("queue.offer_timeout", "must be between 1s and 1h"));
        }
        if self.risk_window > Duration::from_secs(7 * 24 * 3600) {
            return Err(ConfigError::invalid("queue.risk_window", "must be at most 7 days"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.confirm_after) {
            return Err(ConfigError::invalid("queue.confirm_after", "must be between 1s and 1h"));
        }
        if self.changes_overlap > Duration::from_secs(60) {
            return Err(ConfigError::invalid("queue.changes_overlap", "must be at most 60s"));
        }
        if !(1..=100_000).contains(&self.max_watchers) {
            return Err(ConfigError::invalid("queue.max_watchers", "must be between 1 and 100000"));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&self.watch_poll) {
            return Err(ConfigError::invalid("queue.watch_poll", "must be between 10ms and 10s"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&self.watch_heartbeat) {
            return Err(ConfigError::invalid("queue.watch_heartbeat", "must be between 100ms and 10m"));
        }
        Ok(())
    }
}
