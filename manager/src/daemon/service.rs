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
use std::time::Duration;

use schema_core::ResolveOptions;

use super::layout::{self, Binaries, Layout, Timeouts};
use crate::backend::supervisord::{Paths, render_config};
use crate::config::load::{self, LoadError};

/// How long the supervised manager may take from its spawn to `READY=1` (every worker started
/// and answering) before supervisord gives up on it.
pub const MANAGER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the service start needs.
#[derive(Clone, Debug)]
pub struct ServiceOptions {
    pub files: Vec<PathBuf>,
    pub supervisord: PathBuf,
    pub binaries: Binaries,
    pub state_dir: Option<PathBuf>,
    /// `--user`: who the workers run as (`None`: `knot-resolver` when started as root).
    pub user: Option<String>,
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
    #[error("cannot run {path}: {source}")]
    Exec {
        path: PathBuf,
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
    let system = load::system(&options.binaries.kresd);
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
    let run_as = layout::run_as(options.user.as_deref()).map_err(StartError::Invalid)?;
    let layout = Layout::new(config.rundir.as_path(), options.state_dir.as_deref()).run_by(run_as);
    layout.create(config.cache.storage.as_path()).map_err(io("cannot create", &layout.rundir))?;
    check_tls_files_readable(&layout, config)?;
    let lock = lock(&layout)?;
    sweep(&layout);
    clear_stale_sockets(&layout);
    let exe = std::env::current_exe().map_err(io("cannot find", Path::new("the kres-manager executable")))?;
    let manager = layout::manager_program(&exe, &files, &layout);
    let setup = layout.setup(config, &options.binaries, &Timeouts::default(), Some(manager));
    let paths = Paths::new(&layout.rundir);
    std::fs::write(&paths.config, render_config(&setup, &paths)?).map_err(io("cannot write", &paths.config))?;
    let who = layout.run_as.as_ref().map_or_else(
        || format!("as uid {}", nix::unistd::geteuid()),
        |r| format!("as {}:{} (kresd with CAP_NET_BIND_SERVICE only)", r.user, r.group),
    );
    eprintln!(
        "kres-manager {}: starting supervisord ({}) for {} worker(s) in {}, running them {who}",
        crate::VERSION,
        options.supervisord.display(),
        config.workers,
        layout.rundir.display()
    );
    // The lock's descriptor must survive exec (std opens files close-on-exec).
    nix::fcntl::fcntl(lock.as_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty())).map_err(|errno| {
        StartError::Io { what: "cannot keep the lock on", path: layout.lock_file(), source: errno.into() }
    })?;
    let source = std::process::Command::new(&options.supervisord)
        .arg("-c")
        .arg(&paths.config)
        .current_dir(&layout.rundir)
        .exec();
    Err(StartError::Exec { path: options.supervisord.clone(), source })
}

/// The workers run as the unprivileged user from their start and load the TLS certificate and key
/// as that user (at start and at every renewal): refuse to start, saying how to fix it, when that
/// user cannot read them, rather than let every worker fail on it.
fn check_tls_files_readable(layout: &Layout, config: &crate::config::Config) -> Result<(), StartError> {
    let Some(run_as) = &layout.run_as else { return Ok(()) };
    let Ok((uid, gid)) = layout::ids(run_as) else { return Ok(()) };
    let tls = &config.network.tls;
    let unreadable: Vec<String> = [&tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
        .filter(|file| layout::readable_by(file.as_path(), uid, gid) == Some(false))
        .map(|file| file.as_path().display().to_string())
        .collect();
    if unreadable.is_empty() {
        return Ok(());
    }
    Err(StartError::Invalid(format!(
        "/network/tls: {} not readable by {}, the user the workers run as; give that group read access \
         (chgrp {} FILE; chmod 0640 FILE) or choose another user with --user; nothing was started",
        unreadable.join(" and "),
        run_as.user,
        run_as.group
    )))
}

/// Takes the rundir's lock (one service per rundir) and records our pid in it.
fn lock(layout: &Layout) -> Result<std::fs::File, StartError> {
    let path = layout.lock_file();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io("cannot open", &path))?;
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
