//! The kresd the service runs, found once as a value: its path, version and [`Dialect`].
//!
//! The service start, the supervised manager and `kresctl` each find the target once
//! ([`Target::find`]) and judge every document with its [`System`](Target::system), so the
//! start and the manager reach the same verdict on the same files (the manager is given the
//! start's `--kresd`). `kresctl validate --kresd-version` checks a config for a machine other
//! than this one ([`Target::of_version`]).

use std::path::{Path, PathBuf};

use schema_core::{RealSystem, Version};

pub use crate::config::target::Dialect;

/// The kresd a config is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The executable (`None` for a version named for an offline check).
    pub path: Option<PathBuf>,
    /// `None` when it could not be asked (see [`Target::note`]).
    pub version: Option<Version>,
    pub dialect: Dialect,
    /// Why the version is unknown, and what is assumed instead.
    pub note: Option<String>,
}

impl Target {
    /// The kresd at `path`, asked for its version (cached per executable). One that cannot be
    /// asked leaves the version unknown: the config is then judged for the newest major managed.
    /// An unsupported version is an error naming it.
    pub fn find(path: &Path) -> Result<Target, String> {
        let (version, note) = match super::installed_version_cached(path) {
            Ok(version) => (Some(version), None),
            Err(error) => (None, Some(format!("{error}; the config is checked for Knot Resolver 6"))),
        };
        let dialect = Dialect::of(version).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Target { path: Some(path.to_owned()), version, dialect, note })
    }

    /// A kresd of `version` on another machine (for `kresctl validate` and `convert`).
    pub fn of_version(version: Version) -> Result<Target, String> {
        Ok(Target { path: None, version: Some(version), dialect: Dialect::of(Some(version))?, note: None })
    }

    /// The system facts pass 2 uses: this target's version.
    pub fn system(&self) -> RealSystem {
        RealSystem { target_version: self.version }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.version, &self.path) {
            (Some(version), Some(path)) => write!(f, "kresd {version} ({})", path.display()),
            (Some(version), None) => write!(f, "kresd {version}"),
            (None, Some(path)) => write!(f, "{} (version unknown, checked as {})", path.display(), self.dialect),
            (None, None) => write!(f, "{}", self.dialect),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installed_kresd_is_found_with_its_dialect() {
        let target = Target::find(Path::new(super::super::DEFAULT_KRESD)).expect("kresd 5.6 is installed");
        assert_eq!((target.dialect, target.note), (Dialect::Kresd5, None));
    }

    #[test]
    fn a_missing_kresd_is_judged_as_knot_resolver_6_with_a_note() {
        let target = Target::find(Path::new("/nonexistent/kresd")).expect("not an error");
        assert_eq!((target.version, target.dialect), (None, Dialect::Kresd6));
        assert!(target.note.as_deref().is_some_and(|n| n.contains("/nonexistent/kresd")), "{target:?}");
    }

    #[test]
    fn a_named_version_needs_no_executable() {
        let target = Target::of_version(Version::new(6, 5, 0)).expect("supported");
        assert_eq!(target.to_string(), "kresd 6.5.0");
        assert!(Target::of_version(Version::new(4, 0, 0)).is_err());
    }
}
