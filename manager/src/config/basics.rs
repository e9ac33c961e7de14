//! The top-level scalar fields of the config. They live in the top-level struct (assembled
//! elsewhere); this module holds what they need: their validators and pass-2 resolvers, generic
//! over the parent struct so they fit the DSL's resolver signature.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `version` | integer | `1` | version of the config format; only `1` exists ([`validate_version`]) |
//! | `nsid` | string or null | `null` | the NSID (RFC 5001) the resolver reports when asked; `null` reports none ([`validate_nsid`]) |
//! | `hostname` | string or null | `null` | the resolver's name in logs and metrics; `null` is the machine's hostname ([`validate_hostname`], [`resolve_hostname`]) |
//! | `rundir` | directory path | `/run/knot-resolver` | working directory of the manager and the workers (sockets, cache by default) |
//! | `workers` | `auto` or integer ≥ 1 | `1` | number of kresd processes; `auto` is one per CPU, at most 10 per CPU ([`validate_workers`], [`resolve_workers`]) |
//!
//! As fields of the top-level struct:
//!
//! ```text
//! /// Version of the configuration format; only 1 exists.
//! #[schema(default = 1, validate = basics::validate_version)]
//! pub version: u32,
//! /// Name Server Identifier (RFC 5001) reported to clients that ask for it; none when null.
//! #[schema(validate = basics::validate_nsid)]
//! pub nsid: Option<String>,
//! /// Name of this resolver in logs and metrics; the machine's hostname when null.
//! #[schema(validate = basics::validate_hostname, resolve = basics::resolve_hostname, into = String)]
//! pub hostname: Option<String>,
//! /// Working directory of the manager and the workers.
//! #[schema(default = "/run/knot-resolver")]
//! pub rundir: DirPath,
//! /// Number of kresd worker processes; `auto` is one per CPU.
//! #[schema(default = 1, validate = basics::validate_workers, resolve = basics::resolve_workers, into = u16)]
//! pub workers: Auto<u16>,
//! ```

use schema_core::{Auto, ResolveCx};

/// The only version of the config format.
pub const FORMAT_VERSION: u32 = 1;

/// At most this many workers per CPU.
pub const MAX_WORKERS_PER_CPU: usize = 10;

/// `version`: only version 1 of the format exists; a higher one is a config written for a
/// future format we cannot read correctly.
pub fn validate_version(version: &u32) -> Result<(), String> {
    if *version == FORMAT_VERSION {
        Ok(())
    } else {
        Err(format!("version {version} of the config format is not supported; the only version is {FORMAT_VERSION}"))
    }
}

/// `nsid`: sent as is in an EDNS option, so it must be non-empty and printable.
pub fn validate_nsid(nsid: &Option<String>) -> Result<(), String> {
    match nsid {
        Some(text) => printable("nsid", text),
        None => Ok(()),
    }
}

/// `hostname`: when given, non-empty and printable (it ends up in logs and metrics labels).
pub fn validate_hostname(hostname: &Option<String>) -> Result<(), String> {
    match hostname {
        Some(text) => printable("hostname", text),
        None => Ok(()),
    }
}

fn printable(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() {
        Err(format!("{what} must not be empty (leave it out, or null, for none)"))
    } else if text.chars().any(char::is_control) {
        Err(format!("{what} must not contain control characters (such as newlines)"))
    } else {
        Ok(())
    }
}

/// `workers`: an explicit number is at least 1 (pass 1; the upper bound depends on the
/// machine and is checked in pass 2).
pub fn validate_workers(workers: &Auto<u16>) -> Result<(), String> {
    match workers {
        Auto::Value(0) => Err("there must be at least 1 worker".into()),
        _ => Ok(()),
    }
}

/// Pass 2 of `workers`: `auto` is the number of usable CPUs; an explicit number may be at most
/// 10 per CPU.
pub fn resolve_workers<P>(value: &Auto<u16>, _: &P, cx: &mut ResolveCx<'_>) -> Result<u16, String> {
    let cpus = cx.system().cpu_count().max(1);
    let limit = MAX_WORKERS_PER_CPU * cpus;
    match value {
        Auto::Auto => Ok(u16::try_from(cpus).unwrap_or(u16::MAX)),
        Auto::Value(n) if usize::from(*n) > limit => Err(format!(
            "{n} workers is more than {MAX_WORKERS_PER_CPU} per CPU: this machine has {cpus} CPU(s), so at most {limit}"
        )),
        Auto::Value(n) => Ok(*n),
    }
}

/// Pass 2 of `hostname`: the machine's hostname when none is given.
pub fn resolve_hostname<P>(value: &Option<String>, _: &P, cx: &mut ResolveCx<'_>) -> Result<String, String> {
    match value {
        Some(hostname) => Ok(hostname.clone()),
        None => Ok(cx.system().hostname()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{DirPath, FakeSystem, Schema};
    use serde_json::json;

    /// The five fields as the top-level struct will have them.
    #[derive(Schema, Debug, Clone, PartialEq)]
    #[schema(resolved = BasicsResolved)]
    struct Basics {
        /// Version of the format.
        #[schema(default = 1, validate = validate_version)]
        version: u32,
        /// NSID.
        #[schema(validate = validate_nsid)]
        nsid: Option<String>,
        /// Hostname.
        #[schema(validate = validate_hostname, resolve = resolve_hostname, into = String)]
        hostname: Option<String>,
        /// Working directory.
        #[schema(default = "/run/knot-resolver")]
        rundir: DirPath,
        /// Workers.
        #[schema(default = 1, validate = validate_workers, resolve = resolve_workers, into = u16)]
        workers: Auto<u16>,
    }

    fn load(text: &str) -> Result<Basics, String> {
        schema_core::load::<Basics>(text, Some("t.yaml")).map_err(|r| r.to_string())
    }

    fn resolve(basics: &Basics, system: &FakeSystem) -> Result<BasicsResolved, String> {
        schema_core::resolve_document(basics, system, Default::default()).map(|(r, _)| r).map_err(|r| r.to_string())
    }

    #[test]
    fn defaults_are_the_reference_defaults() {
        assert_eq!(
            Basics::default().to_json(),
            json!({"version": 1, "nsid": null, "hostname": null, "rundir": "/run/knot-resolver", "workers": 1})
        );
    }

    #[test]
    fn realistic_snippet_maps_and_resolves() {
        let basics =
            load("version: 1\nnsid: resolver-1\nhostname: dns1\nrundir: /var/run/kres\nworkers: auto\n").unwrap();
        assert_eq!(basics.nsid.as_deref(), Some("resolver-1"));
        let system = FakeSystem { cpus: 6, ..Default::default() };
        let resolved = resolve(&basics, &system).unwrap();
        assert_eq!(resolved.workers, 6);
        assert_eq!(resolved.hostname, "dns1");
        assert_eq!(resolved.rundir.to_string(), "/var/run/kres");
    }

    #[test]
    fn hostname_defaults_to_the_machines() {
        let system = FakeSystem { hostname: "resolver.example".into(), ..Default::default() };
        assert_eq!(resolve(&Basics::default(), &system).unwrap().hostname, "resolver.example");
    }

    #[test]
    fn workers_at_most_ten_per_cpu() {
        let system = FakeSystem { cpus: 2, ..Default::default() };
        assert_eq!(resolve(&load("workers: 20\n").unwrap(), &system).unwrap().workers, 20);
        assert_eq!(
            resolve(&load("workers: 21\n").unwrap(), &system).unwrap_err(),
            "/workers: 21 workers is more than 10 per CPU: this machine has 2 CPU(s), so at most 20"
        );
        assert_eq!(resolve(&Basics::default(), &system).unwrap().workers, 1);
    }

    #[test]
    fn pass_one_rejections() {
        assert_eq!(load("workers: 0\n").unwrap_err(), "/workers: there must be at least 1 worker (at t.yaml:1:10)");
        assert_eq!(
            load("version: 2\n").unwrap_err(),
            "/version: version 2 of the config format is not supported; the only version is 1 (at t.yaml:1:10)"
        );
        assert_eq!(
            load("nsid: ''\n").unwrap_err(),
            "/nsid: nsid must not be empty (leave it out, or null, for none) (at t.yaml:1:7)"
        );
        assert_eq!(
            load("hostname: \"a\\nb\"\n").unwrap_err(),
            "/hostname: hostname must not contain control characters (such as newlines) (at t.yaml:1:11)"
        );
        assert!(load("workers: many\n").unwrap_err().starts_with("/workers: "));
    }
}
