//! Generated gRPC contracts for Aerostic's services (`aerostic.v1`).
//!
//! The `.proto` files under `proto/aerostic/v1` are the source of truth; this
//! crate only compiles them and exposes the descriptor set for reflection.

#![allow(clippy::all, missing_docs)]

/// Version 1 of every contract.
pub mod v1 {
    tonic::include_proto!("aerostic.v1");
}

/// Encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/aerostic_descriptor.bin"));
