//! What a webhook delivery names but does not carry, fetched before the post is stored: an
//! Instagram mention comes as ids only, and its text and author are read from the Graph API
//! (`mentioned_comment` / `mentioned_media` of the account, with the account's access token).
//!
//! A lookup the platform cannot answer now (429, 5xx, a timeout) fails the delivery with 503,
//! so that Meta delivers it again; one it will never answer (the comment deleted, comments
//! disabled on the media, no token) refuses that post alone, counted.

use tend_channels::Inbound;
use tend_channels::meta::{complete_mention, lookup_url};
use tend_channels::outbound::graph_failure_is_temporary;

use crate::registry::{Account, Channels};

/// Most bytes of a lookup's answer read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Why a post could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The platform will not answer it: refuse this post.
    #[error("{0}")]
    Refused(String),
    /// The platform cannot answer it now: the delivery should come again.
    #[error("{0}")]
    Unavailable(String),
}

/// The client and address lookups use.
pub struct Lookups {
    http: reqwest::Client,
    meta_base: String,
}

impl Lookups {
    /// Lookups with `http` against the Graph API at `meta_base`.
    pub fn new(http: reqwest::Client, meta_base: &str) -> Self {
        Self { http, meta_base: meta_base.trim_end_matches('/').to_owned() }
    }

    /// Completes `post` (received for `account`) if its delivery left something to fetch.
    pub async fn complete(
        &self,
        channels: &Channels,
        account: &Account,
        post: &mut Inbound,
    ) -> Result<(), LookupError> {
        let Some(lookup) = &post.lookup else { return Ok(()) };
        // Every lookup is an Instagram mention today.
        let url = lookup_url(&self.meta_base, &account.platform_account_id, lookup);
        let token = match channels.secret(account, "access_token") {
            Ok(Some(token)) => token,
            Ok(None) => {
                tracing::warn!(account = %account.id, "Instagram mention not read: the account has no access_token");
                return Err(LookupError::Refused(format!(
                    "mention {} not read: account {} has no access_token",
                    post.external_id, account.id
                )));
            }
            Err(error) => return Err(LookupError::Refused(format!("mention {} not read: {error}", post.external_id))),
        };
        let response = self
            .http
            .get(&url)
            .bearer_auth(token.trim())
            .send()
            .await
            .map_err(|error| LookupError::Unavailable(format!("the Graph API did not answer: {error}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| LookupError::Unavailable(format!("the Graph API's answer was cut: {error}")))?;
        let excerpt = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if !status.is_success() && graph_failure_is_temporary(status.as_u16(), &body) {
            return Err(LookupError::Unavailable(format!("the Graph API answered {status}: {}", excerpt())));
        }
        if !status.is_success() {
            tracing::info!(account = %account.id, post = %post.external_id, %status, "Instagram mention not readable");
            return Err(LookupError::Refused(format!(
                "mention {} not readable: the Graph API answered {status}: {}",
                post.external_id,
                excerpt()
            )));
        }
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(LookupError::Refused(format!(
                "mention {}: the Graph API's answer is too large",
                post.external_id
            )));
        }
        complete_mention(post, &body).map_err(|error| {
            LookupError::Refused(format!("mention {}: the Graph API's answer: {error}", post.external_id))
        })
    }
}
