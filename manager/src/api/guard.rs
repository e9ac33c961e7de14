//! Who may use the API, and the audit of what they change: the [`guard`] middleware in front
//! of every route (unknown routes included).
//!
//! - **Unix socket** ([`Access::Socket`]): whoever may connect is let in with full access; the
//!   socket's mode and group (`management.unix-socket-mode`, `-group`) are the protection. The
//!   peer's uid and pid (`SO_PEERCRED`) name the client in the audit log. A token sent there is
//!   ignored.
//! - **TCP without tokens** ([`Access::Loopback`]): the listener is on a loopback address
//!   (pass 2 of the config puts it there; [`super::start`] refuses anything else and says so at
//!   start-up); every local user may use it.
//! - **TCP with tokens** ([`Access::Tokens`]): every request needs `Authorization: Bearer TOKEN`
//!   with one of the tokens, or HTTP Basic credentials with the token as the password (a
//!   browser cannot send a bearer token when it navigates to the status page; the user name is
//!   not looked at). A missing or wrong token is 401 and a warning in the log naming the
//!   client's address and what was wrong, never what was sent; a request for HTML (a browser
//!   navigating) is challenged with `WWW-Authenticate: Basic`, so the browser asks for the
//!   token, any other with `Bearer`. A `read-only` token may use `GET` and `HEAD` only (403
//!   otherwise, audited). Tokens are compared in constant time (for a given length), each
//!   against every configured token.
//! - **Origin** (every access): a request that may change something and carries an `Origin`
//!   header (a browser always sends one with a `PUT`, `PATCH`, `POST` or `DELETE`) must come
//!   from the listener's own origin, or it is 403 and audited: another site's page must not make
//!   an operator's browser change the resolver, with the credentials the browser keeps for this
//!   one or (without tokens) with none. Own origin means `Origin` is `http://` (or `https://`,
//!   behind a TLS proxy) and the request's `Host`; on the listener without tokens the `Host` must
//!   moreover name the listener itself (its address, or `localhost` and its port), or a page of
//!   another name that resolves to 127.0.0.1 (DNS rebinding) would be its own origin. Clients
//!   that are not browsers send no `Origin` and are not concerned.
//! - **Rate limit**: after [`Limits::failures`] refusals within [`Limits::window`] from one
//!   address (IPv6: one /64), every request from it is answered 429 with `Retry-After`, without
//!   looking at its token, until the window has passed again; that is logged once, not per
//!   request. A request for HTML without credentials (a browser before it is asked for them)
//!   is neither counted nor logged: it guesses nothing. At most [`MAX_TRACKED`] addresses are tracked; beyond that, new ones share one
//!   counter.
//! - **Token files** are read at start (an unusable one stops the API from starting) and read
//!   again when their metadata changes (checked at each request: a `stat`), so a token is
//!   rotated by replacing its file. A file that becomes unusable (missing, readable or writable
//!   by others, malformed) disables its token, with one error in the log.
//!
//! Every request but `GET` and `HEAD` runs to its end in a task of its own, even when its client
//! disconnects, and then gets its audit line ([`super::audit`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, HOST, ORIGIN, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;

use super::audit::Journal;
use super::ui::basic;
use super::ui::changes::Recent;
use super::{ApiError, ApiState};
use crate::config::management::{ApiToken, TokenScope};

/// The shortest and the longest token accepted.
pub const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=4096;

/// At most this many client addresses have their refusals counted.
pub const MAX_TRACKED: usize = 4096;

/// The client at the other end of a connection (axum's connect info).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A client of the unix socket, with its credentials when the kernel gave them.
    Unix {
        uid: Option<u32>,
        pid: Option<i32>,
    },
    Tcp(SocketAddr),
}

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::UnixListener>) -> Peer {
        let credentials = stream.io().peer_cred().ok();
        Peer::Unix { uid: credentials.map(|c| c.uid()), pid: credentials.and_then(|c| c.pid()) }
    }
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Unix { uid: Some(uid), pid: Some(pid) } => write!(f, "uid {uid} (pid {pid}) on the unix socket"),
            Peer::Unix { uid: Some(uid), pid: None } => write!(f, "uid {uid} on the unix socket"),
            Peer::Unix { uid: None, .. } => write!(f, "a client of the unix socket (uid unknown)"),
            Peer::Tcp(address) => write!(f, "{address}"),
        }
    }
}

/// Who made a request that was let in.
#[derive(Clone, Debug)]
pub enum Who {
    /// Through the unix socket, or over TCP without tokens.
    Peer(Option<Peer>),
    /// With a token.
    Token { name: String, scope: TokenScope, peer: Option<Peer> },
}

fn peer_text(peer: &Option<Peer>) -> String {
    peer.as_ref().map_or_else(|| "an unknown client".to_owned(), Peer::to_string)
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Peer(peer @ Some(Peer::Tcp(_))) => write!(f, "{} (no tokens configured)", peer_text(peer)),
            Who::Peer(peer) => f.write_str(&peer_text(peer)),
            Who::Token { name, scope, peer } => write!(f, "token `{name}` ({scope}) from {}", peer_text(peer)),
        }
    }
}

/// How requests are let in.
#[derive(Debug)]
pub enum Access {
    /// The unix socket: its mode and group decide who may connect.
    Socket,
    /// TCP on a loopback address without tokens: every local user.
    Loopback,
    /// TCP with tokens: each request needs one.
    Tokens(Vec<Token>),
}

/// How many refusals from one address within `window` lock it out (for `window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub failures: u32,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { failures: 10, window: Duration::from_secs(60) }
    }
}

/// The access rule, the refusal counters and the journal of one API.
#[derive(Debug)]
pub struct Guard {
    access: Access,
    limiter: Limiter,
    journal: Journal,
    /// The TCP listener's address (for the origin check); `None` on the unix socket.
    listener: Option<SocketAddr>,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard::new(Access::Socket, Limits::default(), Journal::default())
    }
}

impl Guard {
    pub fn new(access: Access, limits: Limits, journal: Journal) -> Guard {
        Guard { access, limiter: Limiter { limits, entries: Mutex::new(HashMap::new()) }, journal, listener: None }
    }

    /// The guard of a TCP listener on `address`.
    pub fn on(mut self, address: SocketAddr) -> Guard {
        self.listener = Some(address);
        self
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The last audited requests (`GET /audit`).
    pub fn recent(&self) -> &Recent {
        self.journal.recent()
    }

    /// `Ok` unless `headers` carry an `Origin` that is not the listener's own (see the module
    /// documentation); only asked for requests that may change something.
    fn own_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(ORIGIN) else { return Ok(()) };
        let origin = String::from_utf8_lossy(origin.as_bytes());
        let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let named = match (&self.access, self.listener) {
            (Access::Loopback, Some(listener)) => names_listener(host, listener),
            _ => true,
        };
        let same = ["http://", "https://"].iter().any(|scheme| {
            origin.strip_prefix(scheme).is_some_and(|rest| !host.is_empty() && rest.eq_ignore_ascii_case(host))
        });
        if same && named {
            return Ok(());
        }
        let own = match self.listener {
            Some(listener) if !named || host.is_empty() => listener.to_string(),
            _ => host.chars().take(100).collect(),
        };
        // Both come from the client: shown (in the answer and the audit log) only in part.
        let origin: String = origin.chars().take(100).collect();
        Err(format!(
            "a change sent by a page of another origin ({origin}, not http://{own}) is refused: use the status page \
             of this listener, or a client that sends no Origin header"
        ))
    }

    /// Lets a request in (who made it) or refuses it.
    fn admit(&self, peer: Option<Peer>, headers: &HeaderMap, method: &Method, uri: &Uri) -> Result<Who, ApiError> {
        let tokens = match &self.access {
            Access::Socket | Access::Loopback => return Ok(Who::Peer(peer)),
            Access::Tokens(tokens) => tokens,
        };
        let address = match &peer {
            Some(Peer::Tcp(address)) => address.ip(),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        let now = Instant::now();
        if let Some(retry_after) = self.limiter.locked(address, now) {
            return Err(ApiError::TooManyRequests { retry_after: retry_after.as_secs().max(1) });
        }
        let failure = match presented(headers) {
            Ok(presented) => match tokens.iter().fold(None, |found, token| {
                let matches = token.matches(&presented, &self.journal);
                found.or(matches.then_some(token))
            }) {
                Some(token) => {
                    let who = Who::Token { name: token.name.clone(), scope: token.scope, peer };
                    if token.scope == TokenScope::ReadOnly && !reads(method) {
                        let message = format!("the token `{}` is read-only: it may only read (GET)", token.name);
                        self.journal.refused_change(&who, method, uri, StatusCode::FORBIDDEN, &message);
                        return Err(ApiError::Forbidden(message));
                    }
                    return Ok(who);
                }
                None => Failure::Wrong,
            },
            Err(failure) => failure,
        };
        if failure == Failure::Missing && super::ui::wants_html(headers) {
            // A browser's first request to the page: it sends its credentials only once asked
            // for them (by this 401). Not a guess, so neither counted nor logged, or a few
            // tabs opened within a minute would lock their operator out.
            return Err(ApiError::Unauthorized { message: failure.message(), invalid_token: false });
        }
        let peer = peer_text(&peer);
        match self.limiter.failure(address, now) {
            Verdict::Counted => {
                self.journal.refusal(format!("API: refused {method} {} from {peer}: {failure}", uri.path()))
            }
            Verdict::LockedOut => self.journal.refusal(format!(
                "API: refused {method} {} from {peer}: {failure}; that is {} refusals within {} s: requests from \
                 {} are answered 429 for {} s (and not logged)",
                uri.path(),
                self.limiter.limits.failures,
                self.limiter.limits.window.as_secs(),
                key(address),
                self.limiter.limits.window.as_secs(),
            )),
        }
        Err(ApiError::Unauthorized { message: failure.message(), invalid_token: failure == Failure::Wrong })
    }
}

fn reads(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Whether `host` (a `Host` header: `name[:port]`, port 80 without one) names the TCP listener
/// on `listener`: its address (any address with its port when it listens on all of them), or
/// `localhost` when it listens on loopback.
fn names_listener(host: &str, listener: SocketAddr) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
        _ => (host, Some(80)),
    };
    if port != Some(listener.port()) {
        return false;
    }
    if name.eq_ignore_ascii_case("localhost") {
        return listener.ip().is_loopback() || listener.ip().is_unspecified();
    }
    let literal = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
    literal.parse::<IpAddr>().is_ok_and(|ip| ip == listener.ip() || listener.ip().is_unspecified())
}

/// What was wrong with a request's credentials (never what they were).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Missing,
    /// Neither a bearer token nor Basic credentials.
    NotBearer,
    Wrong,
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Missing => {
                "this API needs a token: send `Authorization: Bearer TOKEN` (kresctl: --token-file FILE \
                 or $KRES_API_TOKEN_FILE; a browser: the token as the password)"
                    .to_owned()
            }
            Failure::NotBearer => {
                "the Authorization header is neither `Bearer TOKEN` nor Basic credentials with the token as the \
                 password"
                    .to_owned()
            }
            Failure::Wrong => "the token was refused".to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::Missing => "no token",
            Failure::NotBearer => "an Authorization header that is neither a bearer token nor Basic credentials",
            Failure::Wrong => "a wrong token",
        })
    }
}

/// The token of a request: a bearer token, or the password of Basic credentials.
fn presented(headers: &HeaderMap) -> Result<Cow<'_, [u8]>, Failure> {
    let value = headers.get(AUTHORIZATION).ok_or(Failure::Missing)?.as_bytes();
    if let Some(password) = basic::password(value) {
        return if password.is_empty() { Err(Failure::Missing) } else { Ok(password.into()) };
    }
    let scheme = value.get(..7).ok_or(Failure::NotBearer)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return Err(Failure::NotBearer);
    }
    let token = value[7..].trim_ascii();
    if token.is_empty() { Err(Failure::NotBearer) } else { Ok(token.into()) }
}

/// Equal contents, in a time that depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The middleware: lets the request in (and leaves [`Who`] in its extensions for the
/// handlers) or refuses it; a request that may change something runs to its end in a task of its
/// own and is audited.
pub async fn guard(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<Peer>>().map(|info| info.0.clone());
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let guard = state.guard();
    let who = match guard.admit(peer, request.headers(), &method, &uri) {
        Ok(who) => who,
        Err(error) => return refusal(error, request.headers()),
    };
    request.extensions_mut().insert(who.clone());
    if reads(&method) {
        return next.run(request).await;
    }
    if let Err(message) = guard.own_origin(request.headers()) {
        guard.journal.refused_change(&who, &method, &uri, StatusCode::FORBIDDEN, &message);
        return ApiError::Forbidden(message).into_response();
    }
    let journal = guard.journal.clone();
    let work = tokio::spawn(async move {
        let response = next.run(request).await;
        journal.change(&who, &method, &uri, &response);
        response
    });
    work.await.unwrap_or_else(|error| ApiError::Internal(format!("a request failed: {error}")).into_response())
}

/// The answer to a refused request: a browser navigating to a page is asked for Basic
/// credentials (the only way it can send the token), any other client for a bearer token.
fn refusal(error: ApiError, headers: &HeaderMap) -> Response {
    let unauthorized = matches!(error, ApiError::Unauthorized { .. });
    let mut response = error.into_response();
    if unauthorized && super::ui::wants_html(headers) {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(basic::CHALLENGE));
    }
    response
}

/// The counter of an address (IPv6: of its /64; an IPv4-mapped address is the IPv4 one).
fn key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

#[derive(Debug)]
struct Limiter {
    limits: Limits,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

enum Verdict {
    Counted,
    LockedOut,
}

impl Limiter {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How long `address` is still locked out.
    fn locked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let mut entries = self.entries();
        let key = key(address);
        let until = entries.get(&key)?.locked_until?;
        if until > now {
            return Some(until - now);
        }
        entries.remove(&key);
        None
    }

    /// Counts a refusal.
    fn failure(&self, address: IpAddr, now: Instant) -> Verdict {
        let mut entries = self.entries();
        let window = self.limits.window;
        let mut key = key(address);
        if !entries.contains_key(&key) && entries.len() >= MAX_TRACKED {
            entries.retain(|_, e| now.duration_since(e.since) < window || e.locked_until.is_some_and(|u| u > now));
            if entries.len() >= MAX_TRACKED {
                key = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
            }
        }
        let entry = entries.entry(key).or_insert(Entry { since: now, failures: 0, locked_until: None });
        if now.duration_since(entry.since) >= window {
            *entry = Entry { since: now, failures: 0, locked_until: None };
        }
        entry.failures += 1;
        if entry.failures >= self.limits.failures {
            entry.locked_until = Some(now + window);
            Verdict::LockedOut
        } else {
            Verdict::Counted
        }
    }
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token `{name}`: cannot read {file}: {source}")]
    Read {
        name: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token `{name}`: {file} is not a regular file")]
    NotAFile { name: String, file: PathBuf },
    #[error(
        "token `{name}`: every user may read or write {file} (mode {mode:04o}); `chmod o-rwx {file}` and replace the token"
    )]
    Exposed { name: String, file: PathBuf, mode: u32 },
    #[error("token `{name}`: {file} {why}")]
    Malformed { name: String, file: PathBuf, why: String },
    #[error("tokens `{first}` and `{second}` are the same; give each its own")]
    Same { first: String, second: String },
}

/// What identifies a version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    mode: u32,
}

impl Fingerprint {
    fn of(metadata: &std::fs::Metadata) -> Fingerprint {
        Fingerprint {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime: (metadata.mtime(), metadata.mtime_nsec()),
            ctime: (metadata.ctime(), metadata.ctime_nsec()),
            mode: metadata.mode(),
        }
    }
}

/// Reads a token file, checking that others have no access to it and that it holds one token.
fn read_token(name: &str, file: &Path) -> Result<(Fingerprint, Vec<u8>), TokenError> {
    let read = |source| TokenError::Read { name: name.to_owned(), file: file.to_owned(), source };
    let mut handle = std::fs::File::open(file).map_err(read)?;
    let metadata = handle.metadata().map_err(read)?;
    if !metadata.is_file() {
        return Err(TokenError::NotAFile { name: name.to_owned(), file: file.to_owned() });
    }
    if metadata.mode() & 0o006 != 0 {
        return Err(TokenError::Exposed {
            name: name.to_owned(),
            file: file.to_owned(),
            mode: metadata.mode() & 0o7777,
        });
    }
    let malformed = |why: String| TokenError::Malformed { name: name.to_owned(), file: file.to_owned(), why };
    let mut bytes = Vec::new();
    handle.by_ref().take(*TOKEN_LENGTH.end() as u64 + 64).read_to_end(&mut bytes).map_err(read)?;
    let token = bytes.trim_ascii();
    if !TOKEN_LENGTH.contains(&token.len()) {
        return Err(malformed(format!(
            "holds {} characters (after trimming white space); a token has {} to {}",
            token.len(),
            TOKEN_LENGTH.start(),
            TOKEN_LENGTH.end()
        )));
    }
    if !token.iter().all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(b)) {
        return Err(malformed(
            "holds characters a bearer token cannot have (only A-Z a-z 0-9 - . _ ~ + / =, on one line)".to_owned(),
        ));
    }
    Ok((Fingerprint::of(&metadata), token.to_vec()))
}

/// A token of the config, with the last contents read from its file.
#[derive(Debug)]
pub struct Token {
    pub name: String,
    pub scope: TokenScope,
    pub file: PathBuf,
    state: Mutex<TokenState>,
}

struct TokenState {
    seen: Option<Fingerprint>,
    value: Option<Vec<u8>>,
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the value.
        f.debug_struct("TokenState").field("seen", &self.seen).field("usable", &self.value.is_some()).finish()
    }
}

impl Token {
    /// Reads the token's file now.
    pub fn load(config: &ApiToken) -> Result<Token, TokenError> {
        let file = config.file.as_path().to_owned();
        let (fingerprint, value) = read_token(&config.name, &file)?;
        Ok(Token {
            name: config.name.clone(),
            scope: config.scope,
            file,
            state: Mutex::new(TokenState { seen: Some(fingerprint), value: Some(value) }),
        })
    }

    /// Every token of `configs`, read now; two with the same contents are refused.
    pub fn load_all(configs: &[ApiToken]) -> Result<Vec<Token>, TokenError> {
        let tokens = configs.iter().map(Token::load).collect::<Result<Vec<_>, _>>()?;
        for (index, token) in tokens.iter().enumerate() {
            for earlier in &tokens[..index] {
                if earlier.current(&Journal::default()) == token.current(&Journal::default()) {
                    return Err(TokenError::Same { first: earlier.name.clone(), second: token.name.clone() });
                }
            }
        }
        Ok(tokens)
    }

    /// The token's value, read again when its file changed; `None` while the file is unusable.
    fn current(&self, journal: &Journal) -> Option<Vec<u8>> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = std::fs::metadata(&self.file).ok().map(|m| Fingerprint::of(&m));
        if now == state.seen && (now.is_some() || state.value.is_none()) {
            return state.value.clone();
        }
        match read_token(&self.name, &self.file) {
            Ok((fingerprint, value)) => {
                if state.value.as_ref() != Some(&value) {
                    tracing::info!("token `{}`: read a new token from {}", self.name, self.file.display());
                }
                state.seen = Some(fingerprint);
                state.value = Some(value);
            }
            Err(error) => {
                journal.refusal(format!("{error}; the token is refused until its file is fixed"));
                state.seen = now;
                state.value = None;
            }
        }
        state.value.clone()
    }

    /// Whether `presented` is this token (constant time for a given length).
    fn matches(&self, presented: &[u8], journal: &Journal) -> bool {
        self.current(journal).is_some_and(|value| constant_time_eq(&value, presented))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented(&headers), Err(Failure::Missing));
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented(&headers), Err(Failure::NotBearer));
        headers.insert(AUTHORIZATION, "bearer   ".parse().unwrap());
        assert_eq!(presented(&headers), Err(Failure::NotBearer));
        headers.insert(AUTHORIZATION, "Bearer abc ".parse().unwrap());
        assert_eq!(presented(&headers), Ok(Cow::from(&b"abc"[..])));
        // Basic credentials: the password is the token, the user name does not matter.
        headers.insert(AUTHORIZATION, "Basic b3BzOmFiYw==".parse().unwrap());
        assert_eq!(presented(&headers), Ok(Cow::from(b"abc".to_vec())));
        headers.insert(AUTHORIZATION, "Basic b3BzOg==".parse().unwrap());
        assert_eq!(presented(&headers), Err(Failure::Missing), "an empty password");
        assert!(
            constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc")
        );
    }

    #[test]
    fn a_host_names_the_listener_by_its_address_or_as_localhost() {
        let v4: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert!(names_listener("127.0.0.1:5000", v4) && names_listener("LOCALHOST:5000", v4));
        assert!(!names_listener("127.0.0.2:5000", v4) && !names_listener("127.0.0.1:5001", v4));
        assert!(!names_listener("127.0.0.1", v4), "port 80");
        assert!(!names_listener("rebound.example:5000", v4) && !names_listener("", v4));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(names_listener("[::1]", v6) && names_listener("[::1]:80", v6) && names_listener("localhost", v6));
        let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        assert!(names_listener("192.0.2.1:5000", any) && !names_listener("192.0.2.1:80", any));
    }

    #[test]
    fn counters_are_per_address_and_per_64() {
        assert_eq!(key("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
        let limiter =
            Limiter { limits: Limits { failures: 2, window: Duration::from_secs(60) }, entries: Default::default() };
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let now = Instant::now();
        assert!(matches!(limiter.failure(a, now), Verdict::Counted));
        assert!(limiter.locked(a, now).is_none());
        assert!(matches!(limiter.failure(a, now), Verdict::LockedOut));
        assert_eq!(limiter.locked(a, now), Some(Duration::from_secs(60)));
        assert!(limiter.locked(b, now).is_none(), "another address is not locked out");
        assert!(limiter.locked(a, now + Duration::from_secs(61)).is_none(), "the lockout ends");
        // Failures older than the window do not count.
        assert!(matches!(limiter.failure(b, now), Verdict::Counted));
        assert!(matches!(limiter.failure(b, now + Duration::from_secs(61)), Verdict::Counted));
    }

    fn temp_file(name: &str, text: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kres-api-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn config(name: &str, file: &Path) -> ApiToken {
        ApiToken { name: name.into(), file: schema_core::FilePath(file.to_owned()), scope: TokenScope::Full }
    }

    #[test]
    fn token_files_are_checked_and_never_shown() {
        let secret = "s3cr3t-t0ken-0123456789";
        let good = temp_file("good", &format!("{secret}\n"), 0o640);
        let token = Token::load(&config("ops", &good)).unwrap();
        assert!(token.matches(secret.as_bytes(), &Journal::default()));
        assert!(!format!("{token:?}").contains(secret), "{token:?}");
        let exposed = temp_file("exposed", secret, 0o644);
        let error = Token::load(&config("ops", &exposed)).unwrap_err();
        assert!(error.to_string().contains("every user may read or write") && error.to_string().contains("0644"));
        assert!(!error.to_string().contains(secret));
        let short = temp_file("short", "abc", 0o600);
        assert!(Token::load(&config("ops", &short)).unwrap_err().to_string().contains("holds 3 characters"));
        let lines = temp_file("lines", "0123456789abcdef\n0123456789abcdef\n", 0o600);
        assert!(Token::load(&config("ops", &lines)).unwrap_err().to_string().contains("cannot have"));
        let error = Token::load_all(&[config("a", &good), config("b", &good)]).unwrap_err();
        assert_eq!(error.to_string(), "tokens `a` and `b` are the same; give each its own");
    }

    #[test]
    fn a_changed_token_file_is_read_again_and_a_broken_one_disables_the_token() {
        let file = temp_file("rotated", "first-token-0123456789", 0o600);
        let token = Token::load(&config("ops", &file)).unwrap();
        let (journal, lines) = Journal::in_memory();
        assert!(token.matches(b"first-token-0123456789", &journal));
        std::fs::write(&file, "second-token-0123456789\n").unwrap();
        assert!(token.matches(b"second-token-0123456789", &journal), "rotated");
        assert!(!token.matches(b"first-token-0123456789", &journal));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(!token.matches(b"second-token-0123456789", &journal), "exposed: refused");
        assert!(!token.matches(b"second-token-0123456789", &journal));
        std::fs::remove_file(&file).unwrap();
        assert!(!token.matches(b"second-token-0123456789", &journal));
        assert!(!token.matches(b"second-token-0123456789", &journal));
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines.len(), 2, "one line per change of the file: {lines:?}");
        assert!(lines[0].contains("every user may read or write") && lines[1].contains("cannot read"), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains("second-token")), "{lines:?}");
    }
}
