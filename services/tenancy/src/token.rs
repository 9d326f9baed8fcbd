//! Access tokens: short-lived HS256 JWTs naming user, tenant and role.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Seconds an access token lives.
pub const ACCESS_TOKEN_TTL_SECS: u32 = 15 * 60;
const KEY_ID: &str = "hs1";
const ISSUER: &str = "aerostic";

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant id.
    pub tid: String,
    /// The role, e.g. `workspace_admin`.
    pub role: String,
    /// Issuer.
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

/// Signs and verifies access tokens with the configured secret.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenSigner {
    /// A signer for `secret` (at least 32 bytes, checked by the config).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A fresh access token for the user.
    pub fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        role: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.into(),
            tid: tenant_id.into(),
            role: role.into(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + i64::from(ACCESS_TOKEN_TTL_SECS),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let header = Header {
            kid: Some(KEY_ID.into()),
            ..Header::new(Algorithm::HS256)
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding)
    }

    /// The claims of a valid, unexpired token of ours.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let signer = TokenSigner::new(&[7u8; 32]);
        let token = signer.issue("u1", "t1", "workspace_admin").unwrap();
        let claims = signer.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tid.as_str()), ("u1", "t1"));
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some("hs1")
        );
        assert!(TokenSigner::new(&[8u8; 32]).verify(&token).is_err());
    }
}
