//! Calendars in the gRPC contract's terms (`tend.v1.Calendar`): routing's calendars and
//! ingest's account hours both read and write them through here, so a calendar means the same
//! in every service. Behind the `contract` feature.

use chrono::Weekday;
use tend_proto::v1;

use crate::{Calendar, CalendarSpec, HolidaySpec, MAX_HOLIDAYS, MAX_PERIODS_PER_DAY};

/// A problem with a field of a calendar message: the field (e.g. `calendar.periods`) and what is
/// wrong.
pub type FieldError = (&'static str, String);

/// The spec of a calendar of the contract, its periods and holidays checked for size and form
/// (the spec itself is checked by [`Calendar::from_spec`]).
pub fn spec(proto: &v1::Calendar) -> Result<CalendarSpec, FieldError> {
    let mut spec = CalendarSpec { time_zone: proto.time_zone.clone(), hours: Default::default(), holidays: Vec::new() };
    if proto.periods.len() > 7 * MAX_PERIODS_PER_DAY {
        return Err(("calendar.periods", format!("at most {} periods", 7 * MAX_PERIODS_PER_DAY)));
    }
    for period in &proto.periods {
        let weekday: Weekday = period.weekday.parse().map_err(|_| {
            let mut quoted: String = period.weekday.chars().take(16).collect();
            if quoted.len() < period.weekday.len() {
                quoted.push('…');
            }
            ("calendar.periods", format!("{quoted:?} is not a weekday: use mon, tue, … sun"))
        })?;
        // "HH:MM" is 5 bytes; anything much longer is not a time (and must not be cut into one).
        if period.start.len() > 8 || period.end.len() > 8 {
            return Err(("calendar.periods", format!("{weekday}: start and end are HH:MM, e.g. 09:00 and 17:30")));
        }
        spec.hours.day_mut(weekday).push(format!("{}-{}", period.start, period.end));
    }
    if proto.holidays.len() > MAX_HOLIDAYS {
        return Err(("calendar.holidays", format!("at most {MAX_HOLIDAYS}")));
    }
    spec.holidays = proto
        .holidays
        .iter()
        .map(|holiday| HolidaySpec { date: holiday.date.clone(), name: holiday.name.clone() })
        .collect();
    Ok(spec)
}

/// A checked calendar of the contract (without its name, which the caller checks).
pub fn from_contract(proto: &v1::Calendar) -> Result<Calendar, FieldError> {
    Calendar::from_spec(&spec(proto)?).map_err(|error| ("calendar", error.to_string()))
}

/// `calendar` in the contract's terms, named `name`.
pub fn to_contract(name: &str, calendar: &Calendar, updated_at: Option<prost_types::Timestamp>) -> v1::Calendar {
    let spec = calendar.to_spec();
    let mut periods = Vec::new();
    for (weekday, key) in [
        (Weekday::Mon, "mon"),
        (Weekday::Tue, "tue"),
        (Weekday::Wed, "wed"),
        (Weekday::Thu, "thu"),
        (Weekday::Fri, "fri"),
        (Weekday::Sat, "sat"),
        (Weekday::Sun, "sun"),
    ] {
        for text in spec.hours.day(weekday) {
            let (start, end) = text.split_once('-').unwrap_or((text, ""));
            periods.push(v1::WorkingPeriod { weekday: key.into(), start: start.trim().into(), end: end.trim().into() });
        }
    }
    v1::Calendar {
        name: name.to_owned(),
        time_zone: spec.time_zone,
        periods,
        holidays: spec
            .holidays
            .into_iter()
            .map(|holiday| v1::Holiday { date: holiday.date, name: holiday.name })
            .collect(),
        updated_at,
    }
}

/// `calendar` as the business hours an SLA deadline carries, with only the holidays from
/// `from` to `until` (a deadline's reach, so the message stays small).
pub fn to_business_hours(calendar: &Calendar, from: chrono::NaiveDate, until: chrono::NaiveDate) -> v1::BusinessHours {
    let spec = calendar.to_spec();
    let days = crate::period::WEEK
        .iter()
        .map(|weekday| v1::BusinessDay {
            weekday: crate::period::day_name(*weekday).to_owned(),
            periods: spec.hours.day(*weekday).clone(),
        })
        .filter(|day| !day.periods.is_empty())
        .collect();
    let (from, until) = (from.format("%Y-%m-%d").to_string(), until.format("%Y-%m-%d").to_string());
    let holidays =
        spec.holidays.into_iter().map(|holiday| holiday.date).filter(|date| *date >= from && *date <= until).collect();
    v1::BusinessHours { time_zone: spec.time_zone, days, holidays }
}

/// The calendar of business hours an SLA deadline carries.
pub fn from_business_hours(hours: &v1::BusinessHours) -> Result<Calendar, FieldError> {
    let mut spec = CalendarSpec { time_zone: hours.time_zone.clone(), hours: Default::default(), holidays: Vec::new() };
    for day in &hours.days {
        let weekday = crate::period::parse_day(&day.weekday)
            .ok_or_else(|| ("hours.days", format!("{:?} is not a weekday", day.weekday)))?;
        spec.hours.day_mut(weekday).extend(day.periods.iter().cloned());
    }
    spec.holidays = hours.holidays.iter().map(|date| HolidaySpec { date: date.clone(), name: String::new() }).collect();
    Calendar::from_spec(&spec).map_err(|error| ("hours", error.to_string()))
}
