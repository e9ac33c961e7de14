//! A corpus of wrong configs (`fixtures/invalid/*.yaml`), each with the problems it must produce:
//! pointers, messages and positions, as reviewed snapshots. Validated for kresd 5.6.

use schema_core::{FakeSystem, ResolveOptions, Version};

#[test]
fn every_invalid_config_reports_its_problems() {
    let system = FakeSystem { version: Some(Version::new(5, 6, 0)), cpus: 4, ..Default::default() };
    insta::glob!("fixtures/invalid/*.yaml", |path| {
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        let text = std::fs::read_to_string(path).expect("readable");
        let report = match schema_core::yaml::parse(&text, Some(name)) {
            Err(report) => report,
            Ok(document) => match kres_manager::config::validate(&document, &system, ResolveOptions::default()) {
                Ok(_) => panic!("{name} was accepted"),
                Err(report) => report,
            },
        };
        insta::assert_snapshot!(report.to_string());
    });
}
