//! Names that people give things and that other settings refer to (rules, queues, policies,
//! calendars, channel apps): short, lower-case, no spaces, so they read the same in a file, a
//! URL and a log.

/// The prefix of the routing calendar that holds a monitored account's hours
/// (`account.{account id}`), published by ingest and kept by routing.
pub const ACCOUNT_CALENDAR_PREFIX: &str = "account.";

/// The calendar an SLA policy names to count on the hours of each post's own account.
pub const ACCOUNT_CALENDAR: &str = "account";

/// The longest name, in bytes.
pub const MAX_NAME: usize = 64;

/// Checks a name: 1 to [`MAX_NAME`] bytes of a-z, 0-9, '-', '_' and '.'. The error says what is
/// wrong, quoting at most [`MAX_NAME`] bytes of the name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("required".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!("{} bytes; at most {MAX_NAME}", name.len()));
    }
    if !name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"-_.".contains(&byte)) {
        return Err(format!("{:?}: use only a-z, 0-9, '-', '_' and '.'", truncated(name)));
    }
    Ok(())
}

/// `text` cut to at most [`MAX_NAME`] bytes on a character boundary, marked "…" when cut: what
/// a message may quote of an input.
pub fn truncated(text: &str) -> String {
    if text.len() <= MAX_NAME {
        return text.to_owned();
    }
    let mut end = MAX_NAME;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("vip-uk.2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("Has Space").is_err());
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
        assert_eq!(truncated(&"é".repeat(40)).chars().count(), 33);
    }
}
