//! Issue 3's figures: `kresctl validate` and `kresctl convert` of each example as whole
//! processes (median of many runs), and validate + render of a config with 100,000 local-data
//! addresses in-process.
//!
//! Run: `cargo bench -p kres-tests --bench config` (builds kresctl in release mode first).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use schema_core::{FakeSystem, ResolveOptions, Version};

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2] * 1e3
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The binary of the same profile as this bench (release under `cargo bench`).
    let kresctl = std::env::current_exe().expect("exe").parent().and_then(Path::parent).map(|d| d.join("kresctl"));
    let runs = if full { 50 } else { 2 };
    match kresctl.filter(|p| p.exists()) {
        None => {
            println!("config: kresctl not built in this profile; run `cargo build --release -p kres-manager` first")
        }
        Some(kresctl) => {
            for example in ["quickstart.yaml", "full.yaml"] {
                let path = root.join("examples").join(example);
                for command in ["validate", "convert"] {
                    let samples: Vec<f64> = (0..runs)
                        .map(|_| {
                            let started = Instant::now();
                            let status =
                                Command::new(&kresctl).arg(command).arg(&path).output().expect("kresctl runs").status;
                            assert!(status.success(), "kresctl {command} {example} failed");
                            started.elapsed().as_secs_f64()
                        })
                        .collect();
                    println!(
                        "config: kresctl {command} examples/{example}: median {:.2} ms over {runs} runs",
                        median_ms(samples)
                    );
                }
            }
        }
    }

    let addresses = if full { 100_000 } else { 1_000 };
    let mut yaml = String::from("local-data:\n  addresses:\n");
    for i in 0..addresses {
        yaml.push_str(&format!("    host-{i}.example: 192.0.{}.{}\n", (i / 256) % 256, i % 256));
    }
    let system = FakeSystem { version: Some(Version::new(5, 6, 0)), ..Default::default() };
    let samples: Vec<f64> = (0..if full { 5 } else { 1 })
        .map(|_| {
            let started = Instant::now();
            let document = schema_core::yaml::parse(&yaml, Some("big.yaml")).expect("parses");
            let validated =
                kres_manager::config::validate(&document, &system, ResolveOptions::default()).expect("valid");
            let worker = kres_manager::kresd::render::WorkerContext { id: 0, control_socket: "/tmp/control".into() };
            let lua =
                kres_manager::kresd::render::render_worker(kres_tests::kresd::dialect(), &validated.config, &worker)
                    .expect("renders");
            assert!(lua.len() > addresses);
            started.elapsed().as_secs_f64()
        })
        .collect();
    println!("config: {addresses} local-data addresses: parse + validate + render median {:.0} ms", median_ms(samples));
}
