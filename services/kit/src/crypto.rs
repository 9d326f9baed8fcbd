//! AES-256-GCM envelope encryption for secret columns.
//!
//! A ciphertext reads `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id
//! lets keys rotate without downtime: new writes use the primary key, old rows
//! still decrypt with the key they name. The associated data binds a ciphertext
//! to its tenant and column, so a value copied to another tenant's row, or to
//! another column, fails to decrypt instead of leaking.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;

/// Why a value could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The key ring description is unusable.
    #[error("bad key ring: {0}")]
    BadKeyRing(String),
    /// The stored value is not of our envelope format.
    #[error("not an encrypted value of a known format")]
    Malformed,
    /// The key the value names is not in the ring.
    #[error("unknown key id {0}")]
    UnknownKey(String),
    /// Wrong key, wrong tenant or column, or tampered bytes.
    #[error("decryption failed (wrong key, tenant, column or tampered data)")]
    Decrypt,
}

/// Where a ciphertext belongs; becomes the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The owning tenant (or `platform` for platform-wide secrets).
    pub tenant: &'a str,
    /// `table.column`.
    pub column: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("aerostic/{VERSION}|{}|{}", self.tenant, self.column).into_bytes()
    }
}

/// The encryption keys in use: one primary for new writes, all for reads.
#[derive(Clone)]
pub struct KeyRing {
    keys: HashMap<String, Aes256Gcm>,
    primary: String,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("primary", &self.primary)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key,id:base64key`; `primary` defaults to the last key listed.
    pub fn parse(spec: &str, primary: Option<&str>) -> Result<Self, CryptoError> {
        let mut keys = HashMap::new();
        let mut last = None;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, b64) = part
                .split_once(':')
                .ok_or_else(|| CryptoError::BadKeyRing("each key must be id:base64".into()))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(CryptoError::BadKeyRing(format!(
                    "key id {id:?} must be letters, digits, '-' or '_'"
                )));
            }
            let raw = B64
                .decode(b64)
                .map_err(|_| CryptoError::BadKeyRing(format!("key {id} is not base64")))?;
            let cipher = Aes256Gcm::new_from_slice(&raw)
                .map_err(|_| CryptoError::BadKeyRing(format!("key {id} must be 32 bytes")))?;
            if keys.insert(id.to_string(), cipher).is_some() {
                return Err(CryptoError::BadKeyRing(format!("key id {id} listed twice")));
            }
            last = Some(id.to_string());
        }
        let primary = match primary {
            Some(p) => p.to_string(),
            None => last.ok_or_else(|| CryptoError::BadKeyRing("no keys".into()))?,
        };
        if !keys.contains_key(&primary) {
            return Err(CryptoError::BadKeyRing(format!(
                "primary key {primary} is not in the ring"
            )));
        }
        Ok(Self { keys, primary })
    }

    /// A new random key as `id:base64`, for `aerostic keygen` and dev mode.
    pub fn generate_spec(id: &str) -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        format!("{id}:{}", B64.encode(key))
    }

    /// 32 random bytes as URL-safe base64 without padding: a JWT secret, a
    /// control token, anything that must be unguessable and pasteable.
    pub fn random_secret() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The key id new ciphertexts use.
    pub fn primary_id(&self) -> &str {
        &self.primary
    }

    /// Encrypts `plaintext` for `binding` with the primary key.
    pub fn encrypt(&self, plaintext: &[u8], binding: Binding<'_>) -> String {
        let cipher = &self.keys[&self.primary];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &binding.aad(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{VERSION}:{}:{}", self.primary, B64.encode(out))
    }

    /// Decrypts a value written by [`KeyRing::encrypt`] for the same binding.
    pub fn decrypt(&self, stored: &str, binding: Binding<'_>) -> Result<Vec<u8>, CryptoError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::Malformed);
        };
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        let raw = B64.decode(body).map_err(|_| CryptoError::Malformed)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed)?;
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &binding.aad(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// The key id a stored value was written with, to find rows to re-encrypt.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        let mut parts = stored.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(VERSION), Some(id)) => Some(id),
            _ => None,
        }
    }
}
