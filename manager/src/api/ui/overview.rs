//! `GET /status`: the service at a glance, for the page's header and anyone else: readiness with
//! the reason (as `GET /ready` judges it), the generation and ETag, the versions of the manager
//! and of the kresd the workers run, how long the service and the manager have run, the shared
//! cache's use against its size, and who is asking (so the page can say that a read-only token
//! cannot apply).
//!
//! The kresd version and the cache figures come from one running worker's control socket (the
//! cache is shared by every worker), asked within the statistics timeout; without an answer
//! they are `null`, never waited for.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::Extensions;
use axum::response::Json;
use serde_json::{Value, json};

use super::super::ApiState;
use super::super::guard::Who;

/// What one worker is asked.
const WORKER_FACTS: &str = "{ version = package_version(), cache = cache.stats(), size = cache.current_size }";

/// Clock ticks per second of `/proc/<pid>/stat`'s start time: `USER_HZ`, 100 in Linux's ABI on
/// every architecture that runs kresd.
const TICKS_PER_SECOND: u64 = 100;

/// Unix time at which process `pid` started, from `/proc`.
pub fn started_at(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses, which may hold anything) the third field is the
    // state; the start time is field 22, so the 20th after the name.
    let ticks: u64 = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(boot + ticks / TICKS_PER_SECOND)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Who made the request, as the guard let it in.
fn you(extensions: &Extensions) -> Value {
    match extensions.get::<Who>() {
        Some(who @ Who::Token { name, scope, .. }) => {
            json!({"who": who.to_string(), "token": name, "scope": scope.to_string()})
        }
        Some(who) => json!({"who": who.to_string(), "token": null, "scope": "full"}),
        None => json!({"who": "unknown", "token": null, "scope": "full"}),
    }
}

/// The kresd version and the cache, from the first running worker that answers.
async fn worker_facts(state: &ApiState, status: &crate::reconcile::task::Status) -> (Value, Value) {
    let timeout = state.stats_timeout();
    for process in status.processes.iter().filter(|p| p.kind == "kresd" && p.state == "running") {
        let Some(program) = crate::backend::Program::from_name(&process.name) else { continue };
        let socket = state.layout().control(program);
        let Ok(Ok(facts)) =
            tokio::time::timeout(timeout, crate::kresd::control::json(&socket, WORKER_FACTS, timeout)).await
        else {
            continue;
        };
        let cache = json!({
            "size": facts["size"],
            "usage_percent": facts["cache"]["usage_percent"],
            "entries": facts["cache"].get("count_entries"),
        });
        return (facts["version"].clone(), cache);
    }
    (Value::Null, Value::Null)
}

/// `GET /status`.
pub async fn status(State(state): State<ApiState>, extensions: Extensions) -> Json<Value> {
    let status = state.handle().status();
    let ready = match &status.ready {
        Ok(()) => super::super::responsive(&state, &status).await,
        not_ready => not_ready.clone(),
    };
    let (kresd_version, cache) = worker_facts(&state, &status).await;
    let now = unix_now();
    let manager = std::process::id();
    let service_started = started_at(std::os::unix::process::parent_id());
    Json(json!({
        "version": crate::VERSION,
        "kresd_version": kresd_version,
        "generation": status.revision.generation,
        "etag": status.revision.etag,
        "ready": ready.is_ok(),
        "reason": ready.err(),
        "workers": status.revision.config.workers,
        "started": service_started,
        "uptime": service_started.map(|started| now.saturating_sub(started)),
        "manager": {"pid": manager, "started": started_at(manager)},
        "cache": cache,
        "you": you(&extensions),
        "now": now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_started_a_moment_ago() {
        let started = started_at(std::process::id()).expect("readable");
        let now = unix_now();
        assert!(started <= now + 1 && now - started < 3600, "started {started}, now {now}");
        assert_eq!(started_at(u32::MAX), None);
    }
}
