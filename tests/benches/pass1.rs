//! Pass-1 throughput: parse + map + validate a generated YAML document of about 10 MB
//! (100,000 list entries of a derived struct). Prints MB/s (median of several runs) and the peak
//! heap use relative to the input size, measured by a counting global allocator.
//!
//! Run: `cargo bench -p kres-tests --bench pass1`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

use std::net::IpAddr;

use schema_core::{AddrPort, Duration, Schema, Size};

/// Counts live heap bytes and remembers the peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Counting costs time, so it is on only for the run that measures memory.
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: delegates to the system allocator; only adds counters.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !COUNTING.load(Ordering::Relaxed) {
            // SAFETY: same contract as the caller's.
            return unsafe { System.alloc(layout) };
        }
        let size = layout.size() as isize;
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !COUNTING.load(Ordering::Relaxed) {
            // SAFETY: same contract as the caller's.
            return unsafe { System.dealloc(ptr, layout) };
        }
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !COUNTING.load(Ordering::Relaxed) {
            // SAFETY: same contract as the caller's.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if new_size > layout.size() {
            let grown = (new_size - layout.size()) as isize;
            let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub((layout.size() - new_size) as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The document: a list of records.
#[derive(Schema, Debug)]
struct Zone {
    /// The records.
    records: Vec<Record>,
}

/// One record, with a few fields of different types.
#[derive(Schema, Debug)]
struct Record {
    #[schema(min_len = 1, max_len = 253)]
    name: String,
    #[schema(min_items = 1)]
    addresses: Vec<IpAddr>,
    #[schema(default = "5m")]
    ttl: Duration,
    upstream: Option<AddrPort>,
    #[schema(default = "1M", min = "1K")]
    budget: Size,
    #[schema(default = true)]
    enabled: bool,
}

fn document(entries: usize) -> String {
    let mut text = String::from("records:\n");
    for i in 0..entries {
        text.push_str(&format!(
            "  - name: host-{i:06}.example.com\n    addresses: [192.0.2.{}, 2001:db8::{:x}]\n    ttl: {}s\n    upstream: 127.0.0.1@{}\n    budget: {}K\n",
            i % 256,
            i % 65536,
            60 + i % 600,
            1024 + i % 60000,
            1 + i % 4096,
        ));
    }
    text
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a small smoke
    // size then, so the bench still proves it works without taking time.
    let full = std::env::args().any(|a| a == "--bench");
    let entries = if full { 100_000 } else { 1_000 };
    let text = document(entries);
    let mb = text.len() as f64 / 1e6;

    let mut seconds = Vec::new();
    let load = || match schema_core::load::<Zone>(&text, Some("zone.yaml")) {
        Ok(zone) => zone,
        Err(report) => panic!("the generated document is invalid: {}", report.problems[0]),
    };
    for _ in 0..if full { 15 } else { 1 } {
        let started = Instant::now();
        let zone = load();
        seconds.push(started.elapsed().as_secs_f64());
        assert_eq!(zone.records.len(), entries);
        drop(zone);
    }
    // One more run with the allocator counting: the peak of live heap bytes during `load`.
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let zone = load();
    COUNTING.store(false, Ordering::Relaxed);
    drop(zone);
    let peak_over_input = PEAK.load(Ordering::Relaxed) as f64 / text.len() as f64;
    // Where the time goes: the YAML parser alone, and the same document as JSON.
    let started = Instant::now();
    let tree = schema_core::yaml::parse(&text, Some("zone.yaml")).expect("parses");
    let parse_only = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let zone: Zone = schema_core::map_document(&tree).expect("valid");
    let map_only = started.elapsed().as_secs_f64();
    drop(zone);
    let json_text = serde_json::to_string(&tree.to_json()).expect("serializes");
    drop(tree);
    let started = Instant::now();
    let zone: Zone = schema_core::load(&json_text, Some("zone.json")).expect("valid");
    let json_seconds = started.elapsed().as_secs_f64();
    drop(zone);
    println!(
        "pass1: YAML parsing alone {:.1} ms, mapping alone {:.1} ms; the same document as JSON ({:.1} MB): parse + map {:.1} ms, {:.1} MB/s",
        parse_only * 1e3,
        map_only * 1e3,
        json_text.len() as f64 / 1e6,
        json_seconds * 1e3,
        json_text.len() as f64 / 1e6 / json_seconds
    );
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    println!(
        "pass1: {entries} entries, {mb:.1} MB: median {:.1} ms, {:.1} MB/s (fastest run {:.1} MB/s, slowest {:.1} MB/s); peak heap {:.1}x the input size",
        median * 1e3,
        mb / median,
        mb / seconds[0],
        mb / seconds[seconds.len() - 1],
        peak_over_input
    );
}
