//! `kresctl debug`: gdb attached to processes of the running service, as Knot Resolver 6's
//! `kresctl debug` does: every kresd worker by default, the cache GC, all of them, or one process
//! by name. The API says which processes run (`/processes/...`), then kresctl replaces itself with
//! gdb (so gdb owns the terminal and its signals), which attaches to each: the first as inferior 1,
//! each further one as a new inferior (`add-inferior`, `inferior N`, `attach PID`), with
//! `schedule-multiple` on so that `continue` resumes them all. Arguments after `--` go to gdb
//! after ours (`-- -batch -ex 'thread apply all bt'`).
//!
//! gdb is looked up before the API is asked anything, so a machine without it gets a message
//! saying so, and what to do, at once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use hyper::Method;
use serde_json::Value as Json;

use super::cli::{DebugArgs, Global};
use super::http::Request;
use super::online::{Client, Kind};
use super::{Failure, out};

/// A process gdb attaches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    pub name: String,
    pub pid: u64,
}

/// Finds a program: a name is looked up in `path` (`$PATH`), a name with a `/` is taken as a
/// path; either must be an executable file. `what` names it in the message.
pub fn find_program(program: &str, path: Option<OsString>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |candidate: &Path| {
        std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let candidate = std::path::absolute(program).unwrap_or_else(|_| PathBuf::from(program));
        return if executable(&candidate) {
            Ok(candidate)
        } else {
            Err(format!("{program} is not an executable file"))
        };
    }
    path.as_ref()
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| format!("`{program}` is not found on PATH"))
}

/// The debugger, from `--gdb` or `gdb` on PATH, with a message that says what to do when it is
/// missing.
pub fn find_gdb(given: Option<&str>, path: Option<OsString>) -> Result<PathBuf, Failure> {
    match given {
        None => find_program("gdb", path).map_err(|_| {
            Failure::error(
                "gdb is not installed (`gdb` is not found on PATH): install it (on Debian: `apt install gdb`), or \
                 name a debugger with --gdb PATH",
            )
        }),
        Some(program) => {
            find_program(program, path).map_err(|why| Failure::error(format!("cannot use --gdb {program}: {why}")))
        }
    }
}

/// The processes `target` names, from the API's list of processes (each `{name, type, pid,
/// state}`): a type (`kresd`, `gc`, `all`: the list is already of that type) or one name.
/// Processes without a pid (not running) cannot be attached to.
pub fn select(target: &str, processes: &[Json]) -> Result<Vec<Attach>, Failure> {
    let by_type = matches!(target, "kresd" | "gc" | "all");
    let named = |p: &&Json| by_type || p.get("name").and_then(Json::as_str) == Some(target);
    let chosen: Vec<&Json> = processes.iter().filter(named).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = processes.iter().filter_map(|p| p.get("name").and_then(Json::as_str)).collect();
        return Err(Failure::error(if by_type {
            format!("there is no process of type `{target}` to debug")
        } else {
            format!(
                "there is no process named `{target}`: give kresd (every worker), gc, all, or one of: {}",
                names.join(", ")
            )
        }));
    }
    let attach: Vec<Attach> = chosen
        .iter()
        .filter_map(|p| {
            let name = p.get("name").and_then(Json::as_str)?.to_owned();
            Some(Attach { name, pid: p.get("pid").and_then(Json::as_u64)? })
        })
        .collect();
    if attach.is_empty() {
        let states: Vec<String> = chosen
            .iter()
            .map(|p| {
                let name = p.get("name").and_then(Json::as_str).unwrap_or("?");
                format!("{name} is {}", p.get("state").and_then(Json::as_str).unwrap_or("not running"))
            })
            .collect();
        return Err(Failure::error(format!("nothing to attach to: {}", states.join(", "))));
    }
    Ok(attach)
}

/// The command line: `[sudo --] gdb -q -ex 'attach PID' ...` then `extra`.
pub fn command_line(gdb: &Path, sudo: Option<&Path>, processes: &[Attach], extra: &[String]) -> Vec<String> {
    let mut line = Vec::new();
    if let Some(sudo) = sudo {
        line.extend([sudo.display().to_string(), "--".to_owned()]);
    }
    line.extend([gdb.display().to_string(), "-q".to_owned()]);
    let mut ex = |command: String| line.extend(["-ex".to_owned(), command]);
    if processes.len() > 1 {
        ex("set schedule-multiple on".into());
    }
    for (i, process) in processes.iter().enumerate() {
        if i > 0 {
            ex("add-inferior".into());
            ex(format!("inferior {}", i + 1));
        }
        ex(format!("attach {}", process.pid));
    }
    if processes.len() > 1 {
        ex("inferior 1".into());
        let list: Vec<String> =
            processes.iter().enumerate().map(|(i, p)| format!("{} = {} (pid {})", i + 1, p.name, p.pid)).collect();
        ex(format!(
            "echo \\nAttached to {} processes; `inferior N` switches between them: {}.\\n",
            processes.len(),
            list.join(", ")
        ));
    }
    line.extend(extra.iter().cloned());
    line
}

/// A command line as a shell would need it typed.
pub fn shell_words(line: &[String]) -> String {
    let quote = |word: &String| {
        let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b));
        if plain { word.clone() } else { format!("'{}'", word.replace('\'', r"'\''")) }
    };
    line.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// `kresctl debug [PROCESS] [--sudo] [--gdb GDB] [--print-only] [-- GDB_ARGS...]`.
pub fn run(global: &Global, args: DebugArgs) -> Result<(), Failure> {
    let path = std::env::var_os("PATH");
    let gdb = find_gdb(args.gdb.as_deref(), path.clone())?;
    let sudo = if args.sudo {
        Some(find_program("sudo", path).map_err(|_| Failure::error("--sudo: `sudo` is not found on PATH"))?)
    } else {
        None
    };
    let by_type = matches!(args.process.as_str(), "kresd" | "gc" | "all");
    let route = format!("/processes/{}", if by_type { args.process.as_str() } else { "all" });
    let client = Client::from_global(global)?;
    let response = client.call(Kind::Read, Request::new(Method::GET, route.clone()))?;
    let answer = client.json_of(&response)?;
    let list =
        answer.as_array().ok_or_else(|| Failure::error(format!("unexpected answer to GET {route}: {answer}")))?;
    let processes = select(&args.process, list)?;
    let line = command_line(&gdb, sudo.as_deref(), &processes, &args.gdb_args);
    if args.print_only {
        out(&format!("{}\n", shell_words(&line)));
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new(&line[0]).args(&line[1..]).exec();
    Err(Failure::error(format!("cannot run {}: {error}", line[0])))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn processes() -> Vec<Json> {
        vec![
            json!({"name": "kresd0", "type": "kresd", "pid": 100, "state": "running"}),
            json!({"name": "kresd1", "type": "kresd", "pid": null, "state": "fatal"}),
            json!({"name": "kresd2", "type": "kresd", "pid": 102, "state": "running"}),
        ]
    }

    #[test]
    fn processes_are_chosen_by_type_or_name() {
        let all = select("kresd", &processes()).unwrap();
        assert_eq!(all, [Attach { name: "kresd0".into(), pid: 100 }, Attach { name: "kresd2".into(), pid: 102 }]);
        assert_eq!(select("kresd2", &processes()).unwrap(), [Attach { name: "kresd2".into(), pid: 102 }]);
        let gone = select("kresd1", &processes()).unwrap_err();
        assert_eq!(gone.message, "error: nothing to attach to: kresd1 is fatal");
        let unknown = select("kresd9", &processes()).unwrap_err();
        assert!(
            unknown.message.contains("no process named `kresd9`") && unknown.message.contains("kresd0, kresd1, kresd2")
        );
        assert!(select("gc", &[]).unwrap_err().message.contains("no process of type `gc`"));
    }

    #[test]
    fn one_process_or_several_inferiors() {
        let gdb = Path::new("/usr/bin/gdb");
        let one = command_line(gdb, None, &[Attach { name: "kresd0".into(), pid: 100 }], &["-batch".into()]);
        assert_eq!(one, ["/usr/bin/gdb", "-q", "-ex", "attach 100", "-batch"]);
        let two = [Attach { name: "kresd0".into(), pid: 100 }, Attach { name: "kresd2".into(), pid: 102 }];
        let line = command_line(gdb, Some(Path::new("/usr/bin/sudo")), &two, &[]);
        assert_eq!(
            shell_words(&line),
            "/usr/bin/sudo -- /usr/bin/gdb -q -ex 'set schedule-multiple on' -ex 'attach 100' -ex add-inferior -ex \
             'inferior 2' -ex 'attach 102' -ex 'inferior 1' -ex 'echo \\nAttached to 2 processes; `inferior N` \
             switches between them: 1 = kresd0 (pid 100), 2 = kresd2 (pid 102).\\n'"
        );
        assert_eq!(shell_words(&["it's".into(), String::new()]), r"'it'\''s' ''");
    }

    #[test]
    fn a_missing_gdb_says_what_to_do() {
        let empty = std::env::temp_dir().join(format!("kresctl-no-gdb-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let missing = find_gdb(None, Some(empty.clone().into_os_string())).unwrap_err();
        assert!(missing.message.starts_with("error: gdb is not installed"), "{missing:?}");
        assert!(missing.message.contains("apt install gdb") && missing.message.contains("--gdb"), "{missing:?}");
        let named = find_gdb(Some("/nonexistent/gdb"), None).unwrap_err();
        assert_eq!(
            named.message,
            "error: cannot use --gdb /nonexistent/gdb: /nonexistent/gdb is not an executable file"
        );
        let not_on_path = find_gdb(Some("gdb-multiarch-missing"), Some(empty.clone().into_os_string())).unwrap_err();
        assert!(not_on_path.message.contains("`gdb-multiarch-missing` is not found on PATH"), "{not_on_path:?}");
        // A file that is not executable is not a debugger.
        let file = empty.join("gdb");
        std::fs::write(&file, "").unwrap();
        assert!(find_gdb(None, Some(empty.clone().into_os_string())).is_err());
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
