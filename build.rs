//! Compiles the gRPC contract in `proto/veilink/v1/` with `protox` (a pure-Rust
//! protobuf compiler), so no `protoc` is needed on any machine, and writes the
//! encoded file descriptor set for server reflection.

use std::path::PathBuf;

use prost::Message;

const PROTOS: &[&str] = &[
    "proto/veilink/v1/common.proto",
    "proto/veilink/v1/intake.proto",
    "proto/veilink/v1/linkage.proto",
    "proto/veilink/v1/analysis.proto",
    "proto/veilink/v1/audit.proto",
    "proto/veilink/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tonic-prost-build 0.14 prints no rerun-if-changed lines for a descriptor
    // set, so print our own.
    println!("cargo:rerun-if-changed=build.rs");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }

    let descriptors = protox::compile(PROTOS, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("veilink_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
