//! `management`: where the manager's HTTP API listens, a unix socket or a TCP address.

use schema_core::{AddrPort, Checks, ResolveCx, Schema};

/// The unix socket the API listens on when the section names neither a socket nor an address.
pub const DEFAULT_API_SOCKET: &str = "/run/knot-resolver/kres-api.sock";

/// Where the manager's HTTP API (used by `kresctl`) listens: a unix socket or an IP address
/// with a port, not both. The API has no authentication, so whoever can reach it controls the
/// resolver. Changing this section needs a restart of the service.
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
    /// IP address and port (`127.0.0.1@5000`) the API listens on over TCP.
    #[schema(validate = check_interface)]
    pub interface: Option<AddrPort>,
}

/// A unix socket path, or none (the resolved `unix-socket`).
pub type MaybeSocket = Option<String>;

/// The section's default in Knot Resolver 6: the API on the default unix socket. The top-level
/// struct uses it as the field default (`#[schema(default = management::default_management)]`),
/// so documents and the JSON Schema show the socket path.
pub fn default_management() -> Management {
    Management { unix_socket: Some(DEFAULT_API_SOCKET.to_owned()), interface: None }
}

fn check_interface(interface: &Option<AddrPort>) -> Result<(), String> {
    match interface {
        Some(address) if address.port.is_none() => {
            Err(format!("{address} has no port; write the API's address with one, e.g. {address}@5000"))
        }
        _ => Ok(()),
    }
}

fn check_management(management: &Management, checks: &mut Checks) {
    if management.unix_socket.is_some() && management.interface.is_some() {
        checks.error("interface", "the API listens on either `unix-socket` or `interface`, not both");
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(management: &Management) -> ManagementResolved {
        schema_core::resolve_document(management, &schema_core::FakeSystem::default(), Default::default()).unwrap().0
    }

    #[test]
    fn default_is_the_reference_default() {
        assert_eq!(
            default_management().to_json(),
            json!({"unix-socket": "/run/knot-resolver/kres-api.sock", "interface": null})
        );
        // The derived default (an empty section) means the same socket once resolved.
        assert_eq!(resolve(&Management::default()), resolve(&default_management()));
        assert_eq!(resolve(&Management::default()).unix_socket.as_deref(), Some(DEFAULT_API_SOCKET));
    }

    #[test]
    fn realistic_snippets_map() {
        let m: Management = schema_core::load("interface: 127.0.0.1@5000\n", Some("t.yaml")).unwrap();
        assert_eq!(m.interface.unwrap().to_string(), "127.0.0.1@5000");
        assert_eq!(resolve(&m).unix_socket, None);
        let m: Management = schema_core::load("unix-socket: /run/kres/api.sock\n", Some("t.yaml")).unwrap();
        assert_eq!(resolve(&m).unix_socket.as_deref(), Some("/run/kres/api.sock"));
    }

    #[test]
    fn socket_and_interface_exclude_each_other() {
        let report = schema_core::load::<Management>(
            "unix-socket: /run/kres/api.sock\ninterface: 127.0.0.1@5000\n",
            Some("t.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            report.to_string(),
            "/interface: the API listens on either `unix-socket` or `interface`, not both (at t.yaml:2:12)"
        );
    }

    #[test]
    fn interface_needs_a_port() {
        let report = schema_core::load::<Management>("interface: 127.0.0.1\n", Some("t.yaml")).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/interface: 127.0.0.1 has no port; write the API's address with one, e.g. 127.0.0.1@5000 (at t.yaml:1:12)"
        );
    }
}
