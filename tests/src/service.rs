//! The whole service for end-to-end tests: `kres-manager -c config.yaml` started as an operator
//! would (it becomes supervisord, which runs the manager and real kresd workers), its merged log
//! in a file, the processes of its tree, a DNS load that counts unanswered queries, and nothing
//! left behind when a test ends (the supervisord is killed, its children die with it).

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::kresd::{TempDir, free_port};

/// A running service.
#[derive(Debug)]
pub struct Service {
    pub dir: TempDir,
    pub port: u16,
    exe: PathBuf,
    /// More arguments for kres-manager (after `-c FILE`).
    args: Vec<String>,
    child: Option<Child>,
}

/// The config most service tests start from: `workers` workers on the test's port, offline (no
/// DNSSEC bootstrap, no priming), a small cache in the rundir, `a.example` answered from local
/// data (192.0.2.1) and every other name refused at once; `extra` is appended (more sections).
pub fn config(workers: u32, extra: &str) -> String {
    format!(
        "rundir: {{rundir}}
workers: {workers}
dnssec:
  enable: false
options:
  priming: false
network:
  listen:
    - interface: 127.0.0.1@{{port}}
cache:
  storage: {{rundir}}/cache
  size-max: 10M
local-data:
  addresses:
    a.example: 192.0.2.1
lua:
  script: policy.add(policy.all(policy.REFUSE))
{extra}"
    )
}

/// `yaml` (from [`config`]) with a change that needs a rolling restart: a smaller EDNS buffer
/// towards clients.
pub fn rolling(yaml: &str) -> String {
    yaml.replace(
        "    - interface: 127.0.0.1@{port}\n",
        "    - interface: 127.0.0.1@{port}\n  edns-buffer-size:\n    downstream: 1400B\n",
    )
}

/// `yaml` (from [`config`]) with a DoT listener on `dot_port` too, with `certificate` and `key`.
pub fn with_dot(yaml: &str, dot_port: u16, (certificate, key): (&str, &str)) -> String {
    yaml.replace(
        "    - interface: 127.0.0.1@{port}\n",
        &format!(
            "    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{dot_port}\n      kind: dot\n  tls:\n    \
             cert-file: {certificate}\n    key-file: {key}\n"
        ),
    )
}

/// `exe`, or a copy of it that every user may run when they cannot reach it (a checkout under
/// `/root`): started as root, the service runs as `knot-resolver`, and supervisord runs the
/// same executable again as the manager. One copy per build, shared by the test processes.
pub fn reachable_by_others(exe: &Path) -> PathBuf {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let others_may = |path: &Path, bit: u32| std::fs::metadata(path).is_ok_and(|m| m.mode() & bit != 0);
    let reachable = others_may(exe, 0o005) && exe.ancestors().skip(1).all(|dir| others_may(dir, 0o001));
    if reachable || !nix::unistd::geteuid().is_root() {
        return exe.to_owned();
    }
    let metadata = std::fs::metadata(exe).expect("the executable");
    let dir = std::env::temp_dir().join(format!(
        "kres-tests-exe-{}-{}.{}",
        metadata.len(),
        metadata.mtime(),
        metadata.mtime_nsec()
    ));
    let copy = dir.join(exe.file_name().expect("a file name"));
    if !copy.exists() {
        std::fs::create_dir_all(&dir).expect("create the copy's directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod the copy's directory");
        // Tests of one process may copy at the same time: each through a file of its own.
        static COPIES: AtomicU64 = AtomicU64::new(0);
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let temporary = dir.join(format!(".copy-{}-{n}", std::process::id()));
        std::fs::copy(exe, &temporary).expect("copy the executable");
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755)).expect("chmod the copy");
        std::fs::rename(&temporary, &copy).expect("rename the copy");
    }
    copy
}

/// Writes a secret the service reads (a token file): mode 0640, in the group of the user the
/// service runs as when the tests run as root (`knot-resolver`), as an operator would set it up.
pub fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write the secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).expect("chmod the secret");
    if nix::unistd::geteuid().is_root() {
        let group = nix::unistd::Group::from_name("knot-resolver").ok().flatten().expect("the knot-resolver group");
        std::os::unix::fs::chown(path, None, Some(group.gid.as_raw())).expect("chgrp the secret");
    }
}

/// A test certificate for `name` in `dir` that the service's user may read (key 0640 in its
/// group, as for [`write_secret`]): (certificate, key).
pub fn service_certificate(dir: &Path, name: &str) -> (String, String) {
    let (certificate, key) = crate::kresd::certificate(dir, name);
    let text = std::fs::read_to_string(&key).expect("read the key");
    write_secret(Path::new(&key), &text);
    (certificate, key)
}

/// `{port}` and `{rundir}` in a config are replaced by the test's.
fn fill(yaml: &str, port: u16, rundir: &Path) -> String {
    yaml.replace("{port}", &port.to_string()).replace("{rundir}", &rundir.display().to_string())
}

impl Service {
    /// Starts the service with `yaml` and waits until the manager reports ready (every worker
    /// answering). Panics with the log when it does not come up within 30 s.
    pub fn start(exe: &Path, yaml: &str) -> Service {
        Service::start_with(exe, yaml, &[])
    }

    /// [`Service::start`] with more arguments for kres-manager (after `-c FILE`).
    pub fn start_with(exe: &Path, yaml: &str, args: &[&str]) -> Service {
        let service = Service::spawn_with(exe, yaml, args);
        if let Err(error) = service.wait_log("ready: ", 1, Duration::from_secs(30)) {
            panic!("the service did not become ready: {error}\n--- log:\n{}", service.log());
        }
        service.wait_settled();
        service
    }

    /// Waits until every child of supervisord has exec'd its program: a program started without
    /// sd_notify (the cache GC) is reported started right after the fork, when its command line
    /// is still supervisord's.
    pub fn wait_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while kres_manager::procfs::children(self.pid()).iter().any(|p| p.cmdline.contains("supervisord")) {
            assert!(Instant::now() < deadline, "a child of supervisord did not exec:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts the service without waiting.
    pub fn spawn(exe: &Path, yaml: &str) -> Service {
        Service::spawn_with(exe, yaml, &[])
    }

    fn spawn_with(exe: &Path, yaml: &str, args: &[&str]) -> Service {
        let dir = TempDir::new("service");
        let port = free_port();
        let args = args.iter().map(|arg| (*arg).to_owned()).collect();
        let service = Service { dir, port, exe: reachable_by_others(exe), args, child: None };
        service.write_config(yaml);
        let mut service = service;
        service.child = Some(service.launch());
        service
    }

    fn launch(&self) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        Command::new(&self.exe)
            .arg("-c")
            .arg(self.config_path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start kres-manager")
    }

    /// The next [`Service::restart`] passes `args` to kres-manager too.
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|arg| (*arg).to_owned()).collect();
    }

    /// Starts the service again (same dir, port and config) after it stopped or was killed;
    /// waits until it is ready.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        let readies = self.log().matches("ready: ").count();
        self.child = Some(self.launch());
        if let Err(error) = self.wait_log("ready: ", readies + 1, Duration::from_secs(30)) {
            panic!("the service did not become ready again: {error}\n--- log:\n{}", self.log());
        }
        self.wait_settled();
    }

    pub fn rundir(&self) -> PathBuf {
        self.dir.0.join("run")
    }

    /// The API socket tests use (when the config names none).
    pub fn api_socket(&self) -> PathBuf {
        self.rundir().join("api.sock")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.0.join("config.yaml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.0.join("service.log")
    }

    /// Replaces the config file (`{port}` and `{rundir}` filled in; the rundir is
    /// `<test dir>/run`). A config without a `management` section gets the API on
    /// `<rundir>/api.sock` (instead of the system-wide default socket).
    pub fn write_config(&self, yaml: &str) {
        let mut text = fill(yaml, self.port, &self.rundir());
        if !text.lines().any(|line| line.starts_with("management:")) {
            text.push_str(&format!("management:\n  unix-socket: {}\n", self.api_socket().display()));
        }
        let temporary = self.dir.0.join("config.yaml.new");
        std::fs::write(&temporary, text).expect("write config");
        std::fs::rename(&temporary, self.config_path()).expect("replace config");
    }

    /// The merged log so far (supervisord's lines and every process's, prefixed).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until `needle` occurs at least `count` times in the log.
    pub fn wait_log(&self, needle: &str, count: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().matches(needle).count() >= count {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{needle:?} seen fewer than {count} times within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status, once the process we started has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().expect("wait"))
    }

    /// supervisord's pid (the process we started: it execs supervisord).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Pids of the service's processes by role: `manager`, `kresd0`, ..., `canary`, `cache-gc`.
    pub fn processes(&self) -> BTreeMap<String, u32> {
        let rundir = self.rundir();
        let mut found = BTreeMap::new();
        for (pid, cmdline) in kres_manager::daemon::service::processes_mentioning(&rundir) {
            let role = if cmdline.contains("--supervised") {
                "manager".to_owned()
            } else if cmdline.contains("kres-cache-gc") {
                "cache-gc".to_owned()
            } else if let Some(name) = cmdline.split("/lua/").nth(1).and_then(|rest| rest.split(".lua").next()) {
                name.to_owned()
            } else {
                continue;
            };
            found.insert(role, pid);
        }
        found
    }

    /// The pids of the kresd workers (`kresd0` ...).
    pub fn workers(&self) -> BTreeMap<String, u32> {
        self.processes().into_iter().filter(|(role, _)| role.starts_with("kresd")).collect()
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal);
    }

    /// SIGTERM, then waits for the exit (at most 20 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the service did not stop within 20 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until no process mentions the rundir any more (panics after `timeout`).
    pub fn assert_nothing_left(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = kres_manager::daemon::service::processes_mentioning(&self.rundir());
            if left.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "processes left behind: {left:?}\n--- log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs the manager's client view of supervisord: every process's state.
    pub fn supervisor_states(&self) -> Vec<kres_manager::backend::ProcessInfo> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let socket = kres_manager::backend::supervisord::Paths::new(&self.rundir()).socket;
            kres_manager::backend::supervisord::processes_at(&socket).await.expect("supervisord answers")
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL: every child dies with supervisord (parent-death signal).
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while !kres_manager::daemon::service::processes_mentioning(&self.rundir()).is_empty()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub fn kill(pid: u32, signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// A steady DNS load over UDP from several sockets (so SO_REUSEPORT spreads it over every
/// worker): each client sends a query, waits up to `timeout` for its answer, pauses, repeats.
/// A query without an answer in time counts as lost.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `clients` sockets querying `name` at 127.0.0.1:`port`, each pausing `pause` between
    /// answered queries.
    pub fn start(port: u16, name: &str, clients: usize, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(AtomicU64::new(0));
        let query = dns_query(name);
        let threads = (0..clients)
            .map(|client| {
                let (stop, sent, lost, mut query) = (stop.clone(), sent.clone(), lost.clone(), query.clone());
                std::thread::spawn(move || {
                    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
                    socket.connect(("127.0.0.1", port)).expect("connect");
                    socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
                    let mut id: u16 = (client as u16) << 12;
                    let mut buffer = [0u8; 1500];
                    while !stop.load(Ordering::Relaxed) {
                        id = id.wrapping_add(1);
                        query[..2].copy_from_slice(&id.to_be_bytes());
                        sent.fetch_add(1, Ordering::Relaxed);
                        let _ = socket.send(&query);
                        let deadline = Instant::now() + Duration::from_secs(2);
                        let answered = loop {
                            match socket.recv(&mut buffer) {
                                Ok(n) if n >= 2 && buffer[..2] == id.to_be_bytes() => break true,
                                Ok(_) => {}
                                // A refused send (no listener for an instant) is a lost query too.
                                Err(_) if Instant::now() >= deadline => break false,
                                Err(_) => {}
                            }
                        };
                        if !answered {
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Load { stop, sent, lost, threads }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Stops the load; returns (sent, lost).
    pub fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        (self.sent.load(Ordering::Relaxed), self.lost.load(Ordering::Relaxed))
    }
}

/// A DNS query for `name` A (recursion desired), id 0.
pub fn dns_query(name: &str) -> Vec<u8> {
    let mut query = vec![0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_executable_others_cannot_reach_is_copied_where_they_can() {
        use std::os::unix::fs::PermissionsExt;
        if !nix::unistd::geteuid().is_root() {
            println!("not root: the service runs as the caller (this test needs root)");
            return;
        }
        let dir = TempDir::new("reachable");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        let exe = dir.0.join("tool");
        std::fs::write(&exe, format!("#!/bin/sh\n# {}\n", std::process::id())).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(reachable_by_others(&exe), exe, "reachable: used where it is");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o700)).unwrap();
        let copy = reachable_by_others(&exe);
        assert_ne!(copy, exe);
        assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&exe).unwrap());
        assert_eq!(reachable_by_others(&copy), copy, "the copy is reachable");
        assert_eq!(reachable_by_others(&exe), copy, "one copy per build");
        std::fs::remove_dir_all(copy.parent().unwrap()).unwrap();
    }
}
