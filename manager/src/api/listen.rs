//! Where the API listens: a unix socket (mode 0600: the API has no authentication, so only the
//! socket's owner may use it) or a TCP address, from the config's `management` section.
//!
//! A unix socket file left by a manager that died is removed first; a socket some process still
//! accepts on, or a file that is not a socket, is refused (never deleted). The socket is bound
//! under a temporary name, made private, and renamed into place, so nobody can connect to it
//! while it still has the default mode.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::Router;

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

/// Binds `endpoint` and serves `router` on it in a spawned task.
pub async fn serve(endpoint: Endpoint, router: Router) -> Result<Api, ListenError> {
    let bind = |source| ListenError::Bind { endpoint: endpoint.to_string(), source };
    match &endpoint {
        Endpoint::Unix(path) => {
            let listener = bind_unix(path).map_err(|error| match error {
                BindUnix::Refused(error) => error,
                BindUnix::Io(source) => bind(source),
            })?;
            let inode = {
                use std::os::unix::fs::MetadataExt;
                std::fs::symlink_metadata(path).map_err(bind)?.ino()
            };
            tracing::info!("the management API listens on {endpoint}");
            let task = tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
                    tracing::error!("the management API stopped: {error}");
                }
            });
            Ok(Api { endpoint: endpoint.clone(), task, socket: Some((path.clone(), inode)) })
        }
        Endpoint::Tcp(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(bind)?;
            tracing::info!("the management API listens on {endpoint}");
            let task = tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, router).await {
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

/// Removes a stale socket at `path`, binds a private socket there.
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, BindUnix> {
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
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
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

    #[test]
    fn the_endpoint_comes_from_the_management_section() {
        let management = ManagementResolved { unix_socket: Some("/run/x.sock".into()), interface: None };
        assert_eq!(Endpoint::from_management(&management).unwrap(), Endpoint::Unix("/run/x.sock".into()));
        let interface = Some(schema_core::AddrPort::parse("127.0.0.1@5000").unwrap());
        let management = ManagementResolved { unix_socket: None, interface };
        assert_eq!(Endpoint::from_management(&management).unwrap(), Endpoint::Tcp("127.0.0.1:5000".parse().unwrap()));
    }
}
