//! `fallback`: servers to ask when normal resolution fails. It is the `fallback` module of
//! Knot Resolver 6; kresd 5.6 has none, so enabling it is refused for 5.6 (pass 2).

use schema_core::{Checks, ResolveCx, Schema};

use super::forward::ForwardServer;
use super::target::needs_6;

/// Servers to ask when normal resolution fails.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Fallback, validate = check_fallback)]
pub struct FallbackRaw {
    /// Ask the `servers` when resolution fails (needs Knot Resolver 6).
    #[schema(default = false, resolve = resolve_enable, into = bool)]
    pub enable: bool,
    /// The servers to ask, tried in turn: an address (`192.0.2.1@53`) or a server with its
    /// transport settings, as in `forward`.
    pub servers: Option<Vec<ForwardServer>>,
}

fn check_fallback(fallback: &FallbackRaw, checks: &mut Checks) {
    if fallback.enable && fallback.servers.as_ref().is_none_or(Vec::is_empty) {
        checks.error("servers", "an enabled fallback needs at least one server");
    }
}

fn resolve_enable(enable: &bool, _: &FallbackRaw, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    if *enable {
        needs_6(cx, "the fallback to other servers (`fallback.enable`)")?;
    }
    Ok(*enable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{FakeSystem, Version};
    use serde_json::json;

    fn load(yaml: &str) -> Result<FallbackRaw, String> {
        schema_core::load::<FallbackRaw>(yaml, Some("t.yaml")).map_err(|r| r.to_string())
    }

    fn resolve(raw: &FallbackRaw, version: Option<Version>) -> Result<Fallback, String> {
        let system = FakeSystem { version, ..Default::default() };
        schema_core::resolve_document(raw, &system, Default::default()).map(|(v, _)| v).map_err(|r| r.to_string())
    }

    #[test]
    fn default_is_the_reference_default() {
        assert_eq!(FallbackRaw::default().to_json(), json!({"enable": false, "servers": null}));
        let resolved = resolve(&FallbackRaw::default(), Some(Version::new(5, 6, 0))).unwrap();
        assert!(!resolved.enable);
    }

    #[test]
    fn enabled_needs_servers() {
        assert_eq!(
            load("enable: true\n").unwrap_err(),
            "/servers: an enabled fallback needs at least one server (at t.yaml:1:1)"
        );
        assert_eq!(
            load("enable: true\nservers: []\n").unwrap_err(),
            "/servers: an enabled fallback needs at least one server (at t.yaml:2:10)"
        );
        // Server rules are those of `forward`.
        assert!(load("enable: true\nservers:\n  - address: 192.0.2.1\n    transport: tls\n").is_err());
    }

    #[test]
    fn kresd_5_6_has_no_fallback() {
        let raw = load("enable: true\nservers: [192.0.2.1, 192.0.2.2@5353]\n").unwrap();
        assert_eq!(
            resolve(&raw, Some(Version::new(5, 6, 0))).unwrap_err(),
            "/enable: the fallback to other servers (`fallback.enable`) needs Knot Resolver 6; the installed kresd is 5.6.0"
        );
        assert!(resolve(&raw, Some(Version::new(6, 1, 0))).unwrap().enable);
        // Servers listed while disabled are fine everywhere.
        let raw = load("servers: [192.0.2.1]\n").unwrap();
        assert!(!resolve(&raw, Some(Version::new(5, 6, 0))).unwrap().enable);
    }
}
