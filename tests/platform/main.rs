//! The platform's integration tests, in one binary: each module is one area,
//! all share `common` (`spawn_app()` against the machine's real services).
//! One binary rather than one per file keeps a cold debug build to one link
//! of the whole platform instead of twenty (CI's disk and time).

mod admin;
mod admin_billing;
mod anomaly;
mod api_keys;
mod audit;
mod auth;
mod billing;
mod common;
mod dev;
mod idempotency;
mod inbound;
mod inbound_media;
mod inbound_restart;
mod inbound_statuses;
mod inbound_types;
mod inbox;
mod matrix;
mod media_stores;
mod mesh;
mod migrations;
mod onboarding;
mod openapi;
mod outbound_batch;
mod outbound_dead_letters;
mod outbound_deliver;
mod outbound_graph;
mod outbound_media;
mod outbound_record;
mod outbound_restart;
mod outbound_send;
mod outbound_throughput;
mod passwords;
mod sessions;
mod team;
mod usage;
mod wallet_alert;
