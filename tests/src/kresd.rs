//! Real kresd (5.6, or 6.x with `KRES_KRESD`) for end-to-end tests: render a config, start kresd on loopback with it, ask it
//! DNS questions with `kdig`, and stop it (when dropped) leaving nothing behind.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kres_manager::config::{self, Validated};
use kres_manager::kresd::render::{self, WorkerContext};
use kres_manager::kresd::{Dialect, Target};
use schema_core::{FakeSystem, ResolveOptions, Version};

/// The kresd the tests run (`$KRES_KRESD`, else /usr/sbin/kresd), found once.
pub fn target() -> Target {
    static TARGET: std::sync::OnceLock<Target> = std::sync::OnceLock::new();
    TARGET
        .get_or_init(|| {
            Target::find(&kres_manager::kresd::kresd_path()).unwrap_or_else(|e| panic!("the tests' kresd: {e}"))
        })
        .clone()
}

/// The tests' kresd executable (every test that starts a kresd starts this one).
pub fn binary() -> PathBuf {
    target().path.expect("found by path")
}

/// The kres-cache-gc of the tests' kresd (the one next to it: each major has its own).
pub fn cache_gc_binary() -> PathBuf {
    kres_manager::layout::Binaries::new(binary(), None).cache_gc
}

/// The Lua dialect of the tests' kresd.
pub fn dialect() -> Dialect {
    target().dialect
}

/// A loopback port free for both UDP and TCP right now, and not handed out before to this
/// process: tests run in parallel, and kresd's listeners (SO_REUSEPORT, the same user) would
/// share a port two services got, each answering the other's queries.
///
/// The port is bound only later (by kresd, knotd or the manager, up to seconds later, and again
/// after a restart), so it is taken outside the kernel's ephemeral range: every socket bound to
/// port 0 meanwhile (the tests' DNS clients, kdig, kresd's queries to an upstream) gets a port
/// from that range, and could otherwise get this one and make the service's bind fail.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (first, last) = ephemeral_ports();
    // Above the registered services' usual ports, below or above the ephemeral range.
    let outside: Vec<u16> = (20000..=u16::MAX).filter(|port| *port < first || *port > last).collect();
    assert!(!outside.is_empty(), "no port outside the ephemeral range {first}-{last}");
    let random = || {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish() as usize
    };
    loop {
        let port = outside[random() % outside.len()];
        if !given.contains(&port)
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            given.push(port);
            return port;
        }
    }
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), the ports it gives a
/// socket bound to port 0.
fn ephemeral_ports() -> (u16, u16) {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut bounds = range.split_whitespace().filter_map(|n| n.parse().ok());
    match (bounds.next(), bounds.next()) {
        (Some(first), Some(last)) => (first, last),
        _ => (32768, 60999),
    }
}

/// A fresh directory for one test, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kres-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Validates a YAML config for kresd 5.6 (panicking with the report when it is invalid).
pub fn validate(yaml: &str) -> Validated {
    validate_for(target().version.expect("the tests' kresd has a version"), yaml)
}

/// For a config that only Knot Resolver 6 can run: `Some` with the validation report when the
/// tests' kresd is older (`{port}` filled in), `None` when it is a 6.x that should serve it.
pub fn refused_before_6(yaml: &str) -> Option<String> {
    let target = target();
    if target.dialect != Dialect::Kresd5 {
        return None;
    }
    let yaml = yaml.replace("{port}", &free_port().to_string());
    let document = schema_core::yaml::parse(&yaml, Some("t.yaml")).unwrap_or_else(|r| panic!("{r}"));
    let system = FakeSystem { version: target.version, ..Default::default() };
    let report = config::validate(&document, &system, ResolveOptions::default()).expect_err("refused before 6");
    Some(report.to_string())
}

/// Like [`validate`], for a kresd of `version` (tests of rendering that do not depend on the
/// installed kresd).
pub fn validate_for(version: Version, yaml: &str) -> Validated {
    let document = schema_core::yaml::parse(yaml, Some("test.yaml")).unwrap_or_else(|r| panic!("{r}"));
    let system = FakeSystem { version: Some(version), ..Default::default() };
    config::validate(&document, &system, ResolveOptions::default()).unwrap_or_else(|r| panic!("{r}\n---\n{yaml}"))
}

/// The answer to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`, ...
    pub rcode: String,
    /// The answer section, one record per line as kdig prints it (`name ttl class type data`).
    pub records: Vec<String>,
}

impl Answer {
    /// The data of the answer records (`192.0.2.1`).
    pub fn data(&self) -> Vec<String> {
        self.records.iter().filter_map(|r| r.split_whitespace().nth(4).map(str::to_owned)).collect()
    }
}

/// Asks `name`/`rtype` of the resolver at 127.0.0.1:`port` (UDP unless `tcp`), from `source` if
/// given (a loopback address).
pub fn query_from(port: u16, name: &str, rtype: &str, source: Option<&str>, tcp: bool) -> Option<Answer> {
    let mut command = Command::new("kdig");
    command.arg("@127.0.0.1").arg("-p").arg(port.to_string());
    if let Some(source) = source {
        command.arg("-b").arg(source);
    }
    if tcp {
        command.arg("+tcp");
    }
    command.args(["+retry=0", "+timeout=2", "+noall", "+header", "+answer", "-t", rtype, name]);
    let output = command.output().expect("kdig runs (installed by scripts/setup-system.sh)");
    let text = String::from_utf8_lossy(&output.stdout);
    let rcode = text.lines().find_map(|line| {
        line.split("status: ").nth(1).map(|s| s.split([',', ';']).next().unwrap_or("").trim().to_owned())
    })?;
    let records = text.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).map(str::to_owned).collect();
    Some(Answer { rcode, records })
}

pub fn query(port: u16, name: &str, rtype: &str) -> Option<Answer> {
    query_from(port, name, rtype, None, false)
}

/// A running kresd, stopped when dropped.
#[derive(Debug)]
pub struct Kresd {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub lua: String,
}

/// What a test config usually needs to run offline: no DNSSEC bootstrap, no priming, and a
/// final rule refusing names without a local answer (instead of asking the root servers).
pub const OFFLINE: &str = "dnssec:\n  enable: false\noptions:\n  priming: false\n";

/// The config's default cache directory.
const DEFAULT_CACHE: &str = "/var/cache/knot-resolver";

impl Kresd {
    /// Validates `yaml` (in which `{port}` is replaced by a free port), renders it and starts
    /// kresd with it. Returns kresd's own output when it does not come up within 10 s.
    pub fn start(yaml: &str) -> Result<Kresd, String> {
        let port = free_port();
        let yaml = yaml.replace("{port}", &port.to_string());
        let mut validated = validate(&yaml);
        let dir = TempDir::new("kresd");
        // Each test's kresd has its own cache unless the config names one: a shared default
        // (/var/cache/knot-resolver) carried answers, and failures, from one test and one run
        // to the next, across both kresd majors.
        if validated.config.cache.storage.as_path() == Path::new(DEFAULT_CACHE) {
            let own = dir.0.join("cache");
            validated.config.cache.storage =
                schema_core::DirPath::parse(&own.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
        }
        let worker = WorkerContext { id: 0, control_socket: dir.0.join("control") };
        let lua =
            render::render_worker(crate::kresd::dialect(), &validated.config, &worker).map_err(|e| e.to_string())?;
        Self::start_lua(&lua, port, dir)
    }

    /// Starts kresd with the given Lua in `dir` (its working directory).
    pub fn start_lua(lua: &str, port: u16, dir: TempDir) -> Result<Kresd, String> {
        let config = dir.0.join("worker.lua");
        std::fs::write(&config, lua).expect("write config");
        let child = Command::new(binary())
            .arg("-n")
            .arg("-c")
            .arg(&config)
            .arg(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(dir.0.join("output.log")).expect("log file")))
            .stderr(Stdio::from(std::fs::File::create(dir.0.join("errors.log")).expect("log file")))
            .spawn()
            .map_err(|e| format!("cannot start kresd: {e}"))?;
        let mut kresd = Kresd { child, port, dir, lua: lua.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = kresd.child.try_wait() {
                return Err(format!(
                    "kresd exited ({status}) before answering:\n{}\n--- config:\n{lua}",
                    kresd.output()
                ));
            }
            // Ready when the control socket answers (kresd serves it only once its whole config
            // is loaded, listeners included); configs without one are asked `invalid.` (kresd's
            // built-in rules answer it at once unless a rule of the config catches it).
            let control_socket = kresd.control_socket();
            let ready = if lua.contains("kind = 'control'") {
                control_socket.exists() && control(&control_socket, "1").is_ok()
            } else {
                answers(port)
            };
            if ready {
                return Ok(kresd);
            }
            if Instant::now() > deadline {
                return Err(format!("kresd did not answer within 10 s:\n{}\n--- config:\n{lua}", kresd.output()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What kresd printed so far.
    pub fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.0.join(name)).unwrap_or_default();
        read("output.log") + &read("errors.log")
    }

    pub fn query(&self, name: &str, rtype: &str) -> Answer {
        query(self.port, name, rtype).unwrap_or_else(|| panic!("no answer for {name} {rtype}:\n{}", self.output()))
    }

    pub fn control_socket(&self) -> PathBuf {
        self.dir.0.join("control")
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// Runs `lua` on kresd's control socket and returns the reply without the trailing prompt
    /// (a plain expression comes back pretty-printed, e.g. `1232` or `'normal'`). Panics when
    /// the socket does not answer within 5 s. kresd reports Lua errors as reply text: callers
    /// check the text.
    pub fn control(&self, lua: &str) -> String {
        control(&self.control_socket(), lua).unwrap_or_else(|e| panic!("control socket: {e}\n{}", self.output()))
    }
}

/// Whether something answers a DNS query on 127.0.0.1:`port` within 100 ms.
fn answers(port: u16) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else { return false };
    let query = crate::service::dns_query("ready.invalid");
    let mut buffer = [0u8; 512];
    socket.set_read_timeout(Some(Duration::from_millis(100))).is_ok()
        && socket.send_to(&query, ("127.0.0.1", port)).is_ok()
        && socket.recv(&mut buffer).is_ok_and(|n| n >= 12)
}

/// Sends one command to a kresd control socket (text mode) and returns its reply, without the
/// `> ` prompt that ends it.
pub fn control(socket: &Path, lua: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let timeout = Some(Duration::from_secs(5));
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    let read_prompt = |stream: &mut UnixStream| -> std::io::Result<Vec<u8>> {
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while !reply.ends_with(b"> ") {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "control socket closed"));
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        reply.truncate(reply.len() - 2);
        Ok(reply)
    };
    read_prompt(&mut stream)?;
    stream.write_all(format!("{}\n", lua.replace('\n', " ")).as_bytes())?;
    let reply = read_prompt(&mut stream)?;
    Ok(String::from_utf8_lossy(&reply).trim_end().to_owned())
}

impl Drop for Kresd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config listening on the test's port (`{port}`, replaced by [`Kresd::start`]), running
/// offline, with `body` appended.
pub fn config(body: &str) -> String {
    format!("{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n{body}")
}

/// A `lua` section that refuses every name without a local answer (never resolved from the root).
pub const REFUSE_THE_REST: &str = "lua:\n  script: policy.add(policy.all(policy.REFUSE))\n";

/// A `lua` section under which only `answer.example.` has an answer (192.0.2.7); every other
/// name is refused.
pub const ANSWER_ONLY: &str = "lua:\n  script: |\n    policy.add(policy.suffix(policy.ANSWER({ [kres.type.A] = { rdata = kres.str2ip('192.0.2.7'), ttl = 300 } }), { todname('answer.example.') }))\n    policy.add(policy.all(policy.REFUSE))\n";

/// The Lua a YAML config renders to for worker 0 of kresd 5.6, whichever kresd the tests run
/// (for the reviewed snapshots).
pub fn render(yaml: &str) -> String {
    render_for(Version::new(5, 6, 0), yaml)
}

/// The Lua a YAML config renders to for worker 0 of a kresd of `version`.
pub fn render_for(version: Version, yaml: &str) -> String {
    let validated = validate_for(version, yaml);
    let worker = WorkerContext { id: 0, control_socket: "/run/kres/control/0".into() };
    let dialect = Dialect::of(Some(version)).unwrap_or_else(|e| panic!("{e}"));
    render::render_worker(dialect, &validated.config, &worker).unwrap_or_else(|e| panic!("{e}"))
}

/// The rendered Lua from the line starting with `start` up to (without) the one starting with
/// `end`.
pub fn section(lua: &str, start: &str, end: &str) -> String {
    let mut lines = lua.lines().skip_while(|l| !l.starts_with(start)).peekable();
    assert!(lines.peek().is_some(), "no line starting with {start:?} in:\n{lua}");
    lines.take_while(|l| !l.starts_with(end)).map(|l| format!("{l}\n")).collect()
}

/// Asks `name`/`rtype` with extra kdig flags; returns kdig's whole output.
pub fn kdig(port: u16, name: &str, rtype: &str, flags: &[&str]) -> String {
    let output = Command::new("kdig")
        .arg("@127.0.0.1")
        .arg("-p")
        .arg(port.to_string())
        .args(["+retry=0", "+timeout=2"])
        .args(flags)
        .args(["-t", rtype, name])
        .output()
        .expect("kdig runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A self-signed certificate for `name` in `dir`: (certificate, key).
pub fn certificate(dir: &Path, name: &str) -> (String, String) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={name}"), "-addext", &format!("subjectAltName=DNS:{name}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    (cert.display().to_string(), key.display().to_string())
}
