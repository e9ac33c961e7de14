//! The reconcile task: the one owner of the [`Reconciler`] (hence of the backend) and of the
//! config store. Everything else talks to it through a cloneable [`Handle`].
//!
//! Changes are applied one at a time in arrival order (the channel is the queue). Edits (JSON
//! Patch operations from the API) are applied to the current document inside the task, and an
//! ETag precondition is checked there, right before the apply, so nothing can change the config
//! between the check and the apply and no edit is computed from a stale document.
//!
//! Changes made through the API are recorded (as the JSON Patch operations that made them) and
//! saved with the config; a reload of the files re-applies them on top, so they survive reloads
//! and restarts until a reload discards them on purpose. A caller that goes away (an HTTP client
//! disconnecting) does not abort an apply: the task finishes it and drops the reply.
//!
//! Between commands the task repairs crashes every [`REPAIR_PERIOD`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use schema_core::Report;

use super::apply::{Applied, ApplyError, ProcessStatus, Reconciler};
use super::plan::{Plan, plan};
use crate::backend::Backend;
use crate::config::Config;
use crate::config::patch::{self, PatchError};
use crate::reconcile::store::{self, Revision};

/// Validates a document (both passes, against the installed kresd): the config and the notes
/// made about it (such as view tags no rule uses), or every error; each carries its pointer.
pub type Validator = Arc<dyn Fn(&serde_json::Value) -> Result<(Arc<Config>, Report), Report> + Send + Sync>;

/// How often the task looks for crashed processes when idle.
pub const REPAIR_PERIOD: Duration = Duration::from_millis(250);

/// What a request changes.
#[derive(Debug, Clone)]
pub enum Change {
    /// JSON Patch operations (RFC 6902, absolute pointers) on the current document; recorded as
    /// API changes when applied.
    Edit(serde_json::Value),
    /// A new base document (the config files, already validated on their own); the recorded
    /// API changes are applied on top unless `discard_api_changes`.
    Files { document: serde_json::Value, discard_api_changes: bool },
}

/// A request to the task.
#[derive(Debug, Clone)]
pub struct Request {
    pub change: Change,
    pub preconditions: Preconditions,
    /// Only compute the plan.
    pub dry_run: bool,
    /// Apply even when the document is unchanged (and give crash-looping processes a new chance).
    pub force: bool,
    /// Who asked (for the log): `SIGHUP`, `api PUT /v1/config/workers`, ...
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
    /// An edit does not apply to the document (a missing pointer, a failed `test`, ...).
    #[error(transparent)]
    Patch(PatchError),
    /// A recorded API change no longer applies to the reloaded files.
    #[error(
        "a change made through the API no longer applies to the config files: {0}; reload with the API changes discarded, or make the change again"
    )]
    StaleApiChange(PatchError),
    /// The resulting document is invalid; every problem with its pointer.
    #[error("the configuration would be invalid:\n{0}")]
    Invalid(Report),
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
    /// What validation noted about the new document (such as view tags no rule uses): it does
    /// not make the document invalid. Each is logged too.
    pub notes: Vec<Note>,
}

/// A note on an accepted document: where, and what.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Note {
    pub pointer: String,
    pub message: String,
}

/// What everybody may read at any time, without asking the task.
#[derive(Clone, Debug)]
pub struct Status {
    pub revision: Revision,
    /// The API changes recorded on top of the files (JSON Patch operations).
    pub api_changes: Arc<Vec<serde_json::Value>>,
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
    Apply { request: Request, reply: oneshot::Sender<Result<Outcome, RequestError>> },
    Shutdown { reply: oneshot::Sender<()> },
    RunOnWorkers { chunk: String, reply: oneshot::Sender<Vec<(crate::backend::Program, Result<(), String>)>> },
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
            Command::RunOnWorkers { .. } => "RunOnWorkers",
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

    /// Carries out `request` (waits until it is applied or refused).
    pub async fn apply(&self, request: Request) -> Result<Outcome, RequestError> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Apply { request, reply };
        self.commands.send(command).await.map_err(|_| RequestError::ShuttingDown)?;
        answer.await.map_err(|_| RequestError::ShuttingDown)?
    }

    /// Whether the task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    /// Runs a Lua chunk on every running worker (between changes, never during one).
    pub async fn run_on_workers(&self, chunk: String) -> Vec<(crate::backend::Program, Result<(), String>)> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::RunOnWorkers { chunk, reply }).await.is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
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
/// [`Reconciler::start`] or [`Reconciler::adopt`]), with `api_changes` recorded on top of the
/// config files' document `files` (when known: `revision` is `files` with `api_changes`
/// applied); `state_file` receives every accepted revision.
pub async fn spawn<B: Backend + 'static>(
    mut reconciler: Reconciler<B>,
    revision: Revision,
    api_changes: Vec<serde_json::Value>,
    files: Option<serde_json::Value>,
    validator: Validator,
    state_file: std::path::PathBuf,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let processes = reconciler.status().await.unwrap_or_default();
    let ready = reconciler.ready().await;
    let api_changes = Arc::new(api_changes);
    let status = Status {
        revision: revision.clone(),
        api_changes: api_changes.clone(),
        ready,
        processes,
        last_apply: None,
        applies: 0,
    };
    let (status_tx, status_rx) = watch::channel(status);
    let (commands, mut receiver) = mpsc::channel::<Command>(64);
    let task = tokio::spawn(async move {
        let mut current = State { revision, api_changes, files: files.map(Arc::new) };
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
                    Some(Command::RunOnWorkers { chunk, reply }) => {
                        let _ = reply.send(reconciler.run_on_workers(&chunk).await);
                    }
                    Some(Command::Apply { request, reply }) => {
                        let began = Instant::now();
                        let result = handle_apply(&mut reconciler, &mut current, request, &validator, &state_file).await;
                        let applied = matches!(&result, Ok(outcome) if !outcome.unchanged);
                        let failed = matches!(&result, Err(RequestError::Apply(_)));
                        if applied || failed {
                            let phases = result.as_ref().map(|o| o.phases.clone()).unwrap_or_default();
                            let last = LastApply { ok: applied, at: std::time::SystemTime::now(), duration: began.elapsed(), phases };
                            status_tx.send_modify(|status| { status.last_apply = Some(last); status.applies += 1; });
                        }
                        // Whoever reads the status after the reply sees the new revision.
                        publish(&mut reconciler, &current, &status_tx).await;
                        let _ = reply.send(result);
                        continue;
                    }
                },
                _ = ticker.tick() => {
                    match reconciler.repair().await {
                        Ok(events) => events.iter().for_each(|event| tracing::warn!("{event}")),
                        Err(error) => tracing::warn!("cannot list the processes: {error}"),
                    }
                }
            }
            publish(&mut reconciler, &current, &status_tx).await;
        }
    });
    (Handle { commands, status: status_rx }, task)
}

/// Publishes the current revision and the processes' state.
async fn publish<B: Backend>(reconciler: &mut Reconciler<B>, state: &State, status_tx: &watch::Sender<Status>) {
    let processes = reconciler.status().await.unwrap_or_default();
    let ready = reconciler.ready().await;
    let (revision, api_changes) = (state.revision.clone(), state.api_changes.clone());
    status_tx.send_modify(|status| {
        status.revision = revision;
        status.api_changes = api_changes;
        status.processes = processes;
        status.ready = ready;
    });
}

/// What the task keeps between requests.
struct State {
    revision: Revision,
    api_changes: Arc<Vec<serde_json::Value>>,
    /// The config files' document the API changes apply to, when known (not after adopting a
    /// saved revision whose files changed since): the changes are then recorded as the
    /// difference between it and the running document, which stays as small as the document
    /// however many changes are made. Unknown: each change's operations are appended.
    files: Option<Arc<serde_json::Value>>,
}

async fn handle_apply<B: Backend>(
    reconciler: &mut Reconciler<B>,
    state: &mut State,
    request: Request,
    validator: &Validator,
    state_file: &std::path::Path,
) -> Result<Outcome, RequestError> {
    let current = &state.revision;
    let matches = |tag: &str| tag.split(',').any(|t| t.trim() == "*" || t.trim() == current.etag);
    if let Some(expected) = &request.preconditions.if_match
        && !matches(expected)
    {
        return Err(RequestError::PreconditionFailed { current: current.etag.clone(), expected: expected.clone() });
    }
    if let Some(unexpected) = &request.preconditions.if_none_match
        && matches(unexpected)
    {
        let expected = format!("not {unexpected}");
        return Err(RequestError::PreconditionFailed { current: current.etag.clone(), expected });
    }
    let (document, api_changes, files) = match request.change {
        Change::Edit(operations) => {
            let mut document = current.document.clone();
            patch::apply_patch(&mut document, &operations).map_err(RequestError::Patch)?;
            let recorded = match &state.files {
                Some(files) => patch::diff(files, &document),
                None => {
                    let mut recorded = state.api_changes.as_ref().clone();
                    recorded.extend(operations.as_array().into_iter().flatten().cloned());
                    recorded
                }
            };
            (document, recorded, state.files.clone())
        }
        Change::Files { document: files, discard_api_changes } => {
            let mut document = files.clone();
            if !discard_api_changes {
                let recorded = serde_json::Value::Array(state.api_changes.as_ref().clone());
                patch::apply_patch(&mut document, &recorded).map_err(RequestError::StaleApiChange)?;
            }
            (document.clone(), patch::diff(&files, &document), Some(Arc::new(files)))
        }
    };
    let (config, notes) = validator(&document).map_err(RequestError::Invalid)?;
    let notes: Vec<Note> =
        notes.notes().map(|note| Note { pointer: note.pointer.to_string(), message: note.message.clone() }).collect();
    for note in &notes {
        tracing::warn!("note on the configuration from {}: {}: {}", request.origin, note.pointer, note.message);
    }
    let etag = store::etag(&document);
    let unchanged = etag == current.etag && !request.force;
    if request.dry_run || unchanged {
        let plan = plan(reconciler.dialect(), &current.config, &config);
        let (generation, etag) = (current.generation, current.etag.clone());
        return Ok(Outcome { generation, etag, unchanged: true, plan, steps: Vec::new(), phases: Vec::new(), notes });
    }
    tracing::info!("applying a new configuration ({})", request.origin);
    reconciler.clear_failures();
    let result: Result<Applied, ApplyError> = reconciler.apply(config.clone()).await;
    match result {
        Ok(applied) => {
            let generation = if etag == current.etag { current.generation } else { current.generation + 1 };
            state.revision = Revision::new(generation, document, config);
            state.api_changes = Arc::new(api_changes);
            state.files = files;
            if let Err(error) = store::save(state_file, &state.revision, &state.api_changes) {
                tracing::error!("the new configuration is applied but could not be saved: {error}");
            }
            tracing::info!("configuration generation {generation} applied ({} steps)", applied.steps.len());
            Ok(Outcome {
                generation,
                etag: state.revision.etag.clone(),
                unchanged: false,
                plan: applied.plan,
                steps: applied.steps,
                phases: applied.phases,
                notes,
            })
        }
        Err(error) => {
            tracing::error!("the configuration from {} was not applied: {error}", request.origin);
            Err(error.into())
        }
    }
}
