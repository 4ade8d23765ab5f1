//! The tasks that run beside the HTTP server (the notification worker, the latency pass, the MQTT
//! session check): started with one cancellation token, and joined on shutdown.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The background tasks of one instance.
#[derive(Debug, Default)]
pub struct Background {
    stop: CancellationToken,
    tasks: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
}

impl Background {
    /// The token every task watches: cancelled when the instance shuts down.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Starts `task`, to be joined on shutdown.
    pub fn spawn(&self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, handle));
    }

    /// Starts a task running `pass` every `interval` until shutdown, the first time one interval from now;
    /// a pass that overruns delays the next rather than bunching them.
    pub fn every<F, Fut>(&self, name: &'static str, interval: Duration, mut pass: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let stop = self.token();
        self.spawn(name, async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                pass().await;
            }
        });
    }

    /// Cancels every task and waits for them, `grace` in all: a task still running then (a delivery to a
    /// slow receiver) is left, and what it holds stays claimed for another instance to take over.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.cancel();
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let deadline = tokio::time::Instant::now() + grace;
        for (name, handle) in tasks {
            match tokio::time::timeout_at(deadline, handle).await {
                Ok(Ok(())) => tracing::debug!(task = name, "stopped"),
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "a background task failed"),
                Err(_) => tracing::warn!(task = name, "still running at the end of the shutdown timeout; left"),
            }
        }
    }
}
