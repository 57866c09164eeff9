//! Local wall-clock values: a time of day (with `24:00` for end of day), a working period, a
//! period on a weekday, and a named holiday date.

use std::fmt;

use chrono::{NaiveDate, Weekday};

use crate::error::{Error, truncate};

/// Minutes in a day; also the value of [`TimeOfDay::END_OF_DAY`].
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A local time of day to the minute, from `00:00` to `24:00` inclusive.
///
/// `24:00` exists only so that a period can run to the end of the day; it is the midnight that
/// starts the next day, so as a period end it is excluded like every end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// `00:00`, the start of the day.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    /// `24:00`, the end of the day.
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(MINUTES_PER_DAY);

    /// The time `hour:minute`: hours 0–23 with minutes 0–59, or exactly 24:00. `None` otherwise.
    pub const fn new(hour: u32, minute: u32) -> Option<TimeOfDay> {
        if (hour < 24 && minute < 60) || (hour == 24 && minute == 0) {
            // Both factors are bounded above, so the product fits.
            Some(TimeOfDay((hour * 60 + minute) as u16))
        } else {
            None
        }
    }

    /// The time `minutes` after midnight, up to 1,440 (24:00). `None` beyond.
    pub const fn from_minutes(minutes: u16) -> Option<TimeOfDay> {
        if minutes <= MINUTES_PER_DAY { Some(TimeOfDay(minutes)) } else { None }
    }

    /// Minutes since midnight, 0–1,440.
    pub const fn minutes(self) -> u16 {
        self.0
    }

    /// Seconds since midnight, 0–86,400; what the arithmetic compares against.
    pub(crate) fn seconds(self) -> u32 {
        u32::from(self.0) * 60
    }

    /// Parses exactly `HH:MM` (two digits each); `None` for anything else.
    fn parse(text: &str) -> Option<TimeOfDay> {
        let bytes = text.as_bytes();
        if bytes.len() != 5 || bytes[2] != b':' {
            return None;
        }
        let digit = |i: usize| bytes[i].is_ascii_digit().then(|| u32::from(bytes[i] - b'0'));
        let hour = digit(0)? * 10 + digit(1)?;
        let minute = digit(3)? * 10 + digit(4)?;
        TimeOfDay::new(hour, minute)
    }
}

impl fmt::Display for TimeOfDay {
    /// `HH:MM`, with `24:00` for the end of the day; exactly what the spec format reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A working period within one day: open from `start` (included) to `end` (excluded), local time.
///
/// Built freely; [`Calendar::new`](crate::Calendar::new) checks that `start < end` and that
/// the periods of a day do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// First open minute.
    pub start: TimeOfDay,
    /// First closed minute after the period; may be [`TimeOfDay::END_OF_DAY`].
    pub end: TimeOfDay,
}

impl Period {
    /// The period `start`–`end` (not validated here).
    pub const fn new(start: TimeOfDay, end: TimeOfDay) -> Period {
        Period { start, end }
    }

    /// The whole day, `00:00-24:00`.
    pub const ALL_DAY: Period = Period { start: TimeOfDay::MIDNIGHT, end: TimeOfDay::END_OF_DAY };
}

impl fmt::Display for Period {
    /// `HH:MM-HH:MM`, the spec format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A [`Period`] on a weekday: the unit a calendar's week is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeeklyPeriod {
    /// The local weekday the period belongs to.
    pub weekday: Weekday,
    /// The local times.
    pub period: Period,
}

impl WeeklyPeriod {
    /// `weekday` from `start` to `end` (validated when the calendar is built).
    pub const fn new(weekday: Weekday, start: TimeOfDay, end: TimeOfDay) -> WeeklyPeriod {
        WeeklyPeriod { weekday, period: Period::new(start, end) }
    }

    /// Parses `"HH:MM-HH:MM"` (spaces around the dash allowed) for `weekday`. Only the form is
    /// checked here: `start < end` is checked when the calendar is built.
    pub fn parse(weekday: Weekday, text: &str) -> Result<WeeklyPeriod, Error> {
        let malformed = || Error::MalformedPeriod { day: day_name(weekday), text: truncate(text, 40) };
        let (start, end) = text.split_once('-').ok_or_else(malformed)?;
        let start = TimeOfDay::parse(start.trim()).ok_or_else(malformed)?;
        let end = TimeOfDay::parse(end.trim()).ok_or_else(malformed)?;
        Ok(WeeklyPeriod::new(weekday, start, end))
    }
}

/// A named date on which the calendar is closed all day (its local date, in the calendar's zone).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Holiday {
    /// The local date.
    pub date: NaiveDate,
    /// What it is called ("Christmas Day"); may be empty.
    pub name: String,
}

impl Holiday {
    /// The holiday `name` on `date`.
    pub fn new(date: NaiveDate, name: impl Into<String>) -> Holiday {
        Holiday { date, name: name.into() }
    }
}

/// The seven weekdays in the order calendars store and print them, Monday first.
pub(crate) const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// The short key a weekday has in specs and error messages: `"mon"`..`"sun"`.
pub(crate) fn day_name(weekday: Weekday) -> &'static str {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    NAMES[weekday.num_days_from_monday() as usize]
}

/// The weekday a spec key names: the short key or the full English name, in any case.
pub(crate) fn parse_day(key: &str) -> Option<Weekday> {
    const FULL: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    WEEK.into_iter().find(|&day| {
        let index = day.num_days_from_monday() as usize;
        key.eq_ignore_ascii_case(day_name(day)) || key.eq_ignore_ascii_case(FULL[index])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_bounds() {
        assert_eq!(TimeOfDay::new(24, 0), Some(TimeOfDay::END_OF_DAY));
        assert_eq!(TimeOfDay::new(24, 1), None);
        assert_eq!(TimeOfDay::new(23, 60), None);
        assert_eq!(TimeOfDay::new(9, 30).map(TimeOfDay::minutes), Some(570));
        assert_eq!(TimeOfDay::from_minutes(1441), None);
        assert_eq!(TimeOfDay::END_OF_DAY.to_string(), "24:00");
        assert_eq!(TimeOfDay::new(7, 5).map(|t| t.to_string()).as_deref(), Some("07:05"));
    }

    #[test]
    fn parses_periods_strictly() {
        let parsed = WeeklyPeriod::parse(Weekday::Tue, "09:00 - 17:30");
        assert_eq!(parsed.map(|p| p.period.to_string()).as_deref(), Ok("09:00-17:30"));
        for bad in ["9-17", "09:00", "09:00-", "9:00-17:00", "09:00-17:60", "25:00-26:00", "09h00-17h00", "", "-"] {
            let err = WeeklyPeriod::parse(Weekday::Tue, bad).err().map(|e| e.to_string());
            let expected = format!("tue: {bad:?} is not HH:MM-HH:MM");
            assert!(err.as_deref().is_some_and(|e| e.starts_with(&expected)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn day_keys() {
        assert_eq!(parse_day("mon"), Some(Weekday::Mon));
        assert_eq!(parse_day("Sunday"), Some(Weekday::Sun));
        assert_eq!(parse_day("WED"), Some(Weekday::Wed));
        assert_eq!(parse_day("mond"), None);
        assert_eq!(day_name(Weekday::Sat), "sat");
    }
}
