//! An in-memory [`Backend`] for unit tests of the manager's logic: no processes, deterministic
//! pids, and hooks to make a start fail or a process crash.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{Backend, BackendError, ProcessInfo, ProcessState, Program, Setup};

/// The fake. Programs exist once [`Backend::prepare`] has run (workers per
/// `setup.worker_configs`, the canary and the cache GC when configured).
#[derive(Debug, Default)]
pub struct FakeBackend {
    processes: BTreeMap<Program, ProcessState>,
    output: HashMap<Program, Vec<String>>,
    refuse: HashMap<Program, Vec<String>>,
    next_pid: u32,
    prepared: bool,
    shut_down: bool,
    /// Every operation, in order (`start kresd0`, ...), for tests of the manager's logic.
    pub log: Vec<String>,
}

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend { next_pid: 1000, ..Default::default() }
    }

    /// Makes every later start of `program` fail (as kresd refusing its config does), with
    /// `output` as its last output lines; the process ends FATAL.
    pub fn refuse_config(&mut self, program: Program, output: &[&str]) {
        self.refuse.insert(program, output.iter().map(|s| (*s).to_owned()).collect());
    }

    /// Undoes [`FakeBackend::refuse_config`].
    pub fn accept_config(&mut self, program: Program) {
        self.refuse.remove(&program);
    }

    /// Simulates a running process exiting on its own with `status`. With `autorestart` (as the
    /// workers are configured) the supervisor respawns it: it is `Starting` until
    /// [`Backend::wait_ready`] sees it ready.
    pub fn crash(&mut self, program: Program, status: i32, autorestart: bool) {
        let state = self.processes.get_mut(&program).expect("crash of an unknown program");
        assert!(matches!(state, ProcessState::Running { .. }), "crash of {program} in state {state:?}");
        *state = if autorestart { ProcessState::Starting } else { ProcessState::Exited { status } };
    }

    /// The state of one program (panics when unknown).
    pub fn state(&self, program: Program) -> &ProcessState {
        &self.processes[&program]
    }

    fn check(&self, program: Program) -> Result<(), BackendError> {
        if self.shut_down {
            return Err(BackendError::ShuttingDown);
        }
        if !self.prepared {
            return Err(BackendError::NotPrepared);
        }
        if !self.processes.contains_key(&program) {
            return Err(BackendError::UnknownProcess { name: program.name() });
        }
        Ok(())
    }

    fn spawn(&mut self, program: Program) -> Result<u32, BackendError> {
        self.next_pid += 1;
        let pid = self.next_pid;
        if let Some(output) = self.refuse.get(&program) {
            let output: Vec<String> = output.iter().map(|line| format!("{program}[{pid}]: {line}")).collect();
            self.output.entry(program).or_default().extend(output.iter().cloned());
            let reason = "exited before READY=1 (exit status 1)".to_owned();
            self.processes.insert(program, ProcessState::Fatal { reason: reason.clone() });
            return Err(BackendError::StartFailed { program, reason, output });
        }
        self.output.entry(program).or_default().push(format!("{program}[{pid}]: ready"));
        self.processes.insert(program, ProcessState::Running { pid });
        Ok(pid)
    }
}

impl Backend for FakeBackend {
    async fn prepare(&mut self, setup: &Setup) -> Result<(), BackendError> {
        self.log.push("prepare".into());
        if self.shut_down {
            return Err(BackendError::ShuttingDown);
        }
        if self.prepared {
            return Err(BackendError::AlreadyPrepared);
        }
        for program in setup.programs() {
            self.processes.insert(program, ProcessState::Stopped);
        }
        self.prepared = true;
        Ok(())
    }

    async fn reconfigure(&mut self, setup: &Setup) -> Result<(), BackendError> {
        self.log.push(format!("reconfigure {} workers", setup.worker_configs.len()));
        if !self.prepared {
            return Err(BackendError::NotPrepared);
        }
        let wanted = setup.programs();
        self.processes.retain(|program, _| wanted.contains(program));
        for program in wanted {
            self.processes.entry(program).or_insert(ProcessState::Stopped);
        }
        Ok(())
    }

    async fn start(&mut self, program: Program) -> Result<u32, BackendError> {
        self.log.push(format!("start {program}"));
        self.check(program)?;
        match &self.processes[&program] {
            ProcessState::Starting | ProcessState::Running { .. } | ProcessState::Backoff => {
                Err(BackendError::AlreadyStarted { program })
            }
            ProcessState::Stopping | ProcessState::Unknown => Err(BackendError::Fault {
                method: "start".into(),
                code: 30,
                message: format!("{program} is still stopping"),
            }),
            ProcessState::Stopped | ProcessState::Exited { .. } | ProcessState::Fatal { .. } => self.spawn(program),
        }
    }

    async fn stop(&mut self, program: Program) -> Result<(), BackendError> {
        self.log.push(format!("stop {program}"));
        self.check(program)?;
        let state = self.processes.get_mut(&program).expect("checked");
        if !state.is_active() {
            return Err(BackendError::NotRunning { program });
        }
        *state = ProcessState::Stopped;
        Ok(())
    }

    async fn processes(&mut self) -> Result<Vec<ProcessInfo>, BackendError> {
        if !self.prepared {
            return Err(BackendError::NotPrepared);
        }
        Ok(self
            .processes
            .iter()
            .map(|(program, state)| ProcessInfo { program: *program, state: state.clone() })
            .collect())
    }

    async fn wait_ready(&mut self, program: Program, timeout: Duration) -> Result<u32, BackendError> {
        self.log.push(format!("wait_ready {program}"));
        self.check(program)?;
        match self.processes[&program].clone() {
            ProcessState::Running { pid } => Ok(pid),
            // The supervisor's respawn after a crash: ready unless the config is refused.
            ProcessState::Starting => self.spawn(program),
            ProcessState::Fatal { reason } => {
                Err(BackendError::StartFailed { program, reason, output: self.output[&program].clone() })
            }
            state => Err(BackendError::NotReady { program, after: timeout, state }),
        }
    }

    async fn tail(&mut self, program: Program, lines: u32) -> Result<Vec<String>, BackendError> {
        self.check(program)?;
        let all = self.output.get(&program).map(Vec::as_slice).unwrap_or_default();
        Ok(all[all.len().saturating_sub(lines as usize)..].to_vec())
    }

    async fn shutdown(&mut self) -> Result<(), BackendError> {
        self.log.push("shutdown".into());
        if !self.prepared {
            return Err(BackendError::NotPrepared);
        }
        for state in self.processes.values_mut() {
            if state.is_active() {
                *state = ProcessState::Stopped;
            }
        }
        self.shut_down = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Output;
    use super::*;

    fn setup(workers: usize) -> Setup {
        Setup {
            rundir: "/run/test".into(),
            kresd_dir: "/run/test".into(),
            kresd: "/usr/sbin/kresd".into(),
            worker_configs: (0..workers).map(|n| format!("/run/test/worker{n}.lua").into()).collect(),
            canary_config: Some("/run/test/canary.lua".into()),
            cache_gc_binary: "/usr/sbin/kres-cache-gc".into(),
            cache_gc: Some(super::super::CacheGc {
                cache_dir: "/var/cache/kres".into(),
                interval: Duration::from_secs(1),
                args: vec![],
            }),
            ready_timeout: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(5),
            output: Output::Discard,
            manager: None,
        }
    }

    async fn prepared(workers: usize) -> FakeBackend {
        let mut fake = FakeBackend::new();
        fake.prepare(&setup(workers)).await.expect("prepare");
        fake
    }

    const W0: Program = Program::Worker(0);
    const T: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn start_all_starts_each_in_order_and_stops_at_the_first_failure() {
        let mut fake = prepared(3).await;
        let pids = fake.start_all(&[Program::Worker(0), Program::Worker(1)]).await.expect("both start");
        assert_eq!(pids.len(), 2);
        assert_ne!(pids[0], pids[1]);
        let err = fake.start_all(&[Program::Worker(2), Program::Worker(0)]).await.expect_err("worker 0 runs");
        assert!(matches!(err, BackendError::AlreadyStarted { .. }), "{err}");
        // The one before the failure was started.
        assert!(matches!(fake.start(Program::Worker(2)).await, Err(BackendError::AlreadyStarted { .. })));
    }

    #[tokio::test]
    async fn nothing_works_before_prepare() {
        let mut fake = FakeBackend::new();
        assert!(matches!(fake.start(W0).await, Err(BackendError::NotPrepared)));
        assert!(matches!(fake.processes().await, Err(BackendError::NotPrepared)));
        assert!(matches!(fake.shutdown().await, Err(BackendError::NotPrepared)));
    }

    #[tokio::test]
    async fn prepare_creates_stopped_programs_once() {
        let mut fake = prepared(2).await;
        let list = fake.processes().await.unwrap();
        let programs: Vec<_> = list.iter().map(|p| p.program).collect();
        assert_eq!(programs, [Program::Worker(0), Program::Worker(1), Program::Canary, Program::CacheGc]);
        assert!(list.iter().all(|p| p.state == ProcessState::Stopped));
        assert!(matches!(fake.prepare(&setup(2)).await, Err(BackendError::AlreadyPrepared)));
    }

    #[tokio::test]
    async fn stopped_to_running_to_stopped() {
        let mut fake = prepared(1).await;
        let pid = fake.start(W0).await.unwrap();
        assert_eq!(fake.state(W0), &ProcessState::Running { pid });
        fake.stop(W0).await.unwrap();
        assert_eq!(fake.state(W0), &ProcessState::Stopped);
    }

    #[tokio::test]
    async fn starting_twice_and_stopping_twice_are_refused() {
        let mut fake = prepared(1).await;
        fake.start(W0).await.unwrap();
        assert!(matches!(fake.start(W0).await, Err(BackendError::AlreadyStarted { program: W0 })));
        fake.stop(W0).await.unwrap();
        assert!(matches!(fake.stop(W0).await, Err(BackendError::NotRunning { program: W0 })));
    }

    #[tokio::test]
    async fn unknown_programs_are_refused() {
        let mut fake = prepared(1).await;
        let err = fake.start(Program::Worker(5)).await.unwrap_err();
        assert!(matches!(err, BackendError::UnknownProcess { ref name } if name == "kresd5"), "{err}");
    }

    #[tokio::test]
    async fn restart_gives_a_new_pid_from_running_or_stopped() {
        let mut fake = prepared(1).await;
        let first = fake.start(W0).await.unwrap();
        let second = fake.restart(W0).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(fake.state(W0), &ProcessState::Running { pid: second });
        fake.stop(W0).await.unwrap();
        let third = fake.restart(W0).await.unwrap();
        assert_eq!(fake.state(W0), &ProcessState::Running { pid: third });
        assert_eq!(fake.log[fake.log.len() - 2..], ["stop kresd0", "start kresd0"]);
    }

    #[tokio::test]
    async fn a_refused_config_ends_fatal_with_the_output_then_recovers() {
        let mut fake = prepared(1).await;
        fake.refuse_config(Program::Canary, &["[system] error while loading config"]);
        let err = fake.start(Program::Canary).await.unwrap_err();
        let BackendError::StartFailed { output, .. } = &err else { panic!("{err}") };
        assert!(output[0].ends_with(": [system] error while loading config"), "{output:?}");
        assert!(matches!(fake.state(Program::Canary), ProcessState::Fatal { .. }));
        assert!(matches!(fake.stop(Program::Canary).await, Err(BackendError::NotRunning { .. })));
        assert_eq!(fake.tail(Program::Canary, 5).await.unwrap(), *output);
        // FATAL → Running once the config is fixed.
        fake.accept_config(Program::Canary);
        let pid = fake.start(Program::Canary).await.unwrap();
        assert_eq!(fake.state(Program::Canary), &ProcessState::Running { pid });
    }

    #[tokio::test]
    async fn a_crash_without_autorestart_is_exited_and_can_be_started() {
        let mut fake = prepared(1).await;
        fake.start(Program::CacheGc).await.unwrap();
        fake.crash(Program::CacheGc, 3, false);
        assert_eq!(fake.state(Program::CacheGc), &ProcessState::Exited { status: 3 });
        assert!(matches!(fake.stop(Program::CacheGc).await, Err(BackendError::NotRunning { .. })));
        let pid = fake.start(Program::CacheGc).await.unwrap();
        assert_eq!(fake.state(Program::CacheGc), &ProcessState::Running { pid });
    }

    #[tokio::test]
    async fn a_crash_with_autorestart_is_starting_until_ready() {
        let mut fake = prepared(1).await;
        let old = fake.start(W0).await.unwrap();
        fake.crash(W0, -1, true);
        assert_eq!(fake.state(W0), &ProcessState::Starting);
        assert!(matches!(fake.start(W0).await, Err(BackendError::AlreadyStarted { .. })));
        let new = fake.wait_ready(W0, T).await.unwrap();
        assert_ne!(old, new);
        assert_eq!(fake.wait_ready(W0, T).await.unwrap(), new);
    }

    #[tokio::test]
    async fn a_respawn_with_a_refused_config_ends_fatal() {
        let mut fake = prepared(1).await;
        fake.start(W0).await.unwrap();
        fake.refuse_config(W0, &["bad"]);
        fake.crash(W0, 1, true);
        assert!(matches!(fake.wait_ready(W0, T).await, Err(BackendError::StartFailed { .. })));
        assert!(matches!(fake.wait_ready(W0, T).await, Err(BackendError::StartFailed { .. })));
    }

    #[tokio::test]
    async fn waiting_for_a_stopped_process_fails() {
        let mut fake = prepared(1).await;
        let err = fake.wait_ready(W0, T).await.unwrap_err();
        assert!(matches!(err, BackendError::NotReady { state: ProcessState::Stopped, .. }), "{err}");
    }

    #[tokio::test]
    async fn shutdown_stops_everything_and_ends_the_backend() {
        let mut fake = prepared(2).await;
        fake.start(W0).await.unwrap();
        fake.start(Program::Worker(1)).await.unwrap();
        fake.shutdown().await.unwrap();
        assert!(fake.processes().await.unwrap().iter().all(|p| p.state == ProcessState::Stopped));
        assert!(matches!(fake.start(W0).await, Err(BackendError::ShuttingDown)));
    }
}
