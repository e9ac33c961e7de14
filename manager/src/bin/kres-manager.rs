//! The kres-manager daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kres_manager::backend::supervisord::default_venv;
use kres_manager::daemon::{service, supervised};
use kres_manager::layout::{Binaries, Timeouts};

/// Runs Knot Resolver (kresd) workers as described by a declarative config file and keeps them
/// equal to it: validation with precise errors, hot changes, rolling restarts without lost
/// queries, crash recovery and an HTTP management API.
///
/// kres-manager validates the config (exit status 1 with every problem when it is invalid),
/// locks the rundir (one service per rundir), then becomes supervisord, which runs the manager
/// and the workers. Stop it with SIGTERM or SIGINT; SIGHUP reloads the config files.
#[derive(Parser, Debug)]
#[command(name = "kres-manager", version, about, long_about)]
struct Args {
    /// Config file(s), YAML or JSON; several files are merged in order.
    #[arg(short = 'c', long = "config", value_name = "FILE", default_value = "/etc/knot-resolver/config.yaml")]
    config: Vec<PathBuf>,
    /// The Python virtualenv with supervisord and kres-manager's extensions (created by
    /// scripts/setup-system.sh).
    #[arg(long, value_name = "DIR", default_value_os_t = default_venv())]
    venv: PathBuf,
    /// supervisord executable [default: <venv>/bin/supervisord].
    #[arg(long, value_name = "PATH", env = "KRES_SUPERVISORD")]
    supervisord: Option<PathBuf>,
    /// The kresd executable.
    #[arg(long, value_name = "PATH", env = "KRES_KRESD", default_value = "/usr/sbin/kresd")]
    kresd: PathBuf,
    /// The cache garbage collector executable [default: kres-cache-gc next to the kresd, so that
    /// `--kresd /opt/kr6/sbin/kresd` gets kresd 6's own GC].
    #[arg(long, value_name = "PATH", env = "KRES_CACHE_GC")]
    cache_gc: Option<PathBuf>,
    /// Where the accepted config is kept across manager restarts [default: <rundir>/state].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The unprivileged user the service runs as when started as root: after preparing its
    /// directories, kres-manager switches to that user for good, keeping only the capability to
    /// bind ports below 1024 (such as 53), and supervisord, the manager, the workers and the
    /// cache GC all run as it; `root` keeps everything running as root [default: knot-resolver
    /// when root].
    #[arg(long, value_name = "NAME", env = "KRES_USER")]
    user: Option<String>,
    /// How long a worker taken out of service (in a rolling restart, or when workers are
    /// removed) may finish what it has: queued UDP queries, queries in progress, and its TCP,
    /// DoT and DoH connections, each closed once nothing is in flight on it; what is left then
    /// is closed with the process. E.g. `500ms`, `3s`.
    #[arg(long, value_name = "DURATION", env = "KRES_DRAIN_TIMEOUT", default_value = "3s", value_parser = drain_timeout)]
    drain_timeout: std::time::Duration,
    /// Run as supervisord's program (set by the service start, not by hand).
    #[arg(long, hide = true, requires = "rundir")]
    supervised: bool,
    #[arg(long, hide = true, value_name = "DIR")]
    rundir: Option<PathBuf>,
}

fn drain_timeout(text: &str) -> Result<std::time::Duration, String> {
    schema_core::Duration::parse(text).map(schema_core::Duration::to_std)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let timeouts = Timeouts { drain: args.drain_timeout, ..Timeouts::default() };
    let binaries = Binaries::new(args.kresd.clone(), args.cache_gc.clone());
    if args.supervised {
        tracing_subscriber::fmt()
            .with_target(false)
            .without_time()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
        let options = supervised::SupervisedOptions {
            files: args.config,
            rundir: args.rundir.expect("required by clap"),
            state_dir: args.state_dir,
            binaries,
            timeouts,
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(runtime) => runtime,
            Err(error) => {
                eprintln!("error: cannot start the async runtime: {error}");
                return ExitCode::FAILURE;
            }
        };
        return match runtime.block_on(supervised::run(options)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("{error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let options = service::ServiceOptions {
        files: args.config,
        supervisord: args.supervisord.unwrap_or_else(|| args.venv.join("bin/supervisord")),
        binaries,
        state_dir: args.state_dir,
        user: args.user,
        timeouts,
    };
    match service::start(&options) {
        Ok(never) => match never {},
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
