//! The daemon: starting the service ([`service`]), the supervised manager ([`supervised`]), and
//! what both share: where files live ([`layout`]), the config store ([`store`]), readiness
//! ([`notify`]) and reloading the config files ([`Daemon::reload`]).
//!
//! Process tree (see docs/architecture.md): `kres-manager -c FILE` validates, locks the rundir and
//! execs supervisord; supervisord runs `kres-manager --supervised` (restarted if it crashes), the
//! kresd workers, the canary and the cache GC; every child dies with supervisord.

pub mod layout;
pub mod notify;
pub mod service;
pub mod store;
pub mod supervised;
pub mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use schema_core::ResolveOptions;

use crate::config::Config;
use crate::config::load::{self, LoadError};
use crate::reconcile::task::{Change, Handle, Outcome, Preconditions, Request, RequestError, Validator};

/// What the running manager needs to reload its files.
#[derive(Clone, Debug)]
pub struct Daemon {
    pub handle: Handle,
    pub files: Vec<PathBuf>,
    pub kresd: PathBuf,
}

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The files are invalid (every problem, with snippets); the running config stays.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl Daemon {
    /// Re-reads the config files and applies them with the recorded API changes on top (or
    /// without them: `discard_api_changes`); an unchanged result does nothing unless `force`.
    pub async fn reload(&self, force: bool, discard_api_changes: bool, origin: &str) -> Result<Outcome, ReloadError> {
        let files = self.files.clone();
        let kresd = self.kresd.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            load::load_files(&files, &load::system(&kresd), ResolveOptions::default())
        })
        .await
        .map_err(|join| ReloadError::Invalid(format!("reading the config files failed: {join}")))?;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(LoadError::Invalid { rendered, .. }) => return Err(ReloadError::Invalid(rendered)),
            Err(error) => return Err(ReloadError::Invalid(error.to_string())),
        };
        let request = Request {
            change: Change::Files { document: loaded.document.to_json(), discard_api_changes },
            preconditions: Preconditions::default(),
            dry_run: false,
            force,
            origin: origin.to_owned(),
        };
        Ok(self.handle.apply(request).await?)
    }
}

/// The validator of documents that do not come from files (API bodies, saved state, files with
/// API changes on top): both passes against the installed kresd (`kresd` asked once here).
pub fn validator(kresd: &std::path::Path) -> Validator {
    let system = load::system(kresd);
    Arc::new(move |document: &serde_json::Value| -> Result<Arc<Config>, schema_core::Report> {
        let value = schema_core::Value::from_json(document);
        crate::config::validate(&value, &system, ResolveOptions::default()).map(|validated| Arc::new(validated.config))
    })
}
