//! Executing plans: the [`Reconciler`] owns the backend and the workers' Lua files, and brings
//! the processes from the running config to a new one.
//!
//! - **Hot** plans: the new Lua is written first (a worker restarted meanwhile gets it), then the
//!   plan's chunks run on every worker over its control socket; a failure runs the reverse plan on
//!   the workers already changed and restores the old files.
//! - **Rolling** plans: the canary (one extra kresd with the new config) must become READY, or the
//!   change is rejected with kresd's own output and nothing else was touched. The canary then
//!   serves beside the workers while each worker in turn closes its listeners (no new queries
//!   reach it; SO_REUSEPORT spreads them over the others), finishes its queries, exits and is
//!   started again with the new config; only when it is READY does the next one close. Last, the
//!   canary closes, drains and exits. A failure rolls the changed workers back the same way.
//! - Worker-count changes start or stop only the difference; cache-GC changes restart the GC.
//!
//! Cancellation: every method runs to completion in the reconcile task ([`super::task`]); callers
//! wait for a reply and may go away without aborting an apply half-way.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BackendError, ManagerProgram, ProcessState, Program};
use crate::config::Config;
use crate::kresd::Dialect;
use crate::kresd::control;
use crate::kresd::render::{self, RenderError, WorkerContext};
use crate::layout::{Binaries, Layout, Timeouts};
use crate::reconcile::drain::{self, Drained};
use crate::reconcile::plan::{Change, Plan, plan};

/// A crash loop: this many restarts of one process within [`CRASH_WINDOW`] and it is given up.
pub const CRASH_LIMIT: usize = 5;
pub const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// A process given up is tried again after this long (the cause may have gone: a cache made
/// writable again); a new config or a reload tries it at once.
pub const RETRY_GIVEN_UP: Duration = Duration::from_secs(60);

/// Why a change was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Each change's action says "needs a service restart: <why>".
    #[error("{}", each_pointer_and_action(.changes))]
    RestartRequired { changes: Vec<Change> },
    /// kresd refused the new config: the canary did not become READY.
    #[error("kresd refused the new configuration ({reason}){}", output_text(.output))]
    Rejected { reason: String, output: Vec<String> },
    /// Something failed half-way; what was changed has been rolled back.
    #[error("{step} failed: {message}; {}", if *.rolled_back { "every worker runs the previous configuration again" } else { "rolling back failed too, see the log" })]
    Failed { step: String, message: String, rolled_back: bool },
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the process supervisor failed: {0}")]
    Backend(#[from] BackendError),
}

fn each_pointer_and_action(changes: &[Change]) -> String {
    changes.iter().map(|c| format!("{}: {}", c.pointer, c.action)).collect::<Vec<_>>().join("; ")
}

fn output_text(output: &[String]) -> String {
    if output.is_empty() { String::new() } else { format!(":\n{}", output.join("\n")) }
}

/// What an apply did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Applied {
    pub plan: Plan,
    /// Each step, in order, for the caller and the log.
    pub steps: Vec<String>,
    /// Time per phase (`canary`, `hot`, `rolling`, `scale`, `cache-gc`, `retire-canary`).
    pub phases: Vec<(String, Duration)>,
}

/// The manager's view of one process.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProcessStatus {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub pid: Option<u32>,
    pub state: String,
    /// Restarts the manager saw (crashes repaired by the supervisor or by us).
    pub restarts: u64,
    /// Given up after a crash loop.
    pub failed: bool,
    /// Unix time of the current process's start, when known to this manager.
    pub started: Option<u64>,
}

/// Owner of the backend and of the workers' files.
#[derive(Debug)]
pub struct Reconciler<B> {
    backend: B,
    layout: Layout,
    binaries: Binaries,
    /// The Lua the workers' kresd reads.
    dialect: Dialect,
    timeouts: Timeouts,
    manager: Option<ManagerProgram>,
    /// The config the workers run; `None` before the first start.
    running: Option<Arc<Config>>,
    /// Pids seen last, to notice restarts.
    pids: BTreeMap<Program, u32>,
    started: BTreeMap<Program, u64>,
    restarts: BTreeMap<Program, (u64, VecDeque<Instant>)>,
    failed: BTreeMap<Program, String>,
    /// When each process in `failed` was given up.
    given_up: BTreeMap<Program, Instant>,
    retry_given_up: Duration,
}

impl<B: Backend> Reconciler<B> {
    pub fn new(
        backend: B,
        layout: Layout,
        binaries: Binaries,
        dialect: Dialect,
        timeouts: Timeouts,
        manager: Option<ManagerProgram>,
    ) -> Reconciler<B> {
        Reconciler {
            backend,
            layout,
            binaries,
            dialect,
            timeouts,
            manager,
            running: None,
            pids: BTreeMap::new(),
            started: BTreeMap::new(),
            restarts: BTreeMap::new(),
            failed: BTreeMap::new(),
            given_up: BTreeMap::new(),
            retry_given_up: RETRY_GIVEN_UP,
        }
    }

    /// The Lua the workers' kresd reads.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The config the workers run.
    pub fn running(&self) -> Option<&Arc<Config>> {
        self.running.as_ref()
    }

    pub fn backend(&mut self) -> &mut B {
        &mut self.backend
    }

    fn workers(config: &Config) -> impl Iterator<Item = Program> + use<B> {
        (0..u32::from(config.workers)).map(Program::Worker)
    }

    fn setup(&self, config: &Config) -> crate::backend::Setup {
        self.layout.setup(config, &self.binaries, &self.timeouts, self.manager.clone())
    }

    /// Renders `program`'s Lua for `config`.
    fn lua(&self, program: Program, config: &Config) -> Result<String, RenderError> {
        let id = match program {
            Program::Worker(n) => n,
            _ => u32::from(config.workers),
        };
        let worker = WorkerContext { id, control_socket: self.layout.control(program) };
        render::render_worker(self.dialect, config, &worker)
    }

    /// Writes `program`'s Lua for `config` (atomically: a starting kresd never reads half a file).
    fn write_lua(&self, program: Program, config: &Config) -> Result<(), ApplyError> {
        let path = self.layout.lua(program);
        let lua = self.lua(program, config)?;
        let temporary = path.with_extension("lua.new");
        let write = |source| ApplyError::Write { path: path.clone(), source };
        std::fs::write(&temporary, lua).map_err(write)?;
        std::fs::rename(&temporary, &path).map_err(write)
    }

    fn note_start(&mut self, program: Program, pid: u32) {
        self.pids.insert(program, pid);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.started.insert(program, now);
    }

    /// First start of the service: every worker (at once), then the cache GC (the workers
    /// create the cache it collects).
    pub async fn start(&mut self, config: Arc<Config>) -> Result<Applied, ApplyError> {
        let began = Instant::now();
        let workers: Vec<Program> = Self::workers(&config).collect();
        for program in &workers {
            self.write_lua(*program, &config)?;
        }
        self.write_lua(Program::Canary, &config)?;
        let pids = self.backend.start_all(&workers).await.map_err(|error| match error {
            BackendError::StartFailed { reason, output, .. } => ApplyError::Rejected { reason, output },
            other => ApplyError::Backend(other),
        })?;
        let mut steps = Vec::new();
        for (program, pid) in workers.iter().zip(pids) {
            self.note_start(*program, pid);
            steps.push(format!("started {program} (pid {pid})"));
        }
        let workers_done = began.elapsed();
        if config.cache.garbage_collector.enable {
            let pid = self.backend.start(Program::CacheGc).await?;
            self.note_start(Program::CacheGc, pid);
            steps.push(format!("started cache-gc (pid {pid})"));
        }
        self.running = Some(config);
        let phases =
            vec![("workers".to_owned(), workers_done), ("cache-gc".to_owned(), began.elapsed() - workers_done)];
        Ok(Applied { plan: Plan::none(self.running.as_deref()), steps, phases })
    }

    /// After a manager restart: keeps every worker that runs `config` (its Lua file is what
    /// `config` renders to) without touching it, restarts the others, starts missing ones and
    /// stops leftovers (extra workers, a canary of an interrupted apply).
    pub async fn adopt(&mut self, config: Arc<Config>) -> Result<Applied, ApplyError> {
        let began = Instant::now();
        let mut steps = Vec::new();
        let processes = self.backend.processes().await?;
        let state = |program: Program| processes.iter().find(|p| p.program == program).map(|p| p.state.clone());
        for program in Self::workers(&config) {
            let current = std::fs::read_to_string(self.layout.lua(program)).ok();
            let same = current.as_deref() == Some(self.lua(program, &config)?.as_str());
            // A worker the previous manager was draining when it died runs the right config
            // but gets no more queries (its UDP sockets steered away, its listeners maybe closed).
            let running = matches!(state(program), Some(ProcessState::Running { .. }));
            let drained = same && running && self.was_drained(program).await;
            match state(program) {
                Some(ProcessState::Running { pid }) if same && !drained => {
                    self.note_start(program, pid);
                    steps.push(format!("adopted {program} (pid {pid})"));
                }
                Some(ProcessState::Running { .. }) => {
                    let replaced = self.replace(program, &config).await?;
                    let why = if drained {
                        "it had been taken out of service by an interrupted change"
                    } else {
                        "it ran another configuration"
                    };
                    steps.push(format!("restarted {program} (pid {}; {}): {why}", replaced.pid, replaced.drained));
                }
                _ => {
                    self.write_lua(program, &config)?;
                    self.stop_quietly(program).await?;
                    let pid = self.backend.start(program).await?;
                    self.note_start(program, pid);
                    steps.push(format!("started {program} (pid {pid})"));
                }
            }
        }
        for info in &processes {
            let leftover = match info.program {
                Program::Worker(n) => n >= u32::from(config.workers),
                Program::Canary => true,
                Program::CacheGc => !config.cache.garbage_collector.enable,
            };
            if leftover && info.state.is_active() {
                self.retire(info.program).await;
                steps.push(format!("stopped {} (left over)", info.program));
            }
        }
        if config.cache.garbage_collector.enable {
            match state(Program::CacheGc) {
                Some(ProcessState::Running { pid }) => {
                    self.note_start(Program::CacheGc, pid);
                    steps.push(format!("adopted cache-gc (pid {pid})"));
                }
                _ => {
                    let pid = self.backend.start(Program::CacheGc).await?;
                    self.note_start(Program::CacheGc, pid);
                    steps.push(format!("started cache-gc (pid {pid})"));
                }
            }
        }
        self.running = Some(config);
        Ok(Applied {
            plan: Plan::none(self.running.as_deref()),
            steps,
            phases: vec![("adopt".to_owned(), began.elapsed())],
        })
    }

    /// Brings the workers from the running config to `new`.
    pub async fn apply(&mut self, new: Arc<Config>) -> Result<Applied, ApplyError> {
        let old = self.running.clone().expect("apply after start");
        let plan = plan(self.dialect, &old, &new);
        let restart: Vec<Change> = plan.restart_required().into_iter().cloned().collect();
        if !restart.is_empty() {
            return Err(ApplyError::RestartRequired { changes: restart });
        }
        let mut run = Run::new(plan);
        if run.plan.is_empty() {
            return Ok(run.finish());
        }
        if run.plan.rolling() {
            self.rolling(&old, &new, &mut run).await?;
        } else {
            self.hot(&old, &new, &mut run).await?;
        }
        if run.plan.cache_gc {
            self.restart_cache_gc(&new, &mut run).await?;
        }
        self.running = Some(new);
        Ok(run.finish())
    }

    async fn hot(&mut self, old: &Arc<Config>, new: &Arc<Config>, run: &mut Run) -> Result<(), ApplyError> {
        let keep: Vec<Program> = Self::workers(old).filter(|p| new_has(new, *p)).collect();
        for program in &keep {
            self.write_lua(*program, new)?;
        }
        let mut done = Vec::new();
        for program in &keep {
            if let Err(message) = self.run_chunks(*program, &run.plan.hot_lua).await {
                let reverse = plan(self.dialect, new, old).hot_lua;
                let mut rolled_back = true;
                for changed in &done {
                    rolled_back &= self.run_chunks(*changed, &reverse).await.is_ok();
                }
                for program in &keep {
                    rolled_back &= self.write_lua(*program, old).is_ok();
                }
                return Err(ApplyError::Failed { step: format!("hot change on {program}"), message, rolled_back });
            }
            done.push(*program);
        }
        if !run.plan.hot_lua.is_empty() {
            run.step(
                "hot",
                format!(
                    "ran {} change(s) on {} worker(s) over their control sockets",
                    run.plan.hot_lua.len(),
                    keep.len()
                ),
            );
        }
        self.scale(old, new, run).await
    }

    async fn run_chunks(&self, program: Program, chunks: &[String]) -> Result<(), String> {
        run_chunks(self.layout.control(program), chunks.to_vec(), self.timeouts.control).await
    }

    async fn rolling(&mut self, old: &Arc<Config>, new: &Arc<Config>, run: &mut Run) -> Result<(), ApplyError> {
        // The canary: kresd's verdict on the new config before any worker is touched.
        self.write_lua(Program::Canary, new)?;
        self.stop_quietly(Program::Canary).await?;
        match self.backend.start(Program::Canary).await {
            Ok(pid) => run.step("canary", format!("canary READY with the new configuration (pid {pid})")),
            Err(BackendError::StartFailed { reason, output, .. }) => {
                self.stop_quietly(Program::Canary).await?;
                return Err(ApplyError::Rejected { reason, output });
            }
            Err(other) => {
                self.stop_quietly(Program::Canary).await?;
                return Err(other.into());
            }
        }
        let keep: Vec<Program> = Self::workers(old).filter(|p| new_has(new, *p)).collect();
        let mut changed = Vec::new();
        for program in keep {
            match self.replace(program, new).await {
                Ok(Replaced { pid, drained }) => {
                    changed.push(program);
                    run.step(
                        "rolling",
                        format!("{program} restarted with the new configuration (pid {pid}; {drained})"),
                    );
                }
                Err(error) => {
                    // The failed one too: it may be stopped, or running the new config.
                    changed.push(program);
                    let rolled_back = self.roll_back(&changed, old).await;
                    self.retire(Program::Canary).await;
                    return Err(ApplyError::Failed {
                        step: format!("restart of {program}"),
                        message: error.to_string(),
                        rolled_back,
                    });
                }
            }
        }
        if let Err(error) = self.scale(old, new, run).await {
            let mut undo = Run::new(Plan::none(Some(old)));
            let scaled_back = self.scale(new, old, &mut undo).await.is_ok();
            let rolled_back = self.roll_back(&changed, old).await && scaled_back;
            self.retire(Program::Canary).await;
            let message = error.to_string();
            return Err(ApplyError::Failed { step: "changing the number of workers".into(), message, rolled_back });
        }
        self.retire(Program::Canary).await;
        run.step("retire-canary", "canary drained and stopped".into());
        Ok(())
    }

    /// Puts `changed` workers back on `old` (each replaced the same zero-loss way).
    async fn roll_back(&mut self, changed: &[Program], old: &Arc<Config>) -> bool {
        let mut ok = true;
        for program in Self::workers(old) {
            ok &= self.write_lua(program, old).is_ok();
        }
        for program in changed {
            if let Err(error) = self.replace(*program, old).await {
                tracing::error!("rolling {program} back failed: {error}");
                ok = false;
            }
        }
        ok
    }

    /// Starts workers that `new` has and `old` lacks, stops the ones it no longer has.
    async fn scale(&mut self, old: &Config, new: &Config, run: &mut Run) -> Result<(), ApplyError> {
        if old.workers == new.workers {
            return Ok(());
        }
        if new.workers > old.workers {
            self.backend.reconfigure(&self.setup(new)).await?;
            let added: Vec<Program> = (u32::from(old.workers)..u32::from(new.workers)).map(Program::Worker).collect();
            for program in &added {
                self.write_lua(*program, new)?;
            }
            let pids = self.backend.start_all(&added).await?;
            for (program, pid) in added.iter().zip(pids) {
                self.note_start(*program, pid);
                run.step("scale", format!("started {program} (pid {pid})"));
            }
        } else {
            for n in (u32::from(new.workers)..u32::from(old.workers)).rev() {
                self.retire(Program::Worker(n)).await;
                run.step("scale", format!("stopped kresd{n}"));
            }
            self.backend.reconfigure(&self.setup(new)).await?;
        }
        Ok(())
    }

    async fn restart_cache_gc(&mut self, new: &Config, run: &mut Run) -> Result<(), ApplyError> {
        self.stop_quietly(Program::CacheGc).await?;
        self.backend.reconfigure(&self.setup(new)).await?;
        if new.cache.garbage_collector.enable {
            let pid = self.backend.start(Program::CacheGc).await?;
            self.note_start(Program::CacheGc, pid);
            run.step("cache-gc", format!("cache-gc restarted with the new settings (pid {pid})"));
        } else {
            run.step("cache-gc", "cache-gc stopped".into());
        }
        Ok(())
    }

    /// Zero-loss replacement of one worker: it stops receiving queries, finishes the ones it has,
    /// exits, and is started again with `config`; answers when the new process is READY.
    async fn replace(&mut self, program: Program, config: &Config) -> Result<Replaced, ApplyError> {
        let drained = self.drain(program).await;
        self.stop_quietly(program).await?;
        self.write_lua(program, config)?;
        let pid = self.backend.start(program).await?;
        self.note_start(program, pid);
        Ok(Replaced { pid, drained })
    }

    /// Whether `program` was drained (marked by the drain's Lua) and is thus out of service; a
    /// worker that does not answer is taken as it is.
    async fn was_drained(&self, program: Program) -> bool {
        drain::was_drained(&self.layout.control(program), self.timeouts.control).await
    }

    /// Takes `program` out of service (see [`drain`]), at most the drain time.
    async fn drain(&self, program: Program) -> Drained {
        drain::drain(program, &self.layout.control(program), self.timeouts).await
    }

    /// Drains and stops `program`, logging failures (used where the outcome does not change
    /// what happens next).
    async fn retire(&mut self, program: Program) {
        if matches!(program, Program::Worker(_) | Program::Canary) {
            let drained = self.drain(program).await;
            tracing::info!("{program} {drained}");
        }
        if let Err(error) = self.stop_quietly(program).await {
            tracing::warn!("cannot stop {program}: {error}");
        }
        self.pids.remove(&program);
    }

    /// Stops `program` when it is active.
    async fn stop_quietly(&mut self, program: Program) -> Result<(), BackendError> {
        match self.backend.stop(program).await {
            Ok(()) | Err(BackendError::NotRunning { .. }) | Err(BackendError::UnknownProcess { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Crash repair, called periodically: notices processes the supervisor restarted, starts
    /// desired ones that ended (FATAL, EXITED), and gives up on a process after
    /// [`CRASH_LIMIT`] restarts within [`CRASH_WINDOW`] (the others keep serving).
    pub async fn repair(&mut self) -> Result<Vec<String>, BackendError> {
        let Some(config) = self.running.clone() else { return Ok(Vec::new()) };
        let mut events = Vec::new();
        let now = Instant::now();
        let retry = self.retry_given_up;
        let due: Vec<Program> =
            self.given_up.iter().filter(|(_, at)| now.duration_since(**at) >= retry).map(|(p, _)| *p).collect();
        for program in due {
            self.given_up.remove(&program);
            self.failed.remove(&program);
            if let Some((_, recent)) = self.restarts.get_mut(&program) {
                recent.clear();
            }
            events.push(format!("{program}: given up {} s ago; trying it again", retry.as_secs()));
        }
        let processes = self.backend.processes().await?;
        let desired = |program: Program| match program {
            Program::Worker(n) => n < u32::from(config.workers),
            Program::Canary => false,
            Program::CacheGc => config.cache.garbage_collector.enable,
        };
        for info in processes {
            let program = info.program;
            if !desired(program) || self.failed.contains_key(&program) {
                continue;
            }
            match info.state {
                ProcessState::Running { pid } if self.pids.get(&program) != Some(&pid) => {
                    let old = self.pids.get(&program).copied();
                    self.note_start(program, pid);
                    events.push(format!(
                        "{program} was restarted by the supervisor (pid {} → {pid})",
                        old.map_or("?".into(), |p| p.to_string())
                    ));
                    self.count_restart(program, &mut events).await;
                }
                ProcessState::Fatal { .. } | ProcessState::Exited { .. } | ProcessState::Stopped => {
                    let outcome = self.backend.start(program).await;
                    match outcome {
                        Ok(pid) => {
                            self.note_start(program, pid);
                            events
                                .push(format!("{program} had ended ({:?}); started it again (pid {pid})", info.state));
                        }
                        Err(error) => {
                            events.push(format!("{program} had ended and could not be started again: {error}"))
                        }
                    }
                    self.count_restart(program, &mut events).await;
                }
                _ => {}
            }
        }
        Ok(events)
    }

    async fn count_restart(&mut self, program: Program, events: &mut Vec<String>) {
        let now = Instant::now();
        let (total, recent) = self.restarts.entry(program).or_default();
        *total += 1;
        recent.push_back(now);
        while recent.front().is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW) {
            recent.pop_front();
        }
        if recent.len() >= CRASH_LIMIT {
            let reason =
                format!("{} restarts within {} s: given up (crash loop)", recent.len(), CRASH_WINDOW.as_secs());
            events.push(format!(
                "{program}: {reason}; the other workers keep serving; it is tried again in {} s, at once after a \
                 reload",
                self.retry_given_up.as_secs()
            ));
            self.failed.insert(program, reason);
            self.given_up.insert(program, now);
            let _ = self.stop_quietly(program).await;
        }
    }

    /// How long a process given up waits before it is tried again ([`RETRY_GIVEN_UP`]).
    pub fn retry_given_up_after(&mut self, delay: Duration) {
        self.retry_given_up = delay;
    }

    /// Runs `chunk` on every running worker (e.g. reloading a renewed certificate); each
    /// worker's outcome.
    pub async fn run_on_workers(&mut self, chunk: &str) -> Vec<(Program, Result<(), String>)> {
        let Some(config) = self.running.clone() else { return Vec::new() };
        let mut outcomes = Vec::new();
        for program in Self::workers(&config).filter(|p| !self.failed.contains_key(p)) {
            outcomes.push((program, self.run_chunks(program, &[chunk.to_owned()]).await));
        }
        outcomes
    }

    /// Forgets crash-loop verdicts (a reload or a new config gives every process a new chance).
    pub fn clear_failures(&mut self) {
        self.failed.clear();
        self.given_up.clear();
        self.restarts.values_mut().for_each(|(_, recent)| recent.clear());
    }

    /// Every process with the manager's view of it.
    pub async fn status(&mut self) -> Result<Vec<ProcessStatus>, BackendError> {
        let processes = self.backend.processes().await?;
        Ok(processes
            .into_iter()
            .map(|info| {
                let program = info.program;
                let kind = match program {
                    Program::Worker(_) => "kresd",
                    Program::Canary => "canary",
                    Program::CacheGc => "gc",
                };
                let (state, failed) = match self.failed.get(&program) {
                    Some(reason) => (format!("failed: {reason}"), true),
                    None => (state_name(&info.state), false),
                };
                ProcessStatus {
                    name: program.name(),
                    kind,
                    pid: info.state.pid(),
                    state,
                    restarts: self.restarts.get(&program).map_or(0, |(total, _)| *total),
                    failed,
                    started: info.state.pid().and_then(|_| self.started.get(&program).copied()),
                }
            })
            .collect())
    }

    /// Whether every desired worker is running and ready (with the reason when not).
    pub async fn ready(&mut self) -> Result<(), String> {
        let Some(config) = self.running.clone() else { return Err("the workers have not been started yet".into()) };
        let processes = self.backend.processes().await.map_err(|e| e.to_string())?;
        let mut missing = Vec::new();
        for program in Self::workers(&config) {
            match processes.iter().find(|p| p.program == program).map(|p| &p.state) {
                Some(ProcessState::Running { .. }) => {}
                Some(state) => missing.push(format!("{program} is {}", state_name(state))),
                None => missing.push(format!("{program} does not exist")),
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(missing.join(", ")) }
    }

    /// Stops every process and the supervisor.
    pub async fn shutdown(&mut self) -> Result<(), BackendError> {
        self.backend.shutdown().await
    }
}

/// Runs `chunks` on the kresd behind `socket`, stopping at the first failure.
async fn run_chunks(socket: PathBuf, chunks: Vec<String>, timeout: Duration) -> Result<(), String> {
    for chunk in &chunks {
        control::eval(&socket, chunk, timeout).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A worker replaced: its new process, and how the old one was drained.
struct Replaced {
    pid: u32,
    drained: Drained,
}

/// The plan of a start or an adoption: nothing changes in the config.
trait NoPlan {
    fn none(config: Option<&Config>) -> Plan;
}

impl NoPlan for Plan {
    fn none(config: Option<&Config>) -> Plan {
        let workers = config.map_or(0, |c| c.workers);
        Plan { changes: Vec::new(), hot_lua: Vec::new(), workers: (workers, workers), cache_gc: false }
    }
}

fn new_has(new: &Config, program: Program) -> bool {
    matches!(program, Program::Worker(n) if n < u32::from(new.workers))
}

fn state_name(state: &ProcessState) -> String {
    match state {
        ProcessState::Stopped => "stopped".into(),
        ProcessState::Starting => "starting".into(),
        ProcessState::Running { .. } => "running".into(),
        ProcessState::Backoff => "backoff".into(),
        ProcessState::Stopping => "stopping".into(),
        ProcessState::Exited { status } => format!("exited (status {status})"),
        ProcessState::Fatal { reason } => format!("fatal ({reason})"),
        ProcessState::Unknown => "unknown".into(),
    }
}

/// Steps and phase timings of one apply.
struct Run {
    plan: Plan,
    steps: Vec<String>,
    phases: Vec<(String, Duration)>,
    clock: Instant,
}

impl Run {
    fn new(plan: Plan) -> Run {
        Run { plan, steps: Vec::new(), phases: Vec::new(), clock: Instant::now() }
    }

    fn step(&mut self, phase: &str, text: String) {
        tracing::info!("{text}");
        self.steps.push(text);
        let elapsed = self.clock.elapsed();
        match self.phases.last_mut() {
            Some((name, total)) if name == phase => *total += elapsed,
            _ => self.phases.push((phase.to_owned(), elapsed)),
        }
        self.clock = Instant::now();
    }

    fn finish(self) -> Applied {
        Applied { plan: self.plan, steps: self.steps, phases: self.phases }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use schema_core::{FakeSystem, ResolveOptions};

    use super::*;
    use crate::backend::fake::FakeBackend;

    fn config(yaml: &str) -> Arc<Config> {
        let document = schema_core::yaml::parse(yaml, Some("t.yaml")).expect("parses");
        let validated = crate::config::validate(&document, &FakeSystem::default(), ResolveOptions::default());
        Arc::new(validated.expect("valid").config)
    }

    struct Fixture {
        reconciler: Reconciler<FakeBackend>,
        dir: std::path::PathBuf,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// A reconciler over the fake backend whose workers run `yaml`; the backend's log cleared.
    async fn started(yaml: &str) -> Fixture {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kres-apply-{}-{n}", std::process::id()));
        let layout = Layout::new(&dir, None);
        layout.create().expect("dirs");
        let binaries = Binaries { kresd: "/usr/sbin/kresd".into(), cache_gc: "/usr/sbin/kres-cache-gc".into() };
        let timeouts =
            Timeouts { control: Duration::from_millis(50), drain: Duration::from_millis(50), ..Timeouts::default() };
        let config = config(yaml);
        let mut backend = FakeBackend::new();
        backend.prepare(&layout.setup(&config, &binaries, &timeouts, None)).await.expect("prepare");
        let mut reconciler = Reconciler::new(backend, layout, binaries, Dialect::Kresd5, timeouts, None);
        reconciler.start(config).await.expect("start");
        reconciler.backend().log.clear();
        Fixture { reconciler, dir }
    }

    fn lua(fixture: &Fixture, name: &str) -> String {
        std::fs::read_to_string(Path::new(&fixture.dir).join("lua").join(format!("{name}.lua"))).expect("lua file")
    }

    const TWO: &str = "workers: 2\n";
    const ROLLING: &str = "workers: 2\nnetwork:\n  edns-buffer-size:\n    downstream: 1400B\n";

    #[tokio::test]
    async fn a_rolling_change_goes_canary_first_then_one_worker_at_a_time() {
        let mut fixture = started(TWO).await;
        let applied = fixture.reconciler.apply(config(ROLLING)).await.expect("applied");
        assert!(applied.plan.rolling());
        assert_eq!(
            fixture.reconciler.backend().log,
            [
                "stop canary",
                "start canary",
                "stop kresd0",
                "start kresd0",
                "stop kresd1",
                "start kresd1",
                "stop canary"
            ]
        );
        assert!(lua(&fixture, "kresd1").contains("net.bufsize(1400, 1232)"), "{}", lua(&fixture, "kresd1"));
        assert_eq!(
            fixture.reconciler.running().map(|c| c.network.edns_buffer_size.downstream),
            Some(schema_core::Size(1400))
        );
    }

    #[tokio::test]
    async fn a_config_the_canary_refuses_touches_no_worker() {
        let mut fixture = started(TWO).await;
        fixture.reconciler.backend().refuse_config(Program::Canary, &["error: bad config"]);
        let error = fixture.reconciler.apply(config(ROLLING)).await.expect_err("refused");
        match &error {
            ApplyError::Rejected { output, .. } => {
                assert!(output.len() == 1 && output[0].ends_with("]: error: bad config"), "{output:?}")
            }
            other => panic!("{other}"),
        }
        assert!(error.to_string().contains("error: bad config"), "{error}");
        assert_eq!(fixture.reconciler.backend().log, ["stop canary", "start canary", "stop canary"]);
        assert!(lua(&fixture, "kresd0").contains("net.bufsize(1232, 1232)"));
        let running = fixture.reconciler.running().expect("running");
        assert_eq!(running.network.edns_buffer_size.downstream, schema_core::Size(1232));
    }

    #[tokio::test]
    async fn a_worker_failing_half_way_is_rolled_back_with_the_ones_already_changed() {
        let mut fixture = started(TWO).await;
        fixture.reconciler.backend().refuse_config(Program::Worker(1), &["kresd1 says no"]);
        let error = fixture.reconciler.apply(config(ROLLING)).await.expect_err("failed");
        assert!(matches!(error, ApplyError::Failed { .. }), "{error}");
        let log = fixture.reconciler.backend().log.clone();
        // kresd0 was changed, kresd1 failed: both go back to the old config, the canary goes.
        assert_eq!(
            log,
            [
                "stop canary",
                "start canary",
                "stop kresd0",
                "start kresd0",
                "stop kresd1",
                "start kresd1",
                "stop kresd0",
                "start kresd0",
                "stop kresd1",
                "start kresd1",
                "stop canary"
            ]
        );
        assert!(lua(&fixture, "kresd0").contains("net.bufsize(1232, 1232)"));
        assert!(lua(&fixture, "kresd1").contains("net.bufsize(1232, 1232)"));
        assert_eq!(
            fixture.reconciler.running().map(|c| c.network.edns_buffer_size.downstream),
            Some(schema_core::Size(1232))
        );
    }

    #[tokio::test]
    async fn the_number_of_workers_changes_only_the_difference() {
        let mut fixture = started(TWO).await;
        fixture.reconciler.apply(config("workers: 4\n")).await.expect("grown");
        assert_eq!(fixture.reconciler.backend().log, ["reconfigure 4 workers", "start kresd2", "start kresd3"]);
        fixture.reconciler.backend().log.clear();
        fixture.reconciler.apply(config("workers: 1\n")).await.expect("shrunk");
        assert_eq!(
            fixture.reconciler.backend().log,
            ["stop kresd3", "stop kresd2", "stop kresd1", "reconfigure 1 workers"]
        );
    }

    #[tokio::test]
    async fn a_change_needing_a_service_restart_is_refused_before_anything_is_done() {
        let mut fixture = started(TWO).await;
        let error = fixture.reconciler.apply(config("workers: 2\nrundir: /elsewhere\n")).await.expect_err("refused");
        assert!(matches!(error, ApplyError::RestartRequired { .. }), "{error}");
        assert!(error.to_string().contains("/rundir"), "{error}");
        assert!(fixture.reconciler.backend().log.is_empty());
    }

    /// A kresd control socket at `socket` that answers `drained` to the drained check (and an
    /// empty reply to anything else).
    fn fake_drained_kresd(socket: &Path) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket).expect("bind a fake control socket");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    while matches!(stream.read_line(&mut line).await, Ok(n) if n > 0) {
                        if line.trim_end() != "__binary" {
                            let text = if line.contains("kres_manager_drained and") { "drained" } else { "" };
                            let payload = [b"\x01kres:ok\x02".as_slice(), text.as_bytes()].concat();
                            let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
                            frame.extend_from_slice(&payload);
                            if stream.get_mut().write_all(&frame).await.is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
    }

    #[tokio::test]
    async fn a_worker_drained_by_a_manager_that_died_is_replaced_not_adopted() {
        let mut fixture = started(TWO).await;
        // The previous manager died while draining kresd0 (steered away, maybe listeners closed):
        // kresd0 runs the right config, but would never get a UDP query again.
        fake_drained_kresd(&fixture.reconciler.layout.control(Program::Worker(0)));
        let applied = fixture.reconciler.adopt(config(TWO)).await.expect("adopted");
        assert!(
            applied.steps[0].starts_with("restarted kresd0") && applied.steps[0].contains("interrupted change"),
            "{:?}",
            applied.steps
        );
        assert!(applied.steps[1].starts_with("adopted kresd1"), "{:?}", applied.steps);
        assert_eq!(fixture.reconciler.backend().log, ["stop kresd0", "start kresd0"]);
    }

    #[tokio::test]
    async fn crashes_are_repaired_and_a_crash_loop_is_given_up() {
        let mut fixture = started(TWO).await;
        for round in 1..=CRASH_LIMIT {
            fixture.reconciler.backend().crash(Program::Worker(1), 1, false);
            let events = fixture.reconciler.repair().await.expect("repair");
            assert_eq!(events.len(), if round < CRASH_LIMIT { 1 } else { 2 }, "{events:?}");
        }
        let status = fixture.reconciler.status().await.expect("status");
        let kresd1 = status.iter().find(|p| p.name == "kresd1").expect("listed");
        assert!(kresd1.failed && kresd1.restarts == CRASH_LIMIT as u64, "{kresd1:?}");
        assert!(fixture.reconciler.ready().await.is_err());
        // Given up: not started again until RETRY_GIVEN_UP has passed, or a new config or a
        // forced reload clears it.
        assert!(fixture.reconciler.repair().await.expect("repair").is_empty());
        fixture.reconciler.retry_given_up_after(Duration::ZERO);
        let events = fixture.reconciler.repair().await.expect("repair");
        assert!(events[0] == "kresd1: given up 0 s ago; trying it again", "{events:?}");
        assert!(events[1].starts_with("kresd1 had ended"), "{events:?}");
        assert!(fixture.reconciler.ready().await.is_ok());
        // A second crash loop is given up again, and a reload clears it at once.
        fixture.reconciler.retry_given_up_after(RETRY_GIVEN_UP);
        for _ in 1..CRASH_LIMIT {
            fixture.reconciler.backend().crash(Program::Worker(1), 1, false);
            fixture.reconciler.repair().await.expect("repair");
        }
        assert!(fixture.reconciler.ready().await.is_err());
        assert!(fixture.reconciler.repair().await.expect("repair").is_empty());
        fixture.reconciler.clear_failures();
        assert_eq!(fixture.reconciler.repair().await.expect("repair").len(), 1);
        assert!(fixture.reconciler.ready().await.is_ok());
    }
}
