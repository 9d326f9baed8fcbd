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

/// The field names of message `name` (e.g. `MessageStatusEvent`) of
/// package `aerostic.v1`, as the contracts declare them; empty if unknown.
/// Events travel as JSON with exactly these keys.
pub fn field_names(name: &str) -> Vec<String> {
    let set: prost_types::FileDescriptorSet =
        prost::Message::decode(FILE_DESCRIPTOR_SET).expect("the build wrote a valid set");
    set.file
        .iter()
        .filter(|f| f.package() == "aerostic.v1")
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == name)
        .map(|m| m.field.iter().map(|f| f.name().to_string()).collect())
        .unwrap_or_default()
}

/// The enums' wire names as REST, the database and the kit spell them
/// (`ROLE_WORKSPACE_ADMIN` ↔ `workspace_admin`), in one place.
mod names {
    use super::v1::{Role, TenantStatus};

    impl Role {
        /// `workspace_admin`; empty for `ROLE_UNSPECIFIED`.
        pub fn wire_name(self) -> String {
            if self == Role::Unspecified {
                return String::new();
            }
            self.as_str_name()
                .trim_start_matches("ROLE_")
                .to_lowercase()
        }

        /// The role named `name`; unspecified when unknown (callers refuse it).
        pub fn from_wire_name(name: &str) -> Self {
            Role::from_str_name(&format!("ROLE_{}", name.to_uppercase())).unwrap_or_default()
        }
    }

    impl TenantStatus {
        /// `active` or `suspended`.
        pub fn wire_name(self) -> String {
            self.as_str_name()
                .trim_start_matches("TENANT_STATUS_")
                .to_lowercase()
        }
    }
}

/// A UTC time as a protobuf timestamp (every service's one conversion).
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}
