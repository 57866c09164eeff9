//! Sending one reply to its platform: the request built by `tend_channels::outbound`, sent
//! with reqwest, the response read back into an outcome.

use std::time::Duration;

use tend_channels::outbound::{self, BaseUrls, Credentials, Outcome, Reply, ReplyKind};
use tend_proto::v1;

use super::storage::reply;
use crate::registry::{Account, Channels};
use crate::webhooks::adapter_channel;

/// How much of a response body is read at most.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What sending needs besides the reply.
pub struct Sender {
    /// The HTTP client (timeouts set).
    pub http: reqwest::Client,
    /// The platforms' base URLs.
    pub bases: BaseUrls,
    /// How long one send may take (SMTP too).
    timeout: Duration,
}

impl Sender {
    /// A sender over `http` (see [`crate::platform_http`]), whose SMTP calls time out after
    /// `timeout`.
    pub fn new(http: reqwest::Client, timeout: Duration, bases: BaseUrls) -> Self {
        Self { http, bases, timeout }
    }

    /// Sends `row` from `account` and says what came of it.
    pub async fn send(&self, channels: &Channels, account: &Account, row: &reply::Model) -> Outcome {
        let channel = v1::Channel::try_from(row.channel).unwrap_or(v1::Channel::Unspecified);
        let Some(adapter) = adapter_channel(channel) else {
            return Outcome::Failed { reason: format!("channel {} cannot take replies", channel.as_str_name()) };
        };
        if channel == v1::Channel::Email {
            return self.send_email(channels, account, row).await;
        }
        let kind = if row.private { ReplyKind::Private } else { ReplyKind::Public };
        let secret = |name: &str| match channels.secret(account, name) {
            Ok(value) => Ok(value.unwrap_or_default()),
            Err(error) => Err(Outcome::Retry { reason: error.to_string(), after: Some(Duration::from_secs(60)) }),
        };
        let credentials = match (secret("access_token"), secret("signing_secret")) {
            (Ok(access_token), Ok(signing_secret)) => Credentials {
                access_token,
                signing_secret,
                callback_url: account.setting("callback_url", "").to_owned(),
            },
            (Err(outcome), _) | (_, Err(outcome)) => return outcome,
        };
        let reply = Reply {
            in_reply_to: row.in_reply_to.clone(),
            recipient_id: row.recipient.clone(),
            thread_id: row.thread_id.clone(),
            text: row.text.clone(),
            ..Reply::new(row.reply_id.clone(), adapter, kind, account.platform_account_id.clone())
        };
        let now = chrono::Utc::now().timestamp();
        let request = match outbound::request(&reply, &credentials, &self.bases, now) {
            Ok(request) => request,
            Err(error) => return Outcome::Failed { reason: error.to_string() },
        };
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(method) => method,
            Err(_) => return Outcome::Failed { reason: format!("unknown method {}", request.method) },
        };
        let mut call = self.http.request(method, &request.url).body(request.body);
        for (name, value) in &request.headers {
            call = call.header(name, value);
        }
        let response = match call.send().await {
            Ok(response) => response,
            Err(error) => {
                // No secret here: the URL holds none (tokens go in headers).
                let reason = if error.is_timeout() {
                    "the platform did not answer in time".to_owned()
                } else {
                    error.to_string()
                };
                return Outcome::Retry { reason, after: None };
            }
        };
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = match read_limited(response).await {
            Ok(body) => body,
            Err(error) => {
                return Outcome::Retry { reason: format!("reading the platform's answer: {error}"), after: None };
            }
        };
        outbound::outcome(&reply, status, &headers, &body, chrono::Utc::now().timestamp())
    }
}

impl Sender {
    /// Sends an email reply over the account's SMTP server, threaded under the message answered
    /// (In-Reply-To, References) so it lands in the customer's conversation. Its Message-ID is
    /// derived from the reply id, so the platform id is known before sending.
    async fn send_email(&self, channels: &Channels, account: &Account, row: &reply::Model) -> Outcome {
        let registry = channels.snapshot();
        let Some(app) = registry.app(&account.app_id) else {
            return Outcome::Failed { reason: "the account's app is not registered".into() };
        };
        let config = match crate::mail::smtp_config(channels, app, account, self.timeout) {
            Ok(config) => config,
            Err(reason) => return Outcome::Failed { reason },
        };
        if row.recipient.is_empty() {
            return Outcome::Failed { reason: "the email answered has no sender address to reply to".into() };
        }
        // The headers come from the message answered, as its parser read it.
        let mut original = tend_channels::Inbound::new(tend_channels::Channel::Email, "", row.in_reply_to.clone());
        if !row.thread_id.is_empty() && row.thread_id != row.in_reply_to {
            original.references.push(row.thread_id.clone());
        }
        let headers = tend_channels::email::reply_headers(&original);
        let domain = account.platform_account_id.rsplit_once('@').map_or("tend.invalid", |(_, domain)| domain);
        let message_id = format!("<{}@{domain}>", row.reply_id);
        let email = tend_mailbox::OutgoingEmail {
            from: crate::mail::from_address(app, account),
            to: row.recipient.clone(),
            subject: if row.subject.is_empty() { "Re: your message".to_owned() } else { row.subject.clone() },
            text: row.text.clone(),
            message_id: message_id.clone(),
            in_reply_to: Some(headers.in_reply_to_value()).filter(|value| !value.is_empty()),
            references: headers.references.iter().map(|id| format!("<{id}>")).collect(),
        };
        match tend_mailbox::send(&config, &email).await {
            Ok(()) => Outcome::Sent { platform_id: message_id },
            Err(error) if error.is_retryable() => Outcome::Retry { reason: error.to_string(), after: None },
            Err(error) => Outcome::Failed { reason: error.to_string() },
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}
