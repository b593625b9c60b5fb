//! Work that a shutdown lets finish: client connections and the decrypted sessions inside CONNECT tunnels.
//!
//! A [`Drainable`] tracks tasks and tells them when to stop; each task decides what stopping means for it
//! (HTTP/1.1 closes after the current response, HTTP/2 sends GOAWAY). Blind tunnels carry opaque bytes and are not
//! tracked: they are cut when the process exits.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A group of tasks that can be asked to stop and then waited for.
#[derive(Clone, Debug, Default)]
pub struct Drainable {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Drainable {
    /// Runs `task` as a tracked task.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Completes once the group has been asked to stop (at once if it already has been).
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Asks every task to stop and completes when all of them have ended. Tasks started later see the request
    /// at once.
    pub async fn drain(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draining_stops_and_waits_for_every_task() {
        let group = Drainable::default();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(2);
        for _ in 0..2 {
            let stop = group.stopping();
            let done = done_tx.clone();
            group.spawn(async move {
                stop.cancelled().await;
                let _ = done.send(()).await;
            });
        }
        drop(done_tx);
        group.drain().await;
        let mut ended = 0;
        while done_rx.recv().await.is_some() {
            ended += 1;
        }
        assert_eq!(ended, 2);
    }
}
