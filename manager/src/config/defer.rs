//! `defer`: Knot Resolver 6 can hold back (defer) requests from clients that use up a large share
//! of the resolver's time, so that other clients keep getting answers. kresd 5.6 has no such
//! mechanism, so on 5.6 this section resolves to "off".

use schema_core::{Duration, ResolveCx, Schema};

/// Deferring requests of clients that cost the resolver much work (Knot Resolver 6 only).
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Defer)]
pub struct DeferRaw {
    /// Whether expensive clients' requests are deferred. Knot Resolver 6 turns this on when the
    /// key is absent; kresd 5.6 has no request deferring, so there an absent key means off (with
    /// a note) and `true` is an error.
    #[schema(resolve = resolve_enable, into = bool)]
    pub enable: Option<bool>,
    /// How often to log a summary of deferred requests; `0s` turns the summary off.
    #[schema(default = "0s")]
    pub log_period: Duration,
}

/// The installed kresd, as text, when it is older than Knot Resolver 6 (or unknown: the daemon
/// we manage is 5.6); `None` when it is a 6.x.
fn older_than_6(cx: &ResolveCx<'_>) -> Option<String> {
    super::target::before_6(cx)
}

fn resolve_enable(value: &Option<bool>, _: &DeferRaw, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    let lacking = older_than_6(cx);
    match (value, lacking) {
        (Some(enable), None) => Ok(*enable),
        (None, None) => Ok(true),
        (Some(false), Some(_)) => Ok(false),
        (Some(true), Some(installed)) => Err(format!("defer needs Knot Resolver 6; {installed}")),
        (None, Some(installed)) => {
            cx.note(format!(
                "defer is on by default in Knot Resolver 6; {installed}, which has no defer, so it is off"
            ));
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::Version;
    use schema_core::{FakeSystem, Schema, resolve_document};
    use serde_json::json;

    fn resolve(raw: &DeferRaw, system: &FakeSystem) -> Result<(Defer, schema_core::Report), schema_core::Report> {
        resolve_document(raw, system, Default::default())
    }

    #[test]
    fn default_matches_knot_resolver_6_once_resolved() {
        // The mapped default keeps `enable` absent (KR6's default is "on"), so that pass 2 can
        // tell it from an explicit `true`.
        // (Durations are compared by value: `to_json` writes a zero duration as `0us`.)
        let reference = json!({"enable": null, "log-period": "0s"});
        let mapped: DeferRaw = schema_core::load(&reference.to_string(), Some("reference.json")).unwrap();
        assert_eq!(mapped, DeferRaw::default());
        assert_eq!(DeferRaw::default().to_json(), mapped.to_json());
        assert_eq!(DeferRaw::default().to_json()["enable"], json!(null));
        assert_eq!(schema_core::load::<DeferRaw>("{}", Some("t.yaml")).unwrap(), DeferRaw::default());
        // With a Knot Resolver 6 daemon it resolves to the reference's default.
        let system = FakeSystem { version: Some(Version::new(6, 0, 0)), ..Default::default() };
        let (defer, notes) = resolve(&DeferRaw::default(), &system).unwrap();
        assert_eq!(defer, Defer { enable: true, log_period: Duration::parse("0s").unwrap() });
        assert!(notes.is_empty());
    }

    #[test]
    fn valid_snippet_maps() {
        let raw: DeferRaw = schema_core::load("enable: false\nlog-period: 5m\n", Some("t.yaml")).unwrap();
        assert_eq!(raw.enable, Some(false));
        assert_eq!(raw.log_period, Duration::parse("300s").unwrap());
    }

    #[test]
    fn absent_enable_is_off_on_5_6_with_a_note() {
        let (defer, notes) = resolve(&DeferRaw::default(), &FakeSystem::default()).unwrap();
        assert!(!defer.enable);
        assert_eq!(notes.notes().count(), 1);
        assert_eq!(
            notes.to_string(),
            "note: /enable: defer is on by default in Knot Resolver 6; the installed kresd is 5.6.0, which has no \
             defer, so it is off"
        );
    }

    #[test]
    fn explicit_false_is_fine_on_5_6() {
        let raw: DeferRaw = schema_core::load("enable: false\n", Some("t.yaml")).unwrap();
        let (defer, notes) = resolve(&raw, &FakeSystem::default()).unwrap();
        assert!(!defer.enable);
        assert!(notes.is_empty());
    }

    #[test]
    fn explicit_true_is_an_error_on_5_6() {
        let raw: DeferRaw = schema_core::load("enable: true\n", Some("t.yaml")).unwrap();
        let report = resolve(&raw, &FakeSystem::default()).unwrap_err();
        assert_eq!(report.to_string(), "/enable: defer needs Knot Resolver 6; the installed kresd is 5.6.0");
        // An unknown version is judged as Knot Resolver 6 (the newest major managed).
        let unknown = FakeSystem { version: None, ..Default::default() };
        assert!(resolve(&raw, &unknown).unwrap().0.enable);
    }

    #[test]
    fn explicit_true_is_kept_on_6() {
        let raw: DeferRaw = schema_core::load("enable: true\n", Some("t.yaml")).unwrap();
        let system = FakeSystem { version: Some(Version::new(6, 4, 2)), ..Default::default() };
        assert!(resolve(&raw, &system).unwrap().0.enable);
    }
}
