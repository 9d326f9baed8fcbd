//! The Meta sandbox: a WhatsApp Cloud API simulator that speaks the Graph
//! API's shapes (paths with a `v{N}.0` version, bearer tokens, Meta's error
//! envelope), honouring the facts in `shared/META_API.md`. It is a product
//! feature — sandbox mode for developers without a Meta app — and the stand-in
//! for Meta in every test.
//!
//! So far: the send endpoint for text, media, location, reaction, interactive
//! and mark-as-read, with 190, 100/33, 131009, 130429, 131056 and 131047; the
//! control API (customer messages, sent messages, clock, reset).

#![warn(missing_docs)]

mod control;
pub mod error;
pub mod send;
pub mod world;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use world::Seed;
use world::World;

/// A running sandbox's state, shared by its handlers.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    seed: Seed,
    control_token: String,
    world: Mutex<World>,
}

impl Sandbox {
    /// A sandbox starting from `seed`, controlled with `control_token`.
    pub fn new(seed: Seed, control_token: impl Into<String>) -> Self {
        let world = Mutex::new(World::new(&seed));
        Self {
            inner: Arc::new(Inner {
                seed,
                control_token: control_token.into(),
                world,
            }),
        }
    }

    /// The seed it starts from (ids, the default number and token).
    pub fn seed(&self) -> &Seed {
        &self.inner.seed
    }

    fn control_token(&self) -> &str {
        &self.inner.control_token
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reset(&self) {
        *self.world() = World::new(&self.inner.seed);
    }
}

/// Every route of the sandbox.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/{version}/{object_id}/messages", post(send::send))
        .route("/_sandbox/numbers/{id}/inbound", post(control::inbound))
        .route("/_sandbox/numbers/{id}/sent", get(control::sent))
        .route("/_sandbox/clock", post(control::clock))
        .route("/_sandbox/reset", post(control::reset))
        .with_state(sandbox)
}

/// Serves the sandbox on `listener` until `shutdown` resolves.
pub async fn run(
    sandbox: Sandbox,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sandbox))
        .with_graceful_shutdown(shutdown)
        .await
}
