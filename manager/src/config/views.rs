//! `views`: what the resolver does for a group of clients, chosen by their address (and
//! optionally the address and protocol they reached us on). A view either answers directly
//! (`answer`) or marks the clients with tags that `local-data` rules then select.
//!
//! kresd 5.6 has no tag machinery of its own, but its `view` module matches client subnets
//! (`view:addr`) and its `view.rule_dst` matches the destination address, and a Lua match
//! function can read the request's transport flags (TCP, TLS, HTTP): the renderer expands tags
//! into per-subnet rules. Only DNS over QUIC and the `price-factor` of request deferral (both
//! Knot Resolver 6 features) are out of reach for 5.6.

use schema_core::{Checks, IpNet, ResolveCx, Schema};

/// A tag: a label that views attach to clients and rules select on. Lowercase letters, digits
/// and `-`, not starting or ending with `-`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

const TAG_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

impl Tag {
    pub fn parse(text: &str) -> Result<Tag, String> {
        let valid = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(Tag(text.to_owned()))
        } else {
            Err(format!(
                "{} is not a tag: use lowercase letters, digits and '-', not at the start or the end",
                schema_core::value::quote_for_message(text)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

schema_core::string_value!(
    Tag,
    title: "tag",
    expecting: "a tag such as `malware` (lowercase letters, digits and '-')",
    pattern: TAG_PATTERN
);

/// One view: a group of clients and what to do with their queries.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = View, validate = check_view)]
pub struct ViewRaw {
    /// Client networks the view applies to (the source address of the query).
    pub subnets: Vec<IpNet>,
    /// Only queries sent to an address in this network (our own address the client reached).
    pub dst_subnet: Option<IpNet>,
    /// Only queries that came over one of these transports; any transport when absent.
    #[schema(resolve = resolve_protocols, into = Protocols)]
    pub protocols: Option<Vec<Protocol>>,
    /// Tags given to the matching clients; `local-data` rules with one of these tags apply to
    /// them. Exactly one of `tags` and `answer` is required.
    pub tags: Option<Vec<Tag>>,
    /// Answer the matching clients directly instead of tagging them. Exactly one of `tags` and
    /// `answer` is required.
    pub answer: Option<ViewAnswer>,
    /// Resolution options for the matching clients.
    #[schema(default)]
    pub options: ViewOptionsRaw,
}

/// An optional list of transports (a name for the `into` attribute).
pub type Protocols = Option<Vec<Protocol>>;

/// A transport a query can arrive on.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
#[schema(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain DNS over UDP (port 53).
    Udp53,
    /// Plain DNS over TCP (port 53).
    Tcp53,
    /// DNS over TLS.
    Dot,
    /// DNS over HTTPS.
    Doh,
    /// DNS over QUIC (Knot Resolver 6 only).
    Doq,
}

/// What a view answers without resolving.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewAnswer {
    /// Resolve the query normally (stop looking at later views).
    Allow,
    /// Answer with the REFUSED status.
    Refused,
    /// Send no answer at all.
    Noanswer,
}

/// Resolution options of a view.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = ViewOptions)]
pub struct ViewOptionsRaw {
    /// Send upstream servers only the part of the name they need (QNAME minimisation).
    #[schema(default = true)]
    pub minimize: bool,
    /// Synthesize AAAA records for these clients when `dns64` is enabled.
    #[schema(default = true)]
    pub dns64: bool,
    /// Weight of these clients' requests when request deferral (Knot Resolver 6) ranks them;
    /// 1.0 is neutral. Other values need Knot Resolver 6.
    #[schema(default = 1.0, min = 0.0, max = 65535.0, resolve = resolve_price_factor, into = f64)]
    pub price_factor: f64,
    /// Use the `fallback` servers for these clients when resolution fails.
    #[schema(default = true)]
    pub fallback: bool,
}

fn check_view(view: &ViewRaw, checks: &mut Checks) {
    match (&view.tags, &view.answer) {
        (Some(_), Some(_)) => checks.error("answer", "a view has either `tags` or `answer`, not both"),
        (None, None) => checks.error("", "a view needs either `tags` or `answer`"),
        (Some(tags), None) if tags.is_empty() => {
            checks.error("tags", "list at least one tag (or use `answer` instead)");
        }
        _ => {}
    }
    if view.subnets.is_empty() {
        checks.error("subnets", "list at least one client network (0.0.0.0/0 and ::/0 match everyone)");
    }
    if view.protocols.as_ref().is_some_and(Vec::is_empty) {
        checks.error("protocols", "an empty list matches no query; leave `protocols` out to match every transport");
    }
}

fn resolve_protocols(protocols: &Protocols, _: &ViewRaw, cx: &mut ResolveCx<'_>) -> Result<Protocols, String> {
    if protocols.as_ref().is_some_and(|p| p.contains(&Protocol::Doq)) {
        super::target::needs_6(cx, "matching DNS over QUIC (`doq`)")?;
    }
    Ok(protocols.clone())
}

fn resolve_price_factor(value: &f64, _: &ViewOptionsRaw, cx: &mut ResolveCx<'_>) -> Result<f64, String> {
    if *value != 1.0 {
        super::target::needs_6(cx, "a `price-factor` other than 1.0 (request deferral)")?;
    }
    Ok(*value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::{FakeSystem, Version};

    fn load(yaml: &str) -> Result<ViewRaw, String> {
        schema_core::load::<ViewRaw>(yaml, Some("t.yaml")).map_err(|r| r.to_string())
    }

    fn resolve(raw: &ViewRaw, version: Option<Version>) -> Result<View, String> {
        let system = FakeSystem { version, ..Default::default() };
        schema_core::resolve_document(raw, &system, Default::default()).map(|(v, _)| v).map_err(|r| r.to_string())
    }

    #[test]
    fn options_default_is_the_reference_default() {
        let reference = serde_json::json!({"minimize": true, "dns64": true, "price-factor": 1.0, "fallback": true});
        assert_eq!(ViewOptionsRaw::default().to_json(), reference);
    }

    #[test]
    fn realistic_views_map() {
        let list: Vec<ViewRaw> = schema_core::load(
            "\
- subnets: [10.0.0.0/8, 2001:db8::/32]
  tags: [corp, no-ads]
  options:
    minimize: false
- subnets: [0.0.0.0/0]
  dst-subnet: 192.0.2.1/32
  protocols: [dot, doh]
  answer: refused
",
            Some("t.yaml"),
        )
        .unwrap();
        assert_eq!(list[0].tags.as_ref().unwrap()[1].as_str(), "no-ads");
        assert!(!list[0].options.minimize);
        assert_eq!(list[1].answer, Some(ViewAnswer::Refused));
        assert_eq!(list[1].protocols, Some(vec![Protocol::Dot, Protocol::Doh]));
        let system = FakeSystem::default();
        let (views, notes): (Vec<View>, _) = schema_core::resolve_document(&list, &system, Default::default()).unwrap();
        assert!(notes.is_empty());
        assert_eq!(views[1].dst_subnet, Some(IpNet::parse("192.0.2.1/32").unwrap()));
    }

    #[test]
    fn tags_xor_answer() {
        assert_eq!(
            load("subnets: [10.0.0.0/8]\ntags: [a]\nanswer: allow\n").unwrap_err(),
            "/answer: a view has either `tags` or `answer`, not both (at t.yaml:3:9)"
        );
        assert_eq!(
            load("subnets: [10.0.0.0/8]\n").unwrap_err(),
            "/: a view needs either `tags` or `answer` (at t.yaml:1:1)"
        );
        assert_eq!(
            load("subnets: [10.0.0.0/8]\ntags: []\n").unwrap_err(),
            "/tags: list at least one tag (or use `answer` instead) (at t.yaml:2:7)"
        );
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            load("subnets: []\nanswer: allow\n").unwrap_err(),
            "/subnets: list at least one client network (0.0.0.0/0 and ::/0 match everyone) (at t.yaml:1:10)"
        );
        assert_eq!(
            load("subnets: [10.0.0.0/8]\ntags: [Corp]\n").unwrap_err(),
            "/tags/0: \"Corp\" is not a tag: use lowercase letters, digits and '-', not at the start or the end (at t.yaml:2:8)"
        );
        assert_eq!(
            load("subnets: [10.0.0.0/8]\nanswer: allow\nprotocols: []\n").unwrap_err(),
            "/protocols: an empty list matches no query; leave `protocols` out to match every transport (at t.yaml:3:12)"
        );
        assert!(load("subnets: [10.0.0.0/8]\nanswer: allow\noptions: {price-factor: 70000}\n").is_err());
    }

    #[test]
    fn kresd_5_6_rejects_quic_and_price_factor() {
        let raw = load("subnets: [10.0.0.0/8]\nanswer: allow\nprotocols: [udp53, doq]\n").unwrap();
        assert_eq!(
            resolve(&raw, Some(Version::new(5, 6, 0))).unwrap_err(),
            "/protocols: matching DNS over QUIC (`doq`) needs Knot Resolver 6; the installed kresd is 5.6.0"
        );
        assert!(resolve(&raw, Some(Version::new(6, 0, 0))).is_ok());

        let raw = load("subnets: [10.0.0.0/8]\nanswer: allow\noptions: {price-factor: 2.5}\n").unwrap();
        assert_eq!(
            resolve(&raw, Some(Version::new(5, 6, 0))).unwrap_err(),
            "/options/price-factor: a `price-factor` other than 1.0 (request deferral) needs Knot Resolver 6; the installed kresd is 5.6.0"
        );
        let raw = load("subnets: [10.0.0.0/8]\nanswer: allow\noptions: {price-factor: 1.0}\n").unwrap();
        assert_eq!(resolve(&raw, Some(Version::new(5, 6, 0))).unwrap().options.price_factor, 1.0);
    }

    #[test]
    fn tag_schema() {
        let schema = schema_core::json_schema::schema_for::<ViewRaw>(None);
        let text = schema.to_string();
        assert!(text.contains(TAG_PATTERN.replace('\\', "\\\\").as_str()));
        assert!(Tag::parse("a").is_ok());
        assert!(Tag::parse("a-1").is_ok());
        assert!(Tag::parse("-a").is_err());
        assert!(Tag::parse("a-").is_err());
        assert!(Tag::parse("").is_err());
    }
}
