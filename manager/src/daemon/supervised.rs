//! The manager as supervisord's program (`kres-manager --supervised`): attach to supervisord,
//! start the workers (or adopt the running ones after a restart of ours), tell supervisord (and
//! through it systemd) `READY=1` once every worker answers, then serve: reloads on SIGHUP, crash
//! repair, the API.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use schema_core::ResolveOptions;
use tokio::signal::unix::{SignalKind, signal};

use super::notify::{probe, probe_address, sd_notify};
use crate::backend::supervisord::Supervisord;
use crate::backend::{Backend, Program};
use crate::config::load::{self, LoadError};
use crate::kresd::Target;
use crate::layout::{Binaries, Layout, Timeouts};
use crate::reconcile::apply::Reconciler;
use crate::reconcile::reload::{ReloadError, ReloadOptions, Reloader, validator};
use crate::reconcile::store::{self, Revision};
use crate::reconcile::task;

/// What the supervised manager is given on its command line.
#[derive(Clone, Debug)]
pub struct SupervisedOptions {
    pub files: Vec<PathBuf>,
    pub rundir: PathBuf,
    pub state_dir: Option<PathBuf>,
    pub binaries: Binaries,
    pub timeouts: Timeouts,
}

/// Runs until SIGTERM/SIGINT (supervisord stopping the service) or a fatal error.
pub async fn run(options: SupervisedOptions) -> anyhow::Result<()> {
    let layout = Layout::new(&options.rundir, options.state_dir.as_deref());
    // The start checked the same kresd (it passes its --kresd on): both judge alike.
    let target = Target::find(&options.binaries.kresd).map_err(anyhow::Error::msg)?;
    if let Some(note) = &target.note {
        tracing::warn!("{note}");
    }
    tracing::info!("managing {target}, configured in the {} dialect", target.dialect);
    let system = target.system();
    let timeouts = options.timeouts;
    let exe = std::env::current_exe()?;
    let manager = crate::layout::manager_program(&exe, &options.files, &layout, &options.binaries, &timeouts);

    let validate = validator(&target);
    let files = load::load_files(&options.files, &system, ResolveOptions::default());
    let saved = match store::load(&layout.state_file()) {
        Ok(saved) => saved,
        Err(error) => {
            tracing::warn!("{error}; starting from the config files");
            None
        }
    };
    let api_changes = saved.as_ref().map(|s| s.api_changes.clone()).unwrap_or_default();
    let stored = saved.as_ref().and_then(|saved| match validate(&saved.document) {
        Ok((config, _)) => Some(Revision::new(saved.generation, saved.document.clone(), config)),
        Err(report) => {
            tracing::warn!("the saved configuration is no longer valid, ignoring it:\n{report}");
            None
        }
    });

    // The files with the changes made through the API on top.
    let mut files_document = None;
    let from_files = match files {
        Ok(loaded) => {
            let notes = loaded.notes();
            if !notes.is_empty() {
                tracing::warn!("{}", notes.trim_end());
            }
            let document = loaded.document.to_json();
            files_document = Some(document.clone());
            with_api_changes(document, &api_changes, &validate)
        }
        Err(LoadError::Invalid { rendered, .. }) => {
            tracing::error!("the config files are invalid:\n{rendered}");
            None
        }
        Err(error) => {
            tracing::error!("{error}");
            None
        }
    };
    // Attach with whatever config describes the processes best; reconfigure fixes the set.
    let any =
        stored.as_ref().or(from_files.as_ref()).ok_or_else(|| anyhow::anyhow!("no valid configuration to run"))?;
    let setup = layout.setup(&any.config, &options.binaries, &timeouts, Some(manager.clone()));
    let mut backend = Supervisord::attach(&setup).await?;
    let processes = backend.processes().await?;
    let workers_running = processes.iter().any(|p| matches!(p.program, Program::Worker(_)) && p.state.is_active());

    let adopting = workers_running && stored.is_some();
    let next_generation = stored.as_ref().map_or(1, |s| s.generation + 1);
    // The files are what the API changes apply to only when they give the running document (not
    // when the workers adopted run a saved document the files no longer give).
    let files_give_stored = stored.as_ref().zip(from_files.as_ref()).is_some_and(|(s, f)| s.document == f.document);
    let files_document = files_document.filter(|_| !adopting || files_give_stored);
    let revision =
        if adopting { stored } else { from_files.map(|r| Revision::new(next_generation, r.document, r.config)) };
    let revision =
        revision.ok_or_else(|| anyhow::anyhow!("the config files are invalid and there is no saved configuration"))?;
    let setup = layout.setup(&revision.config, &options.binaries, &timeouts, Some(manager.clone()));
    // supervisord's programs may differ from this config (a change of the worker count made
    // before a crash of ours); reloading supervisord's config costs ~10 ms, so only then.
    let programs: Vec<Program> = processes.iter().map(|p| p.program).collect();
    if programs != setup.programs() {
        backend.reconfigure(&setup).await?;
    }

    let mut reconciler =
        Reconciler::new(backend, layout.clone(), options.binaries.clone(), target.dialect, timeouts, Some(manager));
    let began = Instant::now();
    let applied = if adopting {
        tracing::info!("re-adopting the running workers (configuration generation {})", revision.generation);
        reconciler.adopt(revision.config.clone()).await?
    } else {
        tracing::info!(
            "starting {} worker(s) (configuration generation {})",
            revision.config.workers,
            revision.generation
        );
        reconciler.start(revision.config.clone()).await?
    };
    for step in &applied.steps {
        tracing::info!("{step}");
    }
    store::save(&layout.state_file(), &revision, &api_changes)?;

    let address = probe_address(&revision.config);
    let generation = revision.generation;
    let workers = revision.config.workers;
    let management = revision.config.management.clone();
    let (handle, task) =
        task::spawn(reconciler, revision, api_changes, files_document, validate, layout.state_file()).await;
    tokio::spawn(super::watch::watch_certificates(handle.clone()));
    let daemon = Reloader { handle: handle.clone(), files: options.files.clone(), target };
    // The API serves from now on; `POST /stop` comes back to the loop below.
    let (stop_sender, mut stop_requests) = tokio::sync::mpsc::channel(1);
    let _api = crate::api::start(daemon.clone(), layout.clone(), &management, stop_sender)
        .await
        .inspect_err(|error| tracing::error!("the management API is not available: {error}"))
        .ok();
    if let Some(address) = address {
        wait_for_answers(address, timeouts.ready).await;
    }
    tracing::info!("ready: {workers} worker(s) serving, generation {generation}, after {:?}", began.elapsed());
    sd_notify(&format!("READY=1\nSTATUS=generation {generation}, {workers} worker(s) ready"));

    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                match daemon.reload(ReloadOptions::default(), "SIGHUP").await {
                    Ok(outcome) if outcome.unchanged => tracing::info!("reload: the config files are unchanged"),
                    Ok(outcome) => tracing::info!("reload: generation {} applied", outcome.generation),
                    Err(ReloadError::Invalid { rendered, .. }) => tracing::error!("reload refused, the running configuration stays:\n{rendered}"),
                    Err(error) => tracing::error!("reload failed, the running configuration stays: {error}"),
                }
                let status = handle.status();
                sd_notify(&format!("READY=1\nSTATUS=generation {}", status.revision.generation));
            }
            Some(()) = stop_requests.recv() => {
                tracing::info!("stopping the service (asked through the API)");
                handle.shutdown().await;
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    // supervisord stops the workers before us (priority order); nothing left to do but go.
    tracing::info!("stopping");
    sd_notify("STOPPING=1");
    drop(handle);
    task.abort();
    Ok(())
}

/// The files' document with the recorded API changes applied, validated; `None` (logged) when
/// they no longer apply or the result is invalid.
fn with_api_changes(
    mut document: serde_json::Value,
    api_changes: &[serde_json::Value],
    validate: &task::Validator,
) -> Option<Revision> {
    if !api_changes.is_empty() {
        tracing::info!("applying {} change(s) made through the API on top of the config files", api_changes.len());
        let patch = serde_json::Value::Array(api_changes.to_vec());
        if let Err(error) = crate::config::patch::apply_patch(&mut document, &patch) {
            tracing::error!("a change made through the API no longer applies to the config files: {error}");
            return None;
        }
    }
    match validate(&document) {
        Ok((config, _)) => Some(Revision::new(1, document, config)),
        Err(report) => {
            tracing::error!("the config files with the API changes on top are invalid:\n{report}");
            None
        }
    }
}

/// Waits until `address` answers DNS (each worker already sent READY=1; this checks the path a
/// client takes), at most `limit`.
async fn wait_for_answers(address: std::net::SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let answered = tokio::task::spawn_blocking(move || probe(address, Duration::from_millis(200))).await;
        if matches!(answered, Ok(true)) {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!("{address} does not answer DNS after {limit:?}; reporting ready anyway (the workers are)");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
