//! `cache`: the record cache shared by all workers (kresd 5.6 `cache.open` on an LMDB
//! directory), its garbage collector (`kres-cache-gc`), TTL limits, prefill from a zone file
//! (`prefill` module) and prefetching (`predict` module, which in 5.6 does both the refresh of
//! expiring records and the prediction of repeated queries).

use schema_core::{Checks, DirPath, DomainName, Duration, FilePath, Schema, Size};

/// The record cache.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_cache)]
pub struct Cache {
    /// Directory of the cache database; workers sharing it share one cache.
    #[schema(default = "/var/cache/knot-resolver")]
    pub storage: DirPath,
    /// Largest size of the cache database.
    #[schema(default = "100M")]
    pub size_max: Size,
    /// The garbage collector that deletes records when the cache fills up.
    #[schema(default)]
    pub garbage_collector: GarbageCollector,
    /// Shortest time a record is kept, even if its TTL is shorter.
    #[schema(default = "5s")]
    pub ttl_min: Duration,
    /// Longest time a record is kept, even if its TTL is longer.
    #[schema(default = "1d")]
    pub ttl_max: Duration,
    /// How long a name server that did not answer is avoided.
    #[schema(default = "1000ms")]
    pub ns_timeout: Duration,
    /// Zones downloaded into the cache at start and then periodically (only the root zone).
    pub prefill: Option<Vec<Prefill>>,
    /// Refreshing records before they expire.
    #[schema(default)]
    pub prefetch: Prefetch,
}

/// The cache garbage collector (`kres-cache-gc`).
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct GarbageCollector {
    /// Run the garbage collector.
    #[schema(default = true)]
    pub enable: bool,
    /// Time between two runs.
    #[schema(default = "1s")]
    pub interval: Duration,
    /// Cache usage (percent) above which records are deleted.
    #[schema(default = 80, min = 0, max = 100)]
    pub threshold: u8,
    /// How much of the cache (percent) to free once the threshold is reached.
    #[schema(default = 10, min = 0, max = 100)]
    pub release: u8,
    /// Memory for the temporary list of records to delete; `0M` means no limit.
    #[schema(default = "0M")]
    pub temp_keys_space: Size,
    /// Most records deleted in one write transaction.
    #[schema(default = 100, min = 0)]
    pub rw_deletes: u64,
    /// Most records read in one read transaction.
    #[schema(default = 200, min = 0)]
    pub rw_reads: u64,
    /// Longest duration of one write transaction; `0us` means no limit.
    #[schema(default = "0us")]
    pub rw_duration: Duration,
    /// Pause between two write transactions.
    #[schema(default = "0us")]
    pub rw_delay: Duration,
    /// Only report what would be deleted.
    #[schema(default = false)]
    pub dry_run: bool,
}

/// A zone downloaded into the cache.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Prefill {
    /// The zone; only the root zone (`.`) can be prefilled.
    #[schema(validate = root_only)]
    pub origin: DomainName,
    /// Where to download the zone file from; kresd's `prefill` module accepts only `https://`
    /// URLs.
    #[schema(pattern = "^https://[^\\s]+$")]
    pub url: String,
    /// Time between two downloads; at least an hour (kresd's `prefill` module refuses shorter
    /// intervals).
    #[schema(default = "1d", min = "1h")]
    pub refresh_interval: Duration,
    /// CA certificates (PEM) that verify the download server instead of the system's.
    pub ca_file: Option<FilePath>,
}

/// Refreshing records before they expire.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Prefetch {
    /// Refresh a record that is asked for shortly before it expires.
    #[schema(default = false)]
    pub expiring: bool,
    /// Learn which queries repeat and resolve them ahead of time.
    #[schema(default)]
    pub prediction: Prediction,
}

/// Prediction of repeated queries.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Predict and prefetch repeated queries.
    #[schema(default = false)]
    pub enable: bool,
    /// Length of one sampling window: whole minutes, at least one (kresd's `predict` module
    /// counts windows in minutes).
    #[schema(default = "15m", min = "1m", validate = whole_minutes)]
    pub window: Duration,
    /// How many windows of history are kept.
    #[schema(default = 24, min = 1)]
    pub period: u32,
}

fn whole_minutes(window: &Duration) -> Result<(), String> {
    if window.micros().is_multiple_of(60_000_000) {
        Ok(())
    } else {
        Err(format!("{window} is not a whole number of minutes; kresd's prediction windows are counted in minutes"))
    }
}

fn root_only(origin: &DomainName) -> Result<(), String> {
    if origin.as_str() == "." { Ok(()) } else { Err(format!("only the root zone `.` can be prefilled, not {origin}")) }
}

/// TTL limits compare by value (`60s` equals `1m`).
fn check_cache(cache: &Cache, checks: &mut Checks) {
    if cache.ttl_min > cache.ttl_max {
        checks.error(
            "ttl-min",
            format!("ttl-min ({}) must not be greater than ttl-max ({})", cache.ttl_min, cache.ttl_max),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::FakeSystem;
    use serde_json::{Value, json};

    fn load(yaml: &str) -> Result<Cache, String> {
        schema_core::load::<Cache>(yaml, Some("t.yaml")).map_err(|r| r.to_string())
    }

    /// The reference's default, with its snake_case keys in kebab-case.
    fn reference_default() -> Value {
        json!({
            "storage": "/var/cache/knot-resolver",
            "size-max": "100M",
            "garbage-collector": {
                "enable": true, "interval": "1s", "threshold": 80, "release": 10,
                "temp-keys-space": "0M", "rw-deletes": 100, "rw-reads": 200,
                "rw-duration": "0us", "rw-delay": "0us", "dry-run": false
            },
            "ttl-min": "5s",
            "ttl-max": "1d",
            "ns-timeout": "1000ms",
            "prefill": null,
            "prefetch": {"expiring": false, "prediction": {"enable": false, "window": "15m", "period": 24}}
        })
    }

    #[test]
    fn default_is_the_reference_default() {
        // Same values: the reference document maps to our default.
        let from_reference: Cache = schema_core::load(&reference_default().to_string(), Some("t.json")).unwrap();
        assert_eq!(from_reference, Cache::default());
        // Same document, except that quantities are written in their largest exact unit.
        let mut expected = reference_default();
        expected["garbage-collector"]["temp-keys-space"] = json!("0B");
        expected["ns-timeout"] = json!("1s");
        assert_eq!(Cache::default().to_json(), expected);
    }

    #[test]
    fn realistic_cache_maps() {
        let cache = load(
            "\
storage: /var/cache/kres
size-max: 2G
garbage-collector:
  interval: 500ms
  threshold: 90
ttl-min: 60s
ttl-max: 1m
prefill:
  - origin: .
    url: https://www.internic.net/domain/root.zone
    refresh-interval: 12h
prefetch:
  expiring: true
  prediction:
    enable: true
    window: 30m
    period: 48
",
        )
        .unwrap();
        assert_eq!(cache.size_max, Size::parse("2048M").unwrap());
        assert_eq!(cache.garbage_collector.threshold, 90);
        assert_eq!(cache.garbage_collector.release, 10);
        assert_eq!(cache.prefill.as_ref().unwrap()[0].refresh_interval, Duration::parse("12h").unwrap());
        assert_eq!(cache.prefetch.prediction.period, 48);
        let (resolved, notes): (Cache, _) =
            schema_core::resolve_document(&cache, &FakeSystem::default(), Default::default()).unwrap();
        assert_eq!(resolved, cache);
        assert!(notes.is_empty());
    }

    #[test]
    fn ttl_min_not_above_ttl_max() {
        assert_eq!(
            load("ttl-min: 2d\n").unwrap_err(),
            "/ttl-min: ttl-min (2d) must not be greater than ttl-max (1d) (at t.yaml:1:10)"
        );
        assert_eq!(
            load("ttl-min: 61s\nttl-max: 1m\n").unwrap_err(),
            "/ttl-min: ttl-min (61s) must not be greater than ttl-max (1m) (at t.yaml:1:10)"
        );
        assert!(load("ttl-min: 3600s\nttl-max: 1h\n").is_ok());
    }

    #[test]
    fn prefill_is_root_only() {
        assert_eq!(
            load("prefill:\n  - origin: example.com\n    url: https://example.com/zone\n").unwrap_err(),
            "/prefill/0/origin: only the root zone `.` can be prefilled, not example.com (at t.yaml:2:13)"
        );
        assert!(load("prefill:\n  - origin: .\n").unwrap_err().starts_with("/prefill/0/url: missing required key"));
    }

    #[test]
    fn kresd_limits_of_prefill_and_prediction() {
        assert_eq!(
            load("prefill:\n  - origin: .\n    url: https://example.com/zone\n    refresh-interval: 59m\n")
                .unwrap_err(),
            "/prefill/0/refresh-interval: 59m is less than the minimum 1h (at t.yaml:4:23)"
        );
        assert_eq!(
            load("prefetch:\n  prediction:\n    window: 90s\n").unwrap_err(),
            "/prefetch/prediction/window: 90s is not a whole number of minutes; kresd's prediction windows are counted in minutes (at t.yaml:3:13)"
        );
        assert!(load("prefetch:\n  prediction:\n    window: 30s\n").is_err());
        assert!(load("prefetch:\n  prediction:\n    window: 120s\n").is_ok());
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            load("garbage-collector:\n  threshold: 101\n").unwrap_err(),
            "/garbage-collector/threshold: 101 is out of range 0..=100 (at t.yaml:2:14)"
        );
        assert!(load("prefetch:\n  prediction:\n    period: 0\n").is_err());
        assert!(load("size-max: 100\n").is_err());
    }

    #[test]
    fn storage_is_checked_in_strict_mode() {
        let system = FakeSystem::default();
        let options = schema_core::ResolveOptions { check_paths: true };
        let report = schema_core::resolve_document(&Cache::default(), &system, options).unwrap_err();
        assert_eq!(report.to_string(), "/storage: /var/cache/knot-resolver does not exist or is not readable");
    }
}
