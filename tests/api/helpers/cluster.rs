//! A PostgreSQL server of the test's own, for a test that restarts the server under load
//! (the shared one serves every other test): a cluster made with the machine's `initdb` in
//! a temporary folder, started with `pg_ctl` on a free loopback port (trust auth, `fsync`
//! off), stopped and removed when dropped. A test that panics leaves the folder behind, with
//! the server's log and whatever the test wrote there (`dir`), and says where.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use super::free_port;

pub struct Cluster {
    /// The cluster's folder: `data/`, `server.log`, and room for the test's own files.
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    /// The user the server runs as (initdb refuses root), when the test runs as root.
    owner: Option<String>,
}

impl Cluster {
    /// Makes and starts the cluster; panics naming what is missing when the machine has no
    /// PostgreSQL server binaries. Blocks (initdb takes a second or two).
    pub fn start() -> Cluster {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = server_bin_dir().expect(
            "no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL server",
        );
        let dir = std::env::temp_dir().join(format!(
            "tpm-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let owner = running_as_root().then(|| "postgres".to_owned());
        let cluster = Cluster {
            dir,
            port: free_port(),
            bin,
            owner,
        };
        cluster.chown();
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
            ],
        );
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200",
            cluster.port,
            cluster.dir.display()
        );
        let log = cluster.dir.join("server.log").display().to_string();
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &cluster.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        cluster
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once, as a crash would (`-m immediate`: no checkpoint, every
    /// connection cut), and starts it again (crash recovery); waits until it accepts
    /// connections. Blocks.
    pub fn restart(&self) {
        // With its log named, the server's output is not pg_ctl's, which then ends at once.
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-m",
                "immediate",
                "-w",
                "-t",
                "60",
                "restart",
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Lets the owner write in the folder (files the test adds later stay the test's own).
    fn chown(&self) {
        if let Some(owner) = &self.owner {
            let done = Command::new("chown")
                .args(["-R", owner])
                .arg(&self.dir)
                .status()
                .unwrap();
            assert!(done.success(), "chown {owner} {}", self.dir.display());
        }
    }

    /// `program` of the server's binaries, run as the owner.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.owner {
            Some(owner) => {
                let mut command = Command::new("runuser");
                command.args(["-u", owner, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.as_str(), "-m", "immediate", "-w", "stop"])
            .output();
        if std::thread::panicking() {
            eprintln!(
                "the test's PostgreSQL cluster and logs are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The folder holding `initdb` and `pg_ctl`: PATH's, else the newest under
/// `/usr/lib/postgresql/*/bin`.
fn server_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = e.path().join("bin");
                Path::new(&bin).join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, bin)| bin)
    })
}
