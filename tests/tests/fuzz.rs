//! Hostile-input fuzzing on the stable toolchain: proptest generators of hostile YAML and JSON,
//! config-shaped documents mutated at random pointers, and random JSON Patches, run through
//! what a file or an API body goes through (parse → map and validate; parse → JSON Patch →
//! validate). See `docs/reliability.md` ("Hostile input").
//!
//! Every case runs on a watchdog thread with a 2 MiB stack (a tokio worker's) and must
//! - not panic (and not overflow the stack, which would abort the whole binary);
//! - use at most a limit of CPU time (`KRES_FUZZ_DEADLINE_MS`, default 1,000 ms), measured on its
//!   own thread so that other tests sharing the cores do not count (a case still running after
//!   20 times the limit plus 10 s of wall clock counts as hung);
//! - keep its peak heap (counted per thread by the global allocator below) within a bound
//!   proportional to its input; a case that goes past 1 GiB is stopped by a failed allocation
//!   (the process aborts, printing the seed to rerun) rather than by the machine's OOM killer;
//! - when it fails, fail with a report whose problems have a message and, for syntax errors, a
//!   position inside the text.
//!
//! `KRES_FUZZ_CASES` sets the cases per property (default 10,000, the CI run);
//! `scripts/fuzz-long.sh` runs 1,000,000 per property in release. `KRES_FUZZ_SEED` replays a
//! run (each failure message prints the seed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::fmt::Debug;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kres_manager::api::body;
use kres_manager::api::config::{percent_decode, put_operations, relative_patch};
use kres_manager::api::error::ApiError;
use kres_manager::config::patch::apply_patch;
use kres_manager::reconcile::task::RequestError;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use schema_core::{FakeSystem, Format, Kind, Report, ResolveOptions, Value};
use serde_json::{Value as J, json};

// ---------------------------------------------------------------------------------------------
// Harness: per-thread heap accounting, the watchdog, the runner.

/// Counts live heap bytes per thread and remembers the peak; on a thread that set a cap,
/// refuses allocations beyond it.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Live bytes beyond which allocations fail on this thread (0: no cap).
    static CAP: Cell<isize> = const { Cell::new(0) };
    /// The seed of the property this (watchdog) thread runs, printed when the cap is hit.
    static SEED: Cell<u64> = const { Cell::new(0) };
}

/// What one case may allocate at most, whatever its input: beyond, the process stops.
const HARD_CAP: isize = 1 << 30;

fn account(delta: isize) -> bool {
    LIVE.try_with(|live| {
        let now = live.get() + delta;
        let cap = CAP.try_with(Cell::get).unwrap_or(0);
        if delta > 0 && cap > 0 && now > cap {
            CAP.with(|c| c.set(0));
            let seed = SEED.try_with(Cell::get).unwrap_or(0);
            let mut line =
                *b"\nfuzz: a case allocated more than 1 GiB; the run's KRES_FUZZ_SEED=00000000000000000000\n";
            let digits = line.len() - 2;
            let mut n = seed;
            for i in 0..20 {
                line[digits - i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let _ = std::io::stderr().write_all(&line);
            return false;
        }
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        true
    })
    .unwrap_or(true)
}

// SAFETY: delegates to the system allocator; only adds thread-local counters (const-initialised
// `Cell`s without destructors, so touching them never allocates).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !account(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !account(layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        account(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !account(new_size as isize - layout.size() as isize) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The stack of a tokio worker thread, where the API parses and validates bodies.
const STACK: usize = 2 << 20;

/// What one case did.
struct Outcome {
    /// The size of the case's input, or what went wrong.
    result: Result<usize, String>,
    /// The CPU time the case used (its thread's), which is what the limits bound: unlike the wall
    /// clock it hardly changes when other tests share the cores.
    elapsed: Duration,
    peak: usize,
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// How long, on the wall clock, a case with a CPU `limit` may run before it is taken as hung:
/// generous, since the wall clock runs much faster than a case's CPU time on a busy machine.
fn hang_guard(limit: Duration) -> Duration {
    limit * 20 + Duration::from_secs(10)
}

type Job = Box<dyn FnOnce() -> Result<usize, String> + Send>;

/// A thread that runs cases one at a time, measuring each; replaced when a case overruns.
struct Watchdog {
    seed: u64,
    jobs: mpsc::Sender<Job>,
    outcomes: mpsc::Receiver<Outcome>,
}

impl Watchdog {
    fn new(seed: u64) -> Watchdog {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (outcome_tx, outcomes) = mpsc::channel();
        std::thread::Builder::new()
            .name("fuzz-case".into())
            .stack_size(STACK)
            .spawn(move || {
                SEED.with(|s| s.set(seed));
                for job in job_rx {
                    let base = LIVE.with(Cell::get);
                    PEAK.with(|p| p.set(base));
                    CAP.with(|c| c.set(base + HARD_CAP));
                    let started = thread_cpu_time();
                    let result = std::panic::catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        Err(format!("panicked: {message}"))
                    });
                    let elapsed = thread_cpu_time().saturating_sub(started);
                    CAP.with(|c| c.set(0));
                    let peak = (PEAK.with(Cell::get) - base).max(0) as usize;
                    if outcome_tx.send(Outcome { result, elapsed, peak }).is_err() {
                        return;
                    }
                }
            })
            .expect("spawns the watchdog thread");
        Watchdog { seed, jobs, outcomes }
    }

    /// Runs `job`; `Err` when it used more than `limit` of CPU time, or did not finish within
    /// [`hang_guard`] of the wall clock (then the thread is abandoned).
    fn run(&mut self, job: Job, limit: Duration) -> Result<Outcome, String> {
        self.jobs.send(job).expect("the watchdog thread is alive");
        match self.outcomes.recv_timeout(hang_guard(limit)) {
            Ok(outcome) if outcome.elapsed > limit => {
                Err(format!("used {:?} of CPU time, more than {limit:?}", outcome.elapsed))
            }
            Ok(outcome) => Ok(outcome),
            Err(_) => {
                *self = Watchdog::new(self.seed);
                Err(format!("still running after {:?} (a CPU time limit of {limit:?})", hang_guard(limit)))
            }
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.replace(['_', ','], "").parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

/// How much memory a case may use: `per_byte` times its input plus `slack` bytes.
#[derive(Clone, Copy)]
struct Budget {
    per_byte: usize,
    slack: usize,
}

/// The seed of a run: `KRES_FUZZ_SEED`, or a fresh one.
fn run_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        match std::env::var("KRES_FUZZ_SEED") {
            Ok(_) => env_number("KRES_FUZZ_SEED", 0),
            Err(_) => std::collections::hash_map::RandomState::new().build_hasher().finish(),
        }
    })
}

/// Runs `check` on `KRES_FUZZ_CASES` generated values. `check` returns the size of the input
/// it was given (for the memory bound) or what went wrong.
fn fuzz<S>(name: &str, strategy: S, budget: Budget, check: fn(&S::Value) -> Result<usize, String>)
where
    S: Strategy,
    S::Value: Send + 'static,
{
    let cases = env_number("KRES_FUZZ_CASES", 10_000) as u32;
    let deadline = Duration::from_millis(env_number("KRES_FUZZ_DEADLINE_MS", 1000));
    let seed = run_seed();
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..8 + name.len().min(24)].copy_from_slice(&name.as_bytes()[..name.len().min(24)]);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2000,
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &key));
    let watchdog = RefCell::new(Watchdog::new(seed));
    let (slowest, largest, ratio) = (Cell::new(Duration::ZERO), Cell::new(0usize), Cell::new(0f64));
    let started = Instant::now();
    let show_slow = Duration::from_millis(env_number("KRES_FUZZ_SHOW_SLOW_MS", u64::MAX / 2));
    let result = runner.run(&strategy, |value| {
        let shown = (show_slow < deadline).then(|| format!("{value:?}"));
        let job: Job = Box::new(move || check(&value));
        let outcome = watchdog.borrow_mut().run(job, deadline).map_err(TestCaseError::fail)?;
        let size = outcome.result.map_err(TestCaseError::fail)?;
        let bound = budget.per_byte * size + budget.slack;
        if outcome.peak > bound {
            return Err(TestCaseError::fail(format!(
                "peak heap {} bytes for an input of {size} bytes (bound: {} × input + {} = {bound})",
                outcome.peak, budget.per_byte, budget.slack
            )));
        }
        if let Some(shown) = shown.filter(|_| outcome.elapsed > show_slow) {
            eprintln!(
                "fuzz {name}: a case took {:?}: {}",
                outcome.elapsed,
                shown.chars().take(3000).collect::<String>()
            );
        }
        slowest.set(slowest.get().max(outcome.elapsed));
        largest.set(largest.get().max(outcome.peak));
        if size >= 1024 {
            ratio.set(ratio.get().max(outcome.peak as f64 / size as f64));
        }
        Ok(())
    });
    match result {
        Ok(()) => eprintln!(
            "fuzz {name}: {cases} cases passed in {:.1} s; slowest case {:.1} ms; largest peak heap {} KiB; \
             largest peak/input (inputs of 1 KiB or more) {:.1}",
            started.elapsed().as_secs_f64(),
            slowest.get().as_secs_f64() * 1e3,
            largest.get() / 1024,
            ratio.get(),
        ),
        Err(TestError::Fail(reason, value)) => {
            panic!("fuzz {name}: {reason}\nminimal failing input: {value:#?}\nrerun with KRES_FUZZ_SEED={seed}")
        }
        Err(TestError::Abort(reason)) => panic!("fuzz {name}: aborted: {reason} (KRES_FUZZ_SEED={seed})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties.

fn system() -> &'static FakeSystem {
    static SYSTEM: OnceLock<FakeSystem> = OnceLock::new();
    SYSTEM.get_or_init(FakeSystem::default)
}

/// Depth (levels of lists and mappings) and node count of a tree, without recursion: a tree
/// too deep for the limit must be reported, not overflow the checker's stack.
fn shape(value: &Value) -> (usize, usize) {
    let (mut depth, mut nodes) = (0, 0);
    let mut stack = vec![(value, 0usize)];
    while let Some((node, level)) = stack.pop() {
        nodes += 1;
        match &node.kind {
            Kind::List(items) => {
                depth = depth.max(level + 1);
                stack.extend(items.iter().map(|v| (v, level + 1)));
            }
            Kind::Map(map) => {
                depth = depth.max(level + 1);
                stack.extend(map.iter().map(|(_, v)| (v, level + 1)));
            }
            _ => {}
        }
    }
    (depth, nodes)
}

/// A failed parse: errors only, each with a message and a position inside `text`.
fn check_syntax_report(text: &str, report: &Report) -> Result<(), String> {
    if !report.has_errors() {
        return Err(format!("a failed parse without an error: {report:?}"));
    }
    // YAML counts `\r` alone as a line break too; the YAML parser places the end of the input
    // on the line after the last one, and counts bytes rather than characters in the column of
    // some errors.
    let lines = text.bytes().filter(|b| *b == b'\n' || *b == b'\r').count() + 2;
    let widest = text.split('\n').map(str::len).max().unwrap_or(0);
    for problem in &report.problems {
        if problem.message.trim().is_empty() {
            return Err(format!("a problem without a message: {problem:?}"));
        }
        let Some(span) = problem.span else { return Err(format!("a syntax error without a position: {problem}")) };
        if span.line == 0 || span.line as usize > lines || span.column == 0 || span.column as usize > widest + 2 {
            return Err(format!("position outside the text ({lines} lines, widest {widest}): {problem}"));
        }
    }
    let _ = (report.to_string(), report.to_json(), report.render(&|_| Some(text.to_owned())));
    Ok(())
}

/// A parse result: a tree within the limits, or a syntax report.
fn check_parsed(text: &str, result: &Result<Value, Report>) -> Result<(), String> {
    match result {
        Ok(value) => {
            let (depth, nodes) = shape(value);
            let limits = schema_core::yaml::Limits::default();
            if depth > limits.max_depth || nodes > limits.max_nodes {
                return Err(format!("a tree beyond the limits: depth {depth}, {nodes} nodes"));
            }
            Ok(())
        }
        Err(report) => check_syntax_report(text, report),
    }
}

/// Pass 1 and pass 2 over a tree: a config, or a report of errors.
fn check_validates(document: &Value) -> Result<(), String> {
    match kres_manager::config::validate(document, system(), ResolveOptions::default()) {
        Ok(_) => Ok(()),
        Err(report) => check_validation_report(&report),
    }
}

/// A failed validation: at least one error, every problem with a message.
fn check_validation_report(report: &Report) -> Result<(), String> {
    if !report.has_errors() {
        return Err(format!("an invalid document without an error: {report:?}"));
    }
    if let Some(problem) = report.problems.iter().find(|p| p.message.trim().is_empty()) {
        return Err(format!("a problem without a message: {problem:?}"));
    }
    let _ = (report.to_string(), report.to_json());
    Ok(())
}

/// An API error as the API answers it: a status and at least one entry with a message.
fn check_api_error(error: ApiError) -> Result<(), String> {
    let (status, entries) = error.parts();
    if status.is_success() || entries.is_empty() {
        return Err(format!("an error answered {status} with {} entries: {error}", entries.len()));
    }
    match entries.iter().find(|e| e["message"].as_str().is_none_or(|m| m.trim().is_empty())) {
        Some(entry) => Err(format!("an error entry without a message: {entry}")),
        None => Ok(()),
    }
}

/// The daemon's validator on a document the API built (no positions), and its error response.
fn check_api_validates(document: &J) -> Result<(), String> {
    match kres_manager::config::validate(&Value::from_json(document), system(), ResolveOptions::default()) {
        Ok(_) => Ok(()),
        Err(report) => {
            check_validation_report(&report)?;
            check_api_error(ApiError::Request(RequestError::Invalid(report)))
        }
    }
}

/// What a file and an API body go through, in both syntaxes (a YAML parser reads JSON too):
/// a file is parsed and validated with positions (`kresctl validate`); a body is read by the
/// API's `body::parse` and its document validated as the daemon does, each failure answered as
/// the API answers it.
fn through_everything(text: &str) -> Result<usize, String> {
    for format in [Format::Yaml, Format::Json] {
        let parsed = schema_core::parse(text, Some("config.yaml"), format);
        check_parsed(text, &parsed)?;
        if let Ok(document) = parsed {
            check_validates(&document)?;
        }
        match body::parse(text, format) {
            Ok(document) => check_api_validates(&document)?,
            Err(error) => check_api_error(error)?,
        }
    }
    Ok(text.len())
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Bytes with a bias to the characters YAML and JSON care about, read as UTF-8 (lossily: the API
/// refuses invalid UTF-8 before parsing).
fn hostile_bytes() -> impl Strategy<Value = String> {
    const SPECIAL: &[u8] = b"{}[]:,-?&*!|>'\"%@`#\\ \n\r\t\x00\xef\xbb\xbf0123456789.eE+~xyn";
    // Three bytes in four are special ones (cheaper to generate than a weighted choice).
    let byte = |b: u8| if b < 192 { SPECIAL[b as usize % SPECIAL.len()] } else { b };
    prop::collection::vec(any::<u8>(), 0..300)
        .prop_map(move |bytes| String::from_utf8_lossy(&bytes.into_iter().map(byte).collect::<Vec<u8>>()).into_owned())
}

/// Keys and scalars: config words, YAML specials, hostile numbers and strings.
const WORDS: &[&str] = &[
    "workers",
    "cache",
    "size-max",
    "network",
    "listen",
    "interface",
    "kind",
    "port",
    "forward",
    "subtree",
    "servers",
    "local-data",
    "addresses",
    "records",
    "views",
    "subnets",
    "tags",
    "logging",
    "level",
    "lua",
    "script",
    "dnssec",
    "trust-anchors",
    "management",
    "unix-socket",
    "nsid",
    "hostname",
    "rundir",
    "options",
    "auto",
    "100M",
    "1G",
    "0B",
    "10s",
    "-1s",
    "127.0.0.1",
    "::1",
    "127.0.0.1@53",
    "::1@853",
    "eth0@53",
    "10.0.0.0/8",
    "::/129",
    "example.com.",
    "a..b",
    "dns",
    "dot",
    "doh2",
    "info",
    "debug",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "false",
    "True",
    "null",
    "Null",
    "~",
    "",
    " ",
    "0",
    "-0",
    "007",
    "0x1F",
    "0o17",
    "0b101",
    "1e9999",
    "-1e9999",
    ".inf",
    "-.Inf",
    ".nan",
    "1_000",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999999999",
    "0.000000000000000000000000001",
    "+1",
    "1.",
    ".5",
    "1:20",
    "é",
    "ü ñ",
    "日本",
    "😀",
    "\u{0}",
    "\u{7}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\u{fffd}",
    "a b",
    "a: b",
    "a #b",
    "a#b",
    "- a",
    "[a]",
    "{a}",
    "'q'",
    "\"d\"",
    "\\",
    "\\u0000",
    "&a",
    "*a",
    "!t",
    "|",
    ">",
    "?",
    ":",
    "-",
    "---",
    "...",
    "<<",
    "%YAML",
    "@",
    "`",
    "{{ x }}",
    "]]",
    "os.exit(1)",
    "/tmp/x",
];

fn word() -> impl Strategy<Value = String> {
    // Not regex strategies: they cost tens of microseconds per value in a debug build.
    const NAME: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._-";
    prop_oneof![
        6 => prop::sample::select(WORDS).prop_map(str::to_owned),
        2 => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| b.iter().map(|b| NAME[*b as usize % NAME.len()] as char).collect()),
        1 => prop::collection::vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect()),
        1 => (prop::sample::select(&["x", "é", "ab", "0"][..]), 100usize..3000).prop_map(|(w, n)| w.repeat(n)),
    ]
}

/// A YAML node before it is written out; `style` bytes pick how it is written.
#[derive(Clone, Debug)]
enum Y {
    Scalar(String, u8),
    Seq(Vec<Y>, u8),
    Map(Vec<(String, u8, Y)>, u8),
    Anchor(u8, Box<Y>),
    Alias(u8),
    Tag(&'static str, Box<Y>),
    Merge(Vec<u8>),
    /// `levels` lists or mappings around a node: near and beyond the depth limit.
    Deep(usize, bool, Box<Y>),
}

const TAGS: &[&str] = &[
    "!!str",
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!map",
    "!!seq",
    "!!binary",
    "!!set",
    "!custom",
    "!<tag:yaml.org,2002:str>",
    "!",
    "!!",
    "!<>",
];

fn yaml_tree() -> impl Strategy<Value = Y> {
    let leaf = prop_oneof![
        8 => (word(), any::<u8>()).prop_map(|(w, s)| Y::Scalar(w, s)),
        2 => (0u8..4).prop_map(Y::Alias),
        1 => prop::collection::vec(0u8..4, 0..4).prop_map(Y::Merge),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            4 => (prop::collection::vec(inner.clone(), 0..6), any::<u8>()).prop_map(|(items, s)| Y::Seq(items, s)),
            4 => (prop::collection::vec((word(), any::<u8>(), inner.clone()), 0..6), any::<u8>())
                .prop_map(|(entries, s)| Y::Map(entries, s)),
            2 => (0u8..4, inner.clone()).prop_map(|(a, n)| Y::Anchor(a, Box::new(n))),
            1 => (prop::sample::select(TAGS), inner.clone()).prop_map(|(t, n)| Y::Tag(t, Box::new(n))),
            1 => (prop_oneof![1usize..8, 120usize..136], any::<bool>(), inner)
                .prop_map(|(levels, flow, n)| Y::Deep(levels, flow, Box::new(n))),
        ]
    })
}

fn yaml_scalar(text: &str, style: u8) -> String {
    match style % 8 {
        0..=3 => text.to_owned(),
        4 => format!("'{}'", text.replace('\'', "''")),
        5 => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
        // Unterminated quotes and raw escapes: broken on purpose.
        6 => format!("\"{text}"),
        _ => format!("'{text}"),
    }
}

fn yaml_flow(node: &Y, out: &mut String) {
    match node {
        Y::Scalar(text, style) => out.push_str(&yaml_scalar(text, *style)),
        Y::Seq(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_flow(item, out);
            }
            out.push(']');
        }
        Y::Map(entries, _) => {
            out.push('{');
            for (i, (key, style, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&yaml_scalar(key, *style));
                out.push_str(": ");
                yaml_flow(value, out);
            }
            out.push('}');
        }
        Y::Anchor(a, node) => {
            out.push_str(&format!("&a{a} "));
            yaml_flow(node, out);
        }
        Y::Alias(a) => out.push_str(&format!("*a{a}")),
        Y::Tag(tag, node) => {
            out.push_str(tag);
            out.push(' ');
            yaml_flow(node, out);
        }
        Y::Merge(aliases) => {
            out.push_str("{<<: [");
            out.push_str(&aliases.iter().map(|a| format!("*a{a}")).collect::<Vec<_>>().join(", "));
            out.push_str("]}");
        }
        Y::Deep(levels, map, node) => {
            let (open, close) = if *map { ("{k: ", "}") } else { ("[", "]") };
            out.push_str(&open.repeat(*levels));
            yaml_flow(node, out);
            out.push_str(&close.repeat(*levels));
        }
    }
}

/// Writes a node in block style where its style byte says so, with odd indentation at times.
fn yaml_block(node: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Y::Seq(items, style) if !items.is_empty() && style % 3 != 0 => {
            let step = 1 + (*style as usize / 3) % 4;
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Y::Seq(i, s) if !i.is_empty() && s % 3 != 0 => {
                        out.push('\n');
                        yaml_block(item, indent + step, out);
                    }
                    Y::Map(e, s) if !e.is_empty() && s % 3 != 0 => {
                        out.push('\n');
                        yaml_block(item, indent + step, out);
                    }
                    _ => {
                        out.push(' ');
                        yaml_flow(item, out);
                        out.push('\n');
                    }
                }
            }
        }
        Y::Map(entries, style) if !entries.is_empty() && style % 3 != 0 => {
            let step = 1 + (*style as usize / 3) % 4;
            for (key, key_style, value) in entries {
                out.push_str(&pad);
                if key_style % 16 == 15 {
                    out.push_str("? ");
                }
                out.push_str(&yaml_scalar(key, *key_style));
                out.push(':');
                match value {
                    Y::Seq(i, s) if !i.is_empty() && s % 3 != 0 => {
                        out.push('\n');
                        // Block sequences may sit at the key's indentation.
                        yaml_block(value, if s % 2 == 0 { indent } else { indent + step }, out);
                    }
                    Y::Map(e, s) if !e.is_empty() && s % 3 != 0 => {
                        out.push('\n');
                        yaml_block(value, indent + step, out);
                    }
                    Y::Scalar(text, s) if s % 16 == 9 => {
                        // A block scalar.
                        out.push_str(if s % 32 == 9 { " |\n" } else { " >-\n" });
                        for line in text.split(' ') {
                            out.push_str(&" ".repeat(indent + step));
                            out.push_str(line);
                            out.push('\n');
                        }
                    }
                    _ => {
                        out.push(' ');
                        yaml_flow(value, out);
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            yaml_flow(other, out);
            out.push('\n');
        }
    }
}

/// Fragments spliced into otherwise well-formed text.
const SPLICES: &[&str] = &[
    "\u{feff}",
    "\0",
    "\r\n",
    "\r",
    "\t",
    "\n\t",
    "'",
    "\"",
    "\\",
    "#",
    ":",
    ": ",
    "- ",
    "-",
    "? ",
    ",",
    "[",
    "]",
    "{",
    "}",
    "---\n",
    "...\n",
    "%YAML 1.2\n---\n",
    "%TAG ! tag:x,2000:\n",
    "|-\n",
    ">+2\n",
    "&a0 ",
    "*a0",
    "*zz",
    "<<: *a0\n",
    "!!binary ",
    "!x ",
    "\u{85}",
    "\u{2028}",
    "1e99999",
    "99999999999999999999",
    "\\ud800",
    "\\u",
    "  ",
    "\n  ",
    "\n    ",
    "\n",
    "é",
    "\u{fffd}",
    "@",
    "`",
    "%",
];

/// Splices fragments in at relative positions, deletes ranges, and sometimes rewrites every
/// line break as CRLF or indentation as tabs, or prefixes a byte-order mark.
/// Splices (relative position, fragment), cuts (relative position, relative length), and a
/// byte that picks a rewrite of the whole text.
type Mutations = (Vec<(f64, &'static str)>, Vec<(f64, f64)>, u8);

fn mutations() -> impl Strategy<Value = Mutations> {
    (
        prop::collection::vec((0.0..1.0f64, prop::sample::select(SPLICES)), 0..4),
        prop::collection::vec((0.0..1.0f64, 0.0..0.05f64), 0..2),
        any::<u8>(),
    )
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(mut text: String, (splices, cuts, whole): &Mutations) -> String {
    for (at, fragment) in splices {
        let at = floor_boundary(&text, (at * text.len() as f64) as usize);
        text.insert_str(at, fragment);
    }
    for (at, len) in cuts {
        let from = floor_boundary(&text, (at * text.len() as f64) as usize);
        let to = floor_boundary(&text, from + (len * text.len() as f64) as usize);
        text.replace_range(from..to, "");
    }
    match whole % 16 {
        0 => text.replace('\n', "\r\n"),
        1 => text.replace("  ", "\t"),
        2 => format!("\u{feff}{text}"),
        3 => format!("---\n{text}"),
        _ => text,
    }
}

fn yamlish() -> impl Strategy<Value = String> {
    (yaml_tree(), mutations()).prop_map(|(tree, m)| {
        let mut text = String::new();
        yaml_block(&tree, 0, &mut text);
        mutate(text, &m)
    })
}

/// A JSON node before it is written out.
#[derive(Clone, Debug)]
enum Jn {
    Raw(&'static str),
    Str(String),
    Arr(Vec<Jn>),
    Obj(Vec<(String, Jn)>),
    Deep(usize, bool, Box<Jn>),
}

const JSON_ATOMS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e400",
    "-1e400",
    "1E-400",
    "0.0000001",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "01",
    "1.",
    ".5",
    "+1",
    "-",
    "1e",
    "1e+",
    "NaN",
    "Infinity",
    "nul",
    "tru",
    "\"\\ud800\"",
    "\"\\udc00\"",
    "\"\\ud83d\\ude00\"",
    "\"\\u0000\"",
    "\"\\x\"",
    "\"\\u12\"",
    "\"\t\"",
    "\"",
    "'single'",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
];

fn json_tree() -> impl Strategy<Value = Jn> {
    let leaf = prop_oneof![
        3 => prop::sample::select(JSON_ATOMS).prop_map(Jn::Raw),
        3 => word().prop_map(Jn::Str),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            4 => prop::collection::vec(inner.clone(), 0..6).prop_map(Jn::Arr),
            4 => prop::collection::vec((word(), inner.clone()), 0..6).prop_map(Jn::Obj),
            1 => (prop_oneof![1usize..8, 120usize..136], any::<bool>(), inner)
                .prop_map(|(levels, obj, n)| Jn::Deep(levels, obj, Box::new(n))),
        ]
    })
}

fn json_write(node: &Jn, space: &str, out: &mut String) {
    match node {
        Jn::Raw(raw) => out.push_str(raw),
        Jn::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string")),
        Jn::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(space);
                }
                json_write(item, space, out);
            }
            out.push(']');
        }
        Jn::Obj(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(space);
                }
                out.push_str(&serde_json::to_string(key).expect("a string"));
                out.push(':');
                out.push_str(space);
                json_write(value, space, out);
            }
            out.push('}');
        }
        Jn::Deep(levels, obj, node) => {
            let (open, close) = if *obj { ("{\"k\":", "}") } else { ("[", "]") };
            out.push_str(&open.repeat(*levels));
            json_write(node, space, out);
            out.push_str(&close.repeat(*levels));
        }
    }
}

fn jsonish() -> impl Strategy<Value = String> {
    let space = prop::sample::select(&["", " ", "\n", "\n  ", "\t", "\r\n", " \u{a0}"][..]);
    (json_tree(), space, mutations()).prop_map(|(tree, space, m)| {
        let mut text = String::new();
        json_write(&tree, space, &mut text);
        mutate(text, &m)
    })
}

/// JSON leaves a config might meet: right and wrong types, units, addresses, edge numbers.
fn json_leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        4 => word().prop_map(J::String),
        1 => any::<i64>().prop_map(J::from),
        1 => prop::sample::select(&[0i64, 1, -1, 2, 53, 443, 65535, 65536, 4_294_967_296, i64::MAX, i64::MIN][..])
            .prop_map(J::from),
        1 => any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(J::Null, J::Number)),
        1 => prop::sample::select(vec![J::Null, J::Bool(true), J::Bool(false), json!([]), json!({})]),
    ]
}

/// Mostly leaves, sometimes a small tree (trees cost ten times more to generate).
fn json_small() -> impl Strategy<Value = J> {
    prop_oneof![4 => json_leaf(), 1 => json_value()]
}

fn json_value() -> impl Strategy<Value = J> {
    json_leaf().prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Array),
            prop::collection::vec((word(), inner), 0..5).prop_map(|e| J::Object(e.into_iter().collect())),
        ]
    })
}

/// The example configs (every section with typical values) and the empty one, as JSON.
fn bases() -> &'static [J] {
    static BASES: OnceLock<Vec<J>> = OnceLock::new();
    BASES.get_or_init(|| {
        [include_str!("../../examples/full.yaml"), include_str!("../../examples/quickstart.yaml"), "{}"]
            .iter()
            .map(|text| schema_core::yaml::parse(text, None).expect("the examples parse").to_json())
            .collect()
    })
}

/// Every key name the configuration schema knows, at any depth.
fn config_keys() -> Vec<String> {
    fn collect(schema: &J, keys: &mut std::collections::BTreeSet<String>) {
        match schema {
            J::Object(map) => {
                if let Some(J::Object(properties)) = map.get("properties") {
                    keys.extend(properties.keys().cloned());
                }
                map.values().for_each(|v| collect(v, keys));
            }
            J::Array(items) => items.iter().for_each(|v| collect(v, keys)),
            _ => {}
        }
    }
    let mut keys = std::collections::BTreeSet::new();
    collect(&kres_manager::config::json_schema(), &mut keys);
    keys.into_iter().collect()
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn count_nodes(value: &J) -> usize {
    1 + match value {
        J::Object(map) => map.values().map(count_nodes).sum(),
        J::Array(items) => items.iter().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The path of the node `at` picks, in pre-order (the root is 0).
fn pick_path(value: &J, at: &Index) -> Vec<Step> {
    fn walk(value: &J, n: &mut usize, path: &mut Vec<Step>) -> bool {
        if *n == 0 {
            return true;
        }
        *n -= 1;
        let children: Box<dyn Iterator<Item = (Step, &J)>> = match value {
            J::Object(map) => Box::new(map.iter().map(|(k, v)| (Step::Key(k.clone()), v))),
            J::Array(items) => Box::new(items.iter().enumerate().map(|(i, v)| (Step::Index(i), v))),
            _ => return false,
        };
        for (step, child) in children {
            path.push(step);
            if walk(child, n, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut n = at.index(count_nodes(value));
    let mut path = Vec::new();
    walk(value, &mut n, &mut path);
    path
}

fn node_mut<'v>(mut value: &'v mut J, path: &[Step]) -> Option<&'v mut J> {
    for step in path {
        value = match (value, step) {
            (J::Object(map), Step::Key(k)) => map.get_mut(k)?,
            (J::Array(items), Step::Index(i)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

fn pointer_text(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Key(k) => format!("/{}", k.replace('~', "~0").replace('/', "~1")),
            Step::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// One change to a document, at the node picked by the index.
#[derive(Clone, Debug)]
enum Edit {
    Set(J),
    Insert(String, J),
    Remove,
    Wrap(bool),
    Duplicate(Index),
    Rename(String),
}

fn edit() -> impl Strategy<Value = (Index, Edit)> {
    let key = prop_oneof![3 => prop::sample::select(config_keys()), 1 => word()];
    let edit = prop_oneof![
        4 => json_small().prop_map(Edit::Set),
        3 => (key.clone(), json_small()).prop_map(|(k, v)| Edit::Insert(k, v)),
        2 => Just(Edit::Remove),
        1 => any::<bool>().prop_map(Edit::Wrap),
        1 => any::<Index>().prop_map(Edit::Duplicate),
        1 => key.prop_map(Edit::Rename),
    ];
    (any::<Index>(), edit)
}

fn apply_edit(doc: &mut J, (at, edit): &(Index, Edit)) {
    let path = &pick_path(doc, at);
    let copied = match edit {
        Edit::Duplicate(from) => pick_path(doc, from),
        _ => Vec::new(),
    };
    let copied = node_mut(doc, &copied).map(|v| v.clone());
    let (parent, last) = match path.split_last() {
        Some((last, parent)) => (Some(parent), Some(last)),
        None => (None, None),
    };
    match edit {
        Edit::Set(v) => *node_mut(doc, path).expect("a path of the document") = v.clone(),
        Edit::Insert(k, v) => match node_mut(doc, path).expect("a path of the document") {
            J::Object(map) => {
                map.insert(k.clone(), v.clone());
            }
            J::Array(items) => items.push(v.clone()),
            other => *other = json!({ k.clone(): v.clone() }),
        },
        Edit::Remove => {
            if let (Some(parent), Some(last)) = (parent, last) {
                match (node_mut(doc, parent), last) {
                    (Some(J::Object(map)), Step::Key(k)) => {
                        map.shift_remove(k);
                    }
                    (Some(J::Array(items)), Step::Index(i)) => {
                        items.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        Edit::Wrap(list) => {
            let node = node_mut(doc, path).expect("a path of the document");
            let inner = node.take();
            *node = if *list { J::Array(vec![inner]) } else { json!({ "value": inner }) };
        }
        Edit::Duplicate(_) => *node_mut(doc, path).expect("a path of the document") = copied.unwrap_or(J::Null),
        Edit::Rename(k) => {
            if let (Some(parent), Some(Step::Key(old))) = (parent, last)
                && let Some(J::Object(map)) = node_mut(doc, parent)
                && let Some(v) = map.shift_remove(old)
            {
                map.insert(k.clone(), v);
            }
        }
    }
}

/// A JSON-quoted key, explicit (`? key`) when longer than YAML allows implicit keys to be.
fn yaml_key(key: &str) -> (bool, String) {
    let quoted = serde_json::to_string(key).expect("a string");
    (quoted.chars().count() > 1000, quoted)
}

/// Flow YAML from a JSON value: JSON, but with explicit keys where they are long.
fn yaml_flow_of(value: &J, out: &mut String) {
    match value {
        J::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                yaml_flow_of(item, out);
            }
            out.push(']');
        }
        J::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let (long, key) = yaml_key(k);
                if long {
                    out.push_str("? ");
                }
                out.push_str(&key);
                out.push_str(": ");
                yaml_flow_of(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&serde_json::to_string(scalar).expect("serializes")),
    }
}

/// Block YAML from a JSON value; strings double-quoted (JSON's escapes are YAML's), collections
/// in block or flow style as `style` bits say.
fn yaml_of(value: &J, indent: usize, style: u64, out: &mut String) {
    let pad = " ".repeat(indent);
    let nested = |v: &J| matches!(v, J::Object(m) if !m.is_empty()) || matches!(v, J::Array(a) if !a.is_empty());
    match value {
        J::Object(map) if !map.is_empty() && style & 1 == 0 => {
            for (i, (k, v)) in map.iter().enumerate() {
                let style = style.rotate_right(1 + i as u32 % 7);
                let (long, key) = yaml_key(k);
                if long {
                    out.push_str(&format!("{pad}? {key}\n{pad}:"));
                } else {
                    out.push_str(&format!("{pad}{key}:"));
                }
                if nested(v) && style & 1 == 0 {
                    out.push('\n');
                    yaml_of(v, indent + 2, style, out);
                } else {
                    out.push(' ');
                    yaml_flow_of(v, out);
                    out.push('\n');
                }
            }
        }
        J::Array(items) if !items.is_empty() && style & 1 == 0 => {
            for (i, item) in items.iter().enumerate() {
                let style = style.rotate_right(1 + i as u32 % 5);
                if nested(item) && style & 1 == 0 {
                    out.push_str(&format!("{pad}-\n"));
                    yaml_of(item, indent + 2, style, out);
                } else {
                    out.push_str(&format!("{pad}- "));
                    yaml_flow_of(item, out);
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&pad);
            yaml_flow_of(other, out);
            out.push('\n');
        }
    }
}

/// A config document (an example, or empty) after a few edits at random places.
fn config_document() -> impl Strategy<Value = J> {
    (0..bases().len(), prop::collection::vec(edit(), 1..5)).prop_map(|(base, edits)| {
        let mut doc = bases()[base].clone();
        for e in &edits {
            apply_edit(&mut doc, e);
        }
        doc
    })
}

/// Where an operation points: at a node of the document (with a twist) or somewhere odd.
#[derive(Clone, Debug)]
enum Target {
    Node(Index, u8),
    Raw(&'static str),
}

const ODD_POINTERS: &[&str] = &[
    "",
    "/",
    "//",
    "a",
    "~",
    "/~",
    "/~2",
    "/~01",
    "/-",
    "/00",
    "/01",
    "/-1",
    "/ 1",
    "/18446744073709551616",
    "/workers",
    "/cache/size-max",
    "/network/listen/0",
    "/network/listen/-",
    "/network/listen/0/interface",
    "/local-data/addresses/a.example.",
    "/views/0/subnets/-",
];

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        4 => (any::<Index>(), any::<u8>()).prop_map(|(i, t)| Target::Node(i, t)),
        1 => prop::sample::select(ODD_POINTERS).prop_map(Target::Raw),
    ]
}

fn target_text(doc: &J, target: &Target) -> String {
    match target {
        Target::Raw(raw) => (*raw).to_owned(),
        Target::Node(at, twist) => {
            let base = pointer_text(&pick_path(doc, at));
            match twist % 10 {
                0 => format!("{base}/-"),
                1 => format!("{base}/0"),
                2 => format!("{base}/new-key"),
                3 => format!("{base}/"),
                4 => format!("{base}/~1x~0"),
                _ => base,
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Operation {
    op: &'static str,
    path: Target,
    from: Target,
    value: J,
    /// Which field to leave out or give the wrong type.
    damage: u8,
}

fn operation() -> impl Strategy<Value = Operation> {
    let op = prop::sample::select(
        &["add", "add", "remove", "replace", "replace", "move", "copy", "test", "ADD", "", "frobnicate"][..],
    );
    (op, target(), target(), json_small(), any::<u8>()).prop_map(|(op, path, from, value, damage)| Operation {
        op,
        path,
        from,
        value,
        damage,
    })
}

fn patch_json(doc: &J, operations: &[Operation]) -> J {
    J::Array(
        operations
            .iter()
            .map(|o| {
                let mut op = json!({
                    "op": o.op,
                    "path": target_text(doc, &o.path),
                    "from": target_text(doc, &o.from),
                    "value": o.value,
                });
                let fields = op.as_object_mut().expect("an object");
                match o.damage % 12 {
                    0 => drop(fields.shift_remove("path")),
                    1 => drop(fields.shift_remove("value")),
                    2 => drop(fields.shift_remove("from")),
                    3 => drop(fields.insert("op".into(), json!(5))),
                    4 => drop(fields.insert("path".into(), json!(["a"]))),
                    _ => {}
                }
                op
            })
            .collect(),
    )
}

/// An edit of the current document as the API gets it: `PATCH` (a JSON Patch relative to the
/// pointer in the URL), `PUT` (a value at the pointer) or `DELETE`, the body in JSON or YAML.
#[derive(Clone, Debug)]
struct PatchCase {
    doc: J,
    method: &'static str,
    /// The pointer in the URL, before percent-decoding.
    url: Target,
    /// `%XX`-escape the URL pointer's characters that this byte's bits pick.
    escapes: u8,
    operations: Vec<Operation>,
    /// The body instead of a list of operations (for `PUT`, the value).
    other_body: Option<J>,
    yaml_body: bool,
}

fn patch_case() -> impl Strategy<Value = PatchCase> {
    let doc = prop_oneof![2 => config_document(), 1 => json_value()];
    let method = prop::sample::select(&["PATCH", "PATCH", "PATCH", "PUT", "DELETE"][..]);
    let url = prop_oneof![3 => Just(Target::Raw("")), 2 => target()];
    (doc, method, url, any::<u8>(), prop::collection::vec(operation(), 0..5), json_small(), any::<(u8, bool)>())
        .prop_map(|(doc, method, url, escapes, operations, other, (pick, yaml_body))| {
            let other_body = (method == "PUT" || pick < 12).then_some(other);
            PatchCase { doc, method, url, escapes, operations, other_body, yaml_body }
        })
}

/// The URL form of a pointer: some characters `%XX`-escaped, and a broken escape at times.
fn url_text(pointer: &str, escapes: u8) -> String {
    let mut out = String::new();
    for (i, c) in pointer.chars().enumerate() {
        if escapes & (1 << (i % 8)) != 0 {
            let mut buf = [0u8; 4];
            c.encode_utf8(&mut buf).bytes().for_each(|b| out.push_str(&format!("%{b:02X}")));
        } else {
            out.push(c);
        }
    }
    if escapes == 0xff {
        out.push_str("%G");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// Parsing and validating text, and the error report as JSON (what the API answers): a tree of
/// many tiny entries costs up to about 25 times its text, its report as JSON about 1 KiB per
/// problem (120 times a text of one unknown key per line); plus what validation needs whatever
/// the input (the default config, the schema). See docs/reliability.md.
const TEXT_BUDGET: Budget = Budget { per_byte: 160, slack: 8 << 20 };

#[test]
fn hostile_bytes_and_utf8() {
    fuzz("bytes", hostile_bytes(), TEXT_BUDGET, |text| {
        // The other things the API reads from a request: the Content-Type, the pointer in the
        // URL, the query flags.
        let _ = Format::from_content_type(text);
        let _ = percent_decode(text);
        if let Err(error) = body::Flags::parse(Some(text), &["dry-run", "force"]) {
            check_api_error(error)?;
        }
        through_everything(text)
    });
}

#[test]
fn yamlish_text() {
    fuzz("yaml", yamlish(), TEXT_BUDGET, |text| through_everything(text));
}

#[test]
fn jsonish_text() {
    fuzz("json", jsonish(), TEXT_BUDGET, |text| through_everything(text));
}

/// A problem as the API shows it, without its position.
fn problems(result: &Result<kres_manager::config::Validated, Report>) -> Result<Vec<String>, Vec<String>> {
    let list = |report: &Report| report.problems.iter().map(|p| format!("{}: {}", p.location(), p.message)).collect();
    match result {
        Ok(validated) => Ok(list(&validated.notes)),
        Err(report) => Err(list(report)),
    }
}

/// A config-shaped document, written as a JSON body and as a YAML body: both parse to the same
/// tree, which validates (or not) exactly like the tree built from the JSON value itself (the
/// path of API-patched documents); a valid one renders (hostile strings that pass validation
/// reach the Lua templates).
fn check_config((doc, style, pretty): &(J, u64, bool)) -> Result<usize, String> {
    let json_text = if *pretty { serde_json::to_string_pretty(doc) } else { serde_json::to_string(doc) }
        .map_err(|e| format!("serializing: {e}"))?;
    let mut yaml_text = String::new();
    yaml_of(doc, 0, *style, &mut yaml_text);
    let from_json = schema_core::parse(&json_text, Some("body"), Format::Json);
    let from_yaml = schema_core::parse(&yaml_text, Some("body"), Format::Yaml);
    check_parsed(&json_text, &from_json)?;
    check_parsed(&yaml_text, &from_yaml)?;
    let (tree, yaml_tree) = match (from_json, from_yaml) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(report), _) => return Err(format!("a JSON value's text does not parse as JSON: {report}\n{json_text}")),
        (_, Err(report)) => return Err(format!("the YAML body does not parse: {report}\n{yaml_text}")),
    };
    if tree.to_json() != yaml_tree.to_json() {
        return Err(format!("the JSON and YAML bodies parse to different trees:\n{json_text}\n{yaml_text}"));
    }
    let verdict = kres_manager::config::validate(&tree, system(), ResolveOptions::default());
    let spanless = kres_manager::config::validate(&Value::from_json(doc), system(), ResolveOptions::default());
    if problems(&verdict) != problems(&spanless) {
        return Err(format!(
            "parsed text and JSON value validate differently: {:?} vs {:?}",
            problems(&verdict),
            problems(&spanless)
        ));
    }
    match verdict {
        // Rendering costs about 2 ms in a debug build: one valid config in eight.
        Ok(validated) if style % 8 == 0 => {
            let worker = kres_manager::kresd::render::WorkerContext { id: 0, control_socket: "/run/kres/c0".into() };
            kres_manager::kresd::render::render_worker(kres_tests::kresd::dialect(), &validated.config, &worker)
                .map_err(|e| format!("a valid config does not render: {e:#}"))?;
        }
        Ok(_) => {}
        Err(report) => check_validation_report(&report)?,
    }
    Ok(json_text.len() + yaml_text.len())
}

#[test]
fn config_shaped_documents() {
    let case = (config_document(), any::<u64>(), any::<bool>());
    fuzz("config", case, TEXT_BUDGET, check_config);
}

/// An edit as the API makes it: the URL's pointer percent-decoded, the body read by
/// `body::parse`, turned into operations (`relative_patch`, `put_operations`, a `remove`),
/// applied all or nothing by `apply_patch`, the result validated as the daemon's validator
/// does; each refusal answered as the API answers it.
fn check_patch(case: &PatchCase) -> Result<usize, String> {
    let body_value = match (&case.other_body, case.method) {
        (Some(other), _) => other.clone(),
        (None, _) => patch_json(&case.doc, &case.operations),
    };
    let (text, format) = if case.yaml_body {
        let mut text = String::new();
        yaml_of(&body_value, 0, 0, &mut text);
        (text, Format::Yaml)
    } else {
        (serde_json::to_string(&body_value).map_err(|e| e.to_string())?, Format::Json)
    };
    let size = text.len() + serde_json::to_string(&case.doc).map_err(|e| e.to_string())?.len();
    let Some(pointer) = percent_decode(&url_text(&target_text(&case.doc, &case.url), case.escapes)) else {
        return Ok(size);
    };
    let parsed = match body::parse(&text, format) {
        Ok(value) => value,
        Err(error) => {
            check_api_error(error)?;
            return Err(format!("the body (a JSON value's text) does not parse:\n{text}"));
        }
    };
    let operations = match case.method {
        "PATCH" => relative_patch(&pointer, parsed),
        "PUT" => put_operations(&case.doc, &pointer, parsed),
        _ => Ok(json!([{"op": "remove", "path": pointer}])),
    };
    let operations = match operations {
        Ok(operations) => operations,
        Err(error) => return check_api_error(error).map(|()| size),
    };
    let mut doc = case.doc.clone();
    match apply_patch(&mut doc, &operations) {
        Err(error) => {
            if doc != case.doc {
                return Err(format!("a refused patch ({error}) changed the document"));
            }
            check_api_error(ApiError::Request(RequestError::Patch(error)))?;
        }
        Ok(()) => {
            if let Some([operation]) = operations.as_array().map(Vec::as_slice) {
                check_one_operation(&case.doc, &doc, operation)?;
            }
            check_api_validates(&doc)?;
        }
    }
    Ok(size)
}

/// What RFC 6902 promises after one operation succeeded.
fn check_one_operation(before: &J, after: &J, operation: &J) -> Result<(), String> {
    use kres_manager::config::patch::get;
    let field = |name: &str| operation.get(name).and_then(J::as_str).unwrap_or_default();
    let (op, path, from) = (field("op"), field("path"), field("from"));
    let appended = path.ends_with("/-");
    let broken = |what: &str| Err(format!("`{op}` succeeded but {what}: {operation}"));
    match op {
        "add" | "replace" if !appended && get(after, path).ok() != operation.get("value") => {
            broken("the value is not at its path")
        }
        "copy" if !appended && get(after, path).ok() != get(before, from).ok() => {
            broken("the copy differs from its source")
        }
        "test" if after != before => broken("the document changed"),
        _ => Ok(()),
    }
}

/// Patches copy and move values around: a handful of operations may multiply the document a
/// few times over (see `patch_copies_cannot_double_the_document_forever` for the unbounded case).
const PATCH_BUDGET: Budget = Budget { per_byte: 512, slack: 64 << 20 };

#[test]
fn api_patches() {
    fuzz("patch", patch_case(), PATCH_BUDGET, check_patch);
}

// ---------------------------------------------------------------------------------------------
// The limits, one by one, and documents built to be expensive.

/// The CPU time limit of the explicit tests below: a second in a release build; more in a debug
/// build, which is ten times slower (before the fixes these documents took from ten seconds to
/// minutes, or exhausted the memory).
fn explicit_deadline() -> Duration {
    if cfg!(debug_assertions) { Duration::from_secs(5) } else { Duration::from_secs(1) }
}

/// Runs `job` on the watchdog thread: it must succeed within `deadline` and `budget`.
fn bounded(name: &str, input: usize, budget: Budget, deadline: Duration, job: Job) -> Outcome {
    let outcome = Watchdog::new(0).run(job, deadline).unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Err(message) = &outcome.result {
        panic!("{name}: {message}");
    }
    let bound = budget.per_byte * input + budget.slack;
    assert!(outcome.peak <= bound, "{name}: peak heap {} bytes for {input} bytes of input", outcome.peak);
    outcome
}

fn parse_error(text: &str, format: Format) -> schema_core::Problem {
    let report = schema_core::parse(text, Some("t"), format).expect_err("refused");
    check_syntax_report(text, &report).unwrap_or_else(|e| panic!("{e}"));
    report.problems[0].clone()
}

#[test]
fn nesting_deeper_than_the_limit_is_a_clear_error() {
    let limit = schema_core::yaml::Limits::default().max_depth;
    assert_eq!(limit, 128);
    let flow = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let json_objects = |n: usize| format!("{}1{}", "{\"a\": ".repeat(n), "}".repeat(n));
    let block_lists = |n: usize| format!("{}x\n", "- ".repeat(n));
    let block_maps =
        |n: usize| (0..n).map(|i| format!("{}a:\n", " ".repeat(i))).collect::<String>() + &" ".repeat(n) + "1\n";
    // At the limit: accepted.
    for (text, format) in [
        (flow(limit), Format::Yaml),
        (flow(limit), Format::Json),
        (json_objects(limit), Format::Json),
        (block_lists(limit), Format::Yaml),
        (block_maps(limit), Format::Yaml),
    ] {
        let value = schema_core::parse(&text, None, format).unwrap_or_else(|r| panic!("{format:?}: {r}"));
        assert_eq!(shape(&value).0, limit);
    }
    // One level more: refused, with the limit, the pointer and the position of the level too many.
    for (text, format, column) in [
        (flow(limit + 1), Format::Yaml, 129),
        (flow(limit + 1), Format::Json, 129),
        (json_objects(limit + 1), Format::Json, 6 * 128 + 1),
        (block_lists(limit + 1), Format::Yaml, 257),
    ] {
        let problem = parse_error(&text, format);
        assert!(problem.message.contains("nests deeper than 128 levels"), "{format:?}: {problem}");
        assert_eq!(problem.span.map(|s| (s.line, s.column)), Some((1, column)), "{format:?}: {problem}");
        assert_eq!(problem.pointer.0.len(), 128, "{format:?}: {problem}");
    }
    let problem = parse_error(&block_maps(limit + 1), Format::Yaml);
    assert!(problem.message.contains("nests deeper than 128 levels"), "{problem}");
    assert_eq!(problem.span.map(|s| (s.line, s.column)), Some((129, 129)), "{problem}");
    // Far deeper input is refused as early, without recursion.
    for format in [Format::Yaml, Format::Json] {
        let problem = parse_error(&flow(1_000_000), format);
        assert!(
            problem.message.contains("deeper than 128") || problem.message.contains("recursion limit"),
            "{problem}"
        );
    }
}

#[test]
fn aliases_do_not_nest_past_the_limit() {
    // Each anchor holds the previous one 120 levels deeper: the depth check counts what an
    // alias copies (before, 40 such lines built a tree 4,800 levels deep and dropping it
    // overflowed the stack).
    let mut text = String::from("a0: &a0 [x]\n");
    for i in 1..40 {
        text.push_str(&format!("a{i}: &a{i} {}*a{}{}\n", "[".repeat(120), i - 1, "]".repeat(120)));
    }
    let input = text.len();
    bounded(
        "alias depth",
        input,
        TEXT_BUDGET,
        explicit_deadline(),
        Box::new(move || {
            let problem = parse_error(&text, Format::Yaml);
            if !problem.message.contains("nests deeper than 128 levels (with what this alias copies)") {
                return Err(problem.to_string());
            }
            Ok(input)
        }),
    );
}

#[test]
fn documents_over_the_size_limit_are_refused() {
    let limit = schema_core::yaml::Limits::default().max_bytes;
    assert_eq!(limit, 64 << 20);
    let mut text = "a: 1\n".repeat(limit / 5);
    text.push_str("b: 2\n");
    for format in [Format::Yaml, Format::Json] {
        let started = thread_cpu_time();
        let report = schema_core::parse(&text, Some("t"), format).expect_err("refused");
        let elapsed = thread_cpu_time().saturating_sub(started);
        let problem = &report.problems[0];
        assert_eq!(
            problem.to_string(),
            format!(
                "/: the document is {} bytes long, more than the limit of 67108864 bytes; refusing to parse it \
                 (at t:{}:{})",
                text.len(),
                limit / 5 + 1,
                limit % 5 + 1
            )
        );
        assert!(elapsed < explicit_deadline() * 2, "{elapsed:?}");
    }
}

/// The classic: 9 levels of 10 aliases each, a billion strings from a few hundred bytes.
fn billion_laughs() -> String {
    let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let aliases = vec![format!("*{}", pair[0]); 10].join(", ");
        text.push_str(&format!("{}: &{} [{aliases}]\n", pair[1], pair[1]));
    }
    text
}

#[test]
fn billion_laughs_are_refused_quickly() {
    let text = billion_laughs();
    let input = text.len();
    let outcome = bounded(
        "billion laughs",
        input,
        TEXT_BUDGET,
        explicit_deadline(),
        Box::new(move || {
            let problem = parse_error(&text, Format::Yaml);
            if !problem.message.contains("aliases copy more than 100000 nodes in total (an alias bomb?)") {
                return Err(problem.to_string());
            }
            Ok(input)
        }),
    );
    assert!(outcome.elapsed < Duration::from_millis(100), "took {:?}", outcome.elapsed);
    eprintln!("billion laughs ({input} bytes) refused in {:?}, peak heap {} KiB", outcome.elapsed, outcome.peak / 1024);
}

/// Documents built to cost time or memory out of proportion to their size (found by fuzzing
/// and by hand): each must be parsed (and validated) or refused within a second and within the
/// memory budget of ordinary text.
#[test]
fn expensive_documents_stay_bounded() {
    let n = 100_000;
    let keys = |n: usize| (0..n).map(|i| format!("k{i}: {i}")).collect::<Vec<_>>().join(", ");
    let long_keys: String = (0..500).map(|i| format!("{}{i}: x\n", "k".repeat(1000))).collect();
    let mut nested_anchors: String = (0..100).map(|i| format!("&a{i} [")).collect();
    nested_anchors.push_str(&vec!["x"; 4000].join(", "));
    nested_anchors.push_str(&"]".repeat(100));
    let big_anchor =
        format!("big: &big [{}]\nuse: [{}]\n", vec!["x"; 50_000].join(", "), vec!["*big"; 1000].join(", "));
    let cases: Vec<(&str, String, Format)> = vec![
        ("one-line flow mapping of many keys", format!("{{{}}}\n", keys(n / 10)), Format::Yaml),
        ("merge of a big mapping", format!("b: &b {{{}}}\nm:\n  <<: *b\n  x: 1\n", keys(n / 10)), Format::Yaml),
        ("nested anchors around a long list", nested_anchors, Format::Yaml),
        ("many aliases of one big node", big_anchor, Format::Yaml),
        ("long keys with a common prefix", long_keys.clone(), Format::Yaml),
        ("long keys, full parser", format!("{long_keys}\t"), Format::Yaml),
        ("long key repeated", format!("{}: 1\n{}: 2\n", "k".repeat(n), "k".repeat(n)), Format::Yaml),
        ("long unknown key", format!("{}: 1\n", "ab".repeat(n)), Format::Yaml),
        ("long non-ASCII flow line", format!("a: [{}]\n", vec!["é"; n / 4].join(", ")), Format::Yaml),
        ("long plain scalar", format!("a: {}\n", "x".repeat(n)), Format::Yaml),
        ("long multi-line plain scalar", format!("a: {}\n", "x\n ".repeat(n / 3)), Format::Yaml),
        ("long double-quoted escapes", format!("a: \"{}\"\n", "\\n".repeat(n / 2)), Format::Yaml),
        ("many CRLF lines", (0..n / 10).map(|i| format!("k{i}: v\r\n")).collect(), Format::Yaml),
        ("deep indentation", format!("a:\n{}b: 1\n", " ".repeat(n)), Format::Yaml),
        ("unterminated flow", "[".repeat(n), Format::Yaml),
        ("many implicit keys", "a ".repeat(n / 2), Format::Yaml),
        ("many explicit keys", "? a\n".repeat(n / 4), Format::Yaml),
        ("many anchors", (0..n / 10).map(|i| format!("- &a{i} x\n")).collect(), Format::Yaml),
        ("many aliases", format!("- &a x\n{}", "- *a\n".repeat(n / 5)), Format::Yaml),
        ("long tag", format!("a: !{} x\n", "t".repeat(n)), Format::Yaml),
        ("long anchor name", format!("a: &{} x\nb: *{}\n", "t".repeat(n / 2), "t".repeat(n / 2)), Format::Yaml),
        ("dashes", "- ".repeat(n / 2), Format::Yaml),
        ("JSON: unterminated nesting", "[".repeat(n), Format::Json),
        ("JSON: long escapes", format!("\"{}\"", "\\u00e9".repeat(n / 6)), Format::Json),
        (
            "JSON: many keys",
            format!("{{{}}}", (0..n / 10).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(",")),
            Format::Json,
        ),
        ("JSON: long number", "1".repeat(n), Format::Json),
        ("JSON: long fraction", format!("1.{}", "1".repeat(n)), Format::Json),
        ("JSON: long exponent", format!("1e{}", "1".repeat(n)), Format::Json),
        ("JSON: long unknown key", format!("{{\"{}\": 1}}", "ab".repeat(n)), Format::Json),
    ];
    for (name, text, format) in cases {
        let input = text.len();
        let outcome = bounded(
            name,
            input,
            TEXT_BUDGET,
            explicit_deadline(),
            Box::new(move || {
                let parsed = schema_core::parse(&text, Some("t"), format);
                check_parsed(&text, &parsed)?;
                if let Ok(document) = parsed {
                    check_validates(&document)?;
                }
                Ok(input)
            }),
        );
        eprintln!("{name}: {input} bytes in {:?}, peak heap {} KiB", outcome.elapsed, outcome.peak / 1024);
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found by this fuzzing in `kres_manager::config::patch`, fixed there (limits on the
// depth and the number of values of a patched document); these are their regression tests.

/// Each `copy` of the whole document into itself doubles it: 20 operations (751 bytes of
/// patch) made 30 MB; 40 would exhaust the memory. A patch must be refused once the document
/// it builds passes a size limit.
#[test]
fn patch_copies_cannot_double_the_document_forever() {
    let operations: Vec<J> = (0..40).map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")})).collect();
    let patch = J::Array(operations);
    let input = patch.to_string().len();
    bounded(
        "copy doubling",
        input,
        PATCH_BUDGET,
        Duration::from_secs(5),
        Box::new(move || {
            let mut doc = json!({"a": [1, 2, 3, 4, 5, 6, 7, 8]});
            match apply_patch(&mut doc, &patch) {
                Err(_) => Ok(input),
                Ok(()) => Err("a patch that doubles the document 40 times was applied".into()),
            }
        }),
    );
}

/// Patches nest values into values: 100 `add` operations (1.3 MB of JSON body, under the API's
/// 16 MiB limit) each adding 125 levels below the last built a document 12,600 levels deep;
/// `Value::from_json` (the daemon's validator) then overflowed the stack and aborted the
/// process. A patch must be refused once the document it builds nests deeper than the parsers'
/// limit (128).
#[test]
fn patches_cannot_nest_the_document_past_the_limit() {
    let deep = |n: usize| (0..n).fold(json!(1), |v, _| json!({ "a": v }));
    let mut operations = Vec::new();
    let mut path = String::new();
    for _ in 0..100 {
        operations.push(json!({"op": "add", "path": format!("{path}/a"), "value": deep(125)}));
        path.push_str(&"/a".repeat(125));
    }
    let body = J::Array(operations).to_string();
    let input = body.len();
    bounded(
        "deep patch",
        input,
        PATCH_BUDGET,
        Duration::from_secs(5),
        Box::new(move || {
            // As the API: the body through schema-core's parser (which accepts it: each operation
            // is only 128 levels deep), then the patch, then the validator.
            let patch = schema_core::parse(&body, Some("body"), Format::Json).map_err(|r| r.to_string())?.to_json();
            let mut doc = json!({});
            if apply_patch(&mut doc, &patch).is_ok() {
                let _ = kres_manager::config::validate(&Value::from_json(&doc), system(), ResolveOptions::default());
                return Err("a patch nesting the document 12,600 levels deep was applied".into());
            }
            Ok(input)
        }),
    );
}
