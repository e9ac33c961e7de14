//! Where the management API is: `--socket`, else the `management` section of the config files
//! (`--config`, else the default config file when it exists), else the default socket.

use std::fmt;
use std::path::{Path, PathBuf};

use schema_core::{Format, Report, Value};

use super::http::Endpoint;
use crate::config::management::{DEFAULT_API_SOCKET, Management, api_interface};

/// The config file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG: &str = "/etc/knot-resolver/config.yaml";

/// The rundir when the config names none (relative socket paths are inside it).
const DEFAULT_RUNDIR: &str = "/run/knot-resolver";

/// The API's endpoint and how it was found (named in messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    pub endpoint: Endpoint,
    pub source: Source,
}

/// How the endpoint was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--socket`.
    Flag,
    /// The `management` section of these files (given with `--config`, or the default file).
    Config(Vec<PathBuf>),
    /// Nothing said where: the default socket.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => write!(f, "given with --socket"),
            Source::Config(files) => {
                let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                write!(f, "from the `management` section of {}", names.join(", "))
            }
            Source::Default => write!(f, "the default API socket"),
        }
    }
}

/// Finds the API. `configs` are the `--config` files; `default_config` is read when they are
/// none and it exists. A problem with files named by `--config` is an error; a problem with
/// the default file is a note (returned with the default socket), as it may not be ours to read.
pub fn discover(
    socket: Option<&str>,
    configs: &[PathBuf],
    default_config: &Path,
) -> Result<(Api, Vec<String>), String> {
    if let Some(socket) = socket {
        let endpoint = Endpoint::parse(socket).map_err(|error| format!("--socket {error}"))?;
        return Ok((Api { endpoint, source: Source::Flag }, Vec::new()));
    }
    if !configs.is_empty() {
        let endpoint = from_files(configs)?;
        return Ok((Api { endpoint, source: Source::Config(configs.to_vec()) }, Vec::new()));
    }
    let default = Api { endpoint: Endpoint::Unix(PathBuf::from(DEFAULT_API_SOCKET)), source: Source::Default };
    if !default_config.exists() {
        return Ok((default, Vec::new()));
    }
    match from_files(&[default_config.to_path_buf()]) {
        Ok(endpoint) => Ok((Api { endpoint, source: Source::Config(vec![default_config.to_path_buf()]) }, Vec::new())),
        Err(error) => {
            let note = format!("note: {error}\nnote: trying the default API socket {DEFAULT_API_SOCKET}");
            Ok((default, vec![note]))
        }
    }
}

/// The endpoint named by the `management` section of `files` (merged in order).
pub fn from_files(files: &[PathBuf]) -> Result<Endpoint, String> {
    let mut sources = std::collections::BTreeMap::new();
    let mut documents = Vec::new();
    let mut report = Report::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|error| {
            format!("cannot read {name} to find the API: {error}; give the API's socket with --socket")
        })?;
        match schema_core::parse(&text, Some(&name), Format::from_path(&name)) {
            Ok(document) => documents.push(document),
            Err(problems) => report.extend(problems),
        }
        sources.insert(name, text);
    }
    let invalid = |report: &Report| {
        format!(
            "cannot find the API in {}:\n{}",
            sources.keys().cloned().collect::<Vec<_>>().join(", "),
            crate::config::load::render(report, &sources).trim_end()
        )
    };
    if report.has_errors() {
        return Err(invalid(&report));
    }
    let document = schema_core::value::merge(documents).map_err(|conflicts| invalid(&conflicts))?;
    let section = |name: &str| document.as_map().and_then(|map| map.get(name));
    let management: Management = match section("management") {
        Some(value) => schema_core::map_document(value).map_err(|mut report| {
            report.locate(value);
            invalid(&report)
        })?,
        None => Management::default(),
    };
    let rundir = section("rundir").and_then(Value::as_str).unwrap_or(DEFAULT_RUNDIR);
    Ok(endpoint_of(&management, Path::new(rundir)))
}

/// The endpoint a `management` section names; a relative socket path is inside the rundir. An
/// `interface` without `tokens` is on loopback, as the manager binds it.
pub fn endpoint_of(management: &Management, rundir: &Path) -> Endpoint {
    let interface = management.interface.map(|address| api_interface(&address, &management.tokens));
    match (&management.unix_socket, &interface) {
        (Some(path), _) => Endpoint::Unix(rundir.join(path)),
        (None, Some(address)) => Endpoint::Tcp {
            host: address.addr.to_string(),
            // Pass 1 refused an interface without a port.
            port: address.port.map_or(0, |port| port.0),
        },
        (None, None) => Endpoint::Unix(PathBuf::from(DEFAULT_API_SOCKET)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kresctl-discover-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn unix(path: &str) -> Endpoint {
        Endpoint::Unix(path.into())
    }

    #[test]
    fn socket_flag_wins_over_everything() {
        let dir = temp_dir("flag");
        let config = write(&dir, "c.yaml", "management:\n  unix-socket: /from/config.sock\n");
        let (api, notes) = discover(Some("/flag.sock"), std::slice::from_ref(&config), &config).unwrap();
        assert_eq!(api, Api { endpoint: unix("/flag.sock"), source: Source::Flag });
        assert!(notes.is_empty());
        let (api, _) = discover(Some("http://127.0.0.1:5000"), &[], &config).unwrap();
        assert_eq!(api.endpoint, Endpoint::Tcp { host: "127.0.0.1".into(), port: 5000 });
    }

    #[test]
    fn config_flag_before_default_file() {
        let dir = temp_dir("config");
        let given = write(&dir, "given.yaml", "management:\n  interface: 127.0.0.1@5000\n");
        let default = write(&dir, "default.yaml", "management:\n  unix-socket: /default.sock\n");
        let (api, _) = discover(None, std::slice::from_ref(&given), &default).unwrap();
        assert_eq!(api.endpoint, Endpoint::Tcp { host: "127.0.0.1".into(), port: 5000 });
        // Without tokens, the manager binds loopback.
        let open = write(&dir, "open.yaml", "management:\n  interface: 192.0.2.1@5000\n");
        let (loopback, _) = discover(None, &[open], &default).unwrap();
        assert_eq!(loopback.endpoint, Endpoint::Tcp { host: "127.0.0.1".into(), port: 5000 });
        assert_eq!(api.source, Source::Config(vec![given]));
        let (api, notes) = discover(None, &[], &default).unwrap();
        assert_eq!(api.endpoint, unix("/default.sock"));
        assert_eq!(api.source.to_string(), format!("from the `management` section of {}", default.display()));
        assert!(notes.is_empty());
    }

    #[test]
    fn default_socket_when_nothing_says_otherwise() {
        let (api, notes) = discover(None, &[], Path::new("/nonexistent/config.yaml")).unwrap();
        assert_eq!(api, Api { endpoint: unix(DEFAULT_API_SOCKET), source: Source::Default });
        assert!(notes.is_empty());
        // A config without a management section means the default socket too.
        let dir = temp_dir("nosection");
        let config = write(&dir, "c.yaml", "workers: 2\n");
        let (api, _) = discover(None, &[config], Path::new("/nonexistent")).unwrap();
        assert_eq!(api.endpoint, unix(DEFAULT_API_SOCKET));
    }

    #[test]
    fn several_files_merge_and_relative_sockets_are_in_the_rundir() {
        let dir = temp_dir("merge");
        let a = write(&dir, "a.yaml", "rundir: /run/kres\n");
        let b = write(&dir, "b.json", "{\"management\": {\"unix-socket\": \"api.sock\"}}");
        let (api, _) = discover(None, &[a, b], Path::new("/nonexistent")).unwrap();
        assert_eq!(api.endpoint, unix("/run/kres/api.sock"));
    }

    #[test]
    fn problems_in_given_files_are_errors_with_positions() {
        let dir = temp_dir("bad");
        let bad = write(&dir, "bad.yaml", "management:\n  unix-socket: /a.sock\n  interface: 127.0.0.1@5000\n");
        let error = discover(None, std::slice::from_ref(&bad), Path::new("/nonexistent")).unwrap_err();
        assert!(error.contains("/interface: the API listens on either"), "{error}");
        assert!(error.contains("bad.yaml:3:14"), "{error}");
        let error = discover(None, &[dir.join("missing.yaml")], Path::new("/nonexistent")).unwrap_err();
        assert!(error.contains("missing.yaml to find the API") && error.contains("--socket"), "{error}");
        let broken = write(&dir, "broken.yaml", "management: [\n");
        assert!(discover(None, &[broken], Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn a_broken_default_file_is_a_note() {
        let dir = temp_dir("brokendefault");
        let broken = write(&dir, "config.yaml", "management:\n  interface: 127.0.0.1\n");
        let (api, notes) = discover(None, &[], &broken).unwrap();
        assert_eq!(api.endpoint, unix(DEFAULT_API_SOCKET));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("has no port") && notes[0].contains("trying the default API socket"), "{notes:?}");
    }
}
