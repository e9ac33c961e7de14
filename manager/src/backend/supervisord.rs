//! The supervisord backend: renders `supervisord.conf` (template `templates/supervisord.conf.j2`),
//! runs supervisord (PyPI, with our `kres_supervisord_ext` plugin) from the project's virtualenv
//! as a child in its own process group, and drives it over XML-RPC on its unix socket
//! ([`super::xmlrpc`], the one module doing blocking I/O).
//!
//! Starts and stops go through the plugin's `kres.startProcess` / `kres.stopProcess`, which answer
//! when the process is ready (`READY=1` over sd_notify for kresd) or has exited; their faults
//! become [`BackendError`] variants, a failed start carrying the process's last output lines.
//!
//! Dropping a [`Supervisord`] that was not shut down kills supervisord and every process it
//! started (SIGKILL): nothing is left behind, even when a test fails halfway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use minijinja::Environment;

use super::xmlrpc::{CallError, Client, Value};
use super::{Backend, BackendError, Output, ProcessInfo, ProcessState, Program, Setup};

const TEMPLATE: &str = include_str!("../../../templates/supervisord.conf.j2");

/// Time allowed for one plain XML-RPC call (on top of the operation's own timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from supervisord's spawn to its first answer.
const UP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of output attached to a start failure found by polling.
const FAILURE_LINES: u32 = 20;

/// The virtualenv holding supervisord and our plugin: `$KRES_VENV`, else
/// `/opt/kres-manager/venv`.
pub fn default_venv() -> PathBuf {
    std::env::var_os("KRES_VENV").map_or_else(|| PathBuf::from("/opt/kres-manager/venv"), PathBuf::from)
}

/// Paths of the files supervisord uses inside the rundir.
#[derive(Clone, Debug)]
pub struct Paths {
    pub config: PathBuf,
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub notify_socket: PathBuf,
}

impl Paths {
    pub fn new(rundir: &Path) -> Paths {
        Paths {
            config: rundir.join("supervisord.conf"),
            socket: rundir.join("supervisord.sock"),
            pidfile: rundir.join("supervisord.pid"),
            // In a directory of its own: the socket must be writable by the workers' user (mode
            // 0666), the directory keeps everyone else out (see `Layout::create`).
            notify_socket: rundir.join("notify").join("kres-notify.sock"),
        }
    }
}

/// The supervisord backend.
#[derive(Debug)]
pub struct Supervisord {
    supervisord: PathBuf,
    running: Option<Running>,
    shut_down: bool,
}

#[derive(Debug)]
struct Running {
    /// supervisord as our child (from [`Backend::prepare`]); `None` when attached to the
    /// supervisord that runs us ([`Supervisord::attach`]).
    child: Option<tokio::process::Child>,
    pid: u32,
    client: Client,
    setup: Setup,
}

impl Supervisord {
    /// A backend running `<venv>/bin/supervisord`.
    pub fn new(venv: &Path) -> Supervisord {
        Supervisord { supervisord: venv.join("bin/supervisord"), running: None, shut_down: false }
    }

    /// A backend for the supervisord that runs the manager as one of its programs (the service's
    /// process tree): nothing is spawned, `setup` must be what supervisord.conf was rendered from.
    /// Waits up to 10 s for supervisord to answer on `setup.rundir`'s socket.
    pub async fn attach(setup: &Setup) -> Result<Supervisord, BackendError> {
        let client = Client::new(Paths::new(&setup.rundir).socket);
        let started = Instant::now();
        let pid = loop {
            match client.call("supervisor.getPID", vec![], CALL_TIMEOUT).await {
                Ok(pid) => break pid.as_i64().unwrap_or(0) as u32,
                Err(_) if started.elapsed() < UP_TIMEOUT => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(error) => return Err(call_error("supervisor.getPID", error)),
            }
        };
        let running = Running { child: None, pid, client, setup: setup.clone() };
        Ok(Supervisord { supervisord: PathBuf::new(), running: Some(running), shut_down: false })
    }

    /// supervisord's pid, once prepared.
    pub fn supervisord_pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.pid)
    }

    fn running(&self) -> Result<&Running, BackendError> {
        if self.shut_down {
            return Err(BackendError::ShuttingDown);
        }
        self.running.as_ref().ok_or(BackendError::NotPrepared)
    }

    async fn call(&self, method: &str, params: Vec<Value>, timeout: Duration) -> Result<Value, BackendError> {
        let running = self.running()?;
        running.client.call(method, params, timeout).await.map_err(|e| call_error(method, e))
    }

    async fn info(&self, program: Program) -> Result<ProcessState, BackendError> {
        let info = self.call("kres.processInfo", vec![Value::String(program.name())], CALL_TIMEOUT).await;
        let info = info.map_err(|e| named(e, program))?;
        Ok(state_of(&info))
    }
}

/// Every process of the supervisord listening on `socket` (for observers such as tests; the
/// manager itself goes through [`Backend::processes`]).
pub async fn processes_at(socket: &Path) -> Result<Vec<ProcessInfo>, BackendError> {
    list_processes(&Client::new(socket.to_owned())).await
}

async fn list_processes(client: &Client) -> Result<Vec<ProcessInfo>, BackendError> {
    let method = "kres.getAllProcessInfo";
    let all = client.call(method, vec![], CALL_TIMEOUT).await.map_err(|e| call_error(method, e))?;
    let Value::Array(all) = all else {
        return Err(BackendError::Protocol { method: method.into(), detail: format!("{all:?}") });
    };
    let mut list: Vec<ProcessInfo> = all
        .iter()
        .filter_map(|info| {
            let program = Program::from_name(info.get("namespec").and_then(Value::as_str)?)?;
            Some(ProcessInfo { program, state: state_of(info) })
        })
        .collect();
    list.sort_by_key(|p| p.program);
    Ok(list)
}

/// Renders supervisord.conf for `setup`.
pub fn render_config(setup: &Setup, paths: &Paths) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_keep_trailing_newline(true);
    env.add_template("supervisord.conf", TEMPLATE)?;
    let mut programs = Vec::new();
    let kresd = |config: &Path| {
        command(&[
            setup.kresd.as_os_str(),
            "-n".as_ref(),
            "-c".as_ref(),
            config.as_os_str(),
            setup.kresd_dir.as_os_str(),
        ])
    };
    for (n, config) in setup.worker_configs.iter().enumerate() {
        programs.push(program(Program::Worker(n as u32), kresd(config)?, 100, true));
    }
    if let Some(config) = &setup.canary_config {
        programs.push(program(Program::Canary, kresd(config)?, 150, false));
    }
    if let Some(gc) = &setup.cache_gc {
        let interval = gc.interval.as_millis().to_string();
        let mut args = vec![
            setup.cache_gc_binary.as_os_str(),
            "-c".as_ref(),
            gc.cache_dir.as_os_str(),
            "-d".as_ref(),
            interval.as_ref(),
        ];
        args.extend(gc.args.iter().map(std::ffi::OsStr::new));
        programs.push(program(Program::CacheGc, command(&args)?, 200, true));
    }
    let mut notify = vec!["kresd*".to_owned()];
    if setup.canary_config.is_some() {
        notify.push("canary".to_owned());
    }
    let manager = match &setup.manager {
        Some(manager) => {
            notify.push(format!("manager={}", manager.ready_timeout.as_secs_f64()));
            let args: Vec<&std::ffi::OsStr> = manager.command.iter().map(|arg| arg.as_os_str()).collect();
            // The manager stops last and may still be stopping workers one by one.
            let stop_timeout = (setup.stop_timeout.as_secs_f64().ceil() as u64).max(1) * 2 + 5;
            Some(minijinja::context! { command => command(&args)?, stop_timeout => stop_timeout })
        }
        None => None,
    };
    env.get_template("supervisord.conf")?.render(minijinja::context! {
        socket => ini(&paths.socket)?,
        pidfile => ini(&paths.pidfile)?,
        notify_socket => ini(&paths.notify_socket)?,
        rundir => ini(&setup.rundir)?,
        notify_programs => notify.join(" "),
        ready_timeout => setup.ready_timeout.as_secs_f64(),
        stop_timeout => setup.stop_timeout.as_secs_f64().ceil().max(1.0) as u64,
        log_target => if setup.output == Output::Discard { "none" } else { "stdout" },
        // The programs that keep the one capability port 53 (or a privileged API port) needs
        // when supervisord has it; the others (the cache GC) start without any capability.
        net_bind_programs => "kresd* canary manager",
        programs => programs,
        manager => manager,
    })
}

fn program(
    program: Program,
    command: String,
    priority: u32,
    autorestart: bool,
) -> BTreeMap<&'static str, minijinja::Value> {
    BTreeMap::from([
        ("name", program.name().into()),
        ("command", command.into()),
        ("priority", priority.into()),
        ("autorestart", if autorestart { "true" } else { "false" }.into()),
    ])
}

fn invalid(text: &str) -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("cannot be written in supervisord.conf: {text:?}"),
    )
}

/// A value for supervisord.conf: `%` doubled (supervisord expands `%(name)s`); no line breaks.
fn ini(path: &Path) -> Result<String, minijinja::Error> {
    let text = path.to_str().ok_or_else(|| invalid(&path.to_string_lossy()))?;
    if text.contains(['\n', '\r']) || text.trim() != text || text.contains(" ;") {
        return Err(invalid(text));
    }
    Ok(text.replace('%', "%%"))
}

/// A command line as supervisord splits it (`shlex.split` after `%` expansion).
fn command(args: &[&std::ffi::OsStr]) -> Result<String, minijinja::Error> {
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.to_str().ok_or_else(|| invalid(&arg.to_string_lossy()))?;
        if arg.contains(['\n', '\r']) {
            return Err(invalid(arg));
        }
        let safe = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_./:=@,+-".contains(&b));
        let quoted = if safe { arg.to_owned() } else { format!("'{}'", arg.replace('\'', "'\"'\"'")) };
        out.push(quoted.replace('%', "%%"));
    }
    Ok(out.join(" "))
}

/// Maps a failed call to a typed error (process names filled in by [`named`]).
fn call_error(method: &str, error: CallError) -> BackendError {
    let method = method.to_owned();
    match error {
        CallError::Io(source) => BackendError::Transport { method, source },
        CallError::Timeout(after) => BackendError::Timeout { method, after },
        CallError::Protocol(detail) => BackendError::Protocol { method, detail },
        CallError::Fault { code: 6, .. } => BackendError::ShuttingDown,
        CallError::Fault { code, message } => BackendError::Fault { method, code, message },
    }
}

/// Gives faults about one process their own variants.
fn named(error: BackendError, program: Program) -> BackendError {
    let BackendError::Fault { method, code, message } = error else { return error };
    match code {
        10 => BackendError::UnknownProcess { name: program.name() },
        60 => BackendError::AlreadyStarted { program },
        70 => BackendError::NotRunning { program },
        // NO_FILE, NOT_EXECUTABLE, FAILED, ABNORMAL_TERMINATION, SPAWN_ERROR from a start.
        20 | 21 | 30 | 40 | 50 if method == "kres.startProcess" => {
            let (reason, output) = split_failure(&message, program);
            BackendError::StartFailed { program, reason, output }
        }
        _ => BackendError::Fault { method, code, message },
    }
}

/// `"ABNORMAL_TERMINATION: kresd0: exited ... (exit status 1); last output:\nl1\nl2"` →
/// (`"exited ... (exit status 1)"`, `["l1", "l2"]`).
fn split_failure(message: &str, program: Program) -> (String, Vec<String>) {
    let message = match message.split_once(": ") {
        Some((code, rest)) if code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => rest,
        _ => message,
    };
    let name = program.name();
    let message = message.strip_prefix(&format!("{name}: ")).unwrap_or(message);
    if let Some((reason, lines)) = message.split_once("; last output:\n") {
        return (reason.to_owned(), lines.lines().map(str::to_owned).collect());
    }
    (message.strip_suffix("; no output").unwrap_or(message).to_owned(), Vec::new())
}

/// The state in a `kres.processInfo` struct.
fn state_of(info: &Value) -> ProcessState {
    let int = |key| info.get(key).and_then(Value::as_i64).unwrap_or(0);
    let text = |key| info.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    match int("state") {
        0 => ProcessState::Stopped,
        10 => ProcessState::Starting,
        20 if info.get("ready").and_then(Value::as_bool) == Some(false) => ProcessState::Starting,
        20 => ProcessState::Running { pid: int("pid") as u32 },
        30 => ProcessState::Backoff,
        40 => ProcessState::Stopping,
        100 => ProcessState::Exited { status: int("exitstatus") as i32 },
        200 => {
            let failure = text("failure");
            ProcessState::Fatal { reason: if failure.is_empty() { text("spawnerr") } else { failure } }
        }
        _ => ProcessState::Unknown,
    }
}

fn seconds(d: Duration) -> Value {
    Value::Double(d.as_secs_f64())
}

impl Backend for Supervisord {
    async fn prepare(&mut self, setup: &Setup) -> Result<(), BackendError> {
        if self.shut_down {
            return Err(BackendError::ShuttingDown);
        }
        if self.running.is_some() {
            return Err(BackendError::AlreadyPrepared);
        }
        let paths = Paths::new(&setup.rundir);
        let config = render_config(setup, &paths).map_err(BackendError::Render)?;
        tokio::fs::write(&paths.config, config)
            .await
            .map_err(|source| BackendError::Write { path: paths.config.clone(), source })?;
        if let Some(dir) = paths.notify_socket.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BackendError::Write { path: dir.to_owned(), source })?;
        }
        let stdout = match &setup.output {
            Output::Inherit => Stdio::inherit(),
            Output::Discard => Stdio::null(),
            Output::File(path) => {
                let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
                Stdio::from(file.map_err(|source| BackendError::Write { path: path.clone(), source })?)
            }
        };
        let command_text = format!("{} -c {}", self.supervisord.display(), paths.config.display());
        let child = tokio::process::Command::new(&self.supervisord)
            .arg("-c")
            .arg(&paths.config)
            .current_dir(&setup.rundir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BackendError::Spawn { command: command_text, source })?;
        let pid = child.id().unwrap_or(0);
        let client = Client::new(paths.socket.clone());
        let mut child = Some(child);
        let child_ref = child.as_mut().expect("just set");
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child_ref.try_wait() {
                return Err(BackendError::SupervisorExited { status: status.to_string() });
            }
            // The socket file may be a stale one from an earlier run until supervisord replaces it.
            if client.call("kres.getVersion", vec![], CALL_TIMEOUT).await.is_ok() {
                break;
            }
            if started.elapsed() > UP_TIMEOUT {
                let _ = child_ref.start_kill();
                return Err(BackendError::SupervisorNotUp { after: UP_TIMEOUT });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.running = Some(Running { child, pid, client, setup: setup.clone() });
        Ok(())
    }

    async fn start(&mut self, program: Program) -> Result<u32, BackendError> {
        let timeout = self.running()?.setup.ready_timeout;
        let params = vec![Value::String(program.name()), seconds(timeout)];
        let pid =
            self.call("kres.startProcess", params, timeout + CALL_TIMEOUT).await.map_err(|e| named(e, program))?;
        pid.as_i64().map(|pid| pid as u32).ok_or_else(|| BackendError::Protocol {
            method: "kres.startProcess".into(),
            detail: format!("expected a pid, got {pid:?}"),
        })
    }

    /// All at once: supervisord's extension answers each start when that process is READY, and
    /// it serves several requests at the same time, so N workers cost about one start.
    async fn start_all(&mut self, programs: &[Program]) -> Result<Vec<u32>, BackendError> {
        let running = self.running()?;
        let timeout = running.setup.ready_timeout;
        let mut tasks = tokio::task::JoinSet::new();
        for (index, program) in programs.iter().copied().enumerate() {
            let client = running.client.clone();
            tasks.spawn(async move {
                let params = vec![Value::String(program.name()), seconds(timeout)];
                let result = client
                    .call("kres.startProcess", params, timeout + CALL_TIMEOUT)
                    .await
                    .map_err(|e| named(call_error("kres.startProcess", e), program));
                (index, program, result)
            });
        }
        let mut pids = vec![0; programs.len()];
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let outcome = joined.map_err(|join| BackendError::Protocol {
                method: "kres.startProcess".into(),
                detail: format!("the calling task failed: {join}"),
            });
            let failure = match outcome {
                Ok((index, _, Ok(pid))) => match pid.as_i64() {
                    Some(pid) => {
                        pids[index] = pid as u32;
                        None
                    }
                    None => Some(BackendError::Protocol {
                        method: "kres.startProcess".into(),
                        detail: format!("expected a pid, got {pid:?}"),
                    }),
                },
                Ok((_, _, Err(error))) | Err(error) => Some(error),
            };
            if first_error.is_none() {
                first_error = failure;
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(pids),
        }
    }

    async fn stop(&mut self, program: Program) -> Result<(), BackendError> {
        let timeout = self.running()?.setup.stop_timeout;
        let params = vec![Value::String(program.name()), seconds(timeout)];
        self.call("kres.stopProcess", params, timeout + CALL_TIMEOUT).await.map_err(|e| named(e, program))?;
        Ok(())
    }

    async fn reconfigure(&mut self, setup: &Setup) -> Result<(), BackendError> {
        let paths = Paths::new(&setup.rundir);
        let config = render_config(setup, &paths).map_err(BackendError::Render)?;
        tokio::fs::write(&paths.config, config)
            .await
            .map_err(|source| BackendError::Write { path: paths.config.clone(), source })?;
        let changes = self.call("supervisor.reloadConfig", vec![], CALL_TIMEOUT).await?;
        // [[added, changed, removed]]; "changed" cannot happen for our programs (their command
        // lines depend only on the rundir and the executables, which do not change while running).
        let names = |index: usize| -> Vec<String> {
            let list = match &changes {
                Value::Array(outer) => outer.first().and_then(|inner| match inner {
                    Value::Array(lists) => lists.get(index).cloned(),
                    _ => None,
                }),
                _ => None,
            };
            match list {
                Some(Value::Array(names)) => names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            }
        };
        for name in names(2) {
            if let Some(program) = Program::from_name(&name) {
                match self.stop(program).await {
                    Ok(()) | Err(BackendError::NotRunning { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            self.call("supervisor.removeProcessGroup", vec![Value::String(name)], CALL_TIMEOUT).await?;
        }
        for name in names(0) {
            self.call("supervisor.addProcessGroup", vec![Value::String(name)], CALL_TIMEOUT).await?;
        }
        if let Some(running) = self.running.as_mut() {
            running.setup = setup.clone();
        }
        Ok(())
    }

    async fn processes(&mut self) -> Result<Vec<ProcessInfo>, BackendError> {
        list_processes(&self.running()?.client).await
    }

    async fn wait_ready(&mut self, program: Program, timeout: Duration) -> Result<u32, BackendError> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.info(program).await?;
            match state {
                ProcessState::Running { pid } => return Ok(pid),
                ProcessState::Fatal { reason } => {
                    let output = self.tail(program, FAILURE_LINES).await.unwrap_or_default();
                    return Err(BackendError::StartFailed { program, reason, output });
                }
                state if Instant::now() >= deadline => {
                    return Err(BackendError::NotReady { program, after: timeout, state });
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    async fn tail(&mut self, program: Program, lines: u32) -> Result<Vec<String>, BackendError> {
        let params = vec![Value::String(program.name()), Value::Int(lines.into())];
        let tail = self.call("kres.tail", params, CALL_TIMEOUT).await.map_err(|e| named(e, program))?;
        match tail {
            Value::Array(lines) => Ok(lines.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect()),
            other => Err(BackendError::Protocol { method: "kres.tail".into(), detail: format!("{other:?}") }),
        }
    }

    async fn shutdown(&mut self) -> Result<(), BackendError> {
        let stop_timeout = self.running()?.setup.stop_timeout;
        let asked = self.call("supervisor.shutdown", vec![], CALL_TIMEOUT).await;
        self.shut_down = true;
        let running = self.running.as_mut().expect("checked by running()");
        // Attached: supervisord stops every process, us included; nothing to wait for.
        let Some(child) = running.child.as_mut() else { return asked.map(drop) };
        // supervisord stops every process (SIGKILL after stopwaitsecs each), then exits.
        let limit = stop_timeout * 2 + CALL_TIMEOUT;
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) if status.success() => asked.map(drop),
            Ok(Ok(status)) => Err(BackendError::SupervisorExited { status: status.to_string() }),
            Ok(Err(source)) => Err(BackendError::Transport { method: "wait for supervisord".into(), source }),
            Err(_) => {
                kill_all(running.pid);
                Err(BackendError::Timeout { method: "supervisor.shutdown".into(), after: limit })
            }
        }
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        if let Some(running) = &mut self.running
            && let Some(child) = running.child.as_mut()
            && child.try_wait().ok().flatten().is_none()
        {
            kill_all(running.pid);
        }
    }
}

/// Kills supervisord `pid` and every process it started, with SIGKILL: supervisord is frozen
/// first (so it cannot spawn a replacement meanwhile), then its children's process groups (each
/// child is a group leader) are killed, then supervisord's own group.
fn kill_all(pid: u32) {
    let kill = |args: &[String]| {
        let _ = std::process::Command::new("kill").args(args).stderr(Stdio::null()).status();
    };
    kill(&["-STOP".into(), pid.to_string()]);
    let mut args = vec!["-KILL".to_owned(), "--".to_owned()];
    for child in crate::procfs::children(pid) {
        args.push(format!("-{}", child.pid));
        args.push(child.pid.to_string());
    }
    args.push(format!("-{pid}"));
    kill(&args);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CacheGc;

    fn setup() -> Setup {
        Setup {
            rundir: "/run/kres 100%".into(),
            kresd_dir: "/run/kres 100%/control".into(),
            kresd: "/usr/sbin/kresd".into(),
            worker_configs: vec!["/run/kres/worker0.lua".into(), "/run/kres/it's.lua".into()],
            canary_config: Some("/run/kres/canary.lua".into()),
            cache_gc_binary: "/usr/sbin/kres-cache-gc".into(),
            cache_gc: Some(CacheGc {
                cache_dir: "/var/cache/knot-resolver".into(),
                interval: Duration::from_secs(1),
                args: vec!["-u".into(), "80".into()],
            }),
            ready_timeout: Duration::from_millis(2500),
            stop_timeout: Duration::from_secs(5),
            output: Output::Inherit,
            manager: None,
        }
    }

    #[test]
    fn the_config_has_every_program_quoted() {
        let setup = setup();
        let conf = render_config(&setup, &Paths::new(&setup.rundir)).expect("renders");
        assert!(conf.contains("file = /run/kres 100%%/supervisord.sock\nchmod = 0600\n"), "{conf}");
        assert!(conf.contains("pidfile = /run/kres 100%%/supervisord.pid\n"));
        assert!(
            conf.contains(
                "[program:kresd0]\ncommand = /usr/sbin/kresd -n -c /run/kres/worker0.lua '/run/kres 100%%/control'\n"
            ),
            "{conf}"
        );
        assert!(conf.contains("command = /usr/sbin/kresd -n -c '/run/kres/it'\"'\"'s.lua' "));
        assert!(conf.contains("[program:canary]\ncommand = /usr/sbin/kresd -n -c /run/kres/canary.lua"));
        assert!(conf.contains("command = /usr/sbin/kres-cache-gc -c /var/cache/knot-resolver -d 1000 -u 80\n"));
        assert!(conf.contains("notify_programs = kresd* canary\nnotify_timeout = 2.5\n"));
        assert_eq!(conf.matches("stdout_logfile = NONE").count(), 4);
        assert_eq!(conf.matches("autorestart = true").count(), 3);
    }

    #[test]
    fn line_breaks_cannot_reach_the_config() {
        let mut setup = setup();
        setup.worker_configs[0] = "/x\n[program:evil]".into();
        assert!(render_config(&setup, &Paths::new(&setup.rundir)).is_err());
    }

    #[test]
    fn start_faults_become_start_failures_with_output() {
        let fault = |code, message: &str| BackendError::Fault {
            method: "kres.startProcess".into(),
            code,
            message: message.into(),
        };
        let err = named(
            fault(
                40,
                "ABNORMAL_TERMINATION: canary: exited before READY=1 (exit status 1); last output:\ncanary[5]: a\ncanary[5]: b",
            ),
            Program::Canary,
        );
        match err {
            BackendError::StartFailed { reason, output, .. } => {
                assert_eq!(reason, "exited before READY=1 (exit status 1)");
                assert_eq!(output, ["canary[5]: a", "canary[5]: b"]);
            }
            other => panic!("{other}"),
        }
        let err = named(fault(30, "FAILED: kresd1: no READY=1 within 0.5 s (killed); no output"), Program::Worker(1));
        assert!(
            matches!(err, BackendError::StartFailed { ref reason, ref output, .. } if reason == "no READY=1 within 0.5 s (killed)" && output.is_empty()),
            "{err}"
        );
        assert!(matches!(
            named(fault(60, "ALREADY_STARTED: kresd0"), Program::Worker(0)),
            BackendError::AlreadyStarted { .. }
        ));
        assert!(matches!(
            named(fault(10, "BAD_NAME: kresd9"), Program::Worker(9)),
            BackendError::UnknownProcess { .. }
        ));
        assert!(matches!(named(fault(70, "NOT_RUNNING: x"), Program::Worker(0)), BackendError::NotRunning { .. }));
        assert!(matches!(
            call_error("x", CallError::Fault { code: 6, message: String::new() }),
            BackendError::ShuttingDown
        ));
    }

    #[test]
    fn process_info_states() {
        let info = |state: i64, ready: bool| {
            Value::Struct(BTreeMap::from([
                ("state".to_owned(), Value::Int(state)),
                ("pid".to_owned(), Value::Int(77)),
                ("ready".to_owned(), Value::Bool(ready)),
                ("exitstatus".to_owned(), Value::Int(3)),
                ("spawnerr".to_owned(), Value::String("spawn".into())),
                ("failure".to_owned(), Value::String(String::new())),
            ]))
        };
        assert_eq!(state_of(&info(0, false)), ProcessState::Stopped);
        assert_eq!(state_of(&info(10, false)), ProcessState::Starting);
        assert_eq!(state_of(&info(20, true)), ProcessState::Running { pid: 77 });
        assert_eq!(state_of(&info(20, false)), ProcessState::Starting);
        assert_eq!(state_of(&info(30, false)), ProcessState::Backoff);
        assert_eq!(state_of(&info(40, false)), ProcessState::Stopping);
        assert_eq!(state_of(&info(100, false)), ProcessState::Exited { status: 3 });
        assert_eq!(state_of(&info(200, false)), ProcessState::Fatal { reason: "spawn".into() });
        assert_eq!(state_of(&info(1000, false)), ProcessState::Unknown);
    }
}
