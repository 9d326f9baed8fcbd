//! Acknowledgements first: how many hand-offs a dispatcher process applies
//! at once depends on how fast it is acknowledging webhooks. Both halves
//! share the same CPUs (and PostgreSQL); Meta waits on the acknowledgement,
//! nobody waits on the applying but the inbox, so while webhooks pour in the
//! process applies narrowly, and once they slow it applies wide to drain
//! what piled up. Applying never stops entirely, so a backlog always drains.
//! The widths come from `bench-inbound` (BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hand-offs applied at once while acknowledgements are quiet.
pub const WIDE: u32 = 8;
/// How often the acknowledgement rate is sampled.
const SAMPLE: Duration = Duration::from_millis(250);

/// The width for an acknowledgement rate (per second): at a sustained
/// 1,000/s two keep applying ahead of arrivals; flat out, one leaves the
/// CPUs to the acknowledgements.
pub fn width_for(acks_per_second: u64) -> u32 {
    match acks_per_second {
        0..400 => WIDE,
        400..2_000 => 2,
        _ => 1,
    }
}

/// Shared by the intake, which counts what it acknowledges, and the
/// workers, which take a permit to apply.
#[derive(Clone)]
pub struct ApplyGate {
    permits: Arc<Semaphore>,
    acks: Arc<AtomicU64>,
}

impl Default for ApplyGate {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(WIDE as usize)),
            acks: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl ApplyGate {
    /// Counts `n` acknowledged webhooks.
    pub fn acknowledged(&self, n: usize) {
        self.acks.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Waits for a turn to apply; the turn lasts as long as the permit.
    pub async fn turn(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the gate's semaphore is never closed")
    }

    /// Samples the acknowledgement rate and narrows or widens the gate by
    /// holding back permits, until aborted.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let gate = self.clone();
        tokio::spawn(async move {
            let mut held: Vec<OwnedSemaphorePermit> = Vec::new();
            let per_second = 1_000 / SAMPLE.as_millis() as u64;
            loop {
                tokio::time::sleep(SAMPLE).await;
                let rate = gate.acks.swap(0, Ordering::Relaxed) * per_second;
                let target_held = (WIDE - width_for(rate)) as usize;
                while held.len() > target_held {
                    held.pop();
                }
                while held.len() < target_held {
                    // Waits for a running apply to finish: narrowing never
                    // interrupts one.
                    held.push(gate.turn().await);
                }
                metrics::gauge!("aerostic_webhook_apply_width")
                    .set((WIDE as usize - held.len()) as f64);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_width_narrows_as_acknowledgements_rise_but_never_to_zero() {
        assert_eq!(width_for(0), WIDE);
        assert_eq!(width_for(399), WIDE);
        assert_eq!(width_for(1_000), 2);
        assert_eq!(width_for(50_000), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_acknowledgements_narrows_the_gate_and_quiet_widens_it() {
        let gate = ApplyGate::default();
        let sampler = gate.spawn();
        gate.acknowledged(1_000); // 4,000/s over one sample
        tokio::time::sleep(SAMPLE + Duration::from_millis(10)).await;
        assert_eq!(gate.permits.available_permits(), 1);
        let turn = gate.turn().await;
        assert_eq!(gate.permits.available_permits(), 0);
        drop(turn);
        tokio::time::sleep(SAMPLE).await;
        assert_eq!(gate.permits.available_permits(), WIDE as usize);
        sampler.abort();
    }
}
