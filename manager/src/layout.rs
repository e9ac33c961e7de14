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

use nix::unistd::{Gid, Uid};

use crate::backend::{CacheGc, ManagerProgram, Output, Program, Setup};
use crate::config::Config;

/// The executables the service runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub kresd: PathBuf,
    pub cache_gc: PathBuf,
}

impl Binaries {
    /// `kresd`, and `cache_gc` or else the `kres-cache-gc` in kresd's directory: each kresd
    /// major ships its own GC for its own cache format (`/usr/sbin` for Debian's 5.6,
    /// `/opt/kr6/sbin` for the tests' 6.5.0).
    pub fn new(kresd: PathBuf, cache_gc: Option<PathBuf>) -> Binaries {
        let cache_gc = cache_gc.unwrap_or_else(|| kresd.with_file_name("kres-cache-gc"));
        Binaries { kresd, cache_gc }
    }
}

/// Time limits of the process tree.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From a kresd's spawn to its `READY=1`.
    pub ready: Duration,
    /// From SIGTERM to SIGKILL.
    pub stop: Duration,
    /// How long a worker taken out of service may finish the queries and connections it has
    /// (`--drain-timeout`); what is left then is closed with the process.
    pub drain: Duration,
    /// One control-socket command.
    pub control: Duration,
}

/// How long the supervised manager may take from its spawn to `READY=1` (every worker started
/// and answering) before supervisord gives up on it.
pub const MANAGER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The default drain time: enough for a client to get its answers and leave, short enough for
/// a rolling restart of many workers when something keeps a worker busy.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            ready: Duration::from_secs(10),
            stop: Duration::from_secs(5),
            drain: DEFAULT_DRAIN_TIMEOUT,
            control: Duration::from_secs(2),
        }
    }
}

/// The service's directories.
#[derive(Clone, Debug)]
pub struct Layout {
    pub rundir: PathBuf,
    pub state_dir: PathBuf,
}

impl Layout {
    /// `state_dir` defaults to `<rundir>/state`.
    pub fn new(rundir: &Path, state_dir: Option<&Path>) -> Layout {
        let state_dir = state_dir.map_or_else(|| rundir.join("state"), Path::to_owned);
        Layout { rundir: rundir.to_owned(), state_dir }
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

    /// Creates the directories, as the user the service runs as: the state (it holds the config,
    /// which may hold secrets), the Lua and the control sockets are for that user alone.
    /// A directory that is a link is refused, not followed.
    pub fn create(&self) -> std::io::Result<()> {
        use nix::fcntl::OFlag;
        use std::os::unix::fs::DirBuilderExt;
        let dirs = [
            (&self.rundir, 0o755),
            (&self.lua_dir(), 0o700),
            (&self.control_dir(), 0o750),
            (&self.state_dir, 0o700),
            // supervisord's sd_notify socket (mode 0666: supervisord-ext makes it so) lives in a
            // directory only the service's user may enter.
            (&self.notify_dir(), 0o700),
        ];
        for (dir, mode) in dirs {
            std::fs::DirBuilder::new().recursive(true).mode(mode).create(dir)?;
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let handle = nix::fcntl::open(dir.as_path(), flags, nix::sys::stat::Mode::empty())?;
            nix::sys::stat::fchmod(&handle, nix::sys::stat::Mode::from_bits_truncate(mode))?;
        }
        Ok(())
    }

    /// Root's part of the start: creates the rundir, the state directory and `cache_dir` when
    /// missing and gives them, with what the service keeps in them, to `owner` (the service's
    /// user; root with `--user root`, which takes back what an earlier run left to a user).
    ///
    /// The user may write in these directories (never in their parents), so nothing
    /// here follows a symbolic link or recurses: each directory is opened with `O_NOFOLLOW` and
    /// its entries are changed relative to that handle. In the rundir, which may be shared with
    /// other files, only the service's own entries are given away.
    pub fn hand_over(&self, cache_dir: &Path, owner: Option<&User>) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        for dir in [&self.rundir, &self.state_dir, cache_dir] {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let paths = crate::backend::supervisord::Paths::new(&self.rundir);
        let own: Vec<PathBuf> = [&self.lock_file(), &paths.config, &paths.socket, &paths.pidfile]
            .into_iter()
            .filter(|file| file.parent() == Some(self.rundir.as_path()))
            .filter_map(|file| file.file_name().map(PathBuf::from))
            .collect();
        let ids = owner.map_or((0, 0), |user| (user.uid.as_raw(), user.gid.as_raw()));
        chown_dir(&self.rundir, ids, Entries::Only(&own))?;
        for dir in [self.lua_dir(), self.control_dir(), self.notify_dir(), self.state_dir.clone(), cache_dir.to_owned()]
        {
            match chown_dir(&dir, ids, Entries::All) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
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
        }
    }
}

/// Which entries of a directory [`chown_dir`] changes.
#[derive(Clone, Copy, Debug)]
enum Entries<'a> {
    All,
    /// These names (those missing are skipped).
    Only(&'a [PathBuf]),
}

/// Gives `dir` and its `entries` (directly in it) to `uid`:`gid`, following no symbolic link: the
/// directory is opened with `O_NOFOLLOW` and its entries are changed relative to that handle, so
/// a user who may write in it (the service's user) cannot turn root's chown onto other files by
/// swapping an entry for a link. No recursion: these directories hold files and sockets only.
fn chown_dir(dir: &Path, (uid, gid): (u32, u32), entries: Entries<'_>) -> std::io::Result<()> {
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
        .filter(|name| match entries {
            Entries::All => true,
            Entries::Only(names) => names.iter().any(|own| own.as_os_str().as_encoded_bytes() == name.as_bytes()),
        })
        .collect();
    for name in names {
        // Through a handle on the entry itself (a link is opened as the link): what is checked is
        // what is changed. A file with another name elsewhere (a hard link the user made to a
        // file of root's) is not given away.
        let entry = nix::fcntl::openat(
            handle.as_fd(),
            name.as_c_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        let stat = nix::sys::stat::fstat(&entry)?;
        if stat.st_mode & nix::libc::S_IFMT != nix::libc::S_IFDIR && stat.st_nlink > 1 {
            eprintln!(
                "kres-manager: not giving {} away: it has {} names",
                dir.join(name.to_string_lossy().as_ref()).display(),
                stat.st_nlink
            );
            continue;
        }
        nix::unistd::fchownat(&entry, "", uid, gid, AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW)?;
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
pub fn manager_program(
    exe: &Path,
    files: &[PathBuf],
    layout: &Layout,
    binaries: &Binaries,
    timeouts: &Timeouts,
) -> ManagerProgram {
    ManagerProgram {
        command: manager_command(exe, files, layout, binaries, timeouts),
        ready_timeout: MANAGER_READY_TIMEOUT,
    }
}

/// An unprivileged user, looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The name of the user's primary group (its number when the group has no entry).
    pub group: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
}

impl User {
    /// The user `name` and its primary group.
    pub fn lookup(name: &str) -> Result<User, String> {
        let user = nix::unistd::User::from_name(name).map_err(|e| format!("cannot look up the user {name}: {e}"))?;
        let Some(user) = user else {
            return Err(format!(
                "there is no user `{name}` to run the service as; install knot-resolver (which creates `{}`), \
                 name another one with --user, or run everything as root with --user root",
                DEFAULT_USER
            ));
        };
        let group =
            nix::unistd::Group::from_gid(user.gid).map_err(|e| format!("cannot look up the group of {name}: {e}"))?;
        let group = group.map_or_else(|| user.gid.to_string(), |g| g.name);
        Ok(User { name: name.to_owned(), group, uid: user.uid, gid: user.gid, home: user.dir })
    }
}

/// The unprivileged user to run the service as, from `--user NAME` (`None`: the default,
/// `knot-resolver` when started as root): `None` when running as root was asked for (`--user
/// root`) or when we are not root (then there is nobody to switch to).
pub fn run_as(user: Option<&str>) -> Result<Option<User>, String> {
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
    User::lookup(name).map(Some)
}

/// Who the service runs as when started as root and no `--user` is given (the user Debian's
/// knot-resolver package creates).
pub const DEFAULT_USER: &str = "knot-resolver";

/// The supervised manager's command line, as the service start passes it on: everything the
/// start was told that the manager needs too (so both judge the same files the same way).
pub fn manager_command(
    exe: &Path,
    files: &[PathBuf],
    layout: &Layout,
    binaries: &Binaries,
    timeouts: &Timeouts,
) -> Vec<OsString> {
    let mut command: Vec<OsString> =
        vec![exe.into(), "--supervised".into(), "--rundir".into(), (&layout.rundir).into()];
    command.extend(["--state-dir".into(), (&layout.state_dir).into()]);
    command.extend(["--kresd".into(), (&binaries.kresd).into()]);
    command.extend(["--cache-gc".into(), (&binaries.cache_gc).into()]);
    command.extend(["--drain-timeout".into(), format!("{}ms", timeouts.drain.as_millis()).into()]);
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
        chown_dir(&dir, (65534, 65534), Entries::All).unwrap();
        let uid = |path: &Path| std::fs::symlink_metadata(path).unwrap().uid();
        assert_eq!([uid(&dir), uid(&dir.join("file")), uid(&dir.join("link"))], [65534; 3]);
        assert_eq!(uid(&outside), 0, "the link's target is not touched");
        // A hard link to a file outside is not given away.
        std::fs::hard_link(&outside, dir.join("hard")).unwrap();
        chown_dir(&dir, (65533, 65533), Entries::All).unwrap();
        assert_eq!([uid(&dir.join("file")), uid(&outside)], [65533, 0]);
        // Only the entries named.
        chown_dir(&dir, (65534, 65534), Entries::Only(&[PathBuf::from("file")])).unwrap();
        assert_eq!([uid(&dir.join("file")), uid(&dir.join("link"))], [65534, 65533]);
        // A directory that is a link is refused, not followed.
        assert!(chown_dir(&top.join("dir-link"), (65534, 65534), Entries::All).is_err());
        assert_eq!(uid(&outside), 0);
        std::fs::remove_dir_all(&top).unwrap();
    }

    #[test]
    fn the_cache_gc_is_the_one_next_to_kresd_unless_named() {
        let next = Binaries::new("/opt/kr6/sbin/kresd".into(), None);
        assert_eq!(next.cache_gc, Path::new("/opt/kr6/sbin/kres-cache-gc"));
        let named = Binaries::new("/usr/sbin/kresd".into(), Some("/usr/local/sbin/gc".into()));
        assert_eq!(named.cache_gc, Path::new("/usr/local/sbin/gc"));
    }

    #[test]
    fn the_supervised_manager_is_told_what_the_start_was_told() {
        let layout = Layout::new(Path::new("/run/kr"), Some(Path::new("/var/lib/kr")));
        let binaries = Binaries { kresd: "/opt/kr6/sbin/kresd".into(), cache_gc: "/opt/kr6/sbin/kres-cache-gc".into() };
        let timeouts = Timeouts { drain: Duration::from_millis(1500), ..Timeouts::default() };
        let files = [PathBuf::from("/etc/a.yaml"), PathBuf::from("/etc/b.yaml")];
        let command = manager_command(Path::new("/usr/bin/kres-manager"), &files, &layout, &binaries, &timeouts);
        let text: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            text.join(" "),
            "/usr/bin/kres-manager --supervised --rundir /run/kr --state-dir /var/lib/kr --kresd /opt/kr6/sbin/kresd \
             --cache-gc /opt/kr6/sbin/kres-cache-gc --drain-timeout 1500ms -c /etc/a.yaml -c /etc/b.yaml"
        );
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
