//! The Meta sandbox: a WhatsApp Cloud API simulator that speaks the Graph
//! API's shapes (paths with a `v{N}.0` version, bearer tokens, Meta's error
//! envelope), honouring the facts in `shared/META_API.md`. It is a product
//! feature — sandbox mode for developers without a Meta app — and the stand-in
//! for Meta in every test.
//!
//! So far: the send endpoint for text, media, location, reaction, interactive
//! and mark-as-read, with 190, 100/33, 131009, 130429, 131056 and 131047;
//! `subscribed_apps` with callback verification; signed, escaped-unicode
//! webhooks for customer messages and sent/delivered/read statuses, retried
//! with backoff; the control API (customer messages, sent messages, delivery
//! attempts, clock, reset).

#![warn(missing_docs)]

pub mod callbacks;
mod control;
pub mod error;
pub mod media;
pub mod onboarding;
pub mod portfolio;
pub mod send;
pub mod switches;
pub mod templates;
pub mod webhooks;
pub mod wire;
pub mod world;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
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
    retry: webhooks::RetryPolicy,
    review_delay: std::time::Duration,
    http: reqwest::Client,
    world: Mutex<World>,
    /// Send calls being answered now, and the most there have been at once.
    sends_in_flight: std::sync::atomic::AtomicUsize,
    sends_in_flight_peak: std::sync::atomic::AtomicUsize,
}

impl Sandbox {
    /// A sandbox starting from `seed`, controlled with `control_token`.
    pub fn new(seed: Seed, control_token: impl Into<String>) -> Self {
        let world = Mutex::new(World::new(&seed));
        let inner = Inner {
            seed,
            control_token: control_token.into(),
            retry: webhooks::RetryPolicy::default(),
            review_delay: std::time::Duration::from_secs(5),
            http: reqwest::Client::new(),
            world,
            sends_in_flight: Default::default(),
            sends_in_flight_peak: Default::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Retries webhooks on `policy` (a short base and horizon make a fast
    /// clock for tests). Call before the sandbox is shared.
    pub fn with_retry_policy(mut self, policy: webhooks::RetryPolicy) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("called before the sandbox is shared")
            .retry = policy;
        self
    }

    /// The seed it starts from (ids, the default number, token and app secret).
    pub fn seed(&self) -> &Seed {
        &self.inner.seed
    }

    /// Finishes template reviews after `delay` (default 5 s of sandbox time).
    /// Call before the sandbox is shared.
    pub fn with_review_delay(mut self, delay: std::time::Duration) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("called before the sandbox is shared")
            .review_delay = delay;
        self
    }

    fn review_delay(&self) -> std::time::Duration {
        self.inner.review_delay
    }

    fn retry_policy(&self) -> webhooks::RetryPolicy {
        self.inner.retry
    }

    fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    fn control_token(&self) -> &str {
        &self.inner.control_token
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a send call until the guard drops.
    fn send_started(&self) -> SendInFlight<'_> {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.inner.sends_in_flight.fetch_add(1, Relaxed) + 1;
        self.inner.sends_in_flight_peak.fetch_max(now, Relaxed);
        SendInFlight(&self.inner.sends_in_flight)
    }

    /// The most send calls answered at once since the start or a reset.
    fn sends_in_flight_peak(&self) -> usize {
        self.inner
            .sends_in_flight_peak
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reset(&self) {
        self.inner
            .sends_in_flight_peak
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let mut world = self.world();
        // The delivery task keeps waiting on the same signal.
        let wake = world.wake.clone();
        *world = World::new(&self.inner.seed);
        world.wake = wake;
    }
}

/// A send call being answered (see [`Sandbox::send_started`]).
struct SendInFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for SendInFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Every route of the sandbox.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/{version}/{object_id}/messages", post(send::send))
        .route(
            "/{version}/{object_id}/subscribed_apps",
            get(callbacks::subscribed)
                .post(callbacks::subscribe)
                .delete(callbacks::unsubscribe),
        )
        .route(
            "/{version}/{object_id}/subscriptions",
            get(callbacks::app_subscriptions).post(callbacks::subscribe_app),
        )
        .route(
            "/{version}/{object_id}/message_templates",
            get(templates::list)
                .post(templates::create)
                .delete(templates::delete),
        )
        .route(
            "/_sandbox/templates/{id}/status",
            post(templates::set_status),
        )
        .route("/{version}/oauth/access_token", get(onboarding::exchange))
        .route("/{version}/debug_token", get(onboarding::debug_token))
        .route(
            "/{version}/{object_id}/phone_numbers",
            get(onboarding::phone_numbers),
        )
        .route(
            "/{version}/{object_id}/media",
            post(media::upload).layer(axum::extract::DefaultBodyLimit::max(101 * 1024 * 1024)),
        )
        .route(
            "/{version}/{object_id}",
            get(media::retrieve)
                .delete(media::delete)
                .post(callbacks::post_object),
        )
        .route("/_media/{id}", get(media::download))
        .route(
            "/{version}/{object_id}/register",
            post(onboarding::register),
        )
        .route("/_sandbox/signup", post(onboarding::signup))
        .route("/_sandbox/numbers", post(control::add_number))
        .route("/_sandbox/portfolio", post(portfolio::set_tier))
        .route("/_sandbox/numbers/{id}/inbound", post(control::inbound))
        .route("/_sandbox/numbers/{id}/sent", get(control::sent))
        .route(
            "/_sandbox/numbers/{id}/preferences",
            post(control::preferences),
        )
        .route("/_sandbox/deliveries", get(control::deliveries))
        .route("/_sandbox/stats", get(control::stats))
        .route("/_sandbox/switches", get(switches::get).post(switches::set))
        .route("/_sandbox/clock", post(control::clock))
        .route("/_sandbox/reset", post(control::reset))
        .with_state(sandbox)
}

/// Serves the sandbox on `listener`, delivering its webhooks, until `shutdown`.
pub async fn run(
    sandbox: Sandbox,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let deliverer = tokio::spawn(webhooks::deliver_forever(sandbox.clone()));
    // Nagle off on every accepted socket, as Meta's edge answers at once:
    // `axum::serve` leaves it on, and a small response frame would wait for
    // the caller's delayed acknowledgement.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, router(sandbox))
        .with_graceful_shutdown(shutdown)
        .await;
    deliverer.abort();
    served
}
