//! `kres-soak`: the soak of `kres_tests::soak` from the command line.
//!
//! ```text
//! kres-soak [--duration SECS] [--workers N] [--exe PATH] [--json FILE]
//!           [--clients N] [--pause-ms MS] [--warmup SECS] [--progress SECS] [--code TEXT]
//! ```
//!
//! Prints the report as a table and as one JSON line (`--json FILE` writes that line to FILE
//! too); exits 1 when a bound of `kres_tests::soak::BOUNDS` is broken, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kres_tests::soak::{self, BOUNDS, Options};

const USAGE: &str = "usage: kres-soak [--duration SECS (60)] [--workers N (2)] [--exe PATH (kres-manager beside this binary)] \
[--json FILE] [--clients N (8)] [--pause-ms MS (5)] [--warmup SECS (20, at most a third)] [--progress SECS (60)] [--code TEXT]";

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()) {
        Ok(Some((options, json, code))) => {
            let mut report = soak::run(&options);
            report.code = code;
            let line = report.to_json(&BOUNDS).to_string();
            println!("{}", report.table(&BOUNDS));
            println!("{line}");
            if let Some(path) = json
                && let Err(error) = std::fs::write(&path, format!("{line}\n"))
            {
                eprintln!("kres-soak: cannot write {}: {error}", path.display());
                return ExitCode::from(2);
            }
            if report.violations(&BOUNDS).is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("kres-soak: {error}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

type Parsed = (Options, Option<PathBuf>, Option<String>);

fn parse(args: Vec<String>) -> Result<Option<Parsed>, String> {
    let mut duration = 60;
    let mut workers = 2;
    let mut exe = None;
    let mut json = None;
    let mut code = None;
    let mut clients = None;
    let mut pause_ms = None;
    let mut warmup = None;
    let mut progress = 60;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            return Ok(None);
        }
        let value = inline.or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))?;
        let number = |value: &str| value.parse::<u64>().map_err(|_| format!("{name}: not a number: {value}"));
        match name.as_str() {
            "--duration" => duration = number(&value)?,
            "--workers" => workers = u32::try_from(number(&value)?).map_err(|e| e.to_string())?,
            "--exe" => exe = Some(PathBuf::from(value)),
            "--json" => json = Some(PathBuf::from(value)),
            "--code" => code = Some(value),
            "--clients" => clients = Some(number(&value)? as usize),
            "--pause-ms" => pause_ms = Some(number(&value)?),
            "--warmup" => warmup = Some(number(&value)?),
            "--progress" => progress = number(&value)?,
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if duration == 0 || workers == 0 {
        return Err("--duration and --workers must be at least 1".into());
    }
    let mut options = Options::new(exe.unwrap_or_else(soak::default_exe), Duration::from_secs(duration));
    options.workers = workers;
    if let Some(clients) = clients {
        options.clients = clients;
    }
    if let Some(pause_ms) = pause_ms {
        options.pause = Duration::from_millis(pause_ms);
    }
    if let Some(warmup) = warmup {
        options.warmup = Duration::from_secs(warmup.min(duration));
    }
    options.progress = (progress > 0).then(|| Duration::from_secs(progress));
    Ok(Some((options, json, code)))
}
