//! The management API end to end: the real service (`kres-manager -c FILE`, supervisord, kresd
//! 5.6 workers) with its API on a unix socket in the test's rundir, spoken to over HTTP/1.1 by a
//! minimal client in this file.

use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kres_tests::http::Reply;
use kres_tests::service::{Service, kill};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

/// Two workers on the test's port, offline, answering `a.example` from local data and refusing
/// everything else at once; the API on `{rundir}/api.sock`.
fn config() -> String {
    kres_tests::service::config(2, "")
}

fn socket(service: &Service) -> PathBuf {
    service.rundir().join("api.sock")
}

/// One request over the unix socket.
fn http(socket: &Path, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    kres_tests::http::unix(socket, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn get(service: &Service, path: &str) -> Reply {
    http(&socket(service), "GET", path, &[], "")
}

fn send(service: &Service, method: &str, path: &str, body: &str) -> Reply {
    http(&socket(service), method, path, &[("Content-Type", "application/json")], body)
}

fn answer(service: &Service, name: &str) -> Vec<String> {
    kres_tests::kresd::query(service.port, name, "A").map(|a| a.data()).unwrap_or_default()
}

fn control(service: &Service, worker: &str, lua: &str) -> String {
    kres_tests::kresd::control(&service.rundir().join("control").join(worker), lua).expect("control socket")
}

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let began = Instant::now();
    while !condition() {
        assert!(began.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The (pointer, message) entries of an error reply.
fn errors(reply: &Reply) -> Vec<(String, String)> {
    reply.json()["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("not an error reply: {reply:?}"))
        .iter()
        .map(|e| (e["pointer"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn the_api_changes_a_running_service_and_its_changes_last() {
    let mut service = Service::start(Path::new(EXE), &config());
    let socket = socket(&service);
    {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let metadata = std::fs::metadata(&socket).expect("the API socket exists");
        assert!(metadata.file_type().is_socket());
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600, "only its owner may use the API");
    }
    assert_eq!(get(&service, "/health").json(), json!({"status": "ok"}));
    let ready = get(&service, "/ready");
    assert_eq!((ready.status, ready.json()["ready"].clone()), (200, json!(true)), "{ready:?}");
    let root = get(&service, "/").json();
    assert_eq!(root["generation"], 1);
    let workers = get(&service, "/v1/config/workers");
    assert_eq!((workers.status, workers.text.as_str()), (200, "2"));
    assert_eq!(workers.headers["etag"], root["etag"].as_str().unwrap());

    // A hot change: applied without restarting any worker.
    let before = service.workers();
    let hot = send(&service, "PUT", "/v1/config/logging/level", "\"debug\"");
    assert_eq!(hot.status, 200, "{hot:?}\n{}", service.log());
    let outcome = hot.json();
    assert_eq!(outcome["applied"], true);
    assert_eq!(outcome["plan"]["changes"][0]["impact"], "hot");
    assert_eq!(outcome["generation"], 2);
    assert_eq!(hot.headers["etag"], outcome["etag"].as_str().unwrap());
    assert_eq!(service.workers(), before, "no worker restarted");
    for worker in ["kresd0", "kresd1"] {
        assert_eq!(control(&service, worker, "log_level()"), "'debug'", "{worker}");
    }

    // A rolling change: every worker restarted with it, the service keeps answering.
    let rolling = send(&service, "PUT", "/v1/config/network/edns-buffer-size", r#"{"downstream": "1400B"}"#);
    assert_eq!(rolling.status, 200, "{rolling:?}\n{}", service.log());
    assert_eq!(rolling.json()["plan"]["changes"][0]["impact"], "rolling");
    let after = service.workers();
    for (worker, pid) in &before {
        assert_ne!(after[worker], *pid, "{worker} restarted");
    }
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);

    // A config kresd refuses: 422 with kresd's own output, nothing changed.
    let etag = get(&service, "/").json()["etag"].clone();
    let refused = send(&service, "PUT", "/v1/config/lua/script", "\"error('refused by this test')\"");
    assert_eq!(refused.status, 422, "{refused:?}");
    let (_, message) = &errors(&refused)[0];
    assert!(message.contains("kresd refused the new configuration"), "{message}");
    assert!(message.contains("refused by this test"), "kresd's output is shown: {message}");
    assert_eq!(get(&service, "/").json()["etag"], etag, "{}", service.log());
    assert_eq!(get(&service, "/v1/config/lua/script").json(), "policy.add(policy.all(policy.REFUSE))");
    assert_eq!(service.workers(), after, "no worker touched");
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);

    // A change that needs a restart of the service: 409.
    let restart = send(&service, "PUT", "/v1/config/management", r#"{"interface": "127.0.0.1@5999"}"#);
    assert_eq!(restart.status, 409, "{restart:?}");
    assert_eq!(errors(&restart)[0].0, "/management/interface");

    // The API changes survive a reload of the files ...
    let reload = send(&service, "POST", "/reload", "");
    assert_eq!((reload.status, reload.json()["applied"].clone()), (200, json!(false)), "{reload:?}");
    service.write_config(&config().replace("192.0.2.1", "192.0.2.7"));
    let reload = send(&service, "POST", "/reload", "");
    assert_eq!((reload.status, reload.json()["applied"].clone()), (200, json!(true)), "{reload:?}");
    assert_eq!(answer(&service, "a.example"), ["192.0.2.7"]);
    assert_eq!(get(&service, "/v1/config/logging/level").json(), "debug");
    assert_eq!(control(&service, "kresd0", "log_level()"), "'debug'");

    // ... and a kill -9 of the manager: the restarted one serves them.
    let manager = service.processes()["manager"];
    let generation = get(&service, "/").json()["generation"].clone();
    kill(manager, Signal::SIGKILL);
    service.wait_log("ready: ", 2, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    wait_until("the new manager's API answers", Duration::from_secs(10), || {
        UnixStream::connect(&socket).is_ok() && get(&service, "/ready").status == 200
    });
    assert_ne!(service.processes()["manager"], manager);
    assert_eq!(get(&service, "/v1/config/logging/level").json(), "debug");
    assert_eq!(get(&service, "/v1/config/network/edns-buffer-size/downstream").json(), "1400B");
    assert_eq!(get(&service, "/").json()["generation"], generation);
    let processes = get(&service, "/processes/kresd").json();
    let pids: BTreeMap<String, u32> = processes
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["pid"].as_u64().unwrap() as u32))
        .collect();
    assert_eq!(pids, service.workers(), "the adopted workers are visible");

    // POST /stop: the answer, then the whole service stops and nothing is left.
    let stop = send(&service, "POST", "/stop", "");
    assert_eq!((stop.status, stop.json()), (200, json!({"stopping": true})));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = service.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "the service did not stop:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", service.log());
    service.assert_nothing_left(Duration::from_secs(2));
    assert!(!socket.exists(), "the socket is removed");
}

/// Every sample of a Prometheus text, checked against the text format's rules on the way:
/// (metric name, sorted labels) → value.
fn check_exposition(text: &str) -> BTreeMap<(String, String), f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut samples = BTreeMap::new();
    let valid_name = |name: &str| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(valid_name(name), "{line}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "family declared twice: {line}");
            current = Some(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"))),
            None => (series, ""),
        };
        assert!(valid_name(name), "{line}");
        let family = current.as_deref().unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
        let kind = &types[family];
        let belongs = name == family
            || (kind == "histogram"
                && [format!("{family}_bucket"), format!("{family}_sum"), format!("{family}_count")]
                    .contains(&name.to_owned()));
        assert!(belongs, "{name} is not in the family {family} being written: {line}");
        let mut pairs: Vec<String> = Vec::new();
        let mut rest = labels;
        while !rest.is_empty() {
            let (label, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("label in {line}"));
            assert!(valid_name(label) && !label.contains(':'), "{line}");
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.unwrap_or_else(|| panic!("unterminated label value in {line}"));
            pairs.push(format!("{label}={}", &after[..end]));
            rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
        }
        pairs.sort();
        assert!(samples.insert((name.to_owned(), pairs.join(",")), value).is_none(), "duplicate series: {line}");
    }
    samples
}

/// The counters and histogram buckets of one worker instance.
fn monotonic_series(samples: &BTreeMap<(String, String), f64>, instance: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .filter(|((name, labels), _)| {
            (name.ends_with("_total") || name.ends_with("_bucket") || name.ends_with("_count"))
                && labels.split(',').any(|l| l == format!("instance={instance}"))
        })
        .map(|((name, labels), value)| (format!("{name}{{{labels}}}"), *value))
        .collect()
}

#[test]
fn metrics_processes_and_cache_clear() {
    let service = Service::start(Path::new(EXE), &config());
    for _ in 0..50 {
        assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    }
    let json = get(&service, "/metrics/json").json();
    assert_eq!(json["errors"], json!({}), "{json}");
    let answered = |json: &Value| json["total"]["list"]["answer.total"].as_f64().unwrap();
    assert!(answered(&json) >= 50.0, "{json}");
    for worker in ["kresd0", "kresd1"] {
        assert!(json["workers"][worker]["worker"]["rss"].as_f64().unwrap() > 0.0, "{json}");
    }

    let prometheus = get(&service, "/metrics/prometheus");
    assert_eq!(prometheus.status, 200);
    assert_eq!(prometheus.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let scrape = prometheus_parse::Scrape::parse(prometheus.text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let instances: std::collections::BTreeSet<&str> =
        scrape.samples.iter().filter_map(|s| s.labels.get("instance")).collect();
    assert_eq!(instances, ["kresd0", "kresd1"].into_iter().collect(), "{}", prometheus.text);
    let latency = scrape.samples.iter().find(|s| s.metric == "kresd_answer_latency_seconds").expect("a histogram");
    assert!(matches!(&latency.value, prometheus_parse::Value::Histogram(buckets) if buckets.len() == 9), "{latency:?}");
    let first = check_exposition(&prometheus.text);
    assert_eq!(first[&("kresd_up".to_owned(), "instance=kresd0".to_owned())], 1.0);
    let before = monotonic_series(&first, "kresd0");
    assert!(before.len() > 20, "{before:?}");

    // kresd0 is killed and restarted by the supervisor: its counters start again from zero,
    // the exported ones go on. The new pid alone may show before the manager counted the
    // restart (the status is published after each crash-repair look, which lists the processes
    // again: supervisord may have restarted kresd0 in between), so the wait is for the count.
    let old = service.workers()["kresd0"];
    kill(old, Signal::SIGKILL);
    wait_until("kresd0 replaced and its restart counted by the manager", Duration::from_secs(10), || {
        get(&service, "/processes/kresd").json().as_array().unwrap().iter().any(|p| {
            p["name"] == "kresd0"
                && p["state"] == "running"
                && p["pid"].as_u64().is_some_and(|pid| pid != u64::from(old))
                && p["restarts"] == 1
        })
    });
    let fresh: f64 = control(&service, "kresd0", "stats.get('answer.total')").parse().unwrap_or(0.0);
    let answered_before = before["kresd_answer_total_total{instance=kresd0}"];
    assert!(fresh < answered_before, "a fresh worker counts from zero ({fresh} < {answered_before})");
    let text = get(&service, "/metrics/prometheus").text;
    let second = check_exposition(&text);
    let after = monotonic_series(&second, "kresd0");
    for (series, value) in &before {
        let now = after.get(series).unwrap_or_else(|| panic!("{series} vanished:\n{text}"));
        assert!(now >= value, "{series} went backwards: {value} → {now}\n{text}");
    }
    let restarts = second
        .iter()
        .find(|((name, labels), _)| name == "kres_manager_process_restarts_total" && labels == "process=kresd0")
        .map(|(_, v)| *v);
    assert_eq!(restarts, Some(1.0), "{text}");
    assert!(answered(&get(&service, "/metrics/json").json()) >= answered(&json));

    // Processes: type, pid, state, generation, start time.
    let processes = get(&service, "/processes").json();
    let kresd0 = processes.as_array().unwrap().iter().find(|p| p["name"] == "kresd0").expect("kresd0").clone();
    assert_eq!(kresd0["type"], "kresd");
    assert_eq!(kresd0["pid"], u64::from(service.workers()["kresd0"]));
    assert_eq!(kresd0["generation"], 1);
    assert!(kresd0["started"].as_u64().is_some(), "{kresd0}");
    let gc = get(&service, "/processes/gc").json();
    assert_eq!(gc[0]["name"], "cache-gc", "{gc}");

    // Cache clear over a worker's control socket, with KR6's body.
    let cleared =
        send(&service, "POST", "/cache/clear", r#"{"name": "a.example", "exact-name": true, "rr-type": "A"}"#);
    assert_eq!(cleared.status, 200, "{cleared:?}");
    assert_eq!(cleared.json()["count"], 1, "{cleared:?}");
    // Knot Resolver 6's client always adds its default chunk, which has no effect here.
    let cleared = send(
        &service,
        "POST",
        "/cache/clear",
        r#"{"exact-name": true, "name": "a.example.", "rr-type": "AAAA", "chunk-size": 100}"#,
    );
    assert_eq!((cleared.status, cleared.json()), (200, json!({"count": 1})), "{cleared:?}");
    let everything = send(&service, "POST", "/cache/clear", r#"{"chunk-size": 100}"#);
    assert!(everything.json()["count"].is_u64(), "{everything:?}");
    let pointless =
        send(&service, "POST", "/cache/clear", r#"{"name": "a.example", "exact-name": true, "chunk-size": 5}"#);
    assert_eq!(pointless.status, 422, "{pointless:?}");
    assert_eq!(errors(&pointless).into_iter().map(|(p, _)| p).collect::<Vec<_>>(), ["/chunk-size"]);
    let cleared = send(&service, "POST", "/cache/clear", r#"{"name": "example", "chunk-size": 5}"#);
    assert_eq!(cleared.status, 200, "{cleared:?}");
    assert!(cleared.json()["count"].is_u64(), "{cleared:?}");
    let everything = send(&service, "POST", "/cache/clear", "");
    assert!(everything.json()["count"].is_u64(), "{everything:?}");
    let invalid = send(&service, "POST", "/cache/clear", r#"{"name": "a..example", "chunk-size": -1}"#);
    assert_eq!(invalid.status, 422);
    assert_eq!(errors(&invalid).into_iter().map(|(p, _)| p).collect::<Vec<_>>(), ["/name", "/chunk-size"]);
    // The largest chunk works; a larger one, which would overflow kresd's stack (SIGSEGV), is
    // refused before it reaches a worker.
    let largest = send(&service, "POST", "/cache/clear", r#"{"name": "example", "chunk-size": 10000}"#);
    assert_eq!(largest.status, 200, "{largest:?}");
    let kresd0 = service.workers()["kresd0"];
    let crashing = send(&service, "POST", "/cache/clear", r#"{"name": "example", "chunk-size": 1402342435}"#);
    assert_eq!(crashing.status, 422, "{crashing:?}");
    assert_eq!(errors(&crashing).into_iter().map(|(p, _)| p).collect::<Vec<_>>(), ["/chunk-size"]);
    assert_eq!(service.workers()["kresd0"], kresd0, "the worker was restarted");
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"], "still answering");
}

#[test]
fn a_view_tag_that_no_rule_uses_is_noted_in_the_answer_and_the_log() {
    let service = Service::start(Path::new(EXE), &config());
    let views = r#"[{"subnets": ["10.0.0.0/8"], "tags": ["lan", "guests"]}]"#;
    let rules = r#"[{"name": ["blocked.example"], "subtree": "empty", "tags": ["lan"]}]"#;
    // The rule first: its tag must be given by a view, so both go in one JSON Patch.
    let patch = format!(
        r#"[{{"op": "add", "path": "/views", "value": {views}}}, {{"op": "add", "path": "/local-data/rules", "value": {rules}}}]"#
    );
    let reply =
        http(&socket(&service), "PATCH", "/v1/config", &[("Content-Type", "application/json-patch+json")], &patch);
    assert_eq!(reply.status, 200, "{reply:?}\n{}", service.log());
    let notes: Vec<Value> = reply.json()["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter(|n| n["pointer"].as_str().is_some_and(|p| p.starts_with("/views")))
        .cloned()
        .collect();
    assert_eq!(notes.len(), 1, "{reply:?}");
    assert_eq!(notes[0]["pointer"], "/views/0/tags/1");
    let message = notes[0]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("tag `guests` is given to clients but no local-data rule or RPZ uses it"), "{message}");
    // Applied all the same, and in the log.
    assert_eq!(get(&service, "/v1/config/views/0/tags").json(), json!(["lan", "guests"]));
    let logged = format!("note on the configuration from API PATCH /v1/config: /views/0/tags/1: {message}");
    wait_until("the note is logged", Duration::from_secs(5), || service.log().contains(&logged));
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
}
