//! An async client for kresd 5.6's control socket: run a Lua chunk in a worker and get its
//! result, or a Lua error, back.
//!
//! # What kresd does (5.6, measured)
//!
//! - A unix stream socket. On accept kresd writes the prompt `> ` (not when started with `-q`).
//! - Input is split at every `\n` and each line runs as its own command; a command split over
//!   several writes is buffered until its `\n`. A line `__binary` switches the connection to
//!   binary replies: a 4-byte big-endian length, then that many bytes, no prompt.
//! - A line is run as `return table_print(<line>)` if that compiles, else as the line itself;
//!   the value left on the Lua stack is the reply. Strings and numbers come back as they are;
//!   `nil`, booleans and tables as an empty reply (and kresd logs "unrepresentable response").
//! - A Lua error is the reply text too (`[string "foo("]:1: unexpected symbol near '<eof>'`),
//!   indistinguishable from a chunk that returns the same text, and `error({})` or `error(nil)`
//!   give an empty reply, indistinguishable from success.
//! - kresd writes a reply with stdio on its non-blocking socket: a reply that does not fit in
//!   the socket's send buffer (about 210 KiB here) is cut short without notice, and its reader
//!   then waits forever for the announced rest.
//!
//! # What this client sends
//!
//! Connecting sends `__binary\n` at once and then runs an empty chunk, so a connected
//! [`Control`] has had one whole exchange with kresd. The prompt is optional: it can never be
//! mistaken for a frame, since a frame length of at most [`MAX_FRAME`] starts with a zero byte.
//!
//! Every chunk travels inside one line of Lua (see [`request_line`]): the chunk is a string
//! literal written by [`crate::kresd::lua::string`], in which every byte outside printable
//! ASCII and every `"` and `\` is a decimal escape, so no chunk (quotes, `]]`, newlines, NUL,
//! `__binary`) can end the literal or the line, and a multi-line chunk is one line on the wire.
//! That line
//!
//! 1. compiles `return (<chunk>\n)` and, if that fails, `<chunk>`: like kresd, a lone
//!    expression gives its value, and a statement list or a chunk with its own `return` runs as
//!    written. The parentheses keep `error('x')` from becoming a tail call, whose error would
//!    carry the position of the wrapper instead of the chunk; the newline ends a trailing `--`
//!    comment. Both are compiled with the chunk as their name, so messages read
//!    `[string "<chunk>"]:1: ...` as in kresd, with the chunk's own line numbers;
//! 2. runs it with `pcall`, so runtime errors are caught whatever the error value is (`nil` and
//!    tables included);
//! 3. turns the first value returned into text: nothing or `nil` is empty, a string is itself
//!    (not quoted, unlike kresd's text mode), anything else is `table_print(value)` (kresd's
//!    pretty printer, also under `pcall`);
//! 4. returns that text behind a status marker: `\x01kres:ok\x02`, `\x01kres:err\x02` (a
//!    compile or runtime error, whose message follows) or `\x01kres:big\x02<length>` when the
//!    result exceeds [`MAX_REPLY`], which kresd could not send whole (error messages are cut to
//!    that length instead).
//!
//! A reply without a marker (the line itself failed, e.g. because the config replaced `load`)
//! is a [`ControlError::Protocol`], never output. The wrapper always returns a string, so
//! kresd never logs "unrepresentable response" for us.
//!
//! # Failures and cancellation
//!
//! Each call has a timeout covering its whole exchange. A call that fails part-way (timeout,
//! I/O error, bad framing) or whose future is dropped leaves the connection in an unknown state:
//! the [`Control`] is then broken ([`Control::is_broken`]) and refuses further calls at once, and
//! the caller connects again. A [`ControlError::Lua`] or [`ControlError::Json`] error is a
//! complete exchange and leaves the connection usable.
//!
//! # Cost
//!
//! Measured with kresd 5.6 on a 2-core VM: kresd answers the wrapped line in about 40-50 µs
//! (a bare `1` takes 18 µs; the rest is compiling the line and the chunk); an eval through
//! this client, debug build, about 110 µs; connecting (with its first exchange) 0.2-0.5 ms.
//! The line is self-contained rather than a helper installed in kresd once, so no Lua state
//! of ours can be lost or overwritten.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

/// The largest frame accepted from the socket (its length is checked before anything is
/// allocated).
pub const MAX_FRAME: usize = 16 << 20;

/// The largest result the wrapper returns: kresd 5.6 cuts longer replies short (see the module
/// documentation), so a longer result is refused in kresd with its length instead.
pub const MAX_REPLY: usize = 128 << 10;

/// Status markers that start every reply of the wrapper.
const OK: &[u8] = b"\x01kres:ok\x02";
const ERR: &[u8] = b"\x01kres:err\x02";
const BIG: &[u8] = b"\x01kres:big\x02";

/// Why a control-socket call failed. Every variant names the socket.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot connect to kresd's control socket {socket}: {source}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kresd's control socket {socket} did not answer within {after:?}")]
    Timeout { socket: PathBuf, after: Duration },
    #[error("I/O error on kresd's control socket {socket}: {source}")]
    Io {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected reply on kresd's control socket {socket}: {message}")]
    Protocol { socket: PathBuf, message: String },
    #[error("kresd ({socket}) reported a Lua error: {message}")]
    Lua { socket: PathBuf, message: String },
    #[error("kresd ({socket}) returned invalid JSON ({source}): {excerpt}")]
    Json {
        socket: PathBuf,
        #[source]
        source: serde_json::Error,
        /// The start of the text that was not JSON.
        excerpt: String,
    },
}

/// A connection to one kresd's control socket, switched to binary replies. One call at a time
/// (`&mut self`); open several for parallel calls (kresd runs them one after another anyway).
#[derive(Debug)]
pub struct Control {
    socket: PathBuf,
    stream: UnixStream,
    /// Until the first reply: kresd may have sent its `> ` prompt before it.
    prompt_pending: bool,
    /// An exchange failed or was cancelled part-way; the stream's position is unknown.
    broken: bool,
}

impl Control {
    /// Connects, switches to binary replies and runs an empty chunk, all within `timeout`.
    pub async fn connect(socket: &Path, timeout: Duration) -> Result<Control, ControlError> {
        let deadline = Instant::now() + timeout;
        let stream = match tokio::time::timeout_at(deadline, UnixStream::connect(socket)).await {
            Err(_) => return Err(ControlError::Timeout { socket: socket.into(), after: timeout }),
            Ok(Err(source)) => return Err(ControlError::Connect { socket: socket.into(), source }),
            Ok(Ok(stream)) => stream,
        };
        let mut control = Control { socket: socket.into(), stream, prompt_pending: true, broken: false };
        let mut request = b"__binary\n".to_vec();
        request.extend_from_slice(request_line("").as_bytes());
        let payload = control.exchange(&request, deadline, timeout).await?;
        control.interpret(payload)?;
        Ok(control)
    }

    /// Runs a Lua chunk (one expression, a statement list, or statements ending in `return`;
    /// newlines allowed) and returns its first result as text: empty for no value, a string as
    /// it is, anything else as kresd's `table_print` shows it. A compile or runtime error is
    /// [`ControlError::Lua`] with Lua's message.
    pub async fn eval(&mut self, lua: &str, timeout: Duration) -> Result<String, ControlError> {
        let deadline = Instant::now() + timeout;
        let payload = self.exchange(request_line(lua).as_bytes(), deadline, timeout).await?;
        self.interpret(payload)
    }

    /// The value of the Lua expression `expr` as JSON (kresd's `tojson(<expr>)`, parsed).
    pub async fn json(&mut self, expr: &str, timeout: Duration) -> Result<serde_json::Value, ControlError> {
        // The newline ends a trailing `--` comment in `expr` before the closing parenthesis.
        let text = self.eval(&format!("tojson({expr}\n)"), timeout).await?;
        parse_json(&self.socket, &text)
    }

    /// The socket this connection is to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether an earlier call failed or was cancelled part-way, so that this connection
    /// refuses further calls (connect again).
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Writes `request` and reads one frame, by `deadline`. The connection counts as broken
    /// from the start until the frame is read whole, so an error or a dropped future leaves it
    /// broken.
    async fn exchange(&mut self, request: &[u8], deadline: Instant, after: Duration) -> Result<Vec<u8>, ControlError> {
        if self.broken {
            return Err(self.protocol(
                "an earlier call on this connection failed or was cancelled part-way; connect again".to_owned(),
            ));
        }
        self.broken = true;
        let payload = match tokio::time::timeout_at(deadline, self.write_and_read(request)).await {
            Err(_) => return Err(ControlError::Timeout { socket: self.socket.clone(), after }),
            Ok(result) => result?,
        };
        self.broken = false;
        Ok(payload)
    }

    async fn write_and_read(&mut self, request: &[u8]) -> Result<Vec<u8>, ControlError> {
        self.stream.write_all(request).await.map_err(|source| self.io(source))?;
        let mut header = [0u8; 4];
        self.read_full(&mut header, "a reply's length").await?;
        if std::mem::take(&mut self.prompt_pending) && header[0] == b'>' {
            if header[1] != b' ' {
                return Err(self.protocol(format!("a reply starting {:?}, neither `> ` nor a length", &header[..2])));
            }
            header.copy_within(2.., 0);
            self.read_full(&mut header[2..], "a reply's length").await?;
        }
        let length = u32::from_be_bytes(header) as usize;
        if length > MAX_FRAME {
            return Err(
                self.protocol(format!("a reply of {length} bytes (more than {MAX_FRAME}; not a frame length?)"))
            );
        }
        let mut payload = vec![0u8; length];
        self.read_full(&mut payload, "a reply").await?;
        Ok(payload)
    }

    /// Fills `buffer`; the end of the stream part-way is an [`ControlError::Io`] saying how far
    /// it got.
    async fn read_full(&mut self, buffer: &mut [u8], what: &str) -> Result<(), ControlError> {
        let mut filled = 0;
        while filled < buffer.len() {
            let n = self.stream.read(&mut buffer[filled..]).await.map_err(|source| self.io(source))?;
            if n == 0 {
                let source = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("kresd closed the connection after {filled} of the {} bytes of {what}", buffer.len()),
                );
                return Err(self.io(source));
            }
            filled += n;
        }
        Ok(())
    }

    /// The result or the Lua error a wrapper's reply carries.
    fn interpret(&self, payload: Vec<u8>) -> Result<String, ControlError> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        if let Some(output) = payload.strip_prefix(OK) {
            Ok(text(output))
        } else if let Some(message) = payload.strip_prefix(ERR) {
            Err(ControlError::Lua { socket: self.socket.clone(), message: text(message) })
        } else if let Some(length) = payload.strip_prefix(BIG) {
            Err(self.protocol(format!(
                "the chunk ran, but its result ({} bytes) is larger than kresd 5.6 can send whole on its control \
                 socket (at most {MAX_REPLY} bytes are asked for)",
                text(length)
            )))
        } else {
            Err(self.protocol(format!(
                "a reply without a status marker (the wrapper line itself failed in kresd): {}",
                excerpt(&payload)
            )))
        }
    }

    fn io(&self, source: std::io::Error) -> ControlError {
        ControlError::Io { socket: self.socket.clone(), source }
    }

    fn protocol(&self, message: String) -> ControlError {
        ControlError::Protocol { socket: self.socket.clone(), message }
    }
}

/// Connects to `socket` and runs `lua` (see [`Control::eval`]), all within `timeout`.
pub async fn eval(socket: &Path, lua: &str, timeout: Duration) -> Result<String, ControlError> {
    let work = async {
        let mut control = Control::connect(socket, timeout).await?;
        control.eval(lua, timeout).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(ControlError::Timeout { socket: socket.into(), after: timeout }))
}

/// Connects to `socket` and returns `expr` as JSON (see [`Control::json`]), all within
/// `timeout`.
pub async fn json(socket: &Path, expr: &str, timeout: Duration) -> Result<serde_json::Value, ControlError> {
    let work = async {
        let mut control = Control::connect(socket, timeout).await?;
        control.json(expr, timeout).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(ControlError::Timeout { socket: socket.into(), after: timeout }))
}

/// The one line (with its `\n`) that runs `chunk` and returns its result or error behind a
/// status marker; see the module documentation. The chunk appears only as an escaped string
/// literal, and runs in its own function, so it sees none of the line's locals.
pub fn request_line(chunk: &str) -> String {
    let chunk = crate::kresd::lua::string(chunk);
    format!(
        "local s = {chunk} \
         local f, e = load('return (' .. s .. '\\n)', s) \
         if not f then f, e = load(s, s) end \
         local ok, v = false, e \
         if f then ok, v = pcall(f) end \
         if ok and v ~= nil and type(v) ~= 'string' then ok, v = pcall(table_print, v) end \
         local r = ok and (v or '') or tostring(v) \
         if #r > {MAX_REPLY} then \
           if ok then return '\\1kres:big\\2' .. #r end \
           r = r:sub(1, {MAX_REPLY}) \
         end \
         return (ok and '\\1kres:ok\\2' or '\\1kres:err\\2') .. r\n"
    )
}

fn parse_json(socket: &Path, text: &str) -> Result<serde_json::Value, ControlError> {
    serde_json::from_str(text).map_err(|source| ControlError::Json {
        socket: socket.into(),
        source,
        excerpt: excerpt(text.as_bytes()),
    })
}

/// The start of a reply, for error messages.
pub(super) fn excerpt(bytes: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(LIMIT)]).into_owned();
    if bytes.len() > LIMIT { format!("{text:?}... ({} bytes)", bytes.len()) } else { format!("{text:?}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::UnixListener;

    const SECOND: Duration = Duration::from_secs(1);

    /// A fake kresd on a fresh socket path, serving one connection with `serve`.
    struct Fake {
        dir: PathBuf,
        server: tokio::task::JoinHandle<()>,
    }

    impl Fake {
        fn start<F, Fut>(serve: F) -> Fake
        where
            F: FnOnce(BufReader<UnixStream>) -> Fut + Send + 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("kres-control-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let listener = UnixListener::bind(dir.join("control")).expect("bind");
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                serve(BufReader::new(stream)).await;
            });
            Fake { dir, server }
        }

        fn socket(&self) -> PathBuf {
            self.dir.join("control")
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.server.abort();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn line(stream: &mut BufReader<UnixStream>) -> String {
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("read a line");
        line
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        frame
    }

    fn ok(text: &str) -> Vec<u8> {
        frame(&[OK, text.as_bytes()].concat())
    }

    /// Plays kresd's part of connecting: the prompt (unless `quiet`), `__binary`, the empty chunk.
    async fn handshake(stream: &mut BufReader<UnixStream>, quiet: bool) {
        if !quiet {
            stream.get_mut().write_all(b"> ").await.unwrap();
        }
        assert_eq!(line(stream).await, "__binary\n");
        assert_eq!(line(stream).await, request_line(""));
        stream.get_mut().write_all(&ok("")).await.unwrap();
    }

    #[test]
    fn the_request_is_one_line_and_the_chunk_an_inert_literal() {
        let chunk = "local a = [[x]] .. \"]]\"\nreturn a .. '\\n' -- done";
        let line = request_line(chunk);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.ends_with('\n'));
        let literal = crate::kresd::lua::string(chunk);
        assert!(line.starts_with(&format!("local s = {literal} ")), "{line}");
        // The literal's only quotes are its own, and it has no newline or backslash-quote.
        assert_eq!(literal.matches('"').count(), 2, "{literal}");
        assert!(!literal.contains('\n') && !literal.contains("\\\""), "{literal}");
    }

    #[tokio::test]
    async fn replies_are_read_across_split_writes_with_and_without_the_prompt() {
        for quiet in [false, true] {
            let fake = Fake::start(move |mut stream| async move {
                handshake(&mut stream, quiet).await;
                assert_eq!(line(&mut stream).await, request_line("return 'a'\nreturn 'b'"));
                let reply = ok("multi\nline");
                for piece in [&reply[..2], &reply[2..7], &reply[7..]] {
                    stream.get_mut().write_all(piece).await.unwrap();
                    stream.get_mut().flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                assert_eq!(line(&mut stream).await, request_line("tojson({1}\n)"));
                stream.get_mut().write_all(&ok("[1]")).await.unwrap();
                let _ = line(&mut stream).await;
            });
            let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
            assert_eq!(control.eval("return 'a'\nreturn 'b'", SECOND).await.expect("eval"), "multi\nline");
            assert_eq!(control.json("{1}", SECOND).await.expect("json"), serde_json::json!([1]));
            assert!(!control.is_broken());
        }
    }

    #[tokio::test]
    async fn lua_errors_leave_the_connection_usable() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&frame(&[ERR, b"[string \"x(\"]:1: oops"].concat())).await.unwrap();
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&ok("not json")).await.unwrap();
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&ok("fine")).await.unwrap();
            let _ = line(&mut stream).await;
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        match control.eval("x(", SECOND).await {
            Err(ControlError::Lua { message, .. }) => assert_eq!(message, "[string \"x(\"]:1: oops"),
            other => panic!("{other:?}"),
        }
        let err = control.json("x", SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Json { .. }), "{err}");
        assert!(err.to_string().contains("\"not json\""), "{err}");
        assert_eq!(control.eval("y", SECOND).await.expect("usable"), "fine");
    }

    #[tokio::test]
    async fn replies_without_a_marker_or_too_large_for_kresd_are_protocol_errors() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&frame(&[BIG, b"300000"].concat())).await.unwrap();
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&frame(b"[string \"local s\"]: attempt to call global 'load'")).await.unwrap();
            let _ = line(&mut stream).await;
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        let err = control.eval("big", SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Protocol { .. }) && err.to_string().contains("(300000 bytes)"), "{err}");
        let err = control.eval("x", SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Protocol { .. }) && err.to_string().contains("global 'load'"), "{err}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out_quickly() {
        // Never even sends the prompt.
        let fake = Fake::start(|stream| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        });
        let started = std::time::Instant::now();
        let err = Control::connect(&fake.socket(), Duration::from_millis(100)).await.unwrap_err();
        assert!(matches!(err, ControlError::Timeout { after, .. } if after == Duration::from_millis(100)), "{err}");
        assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
        assert!(err.to_string().contains("did not answer within 100ms"), "{err}");
    }

    #[tokio::test]
    async fn a_timeout_mid_call_breaks_the_connection() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            let _ = line(&mut stream).await;
            // Half a reply, then silence.
            stream.get_mut().write_all(&ok("never finished")[..6]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        let started = std::time::Instant::now();
        let err = control.eval("slow()", Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, ControlError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(control.is_broken());
        let err = control.eval("1", SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Protocol { .. }) && err.to_string().contains("connect again"), "{err}");
    }

    #[tokio::test]
    async fn a_dropped_call_breaks_the_connection() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        let cancelled = tokio::time::timeout(Duration::from_millis(20), control.eval("1", SECOND)).await;
        assert!(cancelled.is_err());
        assert!(control.is_broken());
    }

    #[tokio::test]
    async fn one_shot_helpers_keep_to_the_whole_timeout() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let started = std::time::Instant::now();
        let err = eval(&fake.socket(), "1", Duration::from_millis(80)).await.unwrap_err();
        assert!(matches!(err, ControlError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_frame_larger_than_the_limit_is_refused_before_reading_it() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&((MAX_FRAME as u32) + 1).to_be_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        let err = control.eval("1", SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Protocol { .. }), "{err}");
        assert!(err.to_string().contains("a reply of 16777217 bytes"), "{err}");
        assert!(control.is_broken());
    }

    #[tokio::test]
    async fn text_mode_replies_are_not_frames() {
        // A server that ignores `__binary` answers `> ` and then text.
        let fake = Fake::start(|mut stream| async move {
            stream.get_mut().write_all(b"> ").await.unwrap();
            let _ = line(&mut stream).await;
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(b"2\n> ").await.unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        let err = Control::connect(&fake.socket(), SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Protocol { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_connection_closed_mid_frame_is_an_io_error() {
        let fake = Fake::start(|mut stream| async move {
            handshake(&mut stream, false).await;
            let _ = line(&mut stream).await;
            stream.get_mut().write_all(&ok("0123456789")[..7]).await.unwrap();
        });
        let mut control = Control::connect(&fake.socket(), SECOND).await.expect("connect");
        let err = control.eval("1", SECOND).await.unwrap_err();
        match &err {
            ControlError::Io { source, .. } => assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("after 3 of the 19 bytes of a reply"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error() {
        let err = Control::connect(Path::new("/nonexistent/control/0"), SECOND).await.unwrap_err();
        assert!(matches!(err, ControlError::Connect { .. }), "{err}");
        assert!(
            err.to_string().starts_with("cannot connect to kresd's control socket /nonexistent/control/0"),
            "{err}"
        );
    }
}
