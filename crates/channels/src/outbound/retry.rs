//! How long a platform asked to wait, read from its response headers:
//!
//! - `Retry-After` (RFC 9110): delay-seconds or an HTTP-date (IMF-fixdate, and the obsolete
//!   RFC 850 and asctime forms);
//! - X's `x-rate-limit-reset` (unix seconds when the 15-minute window resets), and the
//!   `x-user-limit-24hour-*` / `x-app-limit-24hour-*` pair when a daily cap is what ran out;
//! - Meta's `X-Business-Use-Case-Usage`, whose `estimated_time_to_regain_access` is in minutes.
//!
//! All are counted from the `now` passed in, never in the past, and capped at [`MAX_WAIT`] so a
//! confused or hostile server cannot park a reply for years.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

/// The longest wait taken from a response: X's daily caps reset within a day.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The first value of header `name`, compared case-insensitively, trimmed.
pub(super) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key.trim().eq_ignore_ascii_case(name)).map(|(_, value)| value.trim())
}

/// The wait the response asks for, if any header says: `Retry-After` first (the standard), then
/// X's reset headers, then Meta's Business Use Case estimate.
pub(super) fn wait(headers: &[(String, String)], now_unix: i64) -> Option<Duration> {
    retry_after(headers, now_unix).or_else(|| x_reset(headers, now_unix)).or_else(|| meta_regain_access(headers))
}

/// `Retry-After` as a wait from `now_unix`.
fn retry_after(headers: &[(String, String)], now_unix: i64) -> Option<Duration> {
    let value = header(headers, "retry-after")?;
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still "very long".
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(capped(Duration::from_secs(seconds)));
    }
    let at = http_date(value)?;
    Some(until(at, now_unix))
}

/// An HTTP-date (RFC 9110 section 5.6.7) as unix seconds: the preferred IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), or the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`)
/// and asctime (`Sun Nov  6 08:49:37 1994`) forms, all in GMT.
fn http_date(value: &str) -> Option<i64> {
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.timestamp());
    }
    let formats = ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"];
    formats.iter().find_map(|format| NaiveDateTime::parse_from_str(value, format).ok()).map(|t| t.and_utc().timestamp())
}

/// X's reset as a wait from `now_unix`. When a 24-hour cap is exhausted (`…-24hour-remaining:
/// 0`) its reset is the one that matters, else the 15-minute window's `x-rate-limit-reset`.
fn x_reset(headers: &[(String, String)], now_unix: i64) -> Option<Duration> {
    let number = |name: &str| header(headers, name).and_then(|value| value.parse::<i64>().ok());
    let daily = ["x-user-limit-24hour", "x-app-limit-24hour"]
        .iter()
        .filter(|prefix| number(&format!("{prefix}-remaining")) == Some(0))
        .filter_map(|prefix| number(&format!("{prefix}-reset")))
        .max();
    let at = daily.or_else(|| number("x-rate-limit-reset"))?;
    Some(until(at, now_unix))
}

/// The longest `estimated_time_to_regain_access` (minutes) in Meta's
/// `X-Business-Use-Case-Usage`: `{"<business id>": [{"type": "pages", "call_count": 100, …,
/// "estimated_time_to_regain_access": 19}]}`. Zero means "not throttled", so it gives `None`.
fn meta_regain_access(headers: &[(String, String)]) -> Option<Duration> {
    let value: Value = serde_json::from_str(header(headers, "x-business-use-case-usage")?).ok()?;
    let minutes = value
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|usage| usage.get("estimated_time_to_regain_access").and_then(Value::as_u64))
        .max()
        .filter(|minutes| *minutes > 0)?;
    Some(capped(Duration::from_secs(minutes.saturating_mul(60))))
}

/// From `now_unix` until `at_unix`: zero if that is past, at most [`MAX_WAIT`].
fn until(at_unix: i64, now_unix: i64) -> Duration {
    let seconds = u64::try_from(at_unix.saturating_sub(now_unix)).unwrap_or(0);
    capped(Duration::from_secs(seconds))
}

/// `wait`, at most [`MAX_WAIT`].
fn capped(wait: Duration) -> Duration {
    wait.min(MAX_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const NOW: i64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn retry_after_seconds() {
        assert_eq!(wait(&headers(&[("Retry-After", "120")]), NOW), Some(Duration::from_secs(120)));
        assert_eq!(wait(&headers(&[("retry-after", " 0 ")]), NOW), Some(Duration::ZERO));
        assert_eq!(wait(&headers(&[("RETRY-AFTER", "99999999999999999999999")]), NOW), Some(MAX_WAIT));
    }

    #[test]
    fn retry_after_http_dates() {
        for date in ["Sun, 06 Nov 1994 08:51:37 GMT", "Sunday, 06-Nov-94 08:51:37 GMT", "Sun Nov  6 08:51:37 1994"] {
            assert_eq!(wait(&headers(&[("Retry-After", date)]), NOW), Some(Duration::from_secs(120)), "{date}");
        }
        // In the past: retry now.
        assert_eq!(wait(&headers(&[("Retry-After", "Sun, 06 Nov 1994 08:00:00 GMT")]), NOW), Some(Duration::ZERO));
    }

    #[test]
    fn unreadable_retry_after_falls_through() {
        let h = headers(&[("Retry-After", "soon"), ("x-rate-limit-reset", &(NOW + 30).to_string())]);
        assert_eq!(wait(&h, NOW), Some(Duration::from_secs(30)));
        assert_eq!(wait(&headers(&[("Retry-After", "-5")]), NOW), None);
    }

    #[test]
    fn x_daily_cap_wins_when_exhausted() {
        let window = (NOW + 600).to_string();
        let daily = (NOW + 7200).to_string();
        let h = headers(&[
            ("x-rate-limit-remaining", "42"),
            ("x-rate-limit-reset", &window),
            ("x-user-limit-24hour-remaining", "0"),
            ("x-user-limit-24hour-reset", &daily),
        ]);
        assert_eq!(wait(&h, NOW), Some(Duration::from_secs(7200)));
        let h = headers(&[
            ("x-rate-limit-reset", &window),
            ("x-user-limit-24hour-remaining", "12"),
            ("x-user-limit-24hour-reset", &daily),
        ]);
        assert_eq!(wait(&h, NOW), Some(Duration::from_secs(600)));
    }

    #[test]
    fn meta_business_use_case_minutes() {
        let usage = r#"{"1122":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":19}],"3344":[{"type":"instagram","call_count":5,"estimated_time_to_regain_access":0}]}"#;
        assert_eq!(wait(&headers(&[("X-Business-Use-Case-Usage", usage)]), NOW), Some(Duration::from_secs(19 * 60)));
        let idle = r#"{"1122":[{"type":"pages","call_count":10,"estimated_time_to_regain_access":0}]}"#;
        assert_eq!(wait(&headers(&[("x-business-use-case-usage", idle)]), NOW), None);
        assert_eq!(wait(&headers(&[("x-business-use-case-usage", "not json")]), NOW), None);
    }
}
