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
}

impl Sender {
    /// A sender whose calls time out after `timeout`.
    pub fn new(timeout: Duration, bases: BaseUrls) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tend/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, bases })
    }

    /// Sends `row` from `account` and says what came of it.
    pub async fn send(&self, channels: &Channels, account: &Account, row: &reply::Model) -> Outcome {
        let channel = v1::Channel::try_from(row.channel).unwrap_or(v1::Channel::Unspecified);
        let Some(adapter) = adapter_channel(channel) else {
            return Outcome::Failed { reason: format!("channel {} cannot take replies", channel.as_str_name()) };
        };
        if channel == v1::Channel::Email {
            return Outcome::Failed {
                reason: "email replies are not sent yet: SMTP delivery is not configured".into(),
            };
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
