//! `local-data`: answers the resolver gives from its own data: static addresses, hosts files,
//! records in zone file syntax, rules for names and subtrees, and response policy zones (RPZ).
//!
//! Knot Resolver 6 keeps these in its rules database; kresd 5.6 has none, but has the pieces:
//! `hints` (addresses and hosts files), `policy.ANSWER` (records, parsed with its zone file
//! scanner), `policy.DENY` / `policy.suffix` (NXDOMAIN and empty subtrees), `policy.rpz` (RPZ
//! files) and the `view` module (tags, expanded into per-subnet rules by the renderer). So
//! nothing here is refused for 5.6.
//!
//! Every tag used here must be given by some view; that rule spans two sections, so the
//! top-level validator checks it with [`tags_used`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use schema_core::{Auto, Checks, DomainName, Duration, FilePath, OneOrMany, ResolveCx, Schema};

use super::views::Tag;

/// Local answers: addresses, records, rules and response policy zones.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = LocalData)]
pub struct LocalDataRaw {
    /// TTL of the local answers; a rule can set its own.
    pub ttl: Option<Duration>,
    /// For a name with local data, answer "no data" for the other record types (instead of
    /// resolving them); a rule can set its own.
    #[schema(default = true)]
    pub nodata: bool,
    /// Addresses of names, like a hosts file: `name: address` or `name: [addresses]`.
    pub addresses: Option<BTreeMap<DomainName, OneOrMany<IpAddr>>>,
    /// Hosts files (`/etc/hosts` syntax) whose addresses are served.
    pub addresses_files: Option<Vec<FilePath>>,
    /// Records in zone file syntax (one or more lines), served as they are.
    pub records: Option<String>,
    /// Rules for names and subtrees, optionally only for clients with some tags.
    pub rules: Option<Vec<LocalDataRule>>,
    /// Response policy zones (RPZ files).
    pub rpz: Option<Vec<RpzRaw>>,
}

/// A rule for names or subtrees.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_rule)]
pub struct LocalDataRule {
    /// The name (or names) the rule is for; needed with `address` and `subtree`.
    pub name: Option<OneOrMany<DomainName>>,
    /// Apply to the whole subtree under each name, not just the name.
    pub subtree: Option<SubtreeKind>,
    /// Addresses to answer with (A and AAAA records).
    pub address: Option<OneOrMany<IpAddr>>,
    /// Hosts file (or files) whose addresses the rule serves.
    pub file: Option<OneOrMany<FilePath>>,
    /// Records in zone file syntax the rule serves.
    pub records: Option<String>,
    /// Only for clients that a view gave one of these tags; for everyone when absent.
    pub tags: Option<Vec<Tag>>,
    /// TTL of the answers; `local-data.ttl` when absent.
    pub ttl: Option<Duration>,
    /// Answer "no data" for the other record types of the names; `local-data.nodata` when
    /// absent.
    pub nodata: Option<bool>,
}

/// What a rule does with a whole subtree.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtreeKind {
    /// An empty zone: every name in it exists with no data.
    Empty,
    /// No name in the subtree exists (NXDOMAIN).
    Nxdomain,
    /// Every name in the subtree is answered with the data given for the top name.
    Redirect,
}

/// A response policy zone.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Rpz)]
pub struct RpzRaw {
    /// The RPZ file (zone file syntax).
    pub file: FilePath,
    /// Re-read the file when it changes; `auto` does when the resolver can watch files (kresd
    /// 5.6 needs lua-cqueues for that).
    #[schema(default = "auto", resolve = resolve_watchdog, into = bool)]
    pub watchdog: Auto<bool>,
    /// Only for clients that a view gave one of these tags; for everyone when absent.
    pub tags: Option<Vec<Tag>>,
    /// Log each match, with the client address (`ip`) and/or the query name (`name`).
    pub log: Option<Vec<RpzLog>>,
}

/// What to log when an RPZ rule matches.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpzLog {
    /// The client's address.
    Ip,
    /// The query name.
    Name,
}

/// Every tag used by local-data, with its pointer relative to the section (e.g.
/// `rules/0/tags/1`), for the top-level rule that each must be given by some view.
pub fn tags_used(local_data: &LocalDataRaw) -> Vec<(String, &Tag)> {
    let mut used = Vec::new();
    for (i, rule) in local_data.rules.iter().flatten().enumerate() {
        for (j, tag) in rule.tags.iter().flatten().enumerate() {
            used.push((format!("rules/{i}/tags/{j}"), tag));
        }
    }
    for (i, rpz) in local_data.rpz.iter().flatten().enumerate() {
        for (j, tag) in rpz.tags.iter().flatten().enumerate() {
            used.push((format!("rpz/{i}/tags/{j}"), tag));
        }
    }
    used
}

fn check_rule(rule: &LocalDataRule, checks: &mut Checks) {
    let data: Vec<&str> =
        [("address", rule.address.is_some()), ("file", rule.file.is_some()), ("records", rule.records.is_some())]
            .into_iter()
            .filter_map(|(key, given)| given.then_some(key))
            .collect();
    if data.is_empty() && rule.subtree.is_none() {
        checks.error("", "a rule needs `address`, `file`, `records` or `subtree`");
    }
    if data.len() > 1 {
        checks.error(data[1], format!("a rule serves one kind of data: `{}` or `{}`, not both", data[0], data[1]));
    }
    if rule.name.is_none() {
        if rule.address.is_some() {
            checks.error("address", "`address` needs `name`: the names that get these addresses");
        }
        if rule.subtree.is_some() {
            checks.error("subtree", "`subtree` needs `name`: the top of each subtree");
        }
    }
    if let (Some(kind @ (SubtreeKind::Empty | SubtreeKind::Nxdomain)), Some(first)) = (rule.subtree, data.first()) {
        let kind = match kind {
            SubtreeKind::Empty => "empty",
            _ => "nxdomain",
        };
        checks.error(first, format!("a subtree that is `{kind}` has no data: leave out `{first}`"));
    }
    if rule.tags.as_ref().is_some_and(Vec::is_empty) {
        checks.error("tags", "an empty list matches no client; leave `tags` out to apply to everyone");
    }
}

/// Where lua-cqueues' file watching lives on Debian; kresd 5.6's `policy.rpz` uses it.
pub const CQUEUES_NOTIFY: &str = "/usr/share/lua/5.1/cqueues/notify.lua";

fn resolve_watchdog(value: &Auto<bool>, rpz: &RpzRaw, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    let older = super::target::before_6(cx).is_some();
    let available = !older || cx.system().file_kind(Path::new(CQUEUES_NOTIFY)).is_some();
    match value {
        Auto::Value(false) => Ok(false),
        Auto::Value(true) if available => Ok(true),
        Auto::Value(true) => Err(format!(
            "watching RPZ files with kresd 5.6 needs lua-cqueues ({CQUEUES_NOTIFY} is missing); install it or set `watchdog: false`"
        )),
        Auto::Auto => {
            if !available {
                cx.note(format!(
                    "{} will not be watched for changes: kresd 5.6 needs lua-cqueues for that; it is read at each (re)load",
                    rpz.file
                ));
            }
            Ok(available)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{FakeSystem, FileKind, Version};
    use serde_json::json;

    fn load(yaml: &str) -> Result<LocalDataRaw, String> {
        schema_core::load::<LocalDataRaw>(yaml, Some("t.yaml")).map_err(|r| r.to_string())
    }

    fn system(cqueues: bool) -> FakeSystem {
        let mut system = FakeSystem::default();
        if cqueues {
            system.files.insert(CQUEUES_NOTIFY.into(), FileKind::File);
        }
        system
    }

    #[test]
    fn default_is_the_reference_default() {
        let expected = json!({
            "ttl": null, "nodata": true, "addresses": null, "addresses-files": null,
            "records": null, "rules": null, "rpz": null
        });
        assert_eq!(LocalDataRaw::default().to_json(), expected);
    }

    const REALISTIC: &str = "\
ttl: 5m
addresses:
  printer.home.example: 192.168.1.10
  nas.home.example: [192.168.1.11, fd00::11]
addresses-files: [/etc/hosts]
records: |
  www.home.example. 300 IN CNAME nas.home.example.
rules:
  - name: [ads.example, tracker.example]
    subtree: nxdomain
    tags: [no-ads]
  - name: intranet.example
    subtree: redirect
    address: 10.0.0.1
    ttl: 1h
  - file: /etc/kres/blocked.hosts
    nodata: false
rpz:
  - file: /etc/kres/malware.rpz
    tags: [corp, no-ads]
    log: [ip, name]
";

    #[test]
    fn realistic_local_data_maps() {
        let local = load(REALISTIC).unwrap();
        assert_eq!(local.ttl, Some(Duration::parse("300s").unwrap()));
        let addresses = local.addresses.as_ref().unwrap();
        assert_eq!(addresses[&DomainName::parse("nas.home.example").unwrap()].as_slice().len(), 2);
        let rules = local.rules.as_ref().unwrap();
        assert_eq!(rules[0].subtree, Some(SubtreeKind::Nxdomain));
        assert_eq!(rules[2].nodata, Some(false));
        assert!(local.rpz.as_ref().unwrap()[0].watchdog.is_auto());
    }

    #[test]
    fn tags_used_lists_every_tag_with_its_pointer() {
        let local = load(REALISTIC).unwrap();
        let used: Vec<(String, &str)> = tags_used(&local).into_iter().map(|(p, t)| (p, t.as_str())).collect();
        assert_eq!(
            used,
            vec![
                ("rules/0/tags/0".to_owned(), "no-ads"),
                ("rpz/0/tags/0".to_owned(), "corp"),
                ("rpz/0/tags/1".to_owned(), "no-ads"),
            ]
        );
        assert!(tags_used(&LocalDataRaw::default()).is_empty());
    }

    #[test]
    fn rule_checks() {
        assert_eq!(
            load("rules:\n  - name: a.example\n").unwrap_err(),
            "/rules/0: a rule needs `address`, `file`, `records` or `subtree` (at t.yaml:2:5)"
        );
        assert_eq!(
            load("rules:\n  - name: a.example\n    address: 192.0.2.1\n    records: 'a.example. A 192.0.2.2'\n")
                .unwrap_err(),
            "/rules/0/records: a rule serves one kind of data: `address` or `records`, not both (at t.yaml:4:14)"
        );
        assert_eq!(
            load("rules:\n  - address: 192.0.2.1\n").unwrap_err(),
            "/rules/0/address: `address` needs `name`: the names that get these addresses (at t.yaml:2:14)"
        );
        assert_eq!(
            load("rules:\n  - subtree: empty\n").unwrap_err(),
            "/rules/0/subtree: `subtree` needs `name`: the top of each subtree (at t.yaml:2:14)"
        );
        assert_eq!(
            load("rules:\n  - name: a.example\n    subtree: nxdomain\n    address: 192.0.2.1\n").unwrap_err(),
            "/rules/0/address: a subtree that is `nxdomain` has no data: leave out `address` (at t.yaml:4:14)"
        );
        assert_eq!(
            load("rules:\n  - name: a.example\n    subtree: empty\n    tags: []\n").unwrap_err(),
            "/rules/0/tags: an empty list matches no client; leave `tags` out to apply to everyone (at t.yaml:4:11)"
        );
    }

    #[test]
    fn bad_values() {
        let report = load("addresses:\n  a..b: 192.0.2.1\n  ok.example: [192.0.2.300]\nrpz:\n  - watchdog: maybe\n")
            .unwrap_err();
        assert!(report.contains("/addresses/a..b: "), "{report}");
        assert!(report.contains("/addresses/ok.example/0: "), "{report}");
        assert!(report.contains("/rpz/0/watchdog: "), "{report}");
        assert!(report.contains("/rpz/0/file: missing required key `file`"), "{report}");
    }

    #[test]
    fn rpz_watchdog_in_pass_2() {
        let local = load("rpz:\n  - file: /etc/kres/a.rpz\n  - file: /etc/kres/b.rpz\n    watchdog: false\n").unwrap();
        // With lua-cqueues, `auto` watches.
        let (resolved, notes): (LocalData, _) =
            schema_core::resolve_document(&local, &system(true), Default::default()).unwrap();
        let rpz = resolved.rpz.unwrap();
        assert!(rpz[0].watchdog);
        assert!(!rpz[1].watchdog);
        assert!(notes.is_empty());
        // Without, `auto` does not, and says so.
        let (resolved, notes): (LocalData, _) =
            schema_core::resolve_document(&local, &system(false), Default::default()).unwrap();
        assert!(!resolved.rpz.unwrap()[0].watchdog);
        assert_eq!(
            notes.to_string(),
            "note: /rpz/0/watchdog: /etc/kres/a.rpz will not be watched for changes: kresd 5.6 needs lua-cqueues for that; it is read at each (re)load"
        );
        // An explicit request without lua-cqueues is an error; with Knot Resolver 6 it is fine.
        let local = load("rpz:\n  - file: /etc/kres/a.rpz\n    watchdog: true\n").unwrap();
        let report = schema_core::resolve_document(&local, &system(false), Default::default()).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/rpz/0/watchdog: watching RPZ files with kresd 5.6 needs lua-cqueues (/usr/share/lua/5.1/cqueues/notify.lua is missing); install it or set `watchdog: false`"
        );
        let kr6 = FakeSystem { version: Some(Version::new(6, 0, 0)), ..Default::default() };
        assert!(schema_core::resolve_document(&local, &kr6, Default::default()).is_ok());
    }
}
