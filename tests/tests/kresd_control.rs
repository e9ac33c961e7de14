//! The control-socket client against a real kresd 5.6 started from a rendered config: results,
//! Lua errors, statistics, many calls on one connection and several connections at once.

use std::time::{Duration, Instant};

use kres_manager::kresd::control::{self, Control, ControlError, MAX_REPLY};
use kres_manager::kresd::lua;
use kres_manager::kresd::stats;
use kres_tests::kresd::{Kresd, REFUSE_THE_REST, config};

const TIMEOUT: Duration = Duration::from_secs(5);

fn start() -> Kresd {
    Kresd::start(&config(REFUSE_THE_REST)).unwrap_or_else(|e| panic!("{e}"))
}

async fn connect(kresd: &Kresd) -> Control {
    Control::connect(&kresd.control_socket(), TIMEOUT).await.unwrap_or_else(|e| panic!("{e}\n{}", kresd.output()))
}

fn lua_error(result: Result<String, ControlError>) -> String {
    match result {
        Err(ControlError::Lua { message, .. }) => message,
        other => panic!("expected a Lua error, got {other:?}"),
    }
}

#[tokio::test]
async fn statement_lists_expressions_and_returns() {
    let kresd = start();
    let mut control = connect(&kresd).await;
    // A statement list returns nothing, and its effects stay.
    assert_eq!(control.eval("cache.max_ttl(5) kres_test_value = 6", TIMEOUT).await.unwrap(), "");
    assert_eq!(control.eval("return cache.max_ttl() + kres_test_value", TIMEOUT).await.unwrap(), "11");
    // A lone expression gives its value; strings come back unquoted.
    assert_eq!(control.eval("1 + 1", TIMEOUT).await.unwrap(), "2");
    assert_eq!(control.eval("mode()", TIMEOUT).await.unwrap(), "normal");
    assert_eq!(control.eval("local a = 21 return a * 2", TIMEOUT).await.unwrap(), "42");
    assert_eq!(control.eval("return nil", TIMEOUT).await.unwrap(), "");
    assert_eq!(control.eval("return true", TIMEOUT).await.unwrap(), "true");
    // Other values are pretty-printed the way kresd's own text mode prints them.
    let table = "{ a = 1, b = { 'x', 'y' } }";
    assert_eq!(control.eval(&format!("return {table}"), TIMEOUT).await.unwrap(), kresd.control(table));
    // Only the first of several values.
    assert_eq!(control.eval("return 'first', 'second'", TIMEOUT).await.unwrap(), "first");
}

#[tokio::test]
async fn multi_line_chunks_and_awkward_strings_survive() {
    let kresd = start();
    let mut control = connect(&kresd).await;
    let chunk = "local t = {}\nfor i = 1, 3 do\n  t[#t + 1] = i -- a comment\nend\nreturn table.concat(t, ',')";
    assert_eq!(control.eval(chunk, TIMEOUT).await.unwrap(), "1,2,3");
    let chunk = "local s = [==[\nsingle ' double \" close ]] backslash \\ end\n]==]\nreturn s";
    assert_eq!(control.eval(chunk, TIMEOUT).await.unwrap(), "single ' double \" close ]] backslash \\ end\n");
    // Any text written as a literal comes back byte for byte, NUL and `\r` included.
    for text in ["a'b\"c\nd]]e\\f", "]]\n__binary\n> ", "nul \0 cr \r tab \t é ✓", ""] {
        let echoed = control.eval(&format!("return {}", lua::string(text)), TIMEOUT).await.unwrap();
        assert_eq!(echoed, text);
    }
    // A chunk ending in a comment, and a big chunk (kresd buffers a command split over reads).
    assert_eq!(control.eval("1 -- one", TIMEOUT).await.unwrap(), "1");
    let long = "x".repeat(300_000);
    assert_eq!(control.eval(&format!("return #'{long}'"), TIMEOUT).await.unwrap(), "300000");
}

#[tokio::test]
async fn lua_errors_are_errors_and_output_that_looks_like_one_is_not() {
    let kresd = start();
    let mut control = connect(&kresd).await;
    let message = lua_error(control.eval("foo(", TIMEOUT).await);
    assert_eq!(message, "[string \"foo(\"]:1: unexpected symbol near '<eof>'");
    let message = lua_error(control.eval("local x = 1\nx(", TIMEOUT).await);
    assert!(message.ends_with(":2: unexpected symbol near '<eof>'"), "{message}");
    let message = lua_error(control.eval("error('boom')", TIMEOUT).await);
    assert_eq!(message, "[string \"error('boom')\"]:1: boom");
    let message = lua_error(control.eval("no_such_function()", TIMEOUT).await);
    assert!(message.ends_with("attempt to call global 'no_such_function' (a nil value)"), "{message}");
    // Error values kresd itself would answer with an empty (successful-looking) reply.
    assert_eq!(lua_error(control.eval("error(nil)", TIMEOUT).await), "nil");
    assert!(lua_error(control.eval("error({})", TIMEOUT).await).starts_with("table: "));
    // A runtime error in a statement list, after a part of it ran.
    let message = lua_error(control.eval("kres_test_ran = true error('late')", TIMEOUT).await);
    assert!(message.ends_with(": late"), "{message}");
    assert_eq!(control.eval("kres_test_ran", TIMEOUT).await.unwrap(), "true");
    // Text that reads like an error is output.
    let looks_bad = "[string \"x\"]:1: unexpected symbol near '<eof>'";
    assert_eq!(control.eval(&format!("return {}", lua::string(looks_bad)), TIMEOUT).await.unwrap(), looks_bad);
    // Errors leave the connection usable.
    assert_eq!(control.eval("2 + 2", TIMEOUT).await.unwrap(), "4");
}

#[tokio::test]
async fn results_too_large_for_kresd_are_refused_whole() {
    let kresd = start();
    let mut control = connect(&kresd).await;
    let fits = control.eval(&format!("string.rep('x', {MAX_REPLY})"), TIMEOUT).await.unwrap();
    assert_eq!(fits.len(), MAX_REPLY);
    // kresd 5.6 would cut a 300 kB reply short and leave the client waiting for the rest.
    let err = control.eval("string.rep('x', 300000)", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ControlError::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("(300000 bytes)"), "{err}");
    let message = lua_error(control.eval("error(string.rep('e', 300000))", TIMEOUT).await);
    assert_eq!(message.len(), MAX_REPLY);
    assert_eq!(control.eval("'still usable'", TIMEOUT).await.unwrap(), "still usable");
}

#[tokio::test]
async fn statistics_are_read_and_parsed() {
    let kresd = start();
    // The rendered config loads the stats module.
    assert!(kresd.lua.contains("modules.load('stats')"), "{}", kresd.lua);
    assert_eq!(kresd.query("example.com", "A").rcode, "REFUSED");
    // The counters are read under the same names from both majors (5.6 lists them flat, 6.x
    // nests them by their first part).
    let mut control = connect(&kresd).await;
    let stats = stats::stats(&mut control, TIMEOUT).await.unwrap();
    for key in ["answer.total", "answer.1ms", "answer.slow", "query.dnssec", "request.udp", "request.doh"] {
        assert!(stats.list.contains_key(key), "{key} missing from {stats:?}");
    }
    assert!(stats.list["request.udp"] >= 1.0, "{stats:?}");
    assert!(stats.list["answer.total"] >= 1.0, "{stats:?}");
    assert!(stats.worker.queries >= 1, "{stats:?}");
    assert!(stats.worker.rss > 1_000_000, "{stats:?}");
    assert!(stats.worker.usertime + stats.worker.systime > 0.0, "{stats:?}");
    let worker = control.json("worker.stats()", TIMEOUT).await.unwrap();
    let keys: Vec<&str> = worker.as_object().unwrap().keys().map(String::as_str).collect();
    eprintln!("worker.stats() keys: {keys:?}");
}

#[tokio::test]
async fn json_of_values_and_errors() {
    let kresd = start();
    let socket = kresd.control_socket();
    let value = control::json(&socket, "{ a = 1, b = 'two', c = { 3 } }", TIMEOUT).await.unwrap();
    assert_eq!(value, serde_json::json!({"a": 1, "b": "two", "c": [3]}));
    assert_eq!(control::json(&socket, "nil", TIMEOUT).await.unwrap(), serde_json::Value::Null);
    assert_eq!(control::json(&socket, "1 -- trailing comment", TIMEOUT).await.unwrap(), serde_json::json!(1));
    let err = control::json(&socket, "no_such_table.field", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ControlError::Lua { .. }), "{err}");
    assert_eq!(control::eval(&socket, "'one shot'", TIMEOUT).await.unwrap(), "one shot");
}

#[tokio::test]
async fn a_hundred_evals_on_one_connection() {
    let kresd = start();
    let started = Instant::now();
    let mut control = connect(&kresd).await;
    let connected = started.elapsed();
    let started = Instant::now();
    for i in 0..100 {
        assert_eq!(control.eval(&format!("return {i} * 2"), TIMEOUT).await.unwrap(), (i * 2).to_string());
    }
    let each = started.elapsed() / 100;
    let started = Instant::now();
    for _ in 0..20 {
        control::eval(&kresd.control_socket(), "1", TIMEOUT).await.unwrap();
    }
    let one_shot = started.elapsed() / 20;
    eprintln!("connect + handshake {connected:?}; eval round trip {each:?}; one-shot connect + eval {one_shot:?}");
    assert!(each < Duration::from_millis(50), "{each:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_connections_in_parallel() {
    let kresd = start();
    let socket = kresd.control_socket();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        let socket = socket.clone();
        tasks.spawn(async move {
            let mut control = Control::connect(&socket, TIMEOUT).await.expect("connect");
            for i in 0..25 {
                let expected = format!("{task}-{i}");
                let text = control.eval(&format!("return '{task}' .. '-' .. {i}"), TIMEOUT).await.expect("eval");
                assert_eq!(text, expected);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap_or_else(|e| panic!("{e}\n{}", kresd.output()));
    }
}

#[tokio::test]
async fn a_missing_socket_or_a_stopped_kresd() {
    let kresd = start();
    let socket = kresd.control_socket();
    let mut control = connect(&kresd).await;
    drop(kresd);
    let err = control.eval("1", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ControlError::Io { .. }), "{err}");
    let err = control::eval(&socket, "1", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ControlError::Connect { .. }), "{err}");
}
