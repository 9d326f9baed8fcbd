//! The production topology on one machine, for load drivers and tests:
//! `aerostic <service>` processes started from the built binary with one
//! shared environment, each logging to its own file, stopped (or killed)
//! on demand and on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A free loopback port (bound, then released for a child to take).
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The settings of gRPC service `service` (`TENANCY`, `DISPATCHER`, …)
/// listening on `grpc`: its gRPC and metrics addresses, and the URL the
/// others reach it by.
pub fn service_env(service: &str, grpc: SocketAddr) -> Vec<(String, String)> {
    vec![
        (format!("AEROSTIC_{service}_GRPC_ADDR"), grpc.to_string()),
        (
            format!("AEROSTIC_{service}_METRICS_ADDR"),
            free_port().to_string(),
        ),
        (format!("AEROSTIC_{service}_URL"), format!("http://{grpc}")),
    ]
}

/// Running `aerostic` processes sharing one environment.
pub struct Topology {
    binary: PathBuf,
    env: Vec<(String, String)>,
    logs: PathBuf,
    children: Vec<(String, Child)>,
}

impl Topology {
    /// Processes of `binary` with `env`, logging under `logs`.
    pub fn new(binary: &Path, env: Vec<(String, String)>, logs: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(logs)?;
        Ok(Self {
            binary: binary.to_path_buf(),
            env,
            logs: logs.to_path_buf(),
            children: Vec::new(),
        })
    }

    /// Runs `aerostic <args>` to completion (e.g. `migrate`).
    pub fn run(&self, args: &[&str]) -> std::io::Result<bool> {
        Ok(Command::new(&self.binary)
            .args(args)
            .envs(self.env.clone())
            .status()?
            .success())
    }

    /// Starts `aerostic <service>`, appending to `<logs>/<service>.log`.
    pub fn start(&mut self, service: &str) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{service}.log")))?;
        let child = Command::new(&self.binary)
            .arg(service)
            .envs(self.env.clone())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        self.children.push((service.to_string(), child));
        Ok(())
    }

    /// Kills `service` at once (SIGKILL: no graceful shutdown), as a crash would.
    pub fn kill(&mut self, service: &str) {
        if let Some(i) = self.children.iter().position(|(s, _)| s == service) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id of `service`, if it runs.
    pub fn pid(&self, service: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, c)| c.id())
    }

    /// Where the logs are.
    pub fn logs(&self) -> &Path {
        &self.logs
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
