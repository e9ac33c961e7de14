//! Taking one kresd out of service without losing what it has: the manager's side of
//! `drain.lua` (which explains the steps: UDP steered away, keepalive timeout 0, listeners
//! closed once UDP is quiet, each TCP, DoT and DoH connection shut down when nothing is in
//! flight on it). The manager starts it over the control socket, follows it, and stops waiting
//! when it is done or when the drain time (`--drain-timeout`) is over; the caller then stops
//! the process, which closes whatever is left.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::Program;
use crate::kresd::control;
use crate::layout::Timeouts;

/// Runs in the kresd: starts the drain (see the file).
const START: &str = include_str!("drain.lua");

/// The drain's progress, as JSON, from the kresd.
const STATUS: &str = "kres_manager_drain_status()";

/// `drained` when [`START`] ran on the kresd (it marks the process).
pub const DRAINED: &str = "kres_manager_drained and 'drained' or ''";

/// How often the manager asks how far the drain got.
const POLL: Duration = Duration::from_millis(2);

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub took: Duration,
    /// Whether everything finished within the drain time.
    pub complete: bool,
    /// TCP connections open when the listeners closed, and how many of them were shut down idle
    /// (the others were closed by their clients).
    pub connections: u64,
    pub closed_idle: u64,
    /// Left when the drain time was over: connections and requests in progress.
    pub left_connections: u64,
    pub left_in_progress: u64,
    /// Why the drain could not run as designed (the kresd did not answer, or the Lua failed).
    pub trouble: Option<String>,
}

impl fmt::Display for Drained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drained in {} ms", self.took.as_millis())?;
        if self.connections > 0 {
            write!(f, ": {} TCP connection(s), {} closed idle", self.connections, self.closed_idle)?;
        }
        if !self.complete {
            write!(
                f,
                "; drain time over with {} connection(s) and {} request(s) left",
                self.left_connections, self.left_in_progress
            )?;
        }
        if let Some(trouble) = &self.trouble {
            write!(f, "; {trouble}")?;
        }
        Ok(())
    }
}

/// Drains the kresd behind `socket` (see the module documentation), at most `timeouts.drain`.
pub async fn drain(program: Program, socket: &Path, timeouts: Timeouts) -> Drained {
    let began = Instant::now();
    let deadline = began + timeouts.drain;
    let mut drained = Drained::default();
    if let Err(error) = control::eval(socket, START, timeouts.control).await {
        drained.trouble = Some(format!("cannot start the drain: {error}"));
        drained.took = began.elapsed();
        tracing::warn!("{program}: {drained}");
        return drained;
    }
    loop {
        let status = match control::json(socket, STATUS, timeouts.control).await {
            Ok(status) => status,
            Err(error) => {
                // Gone (it exited) or hung: either way there is nothing left to wait for.
                drained.trouble = Some(format!("no answer from it: {error}"));
                break;
            }
        };
        let count = |key: &str| status[key].as_u64().unwrap_or(0);
        drained.connections = count("found");
        drained.closed_idle = count("closed");
        drained.left_connections = count("connections");
        drained.left_in_progress = count("in_progress");
        match status["phase"].as_str() {
            Some("done") => {
                drained.complete = true;
                break;
            }
            Some("failed") => {
                // Counting failed: fall back to waiting until nothing is in progress.
                drained.trouble = Some(format!("the drain failed: {}", status["error"].as_str().unwrap_or("?")));
                if drained.left_in_progress == 0 {
                    drained.complete = drained.left_connections == 0;
                    break;
                }
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    drained.took = began.elapsed();
    if drained.complete && drained.trouble.is_none() {
        tracing::debug!("{program}: {drained}");
    } else {
        tracing::warn!("{program}: {drained}");
    }
    drained
}

/// Whether the kresd behind `socket` was drained (and is thus out of service); one that does
/// not answer is taken as it is.
pub async fn was_drained(socket: &Path, timeout: Duration) -> bool {
    matches!(control::eval(socket, DRAINED, timeout).await.as_deref(), Ok("drained"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_was_left_and_why() {
        let complete = Drained {
            took: Duration::from_millis(12),
            complete: true,
            connections: 3,
            closed_idle: 2,
            ..Drained::default()
        };
        assert_eq!(complete.to_string(), "drained in 12 ms: 3 TCP connection(s), 2 closed idle");
        let over = Drained {
            took: Duration::from_secs(3),
            left_connections: 1,
            left_in_progress: 4,
            trouble: Some("the drain failed: x".into()),
            ..Drained::default()
        };
        assert_eq!(
            over.to_string(),
            "drained in 3000 ms; drain time over with 1 connection(s) and 4 request(s) left; the drain failed: x"
        );
    }
}
