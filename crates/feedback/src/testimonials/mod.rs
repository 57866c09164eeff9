//! Testimonials with consent (docs/FEEDBACK.md).
//!
//! Two sources: a customer who answered a survey well is offered a testimonial link on the
//! survey page (SubmitResponse's `testimonial_token`) and gives one there with their consent;
//! an agent proposes a praise post enrichment found (a testimonial candidate) and records the
//! author's consent when they give it. Each keeps its consent (when, how, to what use, how the
//! author may be named), its withdrawal and its moderation. The published list shows only
//! approved ones with standing consent for the website, named no more than consented; a
//! withdrawal or an erasure takes one out of every output at once, since every output is read
//! from the same rows ([`storage::list_published`]).

pub mod api;
pub mod feed;
pub mod storage;
#[cfg(test)]
mod tests;

use tend_kernel::ApiError;
use tend_proto::v1;

use storage::testimonial;

/// Longest quote, in bytes.
const MAX_QUOTE: usize = 1_000;
/// Longest first name or handle, in bytes.
const MAX_NAME: usize = 64;
/// Longest consent wording, in bytes.
const MAX_WORDING: usize = 2_000;
/// Longest consent method, in bytes.
const MAX_METHOD: usize = 64;
/// Longest reason (rejection, withdrawal), in bytes.
const MAX_REASON: usize = 500;

/// What a consent says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// `tend.v1.TestimonialDisplay`.
    pub display: i32,
    /// `tend.v1.TestimonialUse` numbers, sorted, each once.
    pub uses: Vec<i32>,
    /// The words agreed to.
    pub wording: String,
}

/// `text` trimmed, at most `max` bytes, required or not.
fn bounded(field: &str, text: &str, max: usize, required: bool) -> Result<String, ApiError> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if text.len() > max {
        return Err(ApiError::invalid(field, format!("must be at most {max} bytes (it is {})", text.len())));
    }
    Ok(text.to_owned())
}

/// The quote, first name and handle of a request, checked.
pub fn words(quote: &str, first_name: &str, handle: &str) -> Result<(String, String, String), ApiError> {
    let quote = bounded("quote", quote, MAX_QUOTE, true)?;
    let first_name = bounded("first_name", first_name, MAX_NAME, false)?;
    let handle = bounded("handle", handle.trim().trim_start_matches('@'), MAX_NAME, false)?;
    if handle.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("handle", "must not contain spaces"));
    }
    Ok((quote, first_name, handle))
}

/// Checks a consent against the names given (a first name to show it, a handle to show it).
pub fn consent(consent: Option<&v1::TestimonialConsent>, first_name: &str, handle: &str) -> Result<Consent, ApiError> {
    let consent = consent.ok_or_else(|| ApiError::invalid("consent", "is required: what the author agrees to"))?;
    let display = v1::TestimonialDisplay::try_from(consent.display).unwrap_or(v1::TestimonialDisplay::Unspecified);
    match display {
        v1::TestimonialDisplay::Unspecified => {
            return Err(ApiError::invalid(
                "consent.display",
                "is required: TESTIMONIAL_DISPLAY_FIRST_NAME, TESTIMONIAL_DISPLAY_HANDLE or TESTIMONIAL_DISPLAY_ANONYMOUS",
            ));
        }
        v1::TestimonialDisplay::FirstName if first_name.is_empty() => {
            return Err(ApiError::invalid("first_name", "is required to show the author by first name"));
        }
        v1::TestimonialDisplay::Handle if handle.is_empty() => {
            return Err(ApiError::invalid("handle", "is required to show the author by handle"));
        }
        _ => {}
    }
    if consent.uses.is_empty() || consent.uses.len() > 3 {
        return Err(ApiError::invalid("consent.uses", "must name 1 to 3 uses (website, social, marketing)"));
    }
    let mut uses = Vec::with_capacity(consent.uses.len());
    for (index, used) in consent.uses.iter().enumerate() {
        match v1::TestimonialUse::try_from(*used) {
            Ok(v1::TestimonialUse::Unspecified) | Err(_) => {
                return Err(ApiError::invalid(format!("consent.uses[{index}]"), "must be a defined TestimonialUse"));
            }
            Ok(_) if uses.contains(used) => {
                return Err(ApiError::invalid(format!("consent.uses[{index}]"), "is given twice"));
            }
            Ok(_) => uses.push(*used),
        }
    }
    uses.sort_unstable();
    let wording = bounded("consent.wording", &consent.wording, MAX_WORDING, true)?;
    Ok(Consent { display: display as i32, uses, wording })
}

/// The consent method of a request (an agent's record), checked.
pub fn method(method: &str) -> Result<String, ApiError> {
    bounded("consent.method", method, MAX_METHOD, true)
}

/// A reason, checked.
pub fn reason(field: &str, reason: &str, required: bool) -> Result<String, ApiError> {
    bounded(field, reason, MAX_REASON, required)
}

/// Applies `consent` to `row`, given at `at` by `method`, recorded by `recorded_by`.
pub fn give(
    row: &mut testimonial::Model,
    consent: Consent,
    method: &str,
    recorded_by: &str,
    at: chrono::DateTime<chrono::Utc>,
) {
    row.for_website = consent.uses.contains(&(v1::TestimonialUse::Website as i32));
    row.consent_display = consent.display;
    row.consent_uses = consent.uses.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    row.consent_wording = consent.wording;
    row.consent_method = method.to_owned();
    row.consent_recorded_by = recorded_by.to_owned();
    row.consent_given_at = Some(at);
}

/// How `row`'s author is named in public: no more than consented.
pub fn attribution(row: &testimonial::Model) -> String {
    match v1::TestimonialDisplay::try_from(row.consent_display) {
        Ok(v1::TestimonialDisplay::FirstName) => {
            row.first_name.split_whitespace().next().unwrap_or_default().to_owned()
        }
        Ok(v1::TestimonialDisplay::Handle) if !row.handle.is_empty() => format!("@{}", row.handle),
        _ => String::new(),
    }
}

/// A stored testimonial on the wire (for the tenant's staff).
pub fn to_proto(row: &testimonial::Model) -> v1::Testimonial {
    let consent = row.consent_given_at.map(|given_at| v1::TestimonialConsent {
        display: row.consent_display,
        uses: crate::surveys::split(&row.consent_uses).filter_map(|used| used.parse().ok()).collect(),
        wording: row.consent_wording.clone(),
        method: row.consent_method.clone(),
        given_at: Some(tend_kernel::ids::to_timestamp(given_at)),
        recorded_by: row.consent_recorded_by.clone(),
        withdrawn_at: storage::stamp(row.withdrawn_at),
        withdrawal_reason: row.withdrawal_reason.clone(),
    });
    v1::Testimonial {
        id: row.testimonial_id.clone(),
        source: row.source.clone(),
        source_id: row.source_id.clone(),
        case_id: row.case_id.clone(),
        customer_id: row.customer_id.clone(),
        profile_id: row.profile_id.clone(),
        channel: row.channel,
        quote: row.quote.clone(),
        first_name: row.first_name.clone(),
        handle: row.handle.clone(),
        consent,
        moderation: row.moderation,
        rejection_reason: row.rejection_reason.clone(),
        moderated_by: row.moderated_by.clone(),
        moderated_at: storage::stamp(row.moderated_at),
        published: storage::is_published(row),
        created_at: Some(tend_kernel::ids::to_timestamp(row.created_at)),
    }
}

/// A published testimonial on the wire (for the public).
pub fn to_published(row: &testimonial::Model) -> v1::PublishedTestimonial {
    v1::PublishedTestimonial {
        id: row.testimonial_id.clone(),
        quote: row.quote.clone(),
        attribution: attribution(row),
        channel: row.channel,
        approved_at: storage::stamp(row.moderated_at),
    }
}
