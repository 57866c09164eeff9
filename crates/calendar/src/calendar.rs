//! The [`Calendar`] value: how it is built and validated, and what it holds.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;

use crate::error::{Error, truncate};
use crate::period::{Holiday, Period, WEEK, WeeklyPeriod, day_name};

/// Most periods one weekday may have.
pub const MAX_PERIODS_PER_DAY: usize = 8;
/// Most distinct holiday dates one calendar may have (about five years of a busy holiday list
/// is a few hundred, so this leaves room for decades).
pub const MAX_HOLIDAYS: usize = 2_000;
/// Longest holiday name, in characters.
pub const MAX_HOLIDAY_NAME_CHARS: usize = 200;

/// A business-hours calendar: a time zone, working periods per local weekday and holiday dates.
///
/// See the [crate docs](crate) for exactly which instants are open. Built by [`Calendar::new`]
/// (or [`Calendar::from_spec`]), which validates everything, so a `Calendar` is always
/// consistent: each weekday's periods are sorted, non-empty and non-overlapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub(crate) zone: Tz,
    /// Indexed by `Weekday::num_days_from_monday`.
    pub(crate) week: [Vec<Period>; 7],
    pub(crate) holidays: BTreeMap<NaiveDate, String>,
}

impl Default for Calendar {
    /// [`Calendar::always`]: what applies when nothing is configured.
    fn default() -> Calendar {
        Calendar::always()
    }
}

impl Calendar {
    /// Open 24/7 in UTC with no holidays: the calendar to use when none is configured, so that
    /// business time is plain elapsed time.
    pub fn always() -> Calendar {
        Calendar::always_in(Tz::UTC)
    }

    /// Open 24/7 in `zone` with no holidays. (Without holidays the zone changes nothing; it is
    /// kept so that holidays added later are read in the right local dates.)
    pub fn always_in(zone: Tz) -> Calendar {
        Calendar { zone, week: std::array::from_fn(|_| vec![Period::ALL_DAY]), holidays: BTreeMap::new() }
    }

    /// A calendar in the IANA time zone `zone` (e.g. `"Europe/London"`), open during `periods`
    /// (in any order) except on `holidays`.
    ///
    /// Fails when the zone is unknown, a period does not start before it ends, two periods of
    /// one weekday overlap (touching is fine), a weekday has more than [`MAX_PERIODS_PER_DAY`],
    /// a date is given twice, or there are more than [`MAX_HOLIDAYS`] holidays or a name longer
    /// than [`MAX_HOLIDAY_NAME_CHARS`]. Input is consumed lazily and rejected as soon as a limit
    /// is passed, so an endless iterator is an error, not a hang.
    pub fn new(
        zone: &str,
        periods: impl IntoIterator<Item = WeeklyPeriod>,
        holidays: impl IntoIterator<Item = Holiday>,
    ) -> Result<Calendar, Error> {
        Calendar::new_in(parse_zone(zone)?, periods, holidays)
    }

    /// [`Calendar::new`] with a zone already parsed.
    pub fn new_in(
        zone: Tz,
        periods: impl IntoIterator<Item = WeeklyPeriod>,
        holidays: impl IntoIterator<Item = Holiday>,
    ) -> Result<Calendar, Error> {
        let mut week: [Vec<Period>; 7] = Default::default();
        for WeeklyPeriod { weekday, period } in periods {
            let day = day_name(weekday);
            if period.start >= period.end {
                return Err(Error::EmptyPeriod { day, period: period.to_string() });
            }
            let slot = &mut week[weekday.num_days_from_monday() as usize];
            if slot.len() == MAX_PERIODS_PER_DAY {
                return Err(Error::TooManyPeriods { day, limit: MAX_PERIODS_PER_DAY });
            }
            slot.push(period);
        }
        for (weekday, periods) in WEEK.into_iter().zip(week.iter_mut()) {
            periods.sort_unstable();
            // Sorted by start, so only neighbours can overlap; touching (end == next start) is
            // allowed and means the same as one merged period.
            if let Some(pair) = periods.windows(2).find(|pair| pair[0].end > pair[1].start) {
                return Err(Error::OverlappingPeriods {
                    day: day_name(weekday),
                    first: pair[0].to_string(),
                    second: pair[1].to_string(),
                });
            }
        }
        let mut calendar = Calendar { zone, week, holidays: BTreeMap::new() };
        for holiday in holidays {
            calendar.insert_holiday(holiday, false)?;
        }
        Ok(calendar)
    }

    /// This calendar with `holidays` added, e.g. from [`import_holidays`](crate::import_holidays).
    /// A date the calendar already has keeps its name (so hand-written names win over imported
    /// ones); the limits of [`Calendar::new`] apply to the result.
    pub fn with_holidays(mut self, holidays: impl IntoIterator<Item = Holiday>) -> Result<Calendar, Error> {
        for holiday in holidays {
            self.insert_holiday(holiday, true)?;
        }
        Ok(self)
    }

    /// Adds one holiday; a date already present is an error unless `keep_existing`.
    fn insert_holiday(&mut self, holiday: Holiday, keep_existing: bool) -> Result<(), Error> {
        if holiday.name.chars().count() > MAX_HOLIDAY_NAME_CHARS {
            return Err(Error::HolidayNameTooLong { date: holiday.date.to_string(), limit: MAX_HOLIDAY_NAME_CHARS });
        }
        if let Some(existing) = self.holidays.get(&holiday.date) {
            if keep_existing {
                return Ok(());
            }
            return Err(Error::DuplicateHoliday {
                date: holiday.date.to_string(),
                first: existing.clone(),
                second: holiday.name,
            });
        }
        if self.holidays.len() == MAX_HOLIDAYS {
            return Err(Error::TooManyHolidays { limit: MAX_HOLIDAYS });
        }
        self.holidays.insert(holiday.date, holiday.name);
        Ok(())
    }

    /// The time zone local weekdays, times and holiday dates are read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The working periods of a local weekday, sorted; empty when closed all day.
    pub fn periods(&self, weekday: Weekday) -> &[Period] {
        &self.week[weekday.num_days_from_monday() as usize]
    }

    /// Every working period of the week, Monday first, each day's in order.
    pub fn weekly_periods(&self) -> impl Iterator<Item = WeeklyPeriod> + '_ {
        WEEK.into_iter()
            .flat_map(move |weekday| self.periods(weekday).iter().map(move |&period| WeeklyPeriod { weekday, period }))
    }

    /// Holiday dates (local) and their names.
    pub fn holidays(&self) -> &BTreeMap<NaiveDate, String> {
        &self.holidays
    }

    /// The name of the holiday on local `date`, if it is one.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    /// Whether any weekday has a period; without one the calendar never opens.
    pub(crate) fn has_periods(&self) -> bool {
        self.week.iter().any(|day| !day.is_empty())
    }
}

/// The `Tz` an IANA name stands for.
pub(crate) fn parse_zone(name: &str) -> Result<Tz, Error> {
    name.parse::<Tz>().map_err(|_| Error::UnknownTimeZone(truncate(name, 64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(weekday: Weekday, text: &str) -> WeeklyPeriod {
        match WeeklyPeriod::parse(weekday, text) {
            Ok(period) => period,
            Err(e) => panic!("{e}"),
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
    }

    fn message(result: Result<Calendar, Error>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn sorts_periods_and_keeps_touching_ones() {
        let periods = [period(Weekday::Tue, "13:00-17:30"), period(Weekday::Tue, "09:00-13:00")];
        let calendar = Calendar::new("Europe/London", periods, []);
        let Ok(calendar) = calendar else { panic!("{calendar:?}") };
        let tuesday: Vec<String> = calendar.periods(Weekday::Tue).iter().map(Period::to_string).collect();
        assert_eq!(tuesday, ["09:00-13:00", "13:00-17:30"]);
        assert!(calendar.periods(Weekday::Mon).is_empty());
        assert_eq!(calendar.zone(), chrono_tz::Europe::London);
        assert_eq!(calendar.weekly_periods().count(), 2);
    }

    #[test]
    fn unknown_zone_names_it() {
        assert_eq!(
            message(Calendar::new("Europe/Lodnon", [], [])),
            "unknown time zone \"Europe/Lodnon\": use an IANA name such as \"Europe/London\" or \"UTC\""
        );
    }

    #[test]
    fn empty_period() {
        let msg = message(Calendar::new("UTC", [period(Weekday::Mon, "17:00-09:00")], []));
        assert!(msg.starts_with("mon: period 17:00-09:00 does not start before it ends"), "{msg}");
        let msg = message(Calendar::new("UTC", [period(Weekday::Mon, "24:00-24:00")], []));
        assert!(msg.starts_with("mon: period 24:00-24:00 does not start"), "{msg}");
    }

    #[test]
    fn overlapping_periods_name_both() {
        let periods = [period(Weekday::Wed, "12:00-18:00"), period(Weekday::Wed, "09:00-12:30")];
        assert_eq!(
            message(Calendar::new("UTC", periods, [])),
            "wed: periods 09:00-12:30 and 12:00-18:00 overlap; merge them or move one"
        );
    }

    #[test]
    fn too_many_periods() {
        let periods = (0..9).map(|h| WeeklyPeriod::new(Weekday::Fri, hm(h, 0), hm(h, 30)));
        assert_eq!(
            message(Calendar::new("UTC", periods, [])),
            "fri: more than 8 periods; merge some (the limit is 8 per day)"
        );
        // An endless iterator is cut off, not consumed.
        let endless = std::iter::repeat(WeeklyPeriod::new(Weekday::Fri, hm(1, 0), hm(2, 0)));
        assert!(matches!(Calendar::new("UTC", endless, []), Err(Error::TooManyPeriods { .. })));
    }

    fn hm(h: u32, m: u32) -> crate::TimeOfDay {
        crate::TimeOfDay::new(h, m).unwrap_or(crate::TimeOfDay::MIDNIGHT)
    }

    #[test]
    fn holiday_limits() {
        let start = date(2020, 1, 1);
        let many = start.iter_days().map(|d| Holiday::new(d, "day"));
        assert_eq!(
            message(Calendar::new("UTC", [], many)),
            "more than 2000 holidays; remove past years (the limit is 2000)"
        );
        let twice = [Holiday::new(start, "New Year"), Holiday::new(start, "Again")];
        assert_eq!(
            message(Calendar::new("UTC", [], twice)),
            "holiday 2020-01-01 is given twice (\"New Year\" and \"Again\"); keep one"
        );
        let long = [Holiday::new(start, "x".repeat(201))];
        assert_eq!(
            message(Calendar::new("UTC", [], long)),
            "holiday 2020-01-01: name is longer than 200 characters; shorten it"
        );
    }

    #[test]
    fn with_holidays_keeps_existing_names() {
        let day = date(2026, 12, 25);
        let calendar = Calendar::new("UTC", [], [Holiday::new(day, "Christmas")])
            .and_then(|c| c.with_holidays([Holiday::new(day, "Imported"), Holiday::new(date(2026, 12, 26), "Boxing")]));
        let Ok(calendar) = calendar else { panic!("{calendar:?}") };
        assert_eq!(calendar.holiday(day), Some("Christmas"));
        assert_eq!(calendar.holiday(date(2026, 12, 26)), Some("Boxing"));
        assert_eq!(calendar.holidays().len(), 2);
    }

    #[test]
    fn always_is_open_every_day_in_utc() {
        let calendar = Calendar::always();
        assert_eq!(calendar, Calendar::default());
        assert_eq!(calendar.zone(), Tz::UTC);
        assert!(WEEK.iter().all(|&d| calendar.periods(d) == [Period::ALL_DAY]));
    }
}
