//! A small resolver-like config defined with the schema DSL, exercising every feature: nested
//! structs, lists, a string enum, a union, sizes, durations, an `auto` field resolved in pass 2,
//! constraints, field and container validators. The cross-crate tests use it.

use schema_core::{AddrPort, Auto, Checks, DomainName, Duration, IpNet, OneOrMany, ResolveCx, Schema, Size};

/// A demo resolver.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Demo, validate = check_demo)]
pub struct DemoRaw {
    /// Number of worker processes; `auto` means one per CPU.
    #[schema(default = "auto", resolve = resolve_workers, into = u16)]
    pub workers: Auto<u16>,
    /// Name reported in NSID answers.
    #[schema(max_len = 64, pattern = "^[a-z0-9-]+$")]
    pub nsid: Option<String>,
    /// The cache.
    #[schema(default)]
    pub cache: Cache,
    /// Where to listen.
    #[schema(default, max_items = 8)]
    pub listen: Vec<Listen>,
    /// How much to log.
    #[schema(default = "notice")]
    pub log_level: LogLevel,
    /// Forwarding rules by subtree.
    #[schema(default)]
    pub forward: Vec<Forward>,
}

/// The shared cache.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_cache)]
pub struct Cache {
    /// Largest size of the cache.
    #[schema(default = "100M", min = "1M", max = "64G")]
    pub size_max: Size,
    /// Shortest time a record is kept.
    #[schema(default = "5s")]
    pub ttl_min: Duration,
    /// Longest time a record is kept.
    #[schema(default = "1d")]
    pub ttl_max: Duration,
}

/// One listening socket.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Listen {
    /// Addresses, each optionally with `@port`.
    pub interface: OneOrMany<AddrPort>,
    /// Port when the address has none.
    #[schema(min = 1, max = 65535)]
    pub port: Option<u32>,
    /// Protocol.
    #[schema(default = "dns")]
    pub kind: ListenKind,
}

/// Protocol of a listening socket.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKind {
    /// Plain DNS over UDP and TCP.
    Dns,
    /// DNS over TLS.
    Dot,
    /// DNS over HTTPS.
    Doh2,
}

/// Verbosity of the log.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

/// A forwarding rule.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Forward {
    /// The subtree forwarded.
    pub subtree: DomainName,
    /// Upstream servers.
    #[schema(min_items = 1)]
    pub servers: Vec<Upstream>,
    /// Clients the rule applies to.
    pub clients: Option<Vec<IpNet>>,
}

/// An upstream: an address, or `system` for the addresses in resolv.conf.
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum Upstream {
    System,
    Address(AddrPort),
}

fn resolve_workers(value: &Auto<u16>, _: &DemoRaw, cx: &mut ResolveCx<'_>) -> Result<u16, String> {
    let cpus = cx.system().cpu_count();
    match value {
        Auto::Auto => u16::try_from(cpus).map_err(|_| format!("{cpus} CPUs are more workers than supported")),
        Auto::Value(n) if usize::from(*n) > 10 * cpus => {
            Err(format!("{n} workers is more than 10 per CPU ({cpus} CPUs)"))
        }
        Auto::Value(n) => Ok(*n),
    }
}

fn check_cache(cache: &Cache, checks: &mut Checks) {
    if cache.ttl_min > cache.ttl_max {
        checks.error(
            "ttl-min",
            format!("ttl-min ({}) must not be greater than ttl-max ({})", cache.ttl_min, cache.ttl_max),
        );
    }
}

fn check_demo(demo: &DemoRaw, checks: &mut Checks) {
    for (i, listen) in demo.listen.iter().enumerate() {
        let has_at_port = listen.interface.as_slice().iter().any(|a| a.port.is_some());
        if has_at_port && listen.port.is_some() {
            checks.error(&format!("listen/{i}/port"), "the port is given both as `port` and as `@port` in `interface`");
        }
    }
}
