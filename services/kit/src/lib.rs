//! The shared kit of every Aerostic process.
//!
//! - [`config`]: typed settings from `AEROSTIC_…` variables;
//! - [`error`]: the one error table mapped to gRPC codes and HTTP statuses;
//! - [`db`]: sea-orm connections to PostgreSQL or SQLite;
//! - [`broker`]: durable publish/consume with retries and dead letters (RabbitMQ or in-process);
//! - [`cache`]: TTL values, counters and rate limits (Redis or in-memory);
//! - [`crypto`]: AES-256-GCM envelopes bound to tenant and column, with key rotation;
//! - [`telemetry`] and [`mask`]: masked logs, Prometheus metrics, trace ids;
//! - [`outbox`]: events staged in the writing transaction, relayed after commit;
//! - [`signals`]: the activity the anomaly service watches, batched onto the broker;
//! - [`audit`]: audit records any service stages for the chained audit log;
//! - [`batch`]: group commit, items gathered into batches while earlier ones run;
//! - [`grpc`]: serving and calling with health, reflection and trace propagation;
//! - [`host`]: host-name normalisation; [`ids`]: typed ids; [`identity`]: the sealed caller identity and permissions;
//! - [`jwt`]: access tokens with rotating keys; [`seal`]: short-lived signed values.

#![warn(missing_docs)]

pub mod audit;
pub mod batch;
pub mod broker;
pub mod cache;
pub mod config;
pub mod context;
pub mod crypto;
pub mod db;
pub mod error;
pub mod grpc;
pub mod host;
pub mod identity;
pub mod ids;
pub mod jwt;
pub mod mask;
pub mod outbox;
pub mod phone;
pub mod seal;
pub mod signals;
pub mod tcp_nodelay;
pub mod telemetry;

pub use error::{ApiError, ErrorKind};
