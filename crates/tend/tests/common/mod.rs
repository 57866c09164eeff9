//! Starting the real `tend dev` binary for a test, and running the CLI against it.
#![allow(clippy::unwrap_used, clippy::panic, dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// A running `tend dev` on a fresh data directory.
pub struct Dev {
    /// The process (killed when dropped).
    pub server: Child,
    /// Its gRPC endpoint, `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The rest of its stdout, after the first line.
    pub lines: Lines<BufReader<ChildStdout>>,
    _data_dir: tempfile::TempDir,
}

/// Starts `tend dev` on free ports (tests run side by side) with `env` set, and reads the
/// address from its first line.
pub async fn start_dev(env: &[(&str, &str)], stderr: Stdio) -> Dev {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .env("TEND__SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let endpoint = format!("http://{}", first.strip_prefix("tend serving on ").unwrap());
    Dev { server, endpoint, lines, _data_dir: data_dir }
}

impl Dev {
    /// Kills the server and waits until it is gone, so that it holds none of the test's output
    /// handles when the test ends (nextest reports a test that leaves a child holding them as
    /// leaky).
    pub async fn stop(mut self) {
        self.server.kill().await.unwrap();
    }
}

/// Runs `tend <args>` against `endpoint`: its exit status, stdout and stderr.
pub fn run(endpoint: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tend")).args(args).env("TEND_ENDPOINT", endpoint).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stdout, stderr)
}

/// Runs `tend <args>` against `endpoint`; returns its stdout, failing the test on a non-zero exit.
pub fn tend(endpoint: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = run(endpoint, args);
    assert!(success, "tend {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}
