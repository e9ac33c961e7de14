//! `options`: switches of the resolution algorithm and of small built-in behaviours. Every one of
//! them exists in kresd 5.6, so nothing here needs pass 2.

use schema_core::Schema;

/// Switches of the resolution algorithm and of small built-in behaviours of the resolver.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Options {
    /// How strictly glue records (addresses of name servers found outside their zone) are
    /// trusted when following a delegation.
    #[schema(default = "normal")]
    pub glue_checking: GlueChecking,
    /// Query name minimisation: ask each name server only for the part of the name it needs to
    /// know, which leaks less of the query to servers higher in the tree.
    #[schema(default = true)]
    pub minimize: bool,
    /// Allow queries to name servers with loopback addresses (127.0.0.0/8, ::1); off by default
    /// because a delegation pointing there is usually a mistake or an attack.
    #[schema(default = false)]
    pub query_loopback: bool,
    /// Shuffle the order of records in answered record sets, spreading load across the
    /// addresses of a name.
    #[schema(default = true)]
    pub reorder_rrset: bool,
    /// Randomise the letter case of names in outgoing queries (0x20 encoding), making forged
    /// answers harder to get accepted.
    #[schema(default = true)]
    pub query_case_randomization: bool,
    /// Refresh the list of root servers from the root zone at start-up (priming).
    #[schema(default = true)]
    pub priming: bool,
    /// Refuse answers from the outside that point names to private or reserved addresses (DNS
    /// rebinding protection).
    #[schema(default = false)]
    pub rebinding_protection: bool,
    /// Refuse queries that do not ask for recursion (no RD flag): a resolver is not an
    /// authoritative server and such queries are mostly cache snooping.
    #[schema(default = true)]
    pub refuse_no_rd: bool,
    /// Detect jumps of the system clock and clear the cache when one happens, as the remaining
    /// lifetimes of cached records would be wrong.
    #[schema(default = true)]
    pub time_jump_detection: bool,
    /// Work around known misbehaviours of some authoritative servers.
    #[schema(default = false)]
    pub violators_workarounds: bool,
    /// Answer from expired cache records when the authoritative servers cannot be reached
    /// (RFC 8767).
    #[schema(default = false)]
    pub serve_stale: bool,
}

/// How strictly glue records are trusted.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlueChecking {
    /// Use glue only for names within the delegated zone or its parent (the usual choice).
    Normal,
    /// Use glue only for names within the delegated zone.
    Strict,
    /// Use any glue the parent gives (fastest, least safe).
    Permissive,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_is_the_reference_default() {
        assert_eq!(
            Options::default().to_json(),
            json!({
                "glue-checking": "normal",
                "minimize": true,
                "query-loopback": false,
                "reorder-rrset": true,
                "query-case-randomization": true,
                "priming": true,
                "rebinding-protection": false,
                "refuse-no-rd": true,
                "time-jump-detection": true,
                "violators-workarounds": false,
                "serve-stale": false
            })
        );
    }

    #[test]
    fn realistic_snippet_maps() {
        let options: Options = schema_core::load(
            "glue-checking: strict\nminimize: false\nserve-stale: true\nrebinding-protection: true\n",
            Some("t.yaml"),
        )
        .unwrap();
        assert_eq!(options.glue_checking, GlueChecking::Strict);
        assert!(!options.minimize);
        assert!(options.serve_stale);
        assert!(options.rebinding_protection);
        assert!(options.priming);
    }

    #[test]
    fn mistakes_are_reported_with_pointers() {
        let report =
            schema_core::load::<Options>("glue-checking: lax\npriming: 1\n", Some("t.yaml")).unwrap_err().to_string();
        assert!(report.contains("/glue-checking: "), "{report}");
        assert!(report.contains("(at t.yaml:1:16)"), "{report}");
        assert!(report.contains("/priming: "), "{report}");
    }
}
