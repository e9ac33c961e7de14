//! kresctl: the command-line client of kres-manager.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kres_manager::config;
use kres_manager::kresd;
use kres_manager::render;
use schema_core::ResolveOptions;

/// Command-line client for kres-manager: validate configs and generate their JSON Schema and
/// reference docs offline (the commands that drive a running manager arrive with the API).
#[derive(Parser, Debug)]
#[command(name = "kresctl", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check config files (several files are deep-merged in order): exit 0 when valid, 1 when
    /// not, printing every problem with its JSON pointer and file:line:column.
    Validate {
        /// Also check that files and directories named in the config exist and are readable.
        #[arg(long)]
        strict: bool,
        /// The kresd executable whose version decides which features are available
        /// (default: $KRES_KRESD, else /usr/sbin/kresd).
        #[arg(long, value_name = "PATH")]
        kresd: Option<PathBuf>,
        /// Config files, YAML or JSON (by the `.json` extension).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the kresd Lua configuration of one worker for config files (validated first, as by
    /// `validate`).
    Convert {
        /// The kresd executable whose version decides which features are available.
        #[arg(long, value_name = "PATH")]
        kresd: Option<PathBuf>,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Config files, YAML or JSON.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the configuration.
    Schema {
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Print the Markdown reference of every configuration option.
    Docs {
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Validate { strict, kresd, files } => match load(&files, strict, kresd) {
            Some(_) => ExitCode::SUCCESS,
            None => ExitCode::FAILURE,
        },
        Command::Convert { kresd, output, files } => {
            let Some(validated) = load(&files, false, kresd) else { return ExitCode::FAILURE };
            let worker = render::WorkerContext {
                id: 0,
                control_socket: validated.config.rundir.as_path().join("control").join("0"),
            };
            match render::render_worker(&validated.config, &worker) {
                Ok(lua) => write_output(output.as_deref(), &lua),
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Schema { output } => {
            let text = serde_json::to_string_pretty(&config::json_schema()).unwrap_or_default() + "\n";
            write_output(output.as_deref(), &text)
        }
        Command::Docs { output } => write_output(output.as_deref(), &config::reference_docs()),
    }
}

fn write_output(path: Option<&Path>, text: &str) -> ExitCode {
    match path {
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: cannot write {}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// Reads, merges and validates config files, printing every problem and note to standard error.
fn load(files: &[PathBuf], strict: bool, kresd_path: Option<PathBuf>) -> Option<config::Validated> {
    let system = config::load::system(&kresd_path.unwrap_or_else(kresd::kresd_path));
    match config::load::load_files(files, &system, ResolveOptions { check_paths: strict }) {
        Ok(loaded) => {
            eprint!("{}", loaded.notes());
            let names: Vec<&str> = loaded.sources.keys().map(String::as_str).collect();
            eprintln!("{}: valid", names.join(", "));
            Some(loaded.validated)
        }
        Err(config::load::LoadError::Invalid { report, rendered }) => {
            eprint!("{rendered}");
            let errors = report.errors().count();
            eprintln!("{errors} problem{} found", if errors == 1 { "" } else { "s" });
            None
        }
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}
