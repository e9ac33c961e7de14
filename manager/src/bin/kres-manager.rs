//! The kres-manager daemon.

use clap::Parser;

/// Runs Knot Resolver (kresd) workers as described by a declarative config file and keeps them
/// equal to it: validation with precise errors, hot changes, rolling restarts, crash recovery and
/// an HTTP management API.
#[derive(Parser, Debug)]
#[command(name = "kres-manager", version, about, long_about = None)]
struct Args {
    /// Config file(s), YAML or JSON; several files are merged in order.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = "/etc/knot-resolver/config.yaml")]
    config: Vec<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::bail!(
        "kres-manager {} cannot run a resolver yet: the daemon is not built (config files given: {:?})",
        kres_manager::VERSION,
        args.config
    )
}
