//! Masks PII and secrets in free text: phone numbers, emails, bearer tokens,
//! JWTs and API keys. Used by the log writer and for audit text.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z0-9._%+-])[a-z0-9._%+-]*@([a-z0-9.-]+\.[a-z]{2,})\b").unwrap()
});
// A + and 8 to 15 digits (spaces or dashes allowed), or a bare run of 10 to 15
// digits as in Meta's `wa_id`. Dates and times (short runs) are left alone.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\+\d(?:[ \-]?\d){7,14}|\b\d{10,15}\b").unwrap());
static JWT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+").unwrap());
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}").unwrap());
static SECRET_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)("?(?:password|secret|token|access_token|refresh_token|api_key|authorization)"?\s*[:=]\s*"?)([^"\s,}]+)"#)
        .unwrap()
});
static API_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(ak_(?:live|test)_[A-Za-z0-9]{4})[A-Za-z0-9_]+").unwrap());

/// `text` with PII and secrets replaced; borrows when there was nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    if !text
        .bytes()
        .any(|b| b.is_ascii_digit() || b == b'@' || b == b'=' || b == b':' || b == b' ')
    {
        return Cow::Borrowed(text);
    }
    let text = JWT.replace_all(text, "[jwt]");
    let text = own(BEARER.replace_all(&text, "${1}[token]"));
    let text = own(SECRET_FIELD.replace_all(&text, "${1}[redacted]"));
    let text = own(API_KEY.replace_all(&text, "${1}…"));
    let text = own(EMAIL.replace_all(&text, "${1}***@${2}"));
    let text = own(PHONE.replace_all(&text, |c: &Captures<'_>| mask_phone(&c[0])));
    Cow::Owned(text)
}

fn own(c: Cow<'_, str>) -> String {
    c.into_owned()
}

/// A phone number with all but its last two digits hidden: `+*********34`.
pub fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let keep = digits.len().saturating_sub(2);
    let prefix = if phone.starts_with('+') { "+" } else { "" };
    format!(
        "{prefix}{}{}",
        "*".repeat(keep),
        digits[keep..].iter().collect::<String>()
    )
}

/// An email with its local part hidden but the first letter: `a***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_emails_and_tokens_are_hidden() {
        let line = "user alice@example.com phone +14155550123 auth Bearer abcdefghijklmnop \
                    jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature password=hunter22";
        let masked = mask(line);
        for secret in [
            "alice@",
            "4155550123",
            "abcdefghijklmnop",
            "eyJzdWIiOiIxIn0",
            "hunter22",
        ] {
            assert!(!masked.contains(secret), "{secret} leaked in {masked}");
        }
        assert!(masked.contains("a***@example.com"), "{masked}");
        assert!(masked.contains("23"), "{masked}");
    }

    #[test]
    fn bare_wa_ids_are_hidden_but_timestamps_are_not() {
        let masked = mask("from 14155550123 at 2026-11-24T08:51:38Z");
        assert!(!masked.contains("4155550"), "{masked}");
        assert!(masked.contains("2026-11-24T08:51:38Z"), "{masked}");
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert!(matches!(mask("listening"), Cow::Borrowed(_)));
        assert_eq!(mask("port 8080 ready"), "port 8080 ready");
    }

    #[test]
    fn json_secret_fields_are_redacted() {
        let masked = mask(r#"{"password":"s3cret!","name":"x"}"#);
        assert!(!masked.contains("s3cret"), "{masked}");
    }
}
