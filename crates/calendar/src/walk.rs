//! Business-time arithmetic: whether an instant is open, the open intervals of a range, and
//! adding or measuring business time.
//!
//! Everything walks the UTC timeline in *segments* of at most one day during which the zone's
//! UTC offset is constant. Within a segment local time is UTC plus that offset, a monotonic
//! map, so the open instants are exactly the local open periods shifted back by the offset.
//! Stitching segments together gives the definition's answer across DST changes for free: a
//! repeated local hour lies in two segments and is open in both; a skipped hour lies in none.
//!
//! A segment ends at the first offset change within a day, found by bisection on whole seconds
//! (tzdb changes offsets only on whole seconds). Probing once a day is enough because no zone
//! changes its offset twice within a day: in chrono-tz 0.10.4 (tzdb 2025b) the shortest span
//! between two offset changes, in any zone at any time, is 601,200 s (just under 7 days, Gaza's
//! and Brazil's). The property tests check the whole construction against a minute-by-minute
//! reference.

use std::collections::VecDeque;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc};

use crate::calendar::Calendar;

/// How far ahead [`Calendar::add`] and [`Calendar::next_open`] look, in days of calendar time
/// (five years, leap days included); beyond it they answer `None`.
pub const HORIZON_DAYS: i64 = 1_830;

/// The horizon as a duration.
const HORIZON: TimeDelta = TimeDelta::days(HORIZON_DAYS);

/// Longest segment: offsets are probed once per this (see the module docs for why it is safe).
const PROBE: TimeDelta = TimeDelta::days(1);

/// One open interval `[start, end)` in UTC.
type Interval = (DateTime<Utc>, DateTime<Utc>);

impl Calendar {
    /// Whether `at` is open: its local time falls within a period of its local weekday and its
    /// local date is not a holiday.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone).naive_local();
        if self.holidays.contains_key(&local.date()) {
            return false;
        }
        // Whole seconds are enough: period bounds are whole minutes, so a fraction of a second
        // never moves an instant across one.
        let second = local.time().num_seconds_from_midnight();
        let weekday = local.date().weekday();
        self.periods(weekday).iter().any(|p| p.start.seconds() <= second && second < p.end.seconds())
    }

    /// The first open instant at or after `at`: `at` itself when it is open. `None` when the
    /// calendar does not open within [`HORIZON_DAYS`] of `at`.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.has_periods() {
            return None;
        }
        self.raw_intervals(at, horizon_end(at)).next().map(|(start, _)| start)
    }

    /// The instant at which `business` of open time has elapsed since `start`: the earliest
    /// `t` with [`between(start, t)`](Calendar::between) `== business`.
    ///
    /// - A zero duration gives `start` itself, open or not ("due now" stays now).
    /// - A target met exactly at a closing time gives that closing time (Friday 17:30), not the
    ///   next opening: the work was due when the office closed.
    /// - A negative duration gives `None` (subtracting business time is not supported).
    /// - `None` also when the target is not reached within [`HORIZON_DAYS`] of `start` (for
    ///   example a calendar with no periods at all).
    ///
    /// Costs one step per open period and per day walked, not per minute: a ten-day target is a
    /// few microseconds.
    pub fn add(&self, start: DateTime<Utc>, business: TimeDelta) -> Option<DateTime<Utc>> {
        if business < TimeDelta::zero() {
            return None;
        }
        if business.is_zero() {
            return Some(start);
        }
        if !self.has_periods() {
            return None;
        }
        let mut remaining = business;
        for (open, close) in self.raw_intervals(start, horizon_end(start)) {
            let length = close - open;
            if remaining <= length {
                return open.checked_add_signed(remaining);
            }
            remaining -= length;
        }
        None
    }

    /// The business time in `[from, to)`: how long the calendar is open between the two. Zero
    /// when `to <= from`. Not limited by the horizon; the cost grows with the number of days
    /// in the range (about 70 µs per year), so clamp untrusted ranges.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> TimeDelta {
        if to <= from || !self.has_periods() {
            return TimeDelta::zero();
        }
        self.raw_intervals(from, to).map(|(open, close)| close - open).sum()
    }

    /// The open intervals within `[from, to)`, in order, clipped to the range: each
    /// `(open, close)` is half-open, and intervals never touch (a period ending at 24:00 and one
    /// starting at 00:00 the next day come out as one interval). Useful for pausing SLA clocks
    /// outside business hours. Empty when `to <= from`. Because touching intervals are merged,
    /// finding the end of one may walk far: on a 24/7 calendar the first interval is the whole
    /// range.
    pub fn open_intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> OpenIntervals<'_> {
        // With no periods the walk would still step through every day of the range.
        let to = if self.has_periods() { to } else { from };
        OpenIntervals { raw: self.raw_intervals(from, to), peeked: None }
    }

    /// Open intervals within `[from, to)`, possibly touching each other.
    fn raw_intervals(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> RawIntervals<'_> {
        RawIntervals { calendar: self, cursor: from, end: to, buffer: VecDeque::new() }
    }

    /// The zone's offset from UTC at `at`, in seconds.
    fn offset_at(&self, at: DateTime<Utc>) -> i32 {
        self.zone.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc()
    }

    /// The zone's offset from UTC at the Unix second `second`.
    fn offset_at_second(&self, second: i64) -> Option<i32> {
        DateTime::from_timestamp(second, 0).map(|at| self.offset_at(at))
    }
}

/// `at` plus the horizon, saturating at the last representable instant.
fn horizon_end(at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_add_signed(HORIZON).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The open intervals of a range, in order and never touching; see
/// [`Calendar::open_intervals`].
#[derive(Debug, Clone)]
pub struct OpenIntervals<'a> {
    raw: RawIntervals<'a>,
    /// The raw interval read past the end of the one last returned.
    peeked: Option<Interval>,
}

impl Iterator for OpenIntervals<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        let (open, mut close) = self.peeked.take().or_else(|| self.raw.next())?;
        // Merge touching intervals: adjacent periods, midnight, and segment boundaries all cut
        // what is one stretch of open time.
        loop {
            match self.raw.next() {
                Some((next_open, next_close)) if next_open == close => close = next_close,
                other => {
                    self.peeked = other;
                    return Some((open, close));
                }
            }
        }
    }
}

/// The open intervals of `[cursor, end)` as they fall out of the segments: in order, possibly
/// touching.
#[derive(Debug, Clone)]
struct RawIntervals<'a> {
    calendar: &'a Calendar,
    /// Everything before this has been walked.
    cursor: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Intervals of the segment last walked, not yet returned.
    buffer: VecDeque<Interval>,
}

impl Iterator for RawIntervals<'_> {
    type Item = Interval;

    fn next(&mut self) -> Option<Interval> {
        loop {
            if let Some(interval) = self.buffer.pop_front() {
                return Some(interval);
            }
            if self.cursor >= self.end {
                return None;
            }
            self.walk_segment();
        }
    }
}

impl RawIntervals<'_> {
    /// Walks one constant-offset segment from the cursor, buffering its open intervals and
    /// moving the cursor to the segment's end.
    fn walk_segment(&mut self) {
        let calendar = self.calendar;
        let start = self.cursor;
        let offset = calendar.offset_at(start);
        let probe = start.checked_add_signed(PROBE).map_or(self.end, |probe| probe.min(self.end));
        let end = if calendar.offset_at(probe) == offset { probe } else { self.offset_change(start, probe, offset) };
        self.cursor = end;

        let shift = TimeDelta::seconds(i64::from(offset));
        let (Some(local_start), Some(local_end)) =
            (start.naive_utc().checked_add_signed(shift), end.naive_utc().checked_add_signed(shift))
        else {
            // At the edge of what chrono can represent: nothing more to walk.
            self.cursor = self.end;
            return;
        };
        let mut date = local_start.date();
        while date <= local_end.date() {
            if !calendar.holidays.contains_key(&date) {
                let midnight = date.and_time(NaiveTime::MIN);
                for period in calendar.periods(date.weekday()) {
                    let at = |minutes: u16| {
                        midnight
                            .checked_add_signed(TimeDelta::minutes(i64::from(minutes)))
                            .unwrap_or(NaiveDateTime::MAX)
                    };
                    let (open, close) = (at(period.start.minutes()), at(period.end.minutes()));
                    let (open, close) = (open.max(local_start), close.min(local_end));
                    if open < close {
                        self.buffer.push_back((to_utc(open, shift), to_utc(close, shift)));
                    }
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
    }

    /// The first whole second in `(from, to]` at which the offset is no longer `offset`, given
    /// that it differs at `to` and changes only once in between.
    fn offset_change(&self, from: DateTime<Utc>, to: DateTime<Utc>, offset: i32) -> DateTime<Utc> {
        // The offset at an instant is the offset at its whole second (floor), so these bounds
        // keep the invariant: offset(low) == offset, offset(high) != offset.
        let mut low = from.timestamp();
        let mut high = to.timestamp();
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.calendar.offset_at_second(middle) == Some(offset) {
                low = middle;
            } else {
                high = middle;
            }
        }
        DateTime::from_timestamp(high, 0).unwrap_or(to)
    }
}

/// The UTC instant of a local time in a segment with offset `shift`.
fn to_utc(local: NaiveDateTime, shift: TimeDelta) -> DateTime<Utc> {
    // Only called on local times between two that came from UTC instants by adding `shift`.
    (local - shift).and_utc()
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Weekday};
    use chrono_tz::Tz;

    use super::*;
    use crate::{Holiday, WeeklyPeriod};

    const WEEKDAYS: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    const ALL_WEEK: [Weekday; 7] = crate::period::WEEK;

    /// A calendar in `zone` with `hours` on each of `days`.
    fn calendar(zone: Tz, days: &[Weekday], hours: &[&str], holidays: &[(i32, u32, u32)]) -> Calendar {
        let periods = days.iter().flat_map(|&day| hours.iter().map(move |text| WeeklyPeriod::parse(day, text)));
        let periods: Vec<WeeklyPeriod> = match periods.collect() {
            Ok(periods) => periods,
            Err(e) => panic!("{e}"),
        };
        let holidays = holidays.iter().map(|&(y, m, d)| Holiday::new(date(y, m, d), "holiday"));
        match Calendar::new_in(zone, periods, holidays) {
            Ok(calendar) => calendar,
            Err(e) => panic!("{e}"),
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
    }

    /// The instant of local wall time `y-m-d h:mi` in `zone` (the earlier one when repeated).
    fn local(zone: Tz, y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        match zone.with_ymd_and_hms(y, m, d, h, mi, 0).earliest() {
            Some(at) => at.with_timezone(&Utc),
            None => panic!("{y}-{m}-{d} {h}:{mi} does not exist in {zone}"),
        }
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        local(Tz::UTC, y, m, d, h, mi)
    }

    fn hours(h: i64) -> TimeDelta {
        TimeDelta::hours(h)
    }

    fn minutes(m: i64) -> TimeDelta {
        TimeDelta::minutes(m)
    }

    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Kolkata;
    use chrono_tz::Australia::Lord_Howe;
    use chrono_tz::Europe::London;

    #[test]
    fn four_business_hours_after_friday_afternoon() {
        let office = calendar(London, &WEEKDAYS, &["09:00-17:30"], &[]);
        // One hour on Friday, three on Monday. (The issue said 12:30; that would need 4.5 hours.)
        // Winter (GMT) and summer (BST): Monday 12:00 local either way.
        for (friday, monday) in [((2026, 1, 9), (2026, 1, 12)), ((2026, 6, 12), (2026, 6, 15))] {
            let start = local(London, friday.0, friday.1, friday.2, 16, 30);
            let due = office.add(start, hours(4));
            assert_eq!(due, Some(local(London, monday.0, monday.1, monday.2, 12, 0)));
            assert_eq!(office.between(start, local(London, monday.0, monday.1, monday.2, 12, 0)), hours(4));
        }
        // Summer: 12:00 BST is 11:00 UTC.
        assert_eq!(office.add(local(London, 2026, 6, 12, 16, 30), hours(4)), Some(utc(2026, 6, 15, 11, 0)));
    }

    #[test]
    fn a_monday_holiday_moves_the_deadline_to_tuesday() {
        let office = calendar(London, &WEEKDAYS, &["09:00-17:30"], &[(2026, 1, 12)]);
        let due = office.add(local(London, 2026, 1, 9, 16, 30), hours(4));
        assert_eq!(due, Some(local(London, 2026, 1, 13, 12, 0)));
        assert!(!office.is_open(local(London, 2026, 1, 12, 10, 0)));
        assert!(office.is_open(local(London, 2026, 1, 13, 10, 0)));
    }

    #[test]
    fn a_target_met_at_closing_time_is_closing_time() {
        let office = calendar(London, &WEEKDAYS, &["09:00-17:30"], &[]);
        let due = office.add(local(London, 2026, 1, 9, 13, 30), hours(4));
        assert_eq!(due, Some(local(London, 2026, 1, 9, 17, 30)));
        // One more second of work carries over to Monday's opening.
        let due = office.add(local(London, 2026, 1, 9, 13, 30), hours(4) + TimeDelta::seconds(1));
        assert_eq!(due, Some(local(London, 2026, 1, 12, 9, 0) + TimeDelta::seconds(1)));
    }

    #[test]
    fn london_spring_forward() {
        // 2026-03-29: 01:00 GMT becomes 02:00 BST.
        let always = calendar(London, &ALL_WEEK, &["00:00-24:00"], &[]);
        assert_eq!(always.between(local(London, 2026, 3, 28, 0, 0), local(London, 2026, 3, 30, 0, 0)), hours(47));
        let night = calendar(London, &[Weekday::Sun], &["00:30-03:00"], &[]);
        let sunday = (local(London, 2026, 3, 29, 0, 0), local(London, 2026, 3, 30, 0, 0));
        assert_eq!(night.between(sunday.0, sunday.1), minutes(90));
        let intervals: Vec<_> = night.open_intervals(sunday.0, sunday.1).collect();
        // 00:30-01:00 GMT and 02:00-03:00 BST meet at 01:00 UTC: one stretch of open time.
        assert_eq!(intervals, [(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 0))]);
        // A period starting in the gap opens at the first instant after it (02:00 BST).
        let gap = calendar(London, &[Weekday::Sun], &["01:30-03:00"], &[]);
        assert_eq!(gap.next_open(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 1, 0)));
        assert_eq!(gap.between(sunday.0, sunday.1), hours(1));
        // Friday afternoon (GMT) to Monday (BST) across the change: Monday 12:00 BST.
        let office = calendar(London, &WEEKDAYS, &["09:00-17:30"], &[]);
        assert_eq!(office.add(local(London, 2026, 3, 27, 16, 30), hours(4)), Some(utc(2026, 3, 30, 11, 0)));
    }

    #[test]
    fn london_fall_back() {
        // 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:00-02:00 happens twice.
        let always = calendar(London, &ALL_WEEK, &["00:00-24:00"], &[]);
        assert_eq!(always.between(local(London, 2026, 10, 24, 0, 0), local(London, 2026, 10, 26, 0, 0)), hours(49));
        let night = calendar(London, &[Weekday::Sun], &["01:30-03:00"], &[]);
        let sunday = (local(London, 2026, 10, 25, 0, 0), local(London, 2026, 10, 26, 0, 0));
        let intervals: Vec<_> = night.open_intervals(sunday.0, sunday.1).collect();
        // Both 01:30s are open: 01:30-02:00 BST, then 01:30-03:00 GMT.
        assert_eq!(
            intervals,
            [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0)), (utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 3, 0))]
        );
        assert_eq!(night.between(sunday.0, sunday.1), minutes(120));
        assert!(night.is_open(utc(2026, 10, 25, 0, 45)));
        assert!(!night.is_open(utc(2026, 10, 25, 1, 15)));
        assert!(night.is_open(utc(2026, 10, 25, 1, 45)));
        assert_eq!(night.add(utc(2026, 10, 25, 0, 45), minutes(30)), Some(utc(2026, 10, 25, 1, 45)));
    }

    #[test]
    fn new_york_night_shift_across_both_changes() {
        // Saturday 22:00 to Sunday 06:00 local, as two periods meeting at midnight.
        let periods =
            [WeeklyPeriod::parse(Weekday::Sat, "22:00-24:00"), WeeklyPeriod::parse(Weekday::Sun, "00:00-06:00")];
        let periods: Vec<_> = periods.into_iter().collect::<Result<_, _>>().unwrap_or_default();
        let Ok(shift) = Calendar::new_in(New_York, periods, []) else { panic!("calendar") };
        // 2026-03-08 02:00 EST -> 03:00 EDT: a seven-hour night.
        let start = local(New_York, 2026, 3, 7, 22, 0);
        assert_eq!(shift.between(start, start + hours(12)), hours(7));
        assert_eq!(shift.add(start, hours(7)), Some(local(New_York, 2026, 3, 8, 6, 0)));
        assert_eq!(shift.add(start, hours(7)), Some(utc(2026, 3, 8, 10, 0)));
        // 2026-11-01 02:00 EDT -> 01:00 EST: a nine-hour night, one interval.
        let start = local(New_York, 2026, 10, 31, 22, 0);
        assert_eq!(shift.between(start, start + hours(12)), hours(9));
        let intervals: Vec<_> = shift.open_intervals(start, start + hours(12)).collect();
        assert_eq!(intervals, [(utc(2026, 11, 1, 2, 0), utc(2026, 11, 1, 11, 0))]);
    }

    #[test]
    fn lord_howe_half_hour_changes() {
        // 2026-04-05 02:00 +11 -> 01:30 +10:30; 2026-10-04 02:00 +10:30 -> 02:30 +11.
        let always = calendar(Lord_Howe, &ALL_WEEK, &["00:00-24:00"], &[]);
        let april = (local(Lord_Howe, 2026, 4, 4, 0, 0), local(Lord_Howe, 2026, 4, 6, 0, 0));
        assert_eq!(always.between(april.0, april.1), hours(48) + minutes(30));
        let october = (local(Lord_Howe, 2026, 10, 3, 0, 0), local(Lord_Howe, 2026, 10, 5, 0, 0));
        assert_eq!(always.between(october.0, october.1), hours(47) + minutes(30));
        let night = calendar(Lord_Howe, &[Weekday::Sun], &["01:00-03:00"], &[]);
        assert_eq!(night.between(april.0, april.1), minutes(150));
        assert_eq!(night.between(october.0, october.1), minutes(90));
        // Two hours of work from Sunday 01:00 in October end at 03:30 local (+11).
        assert_eq!(
            night.add(local(Lord_Howe, 2026, 10, 4, 1, 0), minutes(90)),
            Some(local(Lord_Howe, 2026, 10, 4, 3, 0))
        );
    }

    #[test]
    fn kolkata_has_no_dst() {
        let office = calendar(Kolkata, &WEEKDAYS, &["09:00-18:00"], &[]);
        let friday = local(Kolkata, 2026, 3, 27, 17, 0);
        assert_eq!(office.add(friday, hours(2)), Some(utc(2026, 3, 30, 4, 30)));
        assert_eq!(office.between(friday, utc(2026, 3, 30, 4, 30)), hours(2));
        assert_eq!(office.next_open(friday + hours(2)), Some(local(Kolkata, 2026, 3, 30, 9, 0)));
    }

    #[test]
    fn periods_ending_at_midnight_join_the_next_day() {
        let periods =
            [WeeklyPeriod::parse(Weekday::Mon, "20:00-24:00"), WeeklyPeriod::parse(Weekday::Tue, "00:00-04:00")];
        let periods: Vec<_> = periods.into_iter().collect::<Result<_, _>>().unwrap_or_default();
        let Ok(night) = Calendar::new("UTC", periods, []) else { panic!("calendar") };
        assert_eq!(night.add(utc(2026, 1, 5, 23, 0), hours(2)), Some(utc(2026, 1, 6, 1, 0)));
        assert!(night.is_open(utc(2026, 1, 5, 23, 59)));
        assert!(night.is_open(utc(2026, 1, 6, 0, 0)));
        assert!(!night.is_open(utc(2026, 1, 6, 4, 0)));
        let intervals: Vec<_> = night.open_intervals(utc(2026, 1, 5, 0, 0), utc(2026, 1, 7, 0, 0)).collect();
        assert_eq!(intervals, [(utc(2026, 1, 5, 20, 0), utc(2026, 1, 6, 4, 0))]);
    }

    #[test]
    fn split_days() {
        let office = calendar(London, &WEEKDAYS, &["09:00-12:00", "13:00-17:30"], &[]);
        let tuesday = |h, m| local(London, 2026, 1, 6, h, m);
        assert_eq!(office.add(tuesday(11, 0), hours(2)), Some(tuesday(14, 0)));
        assert_eq!(office.add(tuesday(11, 0), hours(1)), Some(tuesday(12, 0)));
        assert_eq!(office.between(tuesday(8, 0), tuesday(18, 0)), hours(7) + minutes(30));
        assert!(office.is_open(tuesday(11, 59)));
        assert!(!office.is_open(tuesday(12, 0)));
        assert!(!office.is_open(tuesday(12, 30)));
        assert!(office.is_open(tuesday(13, 0)));
        assert_eq!(office.next_open(tuesday(12, 30)), Some(tuesday(13, 0)));
        assert_eq!(office.next_open(tuesday(9, 30)), Some(tuesday(9, 30)));
    }

    #[test]
    fn touching_periods_merge_in_open_intervals() {
        let office = calendar(Tz::UTC, &[Weekday::Mon], &["09:00-12:00", "12:00-17:00"], &[]);
        let monday = (utc(2026, 1, 5, 0, 0), utc(2026, 1, 6, 0, 0));
        let intervals: Vec<_> = office.open_intervals(monday.0, monday.1).collect();
        assert_eq!(intervals, [(utc(2026, 1, 5, 9, 0), utc(2026, 1, 5, 17, 0))]);
        // Clipped to the range asked for.
        let intervals: Vec<_> = office.open_intervals(utc(2026, 1, 5, 10, 0), utc(2026, 1, 5, 11, 0)).collect();
        assert_eq!(intervals, [(utc(2026, 1, 5, 10, 0), utc(2026, 1, 5, 11, 0))]);
        assert_eq!(office.open_intervals(monday.1, monday.0).count(), 0);
    }

    #[test]
    fn a_calendar_with_no_periods_never_opens() {
        let Ok(closed) = Calendar::new("Europe/London", [], []) else { panic!("calendar") };
        let at = utc(2026, 1, 5, 10, 0);
        assert_eq!(closed.add(at, hours(1)), None);
        assert_eq!(closed.next_open(at), None);
        assert!(!closed.is_open(at));
        assert_eq!(closed.between(at, at + TimeDelta::days(3650)), TimeDelta::zero());
        assert_eq!(closed.open_intervals(at, at + TimeDelta::days(3650)).count(), 0);
        // Zero is still "now", even when closed.
        assert_eq!(closed.add(at, TimeDelta::zero()), Some(at));
    }

    #[test]
    fn zero_and_negative_durations() {
        let office = calendar(London, &WEEKDAYS, &["09:00-17:30"], &[]);
        let saturday = local(London, 2026, 1, 10, 12, 0);
        assert_eq!(office.add(saturday, TimeDelta::zero()), Some(saturday));
        assert_eq!(office.add(saturday, -hours(1)), None);
        assert_eq!(office.between(saturday, saturday), TimeDelta::zero());
        assert_eq!(office.between(saturday, saturday - hours(5)), TimeDelta::zero());
    }

    #[test]
    fn the_horizon_bounds_the_search() {
        // Open on Mondays only, and every Monday for six years is a holiday.
        let mondays: Vec<Holiday> =
            date(2026, 1, 5).iter_weeks().take(6 * 53).map(|d| Holiday::new(d, "closed")).collect();
        let periods = WeeklyPeriod::parse(Weekday::Mon, "09:00-17:00");
        let Ok(calendar) = Calendar::new_in(London, periods, mondays) else { panic!("calendar") };
        let start = utc(2026, 1, 1, 0, 0);
        assert_eq!(calendar.next_open(start), None);
        assert_eq!(calendar.add(start, hours(1)), None);
        // Not bounded: between sees the Monday after the holidays.
        assert_eq!(calendar.between(start, start + TimeDelta::days(7 * 330)), hours(8) * 12);
    }

    #[test]
    fn between_is_the_inverse_of_add() {
        let office = calendar(London, &WEEKDAYS, &["09:00-12:00", "13:00-17:30"], &[(2026, 3, 30)]);
        let starts = [
            local(London, 2026, 3, 27, 16, 30),
            local(London, 2026, 3, 28, 12, 0),
            local(London, 2026, 3, 31, 12, 15) + TimeDelta::milliseconds(250),
        ];
        for start in starts {
            for business in [minutes(1), minutes(59), hours(3), hours(7) + minutes(30), hours(40), hours(200)] {
                let Some(due) = office.add(start, business) else { panic!("no answer for {business}") };
                assert_eq!(office.between(start, due), business, "from {start} plus {business}");
                // Earliest: a moment earlier, less has elapsed.
                assert!(office.between(start, due - TimeDelta::nanoseconds(1)) < business);
                // And adding back what between measures never overshoots.
                let later = due + hours(20);
                assert!(office.add(start, office.between(start, later)).is_some_and(|t| t <= later));
            }
        }
    }

    #[test]
    fn always_is_elapsed_time() {
        let always = Calendar::always();
        let at = utc(2026, 7, 1, 12, 34) + TimeDelta::milliseconds(5);
        assert!(always.is_open(at));
        assert_eq!(always.add(at, TimeDelta::days(400)), Some(at + TimeDelta::days(400)));
        assert_eq!(always.between(at, at + hours(30)), hours(30));
        assert_eq!(
            always.open_intervals(at, at + TimeDelta::days(10)).collect::<Vec<_>>(),
            [(at, at + TimeDelta::days(10))]
        );
        let far = DateTime::<Utc>::MAX_UTC - hours(1);
        assert_eq!(always.add(far, hours(2)), None);
        assert_eq!(always.add(far, minutes(30)), Some(far + minutes(30)));
    }
}
