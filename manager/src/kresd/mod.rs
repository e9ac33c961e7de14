//! Facts about the kresd executable the manager runs.

pub mod control;
pub mod lua;
pub mod render;
pub mod stats;
pub mod target;

pub use target::{Dialect, Target};

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

/// Like [`installed_version`], but remembered in a small cache file keyed by the executable's
/// path, size and modification time, so commands that run often (`kresctl validate`) do not pay
/// for starting kresd (about 8 ms) every time. A changed or replaced executable is asked again.
pub fn installed_version_cached(kresd: &Path) -> Result<Version, VersionError> {
    let Some(cache) = version_cache_file() else { return installed_version(kresd) };
    let Some(key) = executable_key(kresd) else { return installed_version(kresd) };
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some(version) = text.strip_prefix(&key).and_then(Version::find_in)
    {
        return Ok(version);
    }
    let version = installed_version(kresd)?;
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
        let temporary = cache.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&temporary, format!("{key} {version}\n")).is_ok() {
            let _ = std::fs::rename(&temporary, &cache);
        }
    }
    Ok(version)
}

/// `$XDG_CACHE_HOME/kres-manager/kresd-version`, else under `$HOME/.cache`.
fn version_cache_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("kres-manager").join("kresd-version"))
}

/// What identifies one build of the executable: path, size and modification time.
fn executable_key(kresd: &Path) -> Option<String> {
    let metadata = std::fs::metadata(kresd).ok()?;
    let modified = metadata.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{} {} {}.{:09}", kresd.display(), metadata.len(), modified.as_secs(), modified.subsec_nanos()))
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
    fn the_cached_version_is_the_asked_version() {
        let asked = installed_version(Path::new(DEFAULT_KRESD)).expect("kresd is installed");
        assert_eq!(installed_version_cached(Path::new(DEFAULT_KRESD)).expect("first"), asked);
        assert_eq!(installed_version_cached(Path::new(DEFAULT_KRESD)).expect("cached"), asked);
    }

    #[test]
    fn the_installed_kresd_reports_its_version() {
        // kresd 5.6 is installed by scripts/setup-system.sh, which the test command runs first.
        let version = installed_version(Path::new(DEFAULT_KRESD)).expect("kresd is installed");
        assert_eq!((version.major, version.minor), (5, 6));
    }
}
