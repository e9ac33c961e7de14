//! `logging`: how much is logged and where, debug logging for chosen subsystems, and dnstap
//! (binary logs of queries and answers sent to a collector's unix socket).
//!
//! `target: from-arg` (the default, as in Knot Resolver 6.5) is resolved in pass 2 from the
//! environment variable `KRES_LOGTARGET`, where Knot Resolver 6's manager puts its `--logtarget`
//! argument; `target: from-env` (Knot Resolver 6.0 to 6.4, still accepted) from
//! `KRES_LOGGING_TARGET`. Unset or empty means `stdout` for both.

use schema_core::{Checks, FileKind, FilePath, ResolveCx, Schema, Segment};

/// The environment variable `target: from-env` reads (Knot Resolver 6.0 to 6.4).
pub const TARGET_ENV_VAR: &str = "KRES_LOGGING_TARGET";

/// The environment variable `target: from-arg` reads: the start-up log target, which Knot
/// Resolver 6.5's manager sets from its `--logtarget` argument.
pub const TARGET_ARG_ENV_VAR: &str = "KRES_LOGTARGET";

/// An optional list of groups (the derive's `into` takes a plain type name).
pub type OptionalGroups = Option<Vec<LogGroup>>;

/// An optional file path (the derive's `into` takes a plain type name).
pub type OptionalFile = Option<FilePath>;

/// Logging of the manager and the resolver's workers.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Logging, validate = check_logging)]
pub struct LoggingRaw {
    /// The least severe messages that are still logged.
    #[schema(default = "notice")]
    pub level: LogLevel,
    /// Where logs go. `from-arg` takes the start-up log target from the environment variable
    /// `KRES_LOGTARGET` (`stdout`, `stderr` or `syslog`; Knot Resolver 6's manager sets it from
    /// `--logtarget`), and `stdout` when it is unset. `from-env`, of Knot Resolver 6.0 to 6.4,
    /// reads `KRES_LOGGING_TARGET` the same way.
    #[schema(default = "from-arg", resolve = resolve_target, into = LogTarget)]
    pub target: TargetSetting,
    /// Subsystems logged at `debug` level whatever `level` says; each at most once.
    #[schema(resolve = resolve_groups, into = OptionalGroups)]
    pub groups: Option<Vec<LogGroup>>,
    /// Binary logs of queries and answers (dnstap) sent to a collector.
    #[schema(default)]
    pub dnstap: DnstapRaw,
}

/// Severity of log messages, from the most to the least severe.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Critical errors only.
    Crit,
    /// Errors.
    Err,
    /// Warnings.
    Warning,
    /// Significant normal events.
    Notice,
    /// Informational messages.
    Info,
    /// Everything, for debugging.
    Debug,
}

/// Where logs go, as written in the config: a stream, `from-arg` or `from-env`. (One list of names rather
/// than a union, so that a wrong name is answered with all the right ones.)
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSetting {
    /// The system log.
    Syslog,
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
    /// The start-up target, from the environment variable `KRES_LOGTARGET`; `stdout` when it
    /// is unset.
    FromArg,
    /// Read from the environment variable `KRES_LOGGING_TARGET`; `stdout` when it is unset
    /// (Knot Resolver 6.0 to 6.4).
    FromEnv,
}

/// A log stream.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// The system log.
    Syslog,
    /// Standard error.
    Stderr,
    /// Standard output.
    Stdout,
}

/// A subsystem whose messages can be logged at debug level: the manager's own groups first,
/// then those of the resolver's workers (kresd's short names).
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogGroup {
    /// The manager.
    Manager,
    /// The process supervisor.
    Supervisord,
    /// Knot Resolver 6's policy loader.
    PolicyLoader,
    /// The workers, as seen by the manager.
    Kresd,
    /// The cache garbage collector, as seen by the manager.
    CacheGc,
    /// The manager's file watching.
    Files,
    /// The manager's statistics.
    Metrics,
    /// The manager's API server.
    Server,
    /// System-level events.
    System,
    /// The cache.
    Cache,
    /// Input and output.
    Io,
    /// Networking.
    Net,
    /// Trust anchors.
    Ta,
    /// Trust anchor sentinel.
    Tasent,
    /// Trust anchor signalling.
    Tasign,
    /// Trust anchor updates.
    Taupd,
    /// TLS.
    Tls,
    /// GnuTLS.
    Gnutls,
    /// TLS client (to upstreams).
    #[schema(rename = "tls_cl")]
    TlsCl,
    /// XDP sockets.
    Xdp,
    /// DNS over HTTPS.
    Doh,
    /// DNSSEC.
    Dnssec,
    /// Static hints.
    Hint,
    /// Query planning.
    Plan,
    /// Iteration.
    Iterat,
    /// DNSSEC validation.
    Valdtr,
    /// Resolution.
    Resolv,
    /// Server selection.
    Select,
    /// Zone cuts.
    Zoncut,
    /// DNS cookies.
    Cookie,
    /// Statistics.
    Statis,
    /// Rebinding protection.
    Rebind,
    /// Worker internals.
    Worker,
    /// Policies.
    Policy,
    /// The DNS application firewall.
    Daf,
    /// Time jump detection.
    Timejm,
    /// Time skew detection.
    Timesk,
    /// The Graphite module.
    Graphi,
    /// Cache prefilling.
    Prefil,
    /// Root priming.
    Primin,
    /// Serving stale records.
    Srvstl,
    /// The systemd watchdog.
    Wtchdg,
    /// NSID.
    Nsid,
    /// dnstap.
    Dnstap,
    /// Tests.
    Tests,
    /// DNS over TLS to authoritative servers.
    Dotaut,
    /// The HTTP module.
    Http,
    /// Control sockets.
    Contrl,
    /// User modules.
    Module,
    /// Development.
    Devel,
    /// Renumbering.
    Renum,
    /// Extended DNS errors.
    Exterr,
    /// The rules database (Knot Resolver 6 only).
    Rules,
    /// Protocol layers (Knot Resolver 6 only).
    Prlayr,
    /// Request deferring (Knot Resolver 6 only).
    Defer,
    /// DNS over QUIC (Knot Resolver 6 only).
    Doq,
    /// The QUIC library (Knot Resolver 6 only).
    Ngtcp2,
}

impl LogGroup {
    /// Groups of the manager's own components rather than of kresd.
    pub fn is_manager_group(self) -> bool {
        use LogGroup::*;
        matches!(self, Manager | Supervisord | PolicyLoader | Kresd | CacheGc | Files | Metrics | Server)
    }

    /// kresd groups that only Knot Resolver 6 has (kresd 5.6 refuses them in `log_groups`).
    pub fn is_kresd_6_only(self) -> bool {
        use LogGroup::*;
        matches!(self, Rules | Prlayr | Defer | Doq | Ngtcp2)
    }
}

/// dnstap: queries and answers logged in binary form to a collector listening on a unix socket.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Dnstap, validate = check_dnstap)]
pub struct DnstapRaw {
    /// Whether to send dnstap messages; needs `unix-socket`.
    #[schema(default = false)]
    pub enable: bool,
    /// The collector's unix socket (it must be listening there when the workers start).
    #[schema(resolve = resolve_socket, into = OptionalFile)]
    pub unix_socket: Option<FilePath>,
    /// Log the queries clients send.
    #[schema(default = false)]
    pub log_queries: bool,
    /// Log the answers clients get.
    #[schema(default = false)]
    pub log_responses: bool,
    /// Log the round-trip time of TCP connections.
    #[schema(default = false)]
    pub log_tcp_rtt: bool,
}

/// No group listed twice (Knot Resolver 6 has this rule too).
fn check_logging(logging: &LoggingRaw, checks: &mut Checks) {
    let groups = logging.groups.as_deref().unwrap_or_default();
    for (i, group) in groups.iter().enumerate() {
        if let Some(first) = groups[..i].iter().position(|g| g == group) {
            let name = group.to_json();
            let name = name.as_str().unwrap_or_default();
            checks.error(&format!("groups/{i}"), format!("`{name}` is listed twice (first at /groups/{first})"));
        }
    }
}

/// Enabled dnstap needs somewhere to send to.
fn check_dnstap(dnstap: &DnstapRaw, checks: &mut Checks) {
    if dnstap.enable && dnstap.unix_socket.is_none() {
        checks.error("enable", "dnstap is enabled but `unix-socket` is not set");
    }
}

fn resolve_target(value: &TargetSetting, _: &LoggingRaw, cx: &mut ResolveCx<'_>) -> Result<LogTarget, String> {
    match value {
        TargetSetting::Syslog => Ok(LogTarget::Syslog),
        TargetSetting::Stderr => Ok(LogTarget::Stderr),
        TargetSetting::Stdout => Ok(LogTarget::Stdout),
        TargetSetting::FromArg => target_from_env(cx, "from-arg", TARGET_ARG_ENV_VAR),
        TargetSetting::FromEnv => target_from_env(cx, "from-env", TARGET_ENV_VAR),
    }
}

fn target_from_env(cx: &ResolveCx<'_>, setting: &str, var: &str) -> Result<LogTarget, String> {
    match cx.system().env_var(var).as_deref() {
        None | Some("") | Some("stdout") => Ok(LogTarget::Stdout),
        Some("stderr") => Ok(LogTarget::Stderr),
        Some("syslog") => Ok(LogTarget::Syslog),
        Some(other) => {
            Err(format!("`{setting}` reads ${var}, whose value {other:?} is not one of stdout, stderr, syslog"))
        }
    }
}

/// With kresd 5.6, groups of Knot Resolver 6's own subsystems are dropped with a note: kresd 5.6
/// refuses unknown group names, and the subsystems they name do not exist there, so nothing is
/// lost.
fn resolve_groups(value: &OptionalGroups, _: &LoggingRaw, cx: &mut ResolveCx<'_>) -> Result<OptionalGroups, String> {
    let Some(groups) = value else { return Ok(None) };
    let Some(installed) = super::target::before_6(cx) else { return Ok(Some(groups.clone())) };
    let mut kept = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        if group.is_kresd_6_only() {
            let name = group.to_json();
            let name = name.as_str().unwrap_or_default().to_owned();
            cx.at(Segment::Index(i), |cx| {
                cx.note(format!(
                    "the log group `{name}` is for a subsystem of Knot Resolver 6; {installed}, which lacks it, so it \
                     is ignored"
                ))
            });
        } else {
            kept.push(*group);
        }
    }
    Ok(Some(kept))
}

/// The socket is checked (with `check_paths`) only when dnstap is enabled, and it must be a
/// socket rather than a regular file.
fn resolve_socket(value: &OptionalFile, dnstap: &DnstapRaw, cx: &mut ResolveCx<'_>) -> Result<OptionalFile, String> {
    if let Some(path) = value
        && dnstap.enable
        && cx.check_paths()
    {
        match cx.system().file_kind(path.as_path()) {
            Some(FileKind::Other) => {}
            None => return Err(format!("{path} does not exist (the dnstap collector must be listening there)")),
            Some(kind) => return Err(format!("{path} is a {kind}, not a socket")),
        }
    }
    Ok(value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::Version;
    use schema_core::{FakeSystem, Report, ResolveOptions, Schema, resolve_document};
    use serde_json::json;

    fn load(text: &str) -> Result<LoggingRaw, Report> {
        schema_core::load(text, Some("t.yaml"))
    }

    fn resolve(raw: &LoggingRaw, system: &FakeSystem) -> Result<(Logging, Report), Report> {
        resolve_document(raw, system, Default::default())
    }

    fn env(var: &str, value: &str) -> FakeSystem {
        let mut system = FakeSystem::default();
        system.env.insert(var.into(), value.into());
        system
    }

    #[test]
    fn default_is_the_reference_default() {
        // The reference's field default is `from-arg`; its section default shows the resolved
        // form, where `from-arg` became `stdout` (no start-up target given).
        let reference = json!({
            "level": "notice",
            "target": "from-arg",
            "groups": null,
            "dnstap": {
                "enable": false,
                "unix-socket": null,
                "log-queries": false,
                "log-responses": false,
                "log-tcp-rtt": false,
            },
        });
        assert_eq!(LoggingRaw::default().to_json(), reference);
        assert_eq!(load("{}").unwrap(), LoggingRaw::default());
        let (logging, notes) = resolve(&LoggingRaw::default(), &FakeSystem::default()).unwrap();
        assert_eq!(logging.target, LogTarget::Stdout);
        assert_eq!(logging.level, LogLevel::Notice);
        assert_eq!(logging.groups, None);
        assert_eq!(
            logging.dnstap,
            Dnstap { enable: false, unix_socket: None, log_queries: false, log_responses: false, log_tcp_rtt: false }
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn valid_snippet_maps_and_resolves() {
        let raw = load(
            "level: info\ntarget: syslog\ngroups: [manager, cache, tls_cl, policy-loader]\ndnstap:\n  enable: true\n  unix-socket: /run/dnstap.sock\n  log-queries: true\n",
        )
        .unwrap();
        assert_eq!(raw.level, LogLevel::Info);
        assert_eq!(raw.target, TargetSetting::Syslog);
        assert_eq!(raw.groups, Some(vec![LogGroup::Manager, LogGroup::Cache, LogGroup::TlsCl, LogGroup::PolicyLoader]));
        assert!(raw.dnstap.enable && raw.dnstap.log_queries && !raw.dnstap.log_responses);
        let (logging, notes) = resolve(&raw, &FakeSystem::default()).unwrap();
        assert_eq!(logging.target, LogTarget::Syslog);
        assert_eq!(logging.groups, raw.groups);
        assert_eq!(logging.dnstap.unix_socket, raw.dnstap.unix_socket);
        assert!(notes.is_empty());
    }

    #[test]
    fn unknown_target_and_group() {
        let report = load("target: journal\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/target: \"journal\" is not one of \"syslog\", \"stderr\", \"stdout\", \"from-arg\", \"from-env\" (at t.yaml:1:9)"
        );
        let report = load("groups: [cache, cahce]\n").unwrap_err();
        assert!(report.to_string().starts_with("/groups/1: "), "{report}");
    }

    #[test]
    fn target_from_the_environment() {
        let from_env = load("target: from-env\n").unwrap();
        for (value, target) in [
            ("", LogTarget::Stdout),
            ("stdout", LogTarget::Stdout),
            ("stderr", LogTarget::Stderr),
            ("syslog", LogTarget::Syslog),
        ] {
            // The default, `from-arg`, reads the start-up target; `from-env` its own variable.
            let (logging, _) = resolve(&LoggingRaw::default(), &env(TARGET_ARG_ENV_VAR, value)).unwrap();
            assert_eq!(logging.target, target, "{value:?}");
            let (logging, _) = resolve(&from_env, &env(TARGET_ENV_VAR, value)).unwrap();
            assert_eq!(logging.target, target, "{value:?}");
        }
        // Each reads only its own variable.
        assert_eq!(
            resolve(&LoggingRaw::default(), &env(TARGET_ENV_VAR, "syslog")).unwrap().0.target,
            LogTarget::Stdout
        );
        assert_eq!(resolve(&from_env, &env(TARGET_ARG_ENV_VAR, "syslog")).unwrap().0.target, LogTarget::Stdout);
        let report = resolve(&LoggingRaw::default(), &env(TARGET_ARG_ENV_VAR, "journal")).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/target: `from-arg` reads $KRES_LOGTARGET, whose value \"journal\" is not one of stdout, stderr, syslog"
        );
        let report = resolve(&from_env, &env(TARGET_ENV_VAR, "journal")).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/target: `from-env` reads $KRES_LOGGING_TARGET, whose value \"journal\" is not one of stdout, stderr, syslog"
        );
        // An explicit target ignores the environment.
        let raw = load("target: stderr\n").unwrap();
        assert_eq!(resolve(&raw, &env(TARGET_ARG_ENV_VAR, "journal")).unwrap().0.target, LogTarget::Stderr);
    }

    #[test]
    fn no_duplicate_groups() {
        let report = load("groups:\n  - cache\n  - io\n  - cache\n").unwrap_err();
        assert_eq!(report.to_string(), "/groups/2: `cache` is listed twice (first at /groups/0) (at t.yaml:4:5)");
    }

    #[test]
    fn knot_resolver_6_groups_are_dropped_on_5_6() {
        let raw = load("groups: [defer, cache, doq]\n").unwrap();
        let (logging, notes) = resolve(&raw, &FakeSystem::default()).unwrap();
        assert_eq!(logging.groups, Some(vec![LogGroup::Cache]));
        assert_eq!(
            notes.to_string(),
            "note: /groups/0: the log group `defer` is for a subsystem of Knot Resolver 6; the installed kresd is \
             5.6.0, which lacks it, so it is ignored\n\
             note: /groups/2: the log group `doq` is for a subsystem of Knot Resolver 6; the installed kresd is \
             5.6.0, which lacks it, so it is ignored"
        );
        let kr6 = FakeSystem { version: Some(Version::new(6, 4, 2)), ..Default::default() };
        assert_eq!(resolve(&raw, &kr6).unwrap().0.groups, raw.groups);
    }

    #[test]
    fn dnstap_needs_a_socket() {
        let report = load("dnstap:\n  enable: true\n  log-responses: true\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/dnstap/enable: dnstap is enabled but `unix-socket` is not set (at t.yaml:2:11)"
        );
        // A socket without `enable` is fine (and not checked).
        assert!(load("dnstap:\n  unix-socket: /run/dnstap.sock\n").is_ok());
    }

    #[test]
    fn dnstap_socket_is_checked_only_when_asked() {
        let raw = load("dnstap: {enable: true, unix-socket: /run/dnstap.sock}\n").unwrap();
        let strict = ResolveOptions { check_paths: true };
        let mut system = FakeSystem::default();
        let report = resolve_document(&raw, &system, strict).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/dnstap/unix-socket: /run/dnstap.sock does not exist (the dnstap collector must be listening there)"
        );
        system.files.insert("/run/dnstap.sock".into(), FileKind::File);
        let report = resolve_document(&raw, &system, strict).unwrap_err();
        assert_eq!(report.to_string(), "/dnstap/unix-socket: /run/dnstap.sock is a file, not a socket");
        system.files.insert("/run/dnstap.sock".into(), FileKind::Other);
        assert!(resolve_document(&raw, &system, strict).is_ok());
        // Disabled: not checked.
        let raw = load("dnstap: {unix-socket: /run/dnstap.sock}\n").unwrap();
        assert!(resolve_document(&raw, &FakeSystem::default(), strict).is_ok());
    }
}
