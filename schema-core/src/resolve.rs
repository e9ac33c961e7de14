//! Pass 2: turning a mapped config into its resolved form. The only place where facts about the
//! system enter (CPU count, hostname, environment, files, the version of the daemon the config
//! is for), and only through the [`System`] trait, so tests use a [`FakeSystem`].
//!
//! Types whose resolved form is themselves resolve by cloning; `Auto<T>` fields get a resolver
//! function from the derive (`#[schema(resolve = f, into = T)]`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::pointer::{Pointer, Segment};
use crate::report::{Problem, Report};

/// The facts pass 2 may read.
pub trait System {
    fn cpu_count(&self) -> usize;
    fn hostname(&self) -> String;
    fn env_var(&self, name: &str) -> Option<String>;
    /// What is at `path`, if it exists and is readable.
    fn file_kind(&self, path: &Path) -> Option<FileKind>;
    /// The version of the program the config is for (kresd), when known.
    fn target_version(&self) -> Option<Version>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "file",
            FileKind::Directory => "directory",
            FileKind::Other => "special file",
        })
    }
}

/// A `major.minor.patch` version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version { major, minor, patch }
    }

    /// Finds the first `X.Y[.Z]` in a text such as `Knot Resolver, version 5.6.0`.
    pub fn find_in(text: &str) -> Option<Version> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|word| {
            let mut parts = word.split('.').filter(|p| !p.is_empty()).map(str::parse::<u32>);
            let major = parts.next()?.ok()?;
            let minor = parts.next()?.ok()?;
            let patch = parts.next().and_then(Result::ok).unwrap_or(0);
            Some(Version { major, minor, patch })
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The real machine. The target version is found by the caller (the manager asks the kresd
/// executable) and handed in.
#[derive(Clone, Debug, Default)]
pub struct RealSystem {
    pub target_version: Option<Version>,
}

impl System for RealSystem {
    fn cpu_count(&self) -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
    fn hostname(&self) -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".to_owned())
    }
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        let metadata = std::fs::metadata(path).ok()?;
        if metadata.is_dir() {
            std::fs::read_dir(path).ok()?;
            Some(FileKind::Directory)
        } else if metadata.is_file() {
            std::fs::File::open(path).ok()?;
            Some(FileKind::File)
        } else {
            Some(FileKind::Other)
        }
    }
    fn target_version(&self) -> Option<Version> {
        self.target_version
    }
}

/// A system made of given facts, for tests.
#[derive(Clone, Debug)]
pub struct FakeSystem {
    pub cpus: usize,
    pub hostname: String,
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<std::path::PathBuf, FileKind>,
    pub version: Option<Version>,
}

impl Default for FakeSystem {
    fn default() -> FakeSystem {
        FakeSystem {
            cpus: 4,
            hostname: "test-host".into(),
            env: BTreeMap::new(),
            files: BTreeMap::new(),
            version: Some(Version::new(5, 6, 0)),
        }
    }
}

impl System for FakeSystem {
    fn cpu_count(&self) -> usize {
        self.cpus
    }
    fn hostname(&self) -> String {
        self.hostname.clone()
    }
    fn env_var(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    fn file_kind(&self, path: &Path) -> Option<FileKind> {
        self.files.get(path).copied()
    }
    fn target_version(&self) -> Option<Version> {
        self.version
    }
}

/// Options of one resolve run.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResolveOptions {
    /// Check that file and directory paths exist and are readable (`kresctl validate --strict`).
    pub check_paths: bool,
}

/// The state of one pass-2 run: the system, where we are, and problems and notes so far.
pub struct ResolveCx<'s> {
    system: &'s dyn System,
    options: ResolveOptions,
    path: Vec<Segment>,
    report: Report,
}

impl fmt::Debug for ResolveCx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolveCx").field("path", &self.path).field("report", &self.report).finish_non_exhaustive()
    }
}

impl<'s> ResolveCx<'s> {
    pub fn new(system: &'s dyn System, options: ResolveOptions) -> ResolveCx<'s> {
        ResolveCx { system, options, path: Vec::new(), report: Report::new() }
    }

    pub fn system(&self) -> &dyn System {
        self.system
    }

    pub fn check_paths(&self) -> bool {
        self.options.check_paths
    }

    pub fn pointer(&self) -> Pointer {
        Pointer(self.path.clone())
    }

    /// Records an error at the current path.
    pub fn error(&mut self, message: impl Into<String>) {
        self.report.push(Problem::error(self.pointer(), message));
    }

    /// Records a note at the current path: something pass 2 decided that the operator should
    /// know about (it does not make the config invalid).
    pub fn note(&mut self, message: impl Into<String>) {
        self.report.push(Problem::note(self.pointer(), message));
    }

    /// Runs `f` one step deeper.
    pub fn at<R>(&mut self, segment: Segment, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(segment);
        let result = f(self);
        self.path.pop();
        result
    }

    pub fn at_key<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.at(Segment::Key(key.to_owned()), f)
    }

    pub fn into_report(self) -> Report {
        self.report
    }
}

/// A type with a resolved form. Leaf types are their own resolved form.
pub trait Resolve {
    type Output;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output>;
}

/// Runs a field resolver: `resolver` sees the field's mapped value and the whole mapped parent,
/// and its error lands on the field's pointer.
pub fn resolve_field<T, P, O>(
    cx: &mut ResolveCx<'_>,
    key: &str,
    value: &T,
    parent: &P,
    resolver: fn(&T, &P, &mut ResolveCx<'_>) -> Result<O, String>,
) -> Option<O> {
    cx.at_key(key, |cx| resolver(value, parent, cx).map_err(|message| cx.error(message)).ok())
}

/// Pass 2 over a whole config. On success returns the resolved value and the notes.
pub fn resolve_document<T: Resolve>(
    raw: &T,
    system: &dyn System,
    options: ResolveOptions,
) -> Result<(T::Output, Report), Report> {
    let mut cx = ResolveCx::new(system, options);
    let resolved = raw.resolve(&mut cx);
    let report = cx.into_report();
    match resolved {
        Some(resolved) if !report.has_errors() => Ok((resolved, report)),
        _ => {
            let mut report = report;
            if !report.has_errors() {
                report.push(Problem::error(Pointer::root(), "the config could not be resolved"));
            }
            Err(report)
        }
    }
}

macro_rules! resolves_to_itself {
    ($($t:ty),* $(,)?) => {$(
        impl Resolve for $t {
            type Output = $t;
            fn resolve(&self, _: &mut ResolveCx<'_>) -> Option<$t> {
                Some(self.clone())
            }
        }
    )*};
}

resolves_to_itself!(
    bool,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
    usize,
    f32,
    f64,
    String,
    crate::types::net::Port,
    std::net::IpAddr,
);

impl<T: Resolve> Resolve for Option<T> {
    type Output = Option<T::Output>;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output> {
        match self {
            None => Some(None),
            Some(v) => v.resolve(cx).map(Some),
        }
    }
}

impl<T: Resolve> Resolve for Box<T> {
    type Output = T::Output;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output> {
        T::resolve(self, cx)
    }
}

fn resolve_all<'a, T: Resolve + 'a>(
    items: impl Iterator<Item = &'a T>,
    cx: &mut ResolveCx<'_>,
) -> Option<Vec<T::Output>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.enumerate() {
        match cx.at(Segment::Index(i), |cx| item.resolve(cx)) {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

impl<T: Resolve> Resolve for Vec<T> {
    type Output = Vec<T::Output>;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output> {
        resolve_all(self.iter(), cx)
    }
}

/// One-or-many values keep their shape (so structs without a separate resolved form can hold
/// them); their `Serialize` form, which templates see, is always a list.
impl<T: Resolve> Resolve for crate::types::auto::OneOrMany<T> {
    type Output = crate::types::auto::OneOrMany<T::Output>;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output> {
        use crate::types::auto::OneOrMany;
        match self {
            OneOrMany::One(v) => v.resolve(cx).map(OneOrMany::One),
            OneOrMany::Many(items) => resolve_all(items.iter(), cx).map(OneOrMany::Many),
        }
    }
}

impl<K: Clone + Ord + crate::types::builtin::KeySchema, V: Resolve> Resolve for BTreeMap<K, V> {
    type Output = BTreeMap<K, V::Output>;
    fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<Self::Output> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (k, v) in self {
            match cx.at_key(&k.key_string(), |cx| v.resolve(cx)) {
                Some(v) => {
                    out.insert(k.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// `auto` must be given a meaning by a field resolver; an `Auto<T>` without one keeps its form.
impl<T: Clone> Resolve for crate::types::auto::Auto<T> {
    type Output = crate::types::auto::Auto<T>;
    fn resolve(&self, _: &mut ResolveCx<'_>) -> Option<Self::Output> {
        Some(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_in_text() {
        assert_eq!(Version::find_in("Knot Resolver, version 5.6.0\n"), Some(Version::new(5, 6, 0)));
        assert_eq!(Version::find_in("kresd 6.0"), Some(Version::new(6, 0, 0)));
        assert_eq!(Version::find_in("no version"), None);
    }
}
