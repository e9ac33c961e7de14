//! The configuration model, compatible with Knot Resolver 6's format: one module per top-level
//! section, each defined with the schema DSL (`#[derive(Schema)]`). Pass 1 maps and validates;
//! pass 2 resolves `auto` and computed values and checks what the installed kresd (5.6) can do.
//!
//! [`ConfigRaw`] is the whole document after pass 1; [`Config`] is its resolved form (pass 2).
//! [`load`] runs both on a document and returns every problem with its position.

pub mod basics;
pub mod cache;
pub mod defer;
pub mod dns64;
pub mod dnssec;
pub mod fallback;
pub mod forward;
pub mod load;
pub mod local_data;
pub mod logging;
pub mod lua;
pub mod management;
pub mod migrate;
pub mod monitoring;
pub mod network;
pub mod options;
pub mod patch;
pub mod rate_limiting;
pub mod secrets;
pub mod target;
pub mod views;

use schema_core::{Auto, Checks, DirPath, Report, ResolveOptions, Schema, System, Value};

/// A Knot Resolver configuration, in Knot Resolver 6's format.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Config, validate = check_config)]
pub struct ConfigRaw {
    /// Version of the configuration format; only 1 exists.
    #[schema(default = 1, validate = basics::validate_version)]
    pub version: u32,
    /// Name Server Identifier (RFC 5001) reported to clients that ask for it; none when null.
    #[schema(validate = basics::validate_nsid)]
    pub nsid: Option<String>,
    /// Name of this resolver in logs and metrics; the machine's hostname when null.
    #[schema(validate = basics::validate_hostname, resolve = basics::resolve_hostname, into = String)]
    pub hostname: Option<String>,
    /// Working directory of the manager and the workers (sockets, and the cache unless it is
    /// placed elsewhere).
    #[schema(default = "/run/knot-resolver")]
    pub rundir: DirPath,
    /// Number of kresd worker processes; `auto` is one per CPU.
    #[schema(default = 1, validate = basics::validate_workers, resolve = basics::resolve_workers, into = u16)]
    pub workers: Auto<u16>,
    /// How to reach the manager's HTTP API.
    #[schema(default = management::default_management)]
    pub management: management::Management,
    /// Resolver behaviour switches.
    #[schema(default)]
    pub options: options::Options,
    /// Listening sockets, TLS and other network settings.
    #[schema(default)]
    pub network: network::Network,
    /// Views: groups of clients (by subnet) with their own tags, answers or options.
    pub views: Option<Vec<views::ViewRaw>>,
    /// Data answered locally: addresses, records, rules and RPZ files.
    #[schema(default)]
    pub local_data: local_data::LocalDataRaw,
    /// Subtrees whose queries are forwarded to other servers.
    pub forward: Option<Vec<forward::Forward>>,
    /// Fallback servers for when resolution fails (Knot Resolver 6 only).
    #[schema(default)]
    pub fallback: fallback::FallbackRaw,
    /// The shared cache and its garbage collector.
    #[schema(default)]
    pub cache: cache::Cache,
    /// DNSSEC validation.
    #[schema(default)]
    pub dnssec: dnssec::Dnssec,
    /// DNS64 address synthesis.
    #[schema(default)]
    pub dns64: dns64::Dns64,
    /// Logging.
    #[schema(default)]
    pub logging: logging::LoggingRaw,
    /// Metrics and statistics.
    #[schema(default)]
    pub monitoring: monitoring::Monitoring,
    /// Rate limiting of clients (Knot Resolver 6 only).
    #[schema(default)]
    pub rate_limiting: rate_limiting::RateLimitingRaw,
    /// Deferring expensive requests under load (Knot Resolver 6 only).
    #[schema(default)]
    pub defer: defer::DeferRaw,
    /// Custom Lua run by every worker.
    #[schema(default)]
    pub lua: lua::LuaRaw,
}

/// Rules that span sections.
fn check_config(config: &ConfigRaw, checks: &mut Checks) {
    // A tag that no view gives to any client would make its rule apply to nobody.
    let given: Vec<&str> =
        config.views.iter().flatten().flat_map(|view| view.tags.iter().flatten()).map(|tag| tag.as_str()).collect();
    for (pointer, tag) in local_data::tags_used(&config.local_data) {
        if !given.contains(&tag.as_str()) {
            checks.error(
                &format!("local-data/{pointer}"),
                format!(
                    "tag `{tag}` is not given by any view, so this would apply to no client; add it to a view's `tags`"
                ),
            );
        }
    }
}

/// Notes for view tags that no local-data rule or RPZ uses, one per tag of each view, at its
/// pointer (`/views/0/tags/1`). Such a tag changes nothing, most likely a typo or a rule that is
/// gone: a note, not an error (Knot Resolver 6 refuses it; `docs/knot-resolver-6.md` says why we
/// do not).
pub fn unused_view_tags(config: &ConfigRaw) -> Report {
    let used: Vec<&str> = local_data::tags_used(&config.local_data).into_iter().map(|(_, tag)| tag.as_str()).collect();
    let mut notes = Report::new();
    for (i, view) in config.views.iter().flatten().enumerate() {
        for (j, tag) in view.tags.iter().flatten().enumerate() {
            if !used.contains(&tag.as_str()) {
                let pointer = schema_core::Pointer::root().key("views").index(i).key("tags").index(j);
                notes.push(schema_core::Problem::note(
                    pointer,
                    format!(
                        "tag `{tag}` is given to clients but no local-data rule or RPZ uses it, so it changes \
                         nothing (a typo, or a rule that is gone?)"
                    ),
                ));
            }
        }
    }
    notes
}

/// The outcome of validating a document: the resolved config and the notes pass 2 made.
#[derive(Debug)]
pub struct Validated {
    pub raw: ConfigRaw,
    pub config: Config,
    pub notes: Report,
}

/// Pass 1 and pass 2 over a parsed document. Every problem is returned, each located in the
/// document (`line:column`) where it has a position. An empty document is the default config.
pub fn validate(document: &Value, system: &dyn System, options: ResolveOptions) -> Result<Validated, Report> {
    let empty = Value::new(schema_core::Kind::Map(Default::default()));
    let document = if matches!(document.kind, schema_core::Kind::Null) { &empty } else { document };
    let raw: ConfigRaw = schema_core::map_document(document)?;
    match schema_core::resolve_document(&raw, system, options) {
        Ok((config, mut notes)) => {
            notes.extend(unused_view_tags(&raw));
            notes.locate(document);
            Ok(Validated { raw, config, notes })
        }
        Err(mut report) => {
            report.locate(document);
            Err(report)
        }
    }
}

/// The JSON Schema of the configuration.
pub fn json_schema() -> serde_json::Value {
    schema_core::json_schema::schema_for::<ConfigRaw>(Some("https://kres-manager.invalid/config.schema.json"))
}

/// The Markdown reference of every option, generated from the JSON Schema.
pub fn reference_docs() -> String {
    schema_core::docs::markdown(&json_schema(), "Configuration reference")
}

#[cfg(test)]
mod tests {
    use schema_core::{FakeSystem, Version};

    use super::*;

    fn parse(text: &str) -> Value {
        schema_core::yaml::parse(text, Some("c.yaml")).expect("parses")
    }

    #[test]
    fn an_empty_document_is_the_default_config() {
        let validated = validate(&parse(""), &FakeSystem::default(), ResolveOptions::default()).expect("valid");
        assert_eq!(validated.config.workers, 1);
        assert_eq!(validated.config.hostname, "test-host");
        // defer is on by default in Knot Resolver 6 and absent from kresd 5.6: a note says so.
        assert!(validated.notes.notes().any(|n| n.pointer.to_string().starts_with("/defer")), "{}", validated.notes);
    }

    #[test]
    fn problems_from_every_section_are_reported_at_once_with_positions() {
        let text = "workers: 0\nnetwork:\n  listen:\n    - unix-socket: /run/x.sock\n      kind: dns\ncache:\n  ttl-min: 2d\n  ttl-max: 1d\nbogus: 1\n";
        let report = validate(&parse(text), &FakeSystem::default(), ResolveOptions::default()).expect_err("invalid");
        let text = report.to_string();
        for pointer in ["/workers", "/network/listen/0", "/cache/ttl-min", "/bogus"] {
            assert!(text.lines().any(|l| l.starts_with(pointer)), "{pointer} missing in:\n{text}");
        }
        assert!(report.problems.iter().all(|p| p.span.is_some()), "{text}");
    }

    #[test]
    fn kresd_5_6_features_are_checked_in_pass_two() {
        let text = "rate-limiting:\n  enable: true\n  rate-limit: 100\n";
        let system = FakeSystem { version: Some(Version::new(5, 6, 0)), ..Default::default() };
        let report = validate(&parse(text), &system, ResolveOptions::default()).expect_err("5.6 has no rate limiting");
        assert!(
            report
                .to_string()
                .contains("/rate-limiting/enable: rate limiting needs Knot Resolver 6; the installed kresd is 5.6.0"),
            "{report}"
        );
        assert!(report.to_string().contains("(at c.yaml:2:11)"), "{report}");
    }

    #[test]
    fn view_tags_that_no_rule_uses_are_noted_with_their_pointers() {
        let text = "views:\n  - subnets: [10.0.0.0/8]\n    tags: [lan, guest]\n  - subnets: [192.0.2.0/24]\n    \
                    tags: [lan, wan]\nlocal-data:\n  rules:\n    - name: [a.example]\n      subtree: empty\n      \
                    tags: [lan]\n";
        let validated = validate(&parse(text), &FakeSystem::default(), ResolveOptions::default()).expect("valid");
        let notes: Vec<(String, &str)> =
            validated.notes.notes().map(|n| (n.pointer.to_string(), n.message.as_str())).collect();
        let unused: Vec<&(String, &str)> = notes.iter().filter(|(p, _)| p.starts_with("/views")).collect();
        assert_eq!(unused.len(), 2, "{notes:?}");
        assert_eq!(unused[0].0, "/views/0/tags/1");
        assert!(unused[0].1.starts_with("tag `guest` is given to clients but no local-data rule or RPZ uses it"));
        assert_eq!(unused[1].0, "/views/1/tags/1");
        assert!(unused[1].1.starts_with("tag `wan` "), "{notes:?}");
        // Located in the file, for kresctl validate's snippets.
        let note = validated.notes.notes().find(|n| n.pointer.to_string() == "/views/0/tags/1").unwrap();
        assert_eq!(note.span.map(|s| (s.line, s.column)), Some((3, 17)), "{note:?}");
        // An RPZ's tags count as used; a view without tags (an answer) has none to note.
        let text = "views:\n  - subnets: [10.0.0.0/8]\n    tags: [lan]\n  - subnets: [::/0]\n    answer: refused\n\
                    local-data:\n  rpz:\n    - file: /dev/null\n      tags: [lan]\n";
        let validated = validate(&parse(text), &FakeSystem::default(), ResolveOptions::default()).expect("valid");
        assert!(validated.notes.notes().all(|n| !n.pointer.to_string().starts_with("/views")), "{}", validated.notes);
    }

    #[test]
    fn tags_used_by_local_data_must_be_given_by_a_view() {
        let text = "views:\n  - subnets: [10.0.0.0/8]\n    tags: [lan]\nlocal-data:\n  rules:\n    - name: [a.example]\n      subtree: empty\n      tags: [lan, wan]\n";
        let report = validate(&parse(text), &FakeSystem::default(), ResolveOptions::default())
            .expect_err("wan is given by no view");
        assert!(
            report.to_string().starts_with("/local-data/rules/0/tags/1: tag `wan` is not given by any view"),
            "{report}"
        );
    }
}
