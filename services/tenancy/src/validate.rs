//! Input parsed once at the edge of the domain: an email is an [`Email`], a
//! password a [`Password`], and every problem is reported per field.

use std::collections::BTreeMap;

use aerostic_kit::ApiError;

/// A syntactically valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and normalises `raw`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address");
        };
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        });
        if local.is_empty()
            || local.len() > 64
            || !domain.contains('.')
            || !labels_ok
            || email.chars().any(char::is_whitespace)
        {
            return Err("must be an email address");
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy: 10 to 128 characters.
pub struct Password(String);

impl Password {
    /// Checks `raw` against the policy.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw.chars().count() {
            0 => Err("is required"),
            1..=9 => Err("must be at least 10 characters"),
            129.. => Err("must be at most 128 characters"),
            _ => Ok(Self(raw.to_string())),
        }
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Collects every field problem before answering, so a client fixes all at once.
#[derive(Default)]
pub struct Problems(BTreeMap<String, String>);

impl Problems {
    /// Records `result`'s error under `field`, returning its value if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, &'static str>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(problem) => {
                self.0.insert(field.to_string(), problem.to_string());
                None
            }
        }
    }

    /// `validation_failed` if anything was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// A trimmed display name of 1 to `max` characters.
pub fn name(raw: &str, max: usize) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        Err("is required")
    } else if name.chars().count() > max {
        Err("is too long")
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@localhost",
            "a b@x.com",
            "ana@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse("long enough pass").is_ok());
    }
}
