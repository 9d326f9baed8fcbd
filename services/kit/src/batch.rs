//! Group commit: callers hand in one item each and wait for its answer;
//! one task takes every item waiting (up to a batch's size) and runs them
//! together, a few batches at a time. Under load a database write then costs
//! one round trip and one commit per batch instead of per item; when idle a
//! lone item goes at once, waiting for nothing. A lingering batcher
//! ([`Batcher::spawn_lingering`]) also waits a little for company while
//! items come often: below flat out, batches otherwise form only by chance.
//! It mostly stops lingering while lingering finds no company (`Payoff`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

/// An item with the way back to its caller.
type Job<I, O, E> = (I, oneshot::Sender<Result<O, E>>);

/// The batcher of items `I`, answered `O` or `E` each.
pub struct Batcher<I, O, E> {
    jobs: mpsc::Sender<Job<I, O, E>>,
}

impl<I, O, E> Clone for Batcher<I, O, E> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

/// The batcher's task is gone (its runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batcher has stopped")]
pub struct Stopped;

impl<I, O, E> Batcher<I, O, E>
where
    I: Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// Starts the task: `run` gets up to `max` items and answers each, in
    /// order (one answer per item); at most `lanes` batches run at once.
    pub fn spawn<F, Fut>(max: usize, lanes: usize, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        Self::spawn_lingering(max, lanes, Duration::ZERO, run)
    }

    /// [`Batcher::spawn`], but while items come often (one per four
    /// `linger`s or more), a batch short of `max` waits up to `linger`
    /// after its first item for more: up to that long more for the items'
    /// callers, fewer batches for the machine. A lone item after a quiet
    /// spell still goes at once, as company is unlikely then, and while
    /// lingers keep finding nobody only one batch in eight lingers.
    pub fn spawn_lingering<F, Fut>(max: usize, lanes: usize, linger: Duration, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        let (jobs, mut waiting) = mpsc::channel::<Job<I, O, E>>(max * lanes * 4);
        let run = Arc::new(run);
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        tokio::spawn(async move {
            let mut arrivals = Arrivals::default();
            let mut payoff = Payoff::default();
            while let Some(first) = waiting.recv().await {
                arrivals.saw(Instant::now());
                let mut wait = arrivals.linger(linger);
                if !wait.is_zero() && !payoff.worth_trying() {
                    wait = Duration::ZERO;
                }
                let until = Instant::now() + wait;
                // Whether the queue was found empty, then an item came.
                let (mut waited, mut gained) = (false, false);
                // A lane first: items keep gathering while every lane is busy.
                let Ok(lane) = lanes.clone().acquire_owned().await else {
                    break;
                };
                let mut batch = vec![first];
                while batch.len() < max {
                    let next = match waiting.try_recv() {
                        Ok(job) => Some(job),
                        Err(_) if Instant::now() >= until => None,
                        Err(_) => {
                            waited = true;
                            tokio::time::timeout_at(until, waiting.recv())
                                .await
                                .ok()
                                .flatten()
                        }
                    };
                    let Some(job) = next else { break };
                    arrivals.saw(Instant::now());
                    gained |= waited;
                    batch.push(job);
                }
                if !wait.is_zero() {
                    payoff.lingered(gained);
                }
                let run = run.clone();
                tokio::spawn(async move {
                    let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                    let answers = run(items).await;
                    debug_assert_eq!(answers.len(), replies.len(), "one answer per item");
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(answer);
                    }
                    drop(lane);
                });
            }
        });
        Self { jobs }
    }

    /// Runs `item` in the next batch; its answer (`Err(Stopped)` only when
    /// the batcher is gone, or its batch's task panicked).
    pub async fn submit(&self, item: I) -> Result<Result<O, E>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((item, reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

/// How often items come: a moving average of the gaps between them (a
/// quarter weight to the newest), so that a batch lingers only when company
/// may well come within its linger.
#[derive(Default)]
struct Arrivals {
    last: Option<Instant>,
    gap: Option<Duration>,
}

impl Arrivals {
    fn saw(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let newest = now - last;
            self.gap = Some(self.gap.map_or(newest, |gap| gap - gap / 4 + newest / 4));
        }
        self.last = Some(now);
    }

    /// How long the batch starting now waits: `linger` while items come
    /// at least once per four lingers (at random arrivals, a chance of one
    /// in five or better that another comes within it), else nothing.
    fn linger(&self, linger: Duration) -> Duration {
        match self.gap {
            Some(gap) if gap < linger * 4 => linger,
            _ => Duration::ZERO,
        }
    }
}

/// Lingers in a row that found no company before lingering is mostly
/// skipped ([`Payoff`]).
const FRUITLESS: u32 = 4;
/// While lingering is skipped, one batch in this many still lingers, to
/// notice when company comes again.
const PROBE: u32 = 8;

/// Whether lingering has been finding company. Items may come often and
/// still never while a batch waits: one caller that sends its next item only
/// once the last is answered (a single busy wallet's writer) made every
/// batch wait its whole linger for nobody, a third fewer batches a second.
/// After [`FRUITLESS`] lingers in a row gained nothing, only one batch in
/// [`PROBE`] lingers, until one gains an item again.
#[derive(Default)]
struct Payoff {
    fruitless: u32,
    skipped: u32,
}

impl Payoff {
    /// Whether the batch starting now should linger.
    fn worth_trying(&mut self) -> bool {
        if self.fruitless < FRUITLESS {
            return true;
        }
        self.skipped += 1;
        if self.skipped >= PROBE {
            self.skipped = 0;
            return true;
        }
        false
    }

    /// A batch lingered and `gained` an item by it, or not.
    fn lingered(&mut self, gained: bool) {
        if gained {
            *self = Self::default();
        } else {
            self.fruitless = self.fruitless.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn items_waiting_together_run_as_one_batch_and_each_gets_its_own_answer() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let doubler = Batcher::spawn(8, 1, move |items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(items.len());
                // Slow enough that the others queue behind the first batch.
                tokio::time::sleep(Duration::from_millis(50)).await;
                items
                    .into_iter()
                    .map(|i| if i == 13 { Err("unlucky") } else { Ok(i * 2) })
                    .collect::<Vec<Result<u32, &str>>>()
            }
        });
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let doubler = doubler.clone();
                tokio::spawn(async move { (i, doubler.submit(i).await.unwrap()) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.unwrap();
            if i == 13 {
                assert_eq!(answer, Err("unlucky"));
            } else {
                assert_eq!(answer, Ok(i * 2));
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20, "every item ran once");
        assert!(
            sizes.iter().all(|&n| n <= 8),
            "no batch above its size: {sizes:?}"
        );
        assert!(
            sizes.len() < 20,
            "items that waited ran together: {sizes:?}"
        );
    }

    /// Batch sizes of a batcher lingering `linger`, items `apart`.
    async fn sizes_with(linger: Duration, apart: Duration) -> Vec<usize> {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let echo = Batcher::spawn_lingering(8, 1, linger, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move { items.into_iter().map(Ok).collect::<Vec<Result<_, ()>>>() }
        });
        let mut calls = Vec::new();
        for i in 0..4 {
            let echo = echo.clone();
            calls.push(tokio::spawn(async move { echo.submit(i).await }));
            tokio::time::sleep(apart).await;
        }
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(Ok(i as u32)));
        }
        sizes.lock().unwrap().clone()
    }

    // The clock is tokio's, paused: it moves only when every task waits.
    #[tokio::test(start_paused = true)]
    async fn a_lingering_batch_waits_for_items_that_come_soon_after_its_first() {
        let (ms2, ms10) = (Duration::from_millis(2), Duration::from_millis(10));
        assert_eq!(
            sizes_with(ms10, ms2).await,
            vec![1, 3],
            "the first went alone (nothing was known of the pace), then the rest waited together"
        );
        assert_eq!(
            sizes_with(Duration::ZERO, ms2).await,
            vec![1, 1, 1, 1],
            "without lingering each item went alone"
        );
        assert_eq!(
            sizes_with(ms10, Duration::from_millis(50)).await,
            vec![1, 1, 1, 1],
            "items over four lingers apart did not wait for each other"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_after_a_quiet_spell_goes_at_once_even_when_lingering() {
        let echo =
            Batcher::spawn_lingering(8, 1, Duration::from_secs(1), |items: Vec<u32>| async move {
                items.into_iter().map(Ok).collect::<Vec<Result<_, ()>>>()
            });
        for i in 0..3 {
            let started = Instant::now();
            assert_eq!(echo.submit(i).await, Ok(Ok(i)));
            assert_eq!(
                started.elapsed(),
                Duration::ZERO,
                "item {i} waited for nobody"
            );
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waiting_on_each_answer_stops_lingering_for_company_that_never_comes() {
        let linger = Duration::from_millis(10);
        let echo = Batcher::spawn_lingering(8, 1, linger, |items: Vec<u32>| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            items.into_iter().map(Ok).collect::<Vec<Result<_, ()>>>()
        });
        // One caller, each item sent once the last is answered: items come
        // every 1 ms or so, yet never while a batch waits.
        let mut lingered = Vec::new();
        for i in 0..40 {
            let started = Instant::now();
            assert_eq!(echo.submit(i).await, Ok(Ok(i)));
            if started.elapsed() >= linger {
                lingered.push(i);
            }
        }
        assert_eq!(
            &lingered[..FRUITLESS as usize],
            &[1, 2, 3, 4],
            "items come often, so it tried"
        );
        assert!(
            lingered.len() <= FRUITLESS as usize + 40 / PROBE as usize,
            "then only one batch in {PROBE} lingered: {lingered:?}"
        );
    }

    #[tokio::test]
    async fn a_lone_item_runs_at_once() {
        let echo = Batcher::spawn(64, 2, |items: Vec<&'static str>| async move {
            items.into_iter().map(Ok).collect::<Vec<Result<_, ()>>>()
        });
        let answer = tokio::time::timeout(Duration::from_secs(5), echo.submit("hi"))
            .await
            .expect("not held back waiting for a batch to fill");
        assert_eq!(answer, Ok(Ok("hi")));
    }
}
