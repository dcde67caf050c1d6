//! Group commit: registration writes that arrive together share one transaction.
//!
//! Each caller awaits its own outcome, which is only sent after COMMIT returned, so a device is
//! told "registered" only once its registration is durable (ARCHITECTURE.md, data flow). The
//! event of each write goes to the outbox in the same transaction; `NOTIFY lwm2m_outbox` wakes the
//! relay when the transaction commits.

use std::sync::Arc;

use lwm2m_proto::subjects::RegEventKind;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::task::TaskTracker;

use super::events::{event_payload, new_event_id, RegEvent};
use super::register_many::register_many;
use super::{NewRegistration, RegistrationRow, RegistrationUpdate, StoreError, COLUMNS};

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most writes in one transaction.
    pub max_batch: usize,
    /// Transactions in flight at once (each holds one connection).
    pub concurrent_batches: usize,
    /// Writes waiting for a transaction; beyond this callers get `Overloaded` (→ 5.03).
    pub queue: usize,
}

/// Result of a Register: the stored row and the registration id it replaced, if any.
pub type Registered = (RegistrationRow, Option<String>);

enum Op {
    Register(NewRegistration),
    Update(RegistrationUpdate),
    /// Registration id, and the security context the request came over (it must match).
    Deregister(String, Option<String>),
}

enum Outcome {
    Registered(Registered),
    /// Update / Deregister: `None` when no registration has that id.
    Row(Option<RegistrationRow>),
}

struct Job {
    op: Op,
    /// Chosen once, at submission: a write retried after an ambiguous COMMIT failure produces the
    /// same event id, which JetStream's duplicate window drops (no duplicate event).
    event_id: String,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

/// Handle to the registration writer; cheap to clone.
#[derive(Clone)]
pub struct RegistrationStore {
    jobs: mpsc::Sender<Job>,
    pool: PgPool,
}

impl RegistrationStore {
    /// Starts the writer on `tracker`; it ends when every handle is dropped and the queue drained.
    pub fn start(pool: PgPool, config: StoreConfig, tracker: &TaskTracker) -> RegistrationStore {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        tracker.spawn(run_writer(pool.clone(), config, rx, tracker.clone()));
        RegistrationStore { jobs: tx, pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn register(&self, r: NewRegistration) -> Result<Registered, StoreError> {
        match self.submit(Op::Register(r)).await? {
            Outcome::Registered(r) => Ok(r),
            Outcome::Row(_) => unreachable!("register answers Registered"),
        }
    }

    pub async fn update(
        &self,
        u: RegistrationUpdate,
    ) -> Result<Option<RegistrationRow>, StoreError> {
        match self.submit(Op::Update(u)).await? {
            Outcome::Row(r) => Ok(r),
            Outcome::Registered(_) => unreachable!("update answers Row"),
        }
    }

    pub async fn deregister(
        &self,
        reg_id: String,
        psk_identity: Option<String>,
    ) -> Result<Option<RegistrationRow>, StoreError> {
        match self.submit(Op::Deregister(reg_id, psk_identity)).await? {
            Outcome::Row(r) => Ok(r),
            Outcome::Registered(_) => unreachable!("deregister answers Row"),
        }
    }

    async fn submit(&self, op: Op) -> Result<Outcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .try_send(Job {
                op,
                event_id: new_event_id(),
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run_writer(
    pool: PgPool,
    config: StoreConfig,
    mut rx: mpsc::Receiver<Job>,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(config.concurrent_batches.max(1)));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        // Take what queued up while the previous transactions ran: that is the batch.
        let mut batch = vec![first];
        while batch.len() < config.max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tracker.spawn(async move {
            commit_batch(&pool, batch).await;
            drop(permit);
        });
    }
}

/// Commits `batch` in one transaction; if that fails (a deadlock with a concurrent batch, one
/// bad write), each write is retried in its own transaction so one failure fails only its caller.
async fn commit_batch(pool: &PgPool, batch: Vec<Job>) {
    let (ops, replies): (Vec<(Op, String)>, Vec<_>) = batch
        .into_iter()
        .map(|j| ((j.op, j.event_id), j.reply))
        .unzip();
    match run_ops(pool, &ops).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) if ops.len() == 1 => {
            tracing::warn!(error = %e, "registration write failed");
            for reply in replies {
                let _ = reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                    e.to_string(),
                ))));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, size = ops.len(), "batch failed, retrying writes one by one");
            for (op, reply) in ops.into_iter().zip(replies) {
                let single = [op];
                let r = run_ops(pool, &single).await.map(|mut o| o.remove(0));
                let _ = reply.send(r.map_err(StoreError::from));
            }
        }
    }
}

async fn run_ops(pool: &PgPool, ops: &[(Op, String)]) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut outcomes: Vec<Option<Outcome>> = (0..ops.len()).map(|_| None).collect();
    let mut events = Vec::with_capacity(ops.len());
    // The leading run of Registers of distinct endpoints (a registration storm: the whole batch)
    // goes in one statement; anything after it runs one by one, in arrival order.
    let mut seen = std::collections::HashSet::new();
    let leading = ops
        .iter()
        .take_while(|(op, _)| matches!(op, Op::Register(r) if seen.insert(r.endpoint.as_str())))
        .count();
    let regs: Vec<&NewRegistration> = ops[..leading]
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Register(r) => Some(r),
            _ => None,
        })
        .collect();
    if !regs.is_empty() {
        for (i, (row, replaced)) in register_many(&mut tx, &regs).await?.into_iter().enumerate() {
            events.push(event_payload(
                RegEventKind::New,
                &row,
                replaced.as_deref(),
                &ops[i].1,
            ));
            outcomes[i] = Some(Outcome::Registered((row, replaced)));
        }
    }
    for (i, (op, event_id)) in ops.iter().enumerate().skip(leading) {
        let outcome = match op {
            Op::Register(r) => {
                let (row, replaced) = register_many(&mut tx, &[r])
                    .await?
                    .pop()
                    .ok_or_else(|| sqlx::Error::Protocol("upsert returned no row".into()))?;
                events.push(event_payload(
                    RegEventKind::New,
                    &row,
                    replaced.as_deref(),
                    event_id,
                ));
                Outcome::Registered((row, replaced))
            }
            Op::Update(u) => {
                let row = update(&mut tx, u).await?;
                if let Some(row) = &row {
                    events.push(event_payload(RegEventKind::Update, row, None, event_id));
                }
                Outcome::Row(row)
            }
            Op::Deregister(reg_id, psk_identity) => {
                let sql = format!(
                    "DELETE FROM registrations WHERE reg_id = $1 \
                     AND psk_identity IS NOT DISTINCT FROM $2 RETURNING {COLUMNS}"
                );
                let row = sqlx::query_as::<_, RegistrationRow>(&sql)
                    .bind(reg_id)
                    .bind(psk_identity)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = &row {
                    events.push(event_payload(RegEventKind::Delete, row, None, event_id));
                }
                Outcome::Row(row)
            }
        };
        outcomes[i] = Some(outcome);
    }
    insert_events(&mut tx, &events).await?;
    tx.commit().await?;
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| sqlx::Error::Protocol("operation without outcome".into())))
        .collect()
}

async fn update(
    tx: &mut Transaction<'_, Postgres>,
    u: &RegistrationUpdate,
) -> Result<Option<RegistrationRow>, sqlx::Error> {
    // The node that receives an Update becomes the owner (ARCHITECTURE.md, ownership).
    let sql = format!(
        "UPDATE registrations SET owner_node = $2, peer_addr = $3, \
           lifetime_s = COALESCE($4, lifetime_s), binding = COALESCE($5, binding), \
           queue_mode = CASE WHEN $6 IS NOT NULL THEN $6 \
             WHEN lwm2m_version = '1.0' AND $5 IS NOT NULL THEN position('Q' in $5) > 0 \
             ELSE queue_mode END, sms_number = COALESCE($7, sms_number), \
           root_path = COALESCE($8, root_path), object_links = COALESCE($9, object_links), \
           content_formats = COALESCE($10, content_formats), updated_at = now(), \
           expires_at = now() + make_interval(secs => COALESCE($4, lifetime_s)) \
         WHERE reg_id = $1 AND psk_identity IS NOT DISTINCT FROM $11 RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, RegistrationRow>(&sql)
        .bind(&u.reg_id)
        .bind(&u.owner_node)
        .bind(&u.peer_addr)
        .bind(u.lifetime_s)
        .bind(&u.binding)
        .bind(u.queue_mode)
        .bind(&u.sms_number)
        .bind(&u.root_path)
        .bind(&u.object_links)
        .bind(&u.content_formats)
        .bind(&u.psk_identity)
        .fetch_optional(&mut **tx)
        .await
}

/// Writes `events` to the outbox inside `tx` and wakes the relay on commit.
pub(crate) async fn insert_events(
    tx: &mut Transaction<'_, Postgres>,
    events: &[RegEvent],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
    let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
    sqlx::query(
        "INSERT INTO outbox (event_id, subject, payload) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[])",
    )
    .bind(&ids)
    .bind(&subjects)
    .bind(&payloads)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT pg_notify('lwm2m_outbox', '')")
        .execute(&mut **tx)
        .await?;
    Ok(())
}
