//! The in-process broker of `aerostic dev`: same contract, no durability across
//! restarts (the whole platform lives in the one process anyway).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::{
    Broker, BrokerError, Envelope, Handler, QueueSpec, RetryPolicy, Settled, Subscription, process,
};

#[derive(Default)]
struct Queue {
    items: Mutex<VecDeque<Envelope>>,
    ready: Notify,
}

impl Queue {
    fn push_back(&self, env: Envelope) {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(env);
        self.ready.notify_one();
    }

    fn push_front(&self, env: Envelope) {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_front(env);
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<Envelope> {
        self.items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    fn len(&self) -> u64 {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).len() as u64
    }
}

#[derive(Default)]
struct Topology {
    queues: HashMap<String, Arc<Queue>>,
    bindings: HashMap<String, Vec<String>>,
}

/// A [`Broker`] in this process's memory.
#[derive(Clone, Default)]
pub struct MemoryBroker {
    topology: Arc<Mutex<Topology>>,
}

impl MemoryBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    fn queue(&self, name: &str) -> Result<Arc<Queue>, BrokerError> {
        let topology = self.topology.lock().unwrap_or_else(|p| p.into_inner());
        topology
            .queues
            .get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownQueue(name.to_string()))
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn declare(&self, spec: &QueueSpec) -> Result<(), BrokerError> {
        let mut topology = self.topology.lock().unwrap_or_else(|p| p.into_inner());
        topology.queues.entry(spec.name.clone()).or_default();
        topology
            .queues
            .entry(super::dead_letter_queue(&spec.name))
            .or_default();
        for topic in &spec.topics {
            let bound = topology.bindings.entry(topic.clone()).or_default();
            if !bound.contains(&spec.name) {
                bound.push(spec.name.clone());
            }
        }
        Ok(())
    }

    async fn publish(&self, envelope: Envelope) -> Result<(), BrokerError> {
        let targets: Vec<Arc<Queue>> = {
            let topology = self.topology.lock().unwrap_or_else(|p| p.into_inner());
            let names = topology
                .bindings
                .get(&envelope.topic)
                .cloned()
                .unwrap_or_default();
            names
                .iter()
                .filter_map(|n| topology.queues.get(n).cloned())
                .collect()
        };
        if targets.is_empty() {
            return Err(BrokerError::Unroutable(envelope.topic));
        }
        for queue in targets {
            queue.push_back(envelope.clone());
        }
        Ok(())
    }

    async fn send_to_queue(&self, queue: &str, envelope: Envelope) -> Result<(), BrokerError> {
        self.queue(queue)?.push_back(envelope);
        Ok(())
    }

    async fn consume(
        &self,
        queue: &str,
        handler: Arc<dyn Handler>,
        policy: RetryPolicy,
    ) -> Result<Subscription, BrokerError> {
        let source = self.queue(queue)?;
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let broker = self.clone();
        let name = queue.to_string();
        let task = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(usize::from(policy.concurrency.max(1))));
            let mut in_hand = JoinSet::new();
            loop {
                let permit = tokio::select! {
                    _ = stop_rx.changed() => break,
                    permit = slots.clone().acquire_owned() => permit.expect("never closed"),
                };
                let envelope = loop {
                    if let Some(env) = source.pop() {
                        break Some(env);
                    }
                    tokio::select! {
                        _ = stop_rx.changed() => break None,
                        _ = source.ready.notified() => {}
                    }
                };
                let Some(envelope) = envelope else { break };
                // Notify wakes one waiter; pass the wake on if more is queued.
                if source.len() > 0 {
                    source.ready.notify_one();
                }
                let (broker, handler, name, source) = (
                    broker.clone(),
                    handler.clone(),
                    name.clone(),
                    source.clone(),
                );
                in_hand.spawn(async move {
                    let _permit = permit;
                    let kept = envelope.clone();
                    match process(&broker, &name, envelope, handler.as_ref(), policy).await {
                        Ok(Settled::Done | Settled::Retried | Settled::DeadLettered) => {}
                        // Not settled: like an unacked delivery, it goes back.
                        Err(_) => source.push_front(kept),
                    }
                });
                while in_hand.try_join_next().is_some() {}
            }
            while in_hand.join_next().await.is_some() {}
        });
        Ok(Subscription::new(stop_tx, task))
    }

    async fn queue_len(&self, queue: &str) -> Result<u64, BrokerError> {
        Ok(self.queue(queue)?.len())
    }

    async fn replay_dead_letters(&self, queue: &str) -> Result<u64, BrokerError> {
        let target = self.queue(queue)?;
        let dead = self.queue(&super::dead_letter_queue(queue))?;
        let mut moved = 0;
        while let Some(env) = dead.pop() {
            target.push_back(env.replayed());
            moved += 1;
        }
        Ok(moved)
    }

    async fn ping(&self) -> Result<(), BrokerError> {
        Ok(())
    }
}
