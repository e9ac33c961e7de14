//! Each config section rendered for kresd 5.6 and checked against a real kresd: the Lua is
//! accepted, and DNS answers show the section doing what the config says.

use kres_tests::kresd::{Kresd, OFFLINE};

fn config(body: &str) -> String {
    format!("{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n{body}")
}

#[test]
fn listens_where_the_config_says() {
    let kresd = Kresd::start(&config("lua:\n  script: policy.add(policy.all(policy.REFUSE))\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("example.com", "A").rcode, "REFUSED");
    assert!(kresd.control_socket().exists(), "no control socket at {}", kresd.control_socket().display());
}

#[test]
fn lua_script_runs_as_written() {
    let script = "lua:\n  script: |\n    policy.add(policy.suffix(policy.ANSWER({ [kres.type.A] = { rdata = kres.str2ip('192.0.2.7'), ttl = 300 } }), { todname('answer.example.') }))\n    policy.add(policy.all(policy.REFUSE))\n";
    let kresd = Kresd::start(&config(script)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
}
