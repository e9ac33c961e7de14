//! What kresctl prints for people: plans of changes, the service's status, API errors, and
//! YAML. Pure functions from the API's JSON to text, so each is tested on canned answers.

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::Value as Json;

/// The answer to a change (PUT, PATCH, DELETE, reload).
#[derive(Debug, Deserialize)]
pub struct ChangeAnswer {
    pub generation: u64,
    pub etag: String,
    pub applied: bool,
    #[serde(default)]
    pub plan: Plan,
    #[serde(default)]
    pub steps: Vec<String>,
    /// What validation noted (the config is valid; e.g. a view tag no rule uses).
    #[serde(default)]
    pub notes: Vec<AnswerNote>,
}

/// A note on an accepted config.
#[derive(Debug, Deserialize)]
pub struct AnswerNote {
    pub pointer: String,
    pub message: String,
}

/// What a change does.
#[derive(Debug, Default, Deserialize)]
pub struct Plan {
    #[serde(default)]
    pub changes: Vec<PlannedChange>,
    #[serde(default)]
    pub hot_lua: Vec<Json>,
    #[serde(default)]
    pub workers: Option<Vec<u64>>,
    #[serde(default)]
    pub cache_gc: bool,
}

/// One changed place and how it is applied.
#[derive(Debug, Deserialize)]
pub struct PlannedChange {
    pub pointer: String,
    pub impact: String,
    #[serde(default)]
    pub action: String,
}

/// `GET /`.
#[derive(Debug, Deserialize)]
pub struct ManagerInfo {
    #[serde(default)]
    pub version: String,
    pub generation: u64,
    #[serde(default)]
    pub etag: String,
    pub ready: bool,
}

/// An entry of `GET /processes`.
#[derive(Debug, Deserialize)]
pub struct Process {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub pid: Option<u64>,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub restarts: u64,
    #[serde(default)]
    pub failed: bool,
    pub started: Option<u64>,
    pub generation: Option<u64>,
}

/// The plan and outcome of a change, one changed pointer per line with its impact and action.
pub fn change(answer: &ChangeAnswer) -> String {
    let mut out = String::new();
    let plan = &answer.plan;
    let tag = format!("generation {}, ETag {}", answer.generation, answer.etag);
    let nothing = plan.changes.is_empty() && plan.hot_lua.is_empty() && !plan.cache_gc && !workers_change(plan);
    match (answer.applied, nothing) {
        (true, true) => writeln!(out, "No changes: the running config already is this one ({tag})."),
        (true, false) => writeln!(out, "Applied: the config is now {tag}."),
        (false, true) => writeln!(out, "Dry run: no changes; the running config already is this one ({tag})."),
        (false, false) => writeln!(out, "Dry run, nothing applied (the running config is {tag}). The change would do:"),
    }
    .ok();
    let rows: Vec<[&str; 3]> =
        plan.changes.iter().map(|c| [c.pointer.as_str(), impact(&c.impact), c.action.as_str()]).collect();
    out.push_str(&table(&rows, "  "));
    if let Some([old, new]) = plan.workers.as_deref().and_then(|w| <&[u64; 2]>::try_from(w).ok())
        && old != new
    {
        writeln!(out, "Workers: {old} → {new}.").ok();
    }
    if plan.cache_gc {
        writeln!(out, "The cache garbage collector is restarted.").ok();
    }
    if !plan.hot_lua.is_empty() {
        writeln!(out, "Lua run in every worker (no restart):").ok();
        for lua in &plan.hot_lua {
            let text = lua.as_str().map_or_else(|| lua.to_string(), str::to_owned);
            for line in text.lines() {
                writeln!(out, "  {line}").ok();
            }
        }
    }
    if plan.changes.iter().any(|c| c.impact == "restart-required") {
        writeln!(
            out,
            "A restart-required change is not applied while the service runs: put it in the config file and \
             restart kres-manager."
        )
        .ok();
    }
    if !answer.steps.is_empty() {
        writeln!(out, "Steps:").ok();
        for step in &answer.steps {
            writeln!(out, "  - {step}").ok();
        }
    }
    for note in &answer.notes {
        let pointer = if note.pointer.is_empty() { "/" } else { note.pointer.as_str() };
        writeln!(out, "note: {pointer}: {}", note.message).ok();
    }
    out
}

fn workers_change(plan: &Plan) -> bool {
    matches!(plan.workers.as_deref(), Some([old, new]) if old != new)
}

/// The impact in a few words.
fn impact(impact: &str) -> &str {
    match impact {
        "hot" => "hot (no restart)",
        "rolling" => "rolling restart",
        "restart-required" => "restart-required",
        other => other,
    }
}

/// Rows in aligned columns (the last column not padded), each line with `indent`.
fn table<const N: usize>(rows: &[[&str; N]], indent: &str) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let padding = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(padding + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `kresctl status`: the manager, its config's generation and ETag, readiness, the processes.
/// `now` is in unix seconds (for the processes' uptimes).
pub fn status(
    endpoint: &str,
    info: &ManagerInfo,
    not_ready_reason: Option<&str>,
    processes: &[Process],
    now: u64,
) -> String {
    let mut out = String::new();
    let version = if info.version.is_empty() { String::new() } else { format!(" {}", info.version) };
    writeln!(out, "kres-manager{version} at {endpoint}").ok();
    writeln!(out, "config:  generation {}, ETag {}", info.generation, info.etag).ok();
    match (info.ready, not_ready_reason) {
        (true, _) => writeln!(out, "ready:   yes"),
        (false, Some(reason)) => writeln!(out, "ready:   no: {reason}"),
        (false, None) => writeln!(out, "ready:   no"),
    }
    .ok();
    if processes.is_empty() {
        writeln!(out, "processes: none").ok();
        return out;
    }
    writeln!(out, "processes:").ok();
    let cells: Vec<[String; 8]> = processes
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.kind.clone(),
                p.pid.map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
                if p.state.is_empty() { "-".to_owned() } else { p.state.clone() },
                p.restarts.to_string(),
                if p.failed { "FAILED".to_owned() } else { "no".to_owned() },
                p.started.map_or_else(|| "-".to_owned(), |started| age(now.saturating_sub(started))),
                p.generation.map_or_else(|| "-".to_owned(), |g| g.to_string()),
            ]
        })
        .collect();
    let header = ["NAME", "TYPE", "PID", "STATE", "RESTARTS", "FAILED", "UP", "GENERATION"];
    let mut rows: Vec<[&str; 8]> = vec![header];
    rows.extend(cells.iter().map(|row| row.each_ref().map(String::as_str)));
    out.push_str(&table(&rows, "  "));
    out
}

/// A duration in its two largest units: `45s`, `3m12s`, `2h5m`, `4d3h`.
pub fn age(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// An error answer of the API: a headline for the status, each problem on its own line (with
/// its pointer), and what to do next.
pub fn api_error(status: u16, body: &str) -> String {
    let mut out = String::new();
    let headline = match status {
        400 => "kres-manager could not read the request",
        401 => "kres-manager wants a valid token (--token-file FILE or $KRES_API_TOKEN_FILE)",
        403 => "this token may not do that; nothing was changed",
        404 => "nothing there",
        409 => "this change needs a restart of the whole service; nothing was changed",
        412 => "the config changed since that ETag was read; nothing was changed",
        422 => "the config was refused; nothing was changed",
        429 => "too many refused tokens from this address; wait and retry",
        500 => "kres-manager failed internally",
        503 => "kres-manager is not ready",
        _ => "",
    };
    let reason = hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let code = format!("{status} {reason}").trim_end().to_owned();
    if headline.is_empty() {
        writeln!(out, "error: kres-manager answered {code}").ok();
    } else {
        writeln!(out, "error: {headline} ({code})").ok();
    }
    match problems(body) {
        Some(problems) => {
            for (pointer, message) in problems {
                match pointer.is_empty() {
                    true => writeln!(out, "  {message}"),
                    false => writeln!(out, "  {pointer}: {message}"),
                }
                .ok();
            }
        }
        None if !body.trim().is_empty() => {
            for line in body.trim().lines() {
                writeln!(out, "  {line}").ok();
            }
        }
        None => {}
    }
    let hint = match status {
        404 => "`kresctl config get` shows the config; pointers look like /network/listen/0",
        409 => "change it in the config file and restart kres-manager (its service)",
        412 => "read the config again (`kresctl status` shows the current ETag) and retry with that ETag",
        500 => "kres-manager's log has the details",
        _ => "",
    };
    if !hint.is_empty() {
        writeln!(out, "hint: {hint}").ok();
    }
    out
}

/// `{"errors": [{"pointer", "message"}]}` as (pointer, message) pairs.
fn problems(body: &str) -> Option<Vec<(String, String)>> {
    let json: Json = serde_json::from_str(body).ok()?;
    let errors = json.get("errors")?.as_array()?;
    Some(
        errors
            .iter()
            .map(|error| {
                let text = |key: &str| error.get(key).and_then(Json::as_str).unwrap_or("").to_owned();
                let message = match error.get("message") {
                    Some(Json::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => error.to_string(),
                };
                (text("pointer"), message)
            })
            .collect(),
    )
}

/// A JSON value as block-style YAML that reads back as the same value (strings are quoted
/// whenever a YAML reader could take them for something else).
pub fn yaml(value: &Json) -> String {
    let mut out = String::new();
    match value {
        Json::Object(map) if !map.is_empty() => yaml_map(map, 0, &mut out),
        Json::Array(items) if !items.is_empty() => yaml_list(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(map: &serde_json::Map<String, Json>, indent: usize, out: &mut String) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(key));
        out.push(':');
        yaml_nested(value, indent, out);
    }
}

fn yaml_list(items: &[Json], indent: usize, out: &mut String) {
    for item in items {
        match item {
            Json::Object(map) if !map.is_empty() => {
                // The first key on the dash's line, the others under it.
                let mut nested = String::new();
                yaml_map(map, indent + 2, &mut nested);
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&nested[indent + 2..]);
            }
            Json::Array(inner) if !inner.is_empty() => {
                out.push_str(&" ".repeat(indent));
                out.push_str("-\n");
                yaml_list(inner, indent + 2, out);
            }
            scalar => {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

/// After `key:`: a scalar on the same line, a collection indented below.
fn yaml_nested(value: &Json, indent: usize, out: &mut String) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            out.push('\n');
            yaml_map(map, indent + 2, out);
        }
        Json::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_list(items, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => yaml_string(s),
        Json::Array(_) => "[]".to_owned(),
        Json::Object(_) => "{}".to_owned(),
    }
}

/// A string plain when that is unambiguous, else double-quoted (a JSON string is a valid YAML
/// double-quoted scalar).
fn yaml_string(s: &str) -> String {
    if plain_is_safe(s) { s.to_owned() } else { serde_json::to_string(s).unwrap_or_default() }
}

fn plain_is_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_./@:+-=".contains(c);
    if !s.chars().all(allowed) || !(first.is_ascii_alphanumeric() || "_./".contains(first)) || s.ends_with(':') {
        return false;
    }
    // YAML 1.1 readers take these for booleans.
    const WORDS: [&str; 8] = ["y", "n", "yes", "no", "on", "off", "true", "false"];
    if WORDS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Our reader must read it back as the same string (not a number, null, ...).
    matches!(schema_core::yaml::parse(s, None), Ok(v) if v.as_str() == Some(s))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn answer(json: Json) -> ChangeAnswer {
        serde_json::from_value(json).expect("a change answer")
    }

    #[test]
    fn applied_plan_shows_each_pointer_with_impact_and_action() {
        let text = change(&answer(json!({
            "generation": 8, "etag": "\"8-ab\"", "applied": true,
            "plan": {
                "changes": [
                    {"pointer": "/logging/level", "impact": "hot", "action": "log_level('debug') in every worker"},
                    {"pointer": "/workers", "impact": "rolling", "action": "start kresd2"}
                ],
                "hot_lua": ["log_level('debug')"], "workers": [2, 3], "cache_gc": false
            },
            "steps": ["canary kresd answered", "kresd2 started"]
        })));
        assert_eq!(
            text,
            "Applied: the config is now generation 8, ETag \"8-ab\".\n\
             \x20 /logging/level  hot (no restart)  log_level('debug') in every worker\n\
             \x20 /workers        rolling restart   start kresd2\n\
             Workers: 2 → 3.\n\
             Lua run in every worker (no restart):\n\
             \x20 log_level('debug')\n\
             Steps:\n\
             \x20 - canary kresd answered\n\
             \x20 - kresd2 started\n"
        );
    }

    #[test]
    fn notes_follow_the_plan() {
        let text = change(&answer(json!({
            "generation": 3, "etag": "\"3\"", "applied": true,
            "plan": {"changes": [{"pointer": "/views", "impact": "hot", "action": "x"}]},
            "steps": [],
            "notes": [{"pointer": "/views/0/tags/0", "message": "tag `lan` is given to clients but no ..."}]
        })));
        assert!(text.ends_with("\nnote: /views/0/tags/0: tag `lan` is given to clients but no ...\n"), "{text}");
    }

    #[test]
    fn dry_runs_and_empty_plans_say_so() {
        let text = change(&answer(json!({
            "generation": 7, "etag": "\"7\"", "applied": false,
            "plan": {"changes": [{"pointer": "/cache/garbage-collector", "impact": "restart-required", "action": "x"}],
                     "hot_lua": [], "workers": [2, 2], "cache_gc": true},
            "steps": []
        })));
        assert!(
            text.starts_with("Dry run, nothing applied (the running config is generation 7, ETag \"7\")."),
            "{text}"
        );
        assert!(text.contains("  /cache/garbage-collector  restart-required  x\n"), "{text}");
        assert!(text.contains("The cache garbage collector is restarted."), "{text}");
        assert!(text.contains("put it in the config file and restart kres-manager"), "{text}");
        assert!(!text.contains("Workers:"), "{text}");
        let empty = json!({"generation": 7, "etag": "\"7\"", "applied": true,
                           "plan": {"changes": [], "hot_lua": [], "workers": [1, 1], "cache_gc": false}, "steps": []});
        assert_eq!(
            change(&answer(empty.clone())),
            "No changes: the running config already is this one (generation 7, ETag \"7\").\n"
        );
        let mut dry = empty;
        dry["applied"] = json!(false);
        assert!(change(&answer(dry)).starts_with("Dry run: no changes;"));
    }

    #[test]
    fn errors_show_each_problem_with_its_pointer_and_a_hint() {
        let body = r#"{"errors": [{"pointer": "/workers", "message": "must be at most 256"},
                                 {"pointer": "", "message": "kresd refused the config"}]}"#;
        assert_eq!(
            api_error(422, body),
            "error: the config was refused; nothing was changed (422 Unprocessable Entity)\n\
             \x20 /workers: must be at most 256\n\
             \x20 kresd refused the config\n"
        );
        let text = api_error(412, r#"{"errors": [{"pointer": "", "message": "If-Match failed"}]}"#);
        assert!(text.starts_with("error: the config changed since that ETag was read"), "{text}");
        assert!(text.ends_with("retry with that ETag\n"), "{text}");
        assert!(api_error(409, "{}").contains("hint: change it in the config file and restart"));
        assert!(
            api_error(404, r#"{"errors":[{"pointer":"/nope","message":"no such key"}]}"#)
                .contains("  /nope: no such key")
        );
        assert!(api_error(500, "").contains("kres-manager's log"));
        assert_eq!(
            api_error(400, "not json\n"),
            "error: kres-manager could not read the request (400 Bad Request)\n  not json\n"
        );
        assert_eq!(api_error(418, ""), "error: kres-manager answered 418 I'm a teapot\n");
    }

    #[test]
    fn status_lists_processes_in_columns() {
        let info = ManagerInfo { version: "0.1.0".into(), generation: 3, etag: "\"3-x\"".into(), ready: false };
        let processes: Vec<Process> = serde_json::from_value(json!([
            {"name": "kresd0", "type": "kresd", "pid": 4242, "state": "running", "restarts": 0, "failed": false, "started": 1000, "generation": 3},
            {"name": "gc", "type": "gc", "pid": null, "state": "fatal", "restarts": 5, "failed": true, "started": null, "generation": 2}
        ]))
        .unwrap();
        let text = status("/run/kres.sock", &info, Some("worker kresd1 is starting"), &processes, 1192);
        assert_eq!(
            text,
            "kres-manager 0.1.0 at /run/kres.sock\n\
             config:  generation 3, ETag \"3-x\"\n\
             ready:   no: worker kresd1 is starting\n\
             processes:\n\
             \x20 NAME    TYPE   PID   STATE    RESTARTS  FAILED  UP     GENERATION\n\
             \x20 kresd0  kresd  4242  running  0         no      3m12s  3\n\
             \x20 gc      gc     -     fatal    5         FAILED  -      2\n"
        );
    }

    #[test]
    fn ages_in_two_units() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(192), "3m12s");
        assert_eq!(age(7500), "2h5m");
        assert_eq!(age(3 * 86_400 + 7200), "3d2h");
    }

    #[test]
    fn yaml_reads_back_as_the_same_value() {
        let value = json!({
            "workers": 2, "nsid": "yes", "hostname": "resolver-1.example", "rundir": "/run/knot-resolver",
            "weird": ["", " lead", "a: b", "#x", "1.5", "null", "~", "0x1F", "true", "-x", "::1", "a #b", "é", "line\nbreak"],
            "network": {"listen": [{"interface": ["127.0.0.1@53", "::1@53"], "kind": "dns"}, {"unix-socket": "/x"}]},
            "nested": [[1, 2], [], {}], "empty": {}, "none": null, "ratio": 0.5, "flag": false
        });
        let text = yaml(&value);
        let back = schema_core::yaml::parse(&text, Some("out.yaml")).expect("valid YAML").to_json();
        assert_eq!(back, value, "{text}");
        assert!(text.contains("hostname: resolver-1.example\n"), "{text}");
        assert!(text.contains("nsid: \"yes\"\n"), "{text}");
        assert!(
            text.contains(
                "network:\n  listen:\n    - interface:\n        - 127.0.0.1@53\n        - \"::1@53\"\n      kind: dns\n"
            ),
            "{text}"
        );
        assert_eq!(yaml(&json!(4)), "4\n");
        assert_eq!(yaml(&json!("debug")), "debug\n");
    }
}
