//! The platforms' deliveries read as Tend's inbound posts. Pure: no I/O. Ingest's HTTP listener
//! and mailbox poller call it, then resolve the account, store and publish.
//!
//! - [`signature`]: verifying webhook signatures (X's CRC and `x-twitter-webhooks-signature`,
//!   Meta's `X-Hub-Signature-256`, Tend's generic `X-Tend-Signature` with a replay window).
//! - [`x`], [`meta`], [`generic`]: each platform's webhook payload to [`Inbound`] posts.
//! - [`email`]: an RFC 5322 message to an [`Inbound`] post (MIME, quoted history and signatures
//!   stripped, threading headers, attachments as metadata).
//! - [`outbound`]: the other direction, a reply as the platform's HTTP request (X, Meta, the
//!   generic callback), the response read as sent / retry / failed, and per-account quotas.

pub mod email;
pub mod generic;
mod inbound;
pub mod meta;
pub mod outbound;
pub mod signature;
pub mod x;

pub use generic::Parsed;
pub use inbound::{Attachment, Author, Change, Channel, Inbound, Lookup, ParseError};
pub use signature::SignatureError;
