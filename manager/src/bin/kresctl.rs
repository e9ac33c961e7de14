//! kresctl: the command-line client of kres-manager.

use clap::{Parser, Subcommand};

/// Command-line client for kres-manager: validate and convert configs offline, and drive a
/// running manager through its API.
#[derive(Parser, Debug)]
#[command(name = "kresctl", version, about, long_about = None)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        None => {
            anyhow::bail!("no command given; see `kresctl --help` (the commands arrive with the config model)")
        }
    }
}
