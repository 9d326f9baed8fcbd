//! A WhatsApp user's phone number, parsed once at the edge. Meta accepts a
//! recipient with `+`, spaces, dashes, dots and parentheses, and prefixes
//! the *business's* country code to a number without `+` (META_API.md §5):
//! a silent guess we refuse to make. We take every number as international,
//! `+` or not (as Meta's own `wa_id`s are), and keep its digits.

use std::collections::HashMap;
use std::fmt;

/// A phone number in international form (compared, ordered and hashed by
/// its digits).
#[derive(Clone)]
pub struct PhoneNumber {
    digits: String,
    /// As the parse left it: asking its country need not parse it again
    /// (each parse runs libphonenumber's patterns; a send asked twice).
    parsed: phonenumber::PhoneNumber,
}

impl PartialEq for PhoneNumber {
    fn eq(&self, other: &Self) -> bool {
        self.digits == other.digits
    }
}

impl Eq for PhoneNumber {}

impl std::hash::Hash for PhoneNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digits.hash(state);
    }
}

impl PartialOrd for PhoneNumber {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PhoneNumber {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.digits.cmp(&other.digits)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("digits", &self.digits)
            .finish()
    }
}

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotAPhoneNumber(&'static str);

impl PhoneNumber {
    /// Parses `raw`: digits with an optional leading `+`, and spaces,
    /// dashes, dots or parentheses between them; 8 to 15 digits (E.164)
    /// starting with a country calling code.
    pub fn parse(raw: &str) -> Result<Self, NotAPhoneNumber> {
        let raw = raw.trim();
        let body = raw.strip_prefix('+').unwrap_or(raw);
        if body
            .chars()
            .any(|c| !(c.is_ascii_digit() || " -.()".contains(c)))
        {
            return Err(NotAPhoneNumber(
                "only digits, an optional leading +, and spaces, dashes, dots or parentheses",
            ));
        }
        let digits: String = body.chars().filter(char::is_ascii_digit).collect();
        if !(8..=15).contains(&digits.len()) {
            return Err(NotAPhoneNumber(
                "8 to 15 digits, the country calling code first",
            ));
        }
        if digits.starts_with('0') {
            return Err(NotAPhoneNumber(
                "an international number: the country calling code first, not a leading 0",
            ));
        }
        // The calling code's main country as the parse's hint: without one,
        // libphonenumber searches the code's regions for the number's, as
        // `country` does again (for `+1`, pattern after pattern of every
        // North American region). A `+` number keeps its own calling code
        // whatever the hint; the hint only names the national prefix, which
        // the regions of one code share (test below, over every example).
        let hint = main_region(&digits);
        let Ok(parsed) = phonenumber::parse(hint, format!("+{digits}")) else {
            return Err(NotAPhoneNumber("no country has this calling code"));
        };
        Ok(Self { digits, parsed })
    }

    /// Its digits, as Meta's `wa_id` writes them (no `+`).
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// Its country (ISO 3166-1 alpha-2), for prices: the one the number's
    /// pattern belongs to, else the main country of its calling code
    /// (`US` for a `+1` number no North American pattern matches).
    pub fn country(&self) -> Option<String> {
        let parsed = &self.parsed;
        if let Some(id) = parsed.country().id() {
            return Some(id.as_ref().to_string());
        }
        phonenumber::metadata::DATABASE
            .by_code(&parsed.country().code())?
            .first()
            .map(|m| m.id().to_string())
    }
}

/// The main country of the calling code `digits` start with (calling
/// codes are prefix-free), for the codes that several regions share: a
/// code of one region is found at once without a hint.
fn main_region(digits: &str) -> Option<phonenumber::country::Id> {
    static SHARED: std::sync::LazyLock<HashMap<u16, phonenumber::country::Id>> =
        std::sync::LazyLock::new(|| {
            let database = &*phonenumber::metadata::DATABASE;
            (database.iter())
                .filter(|m| m.is_main_country_for_code())
                .filter(|m| {
                    database
                        .region(&m.country_code())
                        .is_some_and(|r| r.len() > 1)
                })
                .filter_map(|m| Some((m.country_code(), m.id().parse().ok()?)))
                .collect()
        });
    (1..=3.min(digits.len()))
        .find_map(|len| SHARED.get(&digits[..len].parse::<u16>().ok()?))
        .copied()
}

impl fmt::Display for PhoneNumber {
    /// `+` and the digits (E.164).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_meta_accepts_come_down_to_the_same_digits() {
        for raw in ["+55 11 98888-7777", "5511988887777", "+55 (11) 98888.7777"] {
            let n = PhoneNumber::parse(raw).unwrap();
            assert_eq!(n.digits(), "5511988887777", "{raw}");
            assert_eq!(n.to_string(), "+5511988887777");
        }
    }

    #[test]
    fn what_is_not_an_international_number_is_refused_with_the_reason() {
        let reason = |raw: &str| PhoneNumber::parse(raw).unwrap_err().to_string();
        assert!(reason("+55 11 9888A").starts_with("only digits"));
        assert!(reason("123").starts_with("8 to 15 digits"));
        assert!(reason("1234567890123456").starts_with("8 to 15 digits"));
        assert!(reason("011 98888 7777").contains("not a leading 0"));
    }

    #[test]
    fn the_hinted_parse_finds_what_a_search_of_every_region_finds() {
        // Every example number of every region, in international form.
        let database = &*phonenumber::metadata::DATABASE;
        let mut checked = 0;
        for meta in database.iter() {
            let d = meta.descriptors();
            let kinds = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
            ];
            for example in kinds.into_iter().flatten().filter_map(|k| k.example()) {
                let raw = format!("+{}{example}", meta.country_code());
                if !(9..=16).contains(&raw.len()) {
                    continue; // outside WhatsApp's 8 to 15 digits: refused either way
                }
                let searched = phonenumber::parse(None, &raw).ok();
                let ours = PhoneNumber::parse(&raw).ok();
                let id = |p: &phonenumber::PhoneNumber| p.country().id();
                assert_eq!(
                    searched.as_ref().map(|p| (p.national().value(), id(p))),
                    ours.as_ref()
                        .map(|p| (p.parsed.national().value(), id(&p.parsed))),
                    "{raw} ({})",
                    meta.id()
                );
                checked += 1;
            }
        }
        assert!(checked > 800, "{checked}");
    }

    #[test]
    fn the_country_is_known_for_prices() {
        let country = |raw: &str| PhoneNumber::parse(raw).unwrap().country();
        assert_eq!(country("5511988887777").as_deref(), Some("BR"));
        assert_eq!(country("447700900123").as_deref(), Some("GB"));
        assert_eq!(country("919876543210").as_deref(), Some("IN"));
        assert_eq!(country("5215512345678").as_deref(), Some("MX"));
        // A test number no North American pattern matches still prices as +1.
        assert_eq!(country("15550001111").as_deref(), Some("US"));
        assert_eq!(country("14165550123").as_deref(), Some("CA"));
        assert_eq!(country("18765550123").as_deref(), Some("JM"));
        assert_eq!(country("447781123456").as_deref(), Some("GG"));
        assert_eq!(country("77012345678").as_deref(), Some("KZ"));
    }
}
