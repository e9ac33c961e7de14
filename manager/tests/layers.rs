//! The library's modules form a one-way order of layers: each may use the layers below it and
//! none above. This test reads every source file and fails, naming the file and line, when a
//! module refers to one of its own layer or a higher one (`crate::x` in code; comments are not
//! read). The order, lowest first:
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 | `procfs` | reading /proc |
//! | 1 | `config` | the model: parsing, both passes, JSON Patch, what each kresd version has |
//! | 2 | `kresd`, `backend` | talking to kresd (its target, dialects, Lua, control socket, stats), and to supervisord |
//! | 3 | `layout` | where the service's files are, the process tree's timeouts and user |
//! | 4 | `reconcile` | the plan, the apply pipeline, the task that owns the backend, the config store, reloads |
//! | 5 | `api`, `client` | the HTTP API, kresctl |
//! | 6 | `daemon` | the program's top: service start, the supervised manager (imported by nothing) |

use std::path::Path;

const LAYERS: &[(&str, u32)] = &[
    ("procfs", 0),
    ("config", 1),
    ("kresd", 2),
    ("backend", 2),
    ("layout", 3),
    ("reconcile", 4),
    ("api", 5),
    ("client", 5),
    ("daemon", 6),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == module).map(|(_, layer)| *layer)
}

/// The top-level module a file of `manager/src` belongs to (`None` for lib.rs and the binaries).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "bin").then(|| name.to_owned())
}

/// Every `crate::<module>` in the code of `text` (not in comments), with its line number.
fn references(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name = |text: &str| -> String {
                text.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
            };
            match after.strip_prefix('{') {
                // `crate::{a, b::c}`: each item's first name.
                Some(group) => {
                    let inside = group.split('}').next().unwrap_or_default();
                    found.extend(inside.split(',').map(name).filter(|n| !n.is_empty()).map(|n| (index + 1, n)));
                }
                None => found.push((index + 1, name(after))),
            }
            rest = after;
        }
    }
    found
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the source directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_uses_a_module_of_its_own_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    assert!(all.len() > 40, "the sources were found: {}", all.len());
    let mut wrong = Vec::new();
    for file in &all {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(relative) else { continue };
        let own =
            layer(&module).unwrap_or_else(|| panic!("{}: the module `{module}` has no layer here", relative.display()));
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (line, used) in references(&text) {
            if used == module || matches!(used.as_str(), "VERSION") {
                continue;
            }
            match layer(&used) {
                Some(other) if other < own => {}
                Some(other) => wrong.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses `{used}` (layer {other})",
                    relative.display()
                )),
                None => wrong.push(format!("{}:{line}: `crate::{used}` is in no layer", relative.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "lower layers must not use higher ones:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_what_it_must() {
    let text = "use crate::daemon::x; // crate::api in a comment\n  let y = crate::api::z(crate::config::w);\nuse crate::{kresd, layout::X};\n";
    assert_eq!(
        references(text),
        [
            (1, "daemon".to_owned()),
            (2, "api".to_owned()),
            (2, "config".to_owned()),
            (3, "kresd".to_owned()),
            (3, "layout".to_owned())
        ]
    );
    assert_eq!(module_of(Path::new("reconcile/plan/tests.rs")).as_deref(), Some("reconcile"));
    assert_eq!(module_of(Path::new("layout.rs")).as_deref(), Some("layout"));
    assert_eq!(module_of(Path::new("lib.rs")), None);
}
