//! Billing's reservations, coalesced per caller: a send asks for its price to
//! be held; while a call for the same caller is in flight, the sends that
//! come meanwhile wait and go together in one `ReserveMany`. Under load a
//! gRPC call (a stream, headers, a task on both sides, a seal opened) then
//! serves many sends; when idle a lone send goes at once. Callers never wait
//! for another caller's call: each has its own calls in flight.

use std::collections::HashMap;

use aerostic_kit::ApiError;
use aerostic_kit::grpc::TracedChannel;
use aerostic_kit::identity::{Identity, IdentitySeal};
use aerostic_proto::v1 as pb;
use aerostic_proto::v1::billing_client::BillingClient;
use tokio::sync::{mpsc, oneshot};

/// Calls in flight per caller. Two, as billing's commits per process: one
/// call is being answered while the next gathers.
const IN_FLIGHT: usize = 2;
/// Most reservations in one call (billing's `RESERVE_MANY_MAX`).
const MAX: usize = 256;

type Answer = Result<pb::MessageCharge, ApiError>;

/// One send's reservation and the way back to it.
struct Ask {
    reservation: pb::ReserveRequest,
    reply: oneshot::Sender<Answer>,
    /// The send's trace: a call goes in its first send's (a lone send's
    /// reservation stays in its own trace on billing's side too).
    trace: Option<String>,
}

/// What the coordinator hears: a new reservation, or a call that ended.
enum Event {
    Ask(Identity, Ask),
    Done(Identity),
}

/// Reservations for the send path, in as few calls as the load allows.
#[derive(Clone)]
pub struct Reservations {
    events: mpsc::UnboundedSender<Event>,
}

/// A caller's calls in flight and the reservations waiting for a turn.
#[derive(Default)]
struct Caller {
    in_flight: usize,
    waiting: Vec<Ask>,
}

impl Reservations {
    /// Starts the coordinator over `billing`; calls carry the caller sealed.
    pub fn spawn(billing: BillingClient<TracedChannel>, seal: IdentitySeal) -> Self {
        let (events, mut heard) = mpsc::unbounded_channel::<Event>();
        let done = events.downgrade();
        tokio::spawn(async move {
            let mut callers: HashMap<Identity, Caller> = HashMap::new();
            while let Some(event) = heard.recv().await {
                let (identity, ask) = match event {
                    Event::Ask(identity, ask) => (identity, Some(ask)),
                    Event::Done(identity) => (identity, None),
                };
                let caller = callers.entry(identity.clone()).or_default();
                match ask {
                    Some(ask) => caller.waiting.push(ask),
                    None => caller.in_flight -= 1,
                }
                if caller.in_flight < IN_FLIGHT && !caller.waiting.is_empty() {
                    let take = caller.waiting.len().min(MAX);
                    let batch: Vec<Ask> = caller.waiting.drain(..take).collect();
                    caller.in_flight += 1;
                    let (billing, seal, done) = (billing.clone(), seal.clone(), done.clone());
                    let trace = batch[0].trace.clone();
                    tokio::spawn(async move {
                        // Told even if the call panics: a caller whose
                        // turn never came back would wait forever.
                        let _turn = Turn(done, Some(identity.clone()));
                        let call = call(billing, &seal, &identity, batch);
                        aerostic_kit::telemetry::with_trace_id(trace, call).await;
                    });
                } else if caller.in_flight == 0 && caller.waiting.is_empty() {
                    // Nothing left of this caller: its entry goes.
                    callers.remove(&identity);
                }
            }
        });
        Self { events }
    }

    /// Holds the price of `message_id` for `caller`: billing's answer.
    pub async fn reserve(
        &self,
        caller: &Identity,
        message_id: &str,
        priced: pb::PricedMessage,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let reservation = pb::ReserveRequest {
            message_id: message_id.to_string(),
            message: Some(priced),
        };
        self.events
            .send(Event::Ask(
                caller.clone(),
                Ask {
                    reservation,
                    reply,
                    trace: aerostic_kit::telemetry::current_trace_id(),
                },
            ))
            .map_err(|_| ApiError::unavailable("billing"))?;
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::unavailable("billing")))
    }
}

/// A call in flight: when it ends, however it ends, its caller's turn is
/// given back to the coordinator.
struct Turn(mpsc::WeakUnboundedSender<Event>, Option<Identity>);

impl Drop for Turn {
    fn drop(&mut self) {
        if let (Some(events), Some(identity)) = (self.0.upgrade(), self.1.take()) {
            let _ = events.send(Event::Done(identity));
        }
    }
}

/// One `ReserveMany` for `batch`; every ask gets its own answer.
async fn call(
    mut billing: BillingClient<TracedChannel>,
    seal: &IdentitySeal,
    identity: &Identity,
    batch: Vec<Ask>,
) {
    let (reservations, replies): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|a| (a.reservation, a.reply)).unzip();
    let ids: Vec<String> = reservations.iter().map(|r| r.message_id.clone()).collect();
    let mut request = tonic::Request::new(pb::ReserveManyRequest {
        reservations: reservations.clone(),
    });
    seal.attach(&mut request, identity);
    let outcomes = match billing.reserve_many(request).await {
        Ok(answer) => answer.into_inner().outcomes,
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            // A billing older than this dispatcher (a rolling update):
            // one Reserve each, as before ReserveMany.
            for (reservation, reply) in reservations.into_iter().zip(replies) {
                let mut request = tonic::Request::new(reservation);
                seal.attach(&mut request, identity);
                let answer = billing.reserve(request).await;
                let _ = reply.send(answer.map(|a| a.into_inner()).map_err(ApiError::from));
            }
            return;
        }
        Err(status) => {
            // The whole call failed: every send in it gets that error.
            let error = ApiError::from(status);
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
            return;
        }
    };
    let mut by_id: HashMap<String, pb::reserve_outcome::Outcome> = outcomes
        .into_iter()
        .filter_map(|o| Some((o.message_id, o.outcome?)))
        .collect();
    for (id, reply) in ids.into_iter().zip(replies) {
        let answer = match by_id.remove(&id) {
            Some(pb::reserve_outcome::Outcome::Charge(charge)) => Ok(charge),
            Some(pb::reserve_outcome::Outcome::Refusal(refusal)) => Err(ApiError::from(refusal)),
            None => Err(ApiError::internal(format!(
                "billing's ReserveMany answered nothing for {id}"
            ))),
        };
        let _ = reply.send(answer);
    }
}
