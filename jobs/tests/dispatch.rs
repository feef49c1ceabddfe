//! The `jobs` binary takes each role by the name it is called as, as the
//! image's links call it, or by its first argument.

use std::path::PathBuf;
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_jobs");
const ROLES: [&str; 4] = ["api", "worker", "migrate", "pubsub-emulator"];

/// A fresh directory holding a symbolic link named `role` to the binary, as
/// the image has in /usr/local/bin.
fn link_named(role: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobs-dispatch-{}-{role}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creates the temporary directory");
    let link = dir.join(role);
    std::os::unix::fs::symlink(BINARY, &link).expect("links the binary");
    link
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn each_link_runs_its_role_under_its_own_name() {
    for role in ROLES {
        let link = link_named(role);
        let output = Command::new(&link).arg("--help").output().expect("runs");
        let _ = std::fs::remove_dir_all(link.parent().expect("a directory"));
        assert!(output.status.success(), "{role}: {output:?}");
        assert!(
            stdout(&output).contains(&format!("Usage: {role}")),
            "{role}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn the_first_argument_names_the_role_when_called_as_jobs() {
    for role in ROLES {
        let output = Command::new(BINARY)
            .args([role, "--help"])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{role}: {output:?}");
        assert!(
            stdout(&output).contains(&format!("Usage: {role}")),
            "{role}"
        );
    }
    let emulator = Command::new(BINARY)
        .args(["pubsub-emulator", "--help"])
        .output()
        .expect("runs");
    assert!(stdout(&emulator).contains("NEVER PRODUCTION"));
}

#[test]
fn a_role_keeps_its_own_usage_errors() {
    let output = Command::new(BINARY)
        .args(["migrate", "--no-such-flag"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: migrate"), "{stderr}");
}

#[test]
fn without_a_role_it_is_the_client_whose_help_lists_the_roles() {
    let output = Command::new(BINARY).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: jobs"), "{stderr}");
    for role in ROLES {
        assert!(stderr.contains(role), "{role}: {stderr}");
    }

    let unknown = Command::new(BINARY)
        .arg("scheduler")
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("unrecognized subcommand 'scheduler'")
    );

    let help = Command::new(BINARY).arg("--help").output().expect("runs");
    assert!(help.status.success());
    assert!(stdout(&help).contains("pubsub-emulator"));
    assert!(stdout(&help).contains("submit"));
}
