//! The web UI in a real browser: runs the Playwright tests of `tests/browser` (Python, driving
//! Debian's Chromium) against the `yajin` binary this build made.
//!
//! They need Chromium (`/usr/bin/chromium`, or `CHROMIUM`), CJK fonts, and a Python with
//! Playwright and pytest (`target/browser-venv`, or `YAJIN_BROWSER_PYTHON`); `.ci/run`
//! installs all three. Without them this test says plainly that the browser half did not run
//! and passes, unless `YAJIN_REQUIRE_BROWSER=1` (as in CI) makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("the workspace root").to_owned()
}

fn python(root: &Path) -> PathBuf {
    match std::env::var_os("YAJIN_BROWSER_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root.join("target/browser-venv/bin/python"),
    }
}

/// Why the browser tests cannot run here, if they cannot.
fn missing(root: &Path) -> Option<String> {
    let chromium = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        return Some(format!("no Chromium at {}", chromium.display()));
    }
    let python = python(root);
    let ready = Command::new(&python).args(["-c", "import playwright, pytest"]).output();
    match ready {
        Ok(out) if out.status.success() => None,
        _ => Some(format!("no Python with Playwright and pytest at {}", python.display())),
    }
}

#[test]
fn the_portal_and_the_console_in_chromium() {
    let root = workspace_root();
    if let Some(why) = missing(&root) {
        let required = std::env::var("YAJIN_REQUIRE_BROWSER").is_ok_and(|v| v == "1" || v == "true");
        assert!(!required, "the browser tests are required (YAJIN_REQUIRE_BROWSER=1) but cannot run: {why}");
        let _ = writeln!(
            std::io::stderr(),
            "\n*** The browser tests did NOT run: {why}.\n\
             *** `.ci/run` installs Chromium, CJK fonts and target/browser-venv; YAJIN_REQUIRE_BROWSER=1 makes this a failure.\n"
        );
        return;
    }
    let out = Command::new(python(&root))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "crates/interfaces/tests/browser"])
        .current_dir(&root)
        .env("YAJIN_BIN", env!("CARGO_BIN_EXE_yajin"))
        .output()
        .expect("run pytest");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser tests failed:\n{report}");
    let _ = writeln!(std::io::stderr(), "{}", report.lines().last().unwrap_or_default());
}
