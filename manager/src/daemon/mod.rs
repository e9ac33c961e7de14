//! The daemon, the top of the program (nothing imports it): starting the service
//! ([`service`]), the supervised manager ([`supervised`]), switching users ([`privileges`]),
//! readiness ([`notify`]) and watching files ([`watch`]). Where files live is `crate::layout`,
//! the config store `crate::reconcile::store`, reloading `crate::reconcile::reload`.
//!
//! Process tree (see docs/architecture.md): `kres-manager -c FILE` validates, locks the rundir and
//! execs supervisord; supervisord runs `kres-manager --supervised` (restarted if it crashes), the
//! kresd workers, the canary and the cache GC; every child dies with supervisord.

pub mod notify;
pub mod privileges;
pub mod service;
pub mod supervised;
pub mod watch;
