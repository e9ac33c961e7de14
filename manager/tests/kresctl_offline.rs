//! `kresctl validate / schema / docs` as whole processes: exit codes and what they print.

use std::process::Command;

fn kresctl(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kresctl")).args(args).output().expect("kresctl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kresctl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn validate_accepts_the_quickstart_example() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.yaml");
    let (code, stdout, stderr) = kresctl(&["validate", example]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("quickstart.yaml: valid"), "{stderr}");
}

#[test]
fn validate_reports_every_problem_with_position_and_exits_1() {
    let path = temp_file("bad.yaml", "workers: lots\ncache:\n  size-max: 100MB\nbogus: 1\n");
    let (code, _, stderr) = kresctl(&["validate", path.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{stderr}");
    for expected in [
        "error: /workers:",
        "error: /cache/size-max:",
        "error: /bogus: unknown key",
        ":1:10",
        ":3:13",
        "3 problems found",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn validate_notes_view_tags_that_no_rule_uses() {
    let path = temp_file(
        "tags.yaml",
        "views:\n  - subnets: [10.0.0.0/8]\n    tags: [lan, typo]\nlocal-data:\n  rules:\n    - name: [a.example]\n      \
         subtree: empty\n      tags: [lan]\n",
    );
    let (code, _, stderr) = kresctl(&["validate", path.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "a note, not an error: {stderr}");
    assert!(
        stderr.contains("note: /views/0/tags/1: tag `typo` is given to clients but no local-data rule or RPZ uses it"),
        "{stderr}"
    );
    assert!(stderr.contains("tags.yaml:3:17"), "with the place in the file: {stderr}");
    assert!(!stderr.contains("/views/0/tags/0"), "`lan` is used: {stderr}");
}

#[test]
fn validate_reports_conflicts_between_merged_files() {
    let a = temp_file("a.yaml", "workers: 2\n");
    let b = temp_file("b.yaml", "workers: 3\n");
    let (code, _, stderr) = kresctl(&["validate", a.to_str().expect("utf-8"), b.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("/workers: set in two files"), "{stderr}");
}

#[test]
fn validate_of_a_missing_file_fails_with_its_name() {
    let (code, _, stderr) = kresctl(&["validate", "/nonexistent/config.yaml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read /nonexistent/config.yaml"), "{stderr}");
}

#[test]
fn schema_and_docs_print_what_the_library_generates() {
    let (code, stdout, _) = kresctl(&["schema"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(schema, kres_manager::config::json_schema());
    let (code, stdout, _) = kresctl(&["docs"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, kres_manager::config::reference_docs());
}

#[test]
fn convert_prints_the_worker_lua() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/quickstart.yaml");
    let (code, stdout, stderr) = kresctl(&["convert", example]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("net.listen(\"127.0.0.1\", 5353"), "{stdout}");
}

#[test]
fn convert_of_an_invalid_config_prints_the_problems_and_no_lua() {
    let path = temp_file("convert-bad.yaml", "workers: lots\n");
    let (code, stdout, stderr) = kresctl(&["convert", path.to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("error: /workers:"), "{stderr}");
}
