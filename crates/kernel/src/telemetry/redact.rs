//! The last line of defence for personal data in logs.
//!
//! Tend's code logs ids, codes and counts, never what people wrote or who they are; a test
//! plants personal data through every service and checks the logs at every level and format
//! (`crates/tend/tests/log_privacy.rs`). Two things guard beyond that discipline:
//!
//! - libraries that log values are held at `warn` whatever the filter says: sea-orm logs each
//!   statement with its values at debug, h2 and hyper log headers at trace ([`QUIET`]);
//! - every line written is scrubbed of what looks like an email address or an international
//!   phone number ([`RedactingWriter`]), which an error message from a dependency could carry.

use std::borrow::Cow;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Directives appended to every log filter: the targets that would log personal data at
/// lower levels.
pub const QUIET: &str = "sqlx=warn,sea_orm=warn,sea_orm_migration=warn,h2=warn,hyper=warn,hyper_util=warn,tower=warn";

/// What an email address is replaced with.
const EMAIL: &str = "[email]";
/// What a phone number is replaced with.
const PHONE: &str = "[phone]";

/// `line` with email addresses and international phone numbers (`+` and 8 to 15 digits, with
/// spaces, dashes, dots or parentheses between) replaced.
pub fn redact(line: &str) -> Cow<'_, str> {
    if !line.contains(['@', '+']) {
        return Cow::Borrowed(line);
    }
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let found = match bytes[at] {
            b'@' => email_around(bytes, at).map(|range| (range, EMAIL)),
            b'+' => phone_at(bytes, at).map(|end| ((at, end), PHONE)),
            _ => None,
        };
        match found {
            Some(((start, end), replacement)) if start >= copied => {
                out.push_str(&line[copied..start]);
                out.push_str(replacement);
                copied = end;
                at = end;
            }
            _ => at += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(line);
    }
    out.push_str(&line[copied..]);
    Cow::Owned(out)
}

fn is_local_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"._%+-".contains(&byte)
}

fn is_domain_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.'
}

/// The byte range of the email address whose `@` is at `at`, if it is one: a local part, and
/// a domain with a dot.
fn email_around(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let start = (0..at).rev().take_while(|&index| is_local_char(bytes[index])).last()?;
    let mut end = at + 1;
    while end < bytes.len() && is_domain_char(bytes[end]) {
        end += 1;
    }
    // A sentence's full stop is not part of the domain.
    while end > at + 1 && bytes[end - 1] == b'.' {
        end -= 1;
    }
    let domain = &bytes[at + 1..end];
    let dot = domain.iter().position(|&byte| byte == b'.')?;
    (dot > 0 && dot + 1 < domain.len()).then_some((start, end))
}

/// The end of the international phone number whose `+` is at `at`, if it is one.
fn phone_at(bytes: &[u8], at: usize) -> Option<usize> {
    let mut digits = 0;
    let mut end = at + 1;
    let mut last_digit_end = end;
    while end < bytes.len() {
        match bytes[end] {
            b'0'..=b'9' => {
                digits += 1;
                last_digit_end = end + 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => break,
        }
        end += 1;
    }
    let starts_with_digit = bytes.get(at + 1).is_some_and(u8::is_ascii_digit);
    (starts_with_digit && (8..=15).contains(&digits)).then_some(last_digit_end)
}

/// A [`MakeWriter`] whose writers pass each line through [`redact`].
#[derive(Debug, Clone, Copy)]
pub struct RedactingWriter<M> {
    inner: M,
}

impl<M> RedactingWriter<M> {
    /// Wraps `inner`.
    pub fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingWriter<M> {
    type Writer = Redacting<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redacting { inner: self.inner.make_writer() }
    }
}

/// A writer that redacts what passes through it. The formatter writes one whole event per
/// `write_all`; text that is not UTF-8 passes unchanged.
#[derive(Debug)]
pub struct Redacting<W> {
    inner: W,
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.inner.write_all(redact(text).as_bytes()),
            Err(_) => self.inner.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_phones_are_replaced() {
        assert_eq!(redact("from ana.b+tag@mail.example.com."), "from [email].");
        assert_eq!(redact(r#"{"error":"duplicate ana@x.io"}"#), r#"{"error":"duplicate [email]"}"#);
        assert_eq!(redact("call +44 7700 900123 now"), "call [phone] now");
        assert_eq!(redact("call +1 (555) 010-9999"), "call [phone]");
        assert_eq!(redact("+447700900123"), "[phone]");
    }

    #[test]
    fn ids_counts_and_times_are_kept() {
        for line in [
            "case 01936b2e-7c4f-7000-8000-000000000000 changed, version 12",
            "took 12+3 ms at 2026-12-07T17:20:00+00:00",
            "user@localhost connected",
            "a + b = c @ noon",
            "",
        ] {
            assert_eq!(redact(line), line);
        }
    }

    #[test]
    fn the_writer_redacts_each_event() {
        let mut out = Vec::new();
        Redacting { inner: &mut out }.write_all(b"login by bo@example.org\n").unwrap();
        assert_eq!(out, b"login by [email]\n");
    }
}
