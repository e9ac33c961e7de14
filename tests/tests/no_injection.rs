//! No injection: no config value can run Lua that the operator did not write in the `lua`
//! section.
//!
//! Every string-typed leaf of the config model is found by walking the generated JSON Schema
//! (properties, `$ref`s, `anyOf`/`oneOf`/`allOf`, `items`, map values and map keys). A minimal
//! valid document is built around each (required siblings from `required`, plus the few
//! hand-written frames in [`FRAMES`] where a value only reaches the Lua when its section is
//! switched on), and a corpus of hostile strings is pushed through it. Each (leaf, string) pair
//! is either rejected by validation (kresd 5.6) or rendered, and then:
//!
//! - textually: a small Lua lexer (short strings with every escape LuaJIT knows, long strings,
//!   comments) strips literals and comments; the remaining code must not contain the payload's
//!   marker identifier `INJECTED`, nor more `os.exit`/`io.open`/... than the same leaf rendered
//!   with a harmless value, and no literal holding the payload may be handed to a loader
//!   (`loadstring`, `dofile`, `require`, `modules.load`, ...);
//! - for real, for the payloads built to act if they ever escaped (write a marker file, call
//!   `os.exit`): the rendered Lua is loaded by kresd 5.6 (offline, in a private directory, with
//!   a wrapper that reports load errors and lets the event loop run briefly), and no marker file
//!   may appear, and kresd must not exit because of the payload.
//!
//! `lua.script` and `lua.script-file` hold the operator's own Lua by design: they are the only
//! leaves excluded, and the test asserts that.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kres_manager::kresd::render::{self, WorkerContext};
use kres_tests::kresd::{TempDir, free_port};
use schema_core::{FakeSystem, FileKind, ResolveOptions, Version};
use serde_json::{Map, Value, json};

/// The operator's own Lua: excluded on purpose, and the only exclusions.
const EXCLUDED: &[&str] = &["/lua/script", "/lua/script-file"];

/// Hand-written frames: a value under one of these pointer prefixes only reaches the Lua (or
/// only validates) with these siblings. The leaf's own value always wins over the frame.
const FRAMES: &[(&str, &str)] = &[
    ("/monitoring/graphite/", r#"{"monitoring": {"graphite": {"enable": true, "host": "127.0.0.1", "port": 9}}}"#),
    ("/logging/dnstap/", r#"{"logging": {"dnstap": {"enable": true, "unix-socket": "dnstap.sock"}}}"#),
    ("/network/tls/cert-file", r#"{"network": {"tls": {"key-file": "key.pem"}}}"#),
    ("/network/tls/key-file", r#"{"network": {"tls": {"cert-file": "cert.pem"}}}"#),
    ("/local-data/rules/0/name", r#"{"local-data": {"rules": [{"address": "192.0.2.1"}]}}"#),
    ("/local-data/rules/0/address", r#"{"local-data": {"rules": [{"name": "a.example"}]}}"#),
    ("/local-data/rules/0/subtree", r#"{"local-data": {"rules": [{"name": "a.example"}]}}"#),
    ("/local-data/rules/0/ttl", r#"{"local-data": {"rules": [{"name": "a.example", "address": "192.0.2.1"}]}}"#),
    ("/local-data/rules/0/tags", r#"{"local-data": {"rules": [{"name": "a.example", "address": "192.0.2.1"}]}}"#),
    ("/forward/0/servers/0/hostname", r#"{"forward": [{"servers": [{"transport": "tls"}]}]}"#),
    ("/forward/0/servers/0/ca-file", r#"{"forward": [{"servers": [{"transport": "tls", "hostname": "ns.example"}]}]}"#),
    ("/forward/0/servers/0/pin-sha256", r#"{"forward": [{"servers": [{"transport": "tls"}]}]}"#),
    (
        "/cache/prefill/0/",
        r#"{"cache": {"prefill": [{"origin": ".", "url": "https://127.0.0.1:9/root.zone", "ca-file": "ca.pem"}]}}"#,
    ),
    // DNSSEC values reach the Lua only with validation on (the kresd wrapper still keeps it
    // offline); read-only files, so kresd never tries to bootstrap a key file.
    ("/dnssec/", r#"{"dnssec": {"enable": true}}"#),
    ("/dnssec/trust-anchors-files/", r#"{"dnssec": {"trust-anchors-files": [{"read-only": true}]}}"#),
    ("/views/0/subnets", r#"{"views": [{"answer": "refused"}]}"#),
    ("/views/0/dst-subnet", r#"{"views": [{"answer": "refused"}]}"#),
    ("/views/0/protocols", r#"{"views": [{"answer": "refused"}]}"#),
    ("/network/listen/0/kind", r#"{"network": {"listen": [{"interface": "127.0.0.1@5353"}]}}"#),
    ("/forward/0/servers/0/transport", r#"{"forward": [{"servers": [{"hostname": "ns.example"}]}]}"#),
    ("/fallback/servers/0/transport", r#"{"fallback": {"servers": [{"hostname": "ns.example"}]}}"#),
    ("/fallback/servers/0/hostname", r#"{"fallback": {"servers": [{"transport": "tls"}]}}"#),
    ("/fallback/servers/0/ca-file", r#"{"fallback": {"servers": [{"transport": "tls", "hostname": "ns.example"}]}}"#),
    ("/fallback/servers/0/pin-sha256", r#"{"fallback": {"servers": [{"transport": "tls"}]}}"#),
    ("/local-data/rules/0/tags", r#"{"views": [{"subnets": ["192.0.2.0/24"], "tags": ["t"]}]}"#),
    ("/local-data/rpz/0/tags", r#"{"views": [{"subnets": ["192.0.2.0/24"], "tags": ["t"]}]}"#),
    ("/network/listen/0/unix-socket", r#"{"network": {"listen": [{"kind": "dot"}]}}"#),
    (
        "/network/address-renumbering/",
        r#"{"network": {"address-renumbering": [{"source": "10.0.0.0/8", "destination": "192.0.2.0"}]}}"#,
    ),
    // API tokens exist only with the API over TCP.
    (
        "/management/tokens/0/",
        r#"{"management": {"interface": "127.0.0.1@5000", "tokens": [{"name": "ops", "file": "token.txt"}]}}"#,
    ),
];

/// Harmless values where the schema's title does not say enough.
const HARMLESS: &[(&str, &str)] = &[
    ("/network/out-interface-v6", "::1"),
    ("/network/tls/sticket-secret", "0123456789abcdef0123456789abcdef"),
    ("/cache/ttl-max", "1d"),
    ("/cache/prefill/0/origin", "."),
    ("/cache/prefill/0/refresh-interval", "1d"),
    ("/cache/prefill/0/url", "https://www.internic.net/domain/root.zone"),
    ("/cache/prefetch/prediction/window", "15m"),
    ("/dns64/prefix", "64:ff9b::/96"),
    ("/dns64/exclude-subnets/0", "2001:db8::/32"),
    ("/management/unix-socket-mode", "0600"),
];

/// Leaves (by pointer prefix) whose every value is refused with kresd 5.6, whatever it is
/// (features of Knot Resolver 6), so only rejections can be observed there.
const REFUSED_ON_5_6: &[&str] = &["/lua/policy-script"];

fn refused_on_5_6(pointer: &str) -> bool {
    REFUSED_ON_5_6.iter().any(|prefix| pointer.starts_with(prefix))
}

// ------------------------------------------------------------------------------------------
// The hostile corpus.

/// Hostile strings checked textually. Each carries the bare identifier `INJECTED` where it would
/// land in code if the string escaped its literal.
fn hostile_strings() -> Vec<(&'static str, String)> {
    let strings: Vec<(&str, String)> = vec![
        ("double quote", r#"x" INJECTED() --"#.into()),
        ("single quote", "x' INJECTED() --".into()),
        ("long bracket", "]] INJECTED() --[[".into()),
        ("long bracket level 1 and 2", "]=] INJECTED() ]==] INJECTED() --".into()),
        ("newline", "x\nINJECTED()\n--".into()),
        ("crlf", "x\r\nINJECTED()\r\n--".into()),
        ("cr", "x\rINJECTED()\r--".into()),
        ("backslash quote", r#"x\" INJECTED() --"#.into()),
        ("backslash newline", "x\\\nINJECTED()\n--".into()),
        ("trailing backslash", "INJECTED\\".into()),
        ("nul", "x\0\" INJECTED() --".into()),
        ("nul only", "\0".into()),
        ("concatenation", "\" .. INJECTED() .. \"".into()),
        ("dot dot path", "../../../../../../../../etc/INJECTED".into()),
        ("os.execute chunk", "os.execute('touch /tmp/INJECTED') INJECTED()".into()),
        ("os.exit chunk", "INJECTED() os.exit(1)".into()),
        ("return expression", "return INJECTED()".into()),
        ("comment opener", "--[[ INJECTED".into()),
        ("lua escapes, raw", r"\z\u{41}\x41\065\n\ INJECTED".into()),
        ("jinja syntax", "{{ INJECTED }}{% raw %}{# INJECTED #}{{ config }}".into()),
        ("format directives", "%s%d%q%% INJECTED".into()),
        ("shell", "$(INJECTED) `INJECTED`; INJECTED".into()),
        ("non-ascii", "é中文\u{202e}\u{feff}\u{2028}\u{85}\u{7f} INJECTED() \"'".into()),
        ("emoji", "😀\" INJECTED() --".into()),
        ("control characters", "\t\u{b}\u{c}\u{1b}[31m\" INJECTED() --".into()),
        ("very long, then a quote", "A".repeat(100_000) + "\" INJECTED() --"),
        ("very long, plain", "a".repeat(70_000) + "INJECTED"),
        ("valid domain", "INJECTED.example.".into()),
        ("bare word", "INJECTED".into()),
        ("domain, then a quote", "example.com\" INJECTED() --".into()),
        ("address, then a quote", "127.0.0.1\" INJECTED() --".into()),
        ("address with port, then a newline", "127.0.0.1@53\nINJECTED()".into()),
        ("network, then a quote", "192.0.2.0/24\" INJECTED() --".into()),
        ("path, then a quote", "/tmp/x\" INJECTED() --".into()),
        ("duration, then a newline", "1s\nINJECTED()".into()),
        ("size, then a quote", "1M\" INJECTED() --".into()),
        ("enum value, then a quote", "dns\" INJECTED() --".into()),
    ];
    strings
}

/// Payloads that act if they ever run: they create a marker file under `markers` and exit. They
/// are relative paths without `..` segments, so they are harmless as file names in a private
/// directory (kresd runs with them as paths).
fn acting_payloads(markers: &Path, leaf: usize) -> Vec<(&'static str, String)> {
    let marker = |name: &str| format!("io.open('{}/INJECTED-{leaf}-{name}','w'):close()", markers.display());
    vec![
        // A whole chunk, and an expression: what `loadstring(value)` or `'return ' .. value` would run.
        ("acting chunk", marker("chunk")),
        ("acting double quote", format!("x\") {} os.exit(42) --", marker("dq"))),
        ("acting single quote", format!("x') {} os.exit(43) --", marker("sq"))),
        ("acting long bracket", format!("]]]=]]==] {} os.exit(44) --", marker("lb"))),
        ("acting newline", format!("x\n{} os.exit(45)\n--", marker("nl"))),
    ]
}

// ------------------------------------------------------------------------------------------
// The schema walk.

#[derive(Clone, Debug)]
enum Step {
    /// Into property `name` of the object schema `node`.
    Prop(String, Value),
    /// Into the items of an array.
    Item,
    /// Into the values of a map (`additionalProperties`); `key` is a harmless key.
    Value(String),
    /// The key of a map whose values are `values` is the target.
    Key(Value),
}

#[derive(Clone, Debug)]
struct Leaf {
    pointer: String,
    steps: Vec<Step>,
    /// The leaf's own schema (for a harmless value).
    node: Value,
}

struct Schema {
    defs: Map<String, Value>,
}

impl Schema {
    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.strip_prefix("#/$defs/").unwrap_or_else(|| panic!("unknown $ref {reference}"));
                self.resolve(self.defs.get(name).unwrap_or_else(|| panic!("no $defs/{name}")))
            }
            None => node,
        }
    }

    fn walk(&self, node: &Value, pointer: &str, steps: &[Step], out: &mut Vec<Leaf>, depth: usize) {
        assert!(depth < 32, "schema nested too deep at {pointer}");
        let node = self.resolve(node);
        let types: Vec<&str> = match node.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if types.contains(&"string") {
            out.push(Leaf { pointer: pointer.to_owned(), steps: steps.to_vec(), node: node.clone() });
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                let mut next = steps.to_vec();
                next.push(Step::Prop(name.clone(), node.clone()));
                self.walk(child, &format!("{pointer}/{name}"), &next, out, depth + 1);
            }
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            for branch in node.get(combinator).and_then(Value::as_array).into_iter().flatten() {
                self.walk(branch, pointer, steps, out, depth + 1);
            }
        }
        if let Some(items) = node.get("items") {
            let mut next = steps.to_vec();
            next.push(Step::Item);
            self.walk(items, &format!("{pointer}/0"), &next, out, depth + 1);
        }
        if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
            let key = node.get("propertyNames").map_or_else(|| "k".to_owned(), |names| self.harmless_string(names));
            let mut next = steps.to_vec();
            next.push(Step::Value(key));
            self.walk(values, &format!("{pointer}/*"), &next, out, depth + 1);
            let mut next = steps.to_vec();
            next.push(Step::Key(values.clone()));
            out.push(Leaf { pointer: format!("{pointer}/{{key}}"), steps: next, node: json!({"type": "string"}) });
        }
    }

    /// A harmless value of a schema, for required siblings and for checking each frame.
    fn harmless(&self, node: &Value) -> Value {
        let node = self.resolve(node);
        if let Some(value) = node.get("const") {
            return value.clone();
        }
        if let Some(first) = node.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
            return first.clone();
        }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let Some(branches) = node.get(combinator).and_then(Value::as_array) {
                let branch = branches
                    .iter()
                    .find(|b| self.resolve(b).get("type") != Some(&json!("null")) && b.get("minItems").is_none())
                    .expect("a non-null branch");
                return self.harmless(branch);
            }
        }
        match node.get("type").and_then(Value::as_str) {
            Some("string") => Value::String(self.harmless_string(node)),
            Some("integer") | Some("number") => node.get("minimum").cloned().unwrap_or(json!(1)),
            Some("boolean") => json!(false),
            Some("array") => json!([self.harmless(&node["items"])]),
            Some("object") => {
                let mut object = Map::new();
                for name in node.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let name = name.as_str().expect("names");
                    object.insert(name.to_owned(), self.harmless(&node["properties"][name]));
                }
                Value::Object(object)
            }
            other => panic!("no harmless value for type {other:?} in {node}"),
        }
    }

    fn harmless_string(&self, node: &Value) -> String {
        let node = self.resolve(node);
        let title = node.get("title").and_then(Value::as_str).unwrap_or("");
        let value = match title {
            "file path" => "file.txt",
            "directory path" => "dir",
            "duration" => "1s",
            "size" => "1232B",
            "tag" => "t",
            t if t.contains("@port") => "127.0.0.1@53",
            "SHA-256 key pin" => "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            t if t.contains("domain name") => "a.example",
            t if t.contains("network") => "192.0.2.0/24",
            t if t.contains("interface") => "127.0.0.1@53",
            t if t.contains("IP address") => "192.0.2.1",
            _ => "x",
        };
        value.to_owned()
    }

    /// A harmless value for a leaf.
    fn harmless_leaf(&self, leaf: &Leaf) -> String {
        if let Some((_, value)) = HARMLESS.iter().find(|(pointer, _)| *pointer == leaf.pointer) {
            return (*value).to_owned();
        }
        match self.harmless(&leaf.node) {
            Value::String(text) => text,
            other => panic!("{}: a harmless value that is no string: {other}", leaf.pointer),
        }
    }

    /// The document putting `value` at `leaf`, with the required siblings of every object on
    /// the way when `siblings`.
    fn build(&self, steps: &[Step], value: &Value, siblings: bool) -> Value {
        let Some((step, rest)) = steps.split_first() else { return value.clone() };
        match step {
            Step::Prop(name, node) => {
                let mut object = Map::new();
                for required in node.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let required = required.as_str().expect("names");
                    if siblings && required != name {
                        object.insert(required.to_owned(), self.harmless(&node["properties"][required]));
                    }
                }
                object.insert(name.clone(), self.build(rest, value, siblings));
                Value::Object(object)
            }
            Step::Item => json!([self.build(rest, value, siblings)]),
            Step::Value(key) => json!({ key.clone(): self.build(rest, value, siblings) }),
            Step::Key(values) => {
                let key = value.as_str().expect("a key is a string").to_owned();
                json!({ key: self.harmless(values) })
            }
        }
    }
}

/// Merges `patch` into `base`: objects key by key, arrays item by item when `items` (else the
/// patch's array replaces the base's).
fn merge(base: &mut Value, patch: &Value, items: bool) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(key) {
                    Some(existing) => merge(existing, value, items),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(patch)) if items => {
            for (i, value) in patch.iter().enumerate() {
                match base.get_mut(i) {
                    Some(existing) => merge(existing, value, items),
                    None => base.push(value.clone()),
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

// ------------------------------------------------------------------------------------------
// A small Lua lexer: enough to tell code from literals and comments the way LuaJIT does.

#[derive(Debug)]
struct Literal {
    bytes: Vec<u8>,
    /// The code just before the literal, trimmed (to see what it is handed to).
    before: String,
}

#[derive(Debug, Default)]
struct Lexed {
    /// The source with every literal replaced by `""` and every comment by a space.
    code: String,
    literals: Vec<Literal>,
}

/// At `i`, a long bracket `[`, `=`*, `[`: its level.
fn long_open(src: &[u8], i: usize) -> Option<usize> {
    if src.get(i) != Some(&b'[') {
        return None;
    }
    let level = src[i + 1..].iter().take_while(|&&b| b == b'=').count();
    (src.get(i + 1 + level) == Some(&b'[')).then_some(level)
}

/// The body of the long bracket of `level` opening at `i`, and the index after its close.
fn long_body(src: &[u8], i: usize, level: usize) -> Result<(&[u8], usize), String> {
    let start = i + level + 2;
    let close: Vec<u8> = std::iter::once(b']').chain(std::iter::repeat_n(b'=', level)).chain([b']']).collect();
    let end = src[start..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .ok_or_else(|| format!("unfinished long bracket at byte {i}"))?;
    Ok((&src[start..start + end], start + end + close.len()))
}

fn lex(source: &str) -> Result<Lexed, String> {
    let src = source.as_bytes();
    let mut out = Lexed::default();
    let mut code: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if src[i..].starts_with(b"--") {
            if let Some(level) = long_open(src, i + 2) {
                i = long_body(src, i + 2, level)?.1;
            } else {
                i = src[i..].iter().position(|&b| b == b'\n').map_or(src.len(), |p| i + p);
            }
            code.push(b' ');
        } else if let Some(level) = long_open(src, i) {
            let (body, next) = long_body(src, i, level)?;
            let body = body.strip_prefix(b"\r\n").or_else(|| body.strip_prefix(b"\n")).unwrap_or(body);
            out.literals.push(Literal { bytes: body.to_vec(), before: before(&code) });
            code.extend_from_slice(b"\"\"");
            i = next;
        } else if c == b'"' || c == b'\'' {
            let (bytes, next) = short_string(src, i)?;
            out.literals.push(Literal { bytes, before: before(&code) });
            code.extend_from_slice(b"\"\"");
            i = next;
        } else {
            code.push(c);
            i += 1;
        }
    }
    out.code = String::from_utf8_lossy(&code).into_owned();
    Ok(out)
}

fn before(code: &[u8]) -> String {
    let text = String::from_utf8_lossy(code);
    let text = text.trim_end();
    let start = text.char_indices().rev().nth(39).map_or(0, |(i, _)| i);
    text[start..].to_owned()
}

/// A quoted string opening at `i`: its bytes (escapes decoded) and the index after it.
fn short_string(src: &[u8], i: usize) -> Result<(Vec<u8>, usize), String> {
    let quote = src[i];
    let mut bytes = Vec::new();
    let mut j = i + 1;
    loop {
        let Some(&c) = src.get(j) else { return Err(format!("unfinished string at byte {i}")) };
        j += 1;
        match c {
            _ if c == quote => return Ok((bytes, j)),
            b'\n' | b'\r' => return Err(format!("unfinished string (raw line break) at byte {i}")),
            b'\\' => {
                let Some(&e) = src.get(j) else { return Err(format!("unfinished string at byte {i}")) };
                j += 1;
                match e {
                    b'a' => bytes.push(7),
                    b'b' => bytes.push(8),
                    b'f' => bytes.push(12),
                    b'n' | b'\n' => bytes.push(b'\n'),
                    b'r' => bytes.push(b'\r'),
                    b't' => bytes.push(b'\t'),
                    b'v' => bytes.push(11),
                    b'\\' | b'"' | b'\'' => bytes.push(e),
                    b'x' => {
                        let hex = src.get(j..j + 2).and_then(|h| std::str::from_utf8(h).ok());
                        let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                        bytes.push(byte.ok_or_else(|| format!("bad \\x escape at byte {j}"))?);
                        j += 2;
                    }
                    b'z' => {
                        while src.get(j).is_some_and(u8::is_ascii_whitespace) {
                            j += 1;
                        }
                    }
                    b'0'..=b'9' => {
                        let digits = src[j - 1..].iter().take(3).take_while(|b| b.is_ascii_digit()).count();
                        let number: u32 =
                            std::str::from_utf8(&src[j - 1..j - 1 + digits]).expect("ascii").parse().expect("digits");
                        bytes.push(u8::try_from(number).map_err(|_| format!("escape too large at byte {j}"))?);
                        j += digits - 1;
                    }
                    b'u' => {
                        let close = src[j..].iter().position(|&b| b == b'}').ok_or("bad \\u escape")?;
                        let hex = std::str::from_utf8(&src[j + 1..j + close]).map_err(|e| e.to_string())?;
                        let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or("bad \\u escape")?;
                        bytes.extend_from_slice(ch.to_string().as_bytes());
                        j += close + 1;
                    }
                    other => return Err(format!("invalid escape \\{} at byte {j}", other as char)),
                }
            }
            _ => bytes.push(c),
        }
    }
}

/// Tokens of code that a payload brings along when it escapes; counted against the same leaf
/// rendered with a harmless value.
const CODE_MARKERS: &[&str] = &["INJECTED", "os.exit", "os.execute", "io.open", "io.popen", "loadstring"];

/// Calls that would turn a literal into code (or load code named by it).
const LOADERS: &[&str] = &["loadstring(", "load(", "dofile(", "loadfile(", "require(", "modules.load(", "loadlib("];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The textual check of one rendered Lua against the same leaf rendered harmlessly. Returns
/// the problems found, and whether the payload is found verbatim in some literal.
fn check_text(lua: &str, harmless: &Lexed, payload: &str) -> (Vec<String>, bool) {
    let lexed = match lex(lua) {
        Ok(lexed) => lexed,
        Err(e) => return (vec![format!("the rendered Lua does not lex: {e}")], false),
    };
    let mut problems = Vec::new();
    for marker in CODE_MARKERS {
        let now = lexed.code.matches(marker).count();
        let was = harmless.code.matches(marker).count();
        if now > was {
            let at = lexed.code.find(marker).unwrap_or(0);
            let context: String = lexed.code[at.saturating_sub(60)..].chars().take(140).collect();
            problems.push(format!(
                "`{marker}` appears in code outside literals ({now} times, {was} with a harmless value): …{context}…"
            ));
        }
    }
    let mut verbatim = false;
    for literal in &lexed.literals {
        if contains(&literal.bytes, payload.as_bytes()) {
            verbatim = true;
            if let Some(loader) = LOADERS.iter().find(|l| literal.before.ends_with(*l)) {
                problems.push(format!("the value is handed to `{loader}` ({})", literal.before));
            }
        }
    }
    (problems, verbatim)
}

// ------------------------------------------------------------------------------------------
// Validation and rendering.

fn validate(document: &Value) -> Result<kres_manager::config::Validated, String> {
    let text = serde_json::to_string(document).expect("serializes");
    let parsed = schema_core::json::parse(&text, Some("hostile.json")).map_err(|r| format!("parse: {r}"))?;
    // lua-cqueues present, so that Graphite can be enabled (and its fields reach the Lua).
    let files = [(PathBuf::from("/usr/share/lua/5.1/cqueues/socket.lua"), FileKind::File)].into();
    let system = FakeSystem { version: Some(Version::new(5, 6, 0)), files, ..Default::default() };
    kres_manager::config::validate(&parsed, &system, ResolveOptions::default()).map_err(|r| r.to_string())
}

fn render(document: &Value, control_socket: &Path) -> Result<Option<String>, String> {
    let Ok(validated) = validate(document) else { return Ok(None) };
    let worker = WorkerContext { id: 0, control_socket: control_socket.to_owned() };
    render::render_worker(kres_tests::kresd::dialect(), &validated.config, &worker)
        .map(Some)
        .map_err(|e| format!("{e:#}"))
}

// ------------------------------------------------------------------------------------------
// kresd.

/// What one kresd load showed.
struct Loaded {
    /// `LOADED ok`, `LOADED error: ...` and `DONE` lines, or `SYNTAX ...`.
    result: String,
    status: Option<i32>,
    output: String,
}

/// Loads `lua` in kresd 5.6 inside `dir` through a wrapper that reports how the load went and
/// (with a traceback) and then lets the event loop run for 200 ms (so deferred code would run too), offline.
fn load_in_kresd(lua: &str, dir: &Path) -> Loaded {
    std::fs::create_dir_all(dir).expect("run dir");
    let worker = dir.join("worker.lua");
    let result = dir.join("result");
    std::fs::write(&worker, lua).expect("write worker.lua");
    let wrapper = format!(
        r#"local result = assert(io.open({result}, 'w'))
local chunk, err = loadfile({worker})
if not chunk then result:write('SYNTAX ', tostring(err), '\n') result:close() os.exit(3) end
local ok, err = xpcall(chunk, debug.traceback)
result:write(ok and 'LOADED ok' or ('LOADED error: ' .. tostring(err)), '\n')
result:flush()
-- Offline whatever the config said: no root trust anchor, no priming, nothing upstream.
pcall(trust_anchors.remove, '.')
for _, name in ipairs({{ 'priming', 'ta_signal_query', 'detect_time_skew', 'ta_sentinel', 'ta_update' }}) do
  pcall(modules.unload, name)
end
policy.add(policy.all(policy.REFUSE))
event.after(200, function() result:write('DONE\n') result:close() os.exit(0) end)
"#,
        result = kres_manager::kresd::lua::string(&result.to_string_lossy()),
        worker = kres_manager::kresd::lua::string(&worker.to_string_lossy()),
    );
    let wrapper_path = dir.join("wrapper.lua");
    std::fs::write(&wrapper_path, wrapper).expect("write wrapper");
    let mut child = Command::new(kres_tests::kresd::binary())
        .arg("-n")
        .arg("-c")
        .arg(&wrapper_path)
        .arg(dir)
        .env("KRESD_NO_LISTEN", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(dir.join("output.log")).expect("log")))
        .stderr(Stdio::from(std::fs::File::create(dir.join("errors.log")).expect("log")))
        .spawn()
        .expect("kresd starts");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    Loaded { result: read("result"), status, output: read("output.log") + &read("errors.log") }
}

// ------------------------------------------------------------------------------------------

#[test]
fn the_lexer_tells_code_from_literals() {
    let lexed =
        lex("a(\"x\\034y\\092\", 'q\\'') -- c \"no\"\nb([==[ ]] ]==] --[[ long\n]] c \"\\u{41}\\x41\\z   \\065\"")
            .unwrap();
    assert_eq!(lexed.code, "a(\"\", \"\")  \nb(\"\"   c \"\"");
    let literals: Vec<&[u8]> = lexed.literals.iter().map(|l| l.bytes.as_slice()).collect();
    assert_eq!(literals, vec![&b"x\"y\\"[..], b"q'", b" ]] ", b"AAA"]);
    assert!(lex("x = \"a\nb\"").is_err());
    assert!(lex("x = \"a\\\"").is_err());
    let escaped = kres_manager::kresd::lua::string("]] \" \\ \n \0 é INJECTED()");
    let lexed = lex(&format!("x = {escaped}")).unwrap();
    assert!(!lexed.code.contains("INJECTED"));
    assert_eq!(lexed.literals[0].bytes, "]] \" \\ \n \0 é INJECTED()".as_bytes());
}

#[test]
fn no_config_value_runs_lua() {
    let started = Instant::now();
    let root = kres_manager::config::json_schema();
    let schema = Schema { defs: root["$defs"].as_object().expect("$defs").clone() };

    // Every string-typed leaf, once per pointer.
    let mut found = Vec::new();
    schema.walk(&root, "", &[], &mut found, 0);
    let mut seen = BTreeSet::new();
    found.retain(|leaf| seen.insert(leaf.pointer.clone()));
    let excluded: Vec<&str> = found.iter().map(|l| l.pointer.as_str()).filter(|p| EXCLUDED.contains(p)).collect();
    assert_eq!(excluded, EXCLUDED, "the operator's Lua leaves are not where they were");
    let leaves: Vec<Leaf> = found.iter().filter(|l| !EXCLUDED.contains(&l.pointer.as_str())).cloned().collect();
    assert!(leaves.len() > 50, "only {} string leaves found: the schema walk is broken", leaves.len());

    let scratch = TempDir::new("no-injection");
    let markers = scratch.0.join("m");
    std::fs::create_dir_all(&markers).expect("markers dir");
    let port = free_port();
    let base = json!({
        "rundir": scratch.0.join("rundir").to_string_lossy(),
        "dnssec": {"enable": false},
        "options": {"priming": false},
        "network": {"listen": [{"interface": format!("127.0.0.1@{port}")}]},
        "cache": {"storage": scratch.0.join("cache").to_string_lossy()},
    });
    // Required siblings, then the hand-written frames, then the leaf's own value (which wins).
    let document = |leaf: &Leaf, value: &Value| {
        let mut framed = schema.build(&leaf.steps, value, true);
        for (prefix, frame) in FRAMES {
            if leaf.pointer.starts_with(prefix) {
                merge(&mut framed, &serde_json::from_str(frame).expect("frame is JSON"), true);
            }
        }
        merge(&mut framed, &schema.build(&leaf.steps, value, false), true);
        let mut doc = base.clone();
        merge(&mut doc, &framed, false);
        doc
    };

    // Every frame must hold a harmless value, or the leaf is never really tried.
    let mut bad_frames = Vec::new();
    let mut harmless_lexed = BTreeMap::new();
    for leaf in &leaves {
        let value = Value::String(schema.harmless_leaf(leaf));
        let doc = document(leaf, &value);
        match validate(&doc) {
            Ok(_) if refused_on_5_6(&leaf.pointer) => {
                bad_frames.push(format!("{}: listed as refused on 5.6 but accepted", leaf.pointer));
            }
            Ok(_) => {
                let lua = render(&doc, Path::new("/nonexistent/control"))
                    .expect("a harmless value renders")
                    .expect("validated");
                let lexed = lex(&lua)
                    .unwrap_or_else(|e| panic!("{}: the harmless rendering does not lex: {e}\n{lua}", leaf.pointer));
                harmless_lexed.insert(leaf.pointer.clone(), lexed);
            }
            Err(_) if refused_on_5_6(&leaf.pointer) => {}
            Err(report) => bad_frames.push(format!("{} with {value}: {doc}\n  {report}", leaf.pointer)),
        }
    }
    assert!(
        bad_frames.is_empty(),
        "frames that do not validate with a harmless value (add a FRAMES entry):\n{}",
        bad_frames.join("\n")
    );

    // Every (leaf, hostile string) pair.
    let corpus = hostile_strings();
    let (mut tried, mut rejected, mut rendered, mut verbatim) = (0, 0, 0, 0);
    let mut accepted_leaves = BTreeSet::new();
    let mut failures = Vec::new();
    let mut kresd_jobs = Vec::new();
    for (index, leaf) in leaves.iter().enumerate() {
        let Some(harmless) = harmless_lexed.get(&leaf.pointer) else { continue };
        let acting = acting_payloads(&markers, index);
        for (name, payload) in
            corpus.iter().map(|(n, p)| (*n, p.clone())).chain(acting.iter().map(|(n, p)| (*n, p.clone())))
        {
            tried += 1;
            let doc = document(leaf, &Value::String(payload.clone()));
            let lua = match render(&doc, Path::new("/nonexistent/control")) {
                Ok(None) => {
                    rejected += 1;
                    continue;
                }
                Ok(Some(lua)) => lua,
                Err(e) => {
                    failures
                        .push(format!("{} [{name}]: accepted by validation but does not render: {e}", leaf.pointer));
                    continue;
                }
            };
            rendered += 1;
            accepted_leaves.insert(leaf.pointer.clone());
            let (problems, found) = check_text(&lua, harmless, &payload);
            verbatim += usize::from(found);
            for problem in problems {
                failures.push(format!("{} [{name}]: {problem}", leaf.pointer));
            }
            if name.starts_with("acting") {
                kresd_jobs.push((leaf.pointer.clone(), name, doc, payload));
            }
        }
    }

    // The acting payloads, loaded for real, a few kresd at a time.
    let jobs = Mutex::new(kresd_jobs.into_iter().enumerate().collect::<Vec<_>>());
    let kresd_failures = Mutex::new(Vec::new());
    let load_errors = Mutex::new(BTreeMap::<String, String>::new());
    let loaded = std::sync::atomic::AtomicUsize::new(0);
    let reached = std::sync::atomic::AtomicUsize::new(0);
    let not_reached = Mutex::new(Vec::new());
    let absent = Mutex::new(BTreeSet::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let Some((n, (pointer, name, doc, payload))) = jobs.lock().unwrap().pop() else { break };
                    let dir = scratch.0.join(format!("run-{n}"));
                    let lua = render(&doc, &dir.join("control")).expect("renders").expect("valid");
                    let run = load_in_kresd(&lua, &dir);
                    loaded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Did kresd get as far as the statement holding the payload?
                    let escaped = kres_manager::kresd::lua::string(&payload);
                    let escaped = &escaped[1..escaped.len() - 1];
                    let payload_line = lua.lines().position(|l| l.contains(escaped)).map(|i| i + 1);
                    // The line of the main chunk that was running when the load failed.
                    let error_line = run.result.split_once("LOADED error: ").and_then(|(_, e)| {
                        let frame = e.lines().find(|l| l.contains("worker.lua:") && l.contains("in main chunk"))?;
                        frame.split("worker.lua:").nth(1)?.split(':').next()?.parse::<usize>().ok()
                    });
                    match (payload_line, error_line) {
                        (Some(p), Some(e)) if e < p => not_reached.lock().unwrap().push(format!("{pointer} [{name}]")),
                        (Some(_), _) => {
                            reached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        (None, _) => {
                            absent.lock().unwrap().insert(pointer.clone());
                        }
                    }
                    let complain = |what: &str| {
                        kresd_failures.lock().unwrap().push(format!(
                            "{pointer} [{name}]: {what} (exit {:?})\n  result: {}\n  kresd said: {}",
                            run.status,
                            run.result.trim(),
                            run.output.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                        ))
                    };
                    if run.result.starts_with("SYNTAX") {
                        complain("the rendered Lua does not parse");
                    } else if !run.result.contains("DONE") || run.status != Some(0) {
                        complain("kresd did not run to the end of the wrapper");
                    }
                    if let Some((_, error)) = run.result.split_once("LOADED error: ") {
                        let error = error.trim_end().trim_end_matches("DONE").trim_end().replace('\n', " | ");
                        load_errors.lock().unwrap().entry(pointer.clone()).or_insert(error);
                    }
                }
            });
        }
    });
    let mut kresd_failures = kresd_failures.into_inner().unwrap();
    let planted: Vec<String> = std::fs::read_dir(&markers)
        .expect("markers dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for marker in &planted {
        let leaf = marker.split('-').nth(1).and_then(|i| i.parse::<usize>().ok()).map(|i| leaves[i].pointer.clone());
        kresd_failures.push(format!("marker file {marker} was created: a payload ran (leaf {leaf:?})"));
    }

    let load_errors = load_errors.into_inner().unwrap();
    println!(
        "no injection: {} string leaves ({} excluded: {}), {} hostile strings + {} acting payloads per leaf",
        leaves.len(),
        EXCLUDED.len(),
        EXCLUDED.join(", "),
        corpus.len(),
        acting_payloads(&markers, 0).len()
    );
    println!(
        "  pairs tried {tried}, rejected by validation {rejected}, rendered {rendered} (payload verbatim in a literal: {verbatim}), loaded in kresd {}, in {:.1?}",
        loaded.into_inner(),
        started.elapsed()
    );
    let not_reached = not_reached.into_inner().unwrap();
    println!(
        "  in kresd: the statement holding the payload was executed in {} loads; an earlier statement failed in {} ({}); the payload is not in the Lua of {}",
        reached.into_inner(),
        not_reached.len(),
        not_reached.join(", "),
        absent.into_inner().unwrap().into_iter().collect::<Vec<_>>().join(", ")
    );
    println!(
        "  leaves accepting some hostile string ({}): {}",
        accepted_leaves.len(),
        accepted_leaves.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    for (pointer, error) in &load_errors {
        println!("  kresd load error (not an injection; the payload is a bad value there) at {pointer}: {error}");
    }
    failures.extend(kresd_failures);
    assert!(failures.is_empty(), "{} injection problems:\n{}", failures.len(), failures.join("\n"));
}
