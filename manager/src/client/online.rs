//! The commands that talk to a running kres-manager: each builds requests of the management API,
//! sends them with [`Client`] and prints the answer (for people, or as is with `--json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value as Json, json};

use super::cli::{CacheCommand, ChangeOptions, ConfigCommand, Global, PlanArgs, ProcessKind};
use super::discover::{self, Api};
use super::http::{self, Request, Response, Timeouts, TransportError};
use super::{Failure, input, out, render, write_output};
use crate::config;

/// How long a connection may take to be accepted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Changes answer once applied (canary, rolling restarts): they may take a while.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(120);
/// Reads answer at once (metrics ask every worker, each with its own timeout).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the management API: where it is, how long to wait, how to print.
#[derive(Debug)]
pub struct Client {
    pub api: Api,
    /// `--timeout`, else the defaults for reads and changes.
    pub timeout: Option<Duration>,
    /// Print the server's JSON as is.
    pub json: bool,
    /// The token from `--token-file`, sent with every request.
    pub token: Option<Token>,
}

/// A token of the API (never shown by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads a token file (one line; surrounding white space is dropped). Errors name the file,
    /// never its contents.
    pub fn read(path: &Path) -> Result<Token, Failure> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Failure::error(format!("cannot read the token file {} (--token-file): {error}", path.display()))
        })?;
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(Failure::error(format!(
                "the token file {} (--token-file) must hold one token on one line",
                path.display()
            )));
        }
        Ok(Token(token.to_owned()))
    }
}

/// Whether a request reads (short timeout) or changes (long timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Change,
}

impl Client {
    /// Finds the API as `global` says (notes about the default config file go to stderr).
    pub fn from_global(global: &Global) -> Result<Client, Failure> {
        let (api, notes) =
            discover::discover(global.socket.as_deref(), &global.config, Path::new(discover::DEFAULT_CONFIG))
                .map_err(Failure::error)?;
        for note in notes {
            eprintln!("{note}");
        }
        let token = global.token_file.as_deref().map(Token::read).transpose()?;
        Ok(Client { api, timeout: global.timeout.map(Duration::from_secs_f64), json: global.json, token })
    }

    /// Sends a request; a non-2xx answer is a [`Failure`] with the API's problems.
    pub fn call(&self, kind: Kind, request: Request) -> Result<Response, Failure> {
        let response = self.send(kind, request)?;
        if response.status.is_success() { Ok(response) } else { Err(self.api_failure(&response)) }
    }

    /// Sends a request and returns any answer (the caller judges the status).
    pub fn send(&self, kind: Kind, request: Request) -> Result<Response, Failure> {
        let request_timeout = self.timeout.unwrap_or(match kind {
            Kind::Read => READ_TIMEOUT,
            Kind::Change => CHANGE_TIMEOUT,
        });
        let timeouts = Timeouts { connect: CONNECT_TIMEOUT.min(request_timeout), request: request_timeout };
        let request = match &self.token {
            Some(Token(token)) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        http::send_blocking(&self.api.endpoint, request, timeouts).map_err(|error| self.transport_failure(kind, error))
    }

    fn transport_failure(&self, kind: Kind, error: TransportError) -> Failure {
        let endpoint = &self.api.endpoint;
        let source = &self.api.source;
        let next = match &error {
            TransportError::Connect(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                "run kresctl as root or as a user that may use the socket".to_owned()
            }
            TransportError::Connect(_) | TransportError::ConnectTimeout(_) => {
                "is kres-manager running? (start it with `kres-manager -c FILE`, or point kresctl at it with --socket)"
                    .to_owned()
            }
            TransportError::Timeout(_) if kind == Kind::Change => {
                "the change may still be applied; `kresctl status` shows the config's generation (a longer \
                 --timeout waits more)"
                    .to_owned()
            }
            TransportError::Timeout(_) => "kres-manager may be busy; retry, or give a longer --timeout".to_owned(),
            _ => "is that kres-manager's API?".to_owned(),
        };
        let action = match error {
            TransportError::Connect(_) | TransportError::ConnectTimeout(_) => "cannot connect to",
            _ => "no answer from",
        };
        Failure::error(format!("{action} {endpoint} ({source}): {error}; {next}"))
    }

    fn api_failure(&self, response: &Response) -> Failure {
        Failure {
            message: render::api_error(response.status.as_u16(), &response.text()).trim_end().to_owned(),
            stdout: self.json.then(|| response.text()),
        }
    }

    /// Parses a 2xx answer as JSON.
    pub(crate) fn json_of(&self, response: &Response) -> Result<Json, Failure> {
        serde_json::from_slice(&response.body).map_err(|error| {
            Failure::error(format!(
                "{} answered something that is not JSON ({error}): {}",
                self.api.endpoint,
                response.text().chars().take(200).collect::<String>()
            ))
        })
    }

    /// Prints a JSON answer: as is with `--json`, else pretty.
    fn print_json(&self, response: &Response) -> Result<(), Failure> {
        if self.json {
            out(&with_newline(response.text()));
        } else {
            let value = self.json_of(response)?;
            out(&format!("{}\n", pretty(&value)));
        }
        Ok(())
    }

    /// Prints the answer to a change: its plan, or the JSON as is.
    fn print_change(&self, response: &Response) -> Result<(), Failure> {
        if self.json {
            out(&with_newline(response.text()));
            return Ok(());
        }
        let value = self.json_of(response)?;
        match serde_json::from_value::<render::ChangeAnswer>(value.clone()) {
            Ok(answer) => out(&render::change(&answer)),
            // An answer of another shape is still shown.
            Err(_) => out(&format!("{}\n", pretty(&value))),
        }
        Ok(())
    }
}

fn pretty(value: &Json) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// A config change request: method, pointer, optional body, ETag and dry run.
fn change_request(method: Method, pointer: &str, body: Option<&Json>, options: &ChangeOptions) -> Request {
    let mut target = input::config_path(pointer);
    if options.dry_run {
        target.push_str("?dry-run=true");
    }
    let mut request = Request::new(method, target);
    if let Some(etag) = &options.if_match {
        request = request.header("if-match", input::etag(etag));
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request
}

/// `kresctl config ...`.
pub fn config(global: &Global, command: ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Get { pointer, yaml, output } => {
            let pointer = input::pointer(&pointer).map_err(Failure::error)?;
            let client = Client::from_global(global)?;
            let response = client.call(Kind::Read, Request::new(Method::GET, input::config_path(&pointer)))?;
            let text = if client.json {
                with_newline(response.text())
            } else {
                let value = client.json_of(&response)?;
                if yaml { render::yaml(&value) } else { format!("{}\n", pretty(&value)) }
            };
            write_output(output.as_deref(), &text)
        }
        ConfigCommand::Set { pointer, value, file, change } => {
            let pointer = input::pointer(&pointer).map_err(Failure::error)?;
            let value = value_of(value.as_deref(), file.as_deref())?;
            let client = Client::from_global(global)?;
            let response = client.call(Kind::Change, change_request(Method::PUT, &pointer, Some(&value), &change))?;
            client.print_change(&response)
        }
        ConfigCommand::Delete { pointer, change } => {
            let pointer = input::pointer(&pointer).map_err(Failure::error)?;
            let client = Client::from_global(global)?;
            let response = client.call(Kind::Change, change_request(Method::DELETE, &pointer, None, &change))?;
            client.print_change(&response)
        }
        ConfigCommand::Patch { pointer, file, change } => {
            let pointer = input::pointer(&pointer).map_err(Failure::error)?;
            let patch = input::read_document(&file).map_err(Failure::error)?;
            if !patch.is_array() {
                return Err(Failure::error(format!(
                    "{}: a JSON Patch is a list of operations, e.g. [{{\"op\": \"replace\", \"path\": \"/workers\", \
                     \"value\": 2}}]",
                    file.display()
                )));
            }
            let client = Client::from_global(global)?;
            let response = client.call(Kind::Change, change_request(Method::PATCH, &pointer, Some(&patch), &change))?;
            client.print_change(&response)
        }
    }
}

/// The value of `config set` / `plan -p`: inline or from a file.
fn value_of(inline: Option<&str>, file: Option<&Path>) -> Result<Json, Failure> {
    match (inline, file) {
        (_, Some(file)) => input::read_document(file).map_err(Failure::error),
        (Some(text), None) => input::parse_inline(text).map_err(Failure::error),
        (None, None) => Err(Failure::error("give the new VALUE, or --file FILE".to_owned())),
    }
}

/// `kresctl plan FILE...` / `kresctl plan -p POINTER VALUE`.
pub fn plan(global: &Global, args: PlanArgs) -> Result<(), Failure> {
    let options = ChangeOptions { if_match: args.if_match, dry_run: true };
    let (pointer, value) = match args.pointer {
        Some(pointer) => {
            let pointer = input::pointer(&pointer).map_err(Failure::error)?;
            let inline = match (args.args.as_slice(), &args.file) {
                ([], Some(_)) => None,
                ([value], None) => Some(value.as_str()),
                _ => {
                    return Err(Failure::error(
                        "with --pointer give one VALUE, or --file FILE (plan a whole config by naming its \
                         files without --pointer)"
                            .to_owned(),
                    ));
                }
            };
            (pointer, value_of(inline, args.file.as_deref())?)
        }
        None if args.args.is_empty() => {
            return Err(Failure::error(
                "name the config files to plan (`kresctl plan config.yaml`), or one change \
                 (`kresctl plan -p /workers 4`)"
                    .to_owned(),
            ));
        }
        None => {
            let files: Vec<PathBuf> = args.args.iter().map(PathBuf::from).collect();
            (String::new(), load_files(&files, &args.target)?)
        }
    };
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Change, change_request(Method::PUT, &pointer, Some(&value), &options))?;
    client.print_change(&response)
}

/// Loads and validates config files here (problems with file:line:column), returning the merged
/// document to send.
fn load_files(files: &[PathBuf], target: &super::cli::TargetArgs) -> Result<Json, Failure> {
    let target = super::target(target)?;
    match config::load::load_files(files, &target.system(), schema_core::ResolveOptions::default()) {
        Ok(loaded) => {
            eprint!("{}", loaded.notes());
            Ok(loaded.document.to_json())
        }
        Err(config::load::LoadError::Invalid { report, rendered }) => {
            let errors = report.errors().count();
            Err(Failure::raw(format!(
                "{}{errors} problem{} found; nothing was sent",
                rendered,
                if errors == 1 { "" } else { "s" }
            )))
        }
        Err(error) => Err(Failure::error(format!("{error}"))),
    }
}

/// `kresctl reload [--force] [--discard-api-changes]`.
pub fn reload(global: &Global, force: bool, discard_api_changes: bool) -> Result<(), Failure> {
    let mut target = String::from(if force { "/reload/force" } else { "/reload" });
    if discard_api_changes {
        target.push_str("?discard-api-changes=true");
    }
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Change, Request::new(Method::POST, target))?;
    client.print_change(&response)
}

/// `kresctl stop`.
pub fn stop(global: &Global) -> Result<(), Failure> {
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Read, Request::new(Method::POST, "/stop"))?;
    if client.json {
        out(&with_newline(response.text()));
    } else {
        out("kres-manager is stopping the service.\n");
    }
    Ok(())
}

/// `kresctl status`: `GET /`, `GET /processes`, and `GET /ready` for the reason when not ready.
pub fn status(global: &Global) -> Result<(), Failure> {
    let client = Client::from_global(global)?;
    let info = client.json_of(&client.call(Kind::Read, Request::new(Method::GET, "/"))?)?;
    let processes = client.json_of(&client.call(Kind::Read, Request::new(Method::GET, "/processes"))?)?;
    let manager: render::ManagerInfo = serde_json::from_value(info.clone())
        .map_err(|error| Failure::error(format!("unexpected answer to GET /: {error}: {info}")))?;
    let (ready_json, reason) = if manager.ready {
        (json!({"ready": true}), None)
    } else {
        // 503 with the reason is the expected answer here.
        let response = client.send(Kind::Read, Request::new(Method::GET, "/ready"))?;
        let ready = serde_json::from_slice::<Json>(&response.body).unwrap_or_else(|_| json!({"ready": false}));
        let reason = ready.get("reason").and_then(Json::as_str).map(str::to_owned);
        (ready, reason)
    };
    if client.json {
        let all = json!({"manager": info, "ready": ready_json, "processes": processes});
        out(&format!("{all}\n"));
    } else {
        let list: Vec<render::Process> = serde_json::from_value(processes.clone())
            .map_err(|error| Failure::error(format!("unexpected answer to GET /processes: {error}")))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        out(&render::status(&client.api.endpoint.to_string(), &manager, reason.as_deref(), &list, now));
    }
    if manager.ready { Ok(()) } else { Err(Failure::silent()) }
}

/// `kresctl metrics [--prometheus]`.
pub fn metrics(global: &Global, prometheus: bool) -> Result<(), Failure> {
    let client = Client::from_global(global)?;
    if prometheus {
        let response = client.call(Kind::Read, Request::new(Method::GET, "/metrics/prometheus"))?;
        out(&response.text());
        Ok(())
    } else {
        let response = client.call(Kind::Read, Request::new(Method::GET, "/metrics/json"))?;
        client.print_json(&response)
    }
}

/// `kresctl schema --live`.
pub fn live_schema(global: &Global, output: Option<&Path>) -> Result<(), Failure> {
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Read, Request::new(Method::GET, "/schema"))?;
    let text =
        if client.json { with_newline(response.text()) } else { format!("{}\n", pretty(&client.json_of(&response)?)) };
    write_output(output, &text)
}

/// `kresctl cache clear ...`.
pub fn cache(global: &Global, command: CacheCommand) -> Result<(), Failure> {
    let CacheCommand::Clear { name, exact_name, rr_type, chunk_size } = command;
    let mut body = serde_json::Map::new();
    if let Some(name) = &name {
        body.insert("name".into(), json!(name));
    }
    if exact_name {
        body.insert("exact-name".into(), json!(true));
    }
    if let Some(rr_type) = rr_type {
        body.insert("rr-type".into(), json!(rr_type.to_ascii_uppercase()));
    }
    if let Some(chunk_size) = chunk_size {
        body.insert("chunk-size".into(), json!(chunk_size));
    }
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Change, Request::new(Method::POST, "/cache/clear").json(&Json::Object(body)))?;
    client.print_json(&response)
}

/// `kresctl pids [all|kresd|gc]`: one pid per line (processes without a pid are left out).
pub fn pids(global: &Global, kind: ProcessKind) -> Result<(), Failure> {
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Read, Request::new(Method::GET, format!("/processes/{}", kind.as_str())))?;
    if client.json {
        out(&with_newline(response.text()));
        return Ok(());
    }
    let processes = client.json_of(&response)?;
    let list = processes
        .as_array()
        .ok_or_else(|| Failure::error(format!("unexpected answer to GET /processes/{}: {processes}", kind.as_str())))?;
    let text: String =
        list.iter().filter_map(|p| p.get("pid").and_then(Json::as_u64)).map(|pid| format!("{pid}\n")).collect();
    out(&text);
    Ok(())
}
