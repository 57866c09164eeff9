//! Statuses as the caller should see them, whatever produced them.
//!
//! tonic answers a request message over `server.max_request_bytes` with OUT_OF_RANGE, and a
//! request that is not valid protobuf (invalid UTF-8 in a string, a truncated message, a wrong
//! wire type) with INTERNAL. Both are the caller's doing, and gRPC has codes that say so:
//! RESOURCE_EXHAUSTED and INVALID_ARGUMENT. And a status message must stay short: one that
//! quotes megabytes of input exceeds the client's metadata limit and reaches it as a transport
//! error instead of the answer.
//!
//! [`StatusLayer`] applies [`normalize`] to every status the server sends, in the response
//! headers (a unary error) and in the trailers (a stream's end). A handler that reads a client
//! stream calls [`normalize`] on a receive error itself, to add which record failed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use tonic::{Code, Status};

/// The longest status message sent, in bytes; longer ones are cut, saying so.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// How tonic words a request message over the size limit.
const TOO_LARGE: &str = "Error, decoded message length too large: ";
/// How prost words a message it cannot decode.
const NOT_PROTOBUF: &str = "failed to decode Protobuf message: ";
/// How tonic words a request body that ends inside a message.
const TRUNCATED: &str = "Unexpected EOF decoding stream.";

/// The status the caller should see for `status`: the caller's errors with the caller's codes
/// and a message of at most [`MAX_MESSAGE_BYTES`].
pub fn normalize(status: Status) -> Status {
    match rewritten(status.code(), status.message()) {
        Some((code, message)) => Status::with_details_and_metadata(
            code,
            message,
            status.details().to_vec().into(),
            status.metadata().clone(),
        ),
        None => status,
    }
}

/// The code and message to send instead of these, or `None` when they are right as they are.
fn rewritten(code: Code, message: &str) -> Option<(Code, String)> {
    let (code, message) = match code {
        Code::OutOfRange if message.starts_with(TOO_LARGE) => (
            Code::ResourceExhausted,
            format!(
                "request message too large: {}; send smaller requests (the server's limit is server.max_request_bytes)",
                &message[TOO_LARGE.len()..]
            ),
        ),
        Code::Internal if message.starts_with(NOT_PROTOBUF) => (
            Code::InvalidArgument,
            format!(
                "the request is not a valid protobuf message ({}); check that the client encodes the published .proto",
                &message[NOT_PROTOBUF.len()..]
            ),
        ),
        Code::Internal if message == TRUNCATED => {
            (Code::InvalidArgument, "the request ended in the middle of a message".to_owned())
        }
        _ if message.len() > MAX_MESSAGE_BYTES => (code, message.to_owned()),
        _ => return None,
    };
    Some((code, clip(message)))
}

/// `message`, cut to at most [`MAX_MESSAGE_BYTES`] on a character boundary.
pub(crate) fn clip(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let suffix = format!("… (cut from {} bytes)", message.len());
    let mut end = MAX_MESSAGE_BYTES - suffix.len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &message[..end])
}

/// Rewrites the status in `headers` (response headers or trailers), if there is one to rewrite.
fn rewrite(headers: &mut http::HeaderMap) {
    // Most responses end with `grpc-status: 0`: skip them before parsing anything.
    if headers.get("grpc-status").is_none_or(|code| code.as_bytes() == b"0") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else { return };
    let Some((code, message)) = rewritten(status.code(), status.message()) else { return };
    let mut fresh = http::HeaderMap::new();
    if Status::new(code, message).add_header(&mut fresh).is_err() {
        return;
    }
    headers.remove("grpc-message");
    for (name, value) in fresh.drain().filter_map(|(name, value)| Some((name?, value))) {
        headers.insert(name, value);
    }
}

/// A tower layer that applies [`normalize`] to every status a service sends.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusLayer;

impl<S> tower::Layer<S> for StatusLayer {
    type Service = StatusService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StatusService { inner }
    }
}

/// The service made by [`StatusLayer`].
#[derive(Debug, Clone)]
pub struct StatusService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for StatusService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>, Error = Infallible>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let (mut parts, body) = response.await?.into_parts();
            rewrite(&mut parts.headers);
            let body = body.map_frame(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    rewrite(&mut trailers);
                    http_body::Frame::trailers(trailers)
                }
                Err(frame) => frame,
            });
            Ok(http::Response::from_parts(parts, tonic::body::Body::new(body)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_request_is_resource_exhausted() {
        let status = normalize(Status::out_of_range(
            "Error, decoded message length too large: found 4000 bytes, the limit is: 2048 bytes",
        ));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("found 4000 bytes, the limit is: 2048 bytes"), "{}", status.message());
    }

    #[test]
    fn malformed_protobuf_is_invalid_argument() {
        let status = normalize(Status::internal(
            "failed to decode Protobuf message: Customer.given_name: invalid string value: data is not UTF-8 encoded",
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("Customer.given_name"), "{}", status.message());
        assert_eq!(normalize(Status::internal(TRUNCATED)).code(), Code::InvalidArgument);
    }

    #[test]
    fn other_statuses_pass_unchanged() {
        let status = normalize(Status::internal("internal error (incident 42)"));
        assert_eq!((status.code(), status.message()), (Code::Internal, "internal error (incident 42)"));
        assert_eq!(normalize(Status::out_of_range("page 9 of 3")).code(), Code::OutOfRange);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let status = normalize(Status::not_found(format!("customer {} not found", "é".repeat(3_000_000))));
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.message().len() <= MAX_MESSAGE_BYTES, "{}", status.message().len());
        assert!(status.message().ends_with("(cut from 6000019 bytes)"), "{}", status.message());
    }

    #[test]
    fn headers_are_rewritten_in_place() {
        let mut headers = http::HeaderMap::new();
        Status::out_of_range("Error, decoded message length too large: found 9 bytes, the limit is: 1 bytes")
            .add_header(&mut headers)
            .unwrap();
        headers.insert("x-other", "kept".parse().unwrap());
        rewrite(&mut headers);
        let status = Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(headers.get("x-other").unwrap(), "kept");
    }
}
