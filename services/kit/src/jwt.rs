//! Access tokens: short-lived HS256 JWTs naming user, tenant and role. Each
//! key's id (`kid`, the first 8 hex digits of the secret's SHA-256) is in the
//! header, so a rotated secret signs new tokens while the previous ones still
//! verify until they expire. Verifying is local: the gateway needs no call.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorKind};
use crate::identity::{Identity, Role};

/// Seconds an access token lives.
pub const ACCESS_TOKEN_TTL_SECS: u32 = 15 * 60;
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

struct Key {
    id: String,
    decoding: DecodingKey,
}

/// The signing key and every key still accepted.
#[derive(Clone)]
pub struct JwtKeys {
    current_id: String,
    encoding: EncodingKey,
    accepted: std::sync::Arc<Vec<Key>>,
}

/// The `kid` of a secret.
pub fn key_id(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..4])
}

fn invalid(code: &'static str, message: &'static str) -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, code, message)
}

impl JwtKeys {
    /// Signs with `current`; also accepts tokens of `previous` secrets.
    pub fn new(current: &str, previous: &[String]) -> Self {
        let accepted = std::iter::once(current)
            .chain(previous.iter().map(String::as_str))
            .map(|s| Key {
                id: key_id(s),
                decoding: DecodingKey::from_secret(s.as_bytes()),
            })
            .collect();
        Self {
            current_id: key_id(current),
            encoding: EncodingKey::from_secret(current.as_bytes()),
            accepted: std::sync::Arc::new(accepted),
        }
    }

    /// A fresh access token for the user.
    pub fn issue(&self, user_id: &str, tenant_id: &str, role: &str) -> Result<String, ApiError> {
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
            kid: Some(self.current_id.clone()),
            ..Header::new(Algorithm::HS256)
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The claims of a valid, unexpired token signed by an accepted key.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("invalid_token", "the access token is malformed"))?;
        let key = self
            .accepted
            .iter()
            .find(|k| header.kid.as_deref() == Some(k.id.as_str()))
            .ok_or_else(|| invalid("invalid_token", "the access token's key is unknown"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    invalid("token_expired", "the access token has expired")
                }
                _ => invalid("invalid_token", "the access token is not valid"),
            })
    }

    /// The identity an access token stands for.
    pub fn identity(&self, token: &str) -> Result<Identity, ApiError> {
        let claims = self.verify(token)?;
        let bad = || invalid("invalid_token", "the access token is not valid");
        Ok(Identity {
            tenant_id: claims.tid.parse().map_err(|_| bad())?,
            user_id: Some(claims.sub.parse().map_err(|_| bad())?),
            role: Role::parse(&claims.role).ok_or_else(bad)?,
            api_key_id: None,
            scopes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a-secret-of-at-least-thirty-two-bytes!!";
    const B: &str = "another-secret-of-at-least-thirty-two-b";

    #[test]
    fn a_token_verifies_with_its_own_key_or_after_rotation_but_not_with_a_stranger() {
        let old = JwtKeys::new(A, &[]);
        let token = old.issue("u1", "t1", "workspace_admin").unwrap();
        let claims = old.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.tid.as_str()), ("u1", "t1"));
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid,
            Some(key_id(A))
        );
        let rotated = JwtKeys::new(B, &[A.to_string()]);
        assert!(rotated.verify(&token).is_ok(), "previous keys still verify");
        let fresh = rotated.issue("u1", "t1", "agent").unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid,
            Some(key_id(B))
        );
        assert_eq!(
            JwtKeys::new(B, &[]).verify(&token).unwrap_err().code,
            "invalid_token"
        );
    }
}
