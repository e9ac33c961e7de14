//! HTTP/1.1 over a unix socket or TCP, one connection per request, with a timeout on the
//! connection and one on the whole exchange. The only place kresctl touches the network.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the management API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address; `host` is an IP address (IPv6 without brackets) or a name.
    Tcp { host: String, port: u16 },
}

impl Endpoint {
    /// Reads `--socket`: `http://HOST:PORT` (or `ADDR@PORT`, as the config writes it) for TCP,
    /// anything else is a unix socket path (`unix:` in front is allowed).
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        if let Some(rest) = text.strip_prefix("http://") {
            let authority = rest.split('/').next().unwrap_or("");
            return parse_authority(authority, ':')
                .ok_or_else(|| format!("{text:?} is not an http://HOST:PORT address, e.g. http://127.0.0.1:5000"));
        }
        if text.starts_with("https://") {
            return Err(format!("{text:?}: the API speaks plain HTTP only; write http://HOST:PORT or a socket path"));
        }
        if let Ok(address) = schema_core::AddrPort::parse(text)
            && let Some(port) = address.port
        {
            return Ok(Endpoint::Tcp { host: address.addr.to_string(), port: port.0 });
        }
        let path = text.strip_prefix("unix:").unwrap_or(text);
        if path.is_empty() {
            return Err("the socket path is empty".to_owned());
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }

    /// The `Host` header: the address for TCP, `localhost` for a socket.
    fn host_header(&self) -> String {
        match self {
            Endpoint::Unix(_) => "localhost".to_owned(),
            Endpoint::Tcp { .. } => self.to_string().trim_start_matches("http://").to_owned(),
        }
    }
}

/// `HOST:PORT` or `[V6]:PORT` (separator `:`), or `ADDR@PORT` (separator `@`).
fn parse_authority(text: &str, separator: char) -> Option<Endpoint> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(separator)?)
    } else {
        text.rsplit_once(separator)?
    };
    if host.is_empty() || (separator == ':' && host.contains(':') && !text.starts_with('[')) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    Some(Endpoint::Tcp { host: host.to_owned(), port })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "http://[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "http://{host}:{port}"),
        }
    }
}

/// How long to wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// For the connection to be accepted.
    pub connect: Duration,
    /// For the whole exchange, connection included.
    pub request: Duration,
}

/// One request: method, target (`/v1/config/workers?dry-run=true`), extra headers, body.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Request {
    pub fn new(method: Method, target: impl Into<String>) -> Request {
        Request { method, target: target.into(), headers: Vec::new(), body: None }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json(mut self, value: &serde_json::Value) -> Request {
        self.body = Some(("application/json", value.to_string().into_bytes()));
        self
    }
}

/// A whole response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why no response arrived.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{}", describe_io(.0))]
    Connect(#[source] std::io::Error),
    #[error("no connection within {} s", .0.as_secs_f64())]
    ConnectTimeout(Duration),
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the connection failed: {0}")]
    Http(#[source] hyper::Error),
    #[error("bad request: {0}")]
    Request(#[source] hyper::http::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// An I/O error in words, without the `(os error N)` noise.
fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => "no such file".to_owned(),
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let text = error.to_string();
            match text.find(" (os error") {
                Some(at) => text[..at].to_owned(),
                None => text,
            }
        }
    }
}

/// Sends `request` and waits for the whole response (blocking the calling thread).
pub fn send_blocking(endpoint: &Endpoint, request: Request, timeouts: Timeouts) -> Result<Response, TransportError> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(TransportError::Runtime)?;
    runtime.block_on(send(endpoint, request, timeouts))
}

/// Sends `request` and waits for the whole response.
pub async fn send(endpoint: &Endpoint, request: Request, timeouts: Timeouts) -> Result<Response, TransportError> {
    match tokio::time::timeout(timeouts.request, exchange(endpoint, request, timeouts.connect)).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Timeout(timeouts.request)),
    }
}

async fn exchange(endpoint: &Endpoint, request: Request, connect: Duration) -> Result<Response, TransportError> {
    let request = build(endpoint, request)?;
    match endpoint {
        Endpoint::Unix(path) => {
            let stream = connect_within(connect, tokio::net::UnixStream::connect(path)).await?;
            over(stream, request).await
        }
        Endpoint::Tcp { host, port } => {
            let stream = connect_within(connect, tokio::net::TcpStream::connect((host.as_str(), *port))).await?;
            over(stream, request).await
        }
    }
}

async fn connect_within<S>(
    limit: Duration,
    connecting: impl Future<Output = std::io::Result<S>>,
) -> Result<S, TransportError> {
    match tokio::time::timeout(limit, connecting).await {
        Ok(result) => result.map_err(TransportError::Connect),
        Err(_) => Err(TransportError::ConnectTimeout(limit)),
    }
}

fn build(endpoint: &Endpoint, request: Request) -> Result<hyper::Request<Full<Bytes>>, TransportError> {
    let mut builder = hyper::Request::builder()
        .method(request.method)
        .uri(request.target)
        .header(HOST, endpoint.host_header())
        .header(ACCEPT, "application/json");
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let body = match request.body {
        Some((content_type, bytes)) => {
            builder = builder.header(CONTENT_TYPE, content_type).header(CONTENT_LENGTH, bytes.len());
            Bytes::from(bytes)
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body)).map_err(TransportError::Request)
}

async fn over<S>(stream: S, request: hyper::Request<Full<Bytes>>) -> Result<Response, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(TransportError::Http)?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(TransportError::Http)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(TransportError::Http)?.to_bytes().to_vec();
    driver.abort();
    Ok(Response { status: parts.status, headers: parts.headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp { host: host.to_owned(), port }
    }

    #[test]
    fn socket_option_forms() {
        assert_eq!(Endpoint::parse("/run/kres.sock"), Ok(Endpoint::Unix("/run/kres.sock".into())));
        assert_eq!(Endpoint::parse("unix:/run/kres.sock"), Ok(Endpoint::Unix("/run/kres.sock".into())));
        assert_eq!(Endpoint::parse("relative.sock"), Ok(Endpoint::Unix("relative.sock".into())));
        assert_eq!(Endpoint::parse("http://127.0.0.1:5000"), Ok(tcp("127.0.0.1", 5000)));
        assert_eq!(Endpoint::parse("http://localhost:5000/"), Ok(tcp("localhost", 5000)));
        assert_eq!(Endpoint::parse("http://[::1]:5000"), Ok(tcp("::1", 5000)));
        assert_eq!(Endpoint::parse("127.0.0.1@5000"), Ok(tcp("127.0.0.1", 5000)));
        assert_eq!(Endpoint::parse("::1@5000"), Ok(tcp("::1", 5000)));
        for bad in ["http://127.0.0.1", "http://:5000", "http://h:0", "http://::1:5000", "https://h:1", ""] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoints_display_as_written() {
        assert_eq!(tcp("::1", 5000).to_string(), "http://[::1]:5000");
        assert_eq!(tcp("::1", 5000).host_header(), "[::1]:5000");
        assert_eq!(tcp("127.0.0.1", 80).to_string(), "http://127.0.0.1:80");
        assert_eq!(Endpoint::Unix("/x.sock".into()).host_header(), "localhost");
    }

    #[test]
    fn connection_errors_read_well() {
        let error = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(TransportError::Connect(error).to_string(), "no such file");
        let error = std::io::Error::from_raw_os_error(nix::libc::ECONNREFUSED);
        assert_eq!(TransportError::Connect(error).to_string(), "connection refused");
        assert_eq!(TransportError::Timeout(Duration::from_millis(1500)).to_string(), "no answer within 1.5 s");
    }

    #[test]
    fn a_missing_socket_fails_fast() {
        let timeouts = Timeouts { connect: Duration::from_secs(1), request: Duration::from_secs(2) };
        let endpoint = Endpoint::Unix("/nonexistent/kres-api.sock".into());
        let error = send_blocking(&endpoint, Request::new(Method::GET, "/"), timeouts).unwrap_err();
        assert_eq!(error.to_string(), "no such file");
    }
}
