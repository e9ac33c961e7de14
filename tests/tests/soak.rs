//! The soak in CI: the real service under DNS load with one change through the API every second
//! for `$KRES_SOAK_SECS` seconds (default 60), asserting `kres_tests::soak::BOUNDS` (see
//! `tests/src/soak.rs`; `scripts/soak.sh` runs it for longer). Needs the `kres-manager` binary
//! of the same build (`cargo test --workspace` builds it; or `$KRES_MANAGER_EXE`).

use std::time::Duration;

use kres_tests::soak::{self, BOUNDS, Options};

#[test]
fn soak_under_load_with_a_change_every_second() {
    let secs = std::env::var("KRES_SOAK_SECS").ok().map_or(60, |s| s.parse().expect("KRES_SOAK_SECS: seconds"));
    let mut options = Options::new(soak::default_exe(), Duration::from_secs(secs));
    options.progress = Some(Duration::from_secs(20));
    let report = soak::run(&options);
    println!("{}", report.table(&BOUNDS));
    println!("{}", report.to_json(&BOUNDS));
    let violations = report.violations(&BOUNDS);
    assert!(violations.is_empty(), "the soak broke its bounds:\n{}", violations.join("\n"));
}
