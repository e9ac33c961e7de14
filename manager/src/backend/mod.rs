//! Process orchestration: the [`Backend`] trait the manager drives, its supervisord
//! implementation ([`supervisord::Supervisord`]) and an in-memory fake ([`fake::FakeBackend`]) for
//! unit tests of the manager's logic.
//!
//! Ownership: a backend is owned by exactly one task (the reconcile task); every operation takes
//! `&mut self`, so two half-done operations can never interleave on the same backend. Operations
//! are cancellation-safe only in the sense that dropping a future leaves the processes in *some*
//! supervisor state, which the next [`Backend::processes`] reports: callers that must not abort a
//! half-done apply keep the future running in the owning task (design rule 10).
//!
//! Where the abstraction is still shaped by supervisord: process names are supervisord program
//! names ([`Program::name`]), [`ProcessState`] mirrors supervisord's states (`Backoff` has no
//! meaning elsewhere), and [`Backend::prepare`] starts a supervisor process that outlives
//! individual workers.

pub mod fake;
pub mod supervisord;
pub mod xmlrpc;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// A process the manager runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Program {
    /// kresd worker number `n` (from 0).
    Worker(u32),
    /// A kresd started with a candidate configuration, to see whether kresd accepts it before
    /// the workers get it.
    Canary,
    /// The cache garbage collector (`kres-cache-gc`).
    CacheGc,
}

impl Program {
    /// The supervisord program name (also its namespec: each program is its own group).
    pub fn name(self) -> String {
        match self {
            Program::Worker(n) => format!("kresd{n}"),
            Program::Canary => "canary".to_owned(),
            Program::CacheGc => "cache-gc".to_owned(),
        }
    }

    /// The inverse of [`Program::name`]; accepts `group:name` namespecs too.
    pub fn from_name(name: &str) -> Option<Program> {
        let name = name.rsplit(':').next().unwrap_or(name);
        match name {
            "canary" => Some(Program::Canary),
            "cache-gc" => Some(Program::CacheGc),
            _ => {
                let n = name.strip_prefix("kresd")?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
                    return None;
                }
                n.parse().ok().map(Program::Worker)
            }
        }
    }
}

impl std::fmt::Display for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The lifecycle of one process, as the supervisor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Never started, or stopped on request.
    Stopped,
    /// Spawned, not yet ready (for kresd: no `READY=1` yet).
    Starting,
    /// Ready and running.
    Running { pid: u32 },
    /// Exited before it was ready; the supervisor will try again.
    Backoff,
    /// Asked to stop, not yet exited.
    Stopping,
    /// Exited on its own after it was running. `status` is the exit status, -1 after a signal.
    Exited { status: i32 },
    /// Gave up: could not be started (or not made ready); `reason` says why.
    Fatal { reason: String },
    /// The supervisor does not know (a supervisord internal error).
    Unknown,
}

impl ProcessState {
    /// The pid of a running process.
    pub fn pid(&self) -> Option<u32> {
        match self {
            ProcessState::Running { pid } => Some(*pid),
            _ => None,
        }
    }

    /// Whether the process is running or on its way there (a start would be refused).
    pub fn is_active(&self) -> bool {
        matches!(self, ProcessState::Starting | ProcessState::Running { .. } | ProcessState::Backoff)
    }
}

/// One process and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub program: Program,
    pub state: ProcessState,
}

/// The cache garbage collector's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheGc {
    /// The cache directory (`-c`).
    pub cache_dir: PathBuf,
    /// Interval between runs (`-d`, in milliseconds).
    pub interval: Duration,
    /// Further arguments, passed as they are.
    pub args: Vec<String>,
}

/// Everything the backend needs to run the processes.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Runtime directory: supervisord's config, pid file and sockets. Must exist.
    pub rundir: PathBuf,
    /// kresd's own run directory (its working directory, which it must be able to write to: the
    /// workers' user owns it). Must exist.
    pub kresd_dir: PathBuf,
    /// The kresd binary (`/usr/sbin/kresd`).
    pub kresd: PathBuf,
    /// The Lua config of each worker, in worker order (worker `n` gets `worker_configs[n]`).
    pub worker_configs: Vec<PathBuf>,
    /// The Lua config of the canary worker; no canary program when `None`.
    pub canary_config: Option<PathBuf>,
    /// The cache GC binary (`/usr/sbin/kres-cache-gc`).
    pub cache_gc_binary: PathBuf,
    /// No cache GC program when `None`.
    pub cache_gc: Option<CacheGc>,
    /// How long a kresd may take from spawn to `READY=1` before it is killed (FATAL).
    pub ready_timeout: Duration,
    /// How long a stopping process gets before SIGKILL.
    pub stop_timeout: Duration,
    /// Where supervisord's merged log stream (every child's output) goes.
    pub output: Output,
    /// The manager itself as a supervised program (restarted when it crashes, while the workers
    /// keep running); `None` when the manager owns the supervisor as its child (tests, benchmarks).
    pub manager: Option<ManagerProgram>,
}

impl Setup {
    /// The programs this setup describes, in [`Program`] order (as [`Backend::processes`] lists
    /// them).
    pub fn programs(&self) -> Vec<Program> {
        let workers = (0..self.worker_configs.len() as u32).map(Program::Worker);
        let canary = self.canary_config.as_ref().map(|_| Program::Canary);
        let gc = self.cache_gc.as_ref().map(|_| Program::CacheGc);
        let mut programs: Vec<Program> = workers.chain(canary).chain(gc).collect();
        programs.sort();
        programs
    }
}

/// The manager as a program of the supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerProgram {
    /// Its command line (the executable first).
    pub command: Vec<std::ffi::OsString>,
    /// How long it may take from spawn to `READY=1` (every worker started and answering).
    pub ready_timeout: Duration,
}

/// Destination of the supervisor's merged output stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// The manager's own stdout (the service's one log stream).
    Inherit,
    /// Appended to a file.
    File(PathBuf),
    /// Nowhere (the last lines of every process are still available through [`Backend::tail`]).
    Discard,
}

/// What failed in the backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the backend is not prepared (call prepare first)")]
    NotPrepared,
    #[error("the backend is already prepared")]
    AlreadyPrepared,
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    #[error("cannot render the supervisor's configuration: {0:#}")]
    Render(#[source] minijinja::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the supervisor {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the supervisor exited ({status})")]
    SupervisorExited { status: String },
    #[error("the supervisor did not answer within {after:?} (waiting for it to come up)")]
    SupervisorNotUp { after: Duration },
    #[error("unknown process {name}")]
    UnknownProcess { name: String },
    #[error("{program} is already started")]
    AlreadyStarted { program: Program },
    #[error("{program} is not running")]
    NotRunning { program: Program },
    /// The process could not be started or did not become ready; `output` holds its last output
    /// lines (`name[pid]: text`), oldest first.
    #[error("{program} failed to start: {reason}{}", format_output(.output))]
    StartFailed { program: Program, reason: String, output: Vec<String> },
    #[error("{program} did not become ready within {after:?} (state {state:?})")]
    NotReady { program: Program, after: Duration, state: ProcessState },
    #[error("{method}: no answer within {after:?}")]
    Timeout { method: String, after: Duration },
    #[error("{method}: {source}")]
    Transport {
        method: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{method}: unexpected answer: {detail}")]
    Protocol { method: String, detail: String },
    #[error("{method}: fault {code}: {message}")]
    Fault { method: String, code: i32, message: String },
}

fn format_output(lines: &[String]) -> String {
    if lines.is_empty() { "; no output".to_owned() } else { format!("; last output:\n{}", lines.join("\n")) }
}

/// A process supervisor, as the manager uses it. Implemented by [`supervisord::Supervisord`]
/// and [`fake::FakeBackend`].
///
/// Every operation that starts a process answers only when the process is ready (for kresd:
/// `READY=1` arrived) or has failed, with [`BackendError::StartFailed`] carrying its last output.
pub trait Backend: Send + Sync {
    /// Writes the supervisor's configuration and starts the supervisor; no process is started.
    fn prepare(&mut self, setup: &Setup) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Starts `program` and waits until it is ready; returns its pid.
    fn start(&mut self, program: Program) -> impl Future<Output = Result<u32, BackendError>> + Send;

    /// Starts several programs and waits until all are ready; returns their pids in order, or
    /// the first failure (programs already started stay running). Supervisors that can start
    /// processes concurrently override this; the default starts them one after another.
    fn start_all(&mut self, programs: &[Program]) -> impl Future<Output = Result<Vec<u32>, BackendError>> + Send {
        async move {
            let mut pids = Vec::with_capacity(programs.len());
            for program in programs {
                pids.push(self.start(*program).await?);
            }
            Ok(pids)
        }
    }

    /// Stops `program` and waits until it has exited.
    fn stop(&mut self, program: Program) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Stops `program` if it is active, then starts it and waits until it is ready.
    fn restart(&mut self, program: Program) -> impl Future<Output = Result<u32, BackendError>> + Send {
        async move {
            match self.stop(program).await {
                Ok(()) | Err(BackendError::NotRunning { .. }) => {}
                Err(e) => return Err(e),
            }
            self.start(program).await
        }
    }

    /// Changes the set of programs to the one `setup` describes (e.g. another number of
    /// workers) without touching the processes that stay: new programs are added stopped,
    /// removed ones are stopped and removed.
    fn reconfigure(&mut self, setup: &Setup) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Every configured process and its state, in [`Program`] order.
    fn processes(&mut self) -> impl Future<Output = Result<Vec<ProcessInfo>, BackendError>> + Send;

    /// Waits until `program` is running and ready (e.g. after the supervisor restarted a crashed
    /// worker); fails at once when it ends FATAL, and with [`BackendError::NotReady`] after
    /// `timeout`.
    fn wait_ready(
        &mut self,
        program: Program,
        timeout: Duration,
    ) -> impl Future<Output = Result<u32, BackendError>> + Send;

    /// The last `lines` lines `program` wrote (stdout and stderr), oldest first.
    fn tail(&mut self, program: Program, lines: u32) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send;

    /// Stops every process and the supervisor itself.
    fn shutdown(&mut self) -> impl Future<Output = Result<(), BackendError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_names_round_trip() {
        for program in [Program::Worker(0), Program::Worker(17), Program::Canary, Program::CacheGc] {
            assert_eq!(Program::from_name(&program.name()), Some(program));
        }
        assert_eq!(Program::from_name("kresd3:kresd3"), Some(Program::Worker(3)));
        for bad in ["kresd", "kresd01", "kresd-1", "kresdx", "manager", ""] {
            assert_eq!(Program::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn start_failures_show_the_output() {
        let err = BackendError::StartFailed {
            program: Program::Canary,
            reason: "exited before READY=1".into(),
            output: vec!["canary[1]: error".into()],
        };
        assert_eq!(err.to_string(), "canary failed to start: exited before READY=1; last output:\ncanary[1]: error");
    }
}
