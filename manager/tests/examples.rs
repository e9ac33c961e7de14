//! The bundled examples are valid for kresd 5.6 and together use every section of the format.

use std::collections::BTreeSet;

use schema_core::{FakeSystem, ResolveOptions, Version};

fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("examples/ exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .map(|path| (path.display().to_string(), std::fs::read_to_string(&path).expect("readable")))
        .collect();
    found.sort();
    found
}

#[test]
fn every_example_is_valid_and_renders() {
    let system = FakeSystem { version: Some(Version::new(5, 6, 0)), ..Default::default() };
    for (name, text) in examples() {
        let document = schema_core::yaml::parse(&text, Some(&name)).unwrap_or_else(|r| panic!("{r}"));
        let validated = kres_manager::config::validate(&document, &system, ResolveOptions::default())
            .unwrap_or_else(|r| panic!("{name} is invalid:\n{r}"));
        let worker = kres_manager::kresd::render::WorkerContext { id: 0, control_socket: "/tmp/control".into() };
        kres_manager::kresd::render::render_worker(kres_tests::kresd::dialect(), &validated.config, &worker)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_examples_together_cover_every_section() {
    let schema = kres_manager::config::json_schema();
    let sections: BTreeSet<String> = schema["properties"].as_object().expect("properties").keys().cloned().collect();
    let mut used = BTreeSet::new();
    for (name, text) in examples() {
        let document = schema_core::yaml::parse(&text, Some(&name)).unwrap_or_else(|r| panic!("{r}"));
        used.extend(document.as_map().expect("a mapping").iter().map(|(key, _)| key.name.to_string()));
    }
    let missing: Vec<&String> = sections.difference(&used).collect();
    assert!(missing.is_empty(), "sections no example uses: {missing:?}");
}
