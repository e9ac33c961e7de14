//! `dns64`: synthesizing AAAA records from A records (RFC 6147), so that IPv6-only clients reach
//! IPv4-only servers through a NAT64 gateway. kresd 5.6 has this (its `dns64` module).

use schema_core::{Checks, Duration, IpNet, Schema};

/// DNS64: IPv6 addresses made up from IPv4 ones for IPv6-only clients behind NAT64.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_dns64)]
pub struct Dns64 {
    /// Whether to synthesize AAAA records.
    #[schema(default = false)]
    pub enable: bool,
    /// The IPv6 /96 network the IPv4 address is embedded in; the NAT64 gateway must use the same.
    #[schema(default = "64:ff9b::/96", validate = ipv6_slash_96)]
    pub prefix: IpNet,
    /// TTL of the records made up for reverse (PTR) queries of addresses inside `prefix`, which
    /// point to the embedded IPv4 address's reverse name; when absent, kresd's own default.
    pub reverse_ttl: Option<Duration>,
    /// IPv6 networks whose addresses in real AAAA records are treated as absent, so DNS64
    /// synthesizes an address instead; when absent, kresd excludes `::ffff:0:0/96`.
    pub exclude_subnets: Option<Vec<IpNet>>,
}

fn ipv6_slash_96(prefix: &IpNet) -> Result<(), String> {
    if prefix.addr.is_ipv4() {
        return Err(format!("{prefix} is an IPv4 network; DNS64 needs an IPv6 /96 network"));
    }
    if prefix.prefix != 96 {
        let hint = if prefix.prefix == 128 { " (did you forget `/96` after the address?)" } else { "" };
        return Err(format!("{prefix} has a prefix length of {}, not 96{hint}", prefix.prefix));
    }
    Ok(())
}

/// Excluded subnets are IPv6 networks: an IPv4 network there could never match an AAAA record.
fn check_dns64(dns64: &Dns64, checks: &mut Checks) {
    for (i, net) in dns64.exclude_subnets.iter().flatten().enumerate() {
        if net.addr.is_ipv4() {
            checks.error(
                &format!("exclude-subnets/{i}"),
                format!("{net} is an IPv4 network; only IPv6 networks can exclude AAAA records"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{FakeSystem, Report, Schema, resolve_document};
    use serde_json::json;

    fn load(text: &str) -> Result<Dns64, Report> {
        schema_core::load(text, Some("t.yaml"))
    }

    #[test]
    fn default_is_the_reference_default() {
        let reference =
            json!({"enable": false, "prefix": "64:ff9b::/96", "reverse-ttl": null, "exclude-subnets": null});
        assert_eq!(Dns64::default().to_json(), reference);
        assert_eq!(load("{}").unwrap(), Dns64::default());
    }

    #[test]
    fn valid_snippet_maps_and_resolves() {
        let raw = load(
            "enable: true\nprefix: 2001:db8:64::/96\nreverse-ttl: 300s\nexclude-subnets:\n  - ::ffff:0:0/96\n  - 2001:db8:bad::/48\n",
        )
        .unwrap();
        assert!(raw.enable);
        assert_eq!(raw.prefix, IpNet::parse("2001:db8:64::/96").unwrap());
        assert_eq!(raw.reverse_ttl, Some(Duration::parse("5m").unwrap()));
        assert_eq!(raw.exclude_subnets.as_ref().map(Vec::len), Some(2));
        let (resolved, notes) = resolve_document(&raw, &FakeSystem::default(), Default::default()).unwrap();
        assert_eq!(resolved, raw);
        assert!(notes.is_empty());
    }

    #[test]
    fn prefix_must_be_an_ipv6_slash_96() {
        let report = load("prefix: '64:ff9b::'\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/prefix: 64:ff9b::/128 has a prefix length of 128, not 96 (did you forget `/96` after the address?) \
             (at t.yaml:1:9)"
        );
        let report = load("prefix: 64:ff9b::/64\n").unwrap_err();
        assert_eq!(report.to_string(), "/prefix: 64:ff9b::/64 has a prefix length of 64, not 96 (at t.yaml:1:9)");
        let report = load("prefix: 10.0.0.0/8\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/prefix: 10.0.0.0/8 is an IPv4 network; DNS64 needs an IPv6 /96 network (at t.yaml:1:9)"
        );
    }

    #[test]
    fn excluded_subnets_are_ipv6() {
        let report = load("exclude-subnets: [2001:db8::/32, 192.0.2.0/24]\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/exclude-subnets/1: 192.0.2.0/24 is an IPv4 network; only IPv6 networks can exclude AAAA records \
             (at t.yaml:1:34)"
        );
    }
}
