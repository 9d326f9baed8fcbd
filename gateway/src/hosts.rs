//! Which product a request is for, by its Host. Under the base domain,
//! `admin.` is the platform admin, `api.` the developer API and `app.` (or
//! the bare base, an IP address, `localhost`) the tenant dashboard's API;
//! any other host is a reseller's custom domain serving the tenant API under
//! that reseller's brand.
//!
//! The admin host serves only the admin API and the session endpoints a
//! super admin needs; every other host never serves the admin API. What a
//! host does not serve is 404, as if it did not exist — so is the admin API
//! to anyone but a super admin.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The product a host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `admin.<base>`: platform administration.
    Admin,
    /// `app.<base>`: the tenant dashboard's API.
    App,
    /// `api.<base>`: the public developer API.
    Api,
    /// A reseller's custom domain (tenant API, reseller brand).
    Custom,
}

/// The Host a request came on, normalised (lower case, no port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHost(pub String);

/// Classifies hosts under one base domain.
#[derive(Debug, Clone)]
pub struct Hosts {
    base: String,
}

pub use aerostic_kit::host::normalize_host as normalize;

impl Hosts {
    /// Hosts under `base` (e.g. `aerostic.com`).
    pub fn new(base: &str) -> Self {
        Self {
            base: normalize(base),
        }
    }

    /// The surface of `host` (already normalised).
    pub fn classify(&self, host: &str) -> Surface {
        if let Some(sub) = host
            .strip_suffix(self.base.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
        {
            return match sub {
                "admin" => Surface::Admin,
                "api" => Surface::Api,
                _ => Surface::App,
            };
        }
        let local = host.is_empty()
            || host == self.base
            || host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok();
        if local { Surface::App } else { Surface::Custom }
    }
}

/// Paths the admin host serves besides `/v1/admin/*`.
const ADMIN_HOST_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/auth/login",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/me",
    "/v1/branding",
    "/v1/openapi.json",
    "/docs",
];

/// Whether `surface` serves `path`.
pub fn serves(surface: Surface, path: &str) -> bool {
    let admin_api = path == "/v1/admin" || path.starts_with("/v1/admin/");
    match surface {
        Surface::Admin => admin_api || ADMIN_HOST_PATHS.contains(&path),
        Surface::App | Surface::Api | Surface::Custom => !admin_api,
    }
}

/// Tags each request with its surface and host; 404s what the host does not serve.
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host())
        .map(normalize)
        .unwrap_or_default();
    let surface = state.hosts.classify(&host);
    if !serves(surface, request.uri().path()) {
        return crate::error::not_found().await.into_response();
    }
    request.extensions_mut().insert(surface);
    request.extensions_mut().insert(RequestHost(host));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_their_surfaces() {
        let hosts = Hosts::new("aerostic.com");
        let cases = [
            ("admin.aerostic.com", Surface::Admin),
            ("api.aerostic.com", Surface::Api),
            ("app.aerostic.com", Surface::App),
            ("aerostic.com", Surface::App),
            ("127.0.0.1", Surface::App),
            ("localhost", Surface::App),
            ("chat.reseller.io", Surface::Custom),
            ("admin.aerostic.com.evil.io", Surface::Custom),
            ("notaerostic.com", Surface::Custom),
        ];
        for (host, surface) in cases {
            assert_eq!(hosts.classify(host), surface, "{host}");
        }
    }

    #[test]
    fn the_admin_api_lives_only_on_the_admin_host() {
        assert!(serves(Surface::Admin, "/v1/admin/tenants"));
        assert!(!serves(Surface::Admin, "/v1/team/users"));
        assert!(!serves(Surface::Admin, "/v1/auth/register"));
        assert!(!serves(Surface::App, "/v1/admin/tenants"));
        assert!(!serves(Surface::Custom, "/v1/admin"));
        assert!(serves(Surface::Api, "/v1/billing/api-keys"));
    }
}
