//! Group commit: callers hand in one item each and wait for its answer;
//! one task takes every item waiting (up to a batch's size) and runs them
//! together, a few batches at a time. Under load a database write then costs
//! one round trip and one commit per batch instead of per item; when idle a
//! lone item goes at once, waiting for nothing.

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

    /// [`Batcher::spawn`], but a batch short of `max` waits up to `linger`
    /// after its first item for more: a batch more for the items' callers
    /// to wait, fewer batches for the machine. For work whose callers are
    /// not answering anyone meanwhile.
    pub fn spawn_lingering<F, Fut>(max: usize, lanes: usize, linger: Duration, run: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<O, E>>> + Send + 'static,
    {
        let (jobs, mut waiting) = mpsc::channel::<Job<I, O, E>>(max * lanes * 4);
        let run = Arc::new(run);
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                let until = Instant::now() + linger;
                // A lane first: items keep gathering while every lane is busy.
                let Ok(lane) = lanes.clone().acquire_owned().await else {
                    break;
                };
                let mut batch = vec![first];
                while batch.len() < max {
                    match waiting.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) if Instant::now() >= until => break,
                        Err(_) => match tokio::time::timeout_at(until, waiting.recv()).await {
                            Ok(Some(job)) => batch.push(job),
                            Ok(None) | Err(_) => break,
                        },
                    }
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

    /// Batch sizes of a batcher lingering `linger`, items 2 ms apart.
    async fn sizes_with(linger: Duration) -> Vec<usize> {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let echo = Batcher::spawn_lingering(8, 1, linger, move |items: Vec<u32>| {
            seen.lock().unwrap().push(items.len());
            async move { items.into_iter().map(Ok).collect::<Vec<Result<_, ()>>>() }
        });
        let mut calls = Vec::new();
        for i in 0..3 {
            let echo = echo.clone();
            calls.push(tokio::spawn(async move { echo.submit(i).await }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(Ok(i as u32)));
        }
        sizes.lock().unwrap().clone()
    }

    // The clock is tokio's, paused: it moves only when every task waits.
    #[tokio::test(start_paused = true)]
    async fn a_lingering_batch_waits_for_items_that_come_soon_after_its_first() {
        assert_eq!(sizes_with(Duration::from_millis(10)).await, vec![3]);
        assert_eq!(
            sizes_with(Duration::ZERO).await,
            vec![1, 1, 1],
            "without lingering each item went alone"
        );
        assert_eq!(
            sizes_with(Duration::from_millis(3)).await,
            vec![2, 1],
            "the third came after the first batch's wait"
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
