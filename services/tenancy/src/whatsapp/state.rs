//! The Embedded Signup `state`: a nonce bound to the tenant and user who
//! started the signup, HMAC-signed and valid ten minutes. It comes back with
//! the code (in the finish call, or in the redirect's query), so a code
//! cannot be attached to another tenant, and in the redirect variant (which
//! carries no bearer token) it is what authenticates the browser.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use aerostic_kit::ApiError;

/// How long a signup may take from start to finish.
pub const STATE_TTL_SECS: i64 = 600;

/// Who started the signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupState {
    /// The tenant.
    pub t: String,
    /// The user.
    pub u: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Randomness, so two starts never share a state.
    pub n: String,
}

/// Signs and opens states.
#[derive(Clone)]
pub struct StateSeal {
    key: [u8; 32],
}

fn invalid() -> ApiError {
    ApiError::invalid_field(
        "state",
        "is not a signup state of yours, or it expired; start again",
    )
}

impl StateSeal {
    /// A seal keyed from the platform's JWT secret (a key of its own).
    pub fn new(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"aerostic embedded signup state|");
        hasher.update(secret);
        Self {
            key: hasher.finalize().into(),
        }
    }

    fn tag(&self, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// A fresh state for `tenant` and `user`.
    pub fn issue(&self, tenant: &str, user: &str) -> String {
        let state = SignupState {
            t: tenant.into(),
            u: user.into(),
            exp: chrono::Utc::now().timestamp() + STATE_TTL_SECS,
            n: aerostic_kit::crypto::KeyRing::random_secret()[..16].to_string(),
        };
        let payload = B64.encode(serde_json::to_vec(&state).expect("serialisable"));
        let tag = self.tag(&payload);
        format!("{payload}.{tag}")
    }

    /// The state's owner, if the signature holds and it has not expired.
    pub fn open(&self, value: &str) -> Result<SignupState, ApiError> {
        let (payload, tag) = value.trim().split_once('.').ok_or_else(invalid)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        let given = B64.decode(tag).map_err(|_| invalid())?;
        mac.verify_slice(&given).map_err(|_| invalid())?;
        let state: SignupState = B64
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(invalid)?;
        if state.exp <= chrono::Utc::now().timestamp() {
            return Err(invalid());
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_opens_only_with_its_key_and_untouched() {
        let seal = StateSeal::new(b"k1");
        let state = seal.issue("t", "u");
        let opened = seal.open(&state).unwrap();
        assert_eq!((opened.t.as_str(), opened.u.as_str()), ("t", "u"));
        assert!(StateSeal::new(b"k2").open(&state).is_err());
        let mut tampered = state.clone();
        tampered.insert(3, 'x');
        assert!(seal.open(&tampered).is_err());
        assert!(seal.open("garbage").is_err());
    }
}
