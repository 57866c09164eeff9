//! Subject access exports (GDPR article 15): what each service answers to
//! `ExportSubjectData`, checked and shaped the same way everywhere.
//!
//! A service reads the request with [`Subject::parse`], gathers its records as their API
//! messages, turns each into JSON with [`record`] (proto field names, enum value names,
//! RFC 3339 times) and answers with [`answer`], which refuses a document over
//! [`MAX_EXPORT_BYTES`] with RESOURCE_EXHAUSTED.

use std::sync::OnceLock;

use tend_kernel::ApiError;
use tend_kernel::proto_json::{Descriptors, Message, Value};
use tend_kernel::validate;
use tend_proto::v1;
use tonic::Status;

/// The largest export a service answers, and the largest document identity assembles: 64 MiB.
/// Over it the export is refused with RESOURCE_EXHAUSTED rather than cut short.
pub const MAX_EXPORT_BYTES: usize = 64 * 1024 * 1024;

/// The most profile ids or handles one request names.
pub const MAX_SUBJECT_IDS: usize = 1000;

/// Whom an export is about, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// Identity's customer id.
    pub customer_id: String,
    /// Identity's profile ids, without blanks or repeats.
    pub profile_ids: Vec<String>,
    /// `(channel number, author id on the channel)`, without blanks or repeats.
    pub handles: Vec<(i32, String)>,
}

impl Subject {
    /// Checks a request: a customer id, at most [`MAX_SUBJECT_IDS`] profile ids and handles,
    /// each a bounded id. INVALID_ARGUMENT naming the field otherwise.
    pub fn parse(request: &v1::ExportSubjectDataRequest) -> Result<Self, ApiError> {
        validate::id("customer_id", request.customer_id.trim())?;
        validate::count("profile_ids", request.profile_ids.len(), MAX_SUBJECT_IDS)?;
        validate::count("handles", request.handles.len(), MAX_SUBJECT_IDS)?;
        let mut profile_ids = Vec::new();
        for (index, id) in request.profile_ids.iter().enumerate() {
            let id = id.trim().to_owned();
            validate::id(&format!("profile_ids[{index}]"), &id)?;
            if !profile_ids.contains(&id) {
                profile_ids.push(id);
            }
        }
        let mut handles = Vec::new();
        for (index, handle) in request.handles.iter().enumerate() {
            validate::enumeration::<v1::Channel>(&format!("handles[{index}].channel"), handle.channel, "a Channel")?;
            validate::text(&format!("handles[{index}].external_id"), &handle.external_id, 256)?;
            let handle = (handle.channel, handle.external_id.clone());
            if !handle.1.is_empty() && !handles.contains(&handle) {
                handles.push(handle);
            }
        }
        Ok(Self { customer_id: request.customer_id.trim().to_owned(), profile_ids, handles })
    }
}

/// The descriptors of Tend's contracts, read once.
pub fn descriptors() -> &'static Descriptors {
    static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
    DESCRIPTORS.get_or_init(|| Descriptors::decode(tend_proto::FILE_DESCRIPTOR_SET).unwrap_or_default())
}

/// `message`, of proto type `name` (`"Case"`, `"Interaction"`: in package `tend.v1`), as JSON.
pub fn record(name: &str, message: &impl Message) -> Value {
    descriptors().to_json(&format!("tend.v1.{name}"), message)
}

/// `document` as `service`'s answer; RESOURCE_EXHAUSTED over [`MAX_EXPORT_BYTES`].
pub fn answer(service: &str, document: &Value) -> Result<v1::SubjectDataExport, Status> {
    let json = document.to_string();
    if json.len() > MAX_EXPORT_BYTES {
        return Err(too_big(service, json.len()));
    }
    Ok(v1::SubjectDataExport { service: service.to_owned(), json })
}

/// RESOURCE_EXHAUSTED for an export of `bytes` from `service`.
pub fn too_big(service: &str, bytes: usize) -> Status {
    Status::resource_exhausted(format!(
        "the {service} export would be {} MiB, over the {} MiB limit of a subject access export",
        bytes / (1024 * 1024),
        MAX_EXPORT_BYTES / (1024 * 1024)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_checked_and_deduplicated() {
        let request = v1::ExportSubjectDataRequest {
            customer_id: " c1 ".into(),
            profile_ids: vec!["p1".into(), "p1 ".into(), "p2".into()],
            handles: vec![
                v1::SubjectHandle { channel: v1::Channel::X.into(), external_id: "a".into() },
                v1::SubjectHandle { channel: v1::Channel::X.into(), external_id: "a".into() },
            ],
        };
        let subject = Subject::parse(&request).unwrap();
        assert_eq!(subject.customer_id, "c1");
        assert_eq!(subject.profile_ids, vec!["p1", "p2"]);
        assert_eq!(subject.handles, vec![(i32::from(v1::Channel::X), "a".to_owned())]);

        let no_customer = v1::ExportSubjectDataRequest::default();
        assert!(Subject::parse(&no_customer).is_err());
        let bad_channel = v1::ExportSubjectDataRequest {
            customer_id: "c1".into(),
            handles: vec![v1::SubjectHandle { channel: 99, external_id: "a".into() }],
            ..Default::default()
        };
        assert!(Subject::parse(&bad_channel).is_err());
    }

    #[test]
    fn an_export_over_the_limit_is_refused_not_cut() {
        let small = answer("cases", &Value::from("x")).unwrap();
        assert_eq!((small.service.as_str(), small.json.as_str()), ("cases", "\"x\""));
        let huge = Value::String("x".repeat(MAX_EXPORT_BYTES));
        let status = answer("cases", &huge).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("cases"), "{}", status.message());
    }

    #[test]
    fn records_read_as_their_api_messages() {
        let handle = v1::SubjectHandle { channel: v1::Channel::X.into(), external_id: "a".into() };
        let json = record("SubjectHandle", &handle);
        assert_eq!(json.to_string(), r#"{"channel":"CHANNEL_X","external_id":"a"}"#);
    }
}
