//! Webhook bodies as Meta writes them: JSON with every non-ASCII character as
//! a lowercase `\uXXXX` escape (surrogate pairs for emoji) and `/` as `\/`,
//! signed over exactly those bytes with HMAC-SHA256 and the legacy HMAC-SHA1.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

struct Escaping;

impl Formatter for Escaping {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            match c {
                '/' => w.write_all(b"\\/")?,
                c if c.is_ascii() => w.write_all(&[c as u8])?,
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        write!(w, "\\u{unit:04x}")?;
                    }
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> std::io::Result<()> {
        serde_json::ser::CompactFormatter.write_char_escape(w, escape)
    }
}

/// `value` as Meta's escaped-unicode JSON.
pub fn escaped_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, Escaping);
    value.serialize(&mut ser).expect("JSON values serialise");
    out
}

/// `X-Hub-Signature-256` for `body`: `sha256=<hex>`.
pub fn signature_256(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Legacy `X-Hub-Signature` for `body`: `sha1=<hex>`.
pub fn signature_sha1(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_becomes_lowercase_escapes_with_surrogate_pairs() {
        let body = escaped_json(&serde_json::json!({"t": "Olá 😮 a/b", "q": "say \"hi\"\n"}));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"q":"say \"hi\"\n","t":"Ol\u00e1 \ud83d\ude2e a\/b"}"#
        );
    }

    #[test]
    fn escaped_bytes_parse_back_to_the_same_value() {
        let value = serde_json::json!({"body": "ação ✓ @ 🎉"});
        let back: serde_json::Value = serde_json::from_slice(&escaped_json(&value)).unwrap();
        assert_eq!(back, value);
    }
}
