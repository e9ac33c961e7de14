//! The plan: a pure function from the running config and a new one to what must be done to go
//! from the first to the second. It does no I/O; the apply pipeline executes it.
//!
//! # How changes are found
//!
//! Both configs are serialized to their document form (kebab-case keys, as the API shows them)
//! and walked side by side. Every changed scalar is one change, named by its RFC 6901 pointer
//! (`/logging/level`); a changed list is one change at the list's pointer (`/network/listen`),
//! since items of a list have no identity of their own; a value that appears, disappears or
//! changes kind (null to mapping) is one change at its pointer. Sizes and durations serialize
//! in one canonical form (`1024K` and `1M` both as `1M`, `60s` and `1m` both as `1m`), so they
//! compare by value: rewriting a value in another unit is no change at all (Knot Resolver 6
//! restarts every worker for it).
//!
//! # Impact of each change
//!
//! * **hot**: applied to the running workers without restarting them: a Lua chunk run on each
//!   worker's control socket, or an action of the manager (start or stop some workers, restart
//!   the cache garbage collector).
//! * **rolling**: the workers are restarted one at a time with the new config. The safe
//!   default: whatever is not in the table below is rolling.
//! * **restart-required**: the running service cannot take the change; it applies when the
//!   whole service is restarted.
//!
//! | Pointer | Impact | Done with | Why |
//! |---|---|---|---|
//! | `/rundir` | restart-required | — | supervisord's socket and config, every worker's working directory and control socket live there: moving it means a new supervisor and new workers, i.e. a new service |
//! | `/management/*` | restart-required | — | the API endpoint the change itself arrives through; moving it while serving would cut off the client (Knot Resolver 6 treats it the same) |
//! | `/workers` | hot | start or stop only the difference | the other workers are untouched; new ones start from the new config |
//! | `/cache/garbage-collector/*` | hot | restart `kres-cache-gc` alone | the GC is a separate process that only reads its command line; workers do not know it (Knot Resolver 6 needs a service restart for this) |
//! | `/logging/level` | hot | `log_level(level)` | kresd 5.6 sets the level of its logger at runtime; the same call a fresh worker makes |
//! | `/logging/groups` | hot | `log_groups({...})` | in kresd 5.6 `log_groups` *replaces* the set of debug groups (verified), so the call with the new list, filtered exactly as the template filters it (the manager's own groups dropped), leaves the state a fresh worker has |
//! | `/logging/target` | hot | `log_target(target)` | kresd 5.6 switches its log stream at runtime |
//! | `/cache/ttl-min`, `/cache/ttl-max` | hot | `cache.min_ttl(s)`, `cache.max_ttl(s)` | per-process settings read on every cache insertion |
//! | `/cache/ns-timeout` | hot | `cache.ns_tout(ms)` | per-process setting read when servers are chosen |
//! | `/network/tls/cert-file`, `/network/tls/key-file` | hot when the new config has both | `net.tls(cert, key)` | kresd 5.6 loads new credentials at runtime and uses them for new TLS sessions (the old ones are freed when unused); rolling when they are removed, since `net.tls` cannot go back to the self-signed certificate |
//! | `/local-data/addresses`, `addresses-files`, `records` | hot when the old and the new config both have one of them | the worker's local-data answer rule rebuilt in place | kresd 5.6 has no rules database: the template turns these into one policy rule, the first one the worker config adds (id 0, ahead of `rules`, `rpz`, `forward` and the operator's Lua); the chunk builds the new rule with the worker's own `kres_manager.local_data` (same TTL and nodata semantics) and swaps it into that rule, keeping its position. The chunk checks the rule is the one the template made and fails otherwise (then the executor must fall back to a rolling restart). Rolling when the rule must appear or disappear |
//! | `/local-data/ttl`, `/local-data/nodata` | hot as above when neither config has `rules` | same chunk | the defaults reach `rules` too, which are not rebuilt |
//! | `/options/minimize`, `query-loopback`, `reorder-rrset`, `query-case-randomization` | hot | `option('NO_MINIMIZE', …)` etc. | resolver context flags, copied into every new request |
//! | `/options/glue-checking` | hot | `mode(…)` | the same flags (`STRICT`, `PERMISSIVE`) |
//! | `/nsid` | hot when both configs have one | `nsid.name(…)` | the `nsid` module is loaded in both; adding or removing the module changes the worker's layers: rolling |
//! | `/hostname` | hot unless Graphite is enabled in either config | `hostname(…)` | kresd 5.6 sets it at runtime (and renews its self-signed certificate with it); the `graphite` module copies it into its prefix when loaded, hence rolling then |
//! | any other pointer whose change leaves the workers' rendered Lua unchanged | hot | nothing on the workers | e.g. `/monitoring/metrics`, `/network/tls/watchdog`, Knot Resolver 6-only sections that are disabled: restarting a worker would give it the very same config |
//! | everything else | rolling | rolling restart of every worker | e.g. `/cache/size-max` (kresd 5.6 can call `cache.open` again, but the LMDB cache is shared by all workers and the GC, and resizing it under them is not safe), `/cache/storage`, `/network/listen`, `/views`, `/forward`, `/local-data/rules`, `/local-data/rpz`, `/dnssec/*`, `/lua/*`, module switches in `/options/*` (loading or unloading a module at runtime puts its layer elsewhere than a fresh worker has it) |
//!
//! The cache garbage collector is also restarted when the cache's directory or size changes
//! ([`Plan::cache_gc`]), so that it works on the database the workers use.
//!
//! # Hot Lua
//!
//! Every chunk is one line (the control socket runs each line separately) and a `do … end`
//! block, so a worker's reply is empty when the chunk succeeded and is the error otherwise.
//! Values reach the chunks only through [`crate::kresd::lua`], like the templates. Changes with
//! the same effect share a chunk (the certificate and the key make one `net.tls` call). Chunks
//! are for the workers that keep running; workers started by the plan get the new config.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::backend::Program;
use crate::config::Config;
use crate::kresd::Dialect;
use crate::kresd::lua;

#[cfg(test)]
mod tests;

/// How a change is applied, from the least to the most disruptive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Impact {
    /// Applied to the running workers (or by the manager) without restarting any worker.
    Hot,
    /// The workers are restarted one at a time with the new config.
    Rolling,
    /// Only a restart of the whole service applies it.
    RestartRequired,
}

/// One changed value of the config and what will be done about it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Change {
    /// RFC 6901 pointer into the config document (`/logging/level`).
    pub pointer: String,
    pub impact: Impact,
    /// What will be done, for humans and the API.
    pub action: String,
}

/// What must be done to go from one config to another.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Plan {
    /// Every change, sorted by pointer; empty when there is nothing to do.
    pub changes: Vec<Change>,
    /// Lua chunks to run, in order, on every worker that keeps running, when the plan has no
    /// rolling change (with one, the restarted workers get the new config instead). Each is
    /// one line, and the worker's reply is empty exactly when it succeeded.
    pub hot_lua: Vec<String>,
    /// (old, new) number of workers; a change starts or stops only the difference.
    pub workers: (u16, u16),
    /// The cache garbage collector must be restarted (its settings, or the directory or size of
    /// the cache it works on, changed). Nothing else is done for it.
    pub cache_gc: bool,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Some change needs the workers restarted one at a time.
    pub fn rolling(&self) -> bool {
        self.changes.iter().any(|c| c.impact == Impact::Rolling)
    }

    /// The changes that only a restart of the whole service applies.
    pub fn restart_required(&self) -> Vec<&Change> {
        self.changes.iter().filter(|c| c.impact == Impact::RestartRequired).collect()
    }

    /// The most disruptive impact of any change; `None` when there is nothing to do.
    pub fn impact(&self) -> Option<Impact> {
        self.changes.iter().map(|c| c.impact).max()
    }
}

/// The plan for replacing the running config `old` with `new`.
pub fn plan(dialect: Dialect, old: &Config, new: &Config) -> Plan {
    let (Ok(old_document), Ok(new_document)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        // Cannot happen (every value of a config is a string, number, boolean, list or
        // string-keyed mapping); were it to, the safe answer is a restart of every worker.
        let change = Change {
            pointer: String::new(),
            impact: Impact::Rolling,
            action: "rolling restart of every worker (the configs could not be compared)".to_owned(),
        };
        return Plan {
            changes: vec![change],
            hot_lua: Vec::new(),
            workers: (old.workers, new.workers),
            cache_gc: true,
        };
    };
    let mut pointers = Vec::new();
    diff(&old_document, &new_document, &mut String::new(), &mut pointers);
    pointers.sort();

    let classified: Vec<(String, Effect)> = pointers.into_iter().map(|p| (p.clone(), classify(&p, old, new))).collect();
    let rolling_no_op = rolling_changes_without_effect(dialect, &classified, old, new);

    let mut changes = Vec::with_capacity(classified.len());
    let mut hot_lua: Vec<String> = Vec::new();
    for (pointer, effect) in classified {
        let (impact, action) = match effect {
            Effect::Restart(why) => (Impact::RestartRequired, format!("needs a service restart: {why}")),
            Effect::Rolling if rolling_no_op.contains(section(&pointer)) => (Impact::Hot, NO_EFFECT.to_owned()),
            Effect::Rolling => (Impact::Rolling, "rolling restart of every worker".to_owned()),
            Effect::Hot(hot) => {
                if let Some(chunk) = hot.chunk(new)
                    && !hot_lua.contains(&chunk)
                {
                    hot_lua.push(chunk);
                }
                (Impact::Hot, hot.action(old, new))
            }
        };
        changes.push(Change { pointer, impact, action });
    }
    let cache_gc = changes.iter().any(|c| {
        under(&c.pointer, "/cache/garbage-collector") || c.pointer == "/cache/storage" || c.pointer == "/cache/size-max"
    });
    Plan { changes, hot_lua, workers: (old.workers, new.workers), cache_gc }
}

const NO_EFFECT: &str = "nothing to do on the workers: their configuration does not change";

/// Collects the pointers where `old` and `new` differ: changed leaves of mappings, whole lists.
fn diff(old: &Json, new: &Json, pointer: &mut String, out: &mut Vec<String>) {
    match (old, new) {
        (Json::Object(a), Json::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, pointer, out),
                    _ => out.push(pointer.clone()),
                }
                pointer.truncate(len);
            }
        }
        _ if old != new => out.push(pointer.clone()),
        _ => {}
    }
}

/// `pointer` is `prefix` or inside it.
fn under(pointer: &str, prefix: &str) -> bool {
    pointer.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The top-level section of a pointer (`/logging/level` → `logging`).
fn section(pointer: &str) -> &str {
    pointer.trim_start_matches('/').split('/').next().unwrap_or_default()
}

/// What a change needs, before the no-effect check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Restart(&'static str),
    Rolling,
    Hot(Hot),
}

/// The hot changes (the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hot {
    Workers,
    CacheGc,
    LogLevel,
    LogGroups,
    LogTarget,
    TtlMin,
    TtlMax,
    NsTimeout,
    Tls,
    /// `addresses`, `addresses-files`, `records`.
    LocalData,
    /// `ttl`, `nodata` (same chunk as `LocalData`).
    LocalDataDefaults,
    Flag(Flag),
    GlueChecking,
    Nsid,
    Hostname,
}

/// Options that are resolver flags: (kresd flag, set when the option is `false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Minimize,
    QueryLoopback,
    ReorderRrset,
    QueryCaseRandomization,
}

impl Flag {
    /// The kresd flag and its value for the config, as `options.lua.j2` sets them.
    fn setting(self, config: &Config) -> (&'static str, bool) {
        let options = &config.options;
        match self {
            Flag::Minimize => ("NO_MINIMIZE", !options.minimize),
            Flag::QueryLoopback => ("ALLOW_LOCAL", options.query_loopback),
            Flag::ReorderRrset => ("REORDER_RR", options.reorder_rrset),
            Flag::QueryCaseRandomization => ("NO_0X20", !options.query_case_randomization),
        }
    }

    fn revert(self, probe: &mut Config, old: &Config) {
        let (probe, old) = (&mut probe.options, &old.options);
        match self {
            Flag::Minimize => probe.minimize = old.minimize,
            Flag::QueryLoopback => probe.query_loopback = old.query_loopback,
            Flag::ReorderRrset => probe.reorder_rrset = old.reorder_rrset,
            Flag::QueryCaseRandomization => probe.query_case_randomization = old.query_case_randomization,
        }
    }
}

/// The impact table.
fn classify(pointer: &str, old: &Config, new: &Config) -> Effect {
    let hot_if = |condition: bool, hot: Hot| if condition { Effect::Hot(hot) } else { Effect::Rolling };
    let local_data_rule = has_local_data_rule(old) && has_local_data_rule(new);
    match pointer {
        "/rundir" => {
            Effect::Restart("the rundir holds the supervisor's and the workers' sockets and cannot move while they run")
        }
        p if under(p, "/management") => {
            Effect::Restart("the management API cannot move while it serves (this change arrives through it)")
        }
        "/workers" => Effect::Hot(Hot::Workers),
        p if under(p, "/cache/garbage-collector") => Effect::Hot(Hot::CacheGc),
        "/logging/level" => Effect::Hot(Hot::LogLevel),
        p if under(p, "/logging/groups") => Effect::Hot(Hot::LogGroups),
        "/logging/target" => Effect::Hot(Hot::LogTarget),
        "/cache/ttl-min" => Effect::Hot(Hot::TtlMin),
        "/cache/ttl-max" => Effect::Hot(Hot::TtlMax),
        "/cache/ns-timeout" => Effect::Hot(Hot::NsTimeout),
        "/network/tls/cert-file" | "/network/tls/key-file" => {
            let tls = &new.network.tls;
            hot_if(tls.cert_file.is_some() && tls.key_file.is_some(), Hot::Tls)
        }
        p if under(p, "/local-data/addresses")
            || under(p, "/local-data/addresses-files")
            || under(p, "/local-data/records") =>
        {
            hot_if(local_data_rule, Hot::LocalData)
        }
        "/local-data/ttl" | "/local-data/nodata" => {
            let no_rules = |c: &Config| c.local_data.rules.as_ref().is_none_or(Vec::is_empty);
            hot_if(local_data_rule && no_rules(old) && no_rules(new), Hot::LocalDataDefaults)
        }
        "/options/minimize" => Effect::Hot(Hot::Flag(Flag::Minimize)),
        "/options/query-loopback" => Effect::Hot(Hot::Flag(Flag::QueryLoopback)),
        "/options/reorder-rrset" => Effect::Hot(Hot::Flag(Flag::ReorderRrset)),
        "/options/query-case-randomization" => Effect::Hot(Hot::Flag(Flag::QueryCaseRandomization)),
        "/options/glue-checking" => Effect::Hot(Hot::GlueChecking),
        "/nsid" => hot_if(old.nsid.is_some() && new.nsid.is_some(), Hot::Nsid),
        "/hostname" => hot_if(!old.monitoring.graphite.enable && !new.monitoring.graphite.enable, Hot::Hostname),
        _ => Effect::Rolling,
    }
}

/// Whether `local_data.lua.j2` renders the answer rule for addresses, hosts files and records
/// (its condition, with Jinja's truthiness: empty values are false).
fn has_local_data_rule(config: &Config) -> bool {
    let ld = &config.local_data;
    ld.addresses.as_ref().is_some_and(|a| !a.is_empty())
        || ld.addresses_files.as_ref().is_some_and(|f| !f.is_empty())
        || ld.records.as_ref().is_some_and(|r| !r.is_empty())
}

/// A value in the document form, as a Lua literal (what the templates' `lua` filter writes).
fn literal<T: serde::Serialize + ?Sized>(value: &T) -> String {
    lua::literal(&minijinja::Value::from_serialize(value)).unwrap_or_else(|_| "nil".to_owned())
}

impl Hot {
    /// The Lua statement run on every worker, `None` for changes made by the manager alone.
    fn statement(self, new: &Config) -> Option<String> {
        Some(match self {
            Hot::Workers | Hot::CacheGc => return None,
            Hot::LogLevel => format!("log_level({})", literal(&new.logging.level)),
            Hot::LogGroups => {
                let groups: Vec<_> = new.logging.groups.iter().flatten().filter(|g| !g.is_manager_group()).collect();
                format!("log_groups({})", literal(&groups))
            }
            Hot::LogTarget => format!("log_target({})", literal(&new.logging.target)),
            Hot::TtlMin => format!("cache.min_ttl({})", new.cache.ttl_min.seconds()),
            Hot::TtlMax => format!("cache.max_ttl({})", new.cache.ttl_max.seconds()),
            Hot::NsTimeout => format!("cache.ns_tout({})", new.cache.ns_timeout.millis()),
            Hot::Tls => {
                let tls = &new.network.tls;
                format!("net.tls({}, {})", literal(&tls.cert_file), literal(&tls.key_file))
            }
            Hot::LocalData | Hot::LocalDataDefaults => local_data_statement(new),
            Hot::Flag(flag) => {
                let (name, value) = flag.setting(new);
                format!("option({}, {value})", lua::string(name))
            }
            Hot::GlueChecking => format!("mode({})", literal(&new.options.glue_checking)),
            Hot::Nsid => format!("nsid.name({})", literal(&new.nsid)),
            Hot::Hostname => format!("hostname({})", literal(&new.hostname)),
        })
    }

    /// The chunk for the control socket: the statement as one `do … end` line.
    fn chunk(self, new: &Config) -> Option<String> {
        self.statement(new).map(|statement| format!("do {statement} end"))
    }

    fn action(self, old: &Config, new: &Config) -> String {
        match self {
            Hot::Workers => workers_action(old.workers, new.workers),
            Hot::CacheGc => match (old.cache.garbage_collector.enable, new.cache.garbage_collector.enable) {
                (false, true) => "start the cache garbage collector".to_owned(),
                (true, false) => "stop the cache garbage collector".to_owned(),
                (true, true) => "restart the cache garbage collector with its new settings".to_owned(),
                (false, false) => "nothing to do: the cache garbage collector stays off".to_owned(),
            },
            Hot::LocalData | Hot::LocalDataDefaults => {
                "rebuild the answers for local-data addresses, hosts files and records in place on every worker"
                    .to_owned()
            }
            _ => format!("{} on every worker", self.statement(new).unwrap_or_default()),
        }
    }

    /// Sets the values this change covers in `probe` back to those of `old`.
    fn revert(self, probe: &mut Config, old: &Config) {
        match self {
            Hot::Workers => probe.workers = old.workers,
            Hot::CacheGc => probe.cache.garbage_collector = old.cache.garbage_collector.clone(),
            Hot::LogLevel => probe.logging.level = old.logging.level,
            Hot::LogGroups => probe.logging.groups = old.logging.groups.clone(),
            Hot::LogTarget => probe.logging.target = old.logging.target,
            Hot::TtlMin => probe.cache.ttl_min = old.cache.ttl_min,
            Hot::TtlMax => probe.cache.ttl_max = old.cache.ttl_max,
            Hot::NsTimeout => probe.cache.ns_timeout = old.cache.ns_timeout,
            Hot::Tls => {
                probe.network.tls.cert_file = old.network.tls.cert_file.clone();
                probe.network.tls.key_file = old.network.tls.key_file.clone();
            }
            Hot::LocalData => {
                probe.local_data.addresses = old.local_data.addresses.clone();
                probe.local_data.addresses_files = old.local_data.addresses_files.clone();
                probe.local_data.records = old.local_data.records.clone();
            }
            Hot::LocalDataDefaults => {
                probe.local_data.ttl = old.local_data.ttl;
                probe.local_data.nodata = old.local_data.nodata;
            }
            Hot::Flag(flag) => flag.revert(probe, old),
            Hot::GlueChecking => probe.options.glue_checking = old.options.glue_checking,
            Hot::Nsid => probe.nsid = old.nsid.clone(),
            Hot::Hostname => probe.hostname = old.hostname.clone(),
        }
    }
}

/// `start kresd2, kresd3` / `stop kresd3`.
fn workers_action(old: u16, new: u16) -> String {
    let names = |range: std::ops::Range<u16>| {
        range.map(|n| Program::Worker(u32::from(n)).name()).collect::<Vec<_>>().join(", ")
    };
    if new > old { format!("start {}", names(old..new)) } else { format!("stop {}", names(new..old)) }
}

/// Rebuilds the local-data answer rule as `local_data.lua.j2` makes it and puts it in place of
/// the running one, which must be the first policy rule (id 0) and be made by the same Lua
/// function (checked with `debug.getinfo`). `policy.add` is diverted while the worker's own
/// `kres_manager.local_data` builds the rule, so the rule takes the old one's place instead of
/// being appended, and no rule id is used up.
fn local_data_statement(new: &Config) -> String {
    let ld = &new.local_data;
    let ttl = ld.ttl.map_or_else(|| "300s".to_owned(), |t| t.to_string());
    let data = format!(
        "{{ addresses = {}, ['addresses-files'] = {}, records = {} }}",
        literal(&ld.addresses),
        literal(&ld.addresses_files),
        literal(&ld.records),
    );
    let ttl = lua::string(&ttl);
    let nodata = ld.nodata;
    [
        "local km, rule = kres_manager, policy.rules[1]",
        "if km == nil or km.local_data == nil or rule == nil or rule.id ~= 0 then error('kres-manager: no local-data rule to replace; restart the worker instead') end",
        "local add, made = policy.add, nil",
        "policy.add = function(match) made = match return { id = -1, cb = match, count = 0 } end",
        &format!("local ok, err = pcall(km.local_data, {data}, km.seconds({ttl}), {nodata})"),
        "policy.add = add",
        "if not ok then error(err, 0) end",
        "local was, now = debug.getinfo(rule.cb, 'S'), debug.getinfo(made, 'S')",
        "if was.source ~= now.source or was.linedefined ~= now.linedefined then error('kres-manager: the first policy rule is not the local-data rule; restart the worker instead') end",
        "rule.cb, rule.count = made, 0",
    ]
    .join(" ")
}

/// The top-level sections whose rolling changes leave the workers' Lua as it is: a restart
/// would give every worker the config it already has. Hot changes are set aside first (set
/// back to their old values), since they are applied anyway. When the rendered Lua differs,
/// or cannot be rendered, the changes stay rolling.
fn rolling_changes_without_effect(
    dialect: Dialect,
    classified: &[(String, Effect)],
    old: &Config,
    new: &Config,
) -> BTreeSet<String> {
    let sections: BTreeSet<String> =
        classified.iter().filter(|(_, e)| *e == Effect::Rolling).map(|(p, _)| section(p).to_owned()).collect();
    if sections.is_empty() {
        return sections;
    }
    let Some(old_lua) = render(dialect, old) else { return BTreeSet::new() };
    // `new` without its hot changes: what the workers would get from a restart, less what the
    // hot chunks give them anyway.
    let mut rest = new.clone();
    for (_, effect) in classified {
        if let Effect::Hot(hot) = effect {
            hot.revert(&mut rest, old);
        }
    }
    if render(dialect, &rest).as_ref() == Some(&old_lua) {
        return sections;
    }
    // Some of them matter; find the sections that do not (on their own).
    sections
        .into_iter()
        .filter(|name| {
            let mut probe = old.clone();
            copy_section(name, &mut probe, &rest) && render(dialect, &probe).as_ref() == Some(&old_lua)
        })
        .collect()
}

/// The Lua of worker 0 for `config`, `None` when it cannot be rendered.
fn render(dialect: Dialect, config: &Config) -> Option<String> {
    let worker = crate::kresd::render::WorkerContext { id: 0, control_socket: "/kres-manager/plan/control".into() };
    crate::kresd::render::render_worker(dialect, config, &worker).ok()
}

/// Copies the top-level section `name` (its document key) of `from` into `into`; `false` for an
/// unknown name.
fn copy_section(name: &str, into: &mut Config, from: &Config) -> bool {
    match name {
        "version" => into.version = from.version,
        "nsid" => into.nsid = from.nsid.clone(),
        "hostname" => into.hostname = from.hostname.clone(),
        "rundir" => into.rundir = from.rundir.clone(),
        "workers" => into.workers = from.workers,
        "management" => into.management = from.management.clone(),
        "options" => into.options = from.options.clone(),
        "network" => into.network = from.network.clone(),
        "views" => into.views = from.views.clone(),
        "local-data" => into.local_data = from.local_data.clone(),
        "forward" => into.forward = from.forward.clone(),
        "fallback" => into.fallback = from.fallback.clone(),
        "cache" => into.cache = from.cache.clone(),
        "dnssec" => into.dnssec = from.dnssec.clone(),
        "dns64" => into.dns64 = from.dns64.clone(),
        "logging" => into.logging = from.logging.clone(),
        "monitoring" => into.monitoring = from.monitoring.clone(),
        "rate-limiting" => into.rate_limiting = from.rate_limiting.clone(),
        "defer" => into.defer = from.defer.clone(),
        "lua" => into.lua = from.lua.clone(),
        _ => return false,
    }
    true
}
