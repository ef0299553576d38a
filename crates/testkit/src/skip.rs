//! Skipped tests, made visible. Rust's test harness has no runtime skip: a test that returns
//! early passes, and whatever it prints is swallowed. These functions say it where a person sees
//! it (straight to the process's stderr, past the harness's capture) and record it in the file
//! named by `PORTCULLIS_SKIP_LOG` (set by `scripts/test`), which counts a wholly skipped test as
//! skipped, not passed, in its closing line, and lists partly skipped ones.
//!
//! Each line of the log is `whole|part <TAB> test name <TAB> reason`; the test name is the
//! harness's thread name (libtest names each test's thread after the test).

use std::io::Write as _;

/// The environment variable naming the skip log.
pub const SKIP_LOG: &str = "PORTCULLIS_SKIP_LOG";

/// The calling test did nothing at all (its prerequisite is missing): counted as skipped.
pub fn whole(reason: &str) {
    record("whole", reason);
}

/// Part of the calling test did not run (e.g. the PostgreSQL half); the rest did.
pub fn part(reason: &str) {
    record("part", reason);
}

fn record(kind: &str, reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(unnamed test)");
    let reason = reason.replace(['\t', '\n'], " ");
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED ({kind}): {test}: {reason} ***"
    );
    if let Some(path) = std::env::var_os(SKIP_LOG).filter(|p| !p.is_empty()) {
        // One short write with O_APPEND: lines from parallel tests and processes do not mix.
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = file.write_all(format!("{kind}\t{test}\t{reason}\n").as_bytes());
        }
    }
}
