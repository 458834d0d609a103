//! What start-up refuses and what the binary never prints, run as a user runs it; and the
//! PostgreSQL the scripts choose for the run command and for the tests.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::BIN;

#[test]
fn serving_with_verification_and_no_webhook_secret_is_refused_naming_both() {
    let out = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env_remove("MONO_WEBHOOK_SECRET")
        .env_remove("MONO_VERIFY_SIGNATURE")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MONO_WEBHOOK_SECRET"), "{stderr}");
    assert!(stderr.contains("MONO_VERIFY_SIGNATURE"), "{stderr}");
}

/// Retentions whose cutoff no date can hold (about 96 million days back) are refused naming
/// the variable, as are unclaimed-delivery retentions of zero days.
#[test]
fn retentions_beyond_any_date_are_refused_naming_the_variable() {
    for (var, value) in [
        ("MONO_DATA_RETENTION_DAYS", "100000000"),
        ("MONO_DATA_RETENTION_DAYS", "36501"),
        ("MONO_UNCLAIMED_RETENTION_DAYS", "4000000000"),
        ("MONO_UNCLAIMED_RETENTION_DAYS", "0"),
    ] {
        let out = Command::new(BIN)
            .arg("serve")
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("MONO_WEBHOOK_SECRET", "whsec_startup")
            .env_remove("MONO_DATA_RETENTION_DAYS")
            .env_remove("MONO_UNCLAIMED_RETENTION_DAYS")
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value}: serve must not start");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}={value}: {stderr}");
        assert!(stderr.contains("36500"), "{var}={value}: {stderr}");
    }
}

#[test]
fn the_sandbox_never_prints_a_key_it_was_given() {
    let given = "live_sk_given_by_the_user_7f3a9c";
    let mut child = Command::new(BIN)
        .args(["sandbox", "--port", "0"])
        .env("MONO_SECRET_KEY", given)
        .env("MONO_WEBHOOK_SECRET", "whsec_given_by_the_user_0b1c")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(first.contains("Mono sandbox on http://"), "{first}");
    assert!(!first.contains(given), "{first}");
    assert!(
        !stderr.contains(given) && !stderr.contains("whsec_given"),
        "{stderr}"
    );
}

/// The private cluster of `scripts/run.sh` (where a user keeps data) has fsync on; the test
/// script's own cluster, in another directory and port, may have it off.
#[test]
fn the_run_commands_private_cluster_keeps_fsync_on() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |fsync: Option<&str>| {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "source {root}/scripts/pg.sh && echo \"$PG_PRIVATE_FSYNC $PG_PRIVATE_DIR $PG_PRIVATE_PORT\""
            ))
            .env_remove("PG_PRIVATE_DIR")
            .env_remove("PG_PRIVATE_PORT")
            .env_remove("PG_PRIVATE_FSYNC");
        if let Some(f) = fsync {
            cmd.env("PG_PRIVATE_FSYNC", f);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    assert_eq!(read(None).trim(), format!("on {root}/.pg 54329"));
    assert_eq!(read(Some("off")).trim(), format!("off {root}/.pg-test 54330"));
    let pg = std::fs::read_to_string(format!("{root}/scripts/pg.sh")).unwrap();
    assert!(
        pg.contains("-c fsync=$PG_PRIVATE_FSYNC"),
        "the server is started with the chosen fsync"
    );
    let test = std::fs::read_to_string(format!("{root}/scripts/test.sh")).unwrap();
    let run = std::fs::read_to_string(format!("{root}/scripts/run.sh")).unwrap();
    assert!(test.contains("PG_PRIVATE_FSYNC=off"));
    assert!(
        !run.contains("PG_PRIVATE_FSYNC"),
        "the run command keeps the default (on)"
    );
}

/// `serve --sandbox` up to a start-up failure (no database where `DATABASE_URL` points),
/// with stdout and stderr piped: it logs the built-in sandbox starting, then stops. Answers
/// (stdout, stderr).
fn serve_without_a_database(log_format: &str) -> (String, String) {
    let out = Command::new(BIN)
        .args(["serve", "--sandbox", "--sandbox-port", "0"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("MONO_WEBHOOK_SECRET", "whsec_log_colour_test")
        .env("LOG_FORMAT", log_format)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "serve must not start without its database");
    assert!(stderr.contains("migrations"), "{stderr}");
    (stdout, stderr)
}

/// Logs written to a pipe (or a file) carry no ANSI colour codes; JSON logs stay JSON.
#[test]
fn logs_to_a_pipe_are_plain_text() {
    let (stdout, stderr) = serve_without_a_database("text");
    assert!(stdout.contains("built-in Mono sandbox started"), "{stdout}");
    assert!(
        !stdout.contains('\u{1b}'),
        "colour codes in piped logs: {stdout:?}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in piped stderr: {stderr:?}"
    );

    let (stdout, _) = serve_without_a_database("json");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "built-in Mono sandbox started; the Mono client points at it"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout:?}");
}
