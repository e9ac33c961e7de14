//! A small XML-RPC client over supervisord's unix socket: HTTP/1.0 (one request per
//! connection), requests encoded by hand, responses parsed by a minimal XML reader that accepts
//! what Python's `xmlrpc.client` writes (and whitespace, comments, entities it may add).
//!
//! This is the one module where blocking I/O happens: [`Client::call`] runs the whole exchange
//! under [`tokio::task::spawn_blocking`], with socket timeouts and an overall deadline.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// An XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Double(f64),
    String(String),
    Array(Vec<Value>),
    Struct(BTreeMap<String, Value>),
    Nil,
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A struct member.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.get(key),
            _ => None,
        }
    }
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// Connecting, writing or reading failed.
    Io(std::io::Error),
    /// No complete answer before the deadline.
    Timeout(Duration),
    /// The answer is not a well-formed XML-RPC response.
    Protocol(String),
    /// The server answered with a fault.
    Fault { code: i32, message: String },
}

/// A client for one unix socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: PathBuf) -> Client {
        Client { socket }
    }

    /// Calls `method` and waits at most `timeout` for the answer (the blocking exchange runs on
    /// tokio's blocking pool).
    pub async fn call(&self, method: &str, params: Vec<Value>, timeout: Duration) -> Result<Value, CallError> {
        let socket = self.socket.clone();
        let body = encode_call(method, &params);
        let task = tokio::task::spawn_blocking(move || exchange(&socket, &body, timeout));
        match tokio::time::timeout(timeout + Duration::from_millis(100), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(CallError::Protocol(format!("the calling task failed: {join}"))),
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }
}

fn exchange(socket: &std::path::Path, body: &str, timeout: Duration) -> Result<Value, CallError> {
    let deadline = Instant::now() + timeout;
    let remaining = || deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let mut stream = UnixStream::connect(socket).map_err(CallError::Io)?;
    stream.set_write_timeout(Some(timeout)).map_err(CallError::Io)?;
    let request = format!(
        "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(CallError::Io)?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let Some(left) = remaining() else { return Err(CallError::Timeout(timeout)) };
        stream.set_read_timeout(Some(left)).map_err(CallError::Io)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(CallError::Timeout(timeout));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CallError::Io(e)),
        }
    }
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| CallError::Protocol(format!("no end of HTTP headers in {:?}", truncate(&response))))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(CallError::Protocol(format!("HTTP status {status:?}: {}", truncate(body))));
    }
    parse_response(body)
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(300) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The request body of one call.
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName><params>");
    for param in params {
        out.push_str("<param>");
        encode_value(&mut out, param);
        out.push_str("</param>");
    }
    out.push_str("</params></methodCall>\n");
    out
}

fn encode_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => out.push_str(&format!("<int>{i}</int>")),
        Value::Bool(b) => out.push_str(&format!("<boolean>{}</boolean>", u8::from(*b))),
        Value::Double(d) => out.push_str(&format!("<double>{d:?}</double>")),
        Value::String(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            items.iter().for_each(|item| encode_value(out, item));
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            for (name, value) in members {
                out.push_str("<member><name>");
                escape_into(out, name);
                out.push_str("</name>");
                encode_value(out, value);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
        Value::Nil => out.push_str("<nil/>"),
    }
    out.push_str("</value>");
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
}

/// Parses a `methodResponse`: its one param, or its fault.
pub fn parse_response(xml: &str) -> Result<Value, CallError> {
    let mut reader = Reader { text: xml, pos: 0 };
    let protocol = CallError::Protocol;
    reader.open("methodResponse").map_err(protocol)?;
    let tag = reader.next_open().map_err(protocol)?;
    match tag.as_str() {
        "params" => {
            reader.open("param").map_err(protocol)?;
            let value = reader.value().map_err(protocol)?;
            reader.close("param").map_err(protocol)?;
            Ok(value)
        }
        "fault" => {
            let fault = reader.value().map_err(protocol)?;
            let code = fault.get("faultCode").and_then(Value::as_i64).unwrap_or(0);
            let message = fault.get("faultString").and_then(Value::as_str).unwrap_or("").to_owned();
            Err(CallError::Fault { code: code as i32, message })
        }
        other => Err(CallError::Protocol(format!("unexpected <{other}> in methodResponse"))),
    }
}

/// A forward-only reader of the XML subset XML-RPC uses (elements, text, entities; no
/// attributes are needed, and any present are skipped).
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Skips whitespace, the XML declaration and comments.
    fn skip_misc(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            let (start, end) = if trimmed.starts_with("<?") {
                ("<?", "?>")
            } else if trimmed.starts_with("<!--") {
                ("<!--", "-->")
            } else {
                return;
            };
            match trimmed[start.len()..].find(end) {
                Some(i) => self.pos += start.len() + i + end.len(),
                None => {
                    self.pos = self.text.len();
                    return;
                }
            }
        }
    }

    /// Reads the next tag: (`name`, closing, self-closing).
    fn tag(&mut self) -> Result<(String, bool, bool), String> {
        self.skip_misc();
        let rest = self.rest();
        if !rest.starts_with('<') {
            return Err(format!("expected a tag at {:?}", truncate(rest)));
        }
        let end = rest.find('>').ok_or("unterminated tag")?;
        let inner = &rest[1..end];
        self.pos += end + 1;
        let closing = inner.starts_with('/');
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_start_matches('/').trim_end_matches('/');
        let name = inner.split_whitespace().next().unwrap_or("").to_owned();
        Ok((name, closing, self_closing))
    }

    fn next_open(&mut self) -> Result<String, String> {
        match self.tag()? {
            (name, false, false) => Ok(name),
            (name, ..) => Err(format!("unexpected </{name}> or <{name}/>")),
        }
    }

    fn open(&mut self, expected: &str) -> Result<(), String> {
        let name = self.next_open()?;
        if name == expected { Ok(()) } else { Err(format!("expected <{expected}>, found <{name}>")) }
    }

    fn close(&mut self, expected: &str) -> Result<(), String> {
        match self.tag()? {
            (name, true, _) if name == expected => Ok(()),
            (name, ..) => Err(format!("expected </{expected}>, found <{name}>")),
        }
    }

    /// Text up to the next `<`, with entities decoded.
    fn text(&mut self) -> Result<String, String> {
        let rest = self.rest();
        let end = rest.find('<').unwrap_or(rest.len());
        self.pos += end;
        unescape(&rest[..end])
    }

    /// Reads `<value>...</value>` (the `<value>` tag included).
    fn value(&mut self) -> Result<Value, String> {
        self.open("value")?;
        // A value without a type element is a string.
        let text = self.text()?;
        if self.rest().starts_with("</") {
            self.close("value")?;
            return Ok(Value::String(text));
        }
        if !text.trim().is_empty() {
            return Err(format!("text {:?} before a type element", truncate(&text)));
        }
        let (kind, closing, self_closing) = self.tag()?;
        if closing {
            return Err(format!("unexpected </{kind}> in <value>"));
        }
        let value = if self_closing {
            match kind.as_str() {
                "nil" => Value::Nil,
                "string" => Value::String(String::new()),
                "array" => Value::Array(Vec::new()),
                "struct" => Value::Struct(BTreeMap::new()),
                other => return Err(format!("empty <{other}/>")),
            }
        } else {
            match kind.as_str() {
                "int" | "i4" | "i8" => {
                    let text = self.text()?;
                    Value::Int(text.trim().parse().map_err(|_| format!("bad integer {text:?}"))?)
                }
                "boolean" => Value::Bool(match self.text()?.trim() {
                    "1" => true,
                    "0" => false,
                    other => return Err(format!("bad boolean {other:?}")),
                }),
                "double" => {
                    let text = self.text()?;
                    Value::Double(text.trim().parse().map_err(|_| format!("bad double {text:?}"))?)
                }
                "string" => Value::String(self.text()?),
                "nil" => Value::Nil,
                "array" => {
                    let mut items = Vec::new();
                    let data = self.tag()?;
                    if data != ("data".to_owned(), false, false) {
                        if data == ("data".to_owned(), false, true) {
                            self.close("array")?;
                            self.close("value")?;
                            return Ok(Value::Array(items));
                        }
                        return Err(format!("expected <data>, found <{}>", data.0));
                    }
                    loop {
                        self.skip_misc();
                        if self.rest().starts_with("</") {
                            self.close("data")?;
                            break;
                        }
                        items.push(self.value()?);
                    }
                    Value::Array(items)
                }
                "struct" => {
                    let mut members = BTreeMap::new();
                    loop {
                        self.skip_misc();
                        if self.rest().starts_with("</") {
                            break;
                        }
                        self.open("member")?;
                        self.open("name")?;
                        let name = self.text()?;
                        self.close("name")?;
                        let value = self.value()?;
                        self.close("member")?;
                        members.insert(name, value);
                    }
                    Value::Struct(members)
                }
                other => return Err(format!("unknown type <{other}>")),
            }
        };
        if !self_closing {
            self.close(&kind)?;
        }
        self.close("value")?;
        Ok(value)
    }
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or_else(|| format!("unterminated entity in {text:?}"))?;
        let entity = &rest[i + 1..i + end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded_and_escaped() {
        let body = encode_call("kres.startProcess", &[Value::String("a<&>".into()), Value::Double(1.5)]);
        assert!(body.contains("<methodName>kres.startProcess</methodName>"));
        assert!(body.contains("<value><string>a&lt;&amp;&gt;</string></value>"));
        assert!(body.contains("<value><double>1.5</double></value>"));
    }

    #[test]
    fn encoded_values_parse_back() {
        let mut members = BTreeMap::new();
        members.insert("pid".to_owned(), Value::Int(42));
        members.insert("name".to_owned(), Value::String("k & <x>".into()));
        members.insert("ok".to_owned(), Value::Bool(true));
        members.insert("list".to_owned(), Value::Array(vec![Value::Double(-0.25), Value::Nil, Value::Array(vec![])]));
        let value = Value::Struct(members);
        let mut xml = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
        encode_value(&mut xml, &value);
        xml.push_str("\n</param>\n</params>\n</methodResponse>\n");
        assert_eq!(parse_response(&xml).unwrap(), value);
    }

    #[test]
    fn python_style_responses_parse() {
        let xml = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n\
                   <value><string>kresd0[1]: a &#10;b&#x41;&quot;</string></value>\n<value>untyped</value>\n\
                   <value><i4>7</i4></value>\n<value><string/></value>\n</data></array></value>\n</param>\n\
                   </params>\n</methodResponse>\n";
        let value = parse_response(xml).unwrap();
        assert_eq!(
            value,
            Value::Array(vec![
                Value::String("kresd0[1]: a \nbA\"".into()),
                Value::String("untyped".into()),
                Value::Int(7),
                Value::String(String::new()),
            ])
        );
    }

    #[test]
    fn faults_are_decoded() {
        let xml = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n\
                   <name>faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n\
                   <name>faultString</name>\n<value><string>BAD_NAME: x</string></value>\n</member>\n\
                   </struct></value>\n</fault>\n</methodResponse>\n";
        match parse_response(xml) {
            Err(CallError::Fault { code: 10, message }) => assert_eq!(message, "BAD_NAME: x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for xml in ["", "<html>", "<methodResponse><params><param><value><int>x</int></value>", "<methodResponse>"] {
            assert!(matches!(parse_response(xml), Err(CallError::Protocol(_))), "{xml}");
        }
    }
}
