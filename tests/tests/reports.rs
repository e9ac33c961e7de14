//! Error reports as operators see them: every problem of a document in one run, each with its
//! JSON pointer and `line:column`, one line each, and the terminal rendering with snippets.

use kres_tests::demo::DemoRaw;

const FILE: &str = "many-mistakes.yaml";

fn report() -> schema_core::Report {
    let text = include_str!("fixtures/many-mistakes.yaml");
    schema_core::load::<DemoRaw>(text, Some(FILE)).expect_err("the fixture is invalid")
}

#[test]
fn every_mistake_is_reported_with_pointer_and_position() {
    let report = report();
    assert!(report.len() >= 5, "{report}");
    assert!(report.problems.iter().all(|p| p.span.is_some()), "{report}");
    insta::assert_snapshot!("many_mistakes_lines", report.to_string());
}

#[test]
fn terminal_rendering_shows_the_offending_lines() {
    let text = include_str!("fixtures/many-mistakes.yaml");
    let rendered = report().render(&|name| (name == FILE).then(|| text.to_owned()));
    insta::assert_snapshot!("many_mistakes_rendered", rendered);
}

#[test]
fn json_documents_report_positions_too() {
    let text = "{\n  \"cache\": {\"size-max\": \"1K\"},\n  \"workers\": 0.5\n}";
    let report = schema_core::load::<DemoRaw>(text, Some("c.json")).expect_err("invalid");
    assert_eq!(
        report.to_string(),
        "/workers: expected \"auto\" or an integer, found a number 0.5 (at c.json:3:14)\n\
         /cache/size-max: 1K is out of range 1M..=64G (at c.json:2:25)"
    );
}

#[test]
fn api_json_form_lists_every_problem() {
    let json = report().to_json();
    let problems = json.as_array().expect("a list");
    assert_eq!(problems.len(), report().len());
    assert!(problems.iter().all(|p| p["pointer"].is_string() && p["line"].is_u64() && p["column"].is_u64()));
}

#[test]
fn pass_two_errors_are_located_by_pointer() {
    let text = "workers: 100\n";
    let raw: DemoRaw = schema_core::load(text, Some("w.yaml")).expect("valid in pass 1");
    let system = schema_core::FakeSystem { cpus: 2, ..Default::default() };
    let mut report = schema_core::resolve_document(&raw, &system, Default::default()).expect_err("too many workers");
    report.locate(&schema_core::yaml::parse(text, Some("w.yaml")).expect("parses"));
    assert_eq!(report.to_string(), "/workers: 100 workers is more than 10 per CPU (2 CPUs) (at w.yaml:1:10)");
}
