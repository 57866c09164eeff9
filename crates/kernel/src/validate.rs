//! The checks every request field goes through, written once: sizes, counts, ids, enum values,
//! timestamps, dates, email addresses and links. Each check answers INVALID_ARGUMENT naming the
//! field (as the .proto names it, dotted and indexed: `customer.emails[1]`) and the limit, and
//! runs before any work is done for the request.
//!
//! A message never repeats more of the input than [`quote`] keeps: an error that echoed a
//! 3 MiB value would reach the client as a metadata-size failure instead of the error itself.
//!
//! Sizes are in bytes of UTF-8 (what a message and a column hold), not characters.

use chrono::{DateTime, NaiveDate, Utc};

use crate::ApiError;

/// Most characters of an input a message quotes.
pub const QUOTE_CHARS: usize = 40;

/// Longest id accepted (a Tend id is 36 bytes; ids of other systems get room), in bytes.
pub const MAX_ID: usize = 128;

/// Longest email address, in bytes: RFC 5321's limit on a forward path.
pub const MAX_EMAIL: usize = 254;

/// Longest link, in bytes.
pub const MAX_URL: usize = 2048;

/// The earliest time a `google.protobuf.Timestamp` may hold: 0001-01-01T00:00:00Z.
pub const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;

/// The latest time a `google.protobuf.Timestamp` may hold: 9999-12-31T23:59:59Z.
pub const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// `value` as a message may show it: Debug-quoted (so control characters and newlines are
/// escaped), at most [`QUOTE_CHARS`] characters of it, then "…" when it was longer.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTE_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}…", &value[..end]),
    }
}

/// Checks that `value` is at most `max` bytes. Empty is allowed.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(field, format!("is {} bytes; at most {max} bytes are accepted", value.len())));
    }
    Ok(())
}

/// Checks that `value` is at most `max` bytes and has something to read: not only blanks,
/// control characters and invisible (zero-width, direction, filler) characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if !is_visible(value) {
        return Err(ApiError::invalid(field, "is required and must not be blank"));
    }
    text(field, value, max)
}

/// Checks that a repeated field holds at most `max` items.
pub fn count(field: &str, count: usize, max: usize) -> Result<(), ApiError> {
    if count > max {
        return Err(ApiError::invalid(field, format!("holds {count} items; at most {max} are accepted")));
    }
    Ok(())
}

/// Checks a required id: 1 to [`MAX_ID`] bytes of printable characters (no spaces, control or
/// invisible characters).
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    optional_id(field, value)
}

/// Checks an id that may be empty (for "none"); otherwise as [`id`].
pub fn optional_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Ok(());
    }
    key(field, value, MAX_ID)?;
    if value.contains(' ') {
        return Err(ApiError::invalid(field, format!("{} holds a space; an id has none", quote(value))));
    }
    Ok(())
}

/// Checks a key or label that other systems make (a CRM id, a channel's id): at most `max`
/// bytes, no control or invisible characters, no spaces at either end. Empty is allowed.
pub fn key(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    text(field, value, max)?;
    if let Some(bad) = value.chars().find(|c| c.is_control() || is_invisible(*c) || (*c != ' ' && c.is_whitespace())) {
        return Err(ApiError::invalid(
            field,
            format!("{} holds the character U+{:04X}; use printable characters only", quote(value), u32::from(bad)),
        ));
    }
    if value.trim() != value {
        return Err(ApiError::invalid(field, format!("{} starts or ends with a space", quote(value))));
    }
    Ok(())
}

/// Checks the number of an enum field: one the contract defines, and not its UNSPECIFIED
/// (0). `E` is the generated enum (`tend_proto::v1::Channel`), `names` what to send instead.
pub fn enumeration<E: TryFrom<i32>>(field: &str, number: i32, names: &str) -> Result<E, ApiError> {
    if number == 0 {
        return Err(ApiError::invalid(field, format!("is required: one of {names}")));
    }
    E::try_from(number).map_err(|_| ApiError::invalid(field, format!("{number} is not defined; use one of {names}")))
}

/// Checks the number of an enum field that may be UNSPECIFIED (0): one the contract defines.
pub fn optional_enumeration<E: TryFrom<i32>>(field: &str, number: i32, names: &str) -> Result<E, ApiError> {
    E::try_from(number).map_err(|_| ApiError::invalid(field, format!("{number} is not defined; use one of {names}")))
}

/// A `google.protobuf.Timestamp` as a UTC time at storage precision (microseconds), checked as
/// protobuf defines it: `nanos` 0 to 999,999,999 and a time from 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59.999999999Z. Every request timestamp goes through here.
pub fn timestamp(field: &str, timestamp: &prost_types::Timestamp) -> Result<DateTime<Utc>, ApiError> {
    // chrono reads nanos of 1e9 and more as a leap second; protobuf forbids them.
    let Some(nanos) = u32::try_from(timestamp.nanos).ok().filter(|nanos| *nanos < 1_000_000_000) else {
        return Err(ApiError::invalid(field, "is not a valid timestamp: nanos must be 0 to 999,999,999"));
    };
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&timestamp.seconds) {
        return Err(ApiError::invalid(
            field,
            "is not a valid timestamp: it must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z",
        ));
    }
    let Some(time) = DateTime::from_timestamp(timestamp.seconds, nanos) else {
        return Err(ApiError::invalid(field, "is not a valid timestamp"));
    };
    Ok(crate::ids::to_storage_precision(time))
}

/// The earliest date of birth accepted.
pub const MIN_DATE_OF_BIRTH: &str = "1900-01-01";

/// A date of birth written YYYY-MM-DD, checked: a real date, 1900-01-01 or later and not after
/// today (in the time zone whose day starts first, so no one's today is refused).
pub fn date_of_birth(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    let today = (Utc::now() + chrono::Duration::hours(14)).date_naive();
    date_of_birth_on(field, value, today)
}

/// [`date_of_birth`] as it would answer on `today`.
pub fn date_of_birth_on(field: &str, value: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    // The format has no room for more; checked first so the parse never sees a huge input.
    if value.len() != 10 {
        return Err(ApiError::invalid(field, format!("{} is not a date like 1990-04-21", quote(value))));
    }
    let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") else {
        return Err(ApiError::invalid(field, format!("{} is not a date like 1990-04-21", quote(value))));
    };
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if date < earliest || date > today {
        return Err(ApiError::invalid(field, format!("{} must be from {MIN_DATE_OF_BIRTH} to today", quote(value))));
    }
    Ok(date)
}

/// Checks an email address, kept simple: at most [`MAX_EMAIL`] bytes, one local part and a
/// domain around the one "@", the domain dotted (`local@example.com`), no spaces, control or
/// invisible characters. Empty is not an address; callers skip the check for an optional one.
pub fn email(field: &str, value: &str) -> Result<(), ApiError> {
    text(field, value, MAX_EMAIL)?;
    let not_an_address =
        || ApiError::invalid(field, format!("{} is not an email address like name@example.com", quote(value)));
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(not_an_address());
    };
    let printable =
        |part: &str| !part.is_empty() && !part.chars().any(|c| c.is_whitespace() || c.is_control() || is_invisible(c));
    let labels_ok =
        domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if !printable(local) || !printable(domain) || local.contains('@') || !domain.contains('.') || !labels_ok {
        return Err(not_an_address());
    }
    Ok(())
}

/// Checks a link: at most [`MAX_URL`] bytes, `http://` or `https://` (any case) and a host. Any
/// other scheme (`javascript:`, `data:`, `file:`) is refused, as are spaces and control
/// characters. Empty is not a link; callers skip the check for an optional one.
pub fn http_url(field: &str, value: &str) -> Result<(), ApiError> {
    text(field, value, MAX_URL)?;
    let lower = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err(ApiError::invalid(field, format!("{} is not an http:// or https:// link", quote(value))));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || is_invisible(c)) {
        return Err(ApiError::invalid(field, format!("{} is not a valid link", quote(value))));
    }
    Ok(())
}

/// Whether `text` has a character a person can see: not only whitespace, control and invisible
/// characters.
pub fn is_visible(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace() && !c.is_control() && !is_invisible(c))
}

/// Characters that take no room when shown: zero-width spaces and joiners, direction marks and
/// embeddings, the word joiner and invisible operators, the byte order mark, the soft hyphen,
/// variation selectors, the combining grapheme joiner and the Hangul fillers.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(error: ApiError) -> String {
        error.to_string()
    }

    #[test]
    fn quote_keeps_a_short_prefix_and_escapes() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "é".repeat(3 * 1024 * 1024);
        let quoted = quote(&long);
        assert_eq!(quoted, format!("{:?}…", "é".repeat(QUOTE_CHARS)));
        assert!(quoted.len() < 100);
    }

    #[test]
    fn a_huge_id_is_quoted_not_echoed() {
        let error = message(crate::ids::parse_id("id", &"x".repeat(3 * 1024 * 1024)).unwrap_err());
        assert!(error.contains("`id`") && error.len() < 200, "{error}");
    }

    #[test]
    fn text_names_the_field_and_the_limit() {
        assert!(text("customer.given_name", "Jane", 200).is_ok());
        let error = message(text("customer.given_name", &"a".repeat(201), 200).unwrap_err());
        assert!(error.contains("`customer.given_name`") && error.contains("200"), "{error}");
        assert!(!error.contains("aaaa"), "the value is not echoed: {error}");
    }

    #[test]
    fn required_text_refuses_invisible_text() {
        assert!(required_text("text", "hello", 10).is_ok());
        assert!(required_text("text", "👍", 10).is_ok());
        assert!(required_text("text", "👩\u{200D}💻", 20).is_ok(), "a joiner inside visible text is fine");
        for blank in ["", " \n\t", "\u{200B}\u{200C}\u{200D}", "\u{0}\u{7}\u{FEFF}\u{2060}", "\u{202E}\u{00AD}\u{3164}"]
        {
            assert!(required_text("text", blank, 100).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn counts() {
        assert!(count("customer.emails", 20, 20).is_ok());
        let error = message(count("customer.emails", 21, 20).unwrap_err());
        assert!(error.contains("`customer.emails`") && error.contains("at most 20"), "{error}");
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        assert!(id("profile_id", "0192f0c1-7c1e-7cc0-8a9e-3c3e1d1b2a10").is_ok());
        assert!(id("customer_id", "c-ann").is_ok());
        assert!(id("profile_id", "").is_err());
        assert!(optional_id("profile_id", "").is_ok());
        for bad in ["p1\n", "p\u{0}1", "p 1", " p1", "p\u{200B}1", "p\t1"] {
            let error = message(optional_id("profile_id", bad).unwrap_err());
            assert!(error.contains("`profile_id`"), "{bad:?}: {error}");
        }
        let huge = "c".repeat(100 * 1024);
        let error = message(id("customer_id", &huge).unwrap_err());
        assert!(error.contains(&MAX_ID.to_string()) && error.len() < 200, "{error}");
        assert!(key("customer.crm_id", "CRM 1", 256).is_ok(), "a space inside a key is fine");
    }

    #[derive(Debug, PartialEq)]
    enum Colour {
        Red,
    }

    impl TryFrom<i32> for Colour {
        type Error = ();
        fn try_from(number: i32) -> Result<Self, ()> {
            if number == 1 { Ok(Colour::Red) } else { Err(()) }
        }
    }

    #[test]
    fn enumerations() {
        assert_eq!(enumeration::<Colour>("colour", 1, "RED").unwrap(), Colour::Red);
        let error = message(enumeration::<Colour>("colour", 0, "RED").unwrap_err());
        assert!(error.contains("is required"), "{error}");
        let error = message(enumeration::<Colour>("colour", 99, "RED").unwrap_err());
        assert!(error.contains("99 is not defined"), "{error}");
        assert!(optional_enumeration::<Colour>("colour", 99, "RED").is_err());
    }

    #[test]
    fn timestamps_in_protobufs_range_only() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        let time = timestamp("posted_at", &at(1_700_000_000, 123_456_789)).unwrap();
        assert_eq!(time.timestamp_subsec_nanos(), 123_456_000, "cut to microseconds");
        assert!(timestamp("t", &at(MIN_TIMESTAMP_SECONDS, 0)).is_ok());
        assert!(timestamp("t", &at(MAX_TIMESTAMP_SECONDS, 999_999_999)).is_ok());
        let year_10000 = at(MAX_TIMESTAMP_SECONDS + 1, 0);
        let year_0 = at(MIN_TIMESTAMP_SECONDS - 1, 0);
        for bad in [year_10000, year_0, at(0, -1), at(0, 1_000_000_000), at(i64::MAX, 0), at(i64::MIN, 0)] {
            let error = message(timestamp("purchases.last_order_at", &bad).unwrap_err());
            assert!(error.contains("`purchases.last_order_at`"), "{bad:?}: {error}");
        }
        assert_eq!(
            DateTime::from_timestamp(MAX_TIMESTAMP_SECONDS, 0).unwrap().to_rfc3339(),
            "9999-12-31T23:59:59+00:00"
        );
        assert_eq!(
            DateTime::from_timestamp(MIN_TIMESTAMP_SECONDS, 0).unwrap().to_rfc3339(),
            "0001-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn dates_of_birth() {
        let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let check = |value: &str| date_of_birth_on("customer.date_of_birth", value, today);
        assert_eq!(check("1990-04-21").unwrap(), NaiveDate::from_ymd_opt(1990, 4, 21).unwrap());
        assert!(check("1900-01-01").is_ok());
        assert!(check("2026-06-01").is_ok());
        for bad in ["0000-01-01", "1899-12-31", "2999-01-01", "2026-06-02", "1990-02-30", "21/04/1990", "", "1990-4-21"]
        {
            let error = message(check(bad).unwrap_err());
            assert!(error.contains("`customer.date_of_birth`"), "{bad:?}: {error}");
        }
        assert!(date_of_birth("d", "1990-04-21").is_ok());
    }

    #[test]
    fn emails() {
        for good in ["jane@example.com", "jane.doe+shop@mail.example.co.uk", "j@x.io"] {
            assert!(email("author.email", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "jane",
            "@example.com",
            "jane@",
            "jane@example",
            "jane@.com",
            "jane@example.",
            "ja ne@example.com",
            "a@b@c.com",
            "jane@-x.com",
        ] {
            let error = message(email("author.email", bad).unwrap_err());
            assert!(error.contains("`author.email`"), "{bad:?}: {error}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL));
        assert!(email("author.email", &long).is_err());
    }

    #[test]
    fn links() {
        for good in ["https://x.com/jane/status/1", "http://example.com", "HTTPS://EXAMPLE.COM/a?b#c"] {
            assert!(http_url("url", good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript://example.com/%0Aalert(1)",
            "data:text/html,<script>",
            "file:///etc/passwd",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/\n",
            "example.com",
        ] {
            let error = message(http_url("url", bad).unwrap_err());
            assert!(error.contains("`url`"), "{bad:?}: {error}");
        }
        assert!(http_url("url", &format!("https://example.com/{}", "a".repeat(MAX_URL))).is_err());
    }
}
