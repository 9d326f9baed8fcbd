//! Money: integer minor units of one ISO 4217 currency. No floats anywhere.

use std::fmt;

/// An ISO 4217 currency code (three upper-case letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Parses `USD`, `inr`… (upper-cased).
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let bytes = raw.trim().as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err("must be a three-letter ISO 4217 code");
        }
        let mut code = [0u8; 3];
        for (slot, b) in code.iter_mut().zip(bytes) {
            *slot = b.to_ascii_uppercase();
        }
        Ok(Self(code))
    }

    /// The code, e.g. `USD`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII by construction")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A price split into what the platform earns and the reseller's markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// The platform's price, minor units.
    pub base: i64,
    /// The reseller's markup on it, minor units.
    pub markup: i64,
}

impl Price {
    /// `base` with a markup of `bps` basis points, rounded half up to the
    /// minor unit (a markup never rounds a paid price down to free).
    pub fn with_markup(base: i64, bps: u32) -> Self {
        let markup = (i128::from(base) * i128::from(bps) + 5_000) / 10_000;
        Self {
            base,
            markup: i64::try_from(markup).unwrap_or(i64::MAX),
        }
    }

    /// What the tenant pays.
    pub fn total(&self) -> i64 {
        self.base.saturating_add(self.markup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_letters_upper_cased() {
        assert_eq!(Currency::parse("usd").unwrap().as_str(), "USD");
        for bad in ["", "US", "USDD", "U$D", "12A"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn markup_rounds_half_up_in_integers() {
        assert_eq!(Price::with_markup(100, 1_500).markup, 15);
        assert_eq!(Price::with_markup(3, 1_500).markup, 0); // 0.45
        assert_eq!(Price::with_markup(3, 2_000).markup, 1); // 0.6
        assert_eq!(Price::with_markup(1, 5_000).markup, 1); // 0.5 rounds up
        assert_eq!(Price::with_markup(0, 10_000).total(), 0);
        assert_eq!(Price::with_markup(i64::MAX, 10_000).markup, i64::MAX);
    }
}
