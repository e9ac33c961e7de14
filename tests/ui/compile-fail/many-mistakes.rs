// Several different mistakes in one struct are all reported in one compile, each on its token,
// and the uses of the type afterwards (`load`, `Default`-free code) add no errors of their own.

use schema_core::{Auto, Schema, load};

#[derive(Schema, Debug)]
#[schema(rename_all = "kebab_case")]
struct ServerRaw {
    #[schema(min_len = 1, pattern = "[a-z")]
    name: String,
    #[schema(min = 1, max = 0, pattern = "^[0-9]+$")]
    port: u16,
    #[schema(into = u16)]
    workers: Auto<u16>,
    #[schema(default, default)]
    tags: Vec<String>,
    #[schema(rename = "name", bogus)]
    title: String,
}

fn read(text: &str) -> ServerRaw {
    load::<ServerRaw>(text, Some("server.yaml")).unwrap()
}

fn main() {
    let server = read("name: ns1\nport: 53\n");
    println!("{server:?}");
}
