//! `rate-limiting`: limiting how many answers one client (address block) gets per second, a
//! defence against floods and reflection attacks. Knot Resolver 6 has it; kresd 5.6 does not, so
//! with 5.6 the section is accepted only when rate limiting stays off.

use schema_core::{Checks, Duration, ResolveCx, Schema};

/// Limiting the answer rate per client address block (Knot Resolver 6 only).
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = RateLimiting, validate = check_rate_limiting)]
pub struct RateLimitingRaw {
    /// Whether to limit answer rates. Needs `rate-limit`; kresd 5.6 has no rate limiting, so
    /// `true` is an error there.
    #[schema(default = false, resolve = resolve_enable, into = bool)]
    pub enable: bool,
    /// Answers per second one address block may get in the long run.
    #[schema(min = 1)]
    pub rate_limit: Option<u32>,
    /// Answers one address block may get at once (the size of its burst allowance).
    #[schema(default = 50, min = 1)]
    pub instant_limit: u32,
    /// How many address blocks are tracked at once.
    #[schema(default = 524288, min = 1)]
    pub capacity: u32,
    /// Of the requests over the limit, every n-th gets a truncated answer (so a real client can
    /// retry over TCP) and the rest are dropped; `0` drops them all, `1` truncates them all.
    #[schema(default = 2, min = 0, max = 32)]
    pub slip: u8,
    /// How often to log a summary of limited clients; `0s` turns the summary off.
    #[schema(default = "0s")]
    pub log_period: Duration,
    /// Only log what would be limited, without limiting anything.
    #[schema(default = false)]
    pub dry_run: bool,
}

/// Cross-field rules: enabling needs a rate, and the long-run rate cannot exceed what the burst
/// allowance can sustain (1000 × `instant-limit` per second).
fn check_rate_limiting(rl: &RateLimitingRaw, checks: &mut Checks) {
    if rl.enable && rl.rate_limit.is_none() {
        checks.error("enable", "rate limiting is enabled but `rate-limit` is not set");
    }
    if let Some(rate) = rl.rate_limit {
        let most = u64::from(rl.instant_limit) * 1000;
        if u64::from(rate) > most {
            checks.error(
                "rate-limit",
                format!("{rate} is more than 1000 × instant-limit ({most}); raise `instant-limit` or lower the rate"),
            );
        }
    }
}

fn resolve_enable(value: &bool, _: &RateLimitingRaw, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    if !*value {
        return Ok(false);
    }
    super::target::needs_6(cx, "rate limiting").map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::Version;
    use schema_core::{FakeSystem, Report, Schema, resolve_document};
    use serde_json::json;

    fn load(text: &str) -> Result<RateLimitingRaw, Report> {
        schema_core::load(text, Some("t.yaml"))
    }

    #[test]
    fn default_is_the_reference_default() {
        let reference = json!({
            "enable": false,
            "rate-limit": null,
            "instant-limit": 50,
            "capacity": 524288,
            "slip": 2,
            "log-period": "0s",
            "dry-run": false,
        });
        // Durations compare by value (`to_json` writes a zero duration as `0us`).
        let mapped: RateLimitingRaw = schema_core::load(&reference.to_string(), Some("reference.json")).unwrap();
        assert_eq!(mapped, RateLimitingRaw::default());
        assert_eq!(RateLimitingRaw::default().to_json(), mapped.to_json());
        assert_eq!(load("{}").unwrap(), RateLimitingRaw::default());
    }

    #[test]
    fn valid_snippet_maps() {
        let raw = load("enable: true\nrate-limit: 200\ninstant-limit: 100\nslip: 0\nlog-period: 1m\ndry-run: true\n")
            .unwrap();
        assert!(raw.enable);
        assert_eq!(raw.rate_limit, Some(200));
        assert_eq!(raw.instant_limit, 100);
        assert_eq!(raw.slip, 0);
        assert_eq!(raw.log_period, Duration::parse("60s").unwrap());
        assert!(raw.dry_run);
    }

    #[test]
    fn bounds() {
        let report = load("rate-limit: 0\nslip: 33\ncapacity: 0\n").unwrap_err();
        let text = report.to_string();
        assert!(text.contains("/rate-limit: "), "{text}");
        assert!(text.contains("/slip: "), "{text}");
        assert!(text.contains("/capacity: "), "{text}");
    }

    #[test]
    fn enabling_needs_a_rate() {
        let report = load("enable: true\n").unwrap_err();
        assert_eq!(report.to_string(), "/enable: rate limiting is enabled but `rate-limit` is not set (at t.yaml:1:9)");
    }

    #[test]
    fn rate_is_bounded_by_the_instant_limit() {
        let report = load("rate-limit: 5001\ninstant-limit: 5\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/rate-limit: 5001 is more than 1000 × instant-limit (5000); raise `instant-limit` or lower the rate \
             (at t.yaml:1:13)"
        );
        assert!(load("rate-limit: 5000\ninstant-limit: 5\n").is_ok());
    }

    #[test]
    fn enabling_is_refused_on_5_6() {
        let raw = load("enable: true\nrate-limit: 100\n").unwrap();
        let report = resolve_document(&raw, &FakeSystem::default(), Default::default()).unwrap_err();
        assert_eq!(report.to_string(), "/enable: rate limiting needs Knot Resolver 6; the installed kresd is 5.6.0");

        // Off (the default) is fine, and the other settings are kept.
        let raw = load("rate-limit: 100\n").unwrap();
        let (resolved, notes) = resolve_document(&raw, &FakeSystem::default(), Default::default()).unwrap();
        assert!(!resolved.enable);
        assert_eq!(resolved.rate_limit, Some(100));
        assert!(notes.is_empty());
    }

    #[test]
    fn enabling_is_kept_on_6() {
        let raw = load("enable: true\nrate-limit: 100\n").unwrap();
        let system = FakeSystem { version: Some(Version::new(6, 4, 2)), ..Default::default() };
        let (resolved, _) = resolve_document(&raw, &system, Default::default()).unwrap();
        assert!(resolved.enable);
    }
}
