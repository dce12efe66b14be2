//! Registry identifiers: a type letter and seven upper-case letters or digits, as TCR's ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::RegistryError;

const BODY_LEN: usize = 7;
const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

macro_rules! registry_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $byte:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 1 + BODY_LEN]);

        impl $name {
            /// The letter every id of this kind starts with.
            pub const PREFIX: char = $prefix;

            /// A new id from 64 random bits (the caller supplies the randomness).
            pub fn from_random(mut bits: u64) -> Self {
                let mut out = [0u8; 1 + BODY_LEN];
                out[0] = $byte;
                for slot in out[1..].iter_mut() {
                    *slot = ALPHABET[(bits % 36) as usize];
                    bits /= 36;
                }
                Self(out)
            }

            /// The id packed into 64 bits (its eight ASCII bytes), for lock-free storage.
            pub fn to_u64(self) -> u64 {
                u64::from_le_bytes(self.0)
            }

            /// The id from [`Self::to_u64`]'s packing; `None` if the bits are not a valid id.
            pub fn from_u64(bits: u64) -> Option<Self> {
                let b = bits.to_le_bytes();
                let ok = b[0] == $byte && b[1..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
                ok.then_some(Self(b))
            }

            /// Unpacks bits that [`Self::to_u64`] produced (0 is `None`); for the index, which
            /// only ever stores packed valid ids.
            #[allow(dead_code)]
            pub(crate) fn from_packed(bits: u64) -> Option<Self> {
                (bits != 0).then(|| Self(bits.to_le_bytes()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored (see `from_random` and `from_str`).
                std::str::from_utf8(&self.0).unwrap_or("")
            }
        }

        impl FromStr for $name {
            type Err = RegistryError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let b = s.as_bytes();
                let ok = b.len() == 1 + BODY_LEN
                    && b[0] == $byte
                    && b[1..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
                if !ok {
                    return Err(RegistryError::field(
                        $what,
                        format!(
                            "`{}` is not a {} id: expected {} followed by 7 upper-case letters or digits",
                            s.chars().take(24).collect::<String>(),
                            $what,
                            $prefix
                        ),
                    ));
                }
                let mut out = [0u8; 1 + BODY_LEN];
                out.copy_from_slice(b);
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9A-Z]{7}$")))
                    .description(Some(concat!($what, " id")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

registry_id!(
    /// A provider (CSP, DCA, carrier or voice service provider): `P` and seven characters.
    ProviderId, 'P', b'P', "provider"
);
registry_id!(
    /// A brand: `B` and seven characters.
    BrandId, 'B', b'B', "brand"
);
registry_id!(
    /// A campaign: `C` and seven characters.
    CampaignId, 'C', b'C', "campaign"
);
registry_id!(
    /// A spam report: `R` and seven characters.
    ReportId, 'R', b'R', "report"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for bits in [0, 1, 35, 36, u64::MAX, 0xDEAD_BEEF] {
            let id = BrandId::from_random(bits);
            assert_eq!(id.as_str().len(), 8);
            assert_eq!(id.as_str().parse::<BrandId>().unwrap(), id);
        }
        assert_eq!(ProviderId::from_random(0).as_str(), "P0000000");
        let p = ProviderId::from_random(12345);
        assert_eq!(ProviderId::from_u64(p.to_u64()), Some(p));
        assert_eq!(ProviderId::from_u64(BrandId::from_random(1).to_u64()), None);
        assert_eq!(ProviderId::from_u64(0), None);
    }

    #[test]
    fn rejects_wrong_prefix_and_charset() {
        assert!("C1234567".parse::<BrandId>().is_err());
        assert!("b1234567".parse::<BrandId>().is_err());
        assert!("B123456".parse::<BrandId>().is_err());
        assert!("B12345678".parse::<BrandId>().is_err());
        assert!("Babcdefg".parse::<BrandId>().is_err());
        assert!("BÄ123456".parse::<BrandId>().is_err());
    }
}
