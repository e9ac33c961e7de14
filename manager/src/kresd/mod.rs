//! Facts about the kresd executable the manager runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use schema_core::Version;

/// Where kresd is unless configured otherwise (Debian's package).
pub const DEFAULT_KRESD: &str = "/usr/sbin/kresd";

/// The kresd executable to use: `$KRES_KRESD`, else [`DEFAULT_KRESD`].
pub fn kresd_path() -> PathBuf {
    std::env::var_os("KRES_KRESD").map_or_else(|| PathBuf::from(DEFAULT_KRESD), PathBuf::from)
}

/// Why the version of kresd could not be found.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("cannot run {path} --version: {source}")]
    Run { path: PathBuf, source: std::io::Error },
    #[error("{path} --version printed no version: {output:?}")]
    NoVersion { path: PathBuf, output: String },
}

/// Asks the kresd executable for its version (`Knot Resolver, version 5.6.0`).
pub fn installed_version(kresd: &Path) -> Result<Version, VersionError> {
    let output = Command::new(kresd)
        .arg("--version")
        .output()
        .map_err(|source| VersionError::Run { path: kresd.into(), source })?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    Version::find_in(&text)
        .ok_or_else(|| VersionError::NoVersion { path: kresd.into(), output: text.trim().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_executable_is_an_error_that_names_it() {
        let err = installed_version(Path::new("/nonexistent/kresd")).unwrap_err();
        assert!(err.to_string().starts_with("cannot run /nonexistent/kresd --version"), "{err}");
    }

    #[test]
    fn an_executable_without_a_version_is_an_error() {
        let err = installed_version(Path::new("/bin/sh")).unwrap_err();
        assert!(matches!(err, VersionError::NoVersion { .. }), "{err}");
    }

    #[test]
    fn the_installed_kresd_reports_its_version() {
        // kresd 5.6 is installed by scripts/setup-system.sh, which the test command runs first.
        let version = installed_version(Path::new(DEFAULT_KRESD)).expect("kresd is installed");
        assert_eq!((version.major, version.minor), (5, 6));
    }
}
