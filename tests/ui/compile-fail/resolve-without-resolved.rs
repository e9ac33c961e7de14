// A field resolver with no `#[schema(resolved = Name)]` on the struct: there is no resolved
// struct to put its result in.

use schema_core::{Auto, ResolveCx, Schema};

#[derive(Schema)]
struct ServerRaw {
    #[schema(default = "auto", resolve = resolve_workers, into = u16)]
    workers: Auto<u16>,
}

fn resolve_workers(value: &Auto<u16>, _: &ServerRaw, cx: &mut ResolveCx<'_>) -> Result<u16, String> {
    Ok(value.resolve_with(|| cx.system().cpu_count() as u16))
}

fn main() {}
