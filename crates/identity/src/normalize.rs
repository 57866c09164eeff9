//! Normal forms of what identifies a person, so that the same value written two ways compares
//! equal: names transliterated and case-folded, emails canonical, phones in E.164, handles
//! scoped to their channel. Pure functions; the originals are kept elsewhere.

use std::str::FromStr as _;
use std::sync::LazyLock;

use regex::Regex;
use tend_kernel::validate::quote;
use tend_proto::v1;

/// A name for comparison: transliterated to ASCII ("Zoë" → "zoe"), lowercase, apostrophes
/// dropped ("O'Brien" → "obrien"), other punctuation as spaces, whitespace collapsed.
pub fn name(value: &str) -> String {
    let ascii = deunicode::deunicode(value).to_lowercase();
    let spaced: String =
        ascii.chars().filter(|c| *c != '\'').map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An email in canonical form: trimmed, lowercase, `+tag` removed, and for Gmail the dots of the
/// local part removed and googlemail.com read as gmail.com. Err says what is wrong.
pub fn email(value: &str) -> Result<String, String> {
    let lowered = value.trim().to_lowercase();
    let Some((local, domain)) = lowered.rsplit_once('@') else {
        return Err(format!("{} is not an email address (no @)", quote(value)));
    };
    let domain_ok = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.');
    if local.is_empty() || !domain_ok || lowered.chars().any(char::is_whitespace) {
        return Err(format!("{} is not an email address", quote(value)));
    }
    let local = local.split('+').next().unwrap_or(local);
    let (local, domain) = match domain {
        "gmail.com" | "googlemail.com" => (local.replace('.', ""), "gmail.com"),
        _ => (local.to_owned(), domain),
    };
    if local.is_empty() {
        return Err(format!("{} has an empty local part", quote(value)));
    }
    Ok(format!("{local}@{domain}"))
}

/// A phone number in E.164 ("+447911123456"). National numbers need `region` (ISO 3166, e.g.
/// "GB"); without it only international numbers (+…) are read. Err says what is wrong.
pub fn phone(value: &str, region: Option<&str>) -> Result<String, String> {
    let country = match region.filter(|region| !region.is_empty()) {
        Some(region) => Some(
            phonenumber::country::Id::from_str(&region.to_uppercase())
                .map_err(|_| format!("{} is not an ISO 3166 region code such as GB or US", quote(region)))?,
        ),
        None => None,
    };
    let number = phonenumber::parse(country, value.trim()).map_err(|_| match country {
        Some(_) => format!("{} is not a phone number", quote(value)),
        None => {
            format!(
                "{} is not an international phone number (+…); give default_region to read national ones",
                quote(value)
            )
        }
    })?;
    if !phonenumber::is_valid(&number) {
        return Err(format!("{} is not a valid phone number", quote(value)));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// A handle scoped to its channel: "x:jane_doe" (lowercase, without "@").
pub fn handle(channel: i32, value: &str) -> Result<String, String> {
    let bare = value.trim().trim_start_matches('@').to_lowercase();
    if bare.is_empty() || bare.chars().any(char::is_whitespace) {
        return Err(format!("{} is not a handle", quote(value)));
    }
    let channel = match v1::Channel::try_from(channel) {
        Ok(v1::Channel::X) => "x",
        Ok(v1::Channel::Facebook) => "facebook",
        Ok(v1::Channel::Instagram) => "instagram",
        Ok(v1::Channel::Email) => "email",
        Ok(v1::Channel::Chat) => "chat",
        Ok(v1::Channel::Review) => "review",
        _ => return Err("the channel of a handle is required".to_owned()),
    };
    Ok(format!("{channel}:{bare}"))
}

/// A postcode for comparison: uppercase, no whitespace.
pub fn postcode(value: &str) -> String {
    value.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase()
}

static EMAIL_IN_TEXT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").ok());
static PHONE_IN_TEXT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\+?\d[\d\s().\-]{6,}\d").ok());

/// The emails written in a message, canonical, without repeats.
pub fn emails_in(text: &str) -> Vec<String> {
    let Some(pattern) = EMAIL_IN_TEXT.as_ref() else { return Vec::new() };
    let mut found: Vec<String> = pattern.find_iter(text).filter_map(|m| email(m.as_str()).ok()).collect();
    found.dedup();
    found
}

/// The phone numbers written in a message, in E.164, without repeats (national ones only when
/// `region` is given).
pub fn phones_in(text: &str, region: Option<&str>) -> Vec<String> {
    let Some(pattern) = PHONE_IN_TEXT.as_ref() else { return Vec::new() };
    let mut found: Vec<String> = pattern.find_iter(text).filter_map(|m| phone(m.as_str(), region).ok()).collect();
    found.dedup();
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_accents_case_and_punctuation() {
        assert_eq!(name("  Zoë  O'Brien-Smith "), "zoe obrien smith");
        assert_eq!(name("JOSÉ"), name("jose"));
        assert_eq!(name("Łukasz"), "lukasz");
    }

    #[test]
    fn emails_have_one_canonical_form() {
        assert_eq!(email(" Jane.Doe+shop@GoogleMail.com ").unwrap(), "janedoe@gmail.com");
        assert_eq!(email("jane.doe+x@example.co.uk").unwrap(), "jane.doe@example.co.uk");
        for bad in ["jane", "jane@", "@example.com", "jane@example", "ja ne@example.com", "+x@example.com"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(phone("+44 7911 123456", None).unwrap(), "+447911123456");
        assert_eq!(phone("07911 123456", Some("gb")).unwrap(), "+447911123456");
        assert_eq!(phone("(415) 555-0132", Some("US")).unwrap(), "+14155550132");
        assert!(phone("07911 123456", None).is_err());
        assert!(phone("12", Some("GB")).is_err());
        assert!(phone("+44 7911 123456", Some("XX")).unwrap_err().contains("ISO 3166"));
    }

    #[test]
    fn handles_are_scoped_to_their_channel() {
        assert_eq!(handle(v1::Channel::X.into(), " @Jane_Doe").unwrap(), "x:jane_doe");
        assert!(handle(0, "jane").is_err());
        assert!(handle(v1::Channel::X.into(), "@").is_err());
    }

    #[test]
    fn finds_contact_details_in_messages() {
        let text = "Reach me at Jane.Doe@Example.com or +44 7911 123456, order 123456";
        assert_eq!(emails_in(text), vec!["jane.doe@example.com"]);
        assert_eq!(phones_in(text, None), vec!["+447911123456"]);
        assert_eq!(postcode(" sw1a 1aa "), "SW1A1AA");
    }
}
