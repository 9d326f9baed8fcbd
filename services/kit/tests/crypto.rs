//! AES-256-GCM envelopes: round trip, binding to tenant and column, rotation.

use aerostic_kit::crypto::{Binding, CryptoError, KeyRing};

const TENANT_A: Binding<'static> = Binding {
    tenant: "tenant-a",
    column: "whatsapp_accounts.access_token",
};

#[test]
fn a_secret_round_trips_and_its_ciphertext_hides_it() {
    let ring = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
    let stored = ring.encrypt(b"EAAG-secret-token", TENANT_A);
    assert!(stored.starts_with("v1:k1:"));
    assert!(!stored.contains("secret"));
    assert_eq!(
        ring.decrypt(&stored, TENANT_A).unwrap(),
        b"EAAG-secret-token"
    );
    // Same plaintext, fresh nonce: ciphertexts differ.
    assert_ne!(ring.encrypt(b"EAAG-secret-token", TENANT_A), stored);
}

#[test]
fn a_ciphertext_moved_to_another_tenant_or_column_does_not_decrypt() {
    let ring = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
    let stored = ring.encrypt(b"token", TENANT_A);
    let other_tenant = Binding {
        tenant: "tenant-b",
        ..TENANT_A
    };
    let other_column = Binding {
        column: "users.password_reset",
        ..TENANT_A
    };
    assert_eq!(
        ring.decrypt(&stored, other_tenant),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(
        ring.decrypt(&stored, other_column),
        Err(CryptoError::Decrypt)
    );
}

#[test]
fn tampered_or_malformed_values_are_refused() {
    let ring = KeyRing::parse(&KeyRing::generate_spec("k1"), None).unwrap();
    let stored = ring.encrypt(b"token", TENANT_A);
    let mut bytes = stored.clone().into_bytes();
    let last = bytes.len() - 3;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        ring.decrypt(&String::from_utf8(bytes).unwrap(), TENANT_A),
        Err(CryptoError::Decrypt)
    );
    assert_eq!(
        ring.decrypt("plaintext", TENANT_A),
        Err(CryptoError::Malformed)
    );
    assert_eq!(
        ring.decrypt("v1:k9:AAAA", TENANT_A),
        Err(CryptoError::UnknownKey("k9".into()))
    );
}

#[test]
fn after_rotation_old_values_still_decrypt_and_new_ones_use_the_new_key() {
    let k1 = KeyRing::generate_spec("k1");
    let old_ring = KeyRing::parse(&k1, None).unwrap();
    let old = old_ring.encrypt(b"old secret", TENANT_A);

    let rotated = KeyRing::parse(&format!("{k1},{}", KeyRing::generate_spec("k2")), None).unwrap();
    assert_eq!(rotated.primary_id(), "k2");
    assert_eq!(rotated.decrypt(&old, TENANT_A).unwrap(), b"old secret");
    let new = rotated.encrypt(b"new secret", TENANT_A);
    assert_eq!(KeyRing::key_id_of(&new), Some("k2"));
    // A process still on the old ring cannot read the new key's values: roll keys out before making them primary.
    assert_eq!(
        old_ring.decrypt(&new, TENANT_A),
        Err(CryptoError::UnknownKey("k2".into()))
    );
}

#[test]
fn a_bad_key_ring_is_refused_with_a_reason() {
    assert!(matches!(
        KeyRing::parse("", None),
        Err(CryptoError::BadKeyRing(_))
    ));
    assert!(matches!(
        KeyRing::parse("k1:short", None),
        Err(CryptoError::BadKeyRing(_))
    ));
    let k1 = KeyRing::generate_spec("k1");
    assert!(matches!(
        KeyRing::parse(&format!("{k1},{k1}"), None),
        Err(CryptoError::BadKeyRing(_))
    ));
    assert!(matches!(
        KeyRing::parse(&k1, Some("k7")),
        Err(CryptoError::BadKeyRing(_))
    ));
}
