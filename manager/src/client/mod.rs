//! kresctl: the command-line client of kres-manager. [`run`] is the whole program, so tests and
//! the binary run the same code.
//!
//! Offline commands (`validate`, `convert`, `migrate`, `schema`, `docs`) use the library directly;
//! `debug` asks the API which processes run and hands over to gdb ([`debug`]). Online
//! commands find the management API ([`discover`]: `--socket`, else the config file's
//! `management` section, else the default socket), send HTTP/1.1 requests over a unix socket or
//! TCP ([`http`], one connection per request, with timeouts) and print the answers for people
//! ([`render`]) or as they are (`--json`). Every failure is a [`Failure`]: a message for standard
//! error (saying what to do next), optionally the server's JSON for standard output, and exit
//! status 1.

pub mod cli;
pub mod debug;
pub mod discover;
pub mod http;
pub mod input;
pub mod online;
pub mod render;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use schema_core::ResolveOptions;

use crate::{config, kresd};
use cli::{Cli, Command};

/// Why a command failed: `message` goes to standard error (nothing when empty), `stdout` (the
/// server's JSON with `--json`) to standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub stdout: Option<String>,
}

impl Failure {
    /// `error: {text}`.
    pub fn error(text: impl std::fmt::Display) -> Failure {
        Failure { message: format!("error: {text}"), stdout: None }
    }

    /// A message already in its final form.
    pub fn raw(text: String) -> Failure {
        Failure { message: text, stdout: None }
    }

    /// A failure whose output was already printed.
    pub fn silent() -> Failure {
        Failure { message: String::new(), stdout: None }
    }
}

/// Runs kresctl with `args` (the first is the program name) and returns its exit status: 0 on
/// success, 1 on failure, 2 for a bad command line.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(stdout) = &failure.stdout {
                out(stdout);
                if !stdout.ends_with('\n') {
                    out("\n");
                }
            }
            if !failure.message.is_empty() {
                eprintln!("{}", failure.message.trim_end());
            }
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Validate { strict, target, files } => load(&files, strict, &target).map(drop),
        Command::Convert { target, output, files } => {
            let (validated, target) = load(&files, false, &target)?;
            let worker = kresd::render::WorkerContext {
                id: 0,
                control_socket: validated.config.rundir.as_path().join("control").join("0"),
            };
            let text =
                kresd::render::render_worker(target.dialect, &validated.config, &worker).map_err(Failure::error)?;
            write_output(output.as_deref(), &text)
        }
        Command::Migrate { write, diff, check, files } => migrate(&files, write, diff, check),
        Command::Schema { live: false, output } => {
            let text = serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default() + "\n";
            write_output(output.as_deref(), &text)
        }
        Command::Schema { live: true, output } => online::live_schema(global, output.as_deref()),
        Command::Docs { output } => write_output(output.as_deref(), &config::reference_docs()),
        Command::Config(command) => online::config(global, command),
        Command::Plan(args) => online::plan(global, args),
        Command::Reload { force, discard_api_changes } => online::reload(global, force, discard_api_changes),
        Command::Stop => online::stop(global),
        Command::Status => online::status(global),
        Command::Metrics { prometheus } => online::metrics(global, prometheus),
        Command::Cache(command) => online::cache(global, command),
        Command::Pids { kind } => online::pids(global, kind),
        Command::Debug(args) => debug::run(global, args),
        Command::Completion { shell } => {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "kresctl", &mut text);
            out(&String::from_utf8_lossy(&text));
            Ok(())
        }
    }
}

/// `kresctl migrate`: the changes of each file (standard error), then its migrated text, its diff,
/// or nothing (`--check`, `--write`). Exit status 1 for a file that cannot be read or parsed, and
/// with `--check` for one that needs migrating.
fn migrate(files: &[PathBuf], write: bool, diff: bool, check: bool) -> Result<(), Failure> {
    if files.len() > 1 && !(write || diff || check) {
        return Err(Failure::error(
            "several files: give --write (rewrite them), --diff or --check; one file alone is printed",
        ));
    }
    let mut failed = false;
    let mut outdated = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: cannot read {name}: {error}");
                failed = true;
                continue;
            }
        };
        let json = path.extension().is_some_and(|e| e == "json");
        let migrated = match config::migrate::migrate(&text, &name, json) {
            Ok(migrated) => migrated,
            Err(error) => {
                eprintln!("error: {name}: {error}");
                failed = true;
                continue;
            }
        };
        if migrated.changes.is_empty() {
            eprintln!("{name}: already in the current format");
        } else {
            outdated.push(name.clone());
            for change in &migrated.changes {
                eprintln!("{name}: {}: {}", change.pointer, change.message);
            }
            if migrated.comments_lost {
                eprintln!(
                    "{name}: note: the YAML could not be edited in place (flow style at a changed place), so it is \
                     written out anew, without its comments"
                );
            }
        }
        if diff && !migrated.changes.is_empty() {
            let text_diff = similar::TextDiff::from_lines(&text, &migrated.text);
            out(&text_diff.unified_diff().header(&format!("a/{name}"), &format!("b/{name}")).to_string());
        }
        if write && !migrated.changes.is_empty() {
            if let Err(error) = std::fs::write(path, &migrated.text) {
                eprintln!("error: cannot write {name}: {error}");
                failed = true;
                continue;
            }
            eprintln!("{name}: migrated ({} changes)", migrated.changes.len());
        }
        if !(write || diff || check) {
            out(&migrated.text);
        }
    }
    if failed {
        return Err(Failure::silent());
    }
    if check && !outdated.is_empty() {
        return Err(Failure::raw(format!("needs migrating (kresctl migrate --write): {}", outdated.join(", "))));
    }
    Ok(())
}

/// Writes to standard output; a closed pipe (`kresctl metrics | head`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Writes `text` to `path`, or to standard output.
pub fn write_output(path: Option<&Path>, text: &str) -> Result<(), Failure> {
    match path {
        None => {
            out(text);
            Ok(())
        }
        Some(path) => std::fs::write(path, text)
            .map_err(|error| Failure::error(format!("cannot write {}: {error}", path.display()))),
    }
}

/// The target named by `args`, its note (an unknown version) on standard error.
pub(crate) fn target(args: &cli::TargetArgs) -> Result<kresd::Target, Failure> {
    let target = args.target().map_err(Failure::error)?;
    if let Some(note) = &target.note {
        eprintln!("note: {note}");
    }
    Ok(target)
}

/// Reads, merges and validates config files for the target, printing every problem and note to
/// standard error.
fn load(
    files: &[PathBuf],
    strict: bool,
    target: &cli::TargetArgs,
) -> Result<(config::Validated, kresd::Target), Failure> {
    let target = self::target(target)?;
    match config::load::load_files(files, &target.system(), ResolveOptions { check_paths: strict }) {
        Ok(loaded) => {
            eprint!("{}", loaded.notes());
            let names: Vec<&str> = loaded.sources.keys().map(String::as_str).collect();
            eprintln!("{}: valid for {target}", names.join(", "));
            Ok((loaded.validated, target))
        }
        Err(config::load::LoadError::Invalid { report, rendered }) => {
            let errors = report.errors().count();
            Err(Failure::raw(format!("{rendered}{errors} problem{} found", if errors == 1 { "" } else { "s" })))
        }
        Err(error) => Err(Failure::error(error)),
    }
}
