//! Where the API listens: a unix socket (by default mode 0600: only its owner may connect; the
//! config may let a group in) or a TCP address, from the config's `management` section.
//!
//! A unix socket file left by a manager that died is removed first; a socket some process still
//! accepts on, or a file that is not a socket, is refused (never deleted). The socket is bound
//! under a temporary name, given its group and mode, and renamed into place, so nobody can
//! connect to it while it still has the default mode.
//!
//! Each connection's peer ([`Peer`](super::guard::Peer): the uid and pid of a socket client,
//! the address of a TCP one) is handed to the handlers as axum's `ConnectInfo`.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::Router;

use super::guard::{Peer, TokenError};
use crate::config::management::ManagementResolved;

/// Where the API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Why the API could not listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("the management section names neither a unix socket nor an address with a port")]
    NoEndpoint,
    #[error("{path} exists and is not a socket; remove it or choose another management.unix-socket")]
    NotASocket { path: PathBuf },
    #[error("{path} is in use by another process (another kres-manager with this socket?)")]
    InUse { path: PathBuf },
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("management.unix-socket-group: no group `{group}` on this system")]
    UnknownGroup { group: String },
    #[error(
        "the API over TCP without tokens listens on loopback only, and {address} is not loopback; add \
         `management.tokens`"
    )]
    NotLoopback { address: SocketAddr },
    #[error("management.tokens: {0}")]
    Token(#[from] TokenError),
}

/// Who may connect to the unix socket: its mode, and its group (`None`: the manager's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketPermissions {
    pub mode: u32,
    pub gid: Option<u32>,
}

impl Default for SocketPermissions {
    fn default() -> SocketPermissions {
        SocketPermissions { mode: 0o600, gid: None }
    }
}

impl SocketPermissions {
    /// The mode and group of the (resolved) `management` section; the group is looked up now.
    pub fn from_management(management: &ManagementResolved) -> Result<SocketPermissions, ListenError> {
        let gid = match &management.unix_socket_group {
            None => None,
            Some(group) => Some(match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => nix::unistd::Group::from_name(group)
                    .ok()
                    .flatten()
                    .ok_or_else(|| ListenError::UnknownGroup { group: group.clone() })?
                    .gid
                    .as_raw(),
            }),
        };
        Ok(SocketPermissions { mode: management.unix_socket_mode & 0o777, gid })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix socket {}", path.display()),
            Endpoint::Tcp(address) => write!(f, "http://{address}"),
        }
    }
}

impl Endpoint {
    /// The endpoint of the (resolved) `management` section.
    pub fn from_management(management: &ManagementResolved) -> Result<Endpoint, ListenError> {
        if let Some(socket) = &management.unix_socket {
            return Ok(Endpoint::Unix(PathBuf::from(socket)));
        }
        match &management.interface {
            Some(interface) => {
                let port = interface.port.ok_or(ListenError::NoEndpoint)?;
                Ok(Endpoint::Tcp(SocketAddr::new(interface.addr, port.0)))
            }
            None => Err(ListenError::NoEndpoint),
        }
    }
}

/// The running API server. Dropping it stops serving and removes the socket file (when it is
/// still the one this server bound).
#[derive(Debug)]
pub struct Api {
    pub endpoint: Endpoint,
    task: tokio::task::JoinHandle<()>,
    socket: Option<(PathBuf, u64)>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
        if let Some((path, inode)) = &self.socket {
            use std::os::unix::fs::MetadataExt;
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == *inode) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Binds `endpoint` (a unix socket with mode 0600) and serves `router` on it in a spawned task.
pub async fn serve(endpoint: Endpoint, router: Router) -> Result<Api, ListenError> {
    serve_with(endpoint, &SocketPermissions::default(), router).await
}

/// Binds `endpoint` (a unix socket with `permissions`) and serves `router` on it in a spawned
/// task.
pub async fn serve_with(
    endpoint: Endpoint,
    permissions: &SocketPermissions,
    router: Router,
) -> Result<Api, ListenError> {
    let bind = |source| ListenError::Bind { endpoint: endpoint.to_string(), source };
    let service = router.into_make_service_with_connect_info::<Peer>();
    match &endpoint {
        Endpoint::Unix(path) => {
            let listener = bind_unix(path, permissions).map_err(|error| match error {
                BindUnix::Refused(error) => error,
                BindUnix::Io(source) => bind(source),
            })?;
            let inode = {
                use std::os::unix::fs::MetadataExt;
                std::fs::symlink_metadata(path).map_err(bind)?.ino()
            };
            let group = permissions.gid.map_or_else(String::new, |gid| format!(", group {gid}"));
            tracing::info!("the management API listens on {endpoint} (mode {:04o}{group})", permissions.mode);
            let task = tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, service).await {
                    tracing::error!("the management API stopped: {error}");
                }
            });
            Ok(Api { endpoint: endpoint.clone(), task, socket: Some((path.clone(), inode)) })
        }
        Endpoint::Tcp(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(bind)?;
            tracing::info!("the management API listens on {endpoint}");
            let task = tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, service).await {
                    tracing::error!("the management API stopped: {error}");
                }
            });
            Ok(Api { endpoint: endpoint.clone(), task, socket: None })
        }
    }
}

enum BindUnix {
    Refused(ListenError),
    Io(std::io::Error),
}

/// Removes a stale socket at `path`, binds a socket there with `permissions`.
fn bind_unix(path: &Path, permissions: &SocketPermissions) -> Result<tokio::net::UnixListener, BindUnix> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if metadata.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(BindUnix::Refused(ListenError::InUse { path: path.to_owned() }));
            }
            std::fs::remove_file(path).map_err(BindUnix::Io)?;
        }
        Ok(_) => return Err(BindUnix::Refused(ListenError::NotASocket { path: path.to_owned() })),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(BindUnix::Io(error)),
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.new", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = tokio::net::UnixListener::bind(&temporary).map_err(BindUnix::Io)?;
    let placed = std::os::unix::fs::chown(&temporary, None, permissions.gid)
        .and_then(|()| std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(permissions.mode)))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(BindUnix::Io(error));
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kres-api-listen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_private_socket_replaces_a_stale_one_and_refuses_others() {
        let dir = temp_dir("socket");
        let path = dir.join("api.sock");
        // A stale socket: bound, then its listener closed.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_socket());
        let api = serve(Endpoint::Unix(path.clone()), Router::new()).await.expect("stale socket replaced");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        // A live one is not taken over.
        let err = serve(Endpoint::Unix(path.clone()), Router::new()).await.unwrap_err();
        assert!(matches!(err, ListenError::InUse { .. }), "{err}");
        drop(api);
        assert!(!path.exists(), "the socket is removed with the server");
        // A regular file is never removed.
        std::fs::write(&path, "keep me").unwrap();
        let err = serve(Endpoint::Unix(path.clone()), Router::new()).await.unwrap_err();
        assert!(matches!(err, ListenError::NotASocket { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn management(text: &str) -> ManagementResolved {
        let section: crate::config::management::Management = schema_core::load(text, Some("t.yaml")).unwrap();
        schema_core::resolve_document(&section, &schema_core::FakeSystem::default(), Default::default()).unwrap().0
    }

    #[test]
    fn the_endpoint_comes_from_the_management_section() {
        let unix = management("unix-socket: /run/x.sock\n");
        assert_eq!(Endpoint::from_management(&unix).unwrap(), Endpoint::Unix("/run/x.sock".into()));
        let tcp = management("interface: 127.0.0.1@5000\n");
        assert_eq!(Endpoint::from_management(&tcp).unwrap(), Endpoint::Tcp("127.0.0.1:5000".parse().unwrap()));
        // Without tokens, pass 2 moved the address to loopback.
        let tcp = management("interface: 0.0.0.0@5000\n");
        assert_eq!(Endpoint::from_management(&tcp).unwrap(), Endpoint::Tcp("127.0.0.1:5000".parse().unwrap()));
    }

    #[test]
    fn socket_permissions_come_from_the_management_section() {
        assert_eq!(SocketPermissions::from_management(&management("{}")).unwrap(), SocketPermissions::default());
        let given = management("unix-socket-mode: '0660'\nunix-socket-group: '4242'\n");
        assert_eq!(
            SocketPermissions::from_management(&given).unwrap(),
            SocketPermissions { mode: 0o660, gid: Some(4242) }
        );
        let root = management("unix-socket-group: root\n");
        assert_eq!(SocketPermissions::from_management(&root).unwrap().gid, Some(0));
        let unknown = management("unix-socket-group: no-such-group-here\n");
        let error = SocketPermissions::from_management(&unknown).unwrap_err();
        assert_eq!(error.to_string(), "management.unix-socket-group: no group `no-such-group-here` on this system");
    }

    #[tokio::test]
    async fn the_socket_gets_its_mode_and_group() {
        use std::os::unix::fs::MetadataExt;
        let dir = temp_dir("permissions");
        let path = dir.join("api.sock");
        let gid = nix::unistd::getegid().as_raw();
        let permissions = SocketPermissions { mode: 0o660, gid: Some(gid) };
        let api = serve_with(Endpoint::Unix(path.clone()), &permissions, Router::new()).await.unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!((metadata.permissions().mode() & 0o777, metadata.gid()), (0o660, gid));
        drop(api);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
