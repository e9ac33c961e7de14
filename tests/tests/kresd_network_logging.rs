//! The network (beyond listeners), logging, monitoring and dns64 sections rendered for kresd 5.6
//! and run by a real kresd: the Lua is accepted, and DNS answers, a dnstap or Graphite
//! collector, or the control socket show each setting in effect.

use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

use kres_manager::config::monitoring::CQUEUES_SOCKET;
use kres_manager::kresd::render::{self, WorkerContext};
use kres_tests::kresd::{ANSWER_ONLY, Kresd, OFFLINE, TempDir, config, free_port, kdig, render, section};
use schema_core::{FakeSystem, FileKind, Version};

/// Renders for kresd 5.6 on a system that has lua-cqueues (which the graphite module needs).
fn render_with_cqueues(yaml: &str) -> String {
    let document = schema_core::yaml::parse(yaml, Some("t.yaml")).expect("parses");
    let mut system = FakeSystem { version: Some(Version::new(5, 6, 0)), ..Default::default() };
    system.files.insert(CQUEUES_SOCKET.into(), FileKind::File);
    let validated =
        kres_manager::config::validate(&document, &system, Default::default()).unwrap_or_else(|r| panic!("{r}"));
    let worker = WorkerContext { id: 0, control_socket: "/run/kres/control/0".into() };
    render::render_worker(kres_manager::kresd::Dialect::Kresd5, &validated.config, &worker)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Static addresses (hints) for names under `example.`, which the policy lets through; every
/// other name is refused.
/// Two local addresses, and every other name refused (the config's own local data, which both
/// kresd majors answer the same way; kresd 6's `hints` live in its rules database, which a
/// `policy.PASS` rule skips).
/// The `hints` module's answer for `v4only.example` (NODATA for its AAAA, which DNS64 turns into
/// a synthesized answer), without policy rules (in kresd 6 hints are rules, which policy rules
/// come before).
const HINTS_MODULE: &str = "lua:\n  script: |\n    modules.load('hints')\n    hints.set('v4only.example 192.0.2.33')\n";

const LOCAL_ADDRESSES: &str = "local-data:\n  addresses:\n    v4only.example: 192.0.2.33\n    inner.example: 10.1.2.3\nlua:\n  script: policy.add(policy.all(policy.REFUSE))\n";

const NETWORK_FULL: &str = "  do-ipv6: false
  out-interface-v4: 127.0.0.1
  out-interface-v6: '::1'
  tcp-pipeline: 50
  edns-tcp-keepalive: false
  edns-buffer-size:
    upstream: 1400B
    downstream: 4K
  tls:
    sticket-secret: 0123456789abcdef0123456789abcdef
    padding: 64
  proxy-protocol:
    enable: true
    allow: [127.0.0.2, 10.0.0.0/8]
  address-renumbering:
    - source: 10.0.0.0/8
      destination: 192.0.2.0/24
    - source: 'fd00::/8'
      destination: '2001:db8::'
    - source: 172.16.0.0/12
      destination: '192.0.2.9!'
";

#[test]
fn snapshot_network() {
    let lua = render("");
    insta::assert_snapshot!("network_default", section(&lua, "-- network", "-- end"));
    let lua = render(
        "network:\n  listen:\n    - interface: [127.0.0.1, eth0@8853]\n      kind: dot\n      freebind: true\n  tls:\n    cert-file: /etc/kres/cert.pem\n    key-file: /etc/kres/key.pem\n    padding: false\n",
    );
    insta::assert_snapshot!("network_tls", section(&lua, "-- network", "-- end"));
    let lua = render(&format!("network:\n{NETWORK_FULL}"));
    insta::assert_snapshot!("network_full", section(&lua, "-- network", "-- end"));
}

#[test]
fn snapshot_logging_monitoring_dns64() {
    let lua = render("");
    insta::assert_snapshot!("logging_monitoring_default", section(&lua, "-- logging", "-- listeners"));
    let lua = render_with_cqueues(
        "logging:\n  level: debug\n  target: syslog\n  groups: [manager, io, tls_cl, rules, cache-gc]\n  dnstap:\n    enable: true\n    unix-socket: /run/dnstap.sock\n    log-queries: true\n    log-tcp-rtt: true\nmonitoring:\n  metrics: always\n  graphite:\n    enable: true\n    host: carbon.example.net\n    port: 2004\n    prefix: dns1\n    interval: 30s\n    tcp: true\ndns64:\n  enable: true\n  prefix: '2001:db8:64::/96'\n  reverse-ttl: 2m\n  exclude-subnets: ['::ffff:0:0/96', '2001:db8:bad::/48']\n",
    );
    insta::assert_snapshot!("logging_monitoring_dns64_full", section(&lua, "-- logging", "-- listeners"));
}

#[test]
fn edns_buffer_pipeline_and_outgoing_settings_take_effect() {
    let without_renumbering = NETWORK_FULL.split("  address-renumbering").next().expect("a first part");
    let kresd = Kresd::start(&config(&format!("{without_renumbering}{ANSWER_ONLY}"))).unwrap_or_else(|e| panic!("{e}"));
    // The downstream size is what clients are told.
    let out = kdig(kresd.port, "answer.example", "A", &["+bufsize=4096"]);
    assert!(out.contains("UDP size: 4096 B"), "{out}");
    // One value (kresd 5.6 and 6 print several results of one command differently).
    assert_eq!(kresd.control("table.concat({net.bufsize()}, ' ')"), "'4096 1400'");
    assert_eq!(kresd.control("net.tcp_pipeline()"), "50");
    assert_eq!(kresd.control("net.ipv4"), "true");
    assert_eq!(kresd.control("net.ipv6"), "false");
    assert_eq!(kresd.control("net.outgoing_v4()"), "'127.0.0.1'");
    assert_eq!(kresd.control("net.outgoing_v6()"), "'::1'");
    assert_eq!(kresd.control("net.tls_padding()"), "64");
    let allowed = kresd.control("net.proxy_allowed()");
    assert!(allowed.contains("'127.0.0.2/32'") && allowed.contains("'10.0.0.0/8'"), "{allowed}");
    // edns-tcp-keepalive off: no keepalive option (EDNS option 11) in TCP answers.
    let out = kdig(kresd.port, "answer.example", "A", &["+tcp", "+ednsopt=11"]);
    assert!(out.contains("192.0.2.7") && !out.contains("Option (11)"), "{out}");
}

#[test]
fn edns_tcp_keepalive_on_by_default() {
    let kresd = Kresd::start(&config(ANSWER_ONLY)).unwrap_or_else(|e| panic!("{e}"));
    let out = kdig(kresd.port, "answer.example", "A", &["+tcp", "+ednsopt=11"]);
    assert!(out.contains("Option (11)"), "{out}");
    assert_eq!(kresd.control("table.concat({net.bufsize()}, ' ')"), "'1232 1232'");
}

#[test]
fn address_renumbering_rewrites_answers() {
    let kresd = Kresd::start(&config(&format!(
        "  address-renumbering:\n    - source: 10.0.0.0/8\n      destination: 192.0.2.0/24\n{LOCAL_ADDRESSES}"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("inner.example", "A").data(), vec!["192.1.2.3"]);
    assert_eq!(kresd.query("v4only.example", "A").data(), vec!["192.0.2.33"]);
}

#[test]
fn address_renumbering_with_an_exclamation_mark_maps_a_whole_network_to_one_address() {
    // Knot Resolver 6's documented example: a whole network to one address (`'::1!'`).
    // The config's own local data (answered alike by both majors), every other name refused.
    let lua = "local-data:\n  addresses:\n    inner.example: 10.1.2.3\n    other.example: 10.200.0.1\n    \
               inner6.example: 'fd00::1:2'\n    outside.example: 192.0.2.200\n\
               lua:\n  script: policy.add(policy.all(policy.REFUSE))\n";
    let kresd = Kresd::start(&config(&format!(
        "  address-renumbering:\n    - source: 10.0.0.0/8\n      destination: '192.0.2.7!'\n    - source: 'fd00::/8'\n      \
         destination: '::1!'\n{lua}"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(kresd.lua.contains("{ \"10.0.0.0/8\", \"192.0.2.7!\" }"), "{}", kresd.lua);
    assert_eq!(kresd.query("inner.example", "A").data(), vec!["192.0.2.7"]);
    assert_eq!(kresd.query("other.example", "A").data(), vec!["192.0.2.7"]);
    assert_eq!(kresd.query("inner6.example", "AAAA").data(), vec!["::1"]);
    assert_eq!(kresd.query("outside.example", "A").data(), vec!["192.0.2.200"], "outside the source network");
}

#[test]
fn dns64_synthesizes_aaaa_from_a() {
    let kresd = Kresd::start(&config(&format!(
        "dns64:\n  enable: true\n  prefix: '2001:db8:64::/96'\n  reverse-ttl: 2m\n  exclude-subnets: ['::ffff:0:0/96']\n{HINTS_MODULE}"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("v4only.example", "AAAA").data(), vec!["2001:db8:64::c000:221"]);
    assert_eq!(kresd.control("dns64.rev_ttl"), "120");
}

#[test]
fn dot_listener_with_certificate_answers_over_tls() {
    let dir = TempDir::new("tls");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=resolver.test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let tls_port = free_port();
    let kresd = Kresd::start(&format!(
        "{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{tls_port}\n      kind: dot\n  tls:\n    cert-file: {}\n    key-file: {}\n    sticket-secret-file: {}\n{ANSWER_ONLY}",
        cert.display(),
        key.display(),
        cert.display(),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let out =
        kdig(tls_port, "answer.example", "A", &[&format!("+tls-ca={}", cert.display()), "+tls-hostname=resolver.test"]);
    assert!(out.contains("192.0.2.7"), "{out}\n{}", kresd.output());
    assert!(out.contains("TLS"), "{out}");
}

#[test]
fn logging_settings_take_effect_and_dnstap_reaches_its_collector() {
    let dir = TempDir::new("dnstap");
    let socket = dir.0.join("dnstap.sock");
    let listener = UnixListener::bind(&socket).expect("bind dnstap socket");
    let collector = std::thread::spawn(move || collect_dnstap(&listener));
    let kresd = Kresd::start(&config(&format!(
        "logging:\n  level: info\n  target: stderr\n  groups: [manager, io, tls_cl]\n  dnstap:\n    enable: true\n    unix-socket: {}\n    log-queries: true\n    log-responses: true\n{ANSWER_ONLY}",
        socket.display()
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.control("log_level()"), "'info'");
    assert_eq!(kresd.control("log_target()"), "'stderr'");
    let groups = kresd.control("log_groups()");
    assert!(groups.contains("'io'") && groups.contains("'tls_cl'") && !groups.contains("manager"), "{groups}");
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
    // The collector got the query's name in a dnstap message (wire format).
    let received = collector.join().expect("collector");
    assert!(contains(&received, b"\x06answer\x07example"), "{}", String::from_utf8_lossy(&received));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A minimal Frame Streams (bidirectional) receiver: answers READY with ACCEPT, then collects
/// what kresd sends until a dnstap message naming `answer.example` arrives (or 5 s pass).
fn collect_dnstap(listener: &UnixListener) -> Vec<u8> {
    use std::io::Write;
    const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
    let (mut stream, _) = listener.accept().expect("kresd connects to the dnstap socket");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    // READY control frame: escape (0), length, type 4, content type field.
    while !contains(&received, CONTENT_TYPE) {
        let n = stream.read(&mut buf).expect("READY frame");
        assert!(n > 0, "kresd closed the dnstap socket");
        received.extend_from_slice(&buf[..n]);
    }
    let mut accept = Vec::new();
    let body_len = 4 + 4 + 4 + CONTENT_TYPE.len();
    accept.extend_from_slice(&0u32.to_be_bytes());
    accept.extend_from_slice(&(body_len as u32).to_be_bytes());
    accept.extend_from_slice(&1u32.to_be_bytes()); // ACCEPT
    accept.extend_from_slice(&1u32.to_be_bytes()); // content type field
    accept.extend_from_slice(&(CONTENT_TYPE.len() as u32).to_be_bytes());
    accept.extend_from_slice(CONTENT_TYPE);
    stream.write_all(&accept).expect("ACCEPT frame");
    while !contains(&received, b"\x06answer\x07example") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    received
}

#[test]
fn stats_always_loaded() {
    let kresd = Kresd::start(&config(ANSWER_ONLY)).unwrap_or_else(|e| panic!("{e}"));
    assert!(kresd.control("modules.list()").contains("'stats'"));
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
    assert!(kresd.control("stats.get('answer.total')").parse::<u64>().expect("a number") >= 1);
}

/// kresd 5.6's graphite module needs lua-cqueues: without it the config is refused (pass 2)
/// rather than failing in kresd; with it, metrics reach a Graphite listener.
#[test]
fn graphite_sends_metrics_or_is_refused_without_lua_cqueues() {
    if !std::path::Path::new(CQUEUES_SOCKET).exists() {
        let yaml = "monitoring:\n  graphite:\n    enable: true\n    host: 127.0.0.1\n";
        let document = schema_core::yaml::parse(yaml, Some("t.yaml")).expect("parses");
        let system = schema_core::RealSystem { target_version: Some(schema_core::Version::new(5, 6, 0)) };
        let report = kres_manager::config::validate(&document, &system, Default::default()).expect_err("refused");
        assert!(report.to_string().contains("needs lua-cqueues"), "{report}");
        return;
    }
    let carbon = UdpSocket::bind("127.0.0.1:0").expect("bind");
    carbon.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let carbon_port = carbon.local_addr().expect("addr").port();
    let port = free_port();
    let lua = render_with_cqueues(&config(&format!(
        "monitoring:\n  graphite:\n    enable: true\n    host: 127.0.0.1\n    port: {carbon_port}\n    prefix: dns1\n    interval: 200ms\n{ANSWER_ONLY}"
    ))
    .replace("{port}", &port.to_string()));
    let kresd = Kresd::start_lua(&lua, port, TempDir::new("graphite")).unwrap_or_else(|e| panic!("{e}"));
    let modules = kresd.control("modules.list()");
    assert!(modules.contains("'stats'") && modules.contains("'graphite'"), "{modules}");
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
    let mut buf = [0u8; 65536];
    let n = carbon.recv(&mut buf).expect("Graphite metrics arrive");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.lines().any(|l| l.starts_with("dns1.")), "{text}");
}
