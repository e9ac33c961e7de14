//! The committed JSON Schema and reference docs must be what the code generates: a change to
//! the config model that forgets to regenerate them fails here, with the command to run.

use kres_manager::config;

fn check(path: &str, generated: &str, command: &str) {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&full).unwrap_or_default();
    if committed != generated {
        let first_difference = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
        panic!("{path} is stale (first differing line: {first_difference:?}); regenerate it with:\n    {command}");
    }
}

#[test]
fn committed_json_schema_is_current() {
    let generated = serde_json::to_string_pretty(&config::json_schema()).expect("serializes") + "\n";
    check(
        "docs/config.schema.json",
        &generated,
        "cargo run -p kres-manager --bin kresctl -- schema -o docs/config.schema.json",
    );
}

#[test]
fn committed_reference_docs_are_current() {
    check(
        "docs/config-reference.md",
        &config::reference_docs(),
        "cargo run -p kres-manager --bin kresctl -- docs -o docs/config-reference.md",
    );
}
