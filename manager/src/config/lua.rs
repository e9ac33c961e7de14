//! `lua`: Lua code of the operator's own, added to what kres-manager generates for kresd (or used
//! instead of it). Knot Resolver 6 also runs a "policy loader" process with its own script; kresd
//! 5.6 has no policy loader, so those keys are refused there.

use schema_core::{Checks, FileKind, FilePath, ResolveCx, Schema};

/// An optional file path (the derive's `into` takes a plain type name).
pub type OptionalFile = Option<FilePath>;

/// Custom Lua code for the resolver's workers.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = Lua, validate = check_lua)]
pub struct LuaRaw {
    /// Give the workers only the custom Lua (`script` or `script-file`) and none of the
    /// configuration generated from the other sections.
    #[schema(default = false)]
    pub script_only: bool,
    /// Lua code run by every worker after the generated configuration.
    pub script: Option<String>,
    /// A file of Lua code run by every worker after the generated configuration; an alternative
    /// to `script`.
    pub script_file: Option<FilePath>,
    /// Give the policy loader only the custom policy Lua and none of the generated rules
    /// (Knot Resolver 6 only: kresd 5.6 has no policy loader, so `true` is an error there).
    #[schema(default = false, resolve = resolve_policy_script_only, into = bool)]
    pub policy_script_only: bool,
    /// Lua code run by Knot Resolver 6's policy loader, which builds the rules database (kresd 5.6
    /// has neither; put worker code in `script` instead).
    #[schema(resolve = resolve_policy_script, into = OptionalString)]
    pub policy_script: Option<String>,
    /// A file of Lua code for Knot Resolver 6's policy loader; an alternative to `policy-script`
    /// (refused with kresd 5.6 like `policy-script`).
    #[schema(resolve = resolve_policy_script_file, into = OptionalFile)]
    pub policy_script_file: Option<FilePath>,
}

/// An optional string (the derive's `into` takes a plain type name).
pub type OptionalString = Option<String>;

fn check_lua(lua: &LuaRaw, checks: &mut Checks) {
    if lua.script.is_some() && lua.script_file.is_some() {
        checks.error("script-file", "`script` and `script-file` are both given; use one of them");
    }
    if lua.policy_script.is_some() && lua.policy_script_file.is_some() {
        checks.error("policy-script-file", "`policy-script` and `policy-script-file` are both given; use one of them");
    }
}

/// The installed kresd, as text, when it has no policy loader (older than 6, or unknown: the
/// daemon we manage is 5.6); `None` for a 6.x.
fn without_policy_loader(cx: &ResolveCx<'_>) -> Option<String> {
    super::target::before_6(cx)
}

fn policy_loader_error(key: &str, installed: &str) -> String {
    format!(
        "`{key}` is for the policy loader of Knot Resolver 6; {installed}, which has no policy loader \
         (Lua for the workers goes in `script` or `script-file`)"
    )
}

fn resolve_policy_script_only(value: &bool, _: &LuaRaw, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    match without_policy_loader(cx) {
        Some(installed) if *value => Err(policy_loader_error("policy-script-only", &installed)),
        _ => Ok(*value),
    }
}

fn resolve_policy_script(value: &Option<String>, _: &LuaRaw, cx: &mut ResolveCx<'_>) -> Result<Option<String>, String> {
    match without_policy_loader(cx) {
        Some(installed) if value.is_some() => Err(policy_loader_error("policy-script", &installed)),
        _ => Ok(value.clone()),
    }
}

fn resolve_policy_script_file(
    value: &Option<FilePath>,
    _: &LuaRaw,
    cx: &mut ResolveCx<'_>,
) -> Result<Option<FilePath>, String> {
    let Some(path) = value else { return Ok(None) };
    if let Some(installed) = without_policy_loader(cx) {
        return Err(policy_loader_error("policy-script-file", &installed));
    }
    // The same check as any file path's, which this resolver replaces.
    if cx.check_paths() {
        match cx.system().file_kind(path.as_path()) {
            Some(FileKind::File) => {}
            None => return Err(format!("{path} does not exist or is not readable")),
            Some(other) => return Err(format!("{path} is a {other}, not a file")),
        }
    }
    Ok(Some(path.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::Version;
    use schema_core::{FakeSystem, Report, ResolveOptions, Schema, resolve_document};
    use serde_json::json;

    fn load(text: &str) -> Result<LuaRaw, Report> {
        schema_core::load(text, Some("t.yaml"))
    }

    fn resolve(raw: &LuaRaw, system: &FakeSystem, check_paths: bool) -> Result<Lua, Report> {
        resolve_document(raw, system, ResolveOptions { check_paths }).map(|(lua, _)| lua)
    }

    fn kr6() -> FakeSystem {
        FakeSystem { version: Some(Version::new(6, 4, 2)), ..Default::default() }
    }

    #[test]
    fn default_is_the_reference_default() {
        let reference = json!({
            "script-only": false,
            "script": null,
            "script-file": null,
            "policy-script-only": false,
            "policy-script": null,
            "policy-script-file": null,
        });
        assert_eq!(LuaRaw::default().to_json(), reference);
        assert_eq!(load("{}").unwrap(), LuaRaw::default());
    }

    #[test]
    fn valid_snippet_maps_and_resolves_on_5_6() {
        let raw = load("script-only: true\nscript: |\n  modules.load('stats')\n  log_level('info')\n").unwrap();
        assert!(raw.script_only);
        assert_eq!(raw.script.as_deref(), Some("modules.load('stats')\nlog_level('info')\n"));
        let lua = resolve(&raw, &FakeSystem::default(), false).unwrap();
        assert_eq!(lua.script, raw.script);
        assert!(!lua.policy_script_only);

        let raw = load("script-file: /etc/knot-resolver/extra.lua\n").unwrap();
        assert_eq!(raw.script_file, Some(FilePath::parse("/etc/knot-resolver/extra.lua").unwrap()));
    }

    #[test]
    fn script_and_script_file_exclude_each_other() {
        let report = load("script: print(1)\nscript-file: /etc/x.lua\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/script-file: `script` and `script-file` are both given; use one of them (at t.yaml:2:14)"
        );
        let report = load("policy-script: print(1)\npolicy-script-file: /etc/x.lua\n").unwrap_err();
        assert_eq!(
            report.to_string(),
            "/policy-script-file: `policy-script` and `policy-script-file` are both given; use one of them \
             (at t.yaml:2:21)"
        );
    }

    #[test]
    fn script_file_is_checked_only_when_asked() {
        let raw = load("script-file: /etc/x.lua\n").unwrap();
        assert!(resolve(&raw, &FakeSystem::default(), false).is_ok());
        let report = resolve(&raw, &FakeSystem::default(), true).unwrap_err();
        assert_eq!(report.to_string(), "/script-file: /etc/x.lua does not exist or is not readable");
        let mut system = FakeSystem::default();
        system.files.insert("/etc/x.lua".into(), FileKind::File);
        assert!(resolve(&raw, &system, true).is_ok());
    }

    #[test]
    fn policy_loader_keys_are_refused_on_5_6() {
        let raw = load("policy-script-only: true\npolicy-script: x = 1\n").unwrap();
        let report = resolve(&raw, &FakeSystem::default(), false).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/policy-script-only: `policy-script-only` is for the policy loader of Knot Resolver 6; the installed \
             kresd is 5.6.0, which has no policy loader (Lua for the workers goes in `script` or `script-file`)\n\
             /policy-script: `policy-script` is for the policy loader of Knot Resolver 6; the installed kresd is \
             5.6.0, which has no policy loader (Lua for the workers goes in `script` or `script-file`)"
        );
        let raw = load("policy-script-file: /etc/p.lua\n").unwrap();
        let report = resolve(&raw, &FakeSystem::default(), false).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/policy-script-file: `policy-script-file` is for the policy loader of Knot Resolver 6; the installed \
             kresd is 5.6.0, which has no policy loader (Lua for the workers goes in `script` or `script-file`)"
        );
        // An explicit `false` asks for nothing.
        let raw = load("policy-script-only: false\n").unwrap();
        assert!(resolve(&raw, &FakeSystem::default(), false).is_ok());
    }

    #[test]
    fn policy_loader_keys_are_kept_on_6() {
        let raw = load("policy-script-only: true\npolicy-script-file: /etc/p.lua\n").unwrap();
        let lua = resolve(&raw, &kr6(), false).unwrap();
        assert!(lua.policy_script_only);
        assert_eq!(lua.policy_script_file, raw.policy_script_file);
        let report = resolve(&raw, &kr6(), true).unwrap_err();
        assert_eq!(report.to_string(), "/policy-script-file: /etc/p.lua does not exist or is not readable");
        let mut system = kr6();
        system.files.insert("/etc/p.lua".into(), FileKind::Directory);
        let report = resolve(&raw, &system, true).unwrap_err();
        assert_eq!(report.to_string(), "/policy-script-file: /etc/p.lua is a directory, not a file");
    }
}
