//! `management`: where the manager's HTTP API listens (a unix socket or a TCP address) and who
//! may use it.
//!
//! Beyond Knot Resolver 6's format (every one optional, listed with its reason in
//! `tests/tests/reference_structure.rs`): `unix-socket-mode` and `unix-socket-group` (who may
//! connect to the socket) and `tokens` (bearer tokens for the TCP listener, each full or
//! read-only). The rules, enforced by the API (`api::guard`), are in `docs/reliability.md`,
//! section "API protection".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use schema_core::{AddrPort, Checks, FilePath, ResolveCx, Schema};

/// The unix socket the API listens on when the section names neither a socket nor an address.
pub const DEFAULT_API_SOCKET: &str = "/run/knot-resolver/kres-api.sock";

/// The socket's mode when the section gives none: only its owner (the manager's user) may
/// connect.
pub const DEFAULT_SOCKET_MODE: &str = "0600";

/// Where the manager's HTTP API (used by `kresctl`) listens: a unix socket or an IP address
/// with a port, not both, and who may use it. Whoever may use the API with full access
/// controls the resolver. Changing this section needs a restart of the service.
///
/// On the unix socket, the socket's mode and group decide who may connect (no token is asked).
/// Over TCP, every request needs a bearer token from `tokens`; without tokens, the API listens
/// on the loopback address only (127.0.0.1 or ::1, of the family of `interface`).
///
/// Knot Resolver 6 defaults the section to `{unix-socket: /run/knot-resolver/kres-api.sock}`
/// (what [`default_management`] returns). Here a section that names neither also means that
/// socket (pass 2 fills it in), instead of being an error.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = ManagementResolved, validate = check_management)]
pub struct Management {
    /// Path of the unix socket the API listens on (created by the manager).
    #[schema(min_len = 1, pattern = "^[^\\u0000]+$", resolve = resolve_unix_socket, into = MaybeSocket)]
    pub unix_socket: Option<String>,
    /// Permissions of the unix socket, in octal (`0660` lets `unix-socket-group` in). Others
    /// (the last digit) get nothing: whoever may connect controls the resolver.
    #[schema(default = "0600", pattern = "^0?[0-7]{3}$", validate = check_socket_mode, resolve = resolve_socket_mode, into = u32)]
    pub unix_socket_mode: String,
    /// Group (name or number) of the unix socket, for `unix-socket-mode` `0660`; by default
    /// the manager's own group.
    #[schema(pattern = "^([A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})$")]
    pub unix_socket_group: Option<String>,
    /// IP address and port (`127.0.0.1@5000`) the API listens on over TCP. Without `tokens`,
    /// an address that is not loopback is replaced by the loopback address (with a note).
    #[schema(validate = check_interface, resolve = resolve_interface, into = Option<AddrPort>)]
    pub interface: Option<AddrPort>,
    /// Bearer tokens for the API over TCP (`interface`); each request sends one as
    /// `Authorization: Bearer TOKEN`. Token files are re-read when they change.
    #[schema(default, max_items = 64)]
    pub tokens: Vec<ApiToken>,
}

/// A bearer token of the API over TCP, kept in a file.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// Name of the token, in the audit log and in the log of refusals (the token itself is
    /// never logged).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// File holding the token: one line of 16 to 4096 characters `A-Z a-z 0-9 - . _ ~ + / =`
    /// (e.g. `openssl rand -hex 32`). Others must have no access to the file (mode 0600 or
    /// 0640); the API refuses a token whose file they may read or write.
    pub file: FilePath,
    /// `full` for every route; `read-only` for `GET` (and `HEAD`) routes only: the config
    /// (secrets redacted), the status, the processes and the metrics.
    #[schema(default = "full")]
    pub scope: TokenScope,
}

/// What a token allows.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Every route, changes included.
    Full,
    /// Only the routes that read (`GET`, `HEAD`).
    ReadOnly,
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenScope::Full => "full",
            TokenScope::ReadOnly => "read-only",
        })
    }
}

/// A unix socket path, or none (the resolved `unix-socket`).
pub type MaybeSocket = Option<String>;

/// The section's default in Knot Resolver 6: the API on the default unix socket. The top-level
/// struct uses it as the field default (`#[schema(default = management::default_management)]`),
/// so documents and the JSON Schema show the socket path.
pub fn default_management() -> Management {
    Management {
        unix_socket: Some(DEFAULT_API_SOCKET.to_owned()),
        unix_socket_mode: DEFAULT_SOCKET_MODE.to_owned(),
        unix_socket_group: None,
        interface: None,
        tokens: Vec::new(),
    }
}

fn check_interface(interface: &Option<AddrPort>) -> Result<(), String> {
    match interface {
        Some(address) if address.port.is_none() => {
            Err(format!("{address} has no port; write the API's address with one, e.g. {address}@5000"))
        }
        _ => Ok(()),
    }
}

/// The mode as a number (pass 1 checked the text).
pub fn parse_mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text, 8).ok().filter(|mode| *mode <= 0o777)
}

fn check_socket_mode(mode: &String) -> Result<(), String> {
    match parse_mode(mode) {
        Some(bits) if bits & 0o007 != 0 => Err(format!(
            "{mode} lets every local user connect, and whoever connects controls the resolver; \
             give access to a group instead (`unix-socket-mode: \"0660\"` with `unix-socket-group`)"
        )),
        _ => Ok(()),
    }
}

fn check_management(management: &Management, checks: &mut Checks) {
    if management.unix_socket.is_some() && management.interface.is_some() {
        checks.error("interface", "the API listens on either `unix-socket` or `interface`, not both");
    }
    if management.interface.is_some() {
        if management.unix_socket_group.is_some() {
            checks.error("unix-socket-group", "applies to the unix socket only; the API listens on `interface`");
        }
        if management.unix_socket_mode != DEFAULT_SOCKET_MODE {
            checks.error("unix-socket-mode", "applies to the unix socket only; the API listens on `interface`");
        }
    } else if !management.tokens.is_empty() {
        checks.error(
            "tokens",
            "tokens protect the API over TCP (`interface`); the unix socket is protected by \
             `unix-socket-mode` and `unix-socket-group`",
        );
    }
    for (index, token) in management.tokens.iter().enumerate() {
        if management.tokens[..index].iter().any(|earlier| earlier.name == token.name) {
            checks.error(&format!("tokens/{index}/name"), format!("a second token named `{}`", token.name));
        }
    }
}

/// Pass 2: with neither a socket nor an address, the API is on the default socket.
fn resolve_unix_socket(
    value: &Option<String>,
    management: &Management,
    _: &mut ResolveCx<'_>,
) -> Result<Option<String>, String> {
    Ok(match (value, &management.interface) {
        (None, None) => Some(DEFAULT_API_SOCKET.to_owned()),
        _ => value.clone(),
    })
}

fn resolve_socket_mode(value: &String, _: &Management, _: &mut ResolveCx<'_>) -> Result<u32, String> {
    parse_mode(value).ok_or_else(|| format!("{value} is not an octal mode"))
}

/// Where the API over TCP listens: `interface`, or, without tokens, the loopback address of
/// its family (an address that is loopback already stays).
pub fn api_interface(interface: &AddrPort, tokens: &[ApiToken]) -> AddrPort {
    if !tokens.is_empty() || interface.addr.is_loopback() {
        return *interface;
    }
    let addr = match interface.addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    AddrPort { addr, port: interface.port }
}

/// Pass 2: without tokens, the API over TCP is on loopback only (with a note saying so).
fn resolve_interface(
    value: &Option<AddrPort>,
    management: &Management,
    cx: &mut ResolveCx<'_>,
) -> Result<Option<AddrPort>, String> {
    let Some(asked) = value else { return Ok(None) };
    let bound = api_interface(asked, &management.tokens);
    if bound != *asked {
        cx.note(format!(
            "no `tokens`: the API listens on {bound} (loopback only) instead of {asked}; \
             add a token to serve other machines"
        ));
    }
    Ok(Some(bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(management: &Management) -> ManagementResolved {
        schema_core::resolve_document(management, &schema_core::FakeSystem::default(), Default::default()).unwrap().0
    }

    fn load_err(text: &str) -> String {
        schema_core::load::<Management>(text, Some("t.yaml")).unwrap_err().to_string()
    }

    #[test]
    fn default_is_the_reference_default() {
        assert_eq!(
            default_management().to_json(),
            json!({
                "unix-socket": "/run/knot-resolver/kres-api.sock",
                "unix-socket-mode": "0600",
                "unix-socket-group": null,
                "interface": null,
                "tokens": [],
            })
        );
        // The derived default (an empty section) means the same socket once resolved.
        assert_eq!(resolve(&Management::default()), resolve(&default_management()));
        assert_eq!(resolve(&Management::default()).unix_socket.as_deref(), Some(DEFAULT_API_SOCKET));
        assert_eq!(resolve(&Management::default()).unix_socket_mode, 0o600);
    }

    #[test]
    fn realistic_snippets_map() {
        let m: Management = schema_core::load("interface: 127.0.0.1@5000\n", Some("t.yaml")).unwrap();
        assert_eq!(m.interface.unwrap().to_string(), "127.0.0.1@5000");
        assert_eq!(resolve(&m).unix_socket, None);
        let m: Management = schema_core::load("unix-socket: /run/kres/api.sock\n", Some("t.yaml")).unwrap();
        assert_eq!(resolve(&m).unix_socket.as_deref(), Some("/run/kres/api.sock"));
        let m: Management = schema_core::load(
            "unix-socket: /run/kres/api.sock\nunix-socket-mode: \"0660\"\nunix-socket-group: knot-resolver\n",
            Some("t.yaml"),
        )
        .unwrap();
        let resolved = resolve(&m);
        assert_eq!((resolved.unix_socket_mode, resolved.unix_socket_group.as_deref()), (0o660, Some("knot-resolver")));
        let m: Management = schema_core::load(
            "interface: 0.0.0.0@5000\ntokens:\n  - name: ops\n    file: /etc/kres/ops.token\n  - name: \
             prometheus\n    file: /etc/kres/prom.token\n    scope: read-only\n",
            Some("t.yaml"),
        )
        .unwrap();
        assert_eq!(m.tokens[1].scope, TokenScope::ReadOnly);
        assert_eq!(m.tokens[0].scope, TokenScope::Full);
        assert_eq!(resolve(&m).interface.unwrap().to_string(), "0.0.0.0@5000", "with tokens, the address stays");
    }

    #[test]
    fn without_tokens_tcp_is_loopback_only_with_a_note() {
        let m: Management = schema_core::load("interface: 192.0.2.1@5000\n", Some("t.yaml")).unwrap();
        let (resolved, notes) =
            schema_core::resolve_document(&m, &schema_core::FakeSystem::default(), Default::default()).unwrap();
        assert_eq!(resolved.interface.unwrap().to_string(), "127.0.0.1@5000");
        assert_eq!(
            notes.to_string(),
            "note: /interface: no `tokens`: the API listens on 127.0.0.1@5000 (loopback only) instead of 192.0.2.1@5000; \
             add a token to serve other machines"
        );
        let m: Management = schema_core::load("interface: '::@5000'\n", Some("t.yaml")).unwrap();
        assert_eq!(resolve(&m).interface.unwrap().addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        let m: Management = schema_core::load("interface: ::1@5000\n", Some("t.yaml")).unwrap();
        let (_, notes) =
            schema_core::resolve_document(&m, &schema_core::FakeSystem::default(), Default::default()).unwrap();
        assert!(notes.is_empty(), "loopback stays without a note: {notes}");
    }

    #[test]
    fn socket_and_interface_exclude_each_other() {
        assert_eq!(
            load_err("unix-socket: /run/kres/api.sock\ninterface: 127.0.0.1@5000\n"),
            "/interface: the API listens on either `unix-socket` or `interface`, not both (at t.yaml:2:12)"
        );
    }

    #[test]
    fn interface_needs_a_port() {
        assert_eq!(
            load_err("interface: 127.0.0.1\n"),
            "/interface: 127.0.0.1 has no port; write the API's address with one, e.g. 127.0.0.1@5000 (at t.yaml:1:12)"
        );
    }

    #[test]
    fn socket_settings_are_checked() {
        assert!(load_err("unix-socket-mode: \"0666\"\n").starts_with("/unix-socket-mode: 0666 lets every local user"));
        assert!(load_err("unix-socket-mode: \"0601\"\n").starts_with("/unix-socket-mode: 0601 lets every"));
        assert!(load_err("unix-socket-mode: \"rw\"\n").starts_with("/unix-socket-mode: \"rw\" does not match"));
        assert!(load_err("unix-socket-mode: 660\n").starts_with("/unix-socket-mode: expected"));
        assert!(load_err("unix-socket-group: 'a b'\n").starts_with("/unix-socket-group: \"a b\" does not match"));
        assert_eq!(
            load_err("interface: 127.0.0.1@5000\nunix-socket-group: adm\nunix-socket-mode: '0660'\n"),
            "/unix-socket-group: applies to the unix socket only; the API listens on `interface` (at t.yaml:2:20)\n\
             /unix-socket-mode: applies to the unix socket only; the API listens on `interface` (at t.yaml:3:19)"
        );
    }

    #[test]
    fn tokens_are_for_tcp_and_named_once() {
        assert!(
            load_err("tokens: [{name: a, file: /t}]\n").starts_with("/tokens: tokens protect the API over TCP"),
            "{}",
            load_err("tokens: [{name: a, file: /t}]\n")
        );
        assert_eq!(
            load_err("interface: 127.0.0.1@5000\ntokens: [{name: a, file: /t}, {name: a, file: /u}]\n"),
            "/tokens/1/name: a second token named `a` (at t.yaml:2:38)"
        );
        assert!(load_err("interface: 127.0.0.1@5000\ntokens: [{name: 'a b', file: /t}]\n").contains("does not match"));
        assert!(
            load_err("interface: 127.0.0.1@5000\ntokens: [{name: a, file: /t, scope: admin}]\n")
                .contains("/tokens/0/scope")
        );
    }
}
