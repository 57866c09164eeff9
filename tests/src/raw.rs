//! Calls with message bytes as they are: for requests no generated client would send
//! (malformed protobuf) and for calling every RPC of the descriptor set without its types.

use std::time::Duration;

use bytes::{Buf as _, BufMut as _};
use http::uri::PathAndQuery;
use tokio_stream::StreamExt as _;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// A codec that sends and receives message bytes unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder of [`RawCodec`].
#[derive(Debug)]
pub struct RawEncoder;

/// The decoder of [`RawCodec`].
#[derive(Debug)]
pub struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The shape of an RPC: whether the client sends a stream, and whether the server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streaming {
    /// The client sends a stream of messages.
    pub client: bool,
    /// The server answers with a stream of messages.
    pub server: bool,
}

/// Calls `path` with `request`: as the only message of a client stream when the RPC takes one,
/// and, when the server streams, returns what arrives within `first_message_wait` (a watch
/// may send nothing for a long time).
///
/// # Panics
/// When `path` is not a valid path.
pub async fn call(
    channel: Channel,
    path: &str,
    shape: Streaming,
    request: tonic::Request<Vec<u8>>,
    first_message_wait: Duration,
) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|error| Status::unavailable(error.to_string()))?;
    #[allow(clippy::unwrap_used)]
    let path = PathAndQuery::try_from(path).unwrap();
    match (shape.client, shape.server) {
        (false, false) => grpc.unary(request, path, RawCodec).await.map(tonic::Response::into_inner),
        (true, false) => {
            let request = request.map(|message| tokio_stream::iter([message]));
            grpc.client_streaming(request, path, RawCodec).await.map(tonic::Response::into_inner)
        }
        (false, true) => {
            let mut stream = grpc.server_streaming(request, path, RawCodec).await?.into_inner();
            match tokio::time::timeout(first_message_wait, stream.next()).await {
                Ok(Some(message)) => message,
                Ok(None) | Err(_) => Ok(Vec::new()),
            }
        }
        (true, true) => {
            let request = request.map(|message| tokio_stream::iter([message]));
            let mut stream = grpc.streaming(request, path, RawCodec).await?.into_inner();
            match tokio::time::timeout(first_message_wait, stream.next()).await {
                Ok(Some(message)) => message,
                Ok(None) | Err(_) => Ok(Vec::new()),
            }
        }
    }
}
