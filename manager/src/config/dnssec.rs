//! `dnssec`: validation of answers with DNSSEC. kresd 5.6 has all of it: the `validate` layer,
//! `trust_anchors` (`add`, `add_file` with read-only, `set_insecure` for negative anchors),
//! `bogus_log`, `ta_sentinel` and `ta_signal_query`.

use schema_core::{DomainName, FilePath, Schema};

/// DNSSEC validation.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Dnssec {
    /// Validate answers with DNSSEC.
    #[schema(default = true)]
    pub enable: bool,
    /// Log answers that fail validation.
    #[schema(default = false)]
    pub log_bogus: bool,
    /// Answer the root key sentinel queries (RFC 8509), which let others learn which trust
    /// anchors we use.
    #[schema(default = true)]
    pub sentinel: bool,
    /// Signal the trust anchors we use to the root servers with key tag queries (RFC 8145).
    #[schema(default = true)]
    pub signal_query: bool,
    /// Extra trust anchors, each a DS or DNSKEY record in zone file syntax (e.g.
    /// `. 3600 IN DS 20326 8 2 E06D...`).
    pub trust_anchors: Option<Vec<String>>,
    /// Files of trust anchors (zone file syntax), kept up to date (RFC 5011) unless read-only.
    pub trust_anchors_files: Option<Vec<TrustAnchorFile>>,
    /// Subtrees treated as insecure: their answers are not validated.
    pub negative_trust_anchors: Option<Vec<DomainName>>,
}

/// A file of trust anchors.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct TrustAnchorFile {
    /// The file.
    pub file: FilePath,
    /// Only read the file; do not write key rollovers (RFC 5011) into it.
    #[schema(default = false)]
    pub read_only: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::FakeSystem;
    use serde_json::json;

    #[test]
    fn default_is_the_reference_default() {
        let expected = json!({
            "enable": true, "log-bogus": false, "sentinel": true, "signal-query": true,
            "trust-anchors": null, "trust-anchors-files": null, "negative-trust-anchors": null
        });
        assert_eq!(Dnssec::default().to_json(), expected);
    }

    #[test]
    fn realistic_dnssec_maps() {
        let dnssec: Dnssec = schema_core::load(
            "\
log-bogus: true
trust-anchors:
  - . 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
trust-anchors-files:
  - file: /etc/knot-resolver/root.keys
    read-only: true
negative-trust-anchors: [bad.example, 10.in-addr.arpa.]
",
            Some("t.yaml"),
        )
        .unwrap();
        assert!(dnssec.log_bogus);
        assert!(dnssec.trust_anchors_files.as_ref().unwrap()[0].read_only);
        assert_eq!(dnssec.negative_trust_anchors.as_ref().unwrap()[1].fqdn(), "10.in-addr.arpa.");
        let (resolved, notes): (Dnssec, _) =
            schema_core::resolve_document(&dnssec, &FakeSystem::default(), Default::default()).unwrap();
        assert_eq!(resolved, dnssec);
        assert!(notes.is_empty());
    }

    #[test]
    fn bad_values() {
        let report = schema_core::load::<Dnssec>(
            "enable: yes\nnegative-trust-anchors: [a..b]\ntrust-anchors-files: [{read-only: true}]\n",
            Some("t.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(report.contains("/enable: expected a boolean"), "{report}");
        assert!(report.contains("/negative-trust-anchors/0: \"a..b\" is not a domain name"), "{report}");
        assert!(report.contains("/trust-anchors-files/0/file: missing required key `file`"), "{report}");
    }
}
