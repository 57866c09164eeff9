//! CRM customers: validating and normalising what the CRM sends. No I/O.

use tend_proto::v1;

use crate::domain::Invalid;
use crate::normalize;

/// Longest CRM id accepted, in bytes.
const MAX_CRM_ID: usize = 256;
/// Most emails, phones or handles per customer.
const MAX_EACH: usize = 20;

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

/// Checks `input` and normalises it; the error names the field to fix.
pub fn check(input: &v1::CustomerInput) -> Result<Checked, Invalid> {
    let crm_id = input.crm_id.trim();
    if crm_id.is_empty() {
        return Err(Invalid::new("customer.crm_id", "is required"));
    }
    if crm_id.len() > MAX_CRM_ID {
        return Err(Invalid::new("customer.crm_id", format!("must be at most {MAX_CRM_ID} bytes")));
    }
    for (field, count) in
        [("emails", input.emails.len()), ("phones", input.phones.len()), ("handles", input.handles.len())]
    {
        if count > MAX_EACH {
            return Err(Invalid::new(format!("customer.{field}"), format!("must hold at most {MAX_EACH}")));
        }
    }
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
        text => {
            let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                Invalid::new("customer.date_of_birth", format!("{text:?} is not a date like 1990-04-21"))
            })?;
            Some(date.format("%Y-%m-%d").to_string())
        }
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
        let cases: [(&str, Breaker); 8] = [
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
        ];
        for (field, break_it) in cases {
            let mut broken = input();
            break_it(&mut broken);
            let message = check(&broken).unwrap_err().to_string();
            assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
        }
    }
}
