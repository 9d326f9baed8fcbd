//! Turns Nagle's algorithm off on this process's connections to PostgreSQL.
//!
//! sqlx 0.9.0 stopped setting `TCP_NODELAY` on the sockets it opens
//! (transact-rs/sqlx#4335; the fix, #4336, is merged but in no release this
//! registry has). Without it, a statement larger than one TCP segment waits
//! for the server's delayed ACK: about 40 ms per large statement, which cut
//! billing's batched ledger writes to a third of their speed. sqlx gives no
//! handle on the socket, so after each new connection we find it among the
//! process's descriptors by its peer port and set the option there. Remove
//! this module when sqlx ships the fix.

/// Sets `TCP_NODELAY` on every TCP socket of this process whose peer port is
/// `port` and that lacks it; answers how many it changed.
#[cfg(target_os = "linux")]
pub fn set_on_sockets_to(port: u16) -> usize {
    use std::os::fd::BorrowedFd;

    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    let mut changed = 0;
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        if !is_socket || fd < 0 {
            continue;
        }
        // SAFETY: `fd` is one of this process's descriptors and is only
        // borrowed for the calls below. Were another thread to close it
        // meanwhile, the calls fail (EBADF) or reach whichever socket took
        // the number; either way only a TCP socket whose peer port is the
        // database's gets TCP_NODELAY, which no connection can be hurt by.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_database = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| peer.port() == port);
        if to_database
            && socket.tcp_nodelay().is_ok_and(|on| !on)
            && socket.set_tcp_nodelay(true).is_ok()
        {
            changed += 1;
        }
    }
    changed
}

/// Elsewhere there is no `/proc/self/fd` to search; connections keep the
/// driver's default.
#[cfg(not(target_os = "linux"))]
pub fn set_on_sockets_to(_port: u16) -> usize {
    0
}
