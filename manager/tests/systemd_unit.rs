//! The shipped systemd unit (`dist/kres-manager.service`) is accepted by `systemd-analyze
//! verify`, with its `ExecStart` pointed at the binary under test (verify checks that it exists).

use std::process::Command;

const UNIT: &str = include_str!("../../dist/kres-manager.service");

/// `systemd-analyze verify` of `text` as a unit file named `name`: (success, what it printed).
fn verify(name: &str, text: &str) -> (bool, String) {
    let dir = std::env::temp_dir().join(format!("kres-unit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write unit");
    let output = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze runs");
    let _ = std::fs::remove_dir_all(&dir);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), printed)
}

#[test]
fn systemd_accepts_the_unit() {
    let unit = UNIT.replace("/usr/local/bin/kres-manager", env!("CARGO_BIN_EXE_kres-manager"));
    assert_ne!(unit, UNIT, "the unit's ExecStart names /usr/local/bin/kres-manager");
    let (ok, printed) = verify("kres-manager.service", &unit);
    assert!(ok, "{printed}");
    // Warnings about our unit (unknown keys, bad values) are printed with its name.
    assert!(!printed.contains("kres-manager.service"), "{printed}");
    for key in ["Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="] {
        assert!(unit.contains(key), "{key} missing");
    }
}

#[test]
fn the_check_sees_a_broken_unit() {
    let unit = UNIT.replace("KillMode=mixed", "KillMode=sometimes");
    let (_, printed) = verify("broken.service", &unit);
    assert!(printed.contains("kill mode"), "{printed}");
}
