//! Watching the TLS certificate and key (`network.tls.watchdog`): when their files change, every
//! worker reloads them over its control socket, without a restart.
//!
//! Polling (every [`PERIOD`]) rather than inotify: certificates are usually replaced by rename
//! (certbot, cert-manager), which an inotify watch on the old inode misses, and a once-a-second
//! `stat` of two files costs nothing. A change is applied once the files have stayed the same for
//! one more period (a writer may be halfway through). A certificate kresd refuses (garbage, a key
//! that does not match) is reported in the log; the workers keep the one they have. A worker that
//! had to start while the files were broken cannot (its Lua loads them) and is given up after its
//! crash loop; once the files load again it is started again, as a forced reload would.
//!
//! RPZ files (`local-data.rpz[].watchdog`) are watched by kresd itself (`policy.rpz`'s watch).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::kresd::lua;
use crate::reconcile::task::{Change, Handle, Preconditions, Request};

/// How often the files are looked at.
pub const PERIOD: Duration = Duration::from_millis(500);

/// What identifies a file's content without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    size: u64,
    modified: Option<std::time::SystemTime>,
    changed: i64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp {
        inode: metadata.ino(),
        size: metadata.size(),
        modified: metadata.modified().ok(),
        changed: metadata.ctime_nsec() + metadata.ctime() * 1_000_000_000,
    })
}

/// The files to watch in the running config, (certificate, key) when watching is on, and the
/// config's generation.
fn watched(handle: &Handle) -> (Option<(PathBuf, PathBuf)>, u64) {
    let status = handle.status();
    let tls = &status.revision.config.network.tls;
    let files = match (tls.watchdog, &tls.cert_file, &tls.key_file) {
        (true, Some(cert), Some(key)) => Some((cert.as_path().to_owned(), key.as_path().to_owned())),
        _ => None,
    };
    (files, status.revision.generation)
}

/// What was seen last: the config's generation, the two paths and their stamps.
type Seen = (u64, PathBuf, PathBuf, Option<Stamp>, Option<Stamp>);

/// Runs until the reconcile task is gone. The first look happens at once: the workers loaded
/// the files just before.
pub async fn watch_certificates(handle: Handle) {
    let mut seen: Option<Seen> = None;
    let mut pending = false;
    while !handle.is_closed() {
        if let (Some((cert, key)), generation) = watched(&handle) {
            let now = (generation, cert.clone(), key.clone(), stamp(&cert), stamp(&key));
            match &seen {
                // A new config: the workers loaded the files as they are now.
                Some((g, c, k, ..)) if *g != generation || *c != cert || *k != key => pending = false,
                None => pending = false,
                Some(previous) if *previous != now => pending = true,
                // Unchanged for one period after a change: apply.
                Some(_) if pending => {
                    pending = false;
                    reload(&handle, &cert, &key).await;
                }
                Some(_) => {}
            }
            seen = Some(now);
        } else {
            seen = None;
        }
        tokio::time::sleep(PERIOD).await;
    }
}

async fn reload(handle: &Handle, cert: &Path, key: &Path) {
    let chunk = format!("net.tls({}, {})", lua::string(&cert.to_string_lossy()), lua::string(&key.to_string_lossy()));
    tracing::info!("{} or {} changed: reloading them on every worker", cert.display(), key.display());
    let mut loaded = true;
    for (program, outcome) in handle.run_on_workers(chunk).await {
        match outcome {
            Ok(()) => tracing::info!("{program} reloaded the TLS certificate"),
            Err(error) => {
                loaded = false;
                tracing::error!("{program} refused the new TLS certificate (it keeps the previous one): {error}")
            }
        }
    }
    // A worker restarted while the files were broken could not start (its Lua loads them) and
    // was given up after its crash loop; now that they load, it gets a new chance, as a forced
    // reload would give it.
    if loaded && handle.status().processes.iter().any(|p| p.failed) {
        tracing::info!("the TLS certificate loads again: starting the workers given up meanwhile");
        let request = Request {
            change: Change::Edit(serde_json::json!([])),
            preconditions: Preconditions::default(),
            dry_run: false,
            force: true,
            origin: "TLS certificate renewed".into(),
        };
        if let Err(error) = handle.apply(request).await {
            tracing::error!("starting the workers given up failed: {error}");
        }
    }
}
