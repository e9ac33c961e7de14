//! Which kresd a config is for, and what each kresd has: the one place that knows.
//!
//! Pass 2 learns the target's version from the [`System`](schema_core::System) (the installed
//! kresd, or one named for an offline check). A feature kresd 5.6 lacks is refused when asked
//! for, naming the feature and the version ([`needs_6`]); a default that Knot Resolver 6 turns on
//! is turned off for 5.6 with a note ([`before_6`]). When the version is unknown (no kresd to
//! ask and none named), the config is judged for the newest major we manage, Knot Resolver 6,
//! with one note saying so (`config::load`), so a Knot Resolver 6 config can be checked anywhere.
//!
//! The [`Dialect`] is the major the rendered Lua is written for; `kresd::Target` finds it once
//! per process and `kresd::dialect` supplies each dialect's templates and hot-change Lua.

use schema_core::{ResolveCx, Version};

/// The first version of Knot Resolver 6, where the rules database, QUIC, rate limiting, defer,
/// fallback and the policy loader appeared.
pub const KNOT_RESOLVER_6: Version = Version::new(6, 0, 0);

/// The oldest kresd we manage.
pub const OLDEST: Version = Version::new(5, 6, 0);

/// The kresd Lua a config is rendered into: one per major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dialect {
    /// kresd 5.x (5.6 as Debian 12 ships it).
    Kresd5,
    /// kresd 6.x (Knot Resolver 6: the rules database, the policy loader).
    Kresd6,
}

impl Dialect {
    /// The dialect of `version`; `None` (unknown) is the newest. An unsupported version is an
    /// error naming it.
    pub fn of(version: Option<Version>) -> Result<Dialect, String> {
        match version {
            None => Ok(Dialect::Kresd6),
            Some(v) if v < OLDEST => {
                Err(format!("kresd {v} is too old: kres-manager manages kresd {OLDEST} and later"))
            }
            Some(v) if v.major == 5 => Ok(Dialect::Kresd5),
            Some(v) if v.major == 6 => Ok(Dialect::Kresd6),
            Some(v) => Err(format!("kresd {v} is not supported: kres-manager manages kresd 5.6 to 6.x")),
        }
    }

    pub fn major(self) -> u32 {
        match self {
            Dialect::Kresd5 => 5,
            Dialect::Kresd6 => 6,
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kresd {}", self.major())
    }
}

/// `Some("the installed kresd is 5.6.0")` when the target is older than Knot Resolver 6 (for
/// messages about what it lacks); `None` for a 6.x or an unknown version.
pub fn before_6(cx: &ResolveCx<'_>) -> Option<String> {
    cx.system().target_version().filter(|v| *v < KNOT_RESOLVER_6).map(|v| format!("the installed kresd is {v}"))
}

/// Fails with "`feature` needs Knot Resolver 6; the installed kresd is 5.6.0" when the target is
/// older than Knot Resolver 6.
pub fn needs_6(cx: &ResolveCx<'_>, feature: &str) -> Result<(), String> {
    match before_6(cx) {
        Some(installed) => Err(format!("{feature} needs Knot Resolver 6; {installed}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_major_has_its_dialect_and_others_are_refused() {
        assert_eq!(Dialect::of(Some(Version::new(5, 6, 0))), Ok(Dialect::Kresd5));
        assert_eq!(Dialect::of(Some(Version::new(5, 7, 8))), Ok(Dialect::Kresd5));
        assert_eq!(Dialect::of(Some(Version::new(6, 5, 0))), Ok(Dialect::Kresd6));
        assert_eq!(Dialect::of(None), Ok(Dialect::Kresd6));
        assert!(Dialect::of(Some(Version::new(5, 5, 3))).unwrap_err().contains("too old"));
        assert!(Dialect::of(Some(Version::new(7, 0, 0))).unwrap_err().contains("not supported"));
    }
}
