//! The sandbox's tests, in one binary (one link instead of one per file),
//! each module one area of Meta's behaviour; `common` starts a sandbox.

mod callbacks;
mod common;
mod limits;
mod media;
mod onboarding;
mod send;
mod switches;
mod templates;
mod webhooks;
