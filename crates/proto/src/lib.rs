//! Tend's gRPC contracts, generated from `proto/tend/v1` at build time.
//!
//! Nothing here is written by hand but re-exports: the messages and service stubs of package
//! `tend.v1`, and the encoded file descriptor set that gRPC reflection serves.

/// The `tend.v1` package: every message, enum, client and server of Tend's contracts.
#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod v1 {
    tonic::include_proto!("tend.v1");
}

/// The encoded `FileDescriptorSet` of all Tend protos, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tend_descriptor");

pub use prost_types::Timestamp;
