//! Real Knot DNS (`knotd`) as an authoritative upstream for end-to-end tests: serves given zone
//! files on a free loopback port, and is stopped (with its files removed) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::kresd::{TempDir, free_port, query};

/// A running knotd, killed when dropped.
#[derive(Debug)]
pub struct Knotd {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Knotd {
    /// Starts knotd serving `zones` (each `(origin, zone file text)`, e.g.
    /// `("corp.example.", "$TTL 300\n@ SOA ...")`) on `127.0.0.1@<free port>`, and waits until it
    /// answers the SOA of the first zone.
    pub fn start(zones: &[(&str, &str)]) -> Result<Knotd, String> {
        assert!(!zones.is_empty(), "knotd needs at least one zone");
        let port = free_port();
        let dir = TempDir::new("knotd");
        let root = dir.0.display().to_string();
        let mut config = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {root}\ndatabase:\n    storage: {root}\n\
             template:\n  - id: default\n    storage: {root}\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n"
        );
        for (i, (origin, text)) in zones.iter().enumerate() {
            let file = dir.0.join(format!("zone{i}.zone"));
            std::fs::write(&file, text).expect("write zone file");
            config.push_str(&format!("  - domain: {origin}\n    file: {}\n", file.display()));
        }
        let conf = dir.0.join("knot.conf");
        std::fs::write(&conf, config).expect("write knotd config");
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(dir.0.join("knotd.log")).expect("log file")))
            .stderr(Stdio::from(std::fs::File::create(dir.0.join("knotd.err")).expect("log file")))
            .spawn()
            .map_err(|e| format!("cannot start knotd: {e}"))?;
        let mut knotd = Knotd { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = knotd.child.try_wait() {
                return Err(format!("knotd exited ({status}) before answering:\n{}", knotd.output()));
            }
            if query(port, zones[0].0, "SOA").is_some_and(|a| a.rcode == "NOERROR" && !a.records.is_empty()) {
                return Ok(knotd);
            }
            if Instant::now() > deadline {
                return Err(format!("knotd did not answer within 10 s:\n{}", knotd.output()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1@<port>`, as kresd and the config write a server.
    pub fn address(&self) -> String {
        format!("127.0.0.1@{}", self.port)
    }

    /// Stops knotd (SIGSTOP) and waits until every one of its threads is stopped: a signal is
    /// delivered asynchronously, and a thread that is still running may answer one more query.
    pub fn pause(&self) {
        let pid = self.child.id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGSTOP)
            .expect("SIGSTOP knotd");
        let stopped = |task: &std::fs::DirEntry| {
            // The state follows the command name in parentheses: `pid (comm) T ...`.
            std::fs::read_to_string(task.path().join("stat"))
                .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T')))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let tasks: Vec<_> =
                std::fs::read_dir(format!("/proc/{pid}/task")).expect("knotd's threads").flatten().collect();
            if tasks.iter().all(stopped) {
                return;
            }
            assert!(Instant::now() < deadline, "knotd did not stop");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Lets a paused knotd go on (SIGCONT).
    pub fn resume(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT knotd");
    }

    /// What knotd printed so far.
    pub fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
        read("knotd.log") + &read("knotd.err")
    }
}

impl Drop for Knotd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
