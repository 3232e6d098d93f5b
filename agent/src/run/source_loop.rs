//! The source loop: asks Git which commit the ref names (one ref listing)
//! at start-up, at every interval (with jitter) and on every webhook, and
//! when the commit is new fetches it and hands the snapshot to the apps.
//! The same commit costs that one listing and nothing else. A `rudder
//! reconcile` request is passed on to its app only after the fetch it
//! caused, so the app syncs the commit the request found. A failure
//! (server down, auth refused, ref missing) is reported and retried with
//! backoff; the apps keep what they have (nothing is pruned because of it).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::run::redact_url;
use crate::server::Trigger;
use crate::server::metrics::Metrics;
use crate::source::{GitSource, Snapshot, SourceError, SourceSpec};
use crate::status::{Board, ErrorCode, rfc3339, rfc3339_unix};

const RETRY_FIRST: Duration = Duration::from_secs(1);
/// libgit2 has no network timeout that safe Rust can set: a Git server that
/// accepts and then goes silent would block a poll forever. A poll that
/// takes longer than this is given up (its thread is left to finish or
/// hang on its own) and a fresh handle on the cache is opened.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

pub struct SourceLoop {
    pub source: GitSource,
    /// To open a fresh handle after a poll timed out.
    pub spec: SourceSpec,
    pub interval: Duration,
    pub triggers: mpsc::Receiver<Trigger>,
    pub snapshots: watch::Sender<Option<Arc<Snapshot>>>,
    pub board: Board,
    pub metrics: Arc<Metrics>,
}

/// What one poll found.
enum Polled {
    Same,
    New(Snapshot),
}

impl SourceLoop {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let SourceLoop {
            source,
            spec,
            interval,
            mut triggers,
            snapshots,
            board,
            metrics,
        } = self;
        let mut source = Some(source);
        let shown_repo = redact_url(&spec.repo);
        let mut current: Option<String> = None;
        let mut backoff = RETRY_FIRST;
        // Reconcile requests waiting for the fetch in progress.
        let mut reconciles: Vec<(mpsc::Sender<String>, String)> = Vec::new();
        loop {
            let git = match source.take() {
                Some(git) => Ok(git),
                None => {
                    let spec = spec.clone();
                    tokio::task::spawn_blocking(move || GitSource::open(spec))
                        .await
                        .unwrap_or_else(|_| Err(timed_out(&shown_repo)))
                }
            };
            let polled = match git {
                Ok(mut git) => {
                    let known = current.clone();
                    let task = tokio::task::spawn_blocking(move || {
                        let polled = poll(&mut git, known.as_deref());
                        (git, polled)
                    });
                    match tokio::time::timeout(POLL_TIMEOUT, task).await {
                        Ok(Ok((git, polled))) => {
                            source = Some(git);
                            polled
                        }
                        // A panicked or hung poll: a fresh handle next time.
                        Ok(Err(_)) | Err(_) => Err(timed_out(&shown_repo)),
                    }
                }
                Err(error) => Err(error),
            };
            let now = rfc3339(SystemTime::now());
            let wait = match polled {
                Ok(Polled::Same) => {
                    metrics.add_source_poll("same");
                    board.update(|s| {
                        s.source.last_fetch = Some(now);
                        s.source.error = None;
                        s.source.error_code = None;
                    });
                    backoff = RETRY_FIRST;
                    jittered(interval)
                }
                Ok(Polled::New(snapshot)) => {
                    metrics.add_source_poll("new");
                    tracing::info!(revision = %snapshot.revision, summary = %snapshot.summary, "new revision");
                    board.update(|s| {
                        s.source.revision = Some(snapshot.revision.clone());
                        s.source.commit_time = Some(rfc3339_unix(snapshot.commit_time));
                        s.source.commit_summary = Some(snapshot.summary.clone());
                        s.source.last_fetch = Some(now);
                        s.source.error = None;
                        s.source.error_code = None;
                    });
                    current = Some(snapshot.revision.clone());
                    snapshots.send_replace(Some(Arc::new(snapshot)));
                    backoff = RETRY_FIRST;
                    jittered(interval)
                }
                Err(error) => {
                    metrics.add_source_poll("error");
                    let code = source_code(&error);
                    metrics.add_source_error(code.as_str());
                    let message = error.to_string();
                    tracing::warn!(code = code.as_str(), %message, retry_in_s = backoff.as_secs_f64(), "Git source failed; the cluster keeps its state");
                    board.update(|s| {
                        s.source.error = Some(message);
                        s.source.error_code = Some(code);
                        s.source.last_fetch = Some(now);
                    });
                    // Nothing synced yet and Git is down: say so in /readyz
                    // terms too, since no attempt can complete.
                    let wait = backoff;
                    backoff = (backoff * 2).min(interval.max(RETRY_FIRST));
                    wait
                }
            };
            // Whatever the fetch found (a new commit is published above,
            // before this), the apps asked for now sync what there is.
            for (app, requested_at) in reconciles.drain(..) {
                let _ = app.send(requested_at).await;
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
                trigger = triggers.recv() => {
                    let Some(trigger) = trigger else {
                        return;
                    };
                    // Deliveries that came meanwhile are the same fetch.
                    let mut next = Some(trigger);
                    while let Some(trigger) = next {
                        if let Trigger::Reconcile { app, requested_at } = trigger {
                            reconciles.push((app, requested_at));
                        }
                        next = triggers.try_recv().ok();
                    }
                }
            }
        }
    }
}

fn poll(source: &mut GitSource, known: Option<&str>) -> Result<Polled, SourceError> {
    let commit = source.resolve()?;
    if known == Some(commit.as_str()) {
        return Ok(Polled::Same);
    }
    Ok(Polled::New(source.snapshot(&commit)?))
}

fn timed_out(repo: &str) -> SourceError {
    SourceError::Unreachable {
        repo: repo.to_string(),
        message: format!(
            "no answer within {} s (the server accepted the connection but went silent?)",
            POLL_TIMEOUT.as_secs()
        ),
    }
}

/// The error code of a source failure.
pub fn source_code(error: &SourceError) -> ErrorCode {
    match error.code() {
        "RUD1001" => ErrorCode::SourceUnreachable,
        "RUD1002" => ErrorCode::SourceAuth,
        "RUD1003" => ErrorCode::SourceHostKey,
        "RUD1004" => ErrorCode::SourceRefMissing,
        _ => ErrorCode::SourceGit,
    }
}

/// `interval` shortened by up to 10%, so a fleet started together does
/// not poll its Git server in lockstep.
pub fn jittered(interval: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let fraction = f64::from(nanos % 1000) / 10_000.0; // 0 to 0.1
    interval.mul_f64(1.0 - fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_below() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(60));
            assert!(
                d <= Duration::from_secs(60) && d >= Duration::from_secs(54),
                "{d:?}"
            );
        }
    }
}
