//! Knot Resolver 6's own validator (`kr6-kresctl validate`, the installed 6.5.0) and ours,
//! judging for Knot Resolver 6.5.0, give the same verdict on every example config and every
//! config of the invalid corpus, except the disagreements listed in [`DISAGREEMENTS`] (mirrored
//! in `docs/knot-resolver-6-differences.md`). A listed file on which both now agree fails too.
//!
//! Neither side checks paths (no `--strict`): the corpus names files of other machines.

use schema_core::{FakeSystem, ResolveOptions, Version};
use std::path::{Path, PathBuf};

/// Knot Resolver 6's client, installed with its daemon by `scripts/install-kresd6.sh` (in
/// `$KRES_KR6_PREFIX`, `/opt/kr6` by default).
fn kr6_kresctl() -> String {
    let prefix = std::env::var("KRES_KR6_PREFIX").unwrap_or_else(|_| "/opt/kr6".to_owned());
    format!("{prefix}/bin/kr6-kresctl")
}

const DOC: &str = "docs/knot-resolver-6-differences.md";

/// A file on which the verdicts differ on purpose: (file, Knot Resolver 6 accepts it, reason).
const DISAGREEMENTS: &[(&str, bool, &str)] = &[
    (
        "examples/full.yaml",
        false,
        "authoritative forwarding to a custom port: `policy.STUB` takes `address@port` on kresd 5.6 and 6 (tested end to end)",
    ),
    ("examples/quickstart.yaml", false, "the same authoritative forward to a custom port"),
    (
        "tests/tests/fixtures/invalid/forward-dot-without-hostname.yaml",
        true,
        "a DNS over TLS server that nothing authenticates (no `hostname`, no `pin-sha256`) is refused",
    ),
    (
        "tests/tests/fixtures/invalid/listen-unix-dns.yaml",
        true,
        "kresd cannot serve plain DNS on a unix socket; refused here rather than when kresd starts",
    ),
    (
        "tests/tests/fixtures/invalid/prefill-http-url.yaml",
        true,
        "the root zone for prefill is fetched over HTTPS only",
    ),
    (
        "tests/tests/fixtures/invalid/yaml11-boolean.yaml",
        true,
        "YAML 1.2: `yes` is a string, refused where a boolean is expected rather than guessed",
    ),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn theirs_accepts(path: &Path) -> bool {
    let kresctl = kr6_kresctl();
    let output = match std::process::Command::new(&kresctl).arg("validate").arg(path).output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run {kresctl} ({e}): Knot Resolver 6 is not installed; install it with \
             scripts/install-kresd6.sh (about 30 s) and run this test again"
        ),
    };
    match output.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!(
            "{kresctl} validate {} failed unexpectedly ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn ours_accepts(path: &Path) -> bool {
    let system = FakeSystem { version: Some(Version::new(6, 5, 0)), cpus: 4, ..Default::default() };
    let text = std::fs::read_to_string(path).expect("readable");
    match schema_core::yaml::parse(&text, path.to_str()) {
        Err(_) => false,
        Ok(document) => kres_manager::config::validate(&document, &system, ResolveOptions::default()).is_ok(),
    }
}

fn corpus() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["examples", "tests/tests/fixtures/invalid"] {
        for entry in std::fs::read_dir(workspace().join(dir)).expect("the corpus exists") {
            let name = entry.expect("a directory entry").file_name().into_string().expect("a UTF-8 name");
            if name.ends_with(".yaml") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn knot_resolver_6s_validator_agrees_but_for_the_listed_files() {
    let files = corpus();
    assert!(files.len() > 20, "only {} files in the corpus", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let path = workspace().join(file);
        let (theirs, ours) = (theirs_accepts(&path), ours_accepts(&path));
        let listed = DISAGREEMENTS.iter().find(|(f, _, _)| f == file);
        match listed {
            None if theirs != ours => {
                problems.push(format!("{file}: Knot Resolver 6 accepts it: {theirs}, we accept it: {ours} (unlisted)"))
            }
            Some((_, listed_theirs, _)) if theirs == ours || theirs != *listed_theirs => problems.push(format!(
                "{file}: listed as accepted by Knot Resolver 6: {listed_theirs} and not by us, but Knot Resolver 6 \
                 accepts it: {theirs}, we: {ours}"
            )),
            _ => {}
        }
    }
    for (file, _, _) in DISAGREEMENTS {
        if !files.iter().any(|f| f == file) {
            problems.push(format!("{file}: listed but not in the corpus"));
        }
    }
    assert!(
        problems.is_empty(),
        "verdicts of Knot Resolver 6's validator and ours differ in ways DISAGREEMENTS \
         (tests/tests/kr6_validator.rs) and {DOC} do not say:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_doc_lists_the_disagreements() {
    let doc = std::fs::read_to_string(workspace().join(DOC)).expect("the doc exists");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `examples/") || l.starts_with("| `tests/")).collect();
    let expected: Vec<String> = DISAGREEMENTS
        .iter()
        .map(|(file, theirs, reason)| {
            let (theirs, ours) = if *theirs { ("accepted", "refused") } else { ("refused", "accepted") };
            format!("| `{file}` | {theirs} | {ours} | {reason} |")
        })
        .collect();
    assert_eq!(rows, expected, "the verdict table in {DOC} must be DISAGREEMENTS of tests/tests/kr6_validator.rs");
}
