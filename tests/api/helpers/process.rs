//! The binary under test as a process of its own: the CLI run to its end, and the service
//! serving on a loopback port until it is stopped (SIGTERM) or killed (dropped).

use std::process::{Child, Command, ExitStatus, Output};
use std::time::Duration;

use reqwest::Method;

use super::{try_raw, wait_for};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_taxpoynt-mono");

/// Runs the binary with `args` against the database at `database_url`; answers its output.
pub fn run_cli(database_url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("the binary runs")
}

/// A loopback port that was free a moment ago, for a server that binds it itself (or for
/// an address where nothing listens).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service running as a process of its own, killed (SIGKILL) when dropped.
pub struct Service {
    child: Child,
    /// Where it serves: `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Service {
    /// Spawns `command` (the binary with the arguments and environment a test chose) serving
    /// on a free loopback port; see [`Service::wait_ready`].
    pub fn start(mut command: Command) -> Service {
        let port = free_port();
        let child = command
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .spawn()
            .expect("the binary starts");
        Service {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) {
        let readyz = format!("{}/readyz", self.base);
        wait_for("the service to become ready", timeout, || async {
            try_raw(Method::GET, &readyz, &[], "")
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await;
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
    }

    /// Waits until the process has exited; answers how.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = &mut self.child;
        wait_for("the service to stop", timeout, || {
            std::future::ready(child.try_wait().unwrap())
        })
        .await
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
