//! File and directory paths. Pass 1 checks only the text; whether the path exists is a system
//! fact, checked in pass 2 when the caller asks for it (`kresctl validate --strict`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::resolve::{FileKind, Resolve, ResolveCx};

macro_rules! path_type {
    ($name:ident, $what:literal, $kind:expr) => {
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub PathBuf);

        impl $name {
            pub fn as_path(&self) -> &Path {
                &self.0
            }

            pub fn parse(text: &str) -> Result<$name, String> {
                if text.is_empty() {
                    return Err(format!("a {} must not be empty", $what));
                }
                if text.contains('\0') {
                    return Err(format!("a {} must not contain a NUL character", $what));
                }
                Ok($name(PathBuf::from(text)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0.display())
            }
        }

        crate::string_value!($name, title: $what, expecting: concat!("a ", $what), pattern: "^[^\\u0000]+$", custom_resolve);

        impl Resolve for $name {
            type Output = $name;
            fn resolve(&self, cx: &mut ResolveCx<'_>) -> Option<$name> {
                if cx.check_paths() {
                    let found = cx.system().file_kind(&self.0);
                    if found != Some($kind) {
                        let what = match found {
                            None => "does not exist or is not readable".to_owned(),
                            Some(other) => format!("is a {other}, not a {}", $kind),
                        };
                        cx.error(format!("{} {what}", self));
                        return None;
                    }
                }
                Some(self.clone())
            }
        }
    };
}

path_type!(FilePath, "file path", FileKind::File);
path_type!(DirPath, "directory path", FileKind::Directory);
