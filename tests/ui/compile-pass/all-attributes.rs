// Every attribute of the DSL used correctly on one struct: defaults (literal, function, trait),
// constraints, field and container validators, a pass-2 resolver with `into`, `rename` and
// `rename_all`. `main` maps documents and resolves one, so the attributes are tested in effect.

use std::collections::BTreeMap;

use schema_core::{
    Auto, Checks, Duration, FakeSystem, Port, ResolveCx, ResolveOptions, Schema, Size, load, resolve_document,
};

/// A server section.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(rename_all = "snake_case", resolved = Server, validate = check_server)]
pub struct ServerRaw {
    /// Worker processes; `auto` is one per CPU.
    #[schema(default = "auto", resolve = resolve_workers, into = u16)]
    workers: Auto<u16>,
    /// Name of the instance.
    #[schema(default = default_name, min_len = 1, max_len = 16, pattern = "^[a-z][a-z0-9-]*$")]
    name: String,
    /// Cache size.
    #[schema(default = "100M", min = "1M", max = "64G")]
    cache_size: Size,
    /// A timeout.
    #[schema(default = "2s", min = "10ms", max = "1m")]
    timeout: Duration,
    /// Retries.
    #[schema(default = 3, min = 0, max = 10)]
    retries: u8,
    /// A ratio.
    #[schema(default = 0.5, min = 0.0, max = 1.0)]
    ratio: f64,
    /// Whether to log queries.
    #[schema(default = false)]
    log_queries: bool,
    /// Tags.
    #[schema(default, max_items = 4)]
    tags: Vec<String>,
    /// Labels.
    #[schema(default, min_items = 0, max_items = 8)]
    labels: BTreeMap<String, String>,
    /// Optional weight, checked by a validator.
    #[schema(min = -100, max = 100, validate = even)]
    weight: Option<i32>,
    /// Port to listen on, unprivileged.
    #[schema(default = 5353, min = 1024, max = 49151)]
    port: Port,
    /// The key in documents is `id`.
    #[schema(rename = "id")]
    identifier: u32,
}

fn default_name() -> String {
    "main".to_owned()
}

fn even(weight: &Option<i32>) -> Result<(), String> {
    match weight {
        Some(w) if w % 2 != 0 => Err(format!("{w} is not even")),
        _ => Ok(()),
    }
}

fn check_server(server: &ServerRaw, checks: &mut Checks) {
    if server.retries > 5 && server.timeout > Duration::parse("10s").unwrap() {
        checks.error("retries", "more than 5 retries with a timeout above 10s");
    }
}

fn resolve_workers(value: &Auto<u16>, _: &ServerRaw, cx: &mut ResolveCx<'_>) -> Result<u16, String> {
    let cpus = cx.system().cpu_count();
    Ok(value.resolve_with(|| u16::try_from(cpus).unwrap_or(u16::MAX)))
}

fn main() {
    // Every default, and a renamed required key.
    let raw: ServerRaw = load("id: 7", Some("s.yaml")).unwrap();
    assert_eq!(raw.workers, Auto::Auto);
    assert_eq!(raw.name, "main");
    assert_eq!(raw.cache_size, Size::parse("100M").unwrap());
    assert_eq!(raw.timeout, Duration::parse("2s").unwrap());
    assert_eq!((raw.retries, raw.ratio, raw.log_queries), (3, 0.5, false));
    assert!(raw.tags.is_empty() && raw.labels.is_empty());
    assert_eq!((raw.weight, raw.identifier), (None, 7));
    assert_eq!(raw.port, Port(5353));

    // Explicit values, with `rename_all = "snake_case"` keys.
    let text = "workers: 2\nname: edge-1\ncache_size: 1G\ntimeout: 500ms\nretries: 10\nratio: 0.25\n\
                log_queries: true\ntags: [a, b]\nlabels: {x: y}\nweight: -4\nid: 1\n";
    let raw: ServerRaw = load(text, Some("s.yaml")).unwrap();
    assert_eq!(raw.workers, Auto::Value(2));
    assert_eq!(raw.tags, ["a", "b"]);
    assert_eq!(raw.weight, Some(-4));

    // Constraints and validators, every problem in one report.
    let bad = "name: Edge\ncache_size: 512K\nretries: 11\ntags: [a, b, c, d, e]\nweight: 3\nport: 80\n";
    let report = load::<ServerRaw>(bad, Some("s.yaml")).unwrap_err().to_string();
    for expected in [
        "/name: \"Edge\" does not match the pattern",
        "/cache_size: 512K is out of range 1M..=64G",
        "/retries: 11 is out of range 0..=10",
        "/tags: has 5 items, at most 4 allowed",
        "/weight: 3 is not even",
        "/port: 80 is out of range 1024..=49151",
        "missing required key `id`",
    ] {
        assert!(report.contains(expected), "{expected:?} not in:\n{report}");
    }

    // Bounds of a port are JSON Schema's own keywords.
    let schema = schema_core::json_schema::schema_for::<ServerRaw>(None).to_string();
    assert!(schema.contains(r#""maximum":49151,"minimum":1024"#) || schema.contains(r#""minimum":1024,"maximum":49151"#), "{schema}");

    // The container validator.
    let report = load::<ServerRaw>("id: 1\nretries: 6\ntimeout: 20s", Some("s.yaml")).unwrap_err().to_string();
    assert!(report.contains("/retries: more than 5 retries"), "{report}");

    // Pass 2: `auto` becomes the CPU count, in the generated `Server` struct.
    let raw: ServerRaw = load("id: 1", Some("s.yaml")).unwrap();
    let system = FakeSystem { cpus: 6, ..FakeSystem::default() };
    let (server, _notes): (Server, _) = resolve_document(&raw, &system, ResolveOptions::default()).unwrap();
    let workers: u16 = server.workers;
    assert_eq!(workers, 6);
    assert_eq!(server.identifier, 1);
    assert_eq!(server.name, "main");
}
