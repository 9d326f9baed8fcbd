//! Starts Aerostic's processes: one service, the gateway, migrations, or the
//! whole platform in one process (`aerostic dev`, and the end-to-end tests).
//!
//! Whatever the shape, services talk gRPC over loopback: one code path.

#![warn(missing_docs)]

mod admin_cli;
mod cli;
mod dev;
mod platform;
mod process;
pub mod topology;

pub use cli::main;
pub use dev::{DevOptions, prepare_dev};
pub use platform::{Platform, PlatformSpec, migrate, sandbox_meta};
