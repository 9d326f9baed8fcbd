//! One writer task per active wallet. Operations queue to it; it takes all
//! that are waiting (up to [`MAX_BATCH`]), applies them in memory in order,
//! hands their transactions to be appended, and answers each caller after
//! the commit. A hot wallet therefore costs at most one commit per batch, not
//! one locked row update per message, and nothing else waits on it. On
//! PostgreSQL the process's wallets share their commits: every wallet's batch
//! waiting goes in one statement (crate::shared_commit), at most
//! [`COMMITS_IN_FLIGHT`] at once; ten wallets at 100 messages a second each
//! otherwise committed nearly once per message. Correctness does not rest on
//! there being one writer: the ledger's unique `(tenant, seq)` and
//! `(tenant, kind, reference)` keys make any other writer (another replica)
//! collide. A failed shared statement is tried again wallet by wallet, so
//! only a colliding wallet's writer sees the error; it reloads the wallet and
//! replays the batch one operation at a time, each alone in its statement.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aerostic_kit::batch::Batcher;
use aerostic_kit::db::QuickDb;
use aerostic_kit::db::batched::{on_postgres_lingering, stopped};
use aerostic_kit::ids::{MessageId, TenantId};
use aerostic_kit::outbox::Outbox;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::alert::{self, Alert, Change};
use crate::ledger::Kind;
use crate::money::Currency;
use crate::store::{self, AlertChange, Batch, StoreError};
use crate::wallet::{MessageState, Op, Outcome, WalletState};

/// Most operations committed together.
pub const MAX_BATCH: usize = 256;
/// A writer with nothing to do for this long stops (its wallet reloads on next use).
const IDLE: Duration = Duration::from_secs(60);
/// Times a collided operation is replayed before giving up.
const ATTEMPTS: usize = 3;
/// Shared wallet commits in flight at once. A wallet whose batch waits for
/// its turn keeps gathering operations, so busy wallets commit bigger
/// batches, fewer times. Measured (BENCHMARKS.md, 2026-12-05, when each
/// wallet still committed alone): two in flight against no bound, ten
/// interleaved pairs, sent a median 9 % more messages end to end with 14 %
/// less PostgreSQL CPU per message; four made no difference and one let the
/// API's p99 run away.
const COMMITS_IN_FLIGHT: usize = 2;
/// Most wallets' batches in one statement.
const WALLETS_PER_COMMIT: usize = 64;
/// How long a shared commit waits for other wallets while they come often
/// (kit::batch). Measured (BENCHMARKS.md, 2026-12-06, ten wallets at a paced
/// 100 sends/s each): no linger shared little (2.1 PostgreSQL transactions a
/// message, as before); 0.5, 1 and 2 ms all cut that to 1.4–1.6 and the
/// machine's CPU by a tenth, 2 ms at a higher p50.
const COMMIT_LINGER: Duration = Duration::from_micros(500);

/// Wallets' batches on their way into one statement (PostgreSQL only).
type Committer = Batcher<(TenantId, Batch), (), DbErr>;

/// Why an operation got no answer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The database failed; nothing was written.
    #[error("database: {0}")]
    Database(String),
    /// Other writers kept moving the wallet.
    #[error("the wallet is contended; retry")]
    Contended,
}

type Reply = oneshot::Sender<Result<Outcome, WriterError>>;

struct Command {
    op: Op,
    reply: Reply,
}

/// Every tenant's wallet writer, started on first use.
#[derive(Clone)]
pub struct Wallets {
    db: DatabaseConnection,
    /// The writers' commits, one statement each (kit::db::quick).
    quick: QuickDb,
    currency: Currency,
    outbox: Outbox,
    writers: Arc<Mutex<HashMap<TenantId, mpsc::Sender<Command>>>>,
    /// The shared commits; `None` on SQLite, where each wallet commits alone.
    committer: Option<Committer>,
}

impl Wallets {
    /// Wallets stored in `db`; new wallets are in `currency`. Call within
    /// a tokio runtime (the shared commits' task starts here).
    pub fn new(db: DatabaseConnection, currency: Currency) -> Self {
        let quick = QuickDb::new(&db);
        let committer = on_postgres_lingering(
            &quick,
            WALLETS_PER_COMMIT,
            COMMITS_IN_FLIGHT,
            COMMIT_LINGER,
            |quick, items: Vec<(TenantId, Batch)>| async move {
                crate::shared_commit::commit_together(&quick, &items).await
            },
        );
        Self {
            quick,
            db,
            currency,
            outbox: Outbox::new(alert::OUTBOX_TABLE),
            writers: Arc::default(),
            committer,
        }
    }

    /// The outbox the writers stage low-balance events in (run its relay).
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The platform's wallet currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Runs `op` on `tenant`'s wallet, once it is durably recorded.
    pub async fn run(&self, tenant: TenantId, op: Op) -> Result<Outcome, WriterError> {
        // A writer may be stopping just as we send: then start another.
        for _ in 0..2 {
            let sender = self.writer(tenant);
            let (reply, answer) = oneshot::channel();
            let command = Command {
                op: op.clone(),
                reply,
            };
            if sender.send(command).await.is_err() {
                self.forget(tenant, &sender);
                continue;
            }
            if let Ok(result) = answer.await {
                return result;
            }
        }
        Err(WriterError::Database("the wallet writer stopped".into()))
    }

    /// The wallet's committed balances (its holds are not read).
    pub async fn state(&self, tenant: TenantId) -> Result<WalletState, WriterError> {
        store::balances(&self.db, tenant, self.currency)
            .await
            .map_err(|e| WriterError::Database(e.to_string()))
    }

    fn writer(&self, tenant: TenantId) -> mpsc::Sender<Command> {
        let mut writers = self.writers.lock().expect("writers lock");
        if let Some(sender) = writers.get(&tenant).filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        writers.insert(tenant, sender.clone());
        let task = Writer {
            db: self.db.clone(),
            quick: self.quick.clone(),
            tenant,
            currency: self.currency,
            outbox: self.outbox.clone(),
            committer: self.committer.clone(),
            state: None,
            alert: None,
            alert_read: None,
        };
        let wallets = self.clone();
        let mine = sender.clone();
        tokio::spawn(async move {
            task.run(receiver).await;
            wallets.forget(tenant, &mine);
        });
        sender
    }

    /// The connections for single statements (also the plan limit's reads).
    pub(crate) fn quick(&self) -> &QuickDb {
        &self.quick
    }

    fn forget(&self, tenant: TenantId, sender: &mpsc::Sender<Command>) {
        let mut writers = self.writers.lock().expect("writers lock");
        if writers.get(&tenant).is_some_and(|s| s.same_channel(sender)) {
            writers.remove(&tenant);
        }
    }
}

struct Writer {
    db: DatabaseConnection,
    quick: QuickDb,
    tenant: TenantId,
    currency: Currency,
    outbox: Outbox,
    committer: Option<Committer>,
    /// `None` until loaded, and again whenever memory may be ahead of the ledger.
    state: Option<WalletState>,
    /// The low-balance alert, and when it was read.
    alert: Option<Alert>,
    alert_read: Option<Instant>,
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        while let Ok(Some(first)) = tokio::time::timeout(IDLE, receiver.recv()).await {
            let mut commands = vec![first];
            while commands.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(c) => commands.push(c),
                    Err(_) => break,
                }
            }
            let ops: Vec<Op> = commands.iter().map(|c| c.op.clone()).collect();
            match self.apply(&ops, false).await {
                Ok(outcomes) => {
                    for (command, outcome) in commands.into_iter().zip(outcomes) {
                        let _ = command.reply.send(Ok(outcome));
                    }
                }
                // Something in the batch collided (or the database failed):
                // replay each alone, so one operation's trouble is its own.
                Err(_) => {
                    for command in commands {
                        let answer = self.alone(command.op).await;
                        let _ = command.reply.send(answer);
                    }
                }
            }
        }
    }

    /// One operation, reloading the wallet after each collision.
    async fn alone(&mut self, op: Op) -> Result<Outcome, WriterError> {
        for _ in 0..ATTEMPTS {
            match self.apply(std::slice::from_ref(&op), true).await {
                Ok(mut outcomes) => return Ok(outcomes.remove(0)),
                Err(StoreError::Conflict(_)) => continue,
                Err(StoreError::Database(e)) => return Err(WriterError::Database(e.to_string())),
            }
        }
        Err(WriterError::Contended)
    }

    /// Applies `ops` in order and commits their transactions together. On
    /// any error memory is dropped, to be reloaded from the ledger.
    async fn apply(&mut self, ops: &[Op], careful: bool) -> Result<Vec<Outcome>, StoreError> {
        let result = self.try_apply(ops, careful).await;
        if result.is_err() {
            self.state = None;
            self.alert_read = None;
        }
        result
    }

    async fn try_apply(&mut self, ops: &[Op], careful: bool) -> Result<Vec<Outcome>, StoreError> {
        if self.state.is_none() {
            self.state = Some(store::load(&self.db, self.tenant, self.currency).await?);
        }
        if self
            .alert_read
            .is_none_or(|read| read.elapsed() > alert::REFRESH)
        {
            self.alert = alert::load(&self.db, self.tenant).await?;
            self.alert_read = Some(Instant::now());
        }
        let state = self.state.as_mut().expect("loaded");
        // What the ledger knows of messages this batch settles and are not
        // held here; carefully (a replay) also of those it reserves.
        let unknown: Vec<MessageId> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Reserve(h) if careful => Some(h.message_id),
                other => other.settles(),
            })
            .filter(|m| !state.holds.contains_key(m))
            .collect();
        let mut pasts = store::pasts(&self.db, self.tenant, &unknown).await?;
        let now = chrono::Utc::now();
        let mut batch = Batch::default();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            if careful
                && let Op::Credit {
                    kind, reference, ..
                } = op
                && let Some(done) = store::recorded(&self.db, self.tenant, *kind, reference).await?
            {
                outcomes.push(Outcome::Recorded(done.id));
                continue;
            }
            let message = op.message();
            let past = message
                .and_then(|m| pasts.get(&m).cloned())
                .unwrap_or(MessageState::NotBilled);
            let outcome = state.apply(op.clone(), &past, now);
            if let Outcome::Applied(tx, after) = &outcome {
                match (tx.kind, after) {
                    (Kind::Reserve, MessageState::Held(h)) => {
                        if !h.category.is_empty() {
                            *batch
                                .outbound
                                .entry(crate::usage::Metric::outbound(&h.category).name)
                                .or_default() += 1;
                        }
                        batch.holds_added.push(h.clone());
                    }
                    (Kind::Settle | Kind::Release, _) => {
                        batch.holds_ended.extend(message);
                    }
                    _ => {}
                }
                if let Some(m) = message {
                    pasts.insert(m, after.clone());
                }
                batch.transactions.push(tx.clone());
            }
            outcomes.push(outcome);
        }
        if let Some(a) = self.alert.filter(|_| !batch.transactions.is_empty()) {
            batch.alert = match a.after(state.available) {
                Some(Change::Fire) => Some(AlertChange {
                    notified: true,
                    event: Some(alert::event(self.tenant, state.available, a, self.currency)),
                }),
                Some(Change::Rearm) => Some(AlertChange {
                    notified: false,
                    event: None,
                }),
                None => None,
            };
        }
        let alert_after = batch
            .alert
            .as_ref()
            .map(|c| (c.notified, c.event.is_some()));
        self.commit(batch, careful).await?;
        if let (Some((notified, fired)), Some(a)) = (alert_after, self.alert.as_mut()) {
            a.notified = notified;
            if fired {
                self.outbox.wake();
            }
        }
        Ok(outcomes)
    }

    /// Appends `batch`: in a statement shared with other wallets, but alone
    /// when `careful` (a replay), so a collision stays its wallet's own.
    async fn commit(&self, batch: Batch, careful: bool) -> Result<(), StoreError> {
        match &self.committer {
            Some(shared) if !careful && !batch.transactions.is_empty() => {
                stopped(shared.submit((self.tenant, batch)).await).map_err(store::classify)
            }
            _ => store::commit(&self.quick, self.tenant, &batch).await,
        }
    }
}
