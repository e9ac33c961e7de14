//! The machine's processes, read from `/proc` (Linux): what the service start needs to find the
//! leftovers of an earlier run, the supervisord backend to find its children, and the tests to
//! see the process tree. One parser of `/proc/<pid>/stat` and `cmdline` for all of them.

use std::path::Path;

/// One process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z` for a zombie, ...).
    pub state: char,
    /// The command line, arguments joined by spaces (empty for a zombie or a kernel thread).
    pub cmdline: String,
}

impl Process {
    /// Whether it has exited and only waits to be reaped.
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }
}

/// The process `pid`, if it exists.
pub fn get(pid: u32) -> Option<Process> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (in parentheses) may hold spaces and parentheses: split after the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim_end().to_owned();
    Some(Process { pid, ppid, state, cmdline })
}

/// Every process.
pub fn all() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|entry| get(entry.ok()?.file_name().to_str()?.parse().ok()?)).collect()
}

/// The children of `parent`.
pub fn children(parent: u32) -> Vec<Process> {
    all().into_iter().filter(|p| p.ppid == parent).collect()
}

/// The processes (other than this one) whose command line names something inside `dir`.
pub fn mentioning(dir: &Path) -> Vec<Process> {
    let needle = format!("{}/", dir.display());
    let me = std::process::id();
    all().into_iter().filter(|p| p.pid != me && p.cmdline.contains(&needle)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_its_children() {
        let me = get(std::process::id()).expect("this process");
        assert_ne!(me.state, 'Z');
        assert!(!me.cmdline.is_empty());
        let dir = std::env::temp_dir().join(format!("kres-procfs-{}", std::process::id()));
        // `$0` names a path in `dir`; the trailing `:` keeps sh from exec'ing sleep in its place.
        let mut child =
            std::process::Command::new("sh").args(["-c", "sleep 5; :"]).arg(dir.join("x")).spawn().expect("sh");
        // Right after the fork the child may not have exec'd yet (empty command line).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while get(child.id()).is_none_or(|p| !p.cmdline.starts_with("sh -c sleep 5")) {
            assert!(std::time::Instant::now() < deadline, "{:?}", get(child.id()));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let found = children(std::process::id());
        assert!(found.iter().any(|p| p.pid == child.id() && p.cmdline.starts_with("sh -c sleep 5")), "{found:?}");
        assert_eq!(mentioning(&dir).iter().map(|p| p.pid).collect::<Vec<_>>(), [child.id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(get(child.id()).is_none());
    }
}
