//! Turns Nagle's algorithm off where the libraries we use leave it on: on
//! the sockets our servers accept ([`accepting`]) and on this process's
//! connections to PostgreSQL ([`set_on_sockets_to`]).
//!
//! An HTTP/2 peer writes a response as several small frames (headers, data,
//! trailers). With Nagle on, the kernel holds each small segment that
//! follows another until the first is acknowledged, and the peer delays that
//! acknowledgement when it has nothing to send. tonic sets `TCP_NODELAY`
//! only on sockets it accepts itself, not on an incoming stream it is handed
//! (grpc/grpc-rust#2413), and `axum::serve` never sets it. Measured on the
//! send path: the gateway waited 10.2 ms (p50) on a dispatcher call that
//! took 2.8 ms inside.
//!
//! sqlx 0.9.0 stopped setting `TCP_NODELAY` on the sockets it opens
//! (transact-rs/sqlx#4335; the fix, #4336, is merged but in no release this
//! registry has). Without it, a statement larger than one TCP segment waits
//! for the server's delayed ACK: about 40 ms per large statement, which cut
//! billing's batched ledger writes to a third of their speed. sqlx gives no
//! handle on the socket, so after each new connection we find it among the
//! process's descriptors by its peer port and set the option there. Remove
//! this module when sqlx ships the fix.

/// `listener`, with `TCP_NODELAY` set on every socket it accepts (for
/// `axum::serve`; [`crate::grpc::serve`] does the same for gRPC). A socket
/// that refuses the option is served anyway: slower, never turned away.
pub fn accepting(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    listener.tap_io(no_delay as fn(&mut tokio::net::TcpStream))
}

/// Sets `TCP_NODELAY` on an accepted socket; a failure is only logged.
pub fn no_delay(stream: &mut tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "TCP_NODELAY refused on an accepted socket");
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn sockets_an_axum_server_accepts_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut listener = accepting(listener);
        let _client = TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY on the accepted socket"
        );
    }
}
