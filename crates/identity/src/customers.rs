//! CRM customers: validating and normalising what the CRM sends. No I/O.

use tend_kernel::validate;
use tend_proto::v1;

use crate::domain::Invalid;
use crate::normalize;

/// Longest CRM id accepted, in bytes.
pub const MAX_CRM_ID: usize = 256;
/// Longest given or family name, in bytes.
pub const MAX_NAME: usize = 200;
/// Most emails, phones or handles per customer.
pub const MAX_EACH: usize = 20;
/// Longest phone number as written, in bytes.
pub const MAX_PHONE: usize = 32;
/// Longest handle, in bytes (an email channel's handle is an address).
pub const MAX_HANDLE: usize = validate::MAX_EMAIL;
/// Longest street, city or region of an address, in bytes.
pub const MAX_ADDRESS_LINE: usize = 200;
/// Longest postcode, in bytes.
pub const MAX_POSTCODE: usize = 32;
/// Longest country, in bytes (an ISO 3166 code, or a name).
pub const MAX_COUNTRY: usize = 64;
/// Most free attributes of a customer.
const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute name, in bytes.
const MAX_ATTRIBUTE_KEY: usize = 64;
/// Longest attribute value, in bytes.
const MAX_ATTRIBUTE_VALUE: usize = 256;
/// Longest segment or tier, in bytes.
pub const MAX_LABEL: usize = 64;
/// Longest default region, in bytes (an ISO 3166 code such as "GB").
pub const MAX_REGION: usize = 8;

/// A customer's input, checked, with its normal forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The normal forms, as the contract shows them.
    pub normalized: v1::NormalizedCustomer,
    /// The date of birth, if given, as YYYY-MM-DD.
    pub date_of_birth: Option<String>,
}

impl Checked {
    /// The identifiers deterministic linking looks up: `(kind, value)`.
    pub fn identifiers(&self) -> Vec<(&'static str, String)> {
        let emails = self.normalized.emails.iter().map(|email| ("email", email.clone()));
        let phones = self.normalized.phones.iter().map(|phone| ("phone", phone.clone()));
        let handles = self.normalized.handles.iter().map(|handle| ("handle", handle.clone()));
        emails.chain(phones).chain(handles).collect()
    }
}

/// Checks the size of every field of `input`, before any other work is done on it: the
/// limits the contract documents on `CustomerInput`.
fn check_sizes(input: &v1::CustomerInput) -> Result<(), Invalid> {
    let crm_id = input.crm_id.trim();
    if crm_id.is_empty() {
        return Err(Invalid::new("customer.crm_id", "is required"));
    }
    validate::key("customer.crm_id", crm_id, MAX_CRM_ID)?;
    validate::text("customer.given_name", &input.given_name, MAX_NAME)?;
    validate::text("customer.family_name", &input.family_name, MAX_NAME)?;
    validate::count("customer.emails", input.emails.len(), MAX_EACH)?;
    validate::count("customer.phones", input.phones.len(), MAX_EACH)?;
    validate::count("customer.handles", input.handles.len(), MAX_EACH)?;
    for (index, email) in input.emails.iter().enumerate() {
        validate::text(&format!("customer.emails[{index}]"), email.trim(), validate::MAX_EMAIL)?;
    }
    for (index, phone) in input.phones.iter().enumerate() {
        validate::text(&format!("customer.phones[{index}]"), phone.trim(), MAX_PHONE)?;
    }
    for (index, known) in input.handles.iter().enumerate() {
        validate::text(&format!("customer.handles[{index}].handle"), known.handle.trim(), MAX_HANDLE)?;
    }
    if let Some(address) = &input.address {
        validate::text("customer.address.street", &address.street, MAX_ADDRESS_LINE)?;
        validate::text("customer.address.city", &address.city, MAX_ADDRESS_LINE)?;
        validate::text("customer.address.region", &address.region, MAX_ADDRESS_LINE)?;
        validate::text("customer.address.postcode", &address.postcode, MAX_POSTCODE)?;
        validate::text("customer.address.country", &address.country, MAX_COUNTRY)?;
    }
    validate::text("customer.segment", &input.segment, MAX_LABEL)?;
    validate::text("customer.tier", &input.tier, MAX_LABEL)?;
    validate::text("customer.default_region", &input.default_region, MAX_REGION)?;
    validate::count("customer.attributes", input.attributes.len(), MAX_ATTRIBUTES)?;
    for (key, value) in &input.attributes {
        if key.is_empty()
            || key.len() > MAX_ATTRIBUTE_KEY
            || !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(Invalid::new(
                "customer.attributes",
                format!("{} is not an attribute name: 1 to {MAX_ATTRIBUTE_KEY} of a-z, 0-9, _", validate::quote(key)),
            ));
        }
        validate::text(&format!("customer.attributes[{key}]"), value, MAX_ATTRIBUTE_VALUE)?;
    }
    Ok(())
}

/// Checks `input` and normalises it; the error names the field to fix.
pub fn check(input: &v1::CustomerInput) -> Result<Checked, Invalid> {
    check_sizes(input)?;
    // NaN and infinities are no amount: PostgreSQL stores them, but every comparison and sum over
    // them (routing's customer value, reports) goes wrong.
    let total_spent = input.purchases.as_ref().map_or(0.0, |purchases| purchases.total_spent);
    for (field, amount) in
        [("customer.lifetime_value", input.lifetime_value), ("customer.purchases.total_spent", total_spent)]
    {
        if !amount.is_finite() {
            return Err(Invalid::new(field, "must be a finite number"));
        }
    }
    // Kept in the original only, but read back by every client: it must be one they can read.
    if let Some(at) = input.purchases.as_ref().and_then(|purchases| purchases.last_order_at.as_ref()) {
        validate::timestamp("customer.purchases.last_order_at", at)?;
    }
    let region = Some(input.default_region.as_str()).filter(|region| !region.is_empty());
    let emails = each("customer.emails", &input.emails, normalize::email)?;
    let phones = each("customer.phones", &input.phones, |phone| normalize::phone(phone, region))?;
    let mut handles = Vec::with_capacity(input.handles.len());
    for (index, known) in input.handles.iter().enumerate() {
        let handle = normalize::handle(known.channel, &known.handle)
            .map_err(|problem| Invalid::new(format!("customer.handles[{index}]"), problem))?;
        push_unique(&mut handles, handle);
    }
    let date_of_birth = match input.date_of_birth.trim() {
        "" => None,
        text => Some(validate::date_of_birth("customer.date_of_birth", text)?.format("%Y-%m-%d").to_string()),
    };
    let postcode = input.address.as_ref().map(|address| normalize::postcode(&address.postcode)).unwrap_or_default();
    Ok(Checked {
        normalized: v1::NormalizedCustomer {
            given_name: normalize::name(&input.given_name),
            family_name: normalize::name(&input.family_name),
            emails,
            phones,
            handles,
            postcode,
        },
        date_of_birth,
    })
}

/// Normalises each value of a repeated field, naming `field[index]` in the error, dropping
/// repeats.
fn each(
    field: &str,
    values: &[String],
    normalise: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, Invalid> {
    let mut normalized = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let value = normalise(value).map_err(|problem| Invalid::new(format!("{field}[{index}]"), problem))?;
        push_unique(&mut normalized, value);
    }
    Ok(normalized)
}

fn push_unique(values: &mut Vec<String>, value: String) {
    if !values.contains(&value) {
        values.push(value);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input() -> v1::CustomerInput {
        v1::CustomerInput {
            crm_id: "CRM-1".into(),
            given_name: "Zoë".into(),
            family_name: "O'Brien".into(),
            emails: vec!["Zoe.OBrien+shop@gmail.com".into(), "zoeobrien@gmail.com".into()],
            phones: vec!["07911 123456".into()],
            handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@ZoeOB".into() }],
            date_of_birth: "1990-04-21".into(),
            address: Some(v1::PostalAddress { postcode: "sw1a 1aa".into(), ..Default::default() }),
            default_region: "GB".into(),
            ..Default::default()
        }
    }

    #[test]
    fn normalises_every_field() {
        let checked = check(&input()).unwrap();
        let normalized = &checked.normalized;
        assert_eq!(normalized.given_name, "zoe");
        assert_eq!(normalized.family_name, "obrien");
        assert_eq!(normalized.emails, vec!["zoeobrien@gmail.com"], "the two emails are one");
        assert_eq!(normalized.phones, vec!["+447911123456"]);
        assert_eq!(normalized.handles, vec!["x:zoeob"]);
        assert_eq!(normalized.postcode, "SW1A1AA");
        assert_eq!(checked.date_of_birth.as_deref(), Some("1990-04-21"));
        assert_eq!(checked.identifiers().len(), 3);
    }

    /// Breaks one field of an input.
    type Breaker = fn(&mut v1::CustomerInput);

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, Breaker)] = &[
            ("customer.crm_id", |c| c.crm_id = " ".into()),
            ("customer.lifetime_value", |c| c.lifetime_value = f64::NAN),
            ("customer.lifetime_value", |c| c.lifetime_value = f64::INFINITY),
            ("customer.purchases.total_spent", |c| {
                c.purchases = Some(v1::PurchaseSummary { total_spent: f64::NAN, ..Default::default() })
            }),
            ("customer.emails[1]", |c| c.emails[1] = "nope".into()),
            ("customer.phones[0]", |c| c.default_region.clear()),
            ("customer.handles[0]", |c| c.handles[0].channel = 0),
            ("customer.date_of_birth", |c| c.date_of_birth = "21/04/1990".into()),
            ("customer.date_of_birth", |c| c.date_of_birth = "0000-01-01".into()),
            ("customer.date_of_birth", |c| c.date_of_birth = "2999-01-01".into()),
            ("customer.purchases.last_order_at", |c| {
                let at = prost_types::Timestamp { seconds: 1_700_000_000, nanos: -1 };
                c.purchases = Some(v1::PurchaseSummary { last_order_at: Some(at), ..Default::default() })
            }),
            ("customer.purchases.last_order_at", |c| {
                // 10000-01-01T00:00:00Z
                let at = prost_types::Timestamp { seconds: 253_402_300_800, nanos: 0 };
                c.purchases = Some(v1::PurchaseSummary { last_order_at: Some(at), ..Default::default() })
            }),
        ];
        for (field, break_it) in cases {
            let mut broken = input();
            break_it(&mut broken);
            let message = check(&broken).unwrap_err().to_string();
            assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
        }
    }

    #[test]
    fn every_field_is_bounded_and_the_error_names_field_and_limit() {
        let cases: &[(&str, usize, Breaker)] = &[
            ("customer.crm_id", MAX_CRM_ID, |c| c.crm_id = "C".repeat(MAX_CRM_ID + 1)),
            ("customer.given_name", MAX_NAME, |c| c.given_name = "a".repeat(3 * 1024 * 1024)),
            ("customer.family_name", MAX_NAME, |c| c.family_name = "a".repeat(MAX_NAME + 1)),
            ("customer.emails", MAX_EACH, |c| c.emails = vec!["a@example.com".into(); MAX_EACH + 1]),
            ("customer.emails[1]", validate::MAX_EMAIL, |c| {
                c.emails[1] = format!("{}@example.com", "a".repeat(1 << 20))
            }),
            ("customer.phones", MAX_EACH, |c| c.phones = vec!["+447911123456".into(); MAX_EACH + 1]),
            ("customer.phones[0]", MAX_PHONE, |c| c.phones[0] = "1".repeat(MAX_PHONE + 1)),
            ("customer.handles[0].handle", MAX_HANDLE, |c| c.handles[0].handle = "h".repeat(MAX_HANDLE + 1)),
            ("customer.address.street", MAX_ADDRESS_LINE, |c| {
                c.address.as_mut().unwrap().street = "s".repeat(600 * 1024)
            }),
            ("customer.address.city", MAX_ADDRESS_LINE, |c| c.address.as_mut().unwrap().city = "c".repeat(201)),
            ("customer.address.region", MAX_ADDRESS_LINE, |c| c.address.as_mut().unwrap().region = "r".repeat(201)),
            ("customer.address.postcode", MAX_POSTCODE, |c| c.address.as_mut().unwrap().postcode = "1".repeat(33)),
            ("customer.address.country", MAX_COUNTRY, |c| c.address.as_mut().unwrap().country = "x".repeat(65)),
            ("customer.segment", MAX_LABEL, |c| c.segment = "s".repeat(MAX_LABEL + 1)),
            ("customer.tier", MAX_LABEL, |c| c.tier = "t".repeat(MAX_LABEL + 1)),
            ("customer.default_region", MAX_REGION, |c| c.default_region = "G".repeat(MAX_REGION + 1)),
        ];
        for (field, limit, break_it) in cases {
            let mut broken = input();
            break_it(&mut broken);
            let message = check(&broken).unwrap_err().to_string();
            assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
            assert!(message.contains(&format!("at most {limit}")), "{field}: {message}");
            assert!(message.len() < 200, "the value is not echoed: {message}");
        }
        let mut crm_id_with_newline = input();
        crm_id_with_newline.crm_id = "CRM\n1".into();
        assert!(check(&crm_id_with_newline).is_err());
    }
}
