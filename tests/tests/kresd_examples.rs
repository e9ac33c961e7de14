//! Every bundled example, rendered and run by a real kresd 5.6 with only what running offline
//! on a test machine requires changed: listeners on a free loopback port, the rundir and cache
//! in a temporary directory, no DNSSEC bootstrap or priming, forwarding targets on loopback, and
//! a final rule refusing names without local data. Its local data must then answer as written;
//! the examples' rendered Lua is also kept as reviewed snapshots.

use kres_tests::kresd::{Kresd, TempDir, free_port};
use serde_json::{Value as Json, json};

fn examples() -> Vec<(String, Json)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
            found.push((name, schema_core::yaml::parse(&text, None).expect("parses").to_json()));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The example, changed only where a test machine needs it.
fn offline(mut config: Json, dir: &str) -> Json {
    config["rundir"] = json!(dir);
    config["management"] = json!({"unix-socket": format!("{dir}/api.sock")});
    // `{port}` is replaced by the harness with the free port it then queries.
    config["network"]["listen"] = json!([{"interface": "127.0.0.1@{port}"}]);
    if config.get("cache").is_some() {
        config["cache"]["storage"] = json!(format!("{dir}/cache"));
    }
    config["dnssec"] = json!({"enable": false});
    config["options"]["priming"] = json!(false);
    // Forwarding targets: a closed loopback port (never a real upstream from a test).
    if let Some(rules) = config.get_mut("forward").and_then(Json::as_array_mut) {
        for rule in rules {
            rule["servers"] = json!([format!("127.0.0.1@{}", free_port())]);
        }
    }
    let script = config["lua"]["script"].as_str().unwrap_or("").to_owned();
    config["lua"]["script"] = json!(format!("{script}\npolicy.add(policy.all(policy.REFUSE))\n"));
    config
}

#[test]
fn every_example_runs_in_kresd_and_answers_its_local_data() {
    for (name, example) in examples() {
        let dir = TempDir::new("example");
        let config = offline(example.clone(), &dir.0.display().to_string());
        let yaml = serde_json::to_string(&config).expect("serializes");
        let kresd = Kresd::start(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let addresses = example["local-data"]["addresses"].as_object().cloned().unwrap_or_default();
        assert!(!addresses.is_empty(), "{name} has no local-data addresses to check");
        for (host, expected) in addresses {
            let expected: Vec<String> = match expected {
                Json::Array(items) => {
                    items.iter().filter_map(Json::as_str).filter(|a| !a.contains(':')).map(str::to_owned).collect()
                }
                Json::String(one) => vec![one],
                other => panic!("{name}: unexpected {other}"),
            };
            if expected.is_empty() {
                continue;
            }
            let answer = kresd.query(&host, "A");
            assert_eq!(answer.data(), expected, "{name}: {host}:\n{}", kresd.output());
        }
        // Without forwarding, other names meet the final refusing rule (with forwarding, they go
        // to the closed loopback port the test put in place of the upstreams).
        if example.get("forward").is_none() {
            assert_eq!(kresd.query("not-local.example", "A").rcode, "REFUSED", "{name}");
        }
    }
}

/// For each major, whichever kresd the tests run: the kresd 5 snapshots are `example-NAME`, the
/// kresd 6 ones `example-NAME-kresd6`.
#[test]
fn examples_render_to_reviewed_lua() {
    for (name, example) in examples() {
        let yaml = serde_json::to_string(&example).expect("serializes");
        let five = kres_tests::kresd::render_for(schema_core::Version::new(5, 6, 0), &yaml);
        insta::assert_snapshot!(format!("example-{name}"), five);
        let six = kres_tests::kresd::render_for(schema_core::Version::new(6, 5, 0), &yaml);
        insta::assert_snapshot!(format!("example-{name}-kresd6"), six);
    }
}

/// `examples/knot-resolver-6/features.yaml`: with kresd 6 it renders and serves its local data
/// over UDP and over QUIC, with rate limiting, defer and the fallback set up; for kresd 5.6 it is
/// refused, naming each feature and the version.
#[test]
fn the_knot_resolver_6_example_serves_on_kresd_6_and_is_refused_for_5() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/knot-resolver-6/features.yaml");
    let text = std::fs::read_to_string(path).expect("readable");
    let example = schema_core::yaml::parse(&text, None).expect("parses").to_json();
    let dir = TempDir::new("example-kr6");
    let mut config = offline(example, &dir.0.display().to_string());
    let doq = free_port();
    config["network"]["listen"] =
        json!([{"interface": "127.0.0.1@{port}"}, {"interface": format!("127.0.0.1@{doq}"), "kind": "doq"}]);
    config["fallback"]["servers"] = json!([format!("127.0.0.1@{}", free_port())]);
    let yaml = serde_json::to_string(&config).expect("serializes");
    if let Some(text) = kres_tests::kresd::refused_before_6(&yaml) {
        for feature in ["rate limiting", "defer", "DNS over QUIC (kind `doq`)", "the fallback to other servers"] {
            assert!(text.contains(feature) && text.contains("needs Knot Resolver 6"), "{feature}: {text}");
        }
        return;
    }
    let kresd = Kresd::start(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("router.home.arpa", "A").data(), vec!["192.168.1.1"], "{}", kresd.output());
    let quic = kres_tests::kresd::kdig(doq, "router.home.arpa", "A", &["+quic"]);
    assert!(quic.contains("QUIC session") && quic.contains("192.168.1.1"), "{quic}");
    for set_up in ["ratelimiting_init", "defer_init(\"defer-60000\"", "fallback.config"] {
        assert!(kresd.lua.contains(set_up), "{set_up} missing from the rendered Lua");
    }
}
