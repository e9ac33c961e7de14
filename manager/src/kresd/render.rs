//! Rendering a resolved config into the Lua configuration of one kresd worker, in the target's
//! [`Dialect`], with minijinja templates from `templates/kresd5/` or `templates/kresd6/`
//! (compiled into the binary).
//!
//! Templates are rendered in strict-undefined mode, and a custom formatter refuses to print any
//! string that did not go through the `lua` filter ([`lua::literal`]): the only way a config
//! value reaches Lua is as an inert literal. Lua code itself comes only from the templates and
//! from the operator's `lua` section (`lua.script`, `lua.script-file`), which the `lua_code`
//! filter passes through on purpose.

use std::path::PathBuf;

use minijinja::{Environment, UndefinedBehavior, Value};

use super::Dialect;
use super::lua;
use crate::config::Config;

/// The kresd 5 templates, by name. `worker.lua.j2` is the entry point; it includes one template
/// per config section.
const KRESD5: &[(&str, &str)] = &[
    ("worker.lua.j2", include_str!("../../../templates/kresd5/worker.lua.j2")),
    ("basics.lua.j2", include_str!("../../../templates/kresd5/basics.lua.j2")),
    ("options.lua.j2", include_str!("../../../templates/kresd5/options.lua.j2")),
    ("network.lua.j2", include_str!("../../../templates/kresd5/network.lua.j2")),
    ("cache.lua.j2", include_str!("../../../templates/kresd5/cache.lua.j2")),
    ("dnssec.lua.j2", include_str!("../../../templates/kresd5/dnssec.lua.j2")),
    ("logging.lua.j2", include_str!("../../../templates/kresd5/logging.lua.j2")),
    ("monitoring.lua.j2", include_str!("../../../templates/kresd5/monitoring.lua.j2")),
    ("dns64.lua.j2", include_str!("../../../templates/kresd5/dns64.lua.j2")),
    ("views.lua.j2", include_str!("../../../templates/kresd5/views.lua.j2")),
    ("local_data.lua.j2", include_str!("../../../templates/kresd5/local_data.lua.j2")),
    ("forward.lua.j2", include_str!("../../../templates/kresd5/forward.lua.j2")),
    ("lua.lua.j2", include_str!("../../../templates/kresd5/lua.lua.j2")),
    ("dialect.lua.j2", include_str!("../../../templates/kresd5/dialect.lua.j2")),
    ("rate_limiting.lua.j2", include_str!("../../../templates/kresd5/rate_limiting.lua.j2")),
    ("defer.lua.j2", include_str!("../../../templates/kresd5/defer.lua.j2")),
    ("rules_begin.lua.j2", include_str!("../../../templates/kresd5/rules_begin.lua.j2")),
    ("rules_end.lua.j2", include_str!("../../../templates/kresd5/rules_end.lua.j2")),
    ("fallback.lua.j2", include_str!("../../../templates/kresd5/fallback.lua.j2")),
];

/// The kresd 6 templates that differ from kresd 5's, by name; every other section is rendered
/// by kresd 5's template (kresd 6 runs that Lua unchanged: checked by the end-to-end suites on
/// both majors).
const KRESD6: &[(&str, &str)] = &[
    ("dialect.lua.j2", include_str!("../../../templates/kresd6/dialect.lua.j2")),
    ("rate_limiting.lua.j2", include_str!("../../../templates/kresd6/rate_limiting.lua.j2")),
    ("defer.lua.j2", include_str!("../../../templates/kresd6/defer.lua.j2")),
    ("rules_begin.lua.j2", include_str!("../../../templates/kresd6/rules_begin.lua.j2")),
    ("rules_end.lua.j2", include_str!("../../../templates/kresd6/rules_end.lua.j2")),
    ("fallback.lua.j2", include_str!("../../../templates/kresd6/fallback.lua.j2")),
];

/// Why a config could not be rendered. A config that passed validation and fails here is a bug
/// in a template or in validation, reported with the template and line.
#[derive(Debug, thiserror::Error)]
#[error("rendering the kresd configuration failed: {0:#}")]
pub struct RenderError(#[from] minijinja::Error);

/// What one worker needs beyond the config.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerContext {
    /// Worker number, from 0.
    pub id: u32,
    /// The worker's control socket (the manager talks to the worker through it).
    pub control_socket: PathBuf,
}

/// The templates of `dialect`: kresd 5's, with kresd 6's own in place of the same names.
fn templates(dialect: Dialect) -> Vec<(&'static str, &'static str)> {
    let own: &[(&str, &str)] = match dialect {
        Dialect::Kresd5 => &[],
        Dialect::Kresd6 => KRESD6,
    };
    KRESD5
        .iter()
        .map(|(name, source)| own.iter().find(|(own_name, _)| own_name == name).copied().unwrap_or((name, source)))
        .collect()
}

/// Renders the Lua configuration of one worker for a kresd of `dialect`.
pub fn render_worker(dialect: Dialect, config: &Config, worker: &WorkerContext) -> Result<String, RenderError> {
    // Compiled once per process and dialect: the manager renders every worker's Lua (twice per
    // change, for the plan's comparison) and compiling the templates costs more than rendering.
    type Compiled = std::sync::OnceLock<Result<Environment<'static>, minijinja::Error>>;
    static KRESD5_ENVIRONMENT: Compiled = std::sync::OnceLock::new();
    static KRESD6_ENVIRONMENT: Compiled = std::sync::OnceLock::new();
    let compiled = match dialect {
        Dialect::Kresd5 => &KRESD5_ENVIRONMENT,
        Dialect::Kresd6 => &KRESD6_ENVIRONMENT,
    };
    let env = compiled
        .get_or_init(|| environment(templates(dialect)))
        .as_ref()
        .map_err(|e| minijinja::Error::new(e.kind(), e.to_string()))?;
    let template = env.get_template("worker.lua.j2")?;
    Ok(template.render(minijinja::context! {
        config => Value::from_serialize(config),
        worker => Value::from_serialize(worker),
    })?)
}

fn environment(templates: Vec<(&'static str, &'static str)>) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_formatter(|out, state, value| {
        if value.as_str().is_some() && !value.is_safe() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "a string reached the Lua output without the `lua` filter",
            ));
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_filter("lua", |value: Value| lua::literal(&value).map(Value::from_safe_string));
    env.add_filter("lua_code", |code: String| Value::from_safe_string(code));
    env.add_filter("addr", |text: String| split_port(&text).0.to_owned());
    // Sizes and durations reach templates in their document form (`100M`, `5m`); these give
    // the numbers kresd's functions take.
    env.add_filter("bytes", |text: String| quantity(schema_core::Size::parse(&text).map(|s| s.bytes())));
    env.add_filter("seconds", |text: String| quantity(schema_core::Duration::parse(&text).map(|d| d.seconds())));
    env.add_filter("millis", |text: String| quantity(schema_core::Duration::parse(&text).map(|d| d.millis())));
    env.add_filter("minutes", |text: String| quantity(schema_core::Duration::parse(&text).map(|d| d.seconds() / 60)));
    env.add_filter("port", |text: String| split_port(&text).1.map_or(Value::from(()), Value::from));
    for (name, source) in templates {
        env.add_template(name, source)?;
    }
    Ok(env)
}

fn quantity(parsed: Result<u64, String>) -> Result<u64, minijinja::Error> {
    parsed.map_err(|message| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
}

/// `"127.0.0.1@53"` → (`"127.0.0.1"`, `Some(53)`); the `@port` form of the config's address
/// types.
fn split_port(text: &str) -> (&str, Option<u16>) {
    match text.rsplit_once('@') {
        Some((addr, port)) => match port.parse() {
            Ok(port) => (addr, Some(port)),
            Err(_) => (text, None),
        },
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_without_the_lua_filter_is_refused() {
        let mut env = environment(templates(Dialect::Kresd5)).expect("environment");
        env.add_template("bad", "x = {{ text }}").expect("parses");
        let err = env.get_template("bad").expect("exists").render(minijinja::context! { text => "os.exit()" });
        assert!(err.unwrap_err().to_string().contains("without the `lua` filter"));
        let ok = env.get_template("bad").expect("exists").render(minijinja::context! { text => 5 });
        assert_eq!(ok.unwrap(), "x = 5");
    }

    #[test]
    fn quantities_become_numbers() {
        let env = environment(templates(Dialect::Kresd5)).expect("environment");
        let out =
            env.render_str("{{ '1M' | bytes }} {{ '2m' | seconds }} {{ '1500ms' | millis }} {{ '2h' | minutes }}", ());
        assert_eq!(out.expect("renders"), "1048576 120 1500 120");
        assert!(env.render_str("{{ 'x' | bytes }}", ()).is_err());
    }

    fn render(dialect: Dialect, yaml: &str) -> String {
        let document = schema_core::yaml::parse(yaml, Some("t.yaml")).expect("parses");
        let version = match dialect {
            Dialect::Kresd5 => schema_core::Version::new(5, 6, 0),
            Dialect::Kresd6 => schema_core::Version::new(6, 5, 0),
        };
        let system = schema_core::FakeSystem { version: Some(version), ..Default::default() };
        let config = crate::config::validate(&document, &system, Default::default()).expect("valid").config;
        let worker = WorkerContext { id: 0, control_socket: "/run/kr/control/kresd0".into() };
        render_worker(dialect, &config, &worker).expect("renders")
    }

    #[test]
    fn kresd6_templates_replace_kresd5_ones_of_the_same_name() {
        for (name, _) in KRESD6 {
            assert!(
                KRESD5.iter().any(|(five, _)| five == name),
                "{name} replaces nothing: include it from worker.lua.j2"
            );
        }
    }

    #[test]
    fn kresd6_sets_up_rate_limiting_and_defer_on_tables_named_by_their_parameters() {
        let yaml = "rate-limiting:\n  enable: true\n  rate-limit: 100\ndefer:\n  log-period: 1m\n";
        let lua = render(Dialect::Kresd6, yaml);
        assert!(
            lua.contains(
                r#"C.ratelimiting_init("ratelimiting-524288-50-100-2-0-on", 524288, 50, 100, 2, 0, false) == 0"#
            ),
            "{lua}"
        );
        assert!(lua.contains(r#"C.defer_init("defer-60000", 60000, 1) == 0"#), "{lua}");
        let off = render(Dialect::Kresd6, "defer:\n  enable: false\n");
        assert!(off.contains("C.defer_init(nil, 0, 0) == 0") && !off.contains("ratelimiting_init"), "{off}");
        let five = render(Dialect::Kresd5, "defer:\n  enable: false\n");
        assert!(!five.contains("defer_init") && !five.contains("ratelimiting_init"), "{five}");
    }

    #[test]
    fn kresd6_listens_on_quic() {
        let lua = render(Dialect::Kresd6, "network:\n  listen:\n    - interface: 127.0.0.1@8853\n      kind: doq\n");
        assert!(lua.contains(r#"net.listen("127.0.0.1", 8853, { kind = "doq", freebind = false })"#), "{lua}");
    }

    #[test]
    fn ports_are_split() {
        assert_eq!(split_port("127.0.0.1@53"), ("127.0.0.1", Some(53)));
        assert_eq!(split_port("::1"), ("::1", None));
        assert_eq!(split_port("lo@853"), ("lo", Some(853)));
    }
}
