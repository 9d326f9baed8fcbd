//! Short-lived, tamper-evident values: `base64url(json{value, exp}).base64url(tag)`
//! with an HMAC-SHA256 tag under a key derived from a platform secret and a
//! purpose string. The purpose separates uses: a value sealed for one (the
//! mesh's caller identity, an Embedded Signup state) never opens as another.
//! The value is signed, not encrypted: seal nothing secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    #[serde(flatten)]
    value: T,
    exp: i64,
}

/// Seals and opens values for one purpose.
#[derive(Clone)]
pub struct Seal {
    key: [u8; 32],
}

impl Seal {
    /// A seal keyed `HMAC(secret, purpose)`.
    pub fn new(secret: &[u8], purpose: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(purpose);
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("32 bytes");
        mac.update(body.as_bytes());
        mac
    }

    /// `value`, valid for `ttl_secs` from now.
    pub fn seal<T: Serialize>(&self, value: &T, ttl_secs: i64) -> String {
        let envelope = Envelope {
            value,
            exp: chrono::Utc::now().timestamp() + ttl_secs,
        };
        let body = B64.encode(serde_json::to_vec(&envelope).expect("sealed values serialise"));
        let tag = B64.encode(self.mac(&body).finalize().into_bytes());
        format!("{body}.{tag}")
    }

    /// The value, if the tag matches, the shape parses and it has not expired.
    pub fn open<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        let (body, tag) = sealed.trim().split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        self.mac(body).verify_slice(&tag).ok()?;
        let envelope: Envelope<T> = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (envelope.exp >= chrono::Utc::now().timestamp()).then_some(envelope.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claim {
        who: String,
    }

    #[test]
    fn a_value_opens_only_for_its_secret_and_purpose_untouched_and_fresh() {
        let seal = Seal::new(b"secret", b"purpose a");
        let claim = Claim { who: "ana".into() };
        let sealed = seal.seal(&claim, 60);
        assert_eq!(seal.open::<Claim>(&sealed), Some(claim));
        assert!(
            Seal::new(b"other", b"purpose a")
                .open::<Claim>(&sealed)
                .is_none()
        );
        assert!(
            Seal::new(b"secret", b"purpose b")
                .open::<Claim>(&sealed)
                .is_none()
        );
        let (body, tag) = sealed.split_once('.').unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        json["who"] = "eve".into();
        let forged = format!("{}.{tag}", B64.encode(json.to_string()));
        assert!(seal.open::<Claim>(&forged).is_none());
        assert!(
            seal.open::<Claim>(&seal.seal(&Claim { who: "x".into() }, -1))
                .is_none()
        );
        assert!(seal.open::<Claim>("garbage").is_none());
    }
}
