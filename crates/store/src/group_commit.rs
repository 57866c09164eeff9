//! Group commit: concurrent callers share one transaction.
//!
//! A unary write (one post, one case) pays a whole transaction: a begin, a few statements and a
//! commit that waits for the disk. Under load most of that is overhead that a batch pays once.
//! [`GroupCommit`] queues each caller's unit of work; a single loop takes whatever is queued
//! when a write slot is free, up to a size limit, and hands it to the [`GroupWriter`] as one
//! group, so a burst of unary calls costs a handful of transactions. An idle system pays no
//! wait: a lone unit is written at once. Acknowledged still means committed: each caller's
//! answer is sent only after its group's transaction commits.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Instrument as _;

/// Writes a group of units of work in one transaction.
#[async_trait::async_trait]
pub trait GroupWriter: Send + Sync + 'static {
    /// One caller's unit of work (a post, or a batch of them that must stay together).
    type Unit: Send + 'static;
    /// One caller's answer.
    type Output: Send + 'static;
    /// Why a group, or the whole queue, failed.
    type Error: Send + 'static;

    /// How much a unit weighs against [`GroupOptions::max_weight`] (rows, say).
    fn weight(unit: &Self::Unit) -> usize;

    /// Writes `units` in one transaction and answers each, in the order given (the result must
    /// hold exactly one output per unit). An error fails the whole group.
    async fn write(&self, units: Vec<Self::Unit>) -> Result<Vec<Self::Output>, Self::Error>;

    /// The error each caller of a failed group receives.
    fn share(error: &Self::Error) -> Self::Error;

    /// The error a caller receives when its unit was never written or its answer was lost (the
    /// queue shut down, or the writer broke its contract). A retry is safe: writes are idempotent.
    fn abandoned(reason: &str) -> Self::Error;
}

/// How [`GroupCommit`] forms groups.
#[derive(Debug, Clone, Copy)]
pub struct GroupOptions {
    /// The most weight one group carries; a unit heavier than this is written alone.
    pub max_weight: usize,
    /// How many groups may be in flight at once: while one commits, the next forms.
    pub max_in_flight: usize,
    /// Units waiting for a slot before callers wait to queue (back pressure).
    pub queue_depth: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        Self { max_weight: 1000, max_in_flight: 2, queue_depth: 10_000 }
    }
}

type Reply<W> = oneshot::Sender<Result<<W as GroupWriter>::Output, <W as GroupWriter>::Error>>;

struct Pending<W: GroupWriter> {
    unit: W::Unit,
    reply: Reply<W>,
}

/// A queue in front of a [`GroupWriter`]; cheap to clone, and the loop ends when the last clone
/// is dropped.
pub struct GroupCommit<W: GroupWriter> {
    sender: mpsc::Sender<Pending<W>>,
}

impl<W: GroupWriter> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self { sender: self.sender.clone() }
    }
}

impl<W: GroupWriter> GroupCommit<W> {
    /// Starts the loop that writes groups through `writer` (on the current Tokio runtime).
    pub fn start(writer: Arc<W>, options: GroupOptions) -> Self {
        let (sender, receiver) = mpsc::channel(options.queue_depth.max(1));
        tokio::spawn(run(writer, receiver, options));
        Self { sender }
    }

    /// Queues `unit` and waits until its group has been written.
    pub async fn submit(&self, unit: W::Unit) -> Result<W::Output, W::Error> {
        let (reply, answer) = oneshot::channel();
        if self.sender.send(Pending { unit, reply }).await.is_err() {
            return Err(W::abandoned("the writer has shut down"));
        }
        answer.await.unwrap_or_else(|_| Err(W::abandoned("the group's write ended without an answer")))
    }
}

async fn run<W: GroupWriter>(writer: Arc<W>, mut receiver: mpsc::Receiver<Pending<W>>, options: GroupOptions) {
    let slots = Arc::new(Semaphore::new(options.max_in_flight.max(1)));
    while let Some(first) = receiver.recv().await {
        // Wait for a slot before gathering: whatever arrives meanwhile joins this group.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut weight = W::weight(&first.unit);
        let mut group = vec![first];
        while weight < options.max_weight {
            let Ok(next) = receiver.try_recv() else { break };
            weight += W::weight(&next.unit);
            group.push(next);
        }
        let writer = writer.clone();
        let span = tracing::debug_span!("group commit", units = group.len(), weight);
        tokio::spawn(
            async move {
                write_group(&*writer, group).await;
                drop(slot);
            }
            .instrument(span),
        );
    }
}

async fn write_group<W: GroupWriter>(writer: &W, group: Vec<Pending<W>>) {
    let (units, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|pending| (pending.unit, pending.reply)).unzip();
    let expected = units.len();
    match writer.write(units).await {
        Ok(outputs) if outputs.len() == expected => {
            for (reply, output) in replies.into_iter().zip(outputs) {
                // A caller that went away still had its unit committed; its retry finds it.
                let _ = reply.send(Ok(output));
            }
        }
        Ok(outputs) => {
            tracing::error!(expected, got = outputs.len(), "group writer answered the wrong number of units");
            for reply in replies {
                let _ = reply.send(Err(W::abandoned("the group's write answered the wrong number of units")));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(W::share(&error)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Records the groups it is given and answers each unit with itself doubled; a unit of 0
    /// fails its group; waits on `gate` before answering so tests can pile units up.
    #[derive(Default)]
    struct Doubler {
        groups: Mutex<Vec<Vec<u32>>>,
        gate: tokio::sync::Notify,
        gated: bool,
    }

    #[async_trait::async_trait]
    impl GroupWriter for Doubler {
        type Unit = u32;
        type Output = u32;
        type Error = String;

        fn weight(unit: &u32) -> usize {
            *unit as usize
        }

        async fn write(&self, units: Vec<u32>) -> Result<Vec<u32>, String> {
            self.groups.lock().expect("lock").push(units.clone());
            if self.gated {
                self.gate.notified().await;
            }
            if units.contains(&0) {
                return Err("zero".to_owned());
            }
            Ok(units.into_iter().map(|unit| unit * 2).collect())
        }

        fn share(error: &String) -> String {
            error.clone()
        }

        fn abandoned(reason: &str) -> String {
            reason.to_owned()
        }
    }

    #[tokio::test]
    async fn a_lone_unit_is_written_at_once() {
        let writer = Arc::new(Doubler::default());
        let commit = GroupCommit::start(writer.clone(), GroupOptions::default());
        assert_eq!(commit.submit(21).await, Ok(42));
        assert_eq!(*writer.groups.lock().expect("lock"), vec![vec![21]]);
    }

    #[tokio::test]
    async fn units_queued_while_a_group_commits_share_the_next_group() {
        let writer = Arc::new(Doubler { gated: true, ..Doubler::default() });
        let options = GroupOptions { max_weight: 5, max_in_flight: 1, queue_depth: 100 };
        let commit = GroupCommit::start(writer.clone(), options);
        let first = tokio::spawn({
            let commit = commit.clone();
            async move { commit.submit(1).await }
        });
        while writer.groups.lock().expect("lock").is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The first group holds the only slot; these pile up behind it.
        let rest: Vec<_> = [2, 3, 4, 5]
            .into_iter()
            .map(|unit| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.submit(unit).await })
            })
            .collect();
        // On the test's single thread, a few turns let every submitter queue its unit.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        writer.gate.notify_one();
        assert_eq!(first.await.expect("task"), Ok(2));
        // 2 + 3 reach the weight limit of 5, so 4 and 5 form the group after.
        for groups in [2, 3] {
            while writer.groups.lock().expect("lock").len() < groups {
                tokio::task::yield_now().await;
            }
            writer.gate.notify_one();
        }
        let mut answers = Vec::new();
        for task in rest {
            answers.push(task.await.expect("task"));
        }
        assert_eq!(answers, vec![Ok(4), Ok(6), Ok(8), Ok(10)]);
        assert_eq!(*writer.groups.lock().expect("lock"), vec![vec![1], vec![2, 3], vec![4, 5]]);
    }

    #[tokio::test]
    async fn a_failed_group_fails_each_of_its_callers() {
        let writer = Arc::new(Doubler::default());
        let commit = GroupCommit::start(writer, GroupOptions::default());
        assert_eq!(commit.submit(0).await, Err("zero".to_owned()));
        assert_eq!(commit.submit(1).await, Ok(2), "the queue goes on after a failed group");
    }
}
