//! Signed, expiring links: the token in a survey's (or a testimonial request's) link.
//!
//! A token is 41 bytes in base64url without padding (55 characters): what it is for (1 byte),
//! the survey's id (a UUID, 16 bytes), when it expires (seconds since the epoch, 8 bytes big
//! endian) and the first 16 bytes of an HMAC-SHA256 over those 25 bytes and the tenant, under
//! the deployment's secret (`feedback.token_secret`). Nothing can be changed in it without the
//! secret, and a token of one tenant is forged for every other. Single use is not the token's
//! business: the survey's row says whether it was answered.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC a token carries (128 bits).
const MAC_BYTES: usize = 16;
/// Bytes signed: purpose, id, expiry.
const SIGNED_BYTES: usize = 1 + 16 + 8;
/// Longest token accepted, in bytes, before decoding.
pub const MAX_TOKEN_BYTES: usize = 256;

/// What a token is for: a token of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Answering a survey.
    Survey = 1,
    /// Giving a testimonial.
    Testimonial = 2,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token this deployment issued for this tenant and purpose: altered, forged, cut, or
    /// another tenant's.
    #[error("is not a link this service issued (it was altered, cut short or made up)")]
    Forged,
    /// A genuine token past its time.
    #[error("expired at {0}")]
    Expired(DateTime<Utc>),
}

/// What a genuine token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The survey's (or request's) id.
    pub id: String,
    /// Until when it works.
    pub expires_at: DateTime<Utc>,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer with `secret`.
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    /// A signer with a random secret of its own (a library build without a configured one):
    /// its tokens work only in this process.
    pub fn random() -> Self {
        let random = || uuid::Uuid::new_v4().simple().to_string();
        Self::new(format!("{}{}", random(), random()).into_bytes())
    }

    fn mac(&self, tenant: &str, signed: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        mac.update(b"tend-token-v1");
        mac.update(&[u8::try_from(tenant.len()).unwrap_or(u8::MAX)]);
        mac.update(tenant.as_bytes());
        mac.update(signed);
        mac
    }

    /// The token for `id` (a UUID) of `tenant`, for `purpose`, working until `expires_at`.
    pub fn sign(&self, tenant: &str, purpose: Purpose, id: &str, expires_at: DateTime<Utc>) -> String {
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_default();
        let mut bytes = Vec::with_capacity(SIGNED_BYTES + MAC_BYTES);
        bytes.push(purpose as u8);
        bytes.extend_from_slice(uuid.as_bytes());
        bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        let tag = self.mac(tenant, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What `token` says, if this signer made it for `tenant` and `purpose` and it has not
    /// expired at `now`. The MAC is checked first, in constant time: a forged token is forged
    /// whatever its expiry says.
    pub fn verify(
        &self,
        tenant: &str,
        purpose: Purpose,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Forged);
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Forged)?;
        if bytes.len() != SIGNED_BYTES + MAC_BYTES {
            return Err(TokenError::Forged);
        }
        let (signed, tag) = bytes.split_at(SIGNED_BYTES);
        self.mac(tenant, signed).verify_truncated_left(tag).map_err(|_| TokenError::Forged)?;
        if signed[0] != purpose as u8 {
            return Err(TokenError::Forged);
        }
        let uuid = uuid::Uuid::from_slice(&signed[1..17]).map_err(|_| TokenError::Forged)?;
        let mut seconds = [0u8; 8];
        seconds.copy_from_slice(&signed[17..25]);
        let expires_at = DateTime::from_timestamp(i64::from_be_bytes(seconds), 0).ok_or(TokenError::Forged)?;
        if now >= expires_at {
            return Err(TokenError::Expired(expires_at));
        }
        Ok(Claims { id: uuid.to_string(), expires_at })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_token_works_for_its_tenant_purpose_and_time_only() {
        let signer = Signer::new(b"a secret of at least thirty-two bytes".to_vec());
        let id = tend_kernel::ids::new_id();
        let now = Utc::now();
        let expires = now + Duration::days(7);
        let token = signer.sign("acme", Purpose::Survey, &id, expires);
        assert!(token.len() <= 60, "{token}");
        let claims = signer.verify("acme", Purpose::Survey, &token, now).unwrap();
        assert_eq!(claims.id, id);
        assert_eq!(claims.expires_at.timestamp(), expires.timestamp());

        assert_eq!(signer.verify("globex", Purpose::Survey, &token, now), Err(TokenError::Forged));
        assert_eq!(signer.verify("acme", Purpose::Testimonial, &token, now), Err(TokenError::Forged));
        assert!(matches!(signer.verify("acme", Purpose::Survey, &token, expires), Err(TokenError::Expired(_))));
        let other = Signer::new(b"another secret of thirty-two bytes!!".to_vec());
        assert_eq!(other.verify("acme", Purpose::Survey, &token, now), Err(TokenError::Forged));

        // Every single character changed, the token cut or lengthened: forged.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for index in 0..token.len() {
            let mut changed = token.clone().into_bytes();
            let replacement = alphabet.bytes().find(|&c| c != changed[index]).unwrap();
            changed[index] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            // The last character carries 2 bits of padding only its top bits count for.
            if index + 1 == token.len() && URL_SAFE_NO_PAD.decode(&changed).ok() == URL_SAFE_NO_PAD.decode(&token).ok()
            {
                continue;
            }
            assert_eq!(signer.verify("acme", Purpose::Survey, &changed, now), Err(TokenError::Forged), "{index}");
        }
        assert_eq!(signer.verify("acme", Purpose::Survey, &token[..20], now), Err(TokenError::Forged));
        assert_eq!(signer.verify("acme", Purpose::Survey, &format!("{token}AA"), now), Err(TokenError::Forged));
        assert_eq!(signer.verify("acme", Purpose::Survey, "", now), Err(TokenError::Forged));
        assert_eq!(signer.verify("acme", Purpose::Survey, &"A".repeat(10_000), now), Err(TokenError::Forged));
    }
}
