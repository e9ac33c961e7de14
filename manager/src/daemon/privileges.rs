//! Becoming the unprivileged user the service runs as, before supervisord starts.
//!
//! Started as root, the service start prepares what only root can (directories given to the
//! user), then switches this process to the user for good and execs supervisord: supervisord,
//! the manager, the workers and the cache GC all run as that user. The one privilege the tree
//! keeps is `CAP_NET_BIND_SERVICE` (port 53, or a privileged port for the API), as an *ambient*
//! capability: the kernel keeps ambient capabilities across `execve` of ordinary binaries for a
//! non-root user, so supervisord and its children start with it, and supervisord-ext clears it
//! for the programs that do not listen (the cache GC).
//!
//! Why not a root supervisord with `user=` programs: the manager rewrites supervisord.conf, and
//! root's supervisord would run whatever that file names, so the manager would have to stay
//! root too, with the API, the config parser and the Lua renderer. This way no process of the
//! tree can get root back: the uid switch is for all three ids, the bounding set is reduced to
//! the one capability and `no_new_privs` makes set-uid binaries run without their privilege.

use std::ffi::CString;

use caps::{CapSet, Capability, CapsHashSet};

use nix::unistd::Gid;

pub use crate::layout::User;

/// The one capability the service keeps.
pub const KEPT: Capability = Capability::CAP_NET_BIND_SERVICE;

/// Switches this process to `user` (real, effective and saved ids; the user's groups) keeping
/// only [`KEPT`], permitted, effective, inheritable and ambient. Called once, as root, right
/// before exec; on error the process may be half switched and must exit.
pub fn become_user(user: &User) -> Result<(), String> {
    let failed =
        |what: &str, error: &dyn std::fmt::Display| format!("cannot switch to the user {}: {what}: {error}", user.name);
    let kept = CapsHashSet::from([KEPT]);
    if !caps::has_cap(None, CapSet::Permitted, KEPT).map_err(|e| failed("reading the capabilities", &e))? {
        return Err(failed(
            "CAP_NET_BIND_SERVICE is not permitted",
            &"the service needs it to bind port 53 as that user (is it in the capability bounding set?)",
        ));
    }
    // Nothing the tree starts may get another capability back (a set-uid-root binary would get
    // the bounding set).
    for capability in caps::read(None, CapSet::Bounding).map_err(|e| failed("reading the bounding set", &e))? {
        if capability != KEPT {
            caps::drop(None, CapSet::Bounding, capability).map_err(|e| failed("reducing the bounding set", &e))?;
        }
    }
    // Keep the permitted set across the uid switch (which clears the effective set).
    caps::securebits::set_keepcaps(true).map_err(|e| failed("PR_SET_KEEPCAPS", &e))?;
    let name = CString::new(user.name.as_str()).map_err(|e| failed("the user's name", &e))?;
    nix::unistd::initgroups(&name, user.gid).map_err(|e| failed("initgroups", &e))?;
    nix::unistd::setresgid(user.gid, user.gid, user.gid).map_err(|e| failed("setresgid", &e))?;
    nix::unistd::setresuid(user.uid, user.uid, user.uid).map_err(|e| failed("setresuid", &e))?;
    // Inheritable first: a capability must be permitted and inheritable to become ambient.
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::set(None, set, &kept).map_err(|e| failed("capset", &e))?;
    }
    caps::raise(None, CapSet::Ambient, KEPT).map_err(|e| failed("raising the ambient capability", &e))?;
    caps::securebits::set_keepcaps(false).map_err(|e| failed("PR_SET_KEEPCAPS", &e))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| failed("PR_SET_NO_NEW_PRIVS", &e))?;
    if nix::unistd::getuid() != user.uid || nix::unistd::geteuid() != user.uid || nix::unistd::getegid() != user.gid {
        return Err(failed("the ids did not change", &"refusing to go on"));
    }
    Ok(())
}

/// The names of this process's user and group (their numbers when they have no entry).
pub fn current() -> (String, String) {
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    let user = nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |user| user.name);
    let group = nix::unistd::Group::from_gid(gid).ok().flatten().map_or_else(|| gid.to_string(), |group| group.name);
    (user, group)
}

/// Whether this process belongs to the group `gid` (primary or supplementary).
pub fn in_group(gid: Gid) -> bool {
    nix::unistd::getegid() == gid || nix::unistd::getgroups().is_ok_and(|groups| groups.contains(&gid))
}
