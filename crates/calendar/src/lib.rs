//! Business-hours calendars: which instants a team is at work, and business-time arithmetic on
//! them. Used by routing (SLA deadlines "4 business hours from now"), by cases (SLA clocks that
//! pause outside hours) and by ingest (an account's hours of operation). Pure: no I/O, no async.
//!
//! A [`Calendar`] is an IANA time zone, working [`Period`]s per local weekday and holiday dates.
//! It is built by [`Calendar::new`] or from its serde form [`CalendarSpec`], both of which
//! validate everything; [`Calendar::always`] (open 24/7 in UTC) is the default when nothing is
//! configured. Holidays can be imported from iCalendar with [`import_holidays`].
//!
//! # Which instants are open
//!
//! An instant is **open** iff, converted to the calendar's time zone, its local wall-clock time
//! falls within one of the periods of its local weekday (start included, end excluded) and its
//! local date is not a holiday. Everything else follows from that one definition:
//!
//! - A period may end at `24:00`, the end of its day; `mon 22:00-24:00` and `tue 00:00-06:00`
//!   together cover the night without a break. A period cannot cross midnight itself.
//! - **Fall back**: in a repeated local hour both occurrences are open if a period covers that
//!   local time, so a night shift on that day is an hour longer.
//! - **Spring forward**: local times in the gap never occur, so a period `01:30-03:00` on that
//!   day in Europe/London opens at the first instant after the gap (02:00 BST) and is an hour
//!   shorter.
//! - Holidays are local dates in the calendar's zone and close the whole day.
//!
//! **Business time** between two instants is the measure of the open instants between them:
//! [`Calendar::between`] measures `[from, to)`, and [`Calendar::add`] finds the earliest instant
//! at which a given amount of business time has elapsed, so
//! `between(start, add(start, d)) == d` for every `d ≥ 0` it answers. Details that the
//! definition leaves to a decision:
//!
//! - Adding zero gives the start itself, even when closed; adding a negative duration gives
//!   `None`.
//! - A target met exactly at a closing time is that closing time (Friday 17:30), not Monday's
//!   opening.
//! - [`Calendar::add`] and [`Calendar::next_open`] search [`HORIZON_DAYS`] (five years) ahead
//!   and answer `None` beyond; a calendar with no periods never opens.
//!
//! Arithmetic walks open intervals day by day (see [`Calendar::open_intervals`]), never minute
//! by minute. Property tests check it against a minute-by-minute reference across DST changes
//! in London, New York, Lord Howe (a 30-minute change), Chatham, Gaza and São Paulo, and in
//! Kolkata and UTC. Measured with `cargo run --release -p tend-calendar --example calendar_bench` on the
//! 2-core development machine (London, split weekdays, two holidays):
//!
//! | operation | time |
//! | --- | --- |
//! | `add` 4 business hours | ≈ 0.4 µs |
//! | `add` 10 business days (75 h) | ≈ 3.3 µs |
//! | `add` 250 business days | ≈ 60 µs |
//! | `between` over a year | ≈ 67 µs |
//!
//! # Limits
//!
//! Input is bounded so that a bad file is an error, not a hang: at most
//! [`MAX_PERIODS_PER_DAY`] periods per weekday, [`MAX_HOLIDAYS`] holidays, names of
//! [`MAX_HOLIDAY_NAME_CHARS`], iCalendar texts of [`MAX_ICS_BYTES`]. Each [`Error`] names what
//! to fix ("tue: \"9-17\" is not HH:MM-HH:MM …").
//!
//! # Example
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use tend_calendar::{Calendar, CalendarSpec};
//!
//! let spec: CalendarSpec = serde_json::from_str(r#"{
//!     "time_zone": "Europe/London",
//!     "hours": { "mon": ["09:00-17:30"], "tue": ["09:00-17:30"], "wed": ["09:00-17:30"],
//!                "thu": ["09:00-17:30"], "fri": ["09:00-17:30"] },
//!     "holidays": [ { "date": "2026-12-25", "name": "Christmas Day" } ]
//! }"#).unwrap();
//! let calendar = Calendar::from_spec(&spec).unwrap();
//!
//! // Friday 16:30 in London (GMT in January) plus 4 business hours: one hour on Friday,
//! // three on Monday, so Monday 12:00.
//! let friday = Utc.with_ymd_and_hms(2026, 1, 9, 16, 30, 0).unwrap();
//! let due = calendar.add(friday, TimeDelta::hours(4)).unwrap();
//! assert_eq!(due, Utc.with_ymd_and_hms(2026, 1, 12, 12, 0, 0).unwrap());
//! assert_eq!(calendar.between(friday, due), TimeDelta::hours(4));
//! assert!(!calendar.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap()));
//! assert_eq!(Calendar::from_spec(&calendar.to_spec()).unwrap(), calendar);
//! ```

mod calendar;
#[cfg(feature = "contract")]
pub mod contract;
mod error;
mod ical;
mod period;
mod spec;
mod walk;

pub use calendar::{Calendar, MAX_HOLIDAY_NAME_CHARS, MAX_HOLIDAYS, MAX_PERIODS_PER_DAY};
pub use error::{CalendarError, Error};
pub use ical::{MAX_ICS_BYTES, MAX_IMPORT_YEARS, import_holidays};
pub use period::{Holiday, Period, TimeOfDay, WeeklyPeriod};
pub use spec::{CalendarSpec, HolidaySpec, HoursSpec};
pub use walk::{HORIZON_DAYS, OpenIntervals};
