//! Loading config files: read, parse (YAML or JSON by extension), deep-merge in order, validate
//! (both passes against the installed kresd). Shared by `kresctl validate`, the daemon's start
//! and its reloads, so a file is judged the same way everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schema_core::{RealSystem, Report, ResolveOptions, Value};

use super::Validated;

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
    // What a report shows: its snippets come from the files with the secrets masked, its
    // messages have quoted secrets replaced (the report goes to terminals and logs).
    let shown = without_secrets(&documents, &sources);
    let invalid = |mut report: Report| {
        for problem in &mut report.problems {
            problem.message = super::secrets::sanitize(&problem.pointer.to_string(), &problem.message);
        }
        let rendered = render(&report, &shown);
        LoadError::Invalid { report, rendered }
    };
    if report.has_errors() {
        return Err(invalid(report));
    }
    let document = schema_core::value::merge(documents).map_err(invalid)?;
    match super::validate(&document, system, options) {
        Ok(validated) => Ok(Loaded { document, validated, sources }),
        Err(problems) => Err(invalid(problems)),
    }
}

/// `sources` with the text of every secret value in `documents` (the TLS session-ticket secret)
/// replaced by `*`, so that no snippet of its line shows it.
fn without_secrets(documents: &[Value], sources: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut shown = sources.clone();
    for document in documents {
        for secret in super::secrets::SECRETS {
            let found = secret.split('/').skip(1).try_fold(document, |node, key| node.as_map()?.get(key));
            let Some(span) = found.map(|value| value.span).filter(|span| span.is_known()) else { continue };
            let Some(text) = span.file.and_then(|file| shown.get_mut(file.name())) else { continue };
            *text = mask(text, span.line as usize, span.column as usize, span.len as usize);
        }
    }
    shown
}

/// `text` with `len` characters from 1-based `line`:`column` on (at least one, at most to the end
/// of that line) replaced by `*`.
fn mask(text: &str, line: usize, column: usize, len: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, current) in text.split_inclusive('\n').enumerate() {
        if index + 1 != line {
            out.push_str(current);
            continue;
        }
        let (body, end) = current.strip_suffix('\n').map_or((current, ""), |body| (body, "\n"));
        let from = column.saturating_sub(1);
        for (at, c) in body.chars().enumerate() {
            out.push(if at >= from && at < from + len.max(1) { '*' } else { c });
        }
        out.push_str(end);
    }
    out
}

/// A report with source snippets, as the CLI and the daemon's log show it.
pub fn render(report: &Report, sources: &BTreeMap<String, String>) -> String {
    report.render(&|name| sources.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_never_show_the_session_ticket_secret() {
        let dir = std::env::temp_dir().join(format!("kres-load-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        // Too short, so it is reported (with a snippet of its line), beside another problem.
        std::fs::write(&file, "workers: 0\nnetwork:\n  tls:\n    sticket-secret: \"tooShortS3cret\"\n").unwrap();
        let result = load_files(
            std::slice::from_ref(&file),
            &schema_core::RealSystem { target_version: Some(schema_core::Version::new(5, 6, 0)) },
            ResolveOptions::default(),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let Err(LoadError::Invalid { report, rendered }) = result else { panic!("invalid: {result:?}") };
        assert_eq!(report.errors().count(), 2, "{rendered}");
        assert!(rendered.contains("/network/tls/sticket-secret"), "{rendered}");
        assert!(rendered.contains("4 |     sticket-secret: ****************\n"), "{rendered}");
        assert!(!rendered.contains("tooShortS3cret") && !format!("{report}").contains("tooShortS3cret"), "{rendered}");
        // The other problem keeps its snippet.
        assert!(rendered.contains("1 | workers: 0\n"), "{rendered}");
    }

    #[test]
    fn mask_stays_within_its_line() {
        assert_eq!(mask("a: 1\nb: secret\nc: 3\n", 2, 4, 6), "a: 1\nb: ******\nc: 3\n");
        assert_eq!(mask("b: secret", 1, 4, 99), "b: ******");
        assert_eq!(mask("b: x\n", 1, 4, 0), "b: *\n");
    }
}
