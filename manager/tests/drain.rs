//! The graceful end of TCP and DoT connections when a worker is taken out of service (issue 14),
//! end to end: the real service (`kres-manager -c FILE`, supervisord, kresd workers listening
//! for plain DNS and DoT), long-lived clients from `kres_tests::stream`, and a real knotd
//! upstream where a query has to stay in flight.
//!
//! What holds, each shown here without depending on timing:
//! - clients that ask for edns-tcp-keepalive are told a timeout of 0 while their worker drains,
//!   leave by themselves, and lose no query, through rolling restarts under continuous load;
//!   clients that do not ask lose nothing after one retry;
//! - a query in flight when the drain begins is answered before its connection is closed, and
//!   every connection is closed by the server, after which the client's next connection is served;
//! - a worker that cannot finish is stopped when the drain time is over, and the manager says what
//!   was left.
//!
//! (How many queries need a retry under load is a figure, not a test: `cargo bench -p
//! kres-manager --bench drain`, recorded in docs/performance.md.)

use std::path::Path;
use std::time::{Duration, Instant};

use kres_tests::knotd::Knotd;
use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::{Service, service_certificate, with_dot};
use kres_tests::stream::{Connection, Options, StreamLoad, Transport, keepalive_timeout, query, server_of};

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

/// A service with plain DNS and DoT listeners and its clients' two transports.
struct Setup {
    service: Service,
    dot_port: u16,
    dot: Transport,
    _certificates: TempDir,
}

impl Setup {
    fn start(workers: u32, extra: &str, args: &[&str]) -> Setup {
        let certificates = TempDir::new("drain-certs");
        let (certificate, key) = service_certificate(&certificates.0, "resolver.test");
        let dot_port = free_port();
        let yaml = with_dot(&kres_tests::service::config(workers, extra), dot_port, (&certificate, &key));
        let service = Service::start_with(Path::new(EXE), &yaml, args);
        let dot = Transport::Tls { certificate: certificate.into(), name: "resolver.test".into() };
        Setup { service, dot_port, dot, _certificates: certificates }
    }

    fn api(&self, method: &str, path: &str, body: &str) -> kres_tests::http::Reply {
        let headers = [("Content-Type", "application/json")];
        kres_tests::http::unix(&self.service.api_socket(), method, path, &headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Opens connections (answering a first query each) until `count` of them reached `worker`.
    fn connections_on(&self, worker: &str, transport: &Transport, count: usize) -> Vec<Connection> {
        let port = match transport {
            Transport::Tcp => self.service.port,
            Transport::Tls { .. } => self.dot_port,
        };
        let mut found = Vec::new();
        for attempt in 0..200 {
            let mut connection = Connection::connect(port, transport, Duration::from_secs(10)).expect("connect");
            let answer = connection.exchange(&query(attempt, "a.example", false), Duration::from_secs(10));
            assert!(answer.is_ok_and(|a| a[3] & 0x0f == 0), "a first query on a new connection is answered");
            let deadline = Instant::now() + Duration::from_secs(5);
            let holder = loop {
                if let Some(holder) = server_of(port, connection.local_port(), &self.service.workers()) {
                    break holder;
                }
                assert!(Instant::now() < deadline, "no worker holds the connection from {}", connection.local_port());
                std::thread::sleep(Duration::from_millis(5));
            };
            if holder == worker {
                found.push(connection);
                if found.len() == count {
                    return found;
                }
            }
        }
        panic!("200 connections and fewer than {count} reached {worker}");
    }
}

/// `yaml`'s rolling change number `n`: the EDNS buffer size towards clients.
fn buffer_size(n: u32) -> String {
    format!("{{\"downstream\": \"{}B\"}}", 1232 + 8 * n)
}

#[test]
fn clients_asking_for_keepalive_are_told_to_go_and_lose_no_query_across_rolling_restarts() {
    let setup = Setup::start(2, "", &[]);
    let load = |port, transport: &Transport, keepalive, clients| {
        StreamLoad::start(&Options { keepalive, ..Options::new(port, transport.clone(), clients, "a.example") })
    };
    let keepalive_tcp = load(setup.service.port, &Transport::Tcp, true, 6);
    let keepalive_dot = load(setup.dot_port, &setup.dot, true, 6);
    let plain_tcp = load(setup.service.port, &Transport::Tcp, false, 4);
    let plain_dot = load(setup.dot_port, &setup.dot, false, 4);
    for n in 1..=3 {
        let before = keepalive_tcp.tally().sent + keepalive_dot.tally().sent;
        let reply = setup.api("PUT", "/v1/config/network/edns-buffer-size", &buffer_size(n));
        assert_eq!(reply.status, 200, "{reply:?}\n{}", setup.service.log());
        assert!(reply.text.contains("canary READY"), "a rolling change: {reply:?}");
        // Every connection is served again before the next change (the clients keep asking).
        let deadline = Instant::now() + Duration::from_secs(10);
        while keepalive_tcp.tally().sent + keepalive_dot.tally().sent < before + 200 {
            assert!(Instant::now() < deadline, "the clients stopped asking");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let (keepalive_tcp, keepalive_dot) = (keepalive_tcp.finish(), keepalive_dot.finish());
    let (plain_tcp, plain_dot) = (plain_tcp.finish(), plain_dot.finish());
    println!(
        "keepalive TCP {keepalive_tcp:?}\nkeepalive DoT {keepalive_dot:?}\nplain TCP {plain_tcp:?}\nplain DoT {plain_dot:?}"
    );
    for (what, tally) in [("TCP", &keepalive_tcp), ("DoT", &keepalive_dot)] {
        assert!(tally.sent > 500, "{what}: the load ran: {tally:?}");
        assert_eq!(
            (tally.retried, tally.failed, tally.error_rcodes),
            (0, 0, 0),
            "{what} clients lost nothing: {tally:?}"
        );
        // Each drain of a worker or of the canary tells its clients to go, and they leave.
        assert!(tally.told_to_go >= 3, "{what}: told to go in each restart: {tally:?}");
    }
    for (what, tally) in [("TCP", &plain_tcp), ("DoT", &plain_dot)] {
        assert_eq!((tally.failed, tally.error_rcodes), (0, 0), "{what}: nothing lost after a retry: {tally:?}");
        assert_eq!(tally.told_to_go, 0, "{what}: clients that did not ask hear nothing: {tally:?}");
        assert!(tally.closed_by_server >= 3, "{what}: their connections were closed by the drains: {tally:?}");
    }
}

#[test]
fn a_query_in_flight_is_answered_before_its_connection_is_closed() {
    let knotd = Knotd::start(&[(
        "held.example.",
        "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n* A 198.51.100.7\n",
    )])
    .expect("knotd");
    let forward = format!(
        "forward:\n  - subtree: held.example\n    servers: [{}]\n    options:\n      authoritative: true\n",
        knotd.address()
    );
    let setup = Setup::start(2, &forward, &["--drain-timeout", "30s"]);
    let mut busy = setup.connections_on("kresd1", &Transport::Tcp, 1);
    busy.extend(setup.connections_on("kresd1", &setup.dot, 1));
    let mut idle = setup.connections_on("kresd1", &Transport::Tcp, 1);
    idle.extend(setup.connections_on("kresd1", &setup.dot, 1));
    // The upstream stops answering: the busy connections' queries stay in flight.
    knotd.pause();
    for (n, connection) in busy.iter_mut().enumerate() {
        connection.send(&query(1000 + n as u16, &format!("q{n}.held.example"), false)).expect("send");
    }
    let kresd1 = setup.service.rundir().join("control").join("kresd1");
    let deadline = Instant::now() + Duration::from_secs(5);
    let in_progress = || kres_tests::kresd::control(&kresd1, "worker.stats().concurrent").unwrap_or_default();
    while in_progress().trim() != "2" {
        assert!(Instant::now() < deadline, "kresd1 has the 2 queries in progress: {}", in_progress());
        std::thread::sleep(Duration::from_millis(5));
    }
    let scale_down = {
        let socket = setup.service.api_socket();
        std::thread::spawn(move || {
            let headers = [("Content-Type", "application/json")];
            kres_tests::http::unix(&socket, "PUT", "/v1/config/workers", &headers, "1")
        })
    };
    // kresd1 drains, but cannot finish while the queries are in flight: it stays, and so do the
    // busy connections (300 ms is the time a drain that closed them would have had).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kres_tests::kresd::control(&kresd1, "kres_manager_drain and 'draining' or ''")
        .is_ok_and(|reply| reply.contains("draining"))
    {
        assert!(Instant::now() < deadline, "kresd1 did not start draining:\n{}", setup.service.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        setup.service.workers().contains_key("kresd1"),
        "kresd1 waits for its queries in flight:\n{}",
        setup.service.log()
    );
    for connection in &mut busy {
        assert!(!connection.closed_by_peer(), "a connection with a query in flight stays open: {connection:?}");
    }
    knotd.resume();
    for (n, connection) in busy.iter_mut().enumerate() {
        let answer = connection.receive().unwrap_or_else(|e| panic!("the query in flight is answered: {e}"));
        assert_eq!(answer[..2], (1000 + n as u16).to_be_bytes(), "its answer");
        assert_eq!(keepalive_timeout(&answer), None, "it did not ask for keepalive");
        connection.wait_for_end().unwrap_or_else(|e| panic!("then the server closes it: {e}"));
    }
    for connection in &mut idle {
        connection.wait_for_end().unwrap_or_else(|e| panic!("an idle connection is closed: {e}"));
    }
    let reply = scale_down.join().expect("the API call").expect("the API answers");
    assert_eq!(reply.status, 200, "{reply:?}\n{}", setup.service.log());
    let log = setup.service.log();
    let line = log.lines().find(|l| l.contains("kresd1 drained in")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(": 4 TCP connection(s)"), "{line}");
    // The clients' next connections are served (by kresd0).
    for transport in [Transport::Tcp, setup.dot.clone()] {
        let port = if matches!(transport, Transport::Tcp) { setup.service.port } else { setup.dot_port };
        let mut connection = Connection::connect(port, &transport, Duration::from_secs(10)).expect("connect again");
        let answer = connection.exchange(&query(7, "a.example", false), Duration::from_secs(10)).expect("answered");
        assert_eq!(answer[3] & 0x0f, 0);
    }
}

#[test]
fn a_worker_that_cannot_finish_is_stopped_when_the_drain_time_is_over() {
    // A query on kresd1 that its upstream never answers (knotd is paused): kresd1 never has
    // nothing in flight, on either kresd major. (A client that sends many queries and reads no
    // answer does not do it on kresd 6, which ends such a connection itself.)
    let knotd = Knotd::start(&[(
        "held.example.",
        "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n",
    )])
    .expect("knotd");
    let forward = format!(
        "forward:\n  - subtree: held.example\n    servers: [{}]\n    options:\n      authoritative: true\n",
        knotd.address()
    );
    let setup = Setup::start(2, &forward, &["--drain-timeout", "500ms"]);
    let mut held = setup.connections_on("kresd1", &Transport::Tcp, 1);
    knotd.pause();
    held[0].send(&query(1000, "q.held.example", false)).expect("send");
    let kresd1 = setup.service.rundir().join("control").join("kresd1");
    let deadline = Instant::now() + Duration::from_secs(5);
    let in_progress = || kres_tests::kresd::control(&kresd1, "worker.stats().concurrent").unwrap_or_default();
    while in_progress().trim() != "1" {
        assert!(Instant::now() < deadline, "kresd1 has the query in progress: {}", in_progress());
        std::thread::sleep(Duration::from_millis(5));
    }
    let began = Instant::now();
    let reply = setup.api("PUT", "/v1/config/workers", "1");
    let took = began.elapsed();
    knotd.resume();
    assert_eq!(reply.status, 200, "{reply:?}\n{}", setup.service.log());
    let log = setup.service.log();
    let line = log.lines().find(|l| l.contains("kresd1 drained in")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("drain time over with 1 connection(s)"), "{line}");
    assert!(took >= Duration::from_millis(500), "the drain waited its time: {took:?}");
    assert!(!setup.service.workers().contains_key("kresd1"), "kresd1 was stopped");
}
