//! Host names as the platform compares them: one normalisation for the
//! gateway's routing and tenancy's reseller domains, so both agree on what
//! `Chat.Example.COM:443` is.

/// Lower case, no port, no IPv6 brackets, no trailing dot.
pub fn normalize_host(raw: &str) -> String {
    let host = raw.trim().to_ascii_lowercase();
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_string()
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
            _ => host,
        }
    };
    host.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_case_port_brackets_and_the_root_dot() {
        assert_eq!(
            normalize_host("Admin.Aerostic.COM:8443"),
            "admin.aerostic.com"
        );
        assert_eq!(normalize_host("chat.example.com."), "chat.example.com");
        assert_eq!(normalize_host("[::1]:80"), "::1");
        assert_eq!(normalize_host(" 127.0.0.1 "), "127.0.0.1");
    }
}
