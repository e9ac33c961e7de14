// A nested section: a struct whose fields all have defaults gets a generated `Default`, so it
// can itself be a `#[schema(default)]` field of its parent, and an absent section maps to its
// defaults.

use schema_core::{Duration, Schema, Size, load};

/// The cache.
#[derive(Schema, Debug, Clone, PartialEq)]
struct Cache {
    #[schema(default = "100M", min = "1M")]
    size_max: Size,
    #[schema(default = "1d")]
    ttl_max: Duration,
    /// Optional fields default to `None`.
    prefill: Option<String>,
}

/// Logging.
#[derive(Schema, Debug, Clone, PartialEq)]
struct Logging {
    #[schema(default = "notice")]
    level: String,
}

/// The whole config.
#[derive(Schema, Debug, PartialEq)]
struct Config {
    #[schema(default)]
    cache: Cache,
    #[schema(default)]
    logging: Logging,
    #[schema(min_len = 1)]
    hostname: String,
}

fn main() {
    // The generated `Default` is what an empty mapping maps to.
    let cache = Cache::default();
    assert_eq!(cache, Cache { size_max: Size::parse("100M").unwrap(), ttl_max: Duration::parse("1d").unwrap(), prefill: None });

    let config: Config = load("hostname: ns1", Some("c.yaml")).unwrap();
    assert_eq!(config.cache, Cache::default());
    assert_eq!(config.logging.level, "notice");

    let config: Config = load("hostname: ns1\ncache:\n  size-max: 1G\n", Some("c.yaml")).unwrap();
    assert_eq!(config.cache.size_max, Size::parse("1G").unwrap());
    assert_eq!(config.cache.ttl_max, Duration::parse("1d").unwrap());

    let report = load::<Config>("hostname: ''\ncache:\n  size-max: 1K\n", Some("c.yaml")).unwrap_err().to_string();
    assert!(report.contains("/cache/size-max: 1K is less than the minimum 1M"), "{report}");
    assert!(report.contains("/hostname: "), "{report}");
}
