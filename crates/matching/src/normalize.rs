//! Normalisation applied to every value before it is compared or used as a blocking key.
//!
//! Everything ends up as lowercase ASCII: accents and other scripts are transliterated
//! (`deunicode`), whitespace is collapsed and the ends are trimmed. Each kind of value then has
//! its own canonical form: names lose their punctuation, emails lose a `+tag` (and the dots of a
//! Gmail local part), phone numbers keep their digits, dates become year, month and day.
//!
//! The functions are total: a value that cannot be normalised into anything useful comes back as
//! `None` (or an empty string for the text functions), which the matcher treats as missing.

use std::fmt;

/// Transliterates to ASCII, lowercases, turns every character that is not a letter or a digit into
/// a space, and collapses runs of spaces: `"  Rue de l'Église, 12 "` → `"rue de l eglise 12"`.
pub fn text(raw: &str) -> String {
    squash_spaces(&fold(raw), |character| if character.is_ascii_alphanumeric() { Some(character) } else { None })
}

/// A personal name: like [`text`], but apostrophes and full stops vanish instead of splitting
/// the word (`"O'Brien"` → `"obrien"`, `"St. John"` → `"st john"`), and hyphens split it
/// (`"Mary-Jane"` → `"mary jane"`).
pub fn name(raw: &str) -> String {
    let folded: String = fold(raw).chars().filter(|character| !matches!(character, '\'' | '`' | '.')).collect();
    text(&folded)
}

/// A code such as a postcode or a street number: letters and digits only, lowercase
/// (`"SW1A 1AA"` → `"sw1a1aa"`, `" 12-b"` → `"12b"`).
pub fn code(raw: &str) -> String {
    fold(raw).chars().filter(char::is_ascii_alphanumeric).collect()
}

/// The canonical form of an email address, or `None` when `raw` is not one.
///
/// Lowercase, trimmed; a `+tag` after the local part is dropped (`ann+shop@x.org` →
/// `ann@x.org`); for Gmail the dots of the local part are dropped too and `googlemail.com` becomes
/// `gmail.com`, because Gmail ignores both.
pub fn email(raw: &str) -> Option<String> {
    let lowered = fold(raw).trim().to_string();
    let (local, domain) = lowered.rsplit_once('@')?;
    let local = local.split('+').next().unwrap_or_default();
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || local.contains(char::is_whitespace) {
        return None;
    }
    if domain.contains(char::is_whitespace) || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_string(), domain),
    };
    Some(format!("{local}@{domain}"))
}

/// The digits of a phone number, or `None` when it has fewer than six (`"+61 (4) 1234-5678"` →
/// `"61412345678"`). Comparison then looks at the last nine digits, so that a national and an
/// international form of the same number agree.
pub fn phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 { None } else { Some(digits) }
}

/// A calendar date, as far as the matcher cares: no validation beyond ranges, no time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// The year, e.g. 1974.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
    /// The day of the month, 1–31.
    pub day: u8,
}

impl Date {
    /// A date from its parts, or `None` when the month or the day is out of range.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if (1..=12).contains(&month) && (1..=31).contains(&day) { Some(Self { year, month, day }) } else { None }
    }

    /// Days since 1970-01-01 (proleptic Gregorian; a day 31 of a short month just runs over).
    pub fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
}

impl fmt::Display for Date {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A date written as `YYYYMMDD`, `YYYY-MM-DD` (or with `/` or `.`), or `DD/MM/YYYY` (or with `-`
/// or `.`; day first, as everywhere but the United States). `None` when it is none of these or
/// the month or day is out of range.
pub fn date(raw: &str) -> Option<Date> {
    let trimmed = raw.trim();
    let parts: Vec<&str> = trimmed.split(['-', '/', '.']).collect();
    let number = |part: &str| -> Option<u32> {
        if part.is_empty() || part.len() > 4 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = match parts.as_slice() {
        [compact] if compact.len() == 8 && compact.bytes().all(|byte| byte.is_ascii_digit()) => {
            (number(&compact[..4])?, number(&compact[4..6])?, number(&compact[6..])?)
        }
        [year, month, day] if year.len() == 4 => (number(year)?, number(month)?, number(day)?),
        [day, month, year] if year.len() == 4 => (number(year)?, number(month)?, number(day)?),
        _ => return None,
    };
    Date::new(u16::try_from(year).ok()?, u8::try_from(month).ok()?, u8::try_from(day).ok()?)
}

/// Transliterate to ASCII (character by character, so ASCII control characters such as tabs stay
/// what they are) and lowercase.
fn fold(raw: &str) -> String {
    if raw.is_ascii() {
        return raw.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(raw.len());
    for character in raw.chars() {
        if character.is_ascii() {
            out.push(character.to_ascii_lowercase());
        } else if let Some(ascii) = deunicode::deunicode_char(character) {
            out.extend(ascii.chars().map(|folded| folded.to_ascii_lowercase()));
        } else {
            out.push(' ');
        }
    }
    out
}

/// Keep the characters `keep` maps to something, turn the others into single spaces, trim.
fn squash_spaces(folded: &str, keep: impl Fn(char) -> Option<char>) -> String {
    let mut out = String::with_capacity(folded.len());
    let mut pending_space = false;
    for character in folded.chars() {
        match keep(character) {
            Some(kept) => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.push(kept);
            }
            None => pending_space = true,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_folds_case_accents_punctuation_and_spaces() {
        assert_eq!(text("  Rue de l'Église,   12 "), "rue de l eglise 12");
        assert_eq!(text("MÜLLER\tStraße"), "muller strasse");
        assert_eq!(text(""), "");
        assert_eq!(text(" ,. "), "");
    }

    #[test]
    fn names_lose_apostrophes_and_split_on_hyphens() {
        assert_eq!(name("O'Brien"), "obrien");
        assert_eq!(name("  Mary-Jane  "), "mary jane");
        assert_eq!(name("St. John"), "st john");
        assert_eq!(name("José  Álvarez"), "jose alvarez");
        assert_eq!(name("Zoë"), "zoe");
    }

    #[test]
    fn codes_keep_letters_and_digits() {
        assert_eq!(code(" SW1A 1AA "), "sw1a1aa");
        assert_eq!(code("12-b"), "12b");
        assert_eq!(code(" "), "");
    }

    #[test]
    fn emails_have_a_canonical_form() {
        assert_eq!(email(" Ann.Lee+shop@Example.ORG ").as_deref(), Some("ann.lee@example.org"));
        assert_eq!(email("a.n.n+x@googlemail.com").as_deref(), Some("ann@gmail.com"));
        assert_eq!(email("A.N.N@gmail.com").as_deref(), Some("ann@gmail.com"));
        assert_eq!(email("not an email"), None);
        assert_eq!(email("@example.org"), None);
        assert_eq!(email("ann@localhost"), None);
        assert_eq!(email("+tag@example.org"), None);
    }

    #[test]
    fn phones_keep_their_digits() {
        assert_eq!(phone("+61 (4) 1234-5678").as_deref(), Some("61412345678"));
        assert_eq!(phone("0412 345 678").as_deref(), Some("0412345678"));
        assert_eq!(phone("12-34"), None);
    }

    #[test]
    fn dates_parse_in_the_usual_shapes() {
        let expected = Date::new(1974, 3, 9);
        assert_eq!(date("19740309"), expected);
        assert_eq!(date("1974-03-09"), expected);
        assert_eq!(date("1974/3/9"), expected);
        assert_eq!(date("09/03/1974"), expected);
        assert_eq!(date(" 9.3.1974 "), expected);
        assert_eq!(date("19741309"), None);
        assert_eq!(date("1974-03"), None);
        assert_eq!(date("yesterday"), None);
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(Date::new(1970, 1, 1).map(Date::days), Some(0));
        assert_eq!(Date::new(2000, 3, 1).map(Date::days), Some(11_017));
        assert_eq!(Date::new(1969, 12, 31).map(Date::days), Some(-1));
        let leap = Date::new(2024, 3, 1).map(Date::days).zip(Date::new(2024, 2, 28).map(Date::days));
        assert_eq!(leap.map(|(after, before)| after - before), Some(2));
    }
}
