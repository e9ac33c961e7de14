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

/// A config in the format of Knot Resolver 6.0.16 and earlier, with comments.
const OLD_FORMAT: &str = "\
# Office resolver, written for Knot Resolver 6.0.16.
workers: 2
max-workers: 8   # no longer an option
dnssec: false    # validation happens upstream
monitoring:
  enabled: always
logging:
  level: info
  dnssec-bogus: true
network:
  listen:
    - interface: 127.0.0.1@5353
  tls:
    files-watchdog: false
  proxy-protocol:
    allow: [10.0.0.0/8]
cache:
  garbage-collector: false
";

const MIGRATED: &str = "\
# Office resolver, written for Knot Resolver 6.0.16.
workers: 2
dnssec: # validation happens upstream
  log-bogus: true
  enable: false
monitoring:
  metrics: always
logging:
  level: info
network:
  listen:
    - interface: 127.0.0.1@5353
  tls:
    watchdog: false
  proxy-protocol:
    enable: true
    allow: [10.0.0.0/8]
cache:
  garbage-collector:
    enable: false
";

#[test]
fn migrate_rewrites_an_old_config_and_lists_every_change() {
    let old = temp_file("old-format.yaml", OLD_FORMAT);
    let old = old.to_str().expect("utf-8");
    let (code, stdout, stderr) = kresctl(&["migrate", old]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, MIGRATED);
    for line in [
        "/max-workers: removed",
        "/monitoring/enabled: renamed to /monitoring/metrics",
        "/network/tls/files-watchdog: renamed to /network/tls/watchdog",
        "/cache/garbage-collector: `false` is now `/cache/garbage-collector/enable: false`",
        "/dnssec: `false` is now `/dnssec/enable: false`",
        "/network/proxy-protocol/enable: added: a mapping here meant on",
        "/logging/dnssec-bogus: moved to /dnssec/log-bogus",
    ] {
        assert!(stderr.contains(&format!("{old}: {line}")), "missing {line:?} in:\n{stderr}");
    }
    assert_eq!(stderr.lines().count(), 7, "one line per change:\n{stderr}");
    // The result is valid for us.
    let migrated = temp_file("migrated.yaml", &stdout);
    let (code, _, stderr) = kresctl(&["validate", migrated.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn migrate_check_diff_and_write() {
    let old = temp_file("check-old.yaml", OLD_FORMAT);
    let current = temp_file("check-current.yaml", MIGRATED);
    let (old, current) = (old.to_str().expect("utf-8"), current.to_str().expect("utf-8"));
    // --check: exit 1 when a file needs migrating, for CI; nothing changed, no config printed.
    let (code, stdout, stderr) = kresctl(&["migrate", "--check", old, current]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.ends_with(&format!("needs migrating (kresctl migrate --write): {old}\n")), "{stderr}");
    assert!(stderr.contains(&format!("{current}: already in the current format")), "{stderr}");
    let (code, _, stderr) = kresctl(&["migrate", "--check", current]);
    assert_eq!(code, 0, "{stderr}");
    // --diff: a unified diff.
    let (code, stdout, stderr) = kresctl(&["migrate", "--diff", old]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with(&format!("--- a/{old}\n+++ b/{old}\n@@ ")), "{stdout}");
    for line in ["-max-workers: 8   # no longer an option\n", "-  enabled: always\n", "+  metrics: always\n"] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(std::fs::read_to_string(old).unwrap(), OLD_FORMAT, "--diff changes nothing");
    // Several files are printed only with --write, --diff or --check.
    let (code, _, stderr) = kresctl(&["migrate", old, current]);
    assert_eq!(code, 1);
    assert!(stderr.contains("several files: give --write"), "{stderr}");
    assert_ne!(kresctl(&["migrate", "--check", "--write", old]).0, 0, "--check changes nothing");
    // --write: in place, the current file untouched.
    let before = std::fs::metadata(current).unwrap().modified().unwrap();
    let (code, stdout, stderr) = kresctl(&["migrate", "--write", old, current]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert_eq!(std::fs::read_to_string(old).unwrap(), MIGRATED);
    assert_eq!(std::fs::metadata(current).unwrap().modified().unwrap(), before);
    assert_eq!(kresctl(&["migrate", "--check", old, current]).0, 0);
}

#[test]
fn migrated_configs_are_valid_for_knot_resolver_6s_own_validator() {
    // Knot Resolver 6.5.0's kresctl (scripts/install-kresd6.sh) refuses the old format and
    // accepts what migrate makes of it.
    let kr6 = std::env::var("KRES_KR6_KRESCTL").unwrap_or_else(|_| "/opt/kr6/bin/kr6-kresctl".to_owned());
    assert!(std::path::Path::new(&kr6).exists(), "{kr6} is missing: install it with `bash scripts/install-kresd6.sh`");
    let validate = |path: &std::path::Path| {
        let output = Command::new(&kr6).arg("validate").arg(path).output().expect("Knot Resolver 6's kresctl runs");
        (
            output.status.success(),
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
        )
    };
    let old = temp_file("kr6-old.yaml", OLD_FORMAT);
    let (valid, output) = validate(&old);
    assert!(!valid, "Knot Resolver 6.5.0 accepts the old format: {output}");
    assert!(output.contains("/dnssec") && output.contains("enabled"), "{output}");
    let migrated = temp_file("kr6-migrated.yaml", MIGRATED);
    let (valid, output) = validate(&migrated);
    assert!(valid, "{output}");
    let (code, stdout, stderr) = kresctl(&["migrate", old.to_str().expect("utf-8")]);
    assert_eq!((code, stdout.as_str()), (0, MIGRATED), "{stderr}");
}
