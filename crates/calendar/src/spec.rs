//! [`CalendarSpec`]: the serde form of a calendar, for files and storage.

use std::fmt;

use chrono::{NaiveDate, Weekday};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::calendar::{Calendar, MAX_HOLIDAYS, MAX_PERIODS_PER_DAY, parse_zone};
use crate::error::{Error, truncate};
use crate::period::{Holiday, WEEK, WeeklyPeriod, day_name, parse_day};

/// A calendar as written in files and stored, e.g. in JSON:
///
/// ```json
/// { "time_zone": "Europe/London",
///   "hours": { "mon": ["09:00-17:30"], "tue": ["09:00-12:00", "13:00-17:30"], "sun": [] },
///   "holidays": [ { "date": "2026-12-25", "name": "Christmas Day" } ] }
/// ```
///
/// Weekday keys are `mon`..`sun` or full names, in any case; a missing weekday (or missing
/// `hours`) is closed. Periods are `HH:MM-HH:MM` in local time, `24:00` as an end meaning end of
/// day. Unknown fields are rejected so that a typo ("holiday") is not silently ignored.
///
/// [`Calendar::from_spec`] validates it; [`Calendar::to_spec`] writes the canonical form (all
/// seven days, periods sorted, holidays by date), which reads back to an equal calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone name, e.g. `"Europe/London"`.
    pub time_zone: String,
    /// Working periods per weekday.
    #[serde(default)]
    pub hours: HoursSpec,
    /// Dates on which the calendar is closed all day.
    #[serde(default)]
    pub holidays: Vec<HolidaySpec>,
}

/// Working periods per weekday, each `"HH:MM-HH:MM"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[allow(missing_docs)] // The fields are the weekdays.
pub struct HoursSpec {
    pub mon: Vec<String>,
    pub tue: Vec<String>,
    pub wed: Vec<String>,
    pub thu: Vec<String>,
    pub fri: Vec<String>,
    pub sat: Vec<String>,
    pub sun: Vec<String>,
}

impl HoursSpec {
    /// The periods written for `weekday`.
    pub fn day(&self, weekday: Weekday) -> &Vec<String> {
        match weekday {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// The periods written for `weekday`, to fill in.
    pub fn day_mut(&mut self, weekday: Weekday) -> &mut Vec<String> {
        match weekday {
            Weekday::Mon => &mut self.mon,
            Weekday::Tue => &mut self.tue,
            Weekday::Wed => &mut self.wed,
            Weekday::Thu => &mut self.thu,
            Weekday::Fri => &mut self.fri,
            Weekday::Sat => &mut self.sat,
            Weekday::Sun => &mut self.sun,
        }
    }
}

// Written by hand to accept full and differently-cased day names and to reject a day given
// twice ("mon" and "Monday"), which a derive with aliases would not.
impl<'de> Deserialize<'de> for HoursSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HoursSpec, D::Error> {
        struct HoursVisitor;

        impl<'de> Visitor<'de> for HoursVisitor {
            type Value = HoursSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from weekday (mon..sun) to a list of \"HH:MM-HH:MM\" periods")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HoursSpec, A::Error> {
                let mut hours = HoursSpec::default();
                let mut seen = [false; 7];
                while let Some(key) = map.next_key::<String>()? {
                    let weekday =
                        parse_day(&key).ok_or_else(|| de::Error::custom(Error::UnknownWeekday(truncate(&key, 32))))?;
                    let index = weekday.num_days_from_monday() as usize;
                    if seen[index] {
                        return Err(de::Error::custom(format!(
                            "weekday {} is given twice (as {:?}); keep one",
                            day_name(weekday),
                            truncate(&key, 32)
                        )));
                    }
                    seen[index] = true;
                    *hours.day_mut(weekday) = map.next_value()?;
                }
                Ok(hours)
            }
        }

        deserializer.deserialize_map(HoursVisitor)
    }
}

/// A holiday as written in a spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpec {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// What it is called; may be left out.
    #[serde(default)]
    pub name: String,
}

impl Calendar {
    /// The calendar a spec describes, validated as [`Calendar::new`] does; dates must be
    /// exactly `YYYY-MM-DD`.
    pub fn from_spec(spec: &CalendarSpec) -> Result<Calendar, Error> {
        let zone = parse_zone(&spec.time_zone)?;
        let mut periods = Vec::new();
        for weekday in WEEK {
            let texts = spec.hours.day(weekday);
            // Checked before parsing so that a huge list costs nothing.
            if texts.len() > MAX_PERIODS_PER_DAY {
                return Err(Error::TooManyPeriods { day: day_name(weekday), limit: MAX_PERIODS_PER_DAY });
            }
            for text in texts {
                periods.push(WeeklyPeriod::parse(weekday, text)?);
            }
        }
        if spec.holidays.len() > MAX_HOLIDAYS {
            return Err(Error::TooManyHolidays { limit: MAX_HOLIDAYS });
        }
        let mut holidays = Vec::with_capacity(spec.holidays.len());
        for holiday in &spec.holidays {
            holidays.push(Holiday::new(parse_date(&holiday.date)?, holiday.name.clone()));
        }
        Calendar::new_in(zone, periods, holidays)
    }

    /// The spec that reads back to this calendar: every weekday present (closed ones empty),
    /// periods sorted, holidays in date order.
    pub fn to_spec(&self) -> CalendarSpec {
        let mut hours = HoursSpec::default();
        for weekday in WEEK {
            *hours.day_mut(weekday) = self.periods(weekday).iter().map(ToString::to_string).collect();
        }
        let holidays = self
            .holidays
            .iter()
            .map(|(date, name)| HolidaySpec { date: date.format("%Y-%m-%d").to_string(), name: name.clone() })
            .collect();
        CalendarSpec { time_zone: self.zone.name().to_owned(), hours, holidays }
    }
}

/// Parses exactly `YYYY-MM-DD` (four-digit year, zero-padded month and day).
fn parse_date(text: &str) -> Result<NaiveDate, Error> {
    let bad = || Error::BadDate(truncate(text, 40));
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return Err(bad());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONDON_OFFICE: &str = r#"{
        "time_zone": "Europe/London",
        "hours": {
            "mon": ["09:00-17:30"],
            "tue": ["09:00-12:00", "13:00-17:30"],
            "wed": ["09:00-17:30"],
            "thu": ["09:00-17:30"],
            "fri": ["09:00-17:30"],
            "sat": ["10:00-24:00"],
            "sun": []
        },
        "holidays": [
            { "date": "2026-12-25", "name": "Christmas Day" },
            { "date": "2026-12-28", "name": "Boxing Day (substitute day)" }
        ]
    }"#;

    fn spec(json: &str) -> CalendarSpec {
        match serde_json::from_str(json) {
            Ok(spec) => spec,
            Err(e) => panic!("{e}"),
        }
    }

    fn from_spec(spec: &CalendarSpec) -> Calendar {
        match Calendar::from_spec(spec) {
            Ok(calendar) => calendar,
            Err(e) => panic!("{e}"),
        }
    }

    fn spec_error(json: &str) -> String {
        Calendar::from_spec(&spec(json)).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn round_trips_exactly() {
        let written = spec(LONDON_OFFICE);
        let calendar = from_spec(&written);
        assert_eq!(calendar.to_spec(), written);
        assert_eq!(from_spec(&calendar.to_spec()), calendar);
        // And through JSON text.
        let json = serde_json::to_string(&calendar.to_spec()).unwrap_or_default();
        assert_eq!(spec(&json), written);
        assert_eq!(calendar.periods(Weekday::Tue).len(), 2);
        assert_eq!(calendar.holiday(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap_or_default()), Some("Christmas Day"));
    }

    #[test]
    fn always_round_trips() {
        for calendar in [Calendar::always(), Calendar::always_in(chrono_tz::Asia::Kolkata)] {
            let written = calendar.to_spec();
            assert_eq!(written.hours.mon, ["00:00-24:00"]);
            assert_eq!(from_spec(&written), calendar);
        }
    }

    #[test]
    fn missing_days_are_closed_and_names_are_flexible() {
        let written = spec(r#"{ "time_zone": "UTC", "hours": { "Monday": ["09:00-17:00"], "FRI": ["10:00-11:00"] } }"#);
        let calendar = from_spec(&written);
        assert_eq!(calendar.periods(Weekday::Mon).len(), 1);
        assert_eq!(calendar.periods(Weekday::Fri).len(), 1);
        assert!(calendar.periods(Weekday::Tue).is_empty());
        assert!(calendar.holidays().is_empty());
        // The canonical form names every day, short.
        let json = serde_json::to_string(&calendar.to_spec()).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"time_zone":"UTC","hours":{"mon":["09:00-17:00"],"tue":[],"wed":[],"thu":[],"fri":["10:00-11:00"],"sat":[],"sun":[]},"holidays":[]}"#
        );
        let bare = spec(r#"{ "time_zone": "UTC" }"#);
        assert!(!from_spec(&bare).has_periods());
    }

    #[test]
    fn serde_rejects_bad_shapes() {
        let error =
            |json: &str| serde_json::from_str::<CalendarSpec>(json).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error(r#"{ "time_zone": "UTC", "hours": { "mond": [] } }"#).starts_with("unknown weekday \"mond\""));
        assert!(
            error(r#"{ "time_zone": "UTC", "hours": { "mon": [], "Monday": [] } }"#)
                .starts_with("weekday mon is given twice (as \"Monday\")")
        );
        assert!(error(r#"{ "time_zone": "UTC", "holiday": [] }"#).starts_with("unknown field `holiday`"));
        assert!(error(r#"{ "hours": {} }"#).starts_with("missing field `time_zone`"));
    }

    #[test]
    fn validation_messages() {
        assert_eq!(
            spec_error(r#"{ "time_zone": "Mars/Olympus" }"#),
            "unknown time zone \"Mars/Olympus\": use an IANA name such as \"Europe/London\" or \"UTC\""
        );
        assert_eq!(
            spec_error(r#"{ "time_zone": "UTC", "hours": { "tue": ["9-17"] } }"#),
            "tue: \"9-17\" is not HH:MM-HH:MM (hours 00-23, minutes 00-59, \"24:00\" only as an end)"
        );
        assert!(
            spec_error(r#"{ "time_zone": "UTC", "hours": { "sat": ["22:00-06:00"] } }"#)
                .starts_with("sat: period 22:00-06:00 does not start before it ends")
        );
        assert_eq!(
            spec_error(r#"{ "time_zone": "UTC", "hours": { "thu": ["09:00-13:00", "12:00-17:00"] } }"#),
            "thu: periods 09:00-13:00 and 12:00-17:00 overlap; merge them or move one"
        );
        let nine = (0..9).map(|h| format!("\"{h:02}:00-{h:02}:30\"")).collect::<Vec<_>>().join(",");
        assert_eq!(
            spec_error(&format!(r#"{{ "time_zone": "UTC", "hours": {{ "sun": [{nine}] }} }}"#)),
            "sun: more than 8 periods; merge some (the limit is 8 per day)"
        );
        for bad in ["2026-02-30", "2026-2-3", "26-12-25", "2026/12/25", "christmas"] {
            assert_eq!(
                spec_error(&format!(r#"{{ "time_zone": "UTC", "holidays": [{{ "date": "{bad}" }}] }}"#)),
                format!("holiday date {bad:?} is not a valid YYYY-MM-DD date")
            );
        }
        let many = (0..2001).map(|_| r#"{ "date": "2026-01-01" }"#).collect::<Vec<_>>().join(",");
        assert_eq!(
            spec_error(&format!(r#"{{ "time_zone": "UTC", "holidays": [{many}] }}"#)),
            "more than 2000 holidays; remove past years (the limit is 2000)"
        );
        assert_eq!(
            spec_error(
                r#"{ "time_zone": "UTC", "holidays": [{ "date": "2026-01-01" }, { "date": "2026-01-01", "name": "x" }] }"#
            ),
            "holiday 2026-01-01 is given twice (\"\" and \"x\"); keep one"
        );
    }
}
