//! The Embedded Signup `state`: a nonce bound to the tenant and user who
//! started the signup, sealed (kit's [`Seal`]) and valid ten minutes. It
//! comes back with the code (in the finish call, or in the redirect's
//! query), so a code cannot be attached to another tenant, and in the
//! redirect variant (which carries no bearer token) it is what authenticates
//! the browser.

use aerostic_kit::ApiError;
use aerostic_kit::seal::Seal;
use serde::{Deserialize, Serialize};

/// How long a signup may take from start to finish.
pub const STATE_TTL_SECS: i64 = 600;

/// Who started the signup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupState {
    /// The tenant.
    pub t: String,
    /// The user.
    pub u: String,
    /// Randomness, so two starts never share a state.
    pub n: String,
}

/// Issues and opens states.
#[derive(Clone)]
pub struct StateSeal(Seal);

fn invalid() -> ApiError {
    ApiError::invalid_field(
        "state",
        "is not a signup state of yours, or it expired; start again",
    )
}

impl StateSeal {
    /// A seal keyed from the platform's JWT secret (a purpose of its own).
    pub fn new(secret: &[u8]) -> Self {
        Self(Seal::new(secret, b"aerostic embedded signup state v1"))
    }

    /// A fresh state for `tenant` and `user`.
    pub fn issue(&self, tenant: &str, user: &str) -> String {
        let state = SignupState {
            t: tenant.into(),
            u: user.into(),
            n: aerostic_kit::crypto::KeyRing::random_secret()[..16].to_string(),
        };
        self.0.seal(&state, STATE_TTL_SECS)
    }

    /// The state's owner, if the signature holds and it has not expired.
    pub fn open(&self, value: &str) -> Result<SignupState, ApiError> {
        self.0.open(value).ok_or_else(invalid)
    }

    /// The state, if it was issued to exactly this tenant and user.
    pub fn open_for(&self, value: &str, tenant: &str, user: &str) -> Result<SignupState, ApiError> {
        let state = self.open(value)?;
        if state.t == tenant && state.u == user {
            Ok(state)
        } else {
            Err(invalid())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_opens_only_for_its_owner() {
        let seal = StateSeal::new(b"k1");
        let state = seal.issue("t", "u");
        assert!(seal.open_for(&state, "t", "u").is_ok());
        assert!(seal.open_for(&state, "t", "other").is_err());
        assert!(seal.open_for(&state, "other", "u").is_err());
        assert!(StateSeal::new(b"k2").open(&state).is_err());
    }
}
