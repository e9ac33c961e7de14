//! The reconcile task: the one owner of the [`Reconciler`] (hence of the backend) and of the
//! config store. Everything else talks to it through a cloneable [`Handle`].
//!
//! Changes are applied one at a time in arrival order (the channel is the queue). An ETag
//! precondition is checked inside the task, right before the apply, so nothing can change the
//! config between the check and the apply. A caller that goes away (an HTTP client
//! disconnecting) does not abort an apply: the task finishes it and drops the reply.
//!
//! Between commands the task repairs crashes every [`REPAIR_PERIOD`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::apply::{Applied, ApplyError, ProcessStatus, Reconciler};
use super::plan::{Plan, plan};
use crate::backend::Backend;
use crate::config::Config;
use crate::daemon::store::{self, Revision};

/// How often the task looks for crashed processes when idle.
pub const REPAIR_PERIOD: Duration = Duration::from_millis(250);

/// A change for the task: a validated document.
#[derive(Debug)]
pub struct Candidate {
    pub document: serde_json::Value,
    pub config: Arc<Config>,
    /// Who asked (for the log): `reload`, `api`, `SIGHUP`, ...
    pub origin: String,
}

/// Preconditions on the current revision (HTTP `If-Match` / `If-None-Match`).
#[derive(Clone, Debug, Default)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

/// Why an apply request did not apply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the configuration changed meanwhile: its ETag is {current}, the request expected {expected}")]
    PreconditionFailed { current: String, expected: String },
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("the manager is shutting down")]
    ShuttingDown,
}

/// The outcome of an accepted request.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub generation: u64,
    pub etag: String,
    /// Nothing was applied (`dry_run`, or the document equals the running one).
    pub unchanged: bool,
    pub plan: Plan,
    pub steps: Vec<String>,
    pub phases: Vec<(String, Duration)>,
}

/// What everybody may read at any time, without asking the task.
#[derive(Clone, Debug)]
pub struct Status {
    pub revision: Revision,
    /// `Ok` when every desired worker is running and ready; the reason otherwise.
    pub ready: Result<(), String>,
    pub processes: Vec<ProcessStatus>,
    pub last_apply: Option<LastApply>,
    pub applies: u64,
}

#[derive(Clone, Debug)]
pub struct LastApply {
    pub ok: bool,
    pub at: std::time::SystemTime,
    pub duration: Duration,
    pub phases: Vec<(String, Duration)>,
}

enum Command {
    Apply {
        candidate: Candidate,
        preconditions: Preconditions,
        dry_run: bool,
        force: bool,
        reply: oneshot::Sender<Result<Outcome, RequestError>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// The way to the reconcile task.
#[derive(Clone, Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Apply { .. } => "Apply",
            Command::Shutdown { .. } => "Shutdown",
        })
    }
}

impl Handle {
    /// The latest status (cheap; updated after every command and repair round).
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Applies `candidate` (waits until it is applied or refused). With `dry_run` only the plan
    /// is computed; with `force` an unchanged document still goes through the apply (a no-op plan
    /// plus crash-loop verdicts cleared).
    pub async fn apply(
        &self,
        candidate: Candidate,
        preconditions: Preconditions,
        dry_run: bool,
        force: bool,
    ) -> Result<Outcome, RequestError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Apply { candidate, preconditions, dry_run, force, reply };
        self.commands.send(command).await.map_err(|_| RequestError::ShuttingDown)?;
        answer.await.map_err(|_| RequestError::ShuttingDown)?
    }

    /// Stops every process and the supervisor; answers when done.
    pub async fn shutdown(&self) {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Shutdown { reply }).await.is_ok() {
            let _ = answer.await;
        }
    }
}

/// Starts the task for a reconciler whose workers already run `revision` (after
/// [`Reconciler::start`] or [`Reconciler::adopt`]); `state_file` receives every accepted revision.
pub async fn spawn<B: Backend + 'static>(
    mut reconciler: Reconciler<B>,
    revision: Revision,
    state_file: std::path::PathBuf,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let processes = reconciler.status().await.unwrap_or_default();
    let ready = reconciler.ready().await;
    let status = Status { revision: revision.clone(), ready, processes, last_apply: None, applies: 0 };
    let (status_tx, status_rx) = watch::channel(status);
    let (commands, mut receiver) = mpsc::channel::<Command>(64);
    let task = tokio::spawn(async move {
        let mut current = revision;
        let mut ticker = tokio::time::interval(REPAIR_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = receiver.recv() => match command {
                    None => break,
                    Some(Command::Shutdown { reply }) => {
                        tracing::info!("stopping every process");
                        if let Err(error) = reconciler.shutdown().await {
                            tracing::error!("shutting the supervisor down failed: {error}");
                        }
                        let _ = reply.send(());
                        break;
                    }
                    Some(Command::Apply { candidate, preconditions, dry_run, force, reply }) => {
                        let began = Instant::now();
                        let result = handle_apply(&mut reconciler, &mut current, candidate, &preconditions, dry_run, force, &state_file).await;
                        let applied = matches!(&result, Ok(outcome) if !outcome.unchanged);
                        let failed = matches!(&result, Err(RequestError::Apply(_)));
                        if applied || failed {
                            let phases = result.as_ref().map(|o| o.phases.clone()).unwrap_or_default();
                            let last = LastApply { ok: applied, at: std::time::SystemTime::now(), duration: began.elapsed(), phases };
                            status_tx.send_modify(|status| { status.last_apply = Some(last); status.applies += 1; });
                        }
                        let _ = reply.send(result);
                    }
                },
                _ = ticker.tick() => {
                    match reconciler.repair().await {
                        Ok(events) => events.iter().for_each(|event| tracing::warn!("{event}")),
                        Err(error) => tracing::warn!("cannot list the processes: {error}"),
                    }
                }
            }
            let processes = reconciler.status().await.unwrap_or_default();
            let ready = reconciler.ready().await;
            let revision = current.clone();
            status_tx.send_modify(|status| {
                status.revision = revision;
                status.processes = processes;
                status.ready = ready;
            });
        }
    });
    (Handle { commands, status: status_rx }, task)
}

async fn handle_apply<B: Backend>(
    reconciler: &mut Reconciler<B>,
    current: &mut Revision,
    candidate: Candidate,
    preconditions: &Preconditions,
    dry_run: bool,
    force: bool,
    state_file: &std::path::Path,
) -> Result<Outcome, RequestError> {
    let matches = |tag: &str| tag.split(',').any(|t| t.trim() == "*" || t.trim() == current.etag);
    if let Some(expected) = &preconditions.if_match
        && !matches(expected)
    {
        return Err(RequestError::PreconditionFailed { current: current.etag.clone(), expected: expected.clone() });
    }
    if let Some(unexpected) = &preconditions.if_none_match
        && matches(unexpected)
    {
        return Err(RequestError::PreconditionFailed {
            current: current.etag.clone(),
            expected: format!("not {unexpected}"),
        });
    }
    let etag = store::etag(&candidate.document);
    let unchanged = etag == current.etag && !force;
    if dry_run || unchanged {
        let plan = plan(&current.config, &candidate.config);
        let (generation, etag) = (current.generation, current.etag.clone());
        return Ok(Outcome { generation, etag, unchanged: true, plan, steps: Vec::new(), phases: Vec::new() });
    }
    tracing::info!("applying a new configuration ({})", candidate.origin);
    reconciler.clear_failures();
    let result: Result<Applied, ApplyError> = reconciler.apply(candidate.config.clone()).await;
    match result {
        Ok(applied) => {
            let generation = if etag == current.etag { current.generation } else { current.generation + 1 };
            *current = Revision::new(generation, candidate.document, candidate.config);
            if let Err(error) = store::save(state_file, current) {
                tracing::error!("the new configuration is applied but could not be saved: {error}");
            }
            tracing::info!("configuration generation {generation} applied ({} steps)", applied.steps.len());
            Ok(Outcome {
                generation,
                etag: current.etag.clone(),
                unchanged: false,
                plan: applied.plan,
                steps: applied.steps,
                phases: applied.phases,
            })
        }
        Err(error) => {
            tracing::error!("the configuration from {} was not applied: {error}", candidate.origin);
            Err(error.into())
        }
    }
}
