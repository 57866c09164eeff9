//! Holiday import from iCalendar (RFC 5545) text, such as the bank holiday feeds gov.uk
//! publishes.
//!
//! The `icalendar` crate parses the text into components and properties; dates, durations and
//! recurrence are read here. Its own recurrence support is not used (the feature is off, and it
//! turns repeating all-day events into local date-times, icalendar#175): an all-day date stays a
//! date from file to holiday and never passes through a time zone.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::{Component, Property};

use crate::calendar::{MAX_HOLIDAY_NAME_CHARS, MAX_HOLIDAYS};
use crate::error::{Error, truncate};
use crate::period::Holiday;

/// Largest iCalendar text [`import_holidays`] reads: 1 MiB (gov.uk's feed is about 20 KiB).
pub const MAX_ICS_BYTES: usize = 1 << 20;
/// Longest year range [`import_holidays`] expands.
pub const MAX_IMPORT_YEARS: i64 = 200;
/// Longest event, in days; a longer one is taken for a mistake rather than a holiday.
const MAX_EVENT_DAYS: i64 = 366;
/// Most dates all events together may mark (duplicates included), bounding the work a 1 MiB
/// file can cause.
const MAX_MARKS: usize = 100_000;

/// The holidays an iCalendar text describes, dated within `years` (inclusive), sorted by date.
///
/// Every `VEVENT` (at any depth) becomes holiday dates named by its `SUMMARY`:
///
/// - **All-day events** (`DTSTART;VALUE=DATE:20261225`) cover their dates up to `DTEND`
///   (exclusive, as RFC 5545 says) or for `DURATION` whole days; one day when neither is given.
///   A multi-day event gives each of its dates.
/// - **Timed events** mark every local date, in `zone`, that the event touches: 23:00–01:00
///   marks two days, and a two-hour closure closes the whole day. Times are read in their
///   `TZID` when it is an IANA name, in UTC when they end in `Z`, and otherwise (floating
///   times, or a Windows zone name) in `zone`.
/// - **`RRULE:FREQ=YEARLY`** repeats the event every `INTERVAL` years on the month and day of
///   `DTSTART`, stopping at `COUNT` occurrences or after `UNTIL`; `BYMONTH`/`BYMONTHDAY` may
///   only repeat what `DTSTART` says. A 29 February start skips non-leap years (uncounted, as
///   RFC 5545 says). Any other frequency or rule part (`BYDAY`, …) is an error naming the
///   event rather than a silent guess; so is `RDATE`. `EXDATE`s and `RECURRENCE-ID` overrides
///   (same `UID`) remove occurrences; an override event then marks its own dates.
/// - Events with `STATUS:CANCELLED` are skipped.
///
/// When several events fall on one date, the first in the file names it. Names are cut to
/// [`MAX_HOLIDAY_NAME_CHARS`].
///
/// Errors: text over [`MAX_ICS_BYTES`], an empty year range or one over [`MAX_IMPORT_YEARS`],
/// text that does not parse or has no `VCALENDAR`, an event without `DTSTART` or with a bad
/// date, duration or rule, an event over 366 days, or more than [`MAX_HOLIDAYS`] dates.
pub fn import_holidays(ics: &str, zone: Tz, years: RangeInclusive<i32>) -> Result<Vec<Holiday>, Error> {
    if ics.len() > MAX_ICS_BYTES {
        return Err(Error::IcsTooLarge { bytes: ics.len(), limit: MAX_ICS_BYTES });
    }
    let (first_year, last_year) = (*years.start(), *years.end());
    if last_year < first_year || i64::from(last_year) - i64::from(first_year) >= MAX_IMPORT_YEARS {
        return Err(Error::BadYears { first: first_year, last: last_year, limit: MAX_IMPORT_YEARS });
    }
    let unfolded = icalendar::parser::unfold(ics);
    if unfolded.trim().is_empty() {
        return Err(Error::IcsParse("the text is empty".to_owned()));
    }
    let roots = icalendar::parser::read_components(&unfolded).map_err(|message| Error::IcsParse(one_line(&message)))?;
    if !roots.iter().any(|root| root.name.as_str().eq_ignore_ascii_case("VCALENDAR")) {
        return Err(Error::IcsParse("no BEGIN:VCALENDAR found".to_owned()));
    }
    let mut components = Vec::new();
    collect_events(&roots, &mut components);
    let events = components
        .iter()
        .enumerate()
        .map(|(index, component)| Event::read(component, index, zone))
        .collect::<Result<Vec<_>, _>>()?;

    // Occurrences that RECURRENCE-ID overrides replace, by UID.
    let mut overridden: HashMap<&str, Vec<Stamp>> = HashMap::new();
    for event in &events {
        if let (Some(uid), Some(id)) = (&event.uid, event.recurrence_id) {
            overridden.entry(uid.as_str()).or_default().push(id);
        }
    }

    let mut marker = Marker { zone, years: first_year..=last_year, dates: BTreeMap::new(), marks: 0 };
    for event in events.iter().filter(|event| !event.cancelled) {
        let replaced = match (&event.uid, event.recurrence_id) {
            // The override itself is never excluded by its own RECURRENCE-ID.
            (Some(uid), None) => overridden.get(uid.as_str()).map(Vec::as_slice).unwrap_or_default(),
            _ => &[],
        };
        for start in event.occurrences(first_year, last_year) {
            if event.exdates.iter().chain(replaced).any(|excluded| excluded.same_as(&start)) {
                continue;
            }
            marker.mark(event, start)?;
        }
    }
    Ok(marker.dates.into_iter().map(|(date, name)| Holiday { date, name }).collect())
}

/// The parser's multi-line message as one line of at most 200 characters.
fn one_line(message: &str) -> String {
    let message = message.strip_prefix("error:").unwrap_or(message);
    truncate(&message.split_whitespace().collect::<Vec<_>>().join(" "), 200)
}

/// Every VEVENT under `components`, depth first, in file order.
fn collect_events<'c, 'a>(components: &'c [Component<'a>], out: &mut Vec<&'c Component<'a>>) {
    for component in components {
        if component.name.as_str().eq_ignore_ascii_case("VEVENT") {
            out.push(component);
        }
        collect_events(&component.components, out);
    }
}

/// The start of an event or occurrence, or a date in EXDATE, UNTIL or RECURRENCE-ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// An all-day date.
    Date(NaiveDate),
    /// A wall-clock time in a zone (UTC for `Z` times).
    Time(NaiveDateTime, Tz),
}

impl Stamp {
    /// The date as written.
    fn wall_date(&self) -> NaiveDate {
        match self {
            Stamp::Date(date) => *date,
            Stamp::Time(wall, _) => wall.date(),
        }
    }

    /// Whether an EXDATE or RECURRENCE-ID `self` names the occurrence `start`: the same instant
    /// for two times, else the same date as written.
    fn same_as(&self, start: &Stamp) -> bool {
        match (self, start) {
            (Stamp::Time(a, a_zone), Stamp::Time(b, b_zone)) => resolve(*a_zone, *a) == resolve(*b_zone, *b),
            _ => self.wall_date() == start.wall_date(),
        }
    }

    /// The same stamp in another year; `None` for 29 February in a non-leap year.
    fn in_year(&self, year: i32) -> Option<Stamp> {
        match self {
            Stamp::Date(date) => date.with_year(year).map(Stamp::Date),
            Stamp::Time(wall, tz) => wall.with_year(year).map(|wall| Stamp::Time(wall, *tz)),
        }
    }

    /// Whether this occurrence start is after an UNTIL bound: compared as instants for two
    /// times, else as dates.
    fn after(&self, until: &Stamp) -> bool {
        match (self, until) {
            (Stamp::Time(a, a_zone), Stamp::Time(b, b_zone)) => resolve(*a_zone, *a) > resolve(*b_zone, *b),
            _ => self.wall_date() > until.wall_date(),
        }
    }
}

/// The instant of a wall time in `tz`: the earlier of a repeated time; a time skipped by a DST
/// gap is read an hour later (past the gap).
fn resolve(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    let found = tz.from_local_datetime(&wall).earliest().or_else(|| {
        wall.checked_add_signed(TimeDelta::hours(1)).and_then(|later| tz.from_local_datetime(&later).earliest())
    });
    // A wall time no offset can reach does not occur in tzdb; UTC keeps the import going.
    found.map_or_else(|| wall.and_utc(), |at| at.with_timezone(&Utc))
}

/// How long each occurrence lasts.
#[derive(Debug, Clone, Copy)]
enum Length {
    /// Whole days, for all-day events (at least one).
    Days(i64),
    /// Exact time, for timed events (may be zero).
    Exact(TimeDelta),
}

/// `RRULE:FREQ=YEARLY` as far as it is supported.
#[derive(Debug, Clone, Copy)]
struct Yearly {
    interval: i64,
    count: Option<u64>,
    until: Option<Stamp>,
}

/// One VEVENT, read.
#[derive(Debug)]
struct Event {
    uid: Option<String>,
    name: String,
    start: Stamp,
    length: Length,
    rule: Option<Yearly>,
    exdates: Vec<Stamp>,
    recurrence_id: Option<Stamp>,
    cancelled: bool,
}

impl Event {
    /// Reads the VEVENT at position `index` (from 0) of the file; floating times are in `zone`.
    fn read(component: &Component<'_>, index: usize, zone: Tz) -> Result<Event, Error> {
        let text = |name: &str| find(component, name).map(|p| p.val.as_str().trim().to_owned());
        let uid = text("UID").filter(|uid| !uid.is_empty());
        let name: String = text("SUMMARY").unwrap_or_default().chars().take(MAX_HOLIDAY_NAME_CHARS).collect();
        let label = if !name.is_empty() {
            truncate(&name, 60)
        } else {
            uid.as_deref().map_or_else(|| format!("#{}", index + 1), |uid| truncate(uid, 60))
        };
        let fail = |problem: String| Error::IcsEvent { event: label.clone(), problem };

        let start = find(component, "DTSTART").ok_or_else(|| fail("no DTSTART".to_owned()))?;
        let start = single_stamp(start, zone).map_err(|p| fail(format!("DTSTART {p}")))?;
        let length = match (find(component, "DTEND"), find(component, "DURATION")) {
            (Some(end), _) => {
                let end = single_stamp(end, zone).map_err(|p| fail(format!("DTEND {p}")))?;
                match (start, end) {
                    (Stamp::Date(from), Stamp::Date(to)) if to < from => {
                        return Err(fail("DTEND is before DTSTART".to_owned()));
                    }
                    // DTEND is exclusive; an equal one is read as the usual single day.
                    (Stamp::Date(from), Stamp::Date(to)) => Length::Days((to - from).num_days().max(1)),
                    (Stamp::Time(from, from_zone), Stamp::Time(to, to_zone)) => {
                        let length = resolve(to_zone, to) - resolve(from_zone, from);
                        if length < TimeDelta::zero() {
                            return Err(fail("DTEND is before DTSTART".to_owned()));
                        }
                        Length::Exact(length)
                    }
                    _ => return Err(fail("DTSTART and DTEND must both be dates or both date-times".to_owned())),
                }
            }
            (None, Some(duration)) => {
                let (days, seconds) = parse_duration(duration.val.as_str().trim()).ok_or_else(|| {
                    fail(format!(
                        "DURATION {:?} is not a duration such as P1D or PT2H",
                        truncate(duration.val.as_str(), 40)
                    ))
                })?;
                match start {
                    Stamp::Date(_) if seconds != 0 => {
                        return Err(fail("DURATION of an all-day event must be whole days (P1D, P1W)".to_owned()));
                    }
                    Stamp::Date(_) => Length::Days(days.max(1)),
                    Stamp::Time(..) => {
                        Length::Exact(TimeDelta::seconds(days.saturating_mul(86_400).saturating_add(seconds)))
                    }
                }
            }
            (None, None) => match start {
                Stamp::Date(_) => Length::Days(1),
                Stamp::Time(..) => Length::Exact(TimeDelta::zero()),
            },
        };
        let too_long = match length {
            Length::Days(days) => days > MAX_EVENT_DAYS,
            Length::Exact(length) => length > TimeDelta::days(MAX_EVENT_DAYS),
        };
        if too_long {
            return Err(fail(format!("lasts more than {MAX_EVENT_DAYS} days; is DTEND right?")));
        }
        if find(component, "RDATE").is_some() {
            return Err(fail("RDATE is not supported; list the extra dates as events of their own".to_owned()));
        }
        let rule = find(component, "RRULE")
            .map(|rule| parse_rule(rule.val.as_str(), &start, zone))
            .transpose()
            .map_err(fail)?;
        let mut exdates = Vec::new();
        for property in component.properties.iter().filter(|p| p.name.as_str().eq_ignore_ascii_case("EXDATE")) {
            for value in property.val.as_str().split(',') {
                exdates.push(stamp(value, property, zone).map_err(|p| fail(format!("EXDATE {p}")))?);
            }
        }
        let recurrence_id = find(component, "RECURRENCE-ID")
            .map(|p| single_stamp(p, zone))
            .transpose()
            .map_err(|p| fail(format!("RECURRENCE-ID {p}")))?;
        let cancelled = text("STATUS").is_some_and(|status| status.eq_ignore_ascii_case("CANCELLED"));
        Ok(Event { uid, name, start, length, rule, exdates, recurrence_id, cancelled })
    }

    /// The starts of the occurrences that may touch `first_year..=last_year`, in order.
    fn occurrences(&self, first_year: i32, last_year: i32) -> Vec<Stamp> {
        let Some(rule) = self.rule else {
            return vec![self.start];
        };
        let base = i64::from(self.start.wall_date().year());
        // Without COUNT, occurrences before the range can be skipped arithmetically. An
        // occurrence lasts at most 366 days, so one starting up to two years before the range
        // (31 December, timed) can still reach into it.
        let mut step = match rule.count {
            Some(_) => 0,
            None => (i64::from(first_year) - 2 - base).max(0).div_euclid(rule.interval),
        };
        let mut counted = 0;
        let mut starts = Vec::new();
        loop {
            let year = base + step * rule.interval;
            step += 1;
            if year > i64::from(last_year) {
                break;
            }
            let Some(start) = i32::try_from(year).ok().and_then(|year| self.start.in_year(year)) else {
                // 29 February in a non-leap year: not an occurrence, and not counted.
                continue;
            };
            if rule.until.is_some_and(|until| start.after(&until)) {
                break;
            }
            if rule.count.is_some_and(|count| counted == count) {
                break;
            }
            counted += 1;
            starts.push(start);
        }
        starts
    }
}

/// Collects holiday dates with their names, within the year range and the limits.
struct Marker {
    zone: Tz,
    years: RangeInclusive<i32>,
    dates: BTreeMap<NaiveDate, String>,
    marks: usize,
}

impl Marker {
    /// Marks the dates of the occurrence of `event` that starts at `start`.
    fn mark(&mut self, event: &Event, start: Stamp) -> Result<(), Error> {
        // `Event::read` pairs dates with whole days and times with exact lengths; the other
        // pairings are read the obvious way rather than trusted not to happen.
        let (first, last) = match start {
            Stamp::Date(date) => {
                let days = match event.length {
                    Length::Days(days) => days,
                    Length::Exact(_) => 1,
                };
                (date, date.checked_add_signed(TimeDelta::days(days - 1)))
            }
            Stamp::Time(wall, tz) => {
                let begin = resolve(tz, wall);
                let length = match event.length {
                    Length::Exact(length) => length,
                    Length::Days(days) => TimeDelta::days(days),
                };
                let local_date = |at: DateTime<Utc>| at.with_timezone(&self.zone).date_naive();
                // The end is exclusive: an event ending at midnight does not touch the next day.
                let last = match begin.checked_add_signed(length) {
                    Some(end) if end > begin => Some(local_date(end - TimeDelta::nanoseconds(1))),
                    Some(_) => Some(local_date(begin)),
                    None => None,
                };
                (local_date(begin), last)
            }
        };
        let last = last.unwrap_or(NaiveDate::MAX);
        for date in first.iter_days().take_while(|date| *date <= last) {
            if !self.years.contains(&date.year()) {
                continue;
            }
            self.marks += 1;
            if self.marks > MAX_MARKS || (self.dates.len() == MAX_HOLIDAYS && !self.dates.contains_key(&date)) {
                return Err(Error::TooManyHolidays { limit: MAX_HOLIDAYS });
            }
            self.dates.entry(date).or_insert_with(|| event.name.clone());
        }
        Ok(())
    }
}

/// The first property called `name` (case-insensitively, as RFC 5545 says).
fn find<'c, 'a>(component: &'c Component<'a>, name: &str) -> Option<&'c Property<'a>> {
    component.properties.iter().find(|p| p.name.as_str().eq_ignore_ascii_case(name))
}

/// The value of parameter `name` of `property`, unquoted.
fn parameter<'p>(property: &'p Property<'_>, name: &str) -> Option<&'p str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim_matches('"'))
}

/// A property holding one date or date-time.
fn single_stamp(property: &Property<'_>, zone: Tz) -> Result<Stamp, String> {
    stamp(property.val.as_str(), property, zone)
}

/// One date (`YYYYMMDD`) or date-time (`YYYYMMDDTHHMMSS`, `Z` for UTC) from `property`, whose
/// `VALUE` and `TZID` parameters say how to read it.
fn stamp(value: &str, property: &Property<'_>, zone: Tz) -> Result<Stamp, String> {
    let value = value.trim();
    let bad = || format!("{:?} is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)", truncate(value, 40));
    let is_date = parameter(property, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE")) || value.len() == 8;
    if is_date {
        return parse_date(value).map(Stamp::Date).ok_or_else(bad);
    }
    let (wall, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(wall) => (wall, true),
        None => (value, false),
    };
    let wall = NaiveDateTime::parse_from_str(wall, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
    if wall.format("%Y%m%dT%H%M%S").to_string() != value.trim_end_matches(['Z', 'z']) {
        return Err(bad());
    }
    let tz = if utc {
        Tz::UTC
    } else {
        // Windows names ("GMT Standard Time") and custom VTIMEZONEs are read as floating.
        parameter(property, "TZID").and_then(|id| id.trim_start_matches('/').parse::<Tz>().ok()).unwrap_or(zone)
    };
    Ok(Stamp::Time(wall, tz))
}

/// `YYYYMMDD`, exactly.
fn parse_date(value: &str) -> Option<NaiveDate> {
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(value, "%Y%m%d").ok()
}

/// An RFC 5545 duration (`P1D`, `P2W`, `PT1H30M`, `P1DT12H`) as whole days plus seconds;
/// `None` when malformed or negative.
fn parse_duration(value: &str) -> Option<(i64, i64)> {
    let rest = value.strip_prefix('+').unwrap_or(value);
    let rest = rest.strip_prefix(['P', 'p'])?;
    let (date_part, time_part) = match rest.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let mut days: i64 = 0;
    let mut seconds: i64 = 0;
    let mut any = false;
    for (number, unit) in units(date_part)? {
        days = days.checked_add(match unit {
            'W' => number.checked_mul(7)?,
            'D' => number,
            _ => return None,
        })?;
        any = true;
    }
    if let Some(time) = time_part {
        let parts = units(time)?;
        if parts.is_empty() {
            return None;
        }
        for (number, unit) in parts {
            let scale = match unit {
                'H' => 3_600,
                'M' => 60,
                'S' => 1,
                _ => return None,
            };
            seconds = seconds.checked_add(number.checked_mul(scale)?)?;
        }
        any = true;
    }
    any.then_some((days, seconds))
}

/// `12H30M` as `[(12, 'H'), (30, 'M')]`, units uppercased; `None` when a number or unit is missing.
fn units(text: &str) -> Option<Vec<(i64, char)>> {
    let mut out = Vec::new();
    let mut number: Option<i64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(i64::from(digit))?);
        } else {
            out.push((number.take()?, c.to_ascii_uppercase()));
        }
    }
    number.is_none().then_some(out)
}

/// Reads an RRULE value for an event starting at `start`; errors are the problem to report.
fn parse_rule(value: &str, start: &Stamp, zone: Tz) -> Result<Yearly, String> {
    let mut frequency = None;
    let mut rule = Yearly { interval: 1, count: None, until: None };
    let start_date = start.wall_date();
    for part in value.trim().split(';').filter(|part| !part.is_empty()) {
        let (key, val) =
            part.split_once('=').ok_or_else(|| format!("RRULE part {:?} is not KEY=VALUE", truncate(part, 40)))?;
        let number = || val.parse::<u64>().ok().filter(|n| *n > 0);
        let bad = || format!("RRULE {}={:?} is not valid", key.to_ascii_uppercase(), truncate(val, 40));
        match key.to_ascii_uppercase().as_str() {
            "FREQ" => frequency = Some(val.to_ascii_uppercase()),
            "INTERVAL" => {
                rule.interval = number().filter(|n| *n <= 1_000).and_then(|n| i64::try_from(n).ok()).ok_or_else(bad)?
            }
            "COUNT" => rule.count = Some(number().ok_or_else(bad)?),
            "UNTIL" => {
                let until = if val.len() == 8 {
                    parse_date(val).map(Stamp::Date)
                } else {
                    let (wall, utc) = val.strip_suffix(['Z', 'z']).map_or((val, false), |wall| (wall, true));
                    NaiveDateTime::parse_from_str(wall, "%Y%m%dT%H%M%S")
                        .ok()
                        .map(|wall| Stamp::Time(wall, if utc { Tz::UTC } else { start_zone(start, zone) }))
                };
                rule.until = Some(until.ok_or_else(bad)?);
            }
            "BYMONTH" if val.parse::<u32>().ok() == Some(start_date.month()) => {}
            "BYMONTHDAY" if val.parse::<u32>().ok() == Some(start_date.day()) => {}
            "BYMONTH" | "BYMONTHDAY" => {
                return Err(format!(
                    "RRULE {}={} differs from DTSTART {start_date}; only plain yearly repeats of DTSTART are supported",
                    key.to_ascii_uppercase(),
                    truncate(val, 40)
                ));
            }
            // Only affects weekly expansions, which a yearly rule without BYWEEKNO has none of.
            "WKST" => {}
            other => {
                return Err(format!(
                    "RRULE part {}={} is not supported (only FREQ=YEARLY with INTERVAL, COUNT, UNTIL)",
                    truncate(other, 20),
                    truncate(val, 40)
                ));
            }
        }
    }
    match frequency.as_deref() {
        Some("YEARLY") => Ok(rule),
        Some(other) => Err(format!(
            "RRULE FREQ={} is not supported (only FREQ=YEARLY); list the dates as events instead",
            truncate(other, 20)
        )),
        None => Err("RRULE has no FREQ".to_owned()),
    }
}

/// The zone a start's floating UNTIL is read in: the start's own.
fn start_zone(start: &Stamp, zone: Tz) -> Tz {
    match start {
        Stamp::Time(_, tz) => *tz,
        Stamp::Date(_) => zone,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Weekday;

    use super::*;
    use crate::{Calendar, WeeklyPeriod};

    const UK: &str = include_str!("../tests/fixtures/uk-bank-holidays-england-and-wales.ics");
    const LONDON: Tz = chrono_tz::Europe::London;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad date {y}-{m}-{d}"))
    }

    /// A VCALENDAR around `events` (VEVENT bodies, one property per line), LF line endings.
    fn ics(events: &[&str]) -> String {
        let mut text = String::from("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n");
        for event in events {
            text.push_str("BEGIN:VEVENT\n");
            text.push_str(event.trim());
            text.push_str("\nEND:VEVENT\n");
        }
        text.push_str("END:VCALENDAR\n");
        text
    }

    fn import(text: &str, zone: Tz, years: RangeInclusive<i32>) -> Vec<(NaiveDate, String)> {
        match import_holidays(text, zone, years) {
            Ok(holidays) => holidays.into_iter().map(|h| (h.date, h.name)).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn dates(text: &str, zone: Tz, years: RangeInclusive<i32>) -> Vec<NaiveDate> {
        import(text, zone, years).into_iter().map(|(date, _)| date).collect()
    }

    fn error(text: &str, years: RangeInclusive<i32>) -> String {
        match import_holidays(text, LONDON, years) {
            Ok(holidays) => panic!("expected an error, got {holidays:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("P1D"), Some((1, 0)));
        assert_eq!(parse_duration("P2W"), Some((14, 0)));
        assert_eq!(parse_duration("PT1H30M"), Some((0, 5_400)));
        assert_eq!(parse_duration("P1DT12H"), Some((1, 43_200)));
        assert_eq!(parse_duration("+P3D"), Some((3, 0)));
        for bad in ["", "P", "PT", "1D", "-P1D", "PD", "P1X", "P1DT", "P1"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn imports_the_uk_bank_holidays() {
        let holidays = import(UK, LONDON, 2025..=2027);
        assert_eq!(holidays.len(), 24);
        assert_eq!(holidays[0], (date(2025, 1, 1), "New Year’s Day".to_owned()));
        // A folded SUMMARY comes back whole.
        assert!(holidays.contains(&(date(2026, 12, 28), "Boxing Day (substitute day)".to_owned())));
        assert!(holidays.contains(&(date(2027, 12, 27), "Christmas Day (substitute day)".to_owned())));
        assert!(holidays.iter().all(|(d, _)| d.weekday() != Weekday::Sat && d.weekday() != Weekday::Sun));
        // Only the years asked for.
        let only_2026 = dates(UK, LONDON, 2026..=2026);
        assert_eq!(only_2026.len(), 8);
        assert!(only_2026.iter().all(|d| d.year() == 2026));
        // Read in a zone far from London, all-day dates stay the same dates.
        assert_eq!(dates(UK, chrono_tz::Pacific::Kiritimati, 2025..=2027), dates(UK, LONDON, 2025..=2027));
    }

    #[test]
    fn imported_holidays_close_the_office() {
        let Ok(holidays) = import_holidays(UK, LONDON, 2026..=2027) else { panic!("import") };
        let weekdays = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
        let periods = weekdays.iter().filter_map(|&d| WeeklyPeriod::parse(d, "09:00-17:30").ok());
        let calendar = Calendar::new_in(LONDON, periods, []).and_then(|c| c.with_holidays(holidays));
        let Ok(calendar) = calendar else { panic!("calendar") };
        // Thursday 24 December 16:30 plus 4 hours: Friday 25 and Monday 28 are holidays.
        let start = LONDON.with_ymd_and_hms(2026, 12, 24, 16, 30, 0).single().map(|t| t.with_timezone(&Utc));
        let due = start.and_then(|start| calendar.add(start, TimeDelta::hours(4)));
        let expected = LONDON.with_ymd_and_hms(2026, 12, 29, 12, 0, 0).single().map(|t| t.with_timezone(&Utc));
        assert_eq!(due, expected);
    }

    #[test]
    fn yearly_rules_expand_over_the_years() {
        let every_year =
            ics(&["SUMMARY:Christmas Day\nDTSTART;VALUE=DATE:20101225\nDTEND;VALUE=DATE:20101226\nRRULE:FREQ=YEARLY"]);
        assert_eq!(
            dates(&every_year, LONDON, 2025..=2027),
            [date(2025, 12, 25), date(2026, 12, 25), date(2027, 12, 25)]
        );

        let counted = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20240704\nRRULE:FREQ=YEARLY;COUNT=3"]);
        assert_eq!(dates(&counted, LONDON, 2025..=2030), [date(2025, 7, 4), date(2026, 7, 4)]);

        let until = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20240704\nRRULE:FREQ=YEARLY;UNTIL=20260704"]);
        assert_eq!(dates(&until, LONDON, 2020..=2030), [date(2024, 7, 4), date(2025, 7, 4), date(2026, 7, 4)]);

        let until_time = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20240704\nRRULE:FREQ=YEARLY;UNTIL=20260703T235959Z"]);
        assert_eq!(dates(&until_time, LONDON, 2020..=2030), [date(2024, 7, 4), date(2025, 7, 4)]);

        let biennial =
            ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20210301\nRRULE:FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=1"]);
        assert_eq!(dates(&biennial, LONDON, 2024..=2028), [date(2025, 3, 1), date(2027, 3, 1)]);

        // 29 February skips non-leap years, and they do not count.
        let leap = ics(&["SUMMARY:Leap day\nDTSTART;VALUE=DATE:20240229\nRRULE:FREQ=YEARLY;COUNT=2"]);
        assert_eq!(dates(&leap, LONDON, 2024..=2035), [date(2024, 2, 29), date(2028, 2, 29)]);

        // A rule starting long before the range costs nothing and still lands right.
        let old = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:16001111\nRRULE:FREQ=YEARLY"]);
        assert_eq!(dates(&old, LONDON, 2026..=2026), [date(2026, 11, 11)]);
    }

    #[test]
    fn multi_day_events_give_each_date() {
        let span = ics(&["SUMMARY:Office closed\nDTSTART;VALUE=DATE:20261224\nDTEND;VALUE=DATE:20261229"]);
        let expected: Vec<NaiveDate> = date(2026, 12, 24).iter_days().take(5).collect();
        assert_eq!(dates(&span, LONDON, 2026..=2026), expected);
        let duration = ics(&["SUMMARY:Closed\nDTSTART;VALUE=DATE:20260101\nDURATION:P3D"]);
        assert_eq!(dates(&duration, LONDON, 2026..=2026), [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]);
        // Spanning new year, filtered to the year asked for.
        let across = ics(&["SUMMARY:Break\nDTSTART;VALUE=DATE:20261230\nDTEND;VALUE=DATE:20270103\nRRULE:FREQ=YEARLY"]);
        assert_eq!(
            dates(&across, LONDON, 2027..=2027),
            [date(2027, 1, 1), date(2027, 1, 2), date(2027, 12, 30), date(2027, 12, 31)]
        );
    }

    #[test]
    fn timed_events_mark_the_local_dates_they_touch() {
        let party = ics(&["SUMMARY:Party\nDTSTART:20261231T230000Z\nDTEND:20270101T010000Z"]);
        assert_eq!(dates(&party, LONDON, 2026..=2027), [date(2026, 12, 31), date(2027, 1, 1)]);
        // In Kolkata the same two hours are 04:30-06:30 on 1 January.
        assert_eq!(dates(&party, chrono_tz::Asia::Kolkata, 2026..=2027), [date(2027, 1, 1)]);
        // A TZID time: 22:00 in New York is 03:00 the next day in London.
        let zoned = ics(&["SUMMARY:Late\nDTSTART;TZID=America/New_York:20261230T220000\nDURATION:PT1H"]);
        assert_eq!(dates(&zoned, LONDON, 2026..=2026), [date(2026, 12, 31)]);
        // Floating times and unknown TZIDs are read in the calendar's zone; an end at midnight
        // does not touch the next day.
        let floating = ics(&[
            "SUMMARY:Day\nDTSTART;TZID=GMT Standard Time:20260601T090000\nDTEND;TZID=GMT Standard Time:20260602T000000",
        ]);
        assert_eq!(dates(&floating, chrono_tz::Asia::Tokyo, 2026..=2026), [date(2026, 6, 1)]);
        // A yearly timed event keeps its wall-clock time in its zone.
        let yearly =
            ics(&["SUMMARY:Meeting\nDTSTART;TZID=Europe/London:20250630T233000\nDURATION:PT1H\nRRULE:FREQ=YEARLY"]);
        assert_eq!(
            dates(&yearly, LONDON, 2025..=2026),
            [date(2025, 6, 30), date(2025, 7, 1), date(2026, 6, 30), date(2026, 7, 1)]
        );
    }

    #[test]
    fn exclusions_overrides_and_cancellations() {
        let text = ics(&[
            "UID:xmas\nSUMMARY:Christmas\nDTSTART;VALUE=DATE:20241225\nRRULE:FREQ=YEARLY\nEXDATE;VALUE=DATE:20251225",
            // 2026's occurrence moved to the 24th.
            "UID:xmas\nSUMMARY:Christmas (moved)\nRECURRENCE-ID;VALUE=DATE:20261225\nDTSTART;VALUE=DATE:20261224",
            // 2027's occurrence cancelled.
            "UID:xmas\nSUMMARY:Christmas\nRECURRENCE-ID;VALUE=DATE:20271225\nDTSTART;VALUE=DATE:20271225\nSTATUS:CANCELLED",
            "UID:other\nSUMMARY:Cancelled\nDTSTART;VALUE=DATE:20260101\nSTATUS:CANCELLED",
        ]);
        let holidays = import(&text, LONDON, 2024..=2028);
        let expected = [
            (date(2024, 12, 25), "Christmas"),
            (date(2026, 12, 24), "Christmas (moved)"),
            (date(2028, 12, 25), "Christmas"),
        ];
        assert_eq!(holidays, expected.map(|(d, n)| (d, n.to_owned())));
    }

    #[test]
    fn the_first_event_names_a_shared_date() {
        let text = ics(&["SUMMARY:First\nDTSTART;VALUE=DATE:20260101", "SUMMARY:Second\nDTSTART;VALUE=DATE:20260101"]);
        assert_eq!(import(&text, LONDON, 2026..=2026), [(date(2026, 1, 1), "First".to_owned())]);
    }

    #[test]
    fn unsupported_rules_name_the_event() {
        let monthly = ics(&["SUMMARY:Payday\nDTSTART;VALUE=DATE:20260128\nRRULE:FREQ=MONTHLY"]);
        assert_eq!(
            error(&monthly, 2026..=2026),
            "iCalendar event \"Payday\": RRULE FREQ=MONTHLY is not supported (only FREQ=YEARLY); list the dates as \
             events instead"
        );
        let by_day =
            ics(&["SUMMARY:Spring bank holiday\nDTSTART;VALUE=DATE:20260525\nRRULE:FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO"]);
        assert!(
            error(&by_day, 2026..=2026)
                .starts_with("iCalendar event \"Spring bank holiday\": RRULE part BYDAY=-1MO is not supported")
        );
        let other_month = ics(&["UID:abc@x\nDTSTART;VALUE=DATE:20260525\nRRULE:FREQ=YEARLY;BYMONTH=6"]);
        assert!(
            error(&other_month, 2026..=2026)
                .starts_with("iCalendar event \"abc@x\": RRULE BYMONTH=6 differs from DTSTART 2026-05-25")
        );
        let no_freq = ics(&["DTSTART;VALUE=DATE:20260525\nRRULE:COUNT=2"]);
        assert_eq!(error(&no_freq, 2026..=2026), "iCalendar event \"#1\": RRULE has no FREQ");
        let rdate = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20260525\nRDATE;VALUE=DATE:20260601"]);
        assert!(error(&rdate, 2026..=2026).contains("RDATE is not supported"));
    }

    #[test]
    fn bad_events() {
        let no_start = ics(&["SUMMARY:Nothing"]);
        assert_eq!(error(&no_start, 2026..=2026), "iCalendar event \"Nothing\": no DTSTART");
        let bad_date = ics(&["SUMMARY:Bad\nDTSTART;VALUE=DATE:20261332"]);
        assert_eq!(
            error(&bad_date, 2026..=2026),
            "iCalendar event \"Bad\": DTSTART \"20261332\" is not a date (YYYYMMDD) or date-time (YYYYMMDDTHHMMSS)"
        );
        let backwards = ics(&["SUMMARY:Back\nDTSTART;VALUE=DATE:20261225\nDTEND;VALUE=DATE:20261224"]);
        assert_eq!(error(&backwards, 2026..=2026), "iCalendar event \"Back\": DTEND is before DTSTART");
        let mixed = ics(&["SUMMARY:Mixed\nDTSTART;VALUE=DATE:20261225\nDTEND:20261226T000000Z"]);
        assert!(error(&mixed, 2026..=2026).contains("must both be dates or both date-times"));
        let long = ics(&["SUMMARY:Long\nDTSTART;VALUE=DATE:20260101\nDTEND;VALUE=DATE:20280101"]);
        assert!(error(&long, 2026..=2026).contains("lasts more than 366 days"));
        let bad_duration = ics(&["SUMMARY:D\nDTSTART;VALUE=DATE:20260101\nDURATION:PT2H"]);
        assert!(error(&bad_duration, 2026..=2026).contains("must be whole days"));
    }

    #[test]
    fn malformed_files() {
        let unterminated = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\n";
        let message = error(unterminated, 2026..=2026);
        assert!(message.starts_with("iCalendar does not parse: "), "{message}");
        assert!(message.chars().count() <= "iCalendar does not parse: ".len() + 201, "{message}");
        assert_eq!(error("just some text", 2026..=2026).split(':').next(), Some("iCalendar does not parse"));
        assert_eq!(error(" \r\n", 2026..=2026), "iCalendar does not parse: the text is empty");
        let no_calendar = "BEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\nEND:VEVENT\n";
        assert_eq!(error(no_calendar, 2026..=2026), "iCalendar does not parse: no BEGIN:VCALENDAR found");
        let huge = "X".repeat(MAX_ICS_BYTES + 1);
        assert_eq!(
            error(&huge, 2026..=2026),
            "iCalendar text is 1048577 bytes, more than the 1048576 allowed; import fewer years"
        );
    }

    #[test]
    fn year_ranges_and_limits() {
        let text = ics(&["SUMMARY:X\nDTSTART;VALUE=DATE:20260101"]);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 2027..=2026;
        assert_eq!(error(&text, backwards), "year range 2027..=2026 must be non-empty and at most 200 years long");
        assert!(error(&text, 1900..=2100).starts_with("year range 1900..=2100"));
        let whole_years = ics(&["SUMMARY:Y\nDTSTART;VALUE=DATE:20200101\nDURATION:P365D\nRRULE:FREQ=YEARLY"]);
        assert_eq!(error(&whole_years, 2020..=2030), "more than 2000 holidays; remove past years (the limit is 2000)");
    }
}
