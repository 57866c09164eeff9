//! Staying under each account's quota before the platform has to say so.
//!
//! A [`Quota`] is "`burst` requests per `per`"; a [`TokenBucket`] enforces it: full at first, one
//! token per request, refilled continuously at `burst / per`, never holding more than `burst`.
//! It is the generic cell rate algorithm: the bucket keeps one instant, when it will next be
//! full, so `try_take` is exact integer arithmetic on [`Instant`]s. Time is passed in: the
//! bucket reads no clock.
//!
//! What it guarantees: at most `burst` requests at once, and at most `burst + t × burst / per`
//! over any span `t`. A platform counting in fixed windows of `per` can therefore see up to
//! `2 × burst − 1` in one window after a long idle; the defaults use the platforms' numbers
//! anyway, and the rare 429 carries the reset time [`super::outcome`] turns into a wait.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tend_channels::outbound::{Quota, TokenBucket};
//!
//! let mut bucket = TokenBucket::new(Quota::new(2, Duration::from_secs(10)).unwrap());
//! let start = Instant::now();
//! assert_eq!(bucket.try_take(start), Ok(()));
//! assert_eq!(bucket.try_take(start), Ok(()));
//! assert_eq!(bucket.try_take(start), Err(Duration::from_secs(5)));
//! assert_eq!(bucket.try_take(start + Duration::from_secs(5)), Ok(()));
//! ```

use std::time::{Duration, Instant};

use super::ReplyKind;
use crate::Channel;

/// The longest window a quota may have.
pub const MAX_QUOTA_WINDOW: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// A request quota: at most `burst` requests in any window of `per`, the allowance refilling
/// continuously. Built by [`Quota::new`], which checks it, or [`Quota::default_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    burst: u32,
    per: Duration,
}

/// A quota that cannot be enforced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// `burst` is zero: nothing could ever be sent.
    #[error("a quota's burst must be at least 1 request")]
    ZeroBurst,
    /// `per` is zero: the quota would mean "unlimited" by accident.
    #[error("a quota's window must be longer than zero")]
    ZeroWindow,
    /// `per` is longer than [`MAX_QUOTA_WINDOW`].
    #[error("a quota's window must be at most 366 days")]
    WindowTooLong,
}

impl Quota {
    /// `burst` requests per `per`; `burst` ≥ 1 and `per` between 1 ns and [`MAX_QUOTA_WINDOW`].
    pub fn new(burst: u32, per: Duration) -> Result<Quota, QuotaError> {
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        if per.is_zero() {
            return Err(QuotaError::ZeroWindow);
        }
        if per > MAX_QUOTA_WINDOW {
            return Err(QuotaError::WindowTooLong);
        }
        Ok(Quota { burst, per })
    }

    /// At most this many requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The window `burst` requests are allowed in.
    pub fn per(&self) -> Duration {
        self.per
    }

    /// A quota written `REPLIES/PERIOD`, e.g. `100/15m` or `300/1s` (periods as humantime
    /// durations). The error says how to write it.
    pub fn parse(text: &str) -> Result<Quota, String> {
        let (burst, per) = text.split_once('/').ok_or("write it as REPLIES/PERIOD, e.g. 100/15m")?;
        let burst: u32 = burst.trim().parse().map_err(|_| format!("{:?} is not a number of replies", burst.trim()))?;
        let per = humantime::parse_duration(per.trim())
            .map_err(|_| format!("{:?} is not a period such as 15m, 1h or 1s", per.trim()))?;
        Quota::new(burst, per).map_err(|error| error.to_string())
    }

    /// Tend's default quota for one account sending replies of `kind` on `channel`; callers
    /// override it per account with [`Quota::new`].
    ///
    /// | channel | kind | default | source |
    /// | --- | --- | --- | --- |
    /// | X | public | 100 per 15 min | X API v2 rate limits: `POST /2/tweets`, 100/15 min per user (10,000/24 h per app) |
    /// | X | private | 200 per 15 min | `POST /2/dm_conversations/with/:participant_id/messages`: 200/15 min per user; X also caps 1,000/24 h per user and 15,000/24 h per app |
    /// | Facebook | public | 60 per min | Pages are limited per Business Use Case (4,800 calls × engaged users / 24 h), no fixed number: a steady one comment a second stays clear of spam checks |
    /// | Facebook | private | 300 per s | Messenger Send API: 300 calls/s per Page for text |
    /// | Instagram | public | 60 per min | as Facebook comments (Instagram's BUC limit, 4,800 × impressions / 24 h, has no fixed number) |
    /// | Instagram | private | 100 per s | Instagram messaging Send API: 100 calls/s per account for text with Instagram Login (300/s through the Messenger Platform); the lower of the two |
    /// | Chat, Review, Email | either | 10 per s | Tend's choice for receivers it does not know (email is sent elsewhere) |
    ///
    /// A bucket holds one limit: the daily caps above are left to the platform, whose 429 then
    /// carries the reset time that [`super::outcome`] turns into [`super::Outcome::Retry`]'s
    /// `after`.
    pub fn default_for(channel: Channel, kind: ReplyKind) -> Quota {
        const SECOND: Duration = Duration::from_secs(1);
        const MINUTE: Duration = Duration::from_secs(60);
        const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);
        let (burst, per) = match (channel, kind) {
            (Channel::X, ReplyKind::Public) => (100, FIFTEEN_MINUTES),
            (Channel::X, ReplyKind::Private) => (200, FIFTEEN_MINUTES),
            (Channel::Facebook | Channel::Instagram, ReplyKind::Public) => (60, MINUTE),
            (Channel::Facebook, ReplyKind::Private) => (300, SECOND),
            (Channel::Instagram, ReplyKind::Private) => (100, SECOND),
            (Channel::Chat | Channel::Review | Channel::Email, _) => (10, SECOND),
        };
        Quota { burst, per }
    }

    /// The time one token takes to refill: `per / burst`, rounded up to the nanosecond so the
    /// bucket never refills faster than the quota.
    fn interval(&self) -> Duration {
        let nanos = self.per.as_nanos().div_ceil(u128::from(self.burst));
        // `per` is at most a year, so this fits in a u64 of nanoseconds.
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Enforces a [`Quota`] for one account. Not shared: the worker keeps one per account (and kind)
/// behind its own lock.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    quota: Quota,
    /// The time one token takes to refill.
    interval: Duration,
    /// How far ahead of `now` the bucket's "full again" instant may be while a token is left:
    /// `interval × (burst - 1)`.
    tolerance: Duration,
    /// When the bucket will be full again; `None` until the first take (a full bucket).
    full_at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket for `quota`.
    pub fn new(quota: Quota) -> TokenBucket {
        let interval = quota.interval();
        let tolerance = interval.saturating_mul(quota.burst - 1);
        TokenBucket { quota, interval, tolerance, full_at: None }
    }

    /// The quota this bucket enforces.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Takes a token at `now` if one is left; otherwise, how long from `now` until one is (and
    /// nothing is taken). `now` should not go backwards; if it does, the bucket just refills no
    /// faster than before.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let full_at = match self.full_at {
            Some(at) if at > now => at,
            _ => now,
        };
        let ahead = full_at.duration_since(now);
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        // `full_at` is at most a year past `now`, so this cannot overflow an Instant in practice;
        // if it did, the bucket would stay empty rather than panic.
        self.full_at = Some(full_at.checked_add(self.interval).unwrap_or(full_at));
        Ok(())
    }

    /// How many tokens are left at `now` (for metrics; [`TokenBucket::try_take`] decides).
    pub fn available(&self, now: Instant) -> u32 {
        let Some(full_at) = self.full_at else { return self.quota.burst };
        let missing = full_at.saturating_duration_since(now).as_nanos().div_ceil(self.interval.as_nanos().max(1));
        let missing = u32::try_from(missing).unwrap_or(u32::MAX);
        self.quota.burst.saturating_sub(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(burst: u32, seconds: u64) -> Quota {
        Quota::new(burst, Duration::from_secs(seconds)).unwrap()
    }

    #[test]
    fn parses_replies_per_period() {
        assert_eq!(Quota::parse("100/15m").unwrap(), quota(100, 900));
        assert_eq!(Quota::parse(" 3 / 1s ").unwrap(), quota(3, 1));
        for bad in ["100", "x/1m", "10/soon", "0/1m", "1/0s"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
        assert!(Quota::parse("100").unwrap_err().contains("REPLIES/PERIOD"));
    }

    #[test]
    fn new_validates() {
        assert_eq!(Quota::new(0, Duration::from_secs(1)), Err(QuotaError::ZeroBurst));
        assert_eq!(Quota::new(1, Duration::ZERO), Err(QuotaError::ZeroWindow));
        assert_eq!(Quota::new(1, MAX_QUOTA_WINDOW + Duration::from_secs(1)), Err(QuotaError::WindowTooLong));
        let q = Quota::new(1, Duration::from_nanos(1)).unwrap();
        assert_eq!((q.burst(), q.per()), (1, Duration::from_nanos(1)));
        Quota::new(u32::MAX, MAX_QUOTA_WINDOW).unwrap();
    }

    #[test]
    fn burst_then_wait() {
        let mut bucket = TokenBucket::new(quota(100, 900));
        let start = Instant::now();
        for i in 0..100 {
            assert_eq!(bucket.try_take(start), Ok(()), "take {i}");
        }
        assert_eq!(bucket.available(start), 0);
        // One token per 9 s.
        assert_eq!(bucket.try_take(start), Err(Duration::from_secs(9)));
        assert_eq!(bucket.try_take(start + Duration::from_secs(4)), Err(Duration::from_secs(5)));
        assert_eq!(bucket.try_take(start + Duration::from_secs(9)), Ok(()));
        assert_eq!(bucket.try_take(start + Duration::from_secs(9)), Err(Duration::from_secs(9)));
    }

    #[test]
    fn refills_continuously_up_to_burst() {
        let mut bucket = TokenBucket::new(quota(10, 10));
        let start = Instant::now();
        for _ in 0..10 {
            bucket.try_take(start).unwrap();
        }
        assert_eq!(bucket.available(start + Duration::from_millis(3500)), 3);
        let later = start + Duration::from_secs(3);
        for _ in 0..3 {
            bucket.try_take(later).unwrap();
        }
        assert!(bucket.try_take(later).is_err());
        // Long idle: full again, but never more than the burst.
        let idle = start + Duration::from_secs(3600);
        assert_eq!(bucket.available(idle), 10);
        for _ in 0..10 {
            bucket.try_take(idle).unwrap();
        }
        assert_eq!(bucket.try_take(idle), Err(Duration::from_secs(1)));
    }

    #[test]
    fn never_more_than_burst_plus_refill() {
        // Greedy taking every 100 ms for a minute, 5 per 10 s: 5 at once, then one per 2 s.
        let mut bucket = TokenBucket::new(quota(5, 10));
        let start = Instant::now();
        let mut taken = Vec::new();
        for step in 0..600u64 {
            let now = start + Duration::from_millis(100 * step);
            if bucket.try_take(now).is_ok() {
                taken.push(now);
            }
        }
        assert_eq!(taken.len(), 5 + 29);
        assert!(taken[..5].iter().all(|t| *t < start + Duration::from_millis(500)));
        // Over any span t from a take: at most burst + t / interval more.
        for (i, first) in taken.iter().enumerate() {
            for (j, last) in taken.iter().enumerate().skip(i) {
                let span = last.duration_since(*first);
                let refilled = (span.as_millis() / 2000) as usize;
                assert!(j - i < 5 + refilled, "{} takes within {span:?}", j - i + 1);
            }
        }
    }

    #[test]
    fn idle_never_stores_more_than_burst() {
        let mut bucket = TokenBucket::new(quota(3, 1));
        let start = Instant::now();
        bucket.try_take(start).unwrap();
        let much_later = start + Duration::from_secs(86_400);
        assert_eq!(bucket.available(much_later), 3);
        for _ in 0..3 {
            bucket.try_take(much_later).unwrap();
        }
        assert!(bucket.try_take(much_later).is_err());
    }

    #[test]
    fn refused_takes_cost_nothing() {
        let mut bucket = TokenBucket::new(quota(1, 10));
        let start = Instant::now();
        bucket.try_take(start).unwrap();
        for s in 1..10 {
            assert_eq!(bucket.try_take(start + Duration::from_secs(s)), Err(Duration::from_secs(10 - s)));
        }
        assert_eq!(bucket.try_take(start + Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn backwards_time_refills_nothing() {
        let mut bucket = TokenBucket::new(quota(1, 10));
        let start = Instant::now() + Duration::from_secs(100);
        bucket.try_take(start).unwrap();
        let earlier = start - Duration::from_secs(5);
        assert_eq!(bucket.try_take(earlier), Err(Duration::from_secs(15)));
    }

    #[test]
    fn rounding_never_refills_faster() {
        // 3 per second: the interval rounds up to 333,333,334 ns.
        let mut bucket = TokenBucket::new(Quota::new(3, Duration::from_secs(1)).unwrap());
        let start = Instant::now();
        for _ in 0..3 {
            bucket.try_take(start).unwrap();
        }
        assert!(bucket.try_take(start + Duration::from_nanos(333_333_333)).is_err());
        assert!(bucket.try_take(start + Duration::from_nanos(333_333_334)).is_ok());
    }

    #[test]
    fn defaults_are_valid() {
        use Channel::*;
        for channel in [X, Facebook, Instagram, Email, Chat, Review] {
            for kind in [ReplyKind::Public, ReplyKind::Private] {
                let q = Quota::default_for(channel, kind);
                assert_eq!(Quota::new(q.burst(), q.per()), Ok(q));
            }
        }
        assert_eq!(Quota::default_for(X, ReplyKind::Public), quota(100, 900));
        assert_eq!(Quota::default_for(X, ReplyKind::Private), quota(200, 900));
    }
}
