//! Property tests: the calendar's arithmetic against a naive reference that steps UTC minute
//! by minute and applies the definition of "open" directly (convert to local time with
//! chrono-tz, check the holiday, check the weekday's periods).
//!
//! Calendars, starts and durations are random; starts are drawn both uniformly over 2025–2027
//! and within three days of each zone's DST changes, so the changes are crossed often. All
//! zones used have whole-minute offsets, so open-ness is constant within each UTC minute and
//! the reference is exact.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;
use tend_calendar::{Calendar, Holiday, TimeOfDay, WeeklyPeriod};

const ZONES: [Tz; 8] = [
    Tz::UTC,
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Pacific::Chatham,
    chrono_tz::Asia::Gaza,
    chrono_tz::America::Sao_Paulo,
];

const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// Minutes the reference looks ahead of each start.
const WINDOW: i64 = 14 * 24 * 60;

/// A random calendar, in the terms the reference uses.
#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    /// Per weekday (Monday first), periods as minutes since local midnight, `[start, end)`.
    week: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<NaiveDate>,
    start: DateTime<Utc>,
    business_minutes: i64,
    /// Offsets (minutes from start) to measure `between` and `next_open` at.
    probes: Vec<i64>,
}

impl Case {
    fn calendar(&self) -> Calendar {
        let periods = WEEK.iter().zip(&self.week).flat_map(|(&weekday, periods)| {
            periods.iter().map(move |&(start, end)| {
                let time = |m: u16| TimeOfDay::from_minutes(m).unwrap_or(TimeOfDay::END_OF_DAY);
                WeeklyPeriod::new(weekday, time(start), time(end))
            })
        });
        let holidays = self.holidays.iter().map(|&date| Holiday::new(date, "holiday"));
        match Calendar::new_in(self.zone, periods, holidays) {
            Ok(calendar) => calendar,
            Err(e) => panic!("generated an invalid calendar: {e}"),
        }
    }

    /// The definition of open, applied to one instant.
    fn reference_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        let minute = (local.hour() * 60 + local.minute()) as u16;
        let day = local.weekday().num_days_from_monday() as usize;
        self.week[day].iter().any(|&(start, end)| start <= minute && minute < end)
    }

    /// Open-ness of each minute of the window after the start.
    fn reference_minutes(&self) -> Vec<bool> {
        (0..WINDOW).map(|i| self.reference_open(self.minute(i))).collect()
    }

    fn minute(&self, i: i64) -> DateTime<Utc> {
        self.start + TimeDelta::minutes(i)
    }
}

/// Each zone's offset changes in 2025–2027, found by an hourly scan then a minute-by-minute
/// search (independently of the crate's own search).
fn transitions() -> &'static Vec<Vec<DateTime<Utc>>> {
    static TRANSITIONS: OnceLock<Vec<Vec<DateTime<Utc>>>> = OnceLock::new();
    TRANSITIONS.get_or_init(|| {
        let offset = |zone: Tz, at: DateTime<Utc>| zone.offset_from_utc_datetime(&at.naive_utc()).fix();
        let from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap_or_default();
        ZONES
            .iter()
            .map(|&zone| {
                let mut found = Vec::new();
                for hour in 0..3 * 366 * 24 {
                    let at = from + TimeDelta::hours(hour);
                    if offset(zone, at) != offset(zone, at + TimeDelta::hours(1)) {
                        let minute = (1..=60)
                            .map(|m| at + TimeDelta::minutes(m))
                            .find(|&t| offset(zone, t) != offset(zone, at))
                            .unwrap_or(at);
                        found.push(minute);
                    }
                }
                found
            })
            .collect()
    })
}

/// Up to three periods on one day from up to six cut points.
fn day_periods() -> impl Strategy<Value = Vec<(u16, u16)>> {
    // Favour the hours around DST changes (00:00-04:00) and the ends of the day.
    let cut = prop_oneof![0u16..=1440, 0u16..=240, Just(0u16), Just(1440u16)];
    proptest::collection::vec(cut, 0..=6).prop_map(|mut cuts| {
        cuts.sort_unstable();
        cuts.dedup();
        cuts.chunks_exact(2).map(|pair| (pair[0], pair[1])).collect()
    })
}

fn case() -> impl Strategy<Value = Case> {
    let week = proptest::array::uniform7(day_periods());
    let start = (0usize..ZONES.len(), any::<bool>(), 0u32..(3 * 365 * 24 * 60), any::<usize>(), -4320i64..4320);
    let holidays = proptest::collection::vec(-1i64..15, 0..4);
    let probes = proptest::collection::vec(0i64..WINDOW, 4);
    (week, start, holidays, 0i64..=3 * 24 * 60, probes).prop_map(
        |(week, (zone_index, near_change, uniform, which, shift), holidays, business_minutes, probes)| {
            let zone = ZONES[zone_index];
            let changes = &transitions()[zone_index];
            let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap_or_default();
            let start = if near_change && !changes.is_empty() {
                changes[which % changes.len()] + TimeDelta::minutes(shift)
            } else {
                base + TimeDelta::minutes(i64::from(uniform))
            };
            let first_day = start.with_timezone(&zone).date_naive();
            let holidays = holidays.into_iter().map(|days| first_day + TimeDelta::days(days)).collect();
            Case { zone, week, holidays, start, business_minutes, probes }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_minute_by_minute_reference(case in case()) {
        let calendar = case.calendar();
        let open = case.reference_minutes();
        let count = |from: i64, to: i64| TimeDelta::minutes(open[from as usize..to as usize].iter().filter(|&&o| o).count() as i64);

        // is_open, on every minute of the first day and a sample of the rest.
        for i in (0..WINDOW).filter(|i| *i < 1440 || i % 7 == 0) {
            prop_assert_eq!(calendar.is_open(case.minute(i)), open[i as usize], "is_open at {}", case.minute(i));
        }

        // add: the end of the minute in which the business time is used up.
        let business = TimeDelta::minutes(case.business_minutes);
        let got = calendar.add(case.start, business);
        if case.business_minutes == 0 {
            prop_assert_eq!(got, Some(case.start));
        } else {
            let mut used = 0;
            let expected = open.iter().position(|&o| {
                used += i64::from(o);
                used == case.business_minutes
            });
            match expected {
                Some(i) => prop_assert_eq!(got, Some(case.minute(i as i64 + 1))),
                // Not reached in the window: the answer, if any, lies beyond it.
                None => prop_assert!(got.is_none_or(|t| t > case.minute(WINDOW)), "add gave {:?}", got),
            }
        }

        // between, from the start and between two probes.
        prop_assert_eq!(calendar.between(case.start, case.minute(WINDOW)), count(0, WINDOW));
        for pair in case.probes.windows(2) {
            let (from, to) = (pair[0].min(pair[1]), pair[0].max(pair[1]));
            prop_assert_eq!(calendar.between(case.minute(from), case.minute(to)), count(from, to));
            prop_assert_eq!(calendar.between(case.minute(to), case.minute(from)), count(to, from.max(to)));
        }

        // next_open from each probe.
        for &probe in &case.probes {
            let got = calendar.next_open(case.minute(probe));
            match open[probe as usize..].iter().position(|&o| o) {
                Some(i) => prop_assert_eq!(got, Some(case.minute(probe + i as i64))),
                None => prop_assert!(got.is_none_or(|t| t >= case.minute(WINDOW))),
            }
        }

        // open_intervals: exactly the runs of open minutes.
        let mut runs = Vec::new();
        let mut i = 0;
        while i < WINDOW {
            if open[i as usize] {
                let run_start = i;
                while i < WINDOW && open[i as usize] {
                    i += 1;
                }
                runs.push((case.minute(run_start), case.minute(i)));
            } else {
                i += 1;
            }
        }
        let intervals: Vec<_> = calendar.open_intervals(case.start, case.minute(WINDOW)).collect();
        prop_assert_eq!(&intervals, &runs);

        // A target used up exactly at a closing time is that closing time, not the next opening.
        for &(_, close) in &runs {
            let used = calendar.between(case.start, close);
            prop_assert_eq!(calendar.add(case.start, used), Some(close));
        }
    }

    /// Any calendar survives the trip through its spec and JSON unchanged.
    #[test]
    fn specs_round_trip(case in case()) {
        let calendar = case.calendar();
        let json = serde_json::to_string(&calendar.to_spec()).unwrap_or_default();
        let spec: tend_calendar::CalendarSpec = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&spec, &calendar.to_spec());
        prop_assert_eq!(Calendar::from_spec(&spec), Ok(calendar));
    }

    /// `between` undoes `add`, at any instant (not only whole minutes) and for any duration.
    #[test]
    fn between_inverts_add(case in case(), nanos in 0i64..60_000_000_000, extra in 0i64..1_000_000_000) {
        let calendar = case.calendar();
        let start = case.start + TimeDelta::nanoseconds(nanos);
        let business = TimeDelta::minutes(case.business_minutes) + TimeDelta::nanoseconds(extra);
        if let Some(due) = calendar.add(start, business) {
            prop_assert_eq!(calendar.between(start, due), business);
            prop_assert!(due >= start);
        }
    }
}
