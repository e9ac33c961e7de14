//! Starting the service (`kres-manager -c FILE`): validate, lock the rundir, clear what an
//! earlier run left, write supervisord.conf and become supervisord (exec), which then runs the
//! manager as its first program and the workers under it.
//!
//! Why exec: supervisord must be the root of the process tree so that a crashed manager is
//! restarted while the workers keep serving, and it keeps our pid so systemd (`Type=notify`) and
//! whoever started us see one main process. The rundir lock's file descriptor survives the exec:
//! supervisord holds the lock for the service's lifetime, and the kernel drops it when
//! supervisord dies however it dies, so a stale lock never blocks the next start.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use schema_core::ResolveOptions;

use super::privileges;
use crate::backend::supervisord::{Paths, render_config};
use crate::config::load::{self, LoadError};
use crate::kresd::Target;
use crate::layout::{self, Binaries, Layout, Timeouts};

/// Everything the service start needs.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    pub files: Vec<PathBuf>,
    pub supervisord: PathBuf,
    pub binaries: Binaries,
    pub state_dir: Option<PathBuf>,
    /// `--user`: who the workers run as (`None`: `knot-resolver` when started as root).
    pub user: Option<String>,
    pub timeouts: Timeouts,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "another kres-manager service runs with the rundir {rundir} (supervisord pid {pid}); stop it first, or give this one another rundir"
    )]
    Locked { rundir: PathBuf, pid: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write supervisord.conf: {0}")]
    Render(#[from] minijinja::Error),
    #[error("cannot run {path} as {who}: {source}")]
    Exec {
        path: PathBuf,
        who: String,
        #[source]
        source: std::io::Error,
    },
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> StartError + 'p {
    move |source| StartError::Io { what, path: path.to_owned(), source }
}

/// Starts the service; on success this process has become supervisord and never returns.
pub fn start(options: &ServiceOptions) -> Result<Infallible, StartError> {
    let files: Vec<PathBuf> = options
        .files
        .iter()
        .map(|file| std::path::absolute(file).map_err(io("cannot resolve", file)))
        .collect::<Result<_, _>>()?;
    let target = Target::find(&options.binaries.kresd).map_err(StartError::Invalid)?;
    if let Some(note) = &target.note {
        eprintln!("note: {note}");
    }
    let system = target.system();
    let loaded = match load::load_files(&files, &system, ResolveOptions::default()) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid { report, rendered }) => {
            let errors = report.errors().count();
            return Err(StartError::Invalid(format!(
                "{rendered}{errors} problem{} found; nothing was started",
                if errors == 1 { "" } else { "s" }
            )));
        }
        Err(other) => return Err(StartError::Invalid(other.to_string())),
    };
    eprint!("{}", loaded.notes());
    let config = &loaded.validated.config;
    let user = layout::run_as(options.user.as_deref()).map_err(StartError::Invalid)?;
    let layout = Layout::new(config.rundir.as_path(), options.state_dir.as_deref());
    if nix::unistd::geteuid().is_root() {
        let cache = config.cache.storage.as_path();
        layout.hand_over(cache, user.as_ref()).map_err(io("cannot prepare", &layout.rundir))?;
    }
    if let Some(user) = &user {
        privileges::become_user(user).map_err(StartError::Invalid)?;
    }
    // From here on, everything runs as the service's user (when started as root).
    let (who, group) = match &user {
        Some(user) => (user.name.clone(), user.group.clone()),
        None => privileges::current(),
    };
    let exe = std::env::current_exe().map_err(io("cannot find", Path::new("the kres-manager executable")))?;
    let executables = [&exe, &options.supervisord, &options.binaries.kresd, &options.binaries.cache_gc];
    check_access(&who, &group, &files, &executables, config)?;
    layout.create().map_err(io("cannot create", &layout.rundir))?;
    let lock = lock(&layout)?;
    sweep(&layout);
    clear_stale_sockets(&layout);
    let manager = layout::manager_program(&exe, &files, &layout, &options.binaries, &options.timeouts);
    let setup = layout.setup(config, &options.binaries, &options.timeouts, Some(manager));
    let paths = Paths::new(&layout.rundir);
    write_new(&paths.config, &render_config(&setup, &paths)?).map_err(io("cannot write", &paths.config))?;
    let capability = if user.is_some() { " with CAP_NET_BIND_SERVICE only" } else { "" };
    eprintln!(
        "kres-manager {}: starting supervisord ({}) for {} worker(s) in {}, running everything as {who}{capability}",
        crate::VERSION,
        options.supervisord.display(),
        config.workers,
        layout.rundir.display()
    );
    // The lock's descriptor must survive exec (std opens files close-on-exec).
    nix::fcntl::fcntl(lock.as_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())).map_err(|errno| {
        StartError::Io { what: "cannot keep the lock on", path: layout.lock_file(), source: errno.into() }
    })?;
    let mut command = std::process::Command::new(&options.supervisord);
    command.arg("-c").arg(&paths.config).current_dir(&layout.rundir);
    if let Some(user) = &user {
        command.env("HOME", &user.home).env("USER", &user.name).env("LOGNAME", &user.name);
    }
    let source = command.exec();
    Err(StartError::Exec { path: options.supervisord.clone(), who, source })
}

/// What the service's user must be able to do, checked before anything starts (as that user),
/// so that a start that cannot work says why instead of a worker or the manager failing later:
/// run the executables (supervisord runs this one again as the manager), read the config files
/// (the manager re-reads them on reload), the TLS certificate and key (every worker loads them)
/// and the API's token files; create the API's unix socket and give it its group.
fn check_access(
    who: &str,
    group: &str,
    files: &[PathBuf],
    executables: &[&PathBuf],
    config: &crate::config::Config,
) -> Result<(), StartError> {
    let unreadable = |path: &Path| matches!(std::fs::File::open(path), Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied);
    let mut problems = Vec::new();
    for executable in executables {
        if nix::unistd::access(executable.as_path(), nix::unistd::AccessFlags::X_OK) == Err(nix::errno::Errno::EACCES) {
            problems.push(format!(
                "{}: not executable by {who} (install it where {who} may run it, e.g. /usr/local/bin)",
                executable.display()
            ));
        }
    }
    for file in files.iter().filter(|file| unreadable(file)) {
        problems.push(format!("{}: the config file is not readable by {who}", file.display()));
    }
    let tls = &config.network.tls;
    for (pointer, file) in [("/network/tls/cert-file", &tls.cert_file), ("/network/tls/key-file", &tls.key_file)] {
        if let Some(file) = file.as_ref().filter(|file| unreadable(file.as_path())) {
            problems.push(format!("{pointer}: {} is not readable by {who}", file.as_path().display()));
        }
    }
    let management = &config.management;
    for (n, token) in management.tokens.iter().enumerate() {
        if unreadable(token.file.as_path()) {
            problems.push(format!(
                "/management/tokens/{n}/file: {} is not readable by {who}",
                token.file.as_path().display()
            ));
        }
    }
    if let Some(socket) = &management.unix_socket {
        // The directory where the socket, or the first directory missing on its way, is created.
        let dir = Path::new(socket).ancestors().skip(1).find(|dir| dir.exists()).unwrap_or(Path::new("/"));
        let flags = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
        if nix::unistd::access(dir, flags).is_err() {
            problems.push(format!(
                "/management/unix-socket: {who} cannot create {socket}: the directory {} is not writable by {who}",
                dir.display()
            ));
        }
        // The group as the API will look it up (an unknown one is the API's error to report).
        let gid = crate::api::listen::SocketPermissions::from_management(management).ok().and_then(|p| p.gid);
        if let (Some(gid), Some(socket_group)) = (gid, &management.unix_socket_group)
            && !privileges::in_group(nix::unistd::Gid::from_raw(gid))
        {
            problems.push(format!(
                "/management/unix-socket-group: {who} is not a member of the group {socket_group}, so it cannot give the socket to it"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(StartError::Invalid(format!(
        "{}\nthe service runs as {who}: give it access (e.g. chgrp {group} FILE; chmod 0640 FILE), or choose \
         another user with --user; nothing was started",
        problems.join("\n")
    )))
}

/// Replaces `path` with a new file holding `text`, through a file of its own (created, never
/// opened if it exists: the rundir may belong to the service's user, and this may run as root
/// with `--user root`) renamed over it.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("new");
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(&temporary)?.write_all(text.as_bytes())?;
    std::fs::rename(&temporary, path)
}

/// Takes the rundir's lock (one service per rundir) and records our pid in it. The file is not
/// followed if it is a link, and not written if it has other names.
fn lock(layout: &Layout) -> Result<std::fs::File, StartError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let path = layout.lock_file();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .map_err(io("cannot open", &path))?;
    let metadata = file.metadata().map_err(io("cannot examine", &path))?;
    if !metadata.is_file() || metadata.nlink() != 1 {
        let source = std::io::Error::other("not a regular file with one name; remove it");
        return Err(StartError::Io { what: "refusing to use", path, source });
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default().trim().to_owned();
            return Err(StartError::Locked { rundir: layout.rundir.clone(), pid });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(StartError::Io { what: "cannot lock", path, source }),
    }
    file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id())).map_err(io("cannot write", &path))?;
    Ok(file)
}

/// Kills processes an earlier run of this service left behind (kresd started from this rundir's
/// Lua files). supervisord's children die with it (parent-death signal), so normally there are
/// none; this covers processes started by something else from our files, and older versions.
fn sweep(layout: &Layout) {
    for (pid, cmdline) in processes_mentioning(&layout.lua_dir()) {
        eprintln!("kres-manager: killing pid {pid} left over from an earlier run: {cmdline}");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Processes (other than us) whose command line mentions `dir`: (pid, command line).
pub fn processes_mentioning(dir: &Path) -> Vec<(u32, String)> {
    crate::procfs::mentioning(dir).into_iter().map(|p| (p.pid, p.cmdline)).collect()
}

/// Control sockets of dead workers would be mistaken for live ones.
fn clear_stale_sockets(layout: &Layout) {
    if let Ok(entries) = std::fs::read_dir(layout.control_dir()) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
