//! The command line in a shell pipeline: a reader that goes away early (`| head`) ends the
//! command quietly, as it ends other Unix tools, instead of a panic and a backtrace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_a_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["attack", "show", "T1059"])
        .env_remove("TRIAGE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the command has loaded anything, so its first line meets a
    // closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "ended by SIGPIPE, as `head` expects: {:?} {stderr}", out.status);
}
