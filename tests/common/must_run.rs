//! Tests that cannot run here (no root, no `../shared` data, a missing tool) skip by default,
//! so a developer without root can still run the suite. CI must not pass that way:
//!
//! - with [`NO_SKIP_ENV`] set (`.ci/run` sets it), [`skip`] fails the test with the reason
//!   instead of returning;
//! - with [`RAN_LOG_ENV`] naming a file, every such test that got past its check and passed
//!   appends one line `KIND<TAB>test name` to it, so `.ci/run` can say how many really ran.
//!
//! Mounted by `#[path]` in every test crate's `common` module (and the benches'), so there is
//! one definition of what "skip" means.

#![allow(dead_code)]

use std::io::Write;

/// Set to a non-empty value other than `0`: every skip is a failure.
pub const NO_SKIP_ENV: &str = "VERDICT_NO_SKIP";
/// Names a file that each test which ran (and passed) appends a line to.
pub const RAN_LOG_ENV: &str = "VERDICT_RAN_LOG";

/// Whether skips are failures in this run.
pub fn strict() -> bool {
    std::env::var(NO_SKIP_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Reports that the calling test cannot run: prints `SKIPPED: reason` and returns (the caller
/// then returns early), or panics with the reason when [`strict`].
pub fn skip(reason: &str) {
    assert!(
        !strict(),
        "this test cannot run here: {reason} ({NO_SKIP_ENV} is set, so a skip is a failure)"
    );
    eprintln!("SKIPPED: {reason}");
}

/// The guard of a test that reads `../shared` data at `path`: `None` (after [`skip`]) when the
/// path is missing, so the test returns early. Every test on `../shared` calls this once,
/// with its name on the line, so `.ci/run` counts the call sites the way it counts
/// `require_netns!();` and fails when fewer such tests ran.
pub fn require_shared(path: impl AsRef<std::path::Path>, module: &str) -> Option<Ran> {
    let path = path.as_ref();
    if path.exists() {
        Some(Ran::shared(module))
    } else {
        skip(&format!("{} is missing", path.display()));
        None
    }
}

/// Records, when dropped outside a panic, that a test of `kind` ran to its end.
#[must_use = "the record is written when the guard is dropped at the end of the test"]
pub struct Ran {
    kind: &'static str,
    what: String,
}

impl Ran {
    /// A guard for a test that needs the kernel (root, network namespaces, nft).
    pub fn kernel(module: &str) -> Ran {
        Ran::new("kernel", module)
    }
    /// A guard for a test that reads `../shared` (the community rule set).
    pub fn shared(module: &str) -> Ran {
        Ran::new("shared", module)
    }
    fn new(kind: &'static str, module: &str) -> Ran {
        // libtest names each test's thread after the test; the module path disambiguates a
        // single-threaded run, where every test runs on "main".
        let thread = std::thread::current();
        let what = match thread.name() {
            Some(n) if n != "main" => format!("{module}::{n}"),
            _ => module.to_string(),
        };
        Ran { kind, what }
    }
}

impl Drop for Ran {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let Ok(path) = std::env::var(RAN_LOG_ENV) else {
            return;
        };
        // One short O_APPEND write per line: parallel test processes do not interleave.
        let line = format!("{}\t{}\n", self.kind, self.what);
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = res {
            panic!("cannot append to {RAN_LOG_ENV}={path}: {e}");
        }
    }
}
