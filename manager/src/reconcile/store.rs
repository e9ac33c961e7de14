//! The config store: the accepted config as a revision (generation number, ETag, document), kept
//! on disk so a restarted manager resumes exactly the config the workers run.
//!
//! Only the reconcile task writes it, after a change has been applied; a change that failed or
//! was rejected never reaches it (the last good config stays). The file is replaced atomically
//! (write + rename) and readable by its owner only (a config may hold secrets).

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;

/// One accepted config.
#[derive(Clone, Debug)]
pub struct Revision {
    /// 1 for the config the service started with, +1 for each accepted change.
    pub generation: u64,
    /// A strong ETag (quoted) of the document: equal documents have equal ETags.
    pub etag: String,
    /// The document as given (files merged, or an API body), as JSON.
    pub document: serde_json::Value,
    /// Its resolved form.
    pub config: Arc<Config>,
}

/// What the state file holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    generation: u64,
    document: serde_json::Value,
    /// JSON Patch operations made through the API, re-applied on top of the files at reloads.
    #[serde(default)]
    api_changes: Vec<serde_json::Value>,
}

/// What the state file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub generation: u64,
    pub document: serde_json::Value,
    pub api_changes: Vec<serde_json::Value>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
}

/// The ETag of a document: FNV-1a over its canonical JSON (keys sorted), so it does not depend on
/// key order or formatting.
pub fn etag(document: &serde_json::Value) -> String {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    canonical(document, &mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn canonical(value: &serde_json::Value, out: &mut Fnv) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.write(b"{");
            for key in keys {
                out.write(serde_json::to_string(key).unwrap_or_default().as_bytes());
                out.write(b":");
                canonical(&map[key], out);
                out.write(b",");
            }
            out.write(b"}");
        }
        Value::Array(items) => {
            out.write(b"[");
            for item in items {
                canonical(item, out);
                out.write(b",");
            }
            out.write(b"]");
        }
        scalar => out.write(scalar.to_string().as_bytes()),
    }
}

impl Revision {
    pub fn new(generation: u64, document: serde_json::Value, config: Arc<Config>) -> Revision {
        Revision { generation, etag: etag(&document), document, config }
    }
}

/// Writes `revision` and the API changes to `path` (atomically, mode 0600).
pub fn save(path: &Path, revision: &Revision, api_changes: &[serde_json::Value]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let write = |source| StoreError::Write { path: path.to_owned(), source };
    let stored = Stored {
        generation: revision.generation,
        document: revision.document.clone(),
        api_changes: api_changes.to_vec(),
    };
    let text = serde_json::to_vec_pretty(&stored).map_err(|e| write(std::io::Error::other(e)))?;
    let temporary = path.with_extension("json.new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(write)?;
    file.write_all(&text).and_then(|()| file.sync_all()).map_err(write)?;
    std::fs::rename(&temporary, path).map_err(write)
}

/// Reads the state file; `None` when there is none.
pub fn load(path: &Path) -> Result<Option<Saved>, StoreError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path: path.to_owned(), source }),
    };
    let stored: Stored = serde_json::from_slice(&text)
        .map_err(|e| StoreError::Damaged { path: path.to_owned(), message: e.to_string() })?;
    Ok(Some(Saved { generation: stored.generation, document: stored.document, api_changes: stored.api_changes }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn etags_ignore_key_order_and_see_every_value() {
        let a = json!({"workers": 2, "logging": {"level": "info", "groups": ["io"]}});
        let b = json!({"logging": {"groups": ["io"], "level": "info"}, "workers": 2});
        assert_eq!(etag(&a), etag(&b));
        assert_ne!(etag(&a), etag(&json!({"workers": 3, "logging": {"level": "info", "groups": ["io"]}})));
        assert_ne!(etag(&json!({"a": "1"})), etag(&json!({"a": 1})));
        assert!(etag(&a).starts_with('"') && etag(&a).ends_with('"'));
    }

    #[test]
    fn state_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("kres-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        assert!(load(&path).unwrap().is_none());
        let document = json!({"workers": 2});
        let document_text = schema_core::json::parse(&document.to_string(), None).expect("json");
        let config = crate::config::validate(
            &document_text,
            &schema_core::FakeSystem::default(),
            schema_core::ResolveOptions::default(),
        )
        .expect("valid")
        .config;
        let changes = vec![json!({"op": "replace", "path": "/workers", "value": 2})];
        save(&path, &Revision::new(7, document.clone(), Arc::new(config)), &changes).unwrap();
        assert_eq!(load(&path).unwrap(), Some(Saved { generation: 7, document, api_changes: changes }));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(load(&path), Err(StoreError::Damaged { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
