//! Where the service keeps its files, and the supervisor [`Setup`] derived from a config.
//!
//! ```text
//! <rundir>/kres-manager.lock      held by supervisord for the service's lifetime (one service per rundir)
//! <rundir>/supervisord.conf       rendered from templates/supervisord.conf.j2 (+ .sock, .pid, kres-notify.sock)
//! <rundir>/lua/<program>.lua      each kresd's Lua (kresd0.lua, ..., canary.lua), rendered from the config
//! <rundir>/control/<program>      each kresd's control socket
//! <state-dir>/config.json         the last accepted config (generation, ETag, document); default <rundir>/state
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::{CacheGc, ManagerProgram, Output, Program, RunAs, Setup};
use crate::config::Config;

/// The executables the service runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub kresd: PathBuf,
    pub cache_gc: PathBuf,
}

/// Time limits of the process tree.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From a kresd's spawn to its `READY=1`.
    pub ready: Duration,
    /// From SIGTERM to SIGKILL.
    pub stop: Duration,
    /// How long a worker whose listeners were closed may finish the queries it has.
    pub drain: Duration,
    /// One control-socket command.
    pub control: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            ready: Duration::from_secs(10),
            stop: Duration::from_secs(5),
            drain: Duration::from_secs(2),
            control: Duration::from_secs(2),
        }
    }
}

/// The service's directories, and the unprivileged user that owns them.
#[derive(Clone, Debug)]
pub struct Layout {
    pub rundir: PathBuf,
    pub state_dir: PathBuf,
    /// The user the workers (after binding) and the cache GC run as; `None` when everything
    /// runs as whoever started the service.
    pub run_as: Option<RunAs>,
}

impl Layout {
    /// `state_dir` defaults to `<rundir>/state`.
    pub fn new(rundir: &Path, state_dir: Option<&Path>) -> Layout {
        let state_dir = state_dir.map_or_else(|| rundir.join("state"), Path::to_owned);
        Layout { rundir: rundir.to_owned(), state_dir, run_as: None }
    }

    /// The same layout, run by `run_as`.
    pub fn run_by(self, run_as: Option<RunAs>) -> Layout {
        Layout { run_as, ..self }
    }

    pub fn lock_file(&self) -> PathBuf {
        self.rundir.join("kres-manager.lock")
    }

    pub fn lua_dir(&self) -> PathBuf {
        self.rundir.join("lua")
    }

    /// The Lua config of `program` (a kresd: a worker or the canary).
    pub fn lua(&self, program: Program) -> PathBuf {
        self.lua_dir().join(format!("{program}.lua"))
    }

    pub fn control_dir(&self) -> PathBuf {
        self.rundir.join("control")
    }

    /// The control socket of `program` (a kresd).
    pub fn control(&self, program: Program) -> PathBuf {
        self.control_dir().join(program.name())
    }

    /// Where supervisord's sd_notify socket is (see [`crate::backend::supervisord::Paths`]).
    pub fn notify_dir(&self) -> PathBuf {
        self.rundir.join("notify")
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("config.json")
    }

    /// Creates the directories (the state not readable by others: it holds the config, which may
    /// hold secrets) and gives them their owners when the workers run as an unprivileged user.
    ///
    /// That user owns only what the workers and the GC write: the control sockets' directory and
    /// `cache_dir` (created when missing). Everything else stays root's, the rundir itself
    /// included: supervisord.conf and the Lua are what root's supervisord and the workers run,
    /// so a compromised worker must not be able to replace them (a rundir left owned by the user
    /// by an earlier version is taken back). The Lua and the notify socket are for the group.
    pub fn create(&self, cache_dir: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dirs = [
            (&self.rundir, 0o755),
            (&self.lua_dir(), 0o750),
            (&self.control_dir(), 0o750),
            (&self.state_dir, 0o700),
            // supervisord's sd_notify socket (mode 0666, so that workers running as their user
            // can send READY=1) lives in a directory only root and the workers' group may enter.
            (&self.notify_dir(), 0o750),
        ];
        for (dir, mode) in dirs {
            std::fs::DirBuilder::new().recursive(true).mode(mode).create(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
        }
        let Some(run_as) = &self.run_as else { return Ok(()) };
        std::fs::DirBuilder::new().recursive(true).mode(0o750).create(cache_dir)?;
        let (uid, gid) = ids(run_as)?;
        // Only our own entries: the rundir may hold other things (never recurse into it).
        let paths = crate::backend::supervisord::Paths::new(&self.rundir);
        for file in [&self.rundir, &self.lock_file(), &paths.config, &paths.socket, &paths.pidfile] {
            if file.symlink_metadata().is_ok() {
                std::os::unix::fs::lchown(file, Some(0), Some(0))?;
            }
        }
        for dir in [self.lua_dir(), self.state_dir.clone(), self.notify_dir()] {
            chown_dir(&dir, 0, 0)?;
        }
        for dir in [self.lua_dir(), self.notify_dir()] {
            std::os::unix::fs::lchown(dir, Some(0), Some(gid))?;
        }
        for dir in [&self.control_dir(), cache_dir] {
            chown_dir(dir, uid, gid)?;
        }
        Ok(())
    }

    /// The supervisor's setup for `config`: one program per worker, the canary, the cache GC
    /// when enabled, and the manager itself when given.
    pub fn setup(
        &self,
        config: &Config,
        binaries: &Binaries,
        timeouts: &Timeouts,
        manager: Option<ManagerProgram>,
    ) -> Setup {
        let gc = &config.cache.garbage_collector;
        let cache_gc = gc.enable.then(|| CacheGc {
            cache_dir: config.cache.storage.as_path().to_owned(),
            interval: gc.interval.to_std(),
            args: cache_gc_args(config),
        });
        Setup {
            rundir: self.rundir.clone(),
            // The only directory of ours the workers write to: their control sockets.
            kresd_dir: self.control_dir(),
            kresd: binaries.kresd.clone(),
            worker_configs: (0..u32::from(config.workers)).map(|n| self.lua(Program::Worker(n))).collect(),
            canary_config: Some(self.lua(Program::Canary)),
            cache_gc_binary: binaries.cache_gc.clone(),
            cache_gc,
            ready_timeout: timeouts.ready,
            stop_timeout: timeouts.stop,
            output: Output::Inherit,
            manager,
            run_as: self.run_as.clone(),
        }
    }
}

/// The numeric ids of `run_as`.
pub fn ids(run_as: &RunAs) -> std::io::Result<(u32, u32)> {
    let not_found = |what: &str, name: &str| {
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("there is no {what} `{name}` on this system"))
    };
    let user = nix::unistd::User::from_name(&run_as.user).map_err(std::io::Error::from)?;
    let group = nix::unistd::Group::from_name(&run_as.group).map_err(std::io::Error::from)?;
    let user = user.ok_or_else(|| not_found("user", &run_as.user))?;
    let group = group.ok_or_else(|| not_found("group", &run_as.group))?;
    Ok((user.uid.as_raw(), group.gid.as_raw()))
}

/// Whether `uid`:`gid` may read `path` by its mode bits (owner, group, others; supplementary
/// groups and ACLs are not considered). `None` when the file cannot be examined.
pub fn readable_by(path: &Path, uid: u32, gid: u32) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    let mode = metadata.mode();
    Some(if metadata.uid() == uid {
        mode & 0o400 != 0
    } else if metadata.gid() == gid {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    })
}

/// Gives `dir` and the entries directly in it to `uid`:`gid`, following no symbolic link: the
/// directory is opened with `O_NOFOLLOW` and its entries are changed relative to that handle, so
/// a user who may write in it (the workers' user, in the control and cache directories) cannot
/// turn root's chown onto other files by swapping an entry for a link. No recursion: these
/// directories hold files and sockets only.
fn chown_dir(dir: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::unistd::{Gid, Uid};
    use std::os::fd::AsFd;
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut handle = nix::dir::Dir::open(dir, flags, nix::sys::stat::Mode::empty())?;
    nix::unistd::fchown(handle.as_fd(), uid, gid)?;
    let names: Vec<std::ffi::CString> = handle
        .iter()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| name.as_bytes() != b"." && name.as_bytes() != b"..")
        .collect();
    for name in names {
        nix::unistd::fchownat(handle.as_fd(), name.as_c_str(), uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// kres-cache-gc's options for the configured garbage collector (besides `-c` and `-d`).
fn cache_gc_args(config: &Config) -> Vec<String> {
    let gc = &config.cache.garbage_collector;
    let mut args = vec![
        "-u".to_owned(),
        gc.threshold.to_string(),
        "-f".to_owned(),
        gc.release.to_string(),
        "-l".to_owned(),
        gc.rw_deletes.to_string(),
        "-L".to_owned(),
        gc.rw_reads.to_string(),
        "-t".to_owned(),
        (gc.temp_keys_space.bytes() / (1 << 20)).to_string(),
        "-m".to_owned(),
        gc.rw_duration.micros().to_string(),
        "-w".to_owned(),
        gc.rw_delay.micros().to_string(),
    ];
    if gc.dry_run {
        args.push("-n".to_owned());
    }
    args
}

/// The manager as supervisord's program.
pub fn manager_program(exe: &Path, files: &[PathBuf], layout: &Layout) -> ManagerProgram {
    ManagerProgram {
        command: manager_command(exe, files, layout),
        ready_timeout: super::service::MANAGER_READY_TIMEOUT,
    }
}

/// The unprivileged user to run as, from `--user NAME` (`None`: the default, `knot-resolver`
/// when started as root): `None` when running as root was asked for (`--user root`) or when we
/// are not root (then there is nobody to drop to). The group is the user's primary group.
pub fn run_as(user: Option<&str>) -> Result<Option<RunAs>, String> {
    let root = nix::unistd::geteuid().is_root();
    let name = match user {
        Some("root") => return Ok(None),
        Some(name) if !root => {
            return Err(format!(
                "--user {name} needs the service to be started as root (it is started as uid {})",
                nix::unistd::geteuid()
            ));
        }
        None if !root => return Ok(None),
        Some(name) => name,
        None => DEFAULT_USER,
    };
    lookup(name).map(Some)
}

/// The user `name` and its primary group.
pub fn lookup(name: &str) -> Result<RunAs, String> {
    let user = nix::unistd::User::from_name(name).map_err(|e| format!("cannot look up the user {name}: {e}"))?;
    let Some(user) = user else {
        return Err(format!(
            "there is no user `{name}` to run the workers as; install knot-resolver (which creates `{DEFAULT_USER}`), name another one with --user, or run everything as root with --user root"
        ));
    };
    let group =
        nix::unistd::Group::from_gid(user.gid).map_err(|e| format!("cannot look up the group of {name}: {e}"))?;
    let group = group.map_or_else(|| user.gid.to_string(), |g| g.name);
    Ok(RunAs { user: name.to_owned(), group })
}

/// Who the workers run as when the service is started as root and no `--user` is given (the user
/// Debian's knot-resolver package creates).
pub const DEFAULT_USER: &str = "knot-resolver";

/// The supervised manager's command line, as the service start passes it on.
pub fn manager_command(exe: &Path, files: &[PathBuf], layout: &Layout) -> Vec<OsString> {
    let mut command: Vec<OsString> =
        vec![exe.into(), "--supervised".into(), "--rundir".into(), (&layout.rundir).into()];
    command.extend(["--state-dir".into(), (&layout.state_dir).into()]);
    let user = layout.run_as.as_ref().map_or("root", |r| r.user.as_str());
    command.extend(["--user".into(), user.into()]);
    for file in files {
        command.push("-c".into());
        command.push(file.into());
    }
    command
}

#[cfg(test)]
mod tests {
    use schema_core::{FakeSystem, ResolveOptions};

    use super::*;

    fn config(yaml: &str) -> Config {
        let document = schema_core::yaml::parse(yaml, Some("t.yaml")).expect("parses");
        crate::config::validate(&document, &FakeSystem::default(), ResolveOptions::default()).expect("valid").config
    }

    #[test]
    fn chown_dir_follows_no_link() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            println!("not root: cannot give files away (this test needs root)");
            return;
        }
        let top = std::env::temp_dir().join(format!("kres-chown-dir-{}", std::process::id()));
        let (dir, outside) = (top.join("dir"), top.join("outside"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&outside, "root's").unwrap();
        std::fs::write(dir.join("file"), "").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, top.join("dir-link")).unwrap();
        chown_dir(&dir, 65534, 65534).unwrap();
        let uid = |path: &Path| std::fs::symlink_metadata(path).unwrap().uid();
        assert_eq!([uid(&dir), uid(&dir.join("file")), uid(&dir.join("link"))], [65534; 3]);
        assert_eq!(uid(&outside), 0, "the link's target is not touched");
        // A directory that is a link is refused, not followed.
        assert!(chown_dir(&top.join("dir-link"), 65534, 65534).is_err());
        assert_eq!(uid(&outside), 0);
        std::fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn readability_follows_the_mode_bits() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("kres-readable-{}", std::process::id()));
        std::fs::write(&path, "key").unwrap();
        let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        let stranger = (uid.wrapping_add(4242), gid.wrapping_add(4242));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(readable_by(&path, uid, gid), Some(true));
        assert_eq!(readable_by(&path, stranger.0, stranger.1), Some(false));
        assert_eq!(readable_by(&path, stranger.0, gid), Some(false));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(readable_by(&path, stranger.0, gid), Some(true));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(readable_by(&path, stranger.0, stranger.1), Some(true));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(readable_by(&path, uid, gid), None);
    }

    #[test]
    fn the_setup_follows_the_config() {
        let layout = Layout::new(Path::new("/run/kr"), None);
        let binaries = Binaries { kresd: "/usr/sbin/kresd".into(), cache_gc: "/usr/sbin/kres-cache-gc".into() };
        let setup = layout.setup(
            &config("workers: 3\ncache:\n  storage: /var/cache/kr\n  garbage-collector:\n    interval: 2s\n"),
            &binaries,
            &Timeouts::default(),
            None,
        );
        assert_eq!(setup.worker_configs.len(), 3);
        assert_eq!(setup.worker_configs[2], Path::new("/run/kr/lua/kresd2.lua"));
        assert_eq!(setup.canary_config.as_deref(), Some(Path::new("/run/kr/lua/canary.lua")));
        let gc = setup.cache_gc.expect("gc enabled by default");
        assert_eq!(gc.cache_dir, Path::new("/var/cache/kr"));
        assert_eq!(gc.interval, Duration::from_secs(2));
        assert_eq!(layout.state_file(), Path::new("/run/kr/state/config.json"));
        let off = layout.setup(
            &config("cache:\n  garbage-collector:\n    enable: false\n"),
            &binaries,
            &Timeouts::default(),
            None,
        );
        assert!(off.cache_gc.is_none());
    }
}
