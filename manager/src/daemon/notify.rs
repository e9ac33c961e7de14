//! Talking to whoever started us: sd_notify (`READY=1`, `STATUS=`) and a DNS probe that tells
//! whether the workers answer.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::config::Config;
use crate::config::network::ListenKind;

/// Sends `state` (e.g. `READY=1\nSTATUS=...`) to `$NOTIFY_SOCKET` when set (supervisord's socket
/// for the manager, systemd's for a kresd). Failures are logged and otherwise ignored: readiness
/// is a courtesy to the supervisor, not a reason to stop serving.
pub fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let socket = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(socket) => socket,
        Err(error) => return tracing::warn!("sd_notify: {error}"),
    };
    if let Err(error) = socket.send_to(state.as_bytes(), &path) {
        tracing::warn!("sd_notify to {}: {error}", path.to_string_lossy());
    }
}

/// The first plain-DNS address the workers listen on, to probe.
pub fn probe_address(config: &Config) -> Option<SocketAddr> {
    config.network.listen.iter().filter(|listen| listen.kind == ListenKind::Dns).find_map(|listen| {
        let port = listen.port.map_or(53, |p| p.0);
        listen.interface.iter().flat_map(|i| i.as_slice()).find_map(|interface| match &interface.target {
            schema_core::InterfaceTarget::Addr(addr) => {
                Some(SocketAddr::new(*addr, interface.port.map_or(port, |p| p.0)))
            }
            schema_core::InterfaceTarget::Interface(_) => None,
        })
    })
}

/// Sends a DNS query (`invalid. A`, which kresd answers itself at once: NXDOMAIN from its built-in
/// policy, or whatever the operator's rules say) to `address` over UDP; any answer with our id
/// counts (REFUSED included: the worker answers).
pub fn probe(address: SocketAddr, timeout: Duration) -> bool {
    let bind: SocketAddr = if address.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let Ok(socket) = UdpSocket::bind(bind) else { return false };
    if socket.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let id: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let mut query = Vec::with_capacity(29);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, one question
    query.extend_from_slice(b"\x07invalid\x00\x00\x01\x00\x01"); // invalid. A IN
    if socket.send_to(&query, address).is_err() {
        return false;
    }
    let mut answer = [0u8; 512];
    matches!(socket.recv(&mut answer), Ok(n) if n >= 12 && answer[..2] == id.to_be_bytes() && answer[2] & 0x80 != 0)
}
