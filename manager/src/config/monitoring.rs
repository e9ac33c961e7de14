//! `monitoring`: which statistics are collected, and pushing them to a Graphite (Carbon) server.
//! kresd 5.6 has both the `stats` and the `graphite` modules, so everything here is available.

use std::net::IpAddr;

use std::path::Path;

use schema_core::{Checks, DomainName, Duration, Port, ResolveCx, Schema};

/// Statistics of the resolver and where they go.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = MonitoringResolved)]
pub struct Monitoring {
    /// Which statistics are gathered.
    #[schema(default = "lazy")]
    pub metrics: Metrics,
    /// Sending statistics to a Graphite server.
    #[schema(default)]
    pub graphite: Graphite,
}

/// Which statistics are gathered.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metrics {
    /// Only the manager's own statistics; the workers gather none.
    ManagerOnly,
    /// The workers' statistics are gathered when someone asks for them (the metrics API).
    Lazy,
    /// The workers gather statistics all the time.
    Always,
}

/// Pushing statistics to a Graphite (Carbon) server at a fixed interval.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = GraphiteResolved, validate = check_graphite)]
pub struct Graphite {
    /// Whether to send statistics to Graphite; needs `host` (and, with kresd 5.6, lua-cqueues,
    /// which its `graphite` module is written with).
    #[schema(default = false, resolve = resolve_graphite_enable, into = bool)]
    pub enable: bool,
    /// The Graphite server: an IP address or a host name.
    pub host: Option<GraphiteHost>,
    /// The server's port.
    #[schema(default = 2003)]
    pub port: Port,
    /// Text put before every metric name.
    #[schema(default = "")]
    pub prefix: String,
    /// How often statistics are sent.
    #[schema(default = "5s")]
    pub interval: Duration,
    /// Send over TCP instead of UDP.
    #[schema(default = false)]
    pub tcp: bool,
}

/// Where the Graphite server is.
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum GraphiteHost {
    /// An IPv4 or IPv6 address.
    Address(IpAddr),
    /// A host name, looked up when the workers start.
    Name(DomainName),
}

/// Where lua-cqueues' sockets live on Debian; kresd 5.6's `graphite` module needs them.
pub const CQUEUES_SOCKET: &str = "/usr/share/lua/5.1/cqueues/socket.lua";

/// Pass 2 of `graphite.enable`: kresd 5.6's `graphite` module cannot load without lua-cqueues.
fn resolve_graphite_enable(enable: &bool, _: &Graphite, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    let older = super::target::before_6(cx).is_some();
    if *enable && older && cx.system().file_kind(Path::new(CQUEUES_SOCKET)).is_none() {
        return Err(format!(
            "sending statistics to Graphite with kresd 5.6 needs lua-cqueues ({CQUEUES_SOCKET} is missing); install it or disable Graphite"
        ));
    }
    Ok(*enable)
}

/// Enabling Graphite needs a server to send to.
fn check_graphite(graphite: &Graphite, checks: &mut Checks) {
    if graphite.enable && graphite.host.is_none() {
        checks.error("enable", "Graphite is enabled but `host` is not set");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{FakeSystem, Report, Schema, resolve_document};
    use serde_json::json;

    fn load(text: &str) -> Result<Monitoring, Report> {
        schema_core::load(text, Some("t.yaml"))
    }

    #[test]
    fn default_is_the_reference_default() {
        let reference = json!({
            "metrics": "lazy",
            "graphite": {"enable": false, "host": null, "port": 2003, "prefix": "", "interval": "5s", "tcp": false},
        });
        assert_eq!(Monitoring::default().to_json(), reference);
        assert_eq!(load("{}").unwrap(), Monitoring::default());
    }

    #[test]
    fn valid_snippet_maps_and_resolves() {
        let raw = load(
            "metrics: always\ngraphite:\n  enable: true\n  host: carbon.example.net\n  port: 2004\n  prefix: dns1\n  interval: 30s\n  tcp: true\n",
        )
        .unwrap();
        assert_eq!(raw.metrics, Metrics::Always);
        assert_eq!(raw.graphite.host, Some(GraphiteHost::Name(DomainName::parse("carbon.example.net").unwrap())));
        assert_eq!(raw.graphite.port, Port(2004));
        assert_eq!(raw.graphite.interval, Duration::parse("30s").unwrap());
        assert!(raw.graphite.tcp);
        let mut system = FakeSystem::default();
        system.files.insert(CQUEUES_SOCKET.into(), schema_core::FileKind::File);
        let (resolved, notes): (MonitoringResolved, _) = resolve_document(&raw, &system, Default::default()).unwrap();
        assert_eq!(serde_json::to_value(&resolved).unwrap(), raw.to_json());
        assert!(notes.is_empty());

        let raw = load("graphite: {enable: true, host: '2001:db8::2003'}\n").unwrap();
        assert_eq!(raw.graphite.host, Some(GraphiteHost::Address("2001:db8::2003".parse().unwrap())));
        let raw = load("metrics: manager-only\n").unwrap();
        assert_eq!(raw.metrics, Metrics::ManagerOnly);
    }

    #[test]
    fn enabling_graphite_needs_a_host() {
        let report = load("graphite:\n  enable: true\n").unwrap_err();
        assert_eq!(report.to_string(), "/graphite/enable: Graphite is enabled but `host` is not set (at t.yaml:2:11)");
    }

    #[test]
    fn graphite_with_kresd_5_6_needs_lua_cqueues() {
        let raw = load("graphite: {enable: true, host: 127.0.0.1}\n").unwrap();
        let mut system = FakeSystem { version: Some(schema_core::Version::new(5, 6, 0)), ..Default::default() };
        let report = resolve_document(&raw, &system, Default::default()).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/graphite/enable: sending statistics to Graphite with kresd 5.6 needs lua-cqueues (/usr/share/lua/5.1/cqueues/socket.lua is missing); install it or disable Graphite"
        );
        system.files.insert(CQUEUES_SOCKET.into(), schema_core::FileKind::File);
        assert!(resolve_document(&raw, &system, Default::default()).is_ok());
        // Disabled, or with Knot Resolver 6, nothing is needed.
        let system = FakeSystem { version: Some(schema_core::Version::new(5, 6, 0)), ..Default::default() };
        assert!(resolve_document(&Monitoring::default(), &system, Default::default()).is_ok());
        let system = FakeSystem { version: Some(schema_core::Version::new(6, 0, 0)), ..Default::default() };
        assert!(resolve_document(&raw, &system, Default::default()).is_ok());
    }

    #[test]
    fn bad_values() {
        let report = load("metrics: disabled\ngraphite:\n  port: 0\n").unwrap_err();
        let text = report.to_string();
        assert!(text.contains("/metrics: "), "{text}");
        assert!(text.contains("/graphite/port: "), "{text}");
    }
}
