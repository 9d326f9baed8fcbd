//! The production topology on one machine, for load drivers and tests:
//! `aerostic <service>` processes started from the built binary with one
//! shared environment, each logging to its own file, stopped (or killed)
//! on demand and on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A free loopback port (bound, then released for a child to take).
///
/// Taken below the kernel's ephemeral range: a port the kernel hands out
/// for port 0 can just as well become the local end of someone's outgoing
/// connection between our release and the child's bind, and tests open
/// many. Below that range only another explicit bind can take it, and the
/// start is random so that concurrent callers rarely probe the same ports.
pub fn free_port() -> SocketAddr {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const LOWEST: u16 = 10_000;
    if ephemeral_low > LOWEST + 1_000 {
        let span = u64::from(ephemeral_low - LOWEST);
        let seed = std::collections::hash_map::RandomState::new()
            .hash_one((std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed)));
        for step in 0..span.min(500) {
            let port = LOWEST + ((seed + step * 7_919) % span) as u16;
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr().expect("a bound address");
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_bindable_and_outside_the_range_outgoing_connections_use() {
        let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ports: Vec<SocketAddr> = (0..20).map(|_| free_port()).collect();
        for addr in &ports {
            assert!(
                addr.port() < low,
                "{addr} is in the ephemeral range from {low}"
            );
            TcpListener::bind(addr).unwrap();
        }
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert!(distinct.len() > 1, "every call gave {}", ports[0]);
    }
}
