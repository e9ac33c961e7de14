//! kresctl's command line (clap derive). Global options may stand before or after the command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Command-line client of kres-manager: change and inspect a running Knot Resolver through its \
management API, and check configs offline.";

const LONG_ABOUT: &str = "Command-line client of kres-manager: change and inspect a running Knot Resolver through \
its management API, and check configs offline.

The API is found from --socket, else from the `management` section of the config file (--config, else \
/etc/knot-resolver/config.yaml when it exists), else at /run/knot-resolver/kres-api.sock.

Output is for people; with --json the server's JSON is printed as it is (also for errors), for scripts. The exit \
status is 0 on success, 1 on every failure (2 for a bad command line).";

const EXAMPLES: &str = "Examples:
  kresctl status
  kresctl config get -p /logging
  kresctl config set -p /logging/level debug
  kresctl config set -p /workers 4 --dry-run
  kresctl plan /etc/knot-resolver/config.yaml
  kresctl reload
  kresctl --socket http://127.0.0.1:5000 metrics --prometheus
  kresctl validate config.yaml";

/// The whole command line.
#[derive(Parser, Debug)]
#[command(name = "kresctl", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const GLOBAL: &str = "Global options";

/// Options of every command that talks to the API.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct Global {
    /// The API: a unix socket path, or http://HOST:PORT for TCP
    /// [default: from the config file, else /run/knot-resolver/kres-api.sock].
    #[arg(short = 's', long, global = true, value_name = "PATH|URL", help_heading = GLOBAL)]
    pub socket: Option<String>,
    /// Config file(s) whose `management` section says where the API is (several are merged in
    /// order) [default: /etc/knot-resolver/config.yaml if it exists].
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Vec<PathBuf>,
    /// File holding a token of the API, sent as `Authorization: Bearer`: needed over TCP when
    /// the API has `management.tokens` (ignored on the unix socket).
    #[arg(long, global = true, value_name = "FILE", env = "KRES_API_TOKEN_FILE", help_heading = GLOBAL)]
    pub token_file: Option<PathBuf>,
    /// Print the server's JSON answers as they are (errors too, on standard output), for scripts.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Give up when kres-manager has not answered within this many seconds
    /// [default: 120 for changes, which answer once applied; 30 for reads].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds, help_heading = GLOBAL)]
    pub timeout: Option<f64>,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() && seconds < 1e9 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum Command {
    /// Check config files (several files are deep-merged in order): exit 0 when valid, 1 when
    /// not, printing every problem with its JSON pointer and file:line:column.
    Validate {
        /// Also check that files and directories named in the config exist and are readable.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        target: TargetArgs,
        /// Config files, YAML or JSON (by the `.json` extension).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Rewrite configs of earlier Knot Resolver 6 releases into the current format.
    ///
    /// For files written for Knot Resolver 6.0.16 and earlier: every change is listed with its
    /// pointer, and comments, order and blank lines are kept where the YAML allows. The migrated
    /// config goes to standard output (one file), or back into the files with --write.
    #[command(after_help = "Examples:
  kresctl migrate old.yaml > config.yaml
  kresctl migrate --diff /etc/knot-resolver/config.yaml
  kresctl migrate --write /etc/knot-resolver/*.yaml
  kresctl migrate --check config.yaml       # exit status 1 when it needs migrating (for CI)

The changes follow Knot Resolver 6.0.17's release notes: `dnssec: false` -> `dnssec: {enable: false}`,
/monitoring/enabled -> /monitoring/metrics, /logging/dnssec-bogus -> /dnssec/log-bogus, removed
options such as /max-workers and /webmgmt, and the rest. A section given as a mapping without
`enable` (graphite, dnstap, dns64, proxy-protocol, rate-limiting, prediction) meant `on` then, so
`enable: true` is added.")]
    Migrate {
        /// Write each migrated file back in place (files that need nothing are not touched).
        #[arg(short, long)]
        write: bool,
        /// Print a unified diff of each file instead of the migrated config.
        #[arg(long)]
        diff: bool,
        /// Change nothing and print no config: exit 1 when a file needs migrating.
        #[arg(long, conflicts_with_all = ["write", "diff"])]
        check: bool,
        /// Config files, YAML or JSON (by the `.json` extension).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the kresd Lua configuration of one worker for config files (validated first, as by
    /// `validate`).
    Convert {
        #[command(flatten)]
        target: TargetArgs,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        /// Config files, YAML or JSON.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the configuration (this kresctl's, or with --live the running
    /// kres-manager's).
    Schema {
        /// Ask the running kres-manager for its schema.
        #[arg(long)]
        live: bool,
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
    /// Read or change the running config, part by part (addressed by JSON pointers).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show what a new config or one change would do, without applying it: each changed pointer
    /// with its impact (hot, rolling restart, restart-required).
    #[command(after_help = "Examples:
  kresctl plan /etc/knot-resolver/config.yaml           # the whole config from files
  kresctl plan base.yaml local.yaml                      # merged in order
  kresctl plan -p /logging/level debug                   # one change
  kresctl plan -p /network/listen/- '{interface: 127.0.0.1@5353}'")]
    Plan(PlanArgs),
    /// Re-read the config files and apply them; exits 1 when the reload failed.
    #[command(after_help = "Examples:
  kresctl reload
  kresctl reload --force                          # re-apply even when nothing changed
  kresctl reload --discard-api-changes            # drop changes made through the API")]
    Reload {
        /// Apply the config again even when nothing changed (restarts the workers one by one).
        #[arg(long)]
        force: bool,
        /// Forget the changes made through the API, so the files alone are the config.
        #[arg(long)]
        discard_api_changes: bool,
    },
    /// Stop the whole service (the manager and every worker).
    Stop,
    /// Show the manager's version, the config's generation and ETag, readiness and every
    /// process; exits 1 when the service is not ready.
    Status,
    /// Print the workers' statistics (JSON, or Prometheus text with --prometheus).
    Metrics {
        /// Prometheus text format instead of JSON.
        #[arg(long)]
        prometheus: bool,
    },
    /// Manage the shared cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print the pids of the managed processes, one per line.
    Pids {
        /// Which processes.
        #[arg(value_enum, default_value_t = ProcessKind::All)]
        kind: ProcessKind,
    },
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  kresctl completion bash > /etc/bash_completion.d/kresctl
  kresctl completion zsh > \"${fpath[1]}/_kresctl\"
  kresctl completion fish > ~/.config/fish/completions/kresctl.fish")]
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run gdb attached to one worker or to all of them.
    ///
    /// As Knot Resolver 6's `kresctl debug`: gdb attached to processes of the running service,
    /// every kresd worker by default, each as one gdb inferior. The processes stop while gdb holds
    /// them: the resolver does not answer meanwhile.
    #[command(after_help = "Examples:
  kresctl debug                                      # every worker, interactively
  kresctl debug kresd1                               # one worker
  kresctl debug all -- -batch -ex 'thread apply all bt'   # a backtrace of every process, then detach
  kresctl debug --print-only                         # only print the gdb command line

gdb must be allowed to trace the processes: as root it is; otherwise run it with --sudo, or give gdb
the capability (setcap cap_sys_ptrace=eip /usr/bin/gdb), or relax /proc/sys/kernel/yama/ptrace_scope.
kresctl must run on the machine of the service.")]
    Debug(DebugArgs),
}

/// `kresctl debug`'s arguments.
#[derive(Args, Debug, PartialEq)]
pub struct DebugArgs {
    /// Which processes: `kresd` (every worker), `gc` (the cache GC), `all`, or one process by
    /// name (`kresd1`, `cache-gc`, `canary`).
    #[arg(value_name = "PROCESS", default_value = "kresd")]
    pub process: String,
    /// Run gdb through `sudo --`, to be allowed to trace processes of another user.
    #[arg(long)]
    pub sudo: bool,
    /// The debugger: a command on PATH, or a path [default: gdb].
    #[arg(long, value_name = "GDB")]
    pub gdb: Option<String>,
    /// Print the gdb command line (shell-quoted) instead of running it.
    #[arg(long)]
    pub print_only: bool,
    /// More arguments for gdb, after `--`, passed after kresctl's own.
    #[arg(last = true, value_name = "GDB_ARGS", allow_hyphen_values = true)]
    pub gdb_args: Vec<String>,
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum ConfigCommand {
    /// Print the running config, or the part at a pointer (JSON, or YAML with --yaml).
    #[command(after_help = "Examples:
  kresctl config get
  kresctl config get -p /network/listen/0
  kresctl config get -p /logging --yaml")]
    Get {
        /// JSON pointer of the part to print [default: the whole config].
        #[arg(short, long, value_name = "POINTER", default_value = "")]
        pointer: String,
        /// Print YAML instead of JSON.
        #[arg(long, conflicts_with = "json")]
        yaml: bool,
        /// Write it to this file instead of standard output.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },
    /// Set the value at a pointer (`/-` at the end appends to a list), validate the whole
    /// result and apply it; prints what was done.
    #[command(after_help = "VALUE is read as JSON when it is JSON, else as YAML, so words need no quotes; quote a \
string that looks like a number: '\"53\"'.

Examples:
  kresctl config set -p /workers 4
  kresctl config set -p /logging/level debug
  kresctl config set -p /network/listen/- '{interface: 127.0.0.1@5353}'
  kresctl config set -p /forward --file forward.yaml
  kresctl config set -p /workers 2 --if-match '\"7-3f2a\"' --dry-run")]
    Set {
        /// JSON pointer of the place to set.
        #[arg(short, long, value_name = "POINTER")]
        pointer: String,
        /// The new value (JSON, else YAML).
        #[arg(value_name = "VALUE", required_unless_present = "file", conflicts_with = "file")]
        value: Option<String>,
        /// Read the value from a file (JSON for .json, else YAML; `-` for standard input).
        #[arg(short, long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        change: ChangeOptions,
    },
    /// Remove the value at a pointer (it falls back to its default), validate and apply.
    #[command(after_help = "Examples:
  kresctl config delete -p /network/listen/1
  kresctl config delete -p /logging/groups --dry-run")]
    Delete {
        /// JSON pointer of the place to remove.
        #[arg(short, long, value_name = "POINTER")]
        pointer: String,
        #[command(flatten)]
        change: ChangeOptions,
    },
    /// Apply an RFC 6902 JSON Patch (add, remove, replace, move, copy, test), its paths relative
    /// to the pointer; validated and applied as one change.
    #[command(after_help = "Examples:
  kresctl config patch --file patch.json
  echo '[{\"op\": \"replace\", \"path\": \"/level\", \"value\": \"info\"}]' | kresctl config patch -p /logging --file -")]
    Patch {
        /// JSON pointer the patch's paths are relative to [default: the whole config].
        #[arg(short, long, value_name = "POINTER", default_value = "")]
        pointer: String,
        /// The patch: a list of operations, JSON or YAML (`-` for standard input).
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        change: ChangeOptions,
    },
}

/// Options of every config change.
#[derive(Args, Debug, Clone, Default, PartialEq)]
pub struct ChangeOptions {
    /// Apply only if the config's ETag is still this one (as `kresctl status` shows it);
    /// otherwise nothing changes and kresctl exits 1.
    #[arg(long, value_name = "ETAG")]
    pub if_match: Option<String>,
    /// Show what the change would do, without applying it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which kresd the files are checked for: its version decides which features are available and
/// which Lua is written (kresd 5 or 6).
#[derive(Args, Debug, PartialEq, Default)]
pub struct TargetArgs {
    /// The kresd executable to ask for its version [default: $KRES_KRESD, else /usr/sbin/kresd].
    #[arg(long, value_name = "PATH", conflicts_with = "kresd_version")]
    pub kresd: Option<PathBuf>,
    /// Check for a kresd of this version instead of asking one (e.g. `5.6.0` or `6.5.0`: a
    /// config meant for another machine).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub kresd_version: Option<schema_core::Version>,
}

fn parse_version(text: &str) -> Result<schema_core::Version, String> {
    schema_core::Version::find_in(text)
        .filter(|_| text.trim().chars().all(|c| c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} is not a version like 6.5.0"))
}

impl TargetArgs {
    /// The kresd named, or the installed one.
    pub fn target(&self) -> Result<crate::kresd::Target, String> {
        match self.kresd_version {
            Some(version) => crate::kresd::Target::of_version(version),
            None => crate::kresd::Target::find(&self.kresd.clone().unwrap_or_else(crate::kresd::kresd_path)),
        }
    }
}

/// `kresctl plan FILE...` or `kresctl plan -p POINTER VALUE`.
#[derive(Args, Debug, PartialEq)]
pub struct PlanArgs {
    /// Plan one change: the JSON pointer of the place to set (then give VALUE or --file).
    #[arg(short, long, value_name = "POINTER")]
    pub pointer: Option<String>,
    /// The value for --pointer, read from a file (JSON for .json, else YAML; `-` for standard
    /// input).
    #[arg(short, long, value_name = "FILE", requires = "pointer")]
    pub file: Option<PathBuf>,
    /// Only if the config's ETag is still this one.
    #[arg(long, value_name = "ETAG")]
    pub if_match: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Config files (a whole new config, merged in order), or with --pointer the new VALUE.
    #[arg(value_name = "FILE|VALUE")]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum CacheCommand {
    /// Remove records from the shared cache: everything, a name with its subtree, a name alone,
    /// or one type of a name (as Knot Resolver 6's `kresctl cache clear`); prints what kresd
    /// answered (`count`, and notes such as `chunk_limit`).
    #[command(after_help = "Examples:
  kresctl cache clear                                   # the whole cache
  kresctl cache clear example.com.                      # example.com. and below
  kresctl cache clear example.com. --chunk-size 1000    # the same, 1000 records at a time
  kresctl cache clear --exact-name example.com.         # example.com. alone
  kresctl cache clear --exact-name --rr-type AAAA example.com.")]
    Clear {
        /// The domain name whose records (and its subtree's) are removed [default: all].
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Only the name itself, not its subtree.
        #[arg(long, requires = "name")]
        exact_name: bool,
        /// Only records of this type (A, AAAA, ...); needs --exact-name.
        #[arg(long, value_name = "TYPE", requires = "exact_name")]
        rr_type: Option<String>,
        /// How many records of a subtree to remove at a time, the rest asynchronously (a bigger
        /// chunk holds the workers longer) [kresd's default: 100]; only with a NAME and without
        /// --exact-name.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "name", conflicts_with = "exact_name")]
        chunk_size: Option<u64>,
    },
}

/// Which processes `pids` lists.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessKind {
    All,
    Kresd,
    Gc,
}

impl ProcessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::All => "all",
            ProcessKind::Kresd => "kresd",
            ProcessKind::Gc => "gc",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kresctl").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        let before = parse(&["--socket", "/x.sock", "--json", "config", "get", "-p", "/workers"]).unwrap();
        let after = parse(&["config", "get", "-p", "/workers", "--socket", "/x.sock", "--json"]).unwrap();
        assert_eq!(before.global, after.global);
        assert_eq!(before.global.socket.as_deref(), Some("/x.sock"));
        assert!(before.global.json);
        assert_eq!(before.command, after.command);
        let cli = parse(&["status", "-c", "a.yaml", "-c", "b.yaml", "--timeout", "2.5"]).unwrap();
        assert_eq!(cli.global.config, vec![PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]);
        assert_eq!(cli.global.timeout, Some(2.5));
        assert!(parse(&["status", "--timeout", "0"]).is_err());
        assert!(parse(&["status", "--timeout", "soon"]).is_err());
    }

    #[test]
    fn config_commands() {
        let cli = parse(&["config", "set", "-p", "/workers", "4", "--if-match", "abc", "--dry-run"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Config(ConfigCommand::Set {
                pointer: "/workers".into(),
                value: Some("4".into()),
                file: None,
                change: ChangeOptions { if_match: Some("abc".into()), dry_run: true },
            })
        );
        // A value or a file, not both, not neither.
        assert!(parse(&["config", "set", "-p", "/workers"]).is_err());
        assert!(parse(&["config", "set", "-p", "/workers", "4", "--file", "x.yaml"]).is_err());
        assert!(parse(&["config", "set", "-p", "/forward", "--file", "x.yaml"]).is_ok());
        // set and delete need a pointer; get and patch default to the whole config.
        assert!(parse(&["config", "set", "4"]).is_err());
        assert!(parse(&["config", "delete"]).is_err());
        let Command::Config(ConfigCommand::Get { pointer, .. }) = parse(&["config", "get"]).unwrap().command else {
            panic!("get")
        };
        assert_eq!(pointer, "");
        assert!(parse(&["config", "patch"]).is_err());
        assert!(parse(&["config", "patch", "--file", "-"]).is_ok());
        // --yaml and --json contradict each other.
        assert!(parse(&["config", "get", "--yaml", "--json"]).is_err());
    }

    #[test]
    fn plan_forms() {
        let Command::Plan(plan) = parse(&["plan", "a.yaml", "b.yaml"]).unwrap().command else { panic!("plan") };
        assert_eq!((plan.pointer, plan.args), (None, vec!["a.yaml".to_owned(), "b.yaml".to_owned()]));
        let Command::Plan(plan) = parse(&["plan", "-p", "/workers", "4"]).unwrap().command else { panic!("plan") };
        assert_eq!((plan.pointer.as_deref(), plan.args), (Some("/workers"), vec!["4".to_owned()]));
        assert!(parse(&["plan", "--file", "v.yaml"]).is_err(), "--file needs --pointer");
    }

    #[test]
    fn other_commands() {
        let cli = parse(&["reload", "--force", "--discard-api-changes"]).unwrap();
        assert_eq!(cli.command, Command::Reload { force: true, discard_api_changes: true });
        assert_eq!(parse(&["pids"]).unwrap().command, Command::Pids { kind: ProcessKind::All });
        assert_eq!(parse(&["pids", "gc"]).unwrap().command, Command::Pids { kind: ProcessKind::Gc });
        assert!(parse(&["pids", "canary"]).is_err());
        assert_eq!(parse(&["schema", "--live"]).unwrap().command, Command::Schema { live: true, output: None });
        assert_eq!(parse(&["metrics", "--prometheus"]).unwrap().command, Command::Metrics { prometheus: true });
        let cli = parse(&["cache", "clear", "example.com.", "--exact-name", "--rr-type", "AAAA"]);
        assert_eq!(
            cli.unwrap().command,
            Command::Cache(CacheCommand::Clear {
                name: Some("example.com.".into()),
                exact_name: true,
                rr_type: Some("AAAA".into()),
                chunk_size: None,
            })
        );
        let cli = parse(&["cache", "clear", "example.com.", "--chunk-size", "10"]);
        assert!(
            matches!(cli.unwrap().command, Command::Cache(CacheCommand::Clear { chunk_size: Some(10), .. })),
            "a subtree's chunk"
        );
        assert!(
            parse(&["cache", "clear", "x.", "--exact-name", "--chunk-size", "10"]).is_err(),
            "no chunk for one name"
        );
        assert!(parse(&["cache", "clear", "--chunk-size", "10"]).is_err(), "no chunk for the whole cache");
        assert!(parse(&["cache", "clear", "--exact-name"]).is_err(), "--exact-name needs a name");
        assert!(parse(&["cache", "clear", "x.", "--rr-type", "A"]).is_err(), "--rr-type needs --exact-name");
        assert!(parse(&["cache", "clear", "--chunk-size", "0"]).is_err());
        assert!(parse(&["completion", "zsh"]).is_ok());
        let debug = |args: &[&str]| match parse(args).map(|cli| cli.command) {
            Ok(Command::Debug(args)) => Ok(args),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(
            debug(&["debug"]).unwrap(),
            DebugArgs { process: "kresd".into(), sudo: false, gdb: None, print_only: false, gdb_args: vec![] }
        );
        let args =
            debug(&["debug", "kresd1", "--sudo", "--gdb", "/opt/gdb", "--print-only", "--", "-batch", "-ex", "bt"]);
        assert_eq!(
            args.unwrap(),
            DebugArgs {
                process: "kresd1".into(),
                sudo: true,
                gdb: Some("/opt/gdb".into()),
                print_only: true,
                gdb_args: vec!["-batch".into(), "-ex".into(), "bt".into()]
            }
        );
        // Global options after the command, gdb's own options only after `--`.
        let args = debug(&["debug", "all", "--socket", "/x.sock", "--", "--socket"]).unwrap();
        assert_eq!((args.process.as_str(), args.gdb_args), ("all", vec!["--socket".to_owned()]));
        assert!(parse(&["debug", "kresd0", "-batch"]).is_err(), "gdb's options need `--`");
        assert!(parse(&["debug", "kresd0", "kresd1"]).is_err(), "one PROCESS");
        assert!(parse(&["completion", "tcsh"]).is_err());
    }
}
