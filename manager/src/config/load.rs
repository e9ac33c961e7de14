//! Loading config files: read, parse (YAML or JSON by extension), deep-merge in order, validate
//! (both passes against the installed kresd). Shared by `kresctl validate`, the daemon's start
//! and its reloads, so a file is judged the same way everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schema_core::{RealSystem, Report, ResolveOptions, Value};

use super::Validated;
use crate::kresd;

/// A loaded, valid config.
#[derive(Debug)]
pub struct Loaded {
    /// The merged document (every node with its file:line:column).
    pub document: Value,
    pub validated: Validated,
    /// Each file's text, by name, to show snippets in reports.
    pub sources: BTreeMap<String, String>,
}

impl Loaded {
    /// Pass-2 notes rendered with snippets ("" when there are none).
    pub fn notes(&self) -> String {
        render(&self.validated.notes, &self.sources)
    }
}

/// Why files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors, merge conflicts or invalid values; `rendered` shows each with its snippet.
    #[error("{rendered}")]
    Invalid { report: Report, rendered: String },
}

/// The system facts pass 2 uses: the installed kresd's version (cached; `None` with a note on
/// stderr when kresd cannot be asked, then features are checked as for 5.6).
pub fn system(kresd_path: &Path) -> RealSystem {
    let target_version = match kresd::installed_version_cached(kresd_path) {
        Ok(version) => Some(version),
        Err(error) => {
            eprintln!("note: {error}; features are checked as for kresd 5.6");
            None
        }
    };
    RealSystem { target_version }
}

/// Reads, merges and validates `files` (in order; later files may add to earlier ones, a value
/// given twice is an error naming both places).
pub fn load_files(files: &[PathBuf], system: &RealSystem, options: ResolveOptions) -> Result<Loaded, LoadError> {
    let mut sources = BTreeMap::new();
    let mut documents = Vec::new();
    let mut report = Report::new();
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read { path: file.clone(), source })?;
        match schema_core::parse(&text, Some(&name), schema_core::Format::from_path(&name)) {
            Ok(document) => documents.push(document),
            Err(problems) => report.extend(problems),
        }
        sources.insert(name, text);
    }
    let invalid = |report: Report, sources: &BTreeMap<String, String>| {
        let rendered = render(&report, sources);
        LoadError::Invalid { report, rendered }
    };
    if report.has_errors() {
        return Err(invalid(report, &sources));
    }
    let document = schema_core::value::merge(documents).map_err(|conflicts| invalid(conflicts, &sources))?;
    match super::validate(&document, system, options) {
        Ok(validated) => Ok(Loaded { document, validated, sources }),
        Err(problems) => Err(invalid(problems, &sources)),
    }
}

/// A report with source snippets, as the CLI and the daemon's log show it.
pub fn render(report: &Report, sources: &BTreeMap<String, String>) -> String {
    report.render(&|name| sources.get(name).cloned())
}
