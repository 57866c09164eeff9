//! Local time for the baseline: the tenant's offset from UTC, the weekly slot (weekday × hour)
//! an instant falls in, and which hours a caller still has to fold.

use chrono::{DateTime, Datelike, FixedOffset, TimeDelta, Timelike, Utc, Weekday};

/// Slots in a week: one per weekday and local hour.
pub const SLOTS: usize = 7 * 24;

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// The tenant's local time: its offset from UTC at an instant. Implemented by
/// [`chrono::FixedOffset`] (a zone without daylight saving, or one you refresh yourself) and by
/// [`OffsetFn`] (any rule, e.g. a `chrono-tz` zone in the caller: this crate does not depend on
/// it).
pub trait LocalOffset {
    /// The offset from UTC of the tenant's clocks at `at`.
    fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset;
}

impl LocalOffset for FixedOffset {
    fn offset_at(&self, _at: DateTime<Utc>) -> FixedOffset {
        *self
    }
}

/// A time zone given as a function from an instant to its offset, for zones with daylight
/// saving: `OffsetFn(|at| tz.offset_from_utc_datetime(&at.naive_utc()).fix())`.
#[derive(Clone, Copy, Debug)]
pub struct OffsetFn<F>(pub F);

impl<F: Fn(DateTime<Utc>) -> FixedOffset> LocalOffset for OffsetFn<F> {
    fn offset_at(&self, at: DateTime<Utc>) -> FixedOffset {
        (self.0)(at)
    }
}

/// The local date and time at `at`.
pub(crate) fn local<Z: LocalOffset + ?Sized>(zone: &Z, at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&zone.offset_at(at))
}

/// The weekly slot of a local time: `weekday_from_monday * 24 + hour`.
pub(crate) fn slot_of(local: &DateTime<FixedOffset>) -> usize {
    local.weekday().num_days_from_monday() as usize * 24 + local.hour() as usize
}

/// The slot index of a weekday and hour (hour taken modulo 24).
pub(crate) fn slot_index(weekday: Weekday, hour: u32) -> usize {
    weekday.num_days_from_monday() as usize * 24 + (hour % 24) as usize
}

/// Milliseconds from `at` (in ms since the epoch) to the next local hour boundary (1..=1 h).
pub(crate) fn ms_to_next_local_hour(at_ms: i64, offset: FixedOffset) -> i64 {
    let local_ms = at_ms + i64::from(offset.local_minus_utc()) * 1000;
    HOUR_MS - local_ms.rem_euclid(HOUR_MS)
}

/// The start of the local hour containing `at`, as a UTC instant.
pub fn local_hour_start<Z: LocalOffset + ?Sized>(zone: &Z, at: DateTime<Utc>) -> DateTime<Utc> {
    let offset = zone.offset_at(at);
    let at_ms = at.timestamp_millis();
    let into_hour = HOUR_MS - ms_to_next_local_hour(at_ms, offset);
    from_ms(at_ms - into_hour)
}

/// The first minute boundary at or after `at`.
pub(crate) fn ceil_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    let at_ms = at.timestamp_millis();
    let rem = at_ms.rem_euclid(MINUTE_MS);
    if rem == 0 && at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        at
    } else {
        from_ms(at_ms - rem + MINUTE_MS)
    }
}

/// `at + delta`, clamped to chrono's range instead of panicking.
pub(crate) fn shift(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(delta).unwrap_or(if delta < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// An instant from milliseconds since the epoch (clamped to chrono's range, never panics).
pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The completed local hours to fold into a baseline, oldest first, as the UTC instants they
/// start at: every hour after `last_folded` whose end is at or before `now`, at most the
/// `max_hours` most recent ones (older ones are skipped, not folded as zero). With nothing folded
/// yet, only the last completed hour: a new topic learns from the hour it was first seen.
///
/// Routing counts the posts of each listed hour (`[start, start + 1 h)`, zero included) and
/// folds them in this order; folding one twice is a no-op, so a crash between folds is harmless.
pub fn hours_to_fold<Z: LocalOffset + ?Sized>(
    last_folded: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    zone: &Z,
    max_hours: u32,
) -> Vec<DateTime<Utc>> {
    let hour = TimeDelta::hours(1);
    let last_complete = shift(local_hour_start(zone, now), -hour);
    let first = match last_folded {
        Some(last) => local_hour_start(zone, shift(last, hour)),
        None => last_complete,
    };
    if first > last_complete || max_hours == 0 {
        return Vec::new();
    }
    let missing = (last_complete - first).num_hours() + 1;
    let listed = missing.min(i64::from(max_hours));
    let start = shift(last_complete, TimeDelta::hours(1 - listed));
    (0..listed).map(|i| shift(start, TimeDelta::hours(i))).collect()
}

/// Part of a local day, for reasons a person reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartOfDay {
    /// 00:00–06:00.
    Night,
    /// 06:00–12:00.
    Morning,
    /// 12:00–18:00.
    Afternoon,
    /// 18:00–24:00.
    Evening,
}

impl PartOfDay {
    /// The part of the day a local hour (0–23) is in.
    pub fn of_hour(hour: u32) -> Self {
        match hour {
            0..=5 => Self::Night,
            6..=11 => Self::Morning,
            12..=17 => Self::Afternoon,
            _ => Self::Evening,
        }
    }

    /// The lowercase English name ("morning").
    pub fn name(self) -> &'static str {
        match self {
            Self::Night => "night",
            Self::Morning => "morning",
            Self::Afternoon => "afternoon",
            Self::Evening => "evening",
        }
    }
}

/// The English name of a weekday ("Tuesday").
pub(crate) fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    #[test]
    fn hours_to_fold_lists_exactly_the_missing_hours() {
        let zone = FixedOffset::east_opt(0).unwrap();
        let now = utc(2026, 12, 8, 10, 17);
        let hours = hours_to_fold(Some(utc(2026, 12, 8, 6, 0)), now, &zone, 48);
        assert_eq!(hours, vec![utc(2026, 12, 8, 7, 0), utc(2026, 12, 8, 8, 0), utc(2026, 12, 8, 9, 0)]);
        // Up to date: nothing; the current hour (10:00–11:00) is not complete.
        assert!(hours_to_fold(Some(utc(2026, 12, 8, 9, 0)), now, &zone, 48).is_empty());
        // Nothing folded yet: the last completed hour only.
        assert_eq!(hours_to_fold(None, now, &zone, 48), vec![utc(2026, 12, 8, 9, 0)]);
        // A long gap: the most recent `max_hours` only.
        let capped = hours_to_fold(Some(utc(2026, 11, 1, 0, 0)), now, &zone, 2);
        assert_eq!(capped, vec![utc(2026, 12, 8, 8, 0), utc(2026, 12, 8, 9, 0)]);
        // Exactly at the end of an hour, that hour is complete.
        let at_boundary = hours_to_fold(Some(utc(2026, 12, 8, 8, 0)), utc(2026, 12, 8, 10, 0), &zone, 48);
        assert_eq!(at_boundary, vec![utc(2026, 12, 8, 9, 0)]);
    }

    #[test]
    fn local_hours_follow_the_offset() {
        // India: +05:30, so local hours start at :30 UTC.
        let zone = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        let now = utc(2026, 12, 8, 10, 17);
        assert_eq!(local_hour_start(&zone, now), utc(2026, 12, 8, 9, 30));
        let hours = hours_to_fold(Some(utc(2026, 12, 8, 7, 30)), now, &zone, 48);
        assert_eq!(hours, vec![utc(2026, 12, 8, 8, 30)]);
        // 2026-12-08 is a Tuesday; 23:40 UTC on Monday the 7th is 05:10 Tuesday in India.
        let monday_night = local(&zone, utc(2026, 12, 7, 23, 40));
        assert_eq!(slot_of(&monday_night), slot_index(Weekday::Tue, 5));
    }

    #[test]
    fn offset_functions_are_zones() {
        // Summer time from 10:00 UTC on: the local hour boundary moves with it.
        let switch = utc(2026, 12, 8, 10, 0);
        let zone =
            OffsetFn(move |at: DateTime<Utc>| FixedOffset::east_opt(if at < switch { 3600 } else { 7200 }).unwrap());
        assert_eq!(local(&zone, utc(2026, 12, 8, 9, 0)).hour(), 10);
        assert_eq!(local(&zone, utc(2026, 12, 8, 10, 0)).hour(), 12);
    }

    #[test]
    fn minutes_round_up() {
        let at = utc(2026, 12, 8, 10, 17);
        assert_eq!(ceil_minute(at), at);
        assert_eq!(ceil_minute(at + TimeDelta::seconds(1)), utc(2026, 12, 8, 10, 18));
        assert_eq!(ceil_minute(at + TimeDelta::nanoseconds(1)), utc(2026, 12, 8, 10, 18));
    }
}
