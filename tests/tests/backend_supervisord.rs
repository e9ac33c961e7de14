//! The supervisord backend against real supervisord (from `$KRES_VENV`, with our plugin) and real
//! kresd 5.6: workers sharing one port become READY through sd_notify, answer DNS, survive a
//! restart of one of them, a refused config ends FATAL with its output, and no process outlives
//! a test.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kres_manager::backend::supervisord::{Supervisord, default_venv};
use kres_manager::backend::{Backend, BackendError, Output, ProcessState, Program, Setup};
use kres_manager::kresd::render::{WorkerContext, render_worker};
use kres_tests::kresd::{OFFLINE, REFUSE_THE_REST, TempDir, control, free_port, query, validate};

const WORKERS: u32 = 4;

/// Renders the Lua of `WORKERS` workers listening on `port` into `dir`, plus a canary config
/// kresd refuses.
fn setup(dir: &Path, port: u16) -> Setup {
    let yaml = format!("{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{port}\n{REFUSE_THE_REST}");
    let validated = validate(&yaml);
    let worker_configs = (0..WORKERS)
        .map(|id| {
            let worker = WorkerContext { id, control_socket: control_socket(dir, id) };
            let lua = render_worker(kres_tests::kresd::dialect(), &validated.config, &worker).expect("renders");
            let path = dir.join(format!("worker{id}.lua"));
            std::fs::write(&path, lua).expect("write worker config");
            path
        })
        .collect();
    let canary = dir.join("canary.lua");
    std::fs::write(&canary, "net.listen('127.0.0.1', 1, { kind = 'no-such-kind' })\n").expect("write canary config");
    Setup {
        rundir: dir.to_owned(),
        kresd_dir: dir.to_owned(),
        kresd: kres_tests::kresd::binary(),
        worker_configs,
        canary_config: Some(canary),
        cache_gc_binary: kres_tests::kresd::cache_gc_binary(),
        cache_gc: None,
        ready_timeout: Duration::from_secs(5),
        stop_timeout: Duration::from_secs(3),
        output: Output::File(dir.join("supervisord.log")),
        manager: None,
    }
}

fn control_socket(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("control-{id}"))
}

/// Pids of processes whose command line mentions `dir`.
fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    kres_manager::daemon::service::processes_mentioning(dir)
}

/// Asserts that nothing started for `dir` is still running (killed processes may take a moment
/// to be reaped).
fn assert_nothing_left(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = processes_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("supervisord.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_start_ready_restart_fail_and_stop() {
    let dir = TempDir::new("backend");
    let port = free_port();
    let setup = setup(&dir.0, port);
    let mut backend = Supervisord::new(&default_venv());

    let t = Instant::now();
    backend.prepare(&setup).await.unwrap_or_else(|e| panic!("{e}\n{}", log(&dir.0)));
    let prepared = t.elapsed();
    let workers: Vec<Program> = (0..WORKERS).map(Program::Worker).collect();
    let pids = backend.start_all(&workers).await.unwrap_or_else(|e| panic!("{e}\n{}", log(&dir.0)));
    let started = t.elapsed();
    eprintln!("supervisord up in {prepared:?}; {WORKERS} workers READY {started:?} after supervisord's spawn");

    // READY=1 means the whole config is loaded: every control socket answers, the port answers.
    for id in 0..WORKERS {
        let reply = control(&control_socket(&dir.0, id), "1").expect("control socket answers");
        assert_eq!(reply, "1");
    }
    assert_eq!(query(port, "example.com", "A").expect("an answer").rcode, "REFUSED");
    let list = backend.processes().await.expect("processes");
    for (id, pid) in pids.iter().enumerate() {
        let info = list.iter().find(|p| p.program == Program::Worker(id as u32)).expect("listed");
        assert_eq!(info.state, ProcessState::Running { pid: *pid });
    }
    assert!(list.iter().any(|p| p.program == Program::Canary && p.state == ProcessState::Stopped), "{list:?}");
    assert!(matches!(backend.start(Program::Worker(0)).await, Err(BackendError::AlreadyStarted { .. })));
    assert!(matches!(backend.start(Program::Worker(9)).await, Err(BackendError::UnknownProcess { .. })));

    // Restart one worker while a client keeps asking: the others answer throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, lost) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let client = {
        let (stop, answered, lost) = (stop.clone(), answered.clone(), lost.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match query(port, "example.com", "A") {
                    Some(_) => answered.fetch_add(1, Ordering::Relaxed),
                    None => lost.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let new_pid = backend.restart(Program::Worker(1)).await.expect("restart");
    let restarted = t.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    client.join().expect("client thread");
    let (answered, lost) = (answered.load(Ordering::Relaxed), lost.load(Ordering::Relaxed));
    eprintln!("restart of one worker (stop + start + READY) took {restarted:?}; {answered} answered, {lost} lost");
    assert_ne!(new_pid, pids[1]);
    assert!(answered > 0 && lost <= 1, "{answered} answered, {lost} lost during the restart");
    assert_eq!(backend.wait_ready(Program::Worker(1), Duration::from_secs(1)).await.expect("ready"), new_pid);

    // A config kresd refuses: FATAL, with kresd's last output in the error.
    let err = backend.start(Program::Canary).await.expect_err("the canary's config is refused");
    let BackendError::StartFailed { output, .. } = &err else { panic!("{err}") };
    assert!(!output.is_empty() && output.iter().all(|line| line.starts_with("canary[")), "{err}");
    assert!(output.iter().any(|line| line.contains("no-such-kind") || line.contains("error")), "{err}");
    let list = backend.processes().await.expect("processes");
    let canary = list.iter().find(|p| p.program == Program::Canary).expect("listed");
    assert!(matches!(canary.state, ProcessState::Fatal { .. }), "{canary:?}");
    assert_eq!(backend.tail(Program::Canary, 50).await.expect("tail").last(), output.last());

    // Stop all: the port goes quiet, nothing is left.
    for id in 0..WORKERS {
        backend.stop(Program::Worker(id)).await.expect("stop");
    }
    assert!(matches!(backend.stop(Program::Worker(0)).await, Err(BackendError::NotRunning { .. })));
    let list = backend.processes().await.expect("processes");
    assert!(list.iter().filter(|p| p.program != Program::Canary).all(|p| p.state == ProcessState::Stopped), "{list:?}");
    assert!(query(port, "example.com", "A").is_none());
    backend.shutdown().await.expect("shutdown");
    assert!(matches!(backend.processes().await, Err(BackendError::ShuttingDown)));
    drop(backend);
    assert_nothing_left(&dir.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_backend_kills_supervisord_and_its_workers() {
    let dir = TempDir::new("backend-drop");
    let setup = setup(&dir.0, free_port());
    let mut backend = Supervisord::new(&default_venv());
    backend.prepare(&setup).await.unwrap_or_else(|e| panic!("{e}\n{}", log(&dir.0)));
    backend.start(Program::Worker(0)).await.expect("start");
    backend.start(Program::Worker(1)).await.expect("start");
    assert_eq!(processes_under(&dir.0).len(), 3, "{:?}", processes_under(&dir.0));
    drop(backend);
    assert_nothing_left(&dir.0);
}
