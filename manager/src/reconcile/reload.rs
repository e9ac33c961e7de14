//! Reloading the config files: re-read, validated for the service's kresd, and applied by the
//! reconcile task with the changes made through the API on top. Used by SIGHUP and by the API's
//! `/reload` routes. Also the validator of documents that do not come from files.

use std::path::PathBuf;
use std::sync::Arc;

use schema_core::ResolveOptions;

use super::task::{Change, Handle, Outcome, Preconditions, Request, RequestError, Validator};
use crate::config::Config;
use crate::config::load::{self, LoadError};
use crate::kresd::Target;

/// What the running manager needs to reload its files.
#[derive(Clone, Debug)]
pub struct Reloader {
    pub handle: Handle,
    pub files: Vec<PathBuf>,
    /// The kresd the files are judged for.
    pub target: Target,
}

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A file cannot be read; the running config stays.
    #[error(transparent)]
    Read(LoadError),
    /// The files are invalid (every problem; `rendered` with snippets); the running config stays.
    #[error("{rendered}")]
    Invalid { report: schema_core::Report, rendered: String },
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// What a reload asks for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReloadOptions {
    /// Apply even when nothing changed (and give given-up workers a new chance).
    pub force: bool,
    /// Drop the changes made through the API instead of re-applying them on top of the files.
    pub discard_api_changes: bool,
    /// Only compute the plan.
    pub dry_run: bool,
}

impl Reloader {
    /// Re-reads the config files and applies them with the recorded API changes on top (unless
    /// discarded); an unchanged result does nothing unless forced. Used by SIGHUP and the API.
    pub async fn reload(&self, options: ReloadOptions, origin: &str) -> Result<Outcome, ReloadError> {
        let files = self.files.clone();
        let system = self.target.system();
        let loaded = tokio::task::spawn_blocking(move || load::load_files(&files, &system, ResolveOptions::default()))
            .await
            .map_err(|join| {
                ReloadError::Read(LoadError::Read {
                    path: "the config files".into(),
                    source: std::io::Error::other(join.to_string()),
                })
            })?;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(LoadError::Invalid { report, rendered }) => return Err(ReloadError::Invalid { report, rendered }),
            Err(error) => return Err(ReloadError::Read(error)),
        };
        let request = Request {
            change: Change::Files {
                document: loaded.document.to_json(),
                discard_api_changes: options.discard_api_changes,
            },
            preconditions: Preconditions::default(),
            dry_run: options.dry_run,
            force: options.force,
            origin: origin.to_owned(),
        };
        Ok(self.handle.apply(request).await?)
    }
}

/// The validator of documents that do not come from files (API bodies, saved state, files with
/// API changes on top): both passes for `target`.
pub fn validator(target: &Target) -> Validator {
    let system = target.system();
    Arc::new(move |document: &serde_json::Value| -> Result<(Arc<Config>, schema_core::Report), schema_core::Report> {
        let value = schema_core::Value::from_json(document);
        crate::config::validate(&value, &system, ResolveOptions::default())
            .map(|validated| (Arc::new(validated.config), validated.notes))
    })
}
