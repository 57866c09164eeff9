//! The crate's one error type. Every message names the input at fault and what to do about it,
//! because these errors end up in front of whoever edits a calendar file.

/// What can go wrong when building a calendar, reading its spec or importing holidays.
///
/// Arithmetic on a built [`Calendar`](crate::Calendar) never fails; only construction does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The time zone is not an IANA name chrono-tz knows (names are case-sensitive).
    #[error("unknown time zone {0:?}: use an IANA name such as \"Europe/London\" or \"UTC\"")]
    UnknownTimeZone(String),
    /// A period that is not written `HH:MM-HH:MM` (or has an hour or minute out of range).
    #[error("{day}: {text:?} is not HH:MM-HH:MM (hours 00-23, minutes 00-59, \"24:00\" only as an end)")]
    MalformedPeriod {
        /// The weekday's short name (`"tue"`).
        day: &'static str,
        /// The text as given (truncated to 40 characters).
        text: String,
    },
    /// A period whose start is not before its end.
    #[error(
        "{day}: period {period} does not start before it ends (use 24:00 for end of day; split hours that \
         cross midnight over two days)"
    )]
    EmptyPeriod {
        /// The weekday's short name.
        day: &'static str,
        /// The period, `HH:MM-HH:MM`.
        period: String,
    },
    /// Two periods on the same weekday that overlap.
    #[error("{day}: periods {first} and {second} overlap; merge them or move one")]
    OverlappingPeriods {
        /// The weekday's short name.
        day: &'static str,
        /// The earlier period, `HH:MM-HH:MM`.
        first: String,
        /// The later period.
        second: String,
    },
    /// More periods on one weekday than [`MAX_PERIODS_PER_DAY`](crate::MAX_PERIODS_PER_DAY).
    #[error("{day}: more than {limit} periods; merge some (the limit is {limit} per day)")]
    TooManyPeriods {
        /// The weekday's short name.
        day: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A weekday key in a spec that is not `mon`..`sun` or a full day name.
    #[error("unknown weekday {0:?}: use mon, tue, wed, thu, fri, sat or sun")]
    UnknownWeekday(String),
    /// More distinct holiday dates than [`MAX_HOLIDAYS`](crate::MAX_HOLIDAYS).
    #[error("more than {limit} holidays; remove past years (the limit is {limit})")]
    TooManyHolidays {
        /// The limit.
        limit: usize,
    },
    /// A holiday date that is not a valid `YYYY-MM-DD` date.
    #[error("holiday date {0:?} is not a valid YYYY-MM-DD date")]
    BadDate(String),
    /// The same holiday date given twice.
    #[error("holiday {date} is given twice ({first:?} and {second:?}); keep one")]
    DuplicateHoliday {
        /// The date, `YYYY-MM-DD`.
        date: String,
        /// The first name given.
        first: String,
        /// The second name given.
        second: String,
    },
    /// A holiday name longer than [`MAX_HOLIDAY_NAME_CHARS`](crate::MAX_HOLIDAY_NAME_CHARS).
    #[error("holiday {date}: name is longer than {limit} characters; shorten it")]
    HolidayNameTooLong {
        /// The date, `YYYY-MM-DD`.
        date: String,
        /// The limit.
        limit: usize,
    },
    /// An iCalendar text larger than [`MAX_ICS_BYTES`](crate::MAX_ICS_BYTES).
    #[error("iCalendar text is {bytes} bytes, more than the {limit} allowed; import fewer years")]
    IcsTooLarge {
        /// The size given.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// An iCalendar text that does not parse, with the parser's message (truncated to 200
    /// characters).
    #[error("iCalendar does not parse: {0}")]
    IcsParse(String),
    /// A year range for an import that is empty or longer than
    /// [`MAX_IMPORT_YEARS`](crate::MAX_IMPORT_YEARS).
    #[error("year range {first}..={last} must be non-empty and at most {limit} years long")]
    BadYears {
        /// First year asked for.
        first: i32,
        /// Last year asked for.
        last: i32,
        /// The limit.
        limit: i64,
    },
    /// One VEVENT that cannot be turned into holiday dates.
    #[error("iCalendar event {event:?}: {problem}")]
    IcsEvent {
        /// The event's SUMMARY, else its UID, else `#n` (its position in the file, from 1).
        event: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The crate's error under a longer name, for callers that import several crates' errors.
pub type CalendarError = Error;

/// Cuts `text` to at most `max` characters (on a character boundary) so that error messages
/// stay bounded whatever the input; an ellipsis marks a cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "abc…");
        assert_eq!(truncate("ééé", 2), "éé…");
    }
}
