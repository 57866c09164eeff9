//! Compiles `proto/tend/v1/*.proto` into Rust. protoc comes from the `protoc-bin-vendored` crate
//! unless `PROTOC` names another, so a fresh machine needs nothing but cargo.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=PROTOC");
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // `prost::Name` impls give each message its full name ("tend.v1.CaseEvent"), which event
    // envelopes carry to say what their payload is.
    config.enable_type_names();

    let files = ["common", "events", "ingest", "identity", "routing", "queue", "cases", "feedback", "channels"]
        .map(|name| proto_root.join(format!("tend/v1/{name}.proto")));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure().file_descriptor_set_path(out_dir.join("tend_descriptor.bin")).compile_with_config(
        config,
        &files,
        &[proto_root],
    )?;
    Ok(())
}
