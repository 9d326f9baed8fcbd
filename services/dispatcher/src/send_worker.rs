//! The send queue's workers. A hand-off names one queued message; the
//! worker paces it on its number (a slot per 1/80 s, shared by every
//! worker through the cache, so no number exceeds Meta's throughput) and
//! makes the attempt when the slot comes. A message whose slot or retry is
//! later is not waited for: its time is written down when far, and a timer
//! attempts it when its slot comes (a retry is handed off again then), so a
//! flooded number never holds a worker that another tenant's message could
//! use. A hand-off or timer lost with its process is swept up.

use std::sync::Arc;
use std::time::Duration;

use aerostic_kit::batch::Batcher;
use aerostic_kit::broker::{Broker, Envelope, Handler, HandlerError, QueueSpec};
use aerostic_kit::cache::Cache;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::deliver::{Deliverer, Outcome};
use crate::entity::send;

/// The topic a queued message is handed off on.
pub const TOPIC: &str = "dispatch.send";
pub use crate::numbers::DEFAULT_RATE;
/// Hand-offs one process works on at once (each mostly waits on Meta).
pub const CONCURRENCY: u16 = 64;
/// Paced sends attempted by timers at once, per process. A slow Meta
/// (its calls take up to 20 s before they time out) would otherwise have
/// every number's slots open a call each: 100 numbers at 80/s is 160,000
/// calls in flight. A timer past the bound waits for a call to end, so the
/// sends it releases go no faster than Meta answers the ones before.
pub const TIMED_ATTEMPTS: usize = 2_048;
/// A queued message overdue this long lost its hand-off: it is handed off again.
pub const OVERDUE: Duration = Duration::from_secs(30);
/// A message `sending` this long lost its worker: it is queued again (the
/// one case that may send twice: ARCHITECTURE.md).
pub const STUCK: Duration = Duration::from_secs(300);

/// The workers' queue.
pub fn queue() -> QueueSpec {
    QueueSpec::new("dispatch.send", &[TOPIC])
}

/// The hand-off of one queued message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Due {
    /// Its id.
    pub message_id: String,
    /// Whether its pacing slot is already reserved (this is that slot).
    #[serde(default)]
    pub paced: bool,
    /// The number it goes out on, so that it is paced before its row is
    /// read (empty in hand-offs of older versions: the row says).
    #[serde(default)]
    pub number: String,
    /// The trace of the request that queued it, when it travels with
    /// others (a lone hand-off's envelope carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl Due {
    /// `message_id`, not yet paced, to go out on `number`, in the current trace.
    pub fn new(message_id: &str, number: &str) -> Self {
        Self {
            message_id: message_id.to_string(),
            paced: false,
            number: number.to_string(),
            trace: aerostic_kit::telemetry::current_trace_id(),
        }
    }
}

/// Several hand-offs in one broker message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Dues {
    sends: Vec<Due>,
}

/// What a message on the queue carries: one hand-off or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HandOff {
    Several(Dues),
    One(Due),
}

/// The envelope handing off `message_id`, to go out on `number`.
pub fn hand_off(message_id: &str, number: &str) -> Envelope {
    handing_off(&Due::new(message_id, number))
}

/// The envelope handing off every one of `dues` (one alone travels as
/// [`hand_off`] does).
pub fn hand_off_all(mut dues: Vec<Due>) -> Envelope {
    if dues.len() == 1 {
        return handing_off(&dues.pop().expect("one"));
    }
    handing_off(&Dues { sends: dues })
}

/// A hand-off travels transient: it is a hint, and the `sends` row is the
/// durable copy (a lost hand-off is handed off again by the sweep), so the
/// broker need not write it to disk before confirming it.
fn handing_off<T: serde::Serialize>(what: &T) -> Envelope {
    Envelope::json(TOPIC, what).transient()
}

/// Hand-offs of sends recorded at about the same moment travel together:
/// one broker message, one publisher confirm and one delivery for the
/// batch instead of each send (RabbitMQ's work per send was a tenth of the
/// platform's CPU: BENCHMARKS.md). The workers take its sends at once.
#[derive(Clone)]
pub struct HandOffs {
    batches: Batcher<Due, (), String>,
}

/// Most sends handed off in one broker message.
const HAND_OFF_BATCH: usize = 256;
/// How long a hand-off waits for others to travel with: the API has
/// answered already, and at a few hundred sends a second each went alone,
/// a publish, a delivery, an ack and a pacing round trip per send.
const HAND_OFF_LINGER: Duration = Duration::from_millis(5);

impl HandOffs {
    /// Hand-offs published through `broker`.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        let batches =
            Batcher::spawn_lingering(HAND_OFF_BATCH, 2, HAND_OFF_LINGER, move |dues: Vec<Due>| {
                let broker = broker.clone();
                async move {
                    let n = dues.len();
                    let published = broker
                        .publish(hand_off_all(dues))
                        .await
                        .map_err(|e| e.to_string());
                    vec![published; n]
                }
            });
        Self { batches }
    }

    /// Hands `message_id` off to go out on `number`, without waiting. If
    /// the hand-off is lost (the broker down, this process gone), the row
    /// is still queued: the sweep hands it off again once it is
    /// [`OVERDUE`], so the send is late, never lost.
    pub fn send(&self, message_id: &str, number: &str) {
        let (batches, due) = (self.batches.clone(), Due::new(message_id, number));
        tokio::spawn(async move {
            let published = batches.submit(due).await.map_err(|e| e.to_string());
            if let Err(e) = published.and_then(|answer| answer) {
                tracing::warn!(error = %e, "a send hand-off failed; the sweep will hand it off");
            }
        });
    }
}

/// Sends what is handed off.
#[derive(Clone)]
pub struct SendWorker {
    db: DatabaseConnection,
    deliverer: Deliverer,
    cache: Arc<dyn Cache>,
    broker: Arc<dyn Broker>,
    /// Permits for [`TIMED_ATTEMPTS`].
    timed: Arc<tokio::sync::Semaphore>,
}

impl SendWorker {
    /// Workers sending with `deliverer`, pacing through `cache`, handing
    /// off again through `broker`.
    pub fn new(
        db: DatabaseConnection,
        deliverer: Deliverer,
        cache: Arc<dyn Cache>,
        broker: Arc<dyn Broker>,
    ) -> Self {
        Self {
            db,
            deliverer,
            cache,
            broker,
            timed: Arc::new(tokio::sync::Semaphore::new(TIMED_ATTEMPTS)),
        }
    }

    /// At most `calls` paced sends attempted by timers at once, in place of
    /// [`TIMED_ATTEMPTS`].
    pub fn with_timed_attempts(mut self, calls: usize) -> Self {
        self.timed = Arc::new(tokio::sync::Semaphore::new(calls));
        self
    }

    /// Hands `due` off again through the broker at `at`, for any worker to
    /// take (a retry); its time is noted first ([`SendWorker::note_time`]).
    async fn later(&self, due: Due, at: DateTime<Utc>) -> Result<(), DbErr> {
        self.note_time(&due, at).await?;
        let broker = self.broker.clone();
        tokio::spawn(async move {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            if let Err(e) = broker.publish(handing_off(&due)).await {
                tracing::warn!(error = %e, "a scheduled send hand-off failed; the sweep will");
            }
        });
        Ok(())
    }

    /// Writes `at` on `due`'s row when it is more than half of [`OVERDUE`]
    /// away, so that the sweep does not count the row lost before then; a
    /// process that dies first leaves the row to the sweep. A nearer time
    /// needs no write: the row's time is already due, and the attempt comes
    /// long before the sweep would look, so a flood's near slots cost no
    /// write each.
    async fn note_time(&self, due: &Due, at: DateTime<Utc>) -> Result<(), DbErr> {
        let near = chrono::Duration::from_std(OVERDUE / 2).expect("small");
        if at - Utc::now() > near {
            send::Entity::update_many()
                .col_expr(send::Column::NextAttemptAt, Expr::value(at))
                .filter(send::Column::MessageId.eq(&due.message_id))
                .filter(send::Column::State.eq("queued"))
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }

    /// Attempts `due` (its slot reserved) at `at`, in this process, without
    /// holding the hand-off: a paced send no longer goes through the broker
    /// a second time, which under a backlog was a publish, a delivery and an
    /// ack per message (BENCHMARKS.md). The row stays the durable copy
    /// ([`SendWorker::note_time`]); an attempt that cannot be made then is
    /// handed off through the broker after all.
    async fn at_slot(&self, due: Due, at: DateTime<Utc>) -> Result<(), DbErr> {
        self.note_time(&due, at).await?;
        self.spawn_attempt(due, at);
        Ok(())
    }

    /// The task of [`SendWorker::at_slot`]. A plain function, boxed: the
    /// attempt may schedule another, and a future cannot contain its own type.
    fn spawn_attempt(&self, due: Due, at: DateTime<Utc>) {
        let worker = self.clone();
        let trace = due.trace.clone();
        let run: futures::future::BoxFuture<'static, ()> = Box::pin(
            aerostic_kit::telemetry::with_trace_id(trace, async move {
                let wait = (at - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                let Ok(_call) = worker.timed.acquire().await else {
                    return; // never closed
                };
                if let Err(e) = worker.attempt(due.clone(), None).await {
                    tracing::warn!(error = %e.message, "a paced send could not be attempted; handing it off");
                    if let Err(e) = worker.broker.publish(handing_off(&due)).await {
                        tracing::warn!(error = %e, "a paced send's hand-off failed; the sweep will");
                    }
                }
            }),
        );
        tokio::spawn(run);
    }
}

#[async_trait::async_trait]
impl Handler for SendWorker {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        let dues = match envelope.parse().map_err(HandlerError::permanent)? {
            HandOff::One(due) => return self.one(due).await,
            HandOff::Several(dues) => dues.sends,
        };
        use aerostic_kit::telemetry::with_trace_id;
        let numbered = futures::future::join_all(
            (dues.iter()).map(|due| with_trace_id(due.trace.clone(), self.numbered(due.clone()))),
        )
        .await;
        let mut answers: Vec<Result<(), HandlerError>> = vec![Ok(()); dues.len()];
        let mut ready = Vec::with_capacity(dues.len());
        for (at, numbered) in numbered.into_iter().enumerate() {
            match numbered {
                Ok(Some(due)) => ready.push((at, due)),
                Ok(None) => {}
                Err(e) => answers[at] = Err(e),
            }
        }
        // The batch's slots are reserved in one round trip, in its order.
        let waits = self.slots(ready.iter().map(|(_, due)| due)).await?;
        let attempted =
            futures::future::join_all((ready.iter().zip(waits)).map(|((_, due), wait)| {
                with_trace_id(due.trace.clone(), self.attempt(due.clone(), wait))
            }))
            .await;
        for ((at, _), answer) in ready.iter().zip(attempted) {
            answers[*at] = answer;
        }
        // A retry takes the whole batch back; its sends already done are
        // then skipped (their rows are no longer queued).
        if let Some(retry) = answers
            .iter()
            .find_map(|a| a.as_ref().err().filter(|e| e.retryable))
        {
            return Err(retry.clone());
        }
        // What no retry can fix goes back alone, to be dead-lettered by
        // itself and not with the batch's sends that went well.
        for (due, answer) in dues.into_iter().zip(answers) {
            if answer.is_err() {
                self.broker
                    .publish(handing_off(&due))
                    .await
                    .map_err(HandlerError::retry)?;
            }
        }
        Ok(())
    }
}

impl SendWorker {
    /// Paces and attempts one hand-off.
    async fn one(&self, due: Due) -> Result<(), HandlerError> {
        let Some(due) = self.numbered(due).await? else {
            return Ok(());
        };
        let wait = self.slots([&due]).await?.pop().flatten();
        self.attempt(due, wait).await
    }

    /// `due` with its number (hand-offs of older versions lack it), or
    /// `None` when its row is no longer queued.
    async fn numbered(&self, mut due: Due) -> Result<Option<Due>, HandlerError> {
        if due.number.is_empty() {
            match self.unclaimed(&due).await? {
                Some(row) => due.number = row.phone_number_id,
                None => return Ok(None),
            }
        }
        Ok(Some(due))
    }

    /// How long each of `dues` waits for its number's next slot (`None`
    /// for one already paced): one round trip to the cache for them all.
    async fn slots<'a>(
        &self,
        dues: impl IntoIterator<Item = &'a Due>,
    ) -> Result<Vec<Option<Duration>>, HandlerError> {
        let dues: Vec<&Due> = dues.into_iter().collect();
        let mut asked = Vec::with_capacity(dues.len());
        for due in dues.iter().filter(|due| !due.paced) {
            // Meta's throughput for the number (a failure to learn it is
            // the attempt's to report; pace at the default meanwhile).
            let rate = match self.deliverer.numbers().get(&due.number).await {
                Ok(number) => number.rate,
                Err(_) => DEFAULT_RATE,
            };
            let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
            asked.push((format!("send:number:{}", due.number), interval));
        }
        let mut waits = (self.cache.reserve_slots(&asked).await)
            .map_err(HandlerError::retry)?
            .into_iter();
        Ok(dues
            .iter()
            .map(|due| if due.paced { None } else { waits.next() })
            .collect())
    }

    /// Attempts `due` now, or hands it off again for its slot `wait` away.
    async fn attempt(&self, due: Due, wait: Option<Duration>) -> Result<(), HandlerError> {
        if let Some(wait) = wait.filter(|wait| *wait > Duration::from_millis(5)) {
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            let paced = Due { paced: true, ..due };
            return self.at_slot(paced, at).await.map_err(HandlerError::retry);
        }
        let outcome = match self
            .deliverer
            .attempt(&due.message_id)
            .await
            .map_err(HandlerError::retry)?
        {
            Outcome::NotMine => match self.unclaimed(&due).await? {
                // Not due yet (a hand-off ahead of its retry time).
                Some(row) => {
                    let again = Due {
                        paced: false,
                        ..due
                    };
                    return self
                        .later(again, row.next_attempt_at)
                        .await
                        .map_err(HandlerError::retry);
                }
                None => return Ok(()),
            },
            outcome => outcome,
        };
        match outcome {
            Outcome::Again { at } => {
                let again = Due {
                    paced: false,
                    ..due
                };
                self.later(again, at).await.map_err(HandlerError::retry)
            }
            _ => Ok(()),
        }
    }

    /// `due`'s row if it is still queued (`None` when it is done or another
    /// worker has it); a hand-off of a message we never recorded is refused.
    async fn unclaimed(&self, due: &Due) -> Result<Option<send::Model>, HandlerError> {
        let row = send::Entity::find_by_id(due.message_id.clone())
            .one(&self.db)
            .await
            .map_err(HandlerError::retry)?
            .ok_or_else(|| {
                HandlerError::permanent(format!("no queued message {}", due.message_id))
            })?;
        Ok((row.state == "queued").then_some(row))
    }
}

/// Hands off again what lost its hand-off, and queues again what lost its
/// worker; how many of each.
pub async fn sweep(db: &DatabaseConnection, broker: &dyn Broker) -> Result<(usize, u64), DbErr> {
    let now = Utc::now();
    let stuck = send::Entity::update_many()
        .col_expr(send::Column::State, Expr::value("queued"))
        .col_expr(send::Column::NextAttemptAt, Expr::value(now))
        .filter(send::Column::State.eq("sending"))
        .filter(send::Column::UpdatedAt.lt(now - chrono::Duration::from_std(STUCK).expect("small")))
        .exec(db)
        .await?
        .rows_affected;
    let overdue: Vec<(String, String)> = send::Entity::find()
        .select_only()
        .column(send::Column::MessageId)
        .column(send::Column::PhoneNumberId)
        .filter(send::Column::State.eq("queued"))
        .filter(
            send::Column::NextAttemptAt
                .lt(now - chrono::Duration::from_std(OVERDUE).expect("small")),
        )
        .order_by_asc(send::Column::NextAttemptAt)
        .limit(1_000)
        .into_tuple()
        .all(db)
        .await?;
    if !overdue.is_empty() {
        // Due now, and not overdue again for another OVERDUE.
        send::Entity::update_many()
            .col_expr(send::Column::NextAttemptAt, Expr::value(now))
            .filter(send::Column::MessageId.is_in(overdue.iter().map(|(id, _)| id.clone())))
            .exec(db)
            .await?;
    }
    for chunk in overdue.chunks(HAND_OFF_BATCH) {
        let dues = chunk
            .iter()
            .map(|(id, number)| Due::new(id, number))
            .collect();
        if let Err(e) = broker.publish(hand_off_all(dues)).await {
            tracing::warn!(error = %e, "handing sends off again failed; next sweep");
        }
    }
    Ok((overdue.len(), stuck))
}

/// Sweeps every few seconds until aborted: lost hand-offs and workers,
/// statuses that raced the recording of their wamid (`statuses::apply_known`),
/// and (each minute) held sends of numbers reconnected since.
pub fn spawn_sweep(
    db: DatabaseConnection,
    broker: Arc<dyn Broker>,
    outbox: aerostic_kit::outbox::Outbox,
    numbers: crate::numbers::Numbers,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for round in 0u64.. {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // Held numbers are asked of Meta once a minute.
            if round % 12 == 11 {
                match crate::deliver::release_held(&db, &outbox, &numbers).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(sends = n, "held sends of reconnected numbers queued"),
                    Err(e) => tracing::warn!(error = %e, "releasing held sends failed"),
                }
            }
            match crate::statuses::apply_known(&db, &outbox).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(statuses = n, "statuses that raced their wamid applied"),
                Err(e) => tracing::warn!(error = %e, "applying known statuses failed"),
            }
            match sweep(&db, broker.as_ref()).await {
                Ok((0, 0)) => {}
                Ok((overdue, stuck)) => {
                    tracing::info!(overdue, stuck, "sends handed off again")
                }
                Err(e) => tracing::warn!(error = %e, "the send sweep failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_offs_travel_transient_one_or_many() {
        assert!(!hand_off("m1", "n1").persistent);
        let many = hand_off_all(vec![Due::new("m1", "n1"), Due::new("m2", "n1")]);
        assert!(!many.persistent);
        assert!(!hand_off_all(vec![Due::new("m1", "n1")]).persistent);
    }

    fn read(envelope: &Envelope) -> Vec<(String, String)> {
        match envelope.parse::<HandOff>().expect("a hand-off") {
            HandOff::One(due) => vec![(due.message_id, due.number)],
            HandOff::Several(dues) => dues
                .sends
                .into_iter()
                .map(|d| (d.message_id, d.number))
                .collect(),
        }
    }

    #[test]
    fn a_lone_hand_off_travels_in_the_shape_older_workers_read() {
        let envelope = hand_off_all(vec![Due::new("m1", "n1")]);
        let due: Due = envelope.parse().expect("the one-send shape");
        assert_eq!((due.message_id.as_str(), due.number.as_str()), ("m1", "n1"));
        assert_eq!(read(&envelope), vec![("m1".into(), "n1".into())]);
    }

    #[test]
    fn several_hand_offs_travel_together_and_are_read_back_in_order() {
        let envelope = hand_off_all(vec![Due::new("m1", "n1"), Due::new("m2", "n2")]);
        assert_eq!(
            read(&envelope),
            vec![("m1".into(), "n1".into()), ("m2".into(), "n2".into())]
        );
    }

    #[test]
    fn a_hand_off_of_an_older_version_without_its_number_is_still_read() {
        let envelope = Envelope::new(TOPIC, br#"{"message_id":"m1"}"#.to_vec());
        assert_eq!(read(&envelope), vec![("m1".into(), String::new())]);
    }
}
