//! Long-lived DNS clients over TCP and DNS-over-TLS, behaving as RFC 7766 and RFC 7828 describe:
//! each keeps one connection open and sends its queries on it, one at a time (query, answer,
//! pause, query, ...). Before each query it looks whether the server closed the connection
//! meanwhile (an event-driven client sees that end-of-file at once) and connects again if so. A
//! query the server leaves unanswered (the connection ends or resets before its answer, or no
//! answer within the timeout) is sent once more, on a new connection. With `keepalive`, every
//! query carries an edns-tcp-keepalive option, and an answer with a timeout of 0 makes the client
//! close the connection after it, as RFC 7828 asks.
//!
//! DoT clients trust exactly the server's certificate (a test certificate, pinned).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// How the clients reach the server.
#[derive(Clone, Debug)]
pub enum Transport {
    Tcp,
    /// DNS over TLS, trusting exactly `certificate`, sending `name` as the server name.
    Tls {
        certificate: PathBuf,
        name: String,
    },
}

/// A load of long-lived connections.
#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    pub transport: Transport,
    pub clients: usize,
    /// Between an answer and the next query.
    pub pause: Duration,
    /// Send edns-tcp-keepalive and leave when told timeout 0.
    pub keepalive: bool,
    /// The name asked (A); `{n}` is replaced by a number unique to each query.
    pub name: String,
    /// A query without an answer within this is unanswered.
    pub answer_timeout: Duration,
}

impl Options {
    /// `clients` clients on `port`, a query every 4 ms or so for `name`, no keepalive option.
    pub fn new(port: u16, transport: Transport, clients: usize, name: &str) -> Options {
        Options {
            port,
            transport,
            clients,
            pause: Duration::from_millis(4),
            keepalive: false,
            name: name.to_owned(),
            answer_timeout: Duration::from_secs(2),
        }
    }
}

/// What the clients saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Queries (each counted once, however often it was sent).
    pub sent: u64,
    /// Answered on the first try.
    pub answered: u64,
    /// Unanswered on the first try, and sent again on a new connection.
    pub retried: u64,
    /// Unanswered on the second try as well.
    pub failed: u64,
    /// Answers with an rcode other than NOERROR.
    pub error_rcodes: u64,
    /// Connections opened.
    pub connections: u64,
    /// Connections the server had closed when a client was about to send on it.
    pub closed_by_server: u64,
    /// Answers with an edns-tcp-keepalive timeout of 0 (the client then left).
    pub told_to_go: u64,
    /// Why the first few queries went unanswered, with when (since the start).
    pub reasons: Vec<String>,
}

impl Tally {
    fn note(&mut self, began: Instant, what: String) {
        if self.reasons.len() < 20 {
            self.reasons.push(format!("{:.3} s: {what}", began.elapsed().as_secs_f64()));
        }
    }
}

/// Running clients; [`StreamLoad::finish`] stops them and returns the tally.
#[derive(Debug)]
pub struct StreamLoad {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl StreamLoad {
    /// Starts the clients; each has connected (or failed to) before this returns.
    pub fn start(options: &Options) -> StreamLoad {
        let tls = Tls::of(&options.transport);
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let began = Instant::now();
        let (connected_tx, connected_rx) = std::sync::mpsc::channel();
        let threads = (0..options.clients)
            .map(|index| {
                let client = Client {
                    index,
                    options: options.clone(),
                    tls: tls.clone(),
                    tally: tally.clone(),
                    began,
                    connection: None,
                };
                let stop = stop.clone();
                let connected = connected_tx.clone();
                std::thread::spawn(move || client.run(&stop, &connected))
            })
            .collect();
        for _ in 0..options.clients {
            let _ = connected_rx.recv_timeout(Duration::from_secs(10));
        }
        StreamLoad { stop, tally, threads }
    }

    /// The tally so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// One client and its connection.
struct Client {
    index: usize,
    options: Options,
    tls: Option<Tls>,
    tally: Arc<Mutex<Tally>>,
    began: Instant,
    connection: Option<Connection>,
}

impl Client {
    fn run(mut self, stop: &AtomicBool, connected: &std::sync::mpsc::Sender<()>) {
        if let Err(error) = self.connect() {
            self.count(|t| t.note(self.began, format!("client {} cannot connect: {error}", self.index)));
        }
        let _ = connected.send(());
        let mut id = (self.index as u16) << 10;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if self.connection.as_mut().is_some_and(Connection::closed_by_peer) {
                self.connection = None;
                self.count(|t| t.closed_by_server += 1);
            }
            id = id.wrapping_add(1);
            n += 1;
            let name = self.options.name.replace("{n}", &format!("c{}n{n}", self.index));
            let query = query(id, &name, self.options.keepalive);
            self.count(|t| t.sent += 1);
            match self.attempt(&query) {
                Ok(answer) => self.answered(&answer),
                Err(first) => {
                    self.connection = None;
                    let began = self.began;
                    let index = self.index;
                    self.count(|t| {
                        t.retried += 1;
                        t.note(began, format!("client {index}: {first}; sent again"));
                    });
                    match self.attempt(&query) {
                        Ok(answer) => self.answered(&answer),
                        Err(second) => {
                            self.connection = None;
                            self.count(|t| {
                                t.failed += 1;
                                t.note(began, format!("client {index}: again {second}: failed"));
                            });
                        }
                    }
                }
            }
            std::thread::sleep(self.options.pause);
        }
    }

    fn count(&self, change: impl FnOnce(&mut Tally)) {
        change(&mut self.tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }

    fn answered(&mut self, answer: &[u8]) {
        let go = self.options.keepalive && keepalive_timeout(answer) == Some(0);
        if go {
            self.connection = None;
        }
        let error = answer[3] & 0x0f != 0;
        self.count(|t| {
            t.answered += 1;
            t.error_rcodes += u64::from(error);
            t.told_to_go += u64::from(go);
        });
    }

    fn connect(&mut self) -> io::Result<&mut Connection> {
        let connection = Connection::open(self.options.port, self.tls.as_ref(), self.options.answer_timeout)?;
        self.count(|t| t.connections += 1);
        Ok(self.connection.insert(connection))
    }

    /// Sends `query` on the connection (a new one when there is none) and reads its answer.
    fn attempt(&mut self, query: &[u8]) -> io::Result<Vec<u8>> {
        let timeout = self.options.answer_timeout;
        let connection = match self.connection.take() {
            Some(connection) => self.connection.insert(connection),
            None => self.connect()?,
        };
        connection.exchange(query, timeout)
    }
}

/// The TLS client setup shared by the clients.
#[derive(Clone)]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    fn of(transport: &Transport) -> Option<Tls> {
        match transport {
            Transport::Tcp => None,
            Transport::Tls { certificate, name } => Some(Tls::new(certificate, name)),
        }
    }

    fn new(certificate: &Path, name: &str) -> Tls {
        let pinned = CertificateDer::from_pem_file(certificate).expect("read the server's certificate").into_owned();
        // Deprecated for lacking post-quantum key exchange, which a loopback test client does not
        // need; ring builds without cmake or nasm.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { certificate: pinned, provider }))
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_owned()).expect("a server name");
        Tls { config: Arc::new(config), name }
    }
}

/// Accepts exactly one certificate (and checks the handshake's signatures with it).
#[derive(Debug)]
struct Pinned {
    certificate: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the pinned certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// An open connection: the byte stream (TLS or not) and its socket.
pub struct Connection {
    io: Box<dyn Stream>,
    socket: TcpStream,
    tls: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({:?}, tls: {})", self.socket.local_addr(), self.tls)
    }
}

impl Connection {
    /// A connection to `port` on loopback (TLS handshake done), reads waiting at most `timeout`.
    pub fn connect(port: u16, transport: &Transport, timeout: Duration) -> io::Result<Connection> {
        Connection::open(port, Tls::of(transport).as_ref(), timeout)
    }

    /// The client's port (which worker the connection reached is the server's business).
    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().map_or(0, |a| a.port())
    }

    fn open(port: u16, tls: Option<&Tls>, timeout: Duration) -> io::Result<Connection> {
        let socket = TcpStream::connect(("127.0.0.1", port))?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(timeout))?;
        let io: Box<dyn Stream> = match tls {
            None => Box::new(socket.try_clone()?),
            Some(tls) => {
                let session = rustls::ClientConnection::new(tls.config.clone(), tls.name.clone())
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let mut stream = rustls::StreamOwned::new(session, socket.try_clone()?);
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock)?;
                }
                Box::new(stream)
            }
        };
        Ok(Connection { io, socket, tls: tls.is_some() })
    }

    /// Whether the server has ended the connection (end-of-file or reset waiting to be read).
    pub fn closed_by_peer(&mut self) -> bool {
        if self.socket.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let closed = match self.socket.peek(&mut byte) {
            Ok(0) => true,
            // Something to read: plain DNS sends nothing unasked; TLS may send records after the
            // handshake (session tickets), which a read processes.
            Ok(_) if !self.tls => false,
            Ok(_) => match self.io.read(&mut byte) {
                Ok(0) => true,
                Ok(_) => false,
                Err(error) => error.kind() != io::ErrorKind::WouldBlock,
            },
            Err(error) => error.kind() != io::ErrorKind::WouldBlock,
        };
        closed || self.socket.set_nonblocking(false).is_err()
    }

    /// Sends `query` (with its length, as DNS over TCP frames it).
    pub fn send(&mut self, query: &[u8]) -> io::Result<()> {
        let mut message = (query.len() as u16).to_be_bytes().to_vec();
        message.extend_from_slice(query);
        self.io.write_all(&message)?;
        self.io.flush()
    }

    /// The next message (waiting at most the connection's timeout).
    pub fn receive(&mut self) -> io::Result<Vec<u8>> {
        let mut length = [0u8; 2];
        self.io.read_exact(&mut length)?;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        self.io.read_exact(&mut message)?;
        Ok(message)
    }

    /// Waits (at most the connection's timeout) for the server to end the connection: `Ok` on
    /// end-of-file or reset, an error naming what came instead.
    pub fn wait_for_end(&mut self) -> Result<(), String> {
        let mut byte = [0u8; 1];
        match self.io.read(&mut byte) {
            Ok(0) => Ok(()),
            Ok(_) => Err("the server sent something instead of closing".into()),
            Err(error) if matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Err("still open".into())
            }
            Err(_) => Ok(()),
        }
    }

    /// Sends `query` and reads the answer with its id.
    pub fn exchange(&mut self, query: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
        self.send(query)?;
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.receive()?;
            if answer.len() >= 12 && answer[..2] == query[..2] {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer with the query's id"));
            }
        }
    }
}

/// Which of `processes` (name → pid) holds the server's end of the loopback connection from
/// `client_port` to `server_port` (IPv4), once the server has accepted it.
pub fn server_of(
    server_port: u16,
    client_port: u16,
    processes: &std::collections::BTreeMap<String, u32>,
) -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (here, there) = (format!("0100007F:{server_port:04X}"), format!("0100007F:{client_port:04X}"));
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.len() > 9 && fields[1] == here && fields[2] == there && fields[9] != "0").then(|| fields[9].to_owned())
    })?;
    let link = format!("socket:[{inode}]");
    processes.iter().find_map(|(name, pid)| {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == link.as_str()))
            .then(|| name.clone())
    })
}

/// A query for `name` A with id `id`, recursion desired, EDNS (with an empty edns-tcp-keepalive
/// option when `keepalive`).
pub fn query(id: u16, name: &str, keepalive: bool) -> Vec<u8> {
    let mut query = crate::service::dns_query(name);
    query[..2].copy_from_slice(&id.to_be_bytes());
    query[11] = 1; // ARCOUNT: the OPT record
    let options: &[u8] = if keepalive { &[0, 11, 0, 0] } else { &[] };
    query.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    query.extend_from_slice(&(options.len() as u16).to_be_bytes());
    query.extend_from_slice(options);
    query
}

/// The edns-tcp-keepalive timeout (in 100 ms units) of an answer, when it carries one.
pub fn keepalive_timeout(message: &[u8]) -> Option<u16> {
    let get = |at: usize| message.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let counts: Vec<u16> = (0..4).map(|i| get(4 + 2 * i)).collect::<Option<_>>()?;
    let mut at = 12;
    for _ in 0..counts[0] {
        at = skip_name(message, at)? + 4;
    }
    for (section, &count) in counts.iter().enumerate().skip(1) {
        for _ in 0..count {
            at = skip_name(message, at)?;
            let (rtype, length) = (get(at)?, usize::from(get(at + 8)?));
            let data = at + 10;
            if section == 3 && rtype == 41 {
                let mut option = data;
                while option + 4 <= data + length {
                    let (code, size) = (get(option)?, usize::from(get(option + 2)?));
                    if code == 11 && size == 2 {
                        return get(option + 4);
                    }
                    option += 4 + size;
                }
            }
            at = data + length;
        }
    }
    None
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keepalive_timeout_is_read_from_the_opt_record() {
        // An answer: the query's question, one A record (compressed owner), and an OPT with a
        // padding option and then keepalive 0.
        let mut answer = query(7, "a.example", true);
        answer[2] |= 0x80;
        answer[7] = 1; // ANCOUNT
        let opt_at = 12 + 11 + 4;
        let opt = answer.split_off(opt_at);
        answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        answer.extend_from_slice(&opt[..9]);
        answer.extend_from_slice(&[0, 12, 0, 12, 0, 2, 0, 0, 0, 11, 0, 2, 0, 0]);
        assert_eq!(keepalive_timeout(&answer), Some(0));
        let without = query(7, "a.example", false);
        assert_eq!(keepalive_timeout(&without), None);
        assert_eq!(keepalive_timeout(&answer[..20]), None, "a cut message is not read past its end");
    }
}
