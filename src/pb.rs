//! Generated gRPC code for the `veilink.v1` contract (`proto/veilink/v1/`),
//! compiled by `build.rs` with protox and tonic-prost-build.

/// Messages, clients and servers of package `veilink.v1`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("veilink.v1");
}

/// The encoded file descriptor set of the contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/veilink_descriptor.bin"));
