// A mistake in a derive is reported once: the type still implements `Schema`, `Resolve`,
// `Serialize` and (every field having a default) `Default`, and the `resolved` struct exists, so
// code using them adds no errors of its own. The same holds for an enum.

use schema_core::{FakeSystem, ResolveOptions, Schema, load, resolve_document};

#[derive(Schema, Debug)]
#[schema(resolved = Server)]
struct ServerRaw {
    #[schema(default = 1, bogus)]
    workers: u16,
    name: Option<String>,
}

#[derive(Schema, Debug)]
enum Mode {
    #[schema(renamed = "x")]
    Fast,
}

fn main() {
    let raw = ServerRaw::default();
    let raw: ServerRaw = load("workers: 2", None).unwrap_or(raw);
    let system = FakeSystem::default();
    let (server, _notes): (Server, _) = resolve_document(&raw, &system, ResolveOptions::default()).unwrap();
    println!("{raw:?} {server:?} {}", serde_json::to_string(&raw).unwrap());
    let mode: Mode = load("fast", None).unwrap();
    let _ = resolve_document(&mode, &system, ResolveOptions::default());
    println!("{} {:?}", serde_json::to_string(&mode).unwrap(), Mode::NAMES);
}
