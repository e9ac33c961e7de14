//! The status page's side of the API, through the router: a browser is sent to the page, asked
//! for Basic credentials over TCP with tokens (the token as the password), refused a change from
//! a page of another origin; `/status` says who asks and `/audit` lists the changes.

use super::*;

const HTML: (&str, &str) = ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");

fn basic(user: &str, token: &str) -> (&'static str, String) {
    let credentials = format!("{user}:{token}");
    ("authorization", format!("Basic {}", base64(credentials.as_bytes())))
}

/// Standard base64 with padding (only for these tests; the manager only decodes).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((bits >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_test_encoder_is_standard_base64() {
    assert_eq!(base64(b"Man"), "TWFu");
    assert_eq!(base64(b"Ma"), "TWE=");
    assert_eq!(base64(b"M"), "TQ==");
}

#[tokio::test]
async fn a_browser_is_sent_to_the_page_and_other_clients_get_json() {
    let f = fixture().await;
    let browser = send(&f.app, Method::GET, "/", &[HTML], "").await;
    assert_eq!(browser.status, StatusCode::SEE_OTHER, "{browser:?}");
    assert_eq!(browser.headers["location"], "/ui");
    for accept in ["*/*", "application/json"] {
        let client = send(&f.app, Method::GET, "/", &[("accept", accept)], "").await;
        assert_eq!((client.status, client.body["generation"].clone()), (StatusCode::OK, json!(1)), "{accept}");
    }
    assert_eq!(get(&f.app, "/").await.body["ready"], true, "no Accept at all: JSON");

    let page = send(&f.app, Method::GET, "/ui", &[HTML], "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["cache-control"], "no-cache");
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'") && policy.contains("connect-src 'self'"), "{policy}");
    let version = super::super::ui::assets::version();
    assert!(page.text.contains(&format!("/ui/assets/{version}/app.js")), "{}", page.text);

    let asset = get(&f.app, &format!("/ui/assets/{version}/app.js")).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(asset.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(asset.headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(asset.headers["x-content-type-options"], "nosniff");
    let old = get(&f.app, "/ui/assets/0123456789abcdef/app.css").await;
    assert_eq!((old.status, old.headers["cache-control"].to_str().unwrap()), (StatusCode::OK, "no-cache"));
    let missing = get(&f.app, &format!("/ui/assets/{version}/nope.js")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn over_tcp_a_browser_is_asked_for_basic_credentials_whose_password_is_the_token() {
    let (f, lines) = fixture_with_tokens(Limits::default()).await;
    let client = "127.0.0.1:40000";
    // A browser navigating without credentials: asked for Basic ones; kresctl and curl: Bearer.
    let asked = send_from(&f.app, tcp(client), Method::GET, "/", &[HTML], "").await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(asked.headers["www-authenticate"], super::super::ui::basic::CHALLENGE);
    let api = send_from(&f.app, tcp(client), Method::GET, "/ui", &[("accept", "*/*")], "").await;
    assert_eq!(api.headers["www-authenticate"], r#"Bearer realm="kres-manager""#);
    // A wrong password is asked again.
    let wrong = basic("ops", "wrong-token-0123456789abcdef");
    let again = send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML, (wrong.0, &wrong.1)], "").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.headers["www-authenticate"], super::super::ui::basic::CHALLENGE);

    // The token as the password, whatever the user name: in, and told who it is.
    let full = basic("anyone", FULL_TOKEN);
    let page = send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML, (full.0, &full.1)], "").await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let read = basic("", READ_TOKEN);
    let status = send_from(&f.app, tcp(client), Method::GET, "/status", &[(read.0, &read.1)], "").await;
    assert_eq!(status.status, StatusCode::OK, "{status:?}");
    assert_eq!(
        status.body["you"],
        json!({"who": "token `prometheus` (read-only) from 127.0.0.1:40000", "token": "prometheus", "scope": "read-only"})
    );
    assert_eq!((status.body["generation"].clone(), status.body["workers"].clone()), (json!(1), json!(2)));
    assert_eq!(status.body["ready"], true);
    // The read-only token still cannot change anything, Basic or not.
    let refused =
        send_from(&f.app, tcp(client), Method::PUT, "/v1/config/workers", &[JSON, (read.0, &read.1)], "3").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(workers(&f), 2);
    let put = send_from(&f.app, tcp(client), Method::PUT, "/v1/config/workers", &[JSON, (full.0, &full.1)], "3").await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert!(lines_of(&lines).iter().all(|l| !l.contains(FULL_TOKEN) && !l.contains(&full.1[6..])));
}

#[tokio::test]
async fn a_change_from_a_page_of_another_origin_is_refused_and_audited() {
    let f = fixture().await;
    let evil = [JSON, ("origin", "http://evil.example"), ("host", "127.0.0.1:5000")];
    let refused = send(&f.app, Method::PUT, "/v1/config/workers", &evil, "3").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    assert!(refused.errors()[0].1.contains("another origin (http://evil.example"), "{refused:?}");
    let null = send(&f.app, Method::POST, "/reload", &[("origin", "null"), ("host", "127.0.0.1:5000")], "").await;
    assert_eq!(null.status, StatusCode::FORBIDDEN, "a sandboxed page");
    assert_eq!(f.state.handle().status().revision.generation, 1, "nothing was applied");
    // Reading is not concerned (the browser does not let the other page read the answer).
    assert_eq!(send(&f.app, Method::GET, "/v1/config/workers", &evil, "").await.status, StatusCode::OK);
    // The page's own origin, and a client without Origin (kresctl, curl).
    let own = [JSON, ("origin", "http://127.0.0.1:5000"), ("host", "127.0.0.1:5000")];
    assert_eq!(send(&f.app, Method::PUT, "/v1/config/workers", &own, "3").await.status, StatusCode::OK);
    assert_eq!(put(&f.app, "/v1/config/workers", "4").await.status, StatusCode::OK);

    let audit = get(&f.app, "/audit").await;
    let entries = audit.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4, "{audit:?}");
    assert_eq!(
        (entries[0]["status"].clone(), entries[0]["outcome"].clone()),
        (json!(200), json!("applied, generation 3"))
    );
    assert_eq!(entries[0]["plan"], json!([{"pointer": "/workers", "impact": "hot"}]));
    assert_eq!(entries[1]["outcome"], "applied, generation 2");
    assert_eq!((entries[3]["status"].clone(), entries[3]["method"].clone()), (json!(403), json!("PUT")));
    assert!(entries[3]["outcome"].as_str().unwrap().contains("another origin"), "{audit:?}");
    assert_eq!(audit.body["kept"], super::super::ui::changes::KEPT);
}

#[tokio::test]
async fn without_tokens_the_host_must_name_the_listener() {
    let listener: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let f =
        fixture_guarded(false, |_| Guard::new(Access::Loopback, Limits::default(), Journal::default()).on(listener))
            .await;
    let peer = tcp("127.0.0.1:40000");
    let change = |origin: &'static str, host: &'static str| {
        let (app, peer) = (f.app.clone(), peer.clone());
        async move {
            send_from(&app, peer, Method::PUT, "/v1/config/workers", &[JSON, ("origin", origin), ("host", host)], "3")
                .await
                .status
        }
    };
    // A page of a name that resolves to 127.0.0.1 (DNS rebinding) is its own origin, not ours.
    assert_eq!(change("http://rebound.example:5000", "rebound.example:5000").await, StatusCode::FORBIDDEN);
    assert_eq!(change("http://127.0.0.1:5001", "127.0.0.1:5001").await, StatusCode::FORBIDDEN, "another port");
    assert_eq!(change("http://127.0.0.1:5000", "localhost:5000").await, StatusCode::FORBIDDEN, "Origin is not Host");
    assert_eq!(change("http://localhost:5000", "localhost:5000").await, StatusCode::OK);
    assert_eq!(change("http://127.0.0.1:5000", "127.0.0.1:5000").await, StatusCode::OK);
    assert_eq!(workers(&f), 3);
}

#[tokio::test]
async fn a_browser_asked_for_credentials_is_not_counted_as_a_refusal() {
    let limits = Limits { failures: 3, window: Duration::from_secs(60) };
    let (f, lines) = fixture_with_tokens(limits).await;
    let client = "127.0.0.1:40000";
    // Every new tab (or browser profile) asks once without credentials.
    for _ in 0..10 {
        let asked = send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML], "").await;
        assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(lines_of(&lines), Vec::<String>::new(), "nothing logged");
    let full = basic("operator", FULL_TOKEN);
    let page = send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML, (full.0, &full.1)], "").await;
    assert_eq!(page.status, StatusCode::OK, "not locked out");
    // A wrong password from a browser is a guess like any other.
    let wrong = basic("operator", "wrong-token-0123456789abcdef");
    for _ in 0..3 {
        send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML, (wrong.0, &wrong.1)], "").await;
    }
    let locked = send_from(&f.app, tcp(client), Method::GET, "/ui", &[HTML, (full.0, &full.1)], "").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
}
