//! Telephone numbers in E.164 form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::RegistryError;

/// An E.164 telephone number: `+` followed by 8 to 15 digits, the first not `0`.
///
/// Held as its digits in a `u64` (E.164 numbers never start with `0`, so nothing is lost), which
/// makes it the key of the in-memory [`crate::NumberIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TelephoneNumber(u64);

impl TelephoneNumber {
    /// Fewest digits accepted (shortest real E.164 numbers are around 8 digits with country code).
    pub const MIN_DIGITS: usize = 8;
    /// Most digits E.164 allows.
    pub const MAX_DIGITS: usize = 15;

    /// Parses `+<digits>`.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        Self::from_str(s)
    }

    /// The number from its digits, as stored; `None` when it could not be an E.164 number.
    pub fn from_digits(digits: u64) -> Option<Self> {
        let n = digits.checked_ilog10()? as usize + 1;
        (Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&n).then_some(Self(digits))
    }

    /// The digits as an integer (the storage and index key).
    pub fn digits(self) -> u64 {
        self.0
    }

    /// Whether this is a North American Numbering Plan number (`+1` and ten digits).
    pub fn is_nanp(self) -> bool {
        (10_000_000_000..20_000_000_000).contains(&self.0)
    }

    /// Why this number cannot be a 10DLC number (a campaign's), if it cannot. 10DLC is the
    /// North American ten-digit long code: `+1 NPA NXX XXXX` with the area code (NPA) and the
    /// exchange (NXX) starting 2 to 9, an area code that is not an N11 service code (211 to
    /// 911), and not a toll-free area code (toll-free numbers are verified apart from 10DLC).
    pub fn ten_dlc_problem(self) -> Option<&'static str> {
        if !self.is_nanp() {
            return Some("10DLC numbers are North American: +1 and ten digits");
        }
        let national = self.0 - 10_000_000_000;
        let (npa, nxx) = (national / 10_000_000, national / 10_000 % 1_000);
        if npa < 200 || nxx < 200 {
            return Some("the area code and the exchange of a North American number start with 2 to 9");
        }
        if npa % 100 == 11 {
            return Some("an N11 code (211 to 911) is not an area code");
        }
        if matches!(npa, 800 | 833 | 844 | 855 | 866 | 877 | 888) {
            return Some("a toll-free number is not a 10DLC number");
        }
        None
    }
}

impl FromStr for TelephoneNumber {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            RegistryError::field(
                "number",
                format!(
                    "`{}` is not an E.164 number ({why}); write it as + and 8 to 15 digits, e.g. +12025550123",
                    truncate(s)
                ),
            )
        };
        let Some(digits) = s.strip_prefix('+') else {
            return Err(bad("it must start with +"));
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("only digits may follow +"));
        }
        if digits.len() < Self::MIN_DIGITS || digits.len() > Self::MAX_DIGITS {
            return Err(bad("wrong number of digits"));
        }
        if digits.starts_with('0') {
            return Err(bad("country codes do not start with 0"));
        }
        // At most 15 ASCII digits always fit in a u64.
        let value = digits.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'));
        Ok(Self(value))
    }
}

fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(32).collect();
    if s.chars().count() > 32 {
        out.push('…');
    }
    out
}

impl fmt::Display for TelephoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

impl Serialize for TelephoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TelephoneNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for TelephoneNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{7,14}$"))
            .examples([serde_json::json!("+12025550123")])
            .description(Some("E.164 telephone number"))
            .into()
    }
}

impl utoipa::ToSchema for TelephoneNumber {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_dlc_numbers_are_north_american_long_codes() {
        let problem = |s: &str| s.parse::<TelephoneNumber>().unwrap().ten_dlc_problem();
        for ok in ["+12025550100", "+13125550140", "+19895550100", "+12122000000"] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        for bad in [
            "+442071838750",
            "+8613800138000",
            "+1202555010",
            "+10005550100",
            "+11115550100",
            "+12021550100",
            "+12020550100",
            "+19115550100",
            "+14115550100",
            "+18005550100",
            "+18885550100",
        ] {
            assert!(problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn round_trips() {
        let n: TelephoneNumber = "+12025550123".parse().unwrap();
        assert_eq!(n.digits(), 12025550123);
        assert_eq!(n.to_string(), "+12025550123");
        assert!(n.is_nanp());
        assert_eq!(TelephoneNumber::from_digits(12025550123), Some(n));
    }

    #[test]
    fn rejects_non_e164() {
        for bad in [
            "",
            "+",
            "12025550123",
            "+1202555012a",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1 202 555 0123",
            "++12025550123",
        ] {
            assert!(bad.parse::<TelephoneNumber>().is_err(), "{bad} accepted");
        }
        assert_eq!(TelephoneNumber::from_digits(1234567), None);
        assert_eq!(TelephoneNumber::from_digits(0), None);
    }

    proptest::proptest! {
        #[test]
        fn display_parse_identity(d in 10_000_000u64..999_999_999_999_999u64) {
            let n = TelephoneNumber::from_digits(d).unwrap();
            proptest::prop_assert_eq!(n.to_string().parse::<TelephoneNumber>().unwrap(), n);
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = s.parse::<TelephoneNumber>();
        }
    }
}
