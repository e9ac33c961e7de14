//! Metrics: the statistics of every running worker, read over its control socket at each
//! request, and the manager's own figures. `GET /metrics/json` and `GET /metrics/prometheus`
//! (text format 0.0.4).
//!
//! # Collection
//!
//! The workers are asked concurrently (`stats.list()` and `worker.stats()` in one exchange),
//! each within [`STATS_TIMEOUT`](super::STATS_TIMEOUT): a worker that does not answer in time,
//! or is not running, is reported (`kresd_up{instance="kresd1"} 0`, an entry under `errors`),
//! never waited for.
//!
//! # Counters that never go backwards
//!
//! A worker's counters start from zero when it restarts (a crash, a rolling change). Each
//! worker keeps, per counter, the last value it reported and an offset: when the pid changed
//! (each worker reports its own pid with its statistics) or any counter dropped, the worker
//! restarted, and every counter's last value is added to its offset. What is shown is value + offset, so each series only grows. Samples are applied in
//! the order they were taken (a scrape that finished after a newer one shows the newer state),
//! so concurrent scrapes cannot mistake each other for a restart. A worker that does not answer
//! keeps its last figures in the totals, and so does a worker that was scaled away, so the
//! totals only grow too. Gauges (`rss`, `concurrent`) are shown as they are.
//!
//! # Latency histogram
//!
//! `answer.1ms`, `answer.10ms`, ..., `answer.1500ms`, `answer.slow` count answers per latency
//! band; summed from the lowest band up they are a cumulative histogram
//! (`kresd_answer_latency_seconds`, buckets 0.001 ... 1.5 s and `+Inf`). kresd does not count
//! the total time, so `_sum` is `NaN`.
//!
//! # The manager's own metrics
//!
//! Apply duration by phase (a histogram fed from every apply the reconcile task reports), the
//! config generation, whether the last apply succeeded, restarts per process, workers ready.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Map, Value, json};

use super::ApiState;
use crate::backend::Program;
use crate::kresd::control::Control;
use crate::kresd::stats::{self, Stats, WorkerStats};
use crate::reconcile::task::Status;

/// [`stats::STATS_EXPR`] and the pid of the process that answers (a new pid is a restart).
const STATS_WITH_PID: &str = "{ list = stats.list(), worker = worker.stats(), pid = worker.pid }";

/// The Prometheus text format's content type.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The latency bands of `stats.list()` and their upper bounds, in seconds.
pub const LATENCY_BANDS: &[(&str, &str)] = &[
    ("answer.1ms", "0.001"),
    ("answer.10ms", "0.01"),
    ("answer.50ms", "0.05"),
    ("answer.100ms", "0.1"),
    ("answer.250ms", "0.25"),
    ("answer.500ms", "0.5"),
    ("answer.1000ms", "1"),
    ("answer.1500ms", "1.5"),
    ("answer.slow", "+Inf"),
];

/// Upper bounds of the apply-duration histogram, in seconds.
const APPLY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// One worker's figures: `stats.list()` and `worker.stats()` as name → value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub list: BTreeMap<String, f64>,
    pub worker: BTreeMap<String, f64>,
}

/// The fields of `worker.stats()` that are gauges; every other figure is a counter.
const GAUGES: &[&str] = &["rss", "concurrent"];

impl Figures {
    pub fn from_stats(stats: &Stats) -> Figures {
        Figures { list: stats.list.clone(), worker: worker_fields(&stats.worker) }
    }

    /// Every counter, keyed `list:<name>` / `worker:<name>`.
    fn counters(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        let list = self.list.iter().map(|(k, v)| (format!("list:{k}"), *v));
        let worker =
            self.worker.iter().filter(|(k, _)| !GAUGES.contains(&k.as_str())).map(|(k, v)| (format!("worker:{k}"), *v));
        list.chain(worker)
    }

    fn set_counter(&mut self, key: &str, value: f64) {
        if let Some(name) = key.strip_prefix("list:") {
            self.list.insert(name.to_owned(), value);
        } else if let Some(name) = key.strip_prefix("worker:") {
            self.worker.insert(name.to_owned(), value);
        }
    }

    fn to_json(&self) -> Value {
        let map = |m: &BTreeMap<String, f64>| -> Value {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), number(*v))).collect::<Map<String, Value>>())
        };
        json!({"list": map(&self.list), "worker": map(&self.worker)})
    }
}

fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

fn worker_fields(worker: &WorkerStats) -> BTreeMap<String, f64> {
    let counts = [
        ("rss", worker.rss),
        ("queries", worker.queries),
        ("concurrent", worker.concurrent),
        ("udp", worker.udp),
        ("tcp", worker.tcp),
        ("tls", worker.tls),
        ("ipv4", worker.ipv4),
        ("ipv6", worker.ipv6),
        ("timeout", worker.timeout),
        ("dropped", worker.dropped),
        ("err_udp", worker.err_udp),
        ("err_tcp", worker.err_tcp),
        ("err_tls", worker.err_tls),
        ("err_http", worker.err_http),
        ("pagefaults", worker.pagefaults),
        ("swaps", worker.swaps),
        ("csw", worker.csw),
    ];
    let mut fields: BTreeMap<String, f64> = counts.iter().map(|(k, v)| ((*k).to_owned(), *v as f64)).collect();
    fields.insert("usertime".into(), worker.usertime);
    fields.insert("systime".into(), worker.systime);
    fields
}

/// What is remembered of one worker between scrapes.
#[derive(Debug)]
struct WorkerState {
    pid: Option<u32>,
    /// When the sample applied last was taken.
    taken: Instant,
    /// The counters as the worker reported them last.
    last: BTreeMap<String, f64>,
    /// What earlier lives of the worker counted.
    offset: BTreeMap<String, f64>,
    restarts_seen: u64,
}

impl WorkerState {
    /// The monotonic counters: last + offset (a counter an earlier life had stays).
    fn counters(&self) -> BTreeMap<String, f64> {
        let mut out = self.offset.clone();
        for (key, value) in &self.last {
            *out.entry(key.clone()).or_insert(0.0) += value;
        }
        out
    }
}

/// A histogram with fixed buckets ([`APPLY_BUCKETS`]).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; APPLY_BUCKETS.len()];
        }
        for (bound, count) in APPLY_BUCKETS.iter().zip(&mut self.counts) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// The state kept between scrapes (behind a lock that is never held across an await).
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<MetricsState>,
}

#[derive(Debug, Default)]
struct MetricsState {
    workers: BTreeMap<String, WorkerState>,
    /// `Status::applies` when apply durations were last recorded.
    applies_recorded: u64,
    /// Apply duration by phase (`total` for the whole apply).
    phases: BTreeMap<String, Histogram>,
}

/// What one worker answered (or why it did not).
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub pid: Option<u32>,
    pub taken: Instant,
    pub result: Result<Figures, String>,
}

/// One scrape: per worker its monotonic figures or the error, and the totals.
#[derive(Debug, Default)]
pub struct Scrape {
    pub workers: BTreeMap<String, Figures>,
    pub errors: BTreeMap<String, String>,
    pub total: Figures,
}

impl Metrics {
    /// Applies `samples` (see the module documentation) and returns what to show.
    pub fn update(&self, samples: Vec<Sample>) -> Scrape {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut scrape = Scrape::default();
        let mut gauges_total: BTreeMap<String, f64> = BTreeMap::new();
        for sample in samples {
            let figures = match sample.result {
                Ok(figures) => figures,
                Err(error) => {
                    scrape.errors.insert(sample.name, error);
                    continue;
                }
            };
            let raw: BTreeMap<String, f64> = figures.counters().collect();
            let worker = state.workers.entry(sample.name.clone()).or_insert_with(|| WorkerState {
                pid: sample.pid,
                taken: sample.taken,
                last: BTreeMap::new(),
                offset: BTreeMap::new(),
                restarts_seen: 0,
            });
            if sample.taken >= worker.taken {
                let dropped = raw.iter().any(|(key, value)| worker.last.get(key).is_some_and(|last| value < last));
                if dropped || sample.pid != worker.pid {
                    for (key, value) in std::mem::take(&mut worker.last) {
                        *worker.offset.entry(key).or_insert(0.0) += value;
                    }
                    worker.restarts_seen += 1;
                }
                worker.last = raw;
                worker.pid = sample.pid;
                worker.taken = sample.taken;
            }
            // An older sample than the one applied shows the newer state.
            let mut shown = Figures::default();
            for (key, value) in worker.counters() {
                shown.set_counter(&key, value);
            }
            for gauge in GAUGES {
                if let Some(value) = figures.worker.get(*gauge) {
                    shown.worker.insert((*gauge).to_owned(), *value);
                    *gauges_total.entry((*gauge).to_owned()).or_insert(0.0) += value;
                }
            }
            scrape.workers.insert(sample.name, shown);
        }
        // Totals: every worker ever seen (one that did not answer with its last figures).
        let mut total = Figures::default();
        let mut sums: BTreeMap<String, f64> = BTreeMap::new();
        for worker in state.workers.values() {
            for (key, value) in worker.counters() {
                *sums.entry(key).or_insert(0.0) += value;
            }
        }
        for (key, value) in sums {
            total.set_counter(&key, value);
        }
        total.worker.extend(gauges_total);
        scrape.total = total;
        scrape
    }

    /// Records the durations of the applies the task reported since the last call (only the
    /// latest one's phases when several happened in between).
    pub fn record_applies(&self, status: &Status) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if status.applies <= state.applies_recorded {
            return;
        }
        state.applies_recorded = status.applies;
        if let Some(last) = &status.last_apply {
            state.phases.entry("total".into()).or_default().observe(last.duration.as_secs_f64());
            for (phase, duration) in &last.phases {
                state.phases.entry(phase.clone()).or_default().observe(duration.as_secs_f64());
            }
        }
    }

    fn phases(&self) -> BTreeMap<String, Histogram> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).phases.clone()
    }
}

/// Records every apply the task reports, as it happens (spawned with the API).
pub fn spawn_recorder(state: &ApiState) {
    let state = state.clone();
    let mut watch = state.handle().watch();
    tokio::spawn(async move {
        while watch.changed().await.is_ok() {
            let status = watch.borrow_and_update().clone();
            state.metrics().record_applies(&status);
        }
    });
}

/// Asks every worker of `status` for its statistics, concurrently, each within `timeout`.
pub async fn collect(state: &ApiState, status: &Status, timeout: Duration) -> Vec<Sample> {
    let mut queries = tokio::task::JoinSet::new();
    let mut samples = Vec::new();
    for process in status.processes.iter().filter(|p| p.kind == "kresd") {
        let Some(program) = Program::from_name(&process.name) else { continue };
        let (name, pid) = (process.name.clone(), process.pid);
        if pid.is_none() || process.state != "running" {
            let result = Err(format!("{name} is not running ({})", process.state));
            samples.push(Sample { name, pid, taken: Instant::now(), result });
            continue;
        }
        let socket = state.layout().control(program);
        queries.spawn(async move {
            let asked = async {
                let mut control = Control::connect(&socket, timeout).await?;
                let value = control.json(STATS_WITH_PID, timeout).await?;
                let answered_by = value.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok());
                Ok::<_, crate::kresd::control::ControlError>((answered_by, stats::parse(&socket, value)?))
            };
            let (pid, result) = match tokio::time::timeout(timeout, asked).await {
                Ok(Ok((answered_by, stats))) => (answered_by.or(pid), Ok(Figures::from_stats(&stats))),
                Ok(Err(error)) => (pid, Err(error.to_string())),
                Err(_) => (pid, Err(format!("{name} did not answer within {timeout:?}"))),
            };
            Sample { name, pid, taken: Instant::now(), result }
        });
    }
    while let Some(joined) = queries.join_next().await {
        match joined {
            Ok(sample) => samples.push(sample),
            Err(error) => tracing::error!("a statistics query failed: {error}"),
        }
    }
    samples.sort_by(|a, b| a.name.cmp(&b.name));
    samples
}

async fn scrape(state: &ApiState) -> (Status, Scrape) {
    let status = state.handle().status();
    state.metrics().record_applies(&status);
    let samples = collect(state, &status, state.stats_timeout()).await;
    let scrape = state.metrics().update(samples);
    (status, scrape)
}

/// `GET /metrics/json`: `{"workers": {name: {"list", "worker"}}, "total": {...}, "errors":
/// {name: message}}`.
pub async fn json(State(state): State<ApiState>) -> Json<Value> {
    let (_, scrape) = scrape(&state).await;
    Json(json_document(&scrape))
}

pub fn json_document(scrape: &Scrape) -> Value {
    let workers: Map<String, Value> = scrape.workers.iter().map(|(name, f)| (name.clone(), f.to_json())).collect();
    let errors: Map<String, Value> = scrape.errors.iter().map(|(name, e)| (name.clone(), json!(e))).collect();
    json!({"workers": workers, "total": scrape.total.to_json(), "errors": errors})
}

/// `GET /metrics/prometheus`: the text format.
pub async fn prometheus(State(state): State<ApiState>) -> Response {
    let (status, scrape) = scrape(&state).await;
    let text = prometheus_text(&status, &scrape, &state.metrics().phases());
    ([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response()
}

/// Metric families in the order they are written, each with its samples.
#[derive(Default)]
struct Exposition {
    families: Vec<Family>,
}

struct Family {
    name: String,
    kind: &'static str,
    help: String,
    samples: Vec<(String, String, f64)>,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &'static str, help: &str) -> &mut Family {
        let index = match self.families.iter().position(|f| f.name == name) {
            Some(index) => index,
            None => {
                self.families.push(Family { name: name.to_owned(), kind, help: help.to_owned(), samples: Vec::new() });
                self.families.len() - 1
            }
        };
        &mut self.families[index]
    }

    /// One sample of a family (`suffix` for `_bucket`, `_sum`, `_count`).
    fn sample(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &str,
        suffix: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let labels = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect::<Vec<_>>().join(",");
        self.family(name, kind, help).samples.push((suffix.to_owned(), labels, value));
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for family in &self.families {
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
            for (suffix, labels, value) in &family.samples {
                let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
                let _ = writeln!(out, "{}{suffix}{labels} {}", family.name, float(*value));
            }
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the text format writes it.
fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

/// A metric name from a statistic's name: `answer.noerror` → `answer_noerror`.
fn metric_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Help texts of the statistics kresd 5.6 has.
fn list_help(name: &str) -> String {
    let known = match name {
        "answer.total" => "answers sent",
        "answer.noerror" => "answers with RCODE NOERROR",
        "answer.nodata" => "NOERROR answers without data",
        "answer.nxdomain" => "answers with RCODE NXDOMAIN",
        "answer.servfail" => "answers with RCODE SERVFAIL",
        "answer.cached" => "answers from the cache",
        "request.total" => "requests received",
        "request.internal" => "requests made by kresd itself",
        "request.udp" => "requests over UDP",
        "request.tcp" => "requests over TCP",
        "request.dot" => "requests over DNS-over-TLS",
        "request.doh" => "requests over DNS-over-HTTPS",
        "request.xdp" => "requests over XDP",
        "query.edns" => "queries with EDNS",
        "query.dnssec" => "queries with the DO bit",
        _ => "",
    };
    if known.is_empty() { format!("kresd statistic {name}") } else { format!("kresd: {known} ({name})") }
}

fn worker_help(name: &str) -> &'static str {
    match name {
        "rss" => "resident set size of the worker",
        "concurrent" => "requests being resolved right now",
        "queries" => "queries received by the worker",
        "udp" => "outgoing queries over UDP",
        "tcp" => "outgoing queries over TCP",
        "tls" => "outgoing queries over TLS",
        "ipv4" => "outgoing queries over IPv4",
        "ipv6" => "outgoing queries over IPv6",
        "timeout" => "outgoing queries that timed out",
        "dropped" => "queries dropped",
        "err_udp" => "errors sending over UDP",
        "err_tcp" => "errors sending over TCP",
        "err_tls" => "errors sending over TLS",
        "err_http" => "errors sending over HTTP",
        "usertime" => "CPU time in user mode",
        "systime" => "CPU time in system mode",
        "pagefaults" => "page faults needing I/O",
        "swaps" => "swaps",
        "csw" => "context switches",
        _ => "worker statistic",
    }
}

/// The Prometheus text of a scrape and the manager's status.
pub fn prometheus_text(status: &Status, scrape: &Scrape, phases: &BTreeMap<String, Histogram>) -> String {
    let mut out = Exposition::default();
    let names: Vec<&String> = scrape.workers.keys().chain(scrape.errors.keys()).collect();
    for name in names {
        let up = if scrape.workers.contains_key(name) { 1.0 } else { 0.0 };
        out.sample("kresd_up", "gauge", "whether the worker answered this scrape", "", &[("instance", name)], up);
    }
    let bands: Vec<&str> = LATENCY_BANDS.iter().map(|(k, _)| *k).collect();
    for (instance, figures) in &scrape.workers {
        let labels = [("instance", instance.as_str())];
        // Latency: cumulative from the lowest band up.
        if bands.iter().any(|band| figures.list.contains_key(*band)) {
            let mut cumulative = 0.0;
            let name = "kresd_answer_latency_seconds";
            let help = "answers by the time they took (kresd's latency bands)";
            for (band, bound) in LATENCY_BANDS {
                cumulative += figures.list.get(*band).copied().unwrap_or(0.0);
                out.sample(name, "histogram", help, "_bucket", &[("instance", instance), ("le", bound)], cumulative);
            }
            out.sample(name, "histogram", help, "_sum", &labels, f64::NAN);
            out.sample(name, "histogram", help, "_count", &labels, cumulative);
        }
        let mut used = std::collections::BTreeSet::new();
        for (key, value) in figures.list.iter().filter(|(k, _)| !bands.contains(&k.as_str())) {
            let name = format!("kresd_{}_total", metric_name(key));
            // Two statistics whose names differ only in punctuation would share a name: the
            // first one wins.
            if used.insert(name.clone()) {
                out.sample(&name, "counter", &list_help(key), "", &labels, *value);
            }
        }
        for (key, value) in &figures.worker {
            let help = worker_help(key);
            match key.as_str() {
                "rss" => out.sample("kresd_worker_rss_bytes", "gauge", help, "", &labels, *value),
                "concurrent" => out.sample("kresd_worker_concurrent_requests", "gauge", help, "", &labels, *value),
                "usertime" => out.sample("kresd_worker_cpu_user_seconds_total", "counter", help, "", &labels, *value),
                "systime" => out.sample("kresd_worker_cpu_system_seconds_total", "counter", help, "", &labels, *value),
                other => {
                    let name = format!("kresd_worker_{}_total", metric_name(other));
                    out.sample(&name, "counter", help, "", &labels, *value);
                }
            }
        }
    }
    manager_metrics(&mut out, status, phases);
    out.text()
}

fn manager_metrics(out: &mut Exposition, status: &Status, phases: &BTreeMap<String, Histogram>) {
    let gauge =
        |out: &mut Exposition, name: &str, help: &str, value: f64| out.sample(name, "gauge", help, "", &[], value);
    out.sample("kres_manager_info", "gauge", "the running kres-manager", "", &[("version", crate::VERSION)], 1.0);
    gauge(
        out,
        "kres_manager_config_generation",
        "generation of the running configuration",
        status.revision.generation as f64,
    );
    gauge(
        out,
        "kres_manager_ready",
        "1 when every desired worker is running and ready",
        f64::from(u8::from(status.ready.is_ok())),
    );
    gauge(
        out,
        "kres_manager_workers_desired",
        "workers the configuration asks for",
        f64::from(status.revision.config.workers),
    );
    let ready =
        status.processes.iter().filter(|p| p.kind == "kresd" && p.pid.is_some() && p.state == "running").count();
    gauge(out, "kres_manager_workers_ready", "workers running and ready", ready as f64);
    let success = status.last_apply.as_ref().is_none_or(|last| last.ok);
    gauge(
        out,
        "kres_manager_last_apply_success",
        "1 when the last apply of a change succeeded",
        f64::from(u8::from(success)),
    );
    if let Some(last) = &status.last_apply {
        let at = last.at.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        gauge(out, "kres_manager_last_apply_timestamp_seconds", "when the last apply ended (unix time)", at);
    }
    out.sample(
        "kres_manager_applies_total",
        "counter",
        "changes applied or failed since the manager started",
        "",
        &[],
        status.applies as f64,
    );
    for process in &status.processes {
        let help = "restarts of the process the manager saw (crashes repaired)";
        out.sample(
            "kres_manager_process_restarts_total",
            "counter",
            help,
            "",
            &[("process", &process.name)],
            process.restarts as f64,
        );
    }
    let name = "kres_manager_apply_duration_seconds";
    let help = "duration of applies by phase (total: the whole apply)";
    for (phase, histogram) in phases {
        let counts = if histogram.counts.is_empty() { vec![0; APPLY_BUCKETS.len()] } else { histogram.counts.clone() };
        for (bound, count) in APPLY_BUCKETS.iter().zip(counts) {
            let le = float(*bound);
            out.sample(name, "histogram", help, "_bucket", &[("phase", phase), ("le", &le)], count as f64);
        }
        out.sample(name, "histogram", help, "_bucket", &[("phase", phase), ("le", "+Inf")], histogram.count as f64);
        out.sample(name, "histogram", help, "_sum", &[("phase", phase)], histogram.sum);
        out.sample(name, "histogram", help, "_count", &[("phase", phase)], histogram.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(answers: f64, queries: f64) -> Figures {
        let mut f = Figures::default();
        f.list.insert("answer.total".into(), answers);
        f.list.insert("answer.1ms".into(), answers);
        f.worker.insert("queries".into(), queries);
        f.worker.insert("rss".into(), 100.0);
        f
    }

    fn sample(name: &str, pid: u32, taken: Instant, result: Figures) -> Sample {
        Sample { name: name.into(), pid: Some(pid), taken, result: Ok(result) }
    }

    #[test]
    fn counters_survive_restarts_and_totals_never_drop() {
        let metrics = Metrics::default();
        let t0 = Instant::now();
        let t = |ms| t0 + Duration::from_millis(ms);
        let s = metrics
            .update(vec![sample("kresd0", 10, t(1), figures(5.0, 7.0)), sample("kresd1", 11, t(1), figures(1.0, 1.0))]);
        assert_eq!(s.workers["kresd0"].list["answer.total"], 5.0);
        assert_eq!(s.total.list["answer.total"], 6.0);
        // kresd0 restarted (new pid, counters from zero): its series goes on from 5.
        let s = metrics
            .update(vec![sample("kresd0", 20, t(2), figures(2.0, 3.0)), sample("kresd1", 11, t(2), figures(2.0, 2.0))]);
        assert_eq!(s.workers["kresd0"].list["answer.total"], 7.0);
        assert_eq!(s.workers["kresd0"].worker["queries"], 10.0);
        assert_eq!(s.workers["kresd0"].worker["rss"], 100.0, "gauges are as they are");
        assert_eq!(s.total.list["answer.total"], 9.0);
        // A drop without a pid change is a restart too.
        let s = metrics.update(vec![sample("kresd0", 20, t(3), figures(1.0, 1.0))]);
        assert_eq!(s.workers["kresd0"].list["answer.total"], 8.0);
        // kresd1 did not answer: the total keeps its last figures.
        assert_eq!(s.total.list["answer.total"], 10.0);
        // A scrape taken before the one applied shows the newer state instead of a "restart".
        let s = metrics.update(vec![sample("kresd0", 20, t(2), figures(0.0, 0.0))]);
        assert_eq!(s.workers["kresd0"].list["answer.total"], 8.0);
        let s =
            metrics.update(vec![Sample { name: "kresd1".into(), pid: None, taken: t(4), result: Err("down".into()) }]);
        assert_eq!(s.errors["kresd1"], "down");
        assert_eq!(s.total.list["answer.total"], 10.0);
    }

    #[test]
    fn the_text_format_has_instances_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        let mut f = figures(0.0, 3.0);
        for (i, (band, _)) in LATENCY_BANDS.iter().enumerate() {
            f.list.insert((*band).to_owned(), i as f64);
        }
        f.list.insert("weird name\"".into(), 1.0);
        let scrape = metrics.update(vec![
            sample("kresd0", 10, Instant::now(), f),
            Sample { name: "kresd1".into(), pid: None, taken: Instant::now(), result: Err("x".into()) },
        ]);
        let status = crate::api::tests::status_for_metrics();
        let text = prometheus_text(&status, &scrape, &BTreeMap::new());
        assert!(text.contains("kresd_up{instance=\"kresd0\"} 1\n"), "{text}");
        assert!(text.contains("kresd_up{instance=\"kresd1\"} 0\n"), "{text}");
        assert!(text.contains("kresd_answer_latency_seconds_bucket{instance=\"kresd0\",le=\"0.001\"} 0\n"), "{text}");
        assert!(text.contains("kresd_answer_latency_seconds_bucket{instance=\"kresd0\",le=\"0.01\"} 1\n"), "{text}");
        assert!(text.contains("kresd_answer_latency_seconds_bucket{instance=\"kresd0\",le=\"+Inf\"} 36\n"), "{text}");
        assert!(text.contains("kresd_answer_latency_seconds_count{instance=\"kresd0\"} 36\n"), "{text}");
        assert!(text.contains("kresd_weird_name__total{instance=\"kresd0\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE kresd_worker_queries_total counter\n"), "{text}");
        assert!(text.contains("kres_manager_config_generation 1\n"), "{text}");
    }
}
