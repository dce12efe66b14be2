//! TNAuthList (RFC 8226 section 9, extension 1.3.6.1.5.5.7.1.26): what a STIR certificate
//! authorises its holder to sign for.
//!
//! ```text
//! TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
//! TNEntry ::= CHOICE {
//!   spc   [0] ServiceProviderCode,          -- IA5String
//!   range [1] TelephoneNumberRange,         -- SEQUENCE { start TelephoneNumber, count INTEGER (2..MAX), ... }
//!   one   [2] TelephoneNumber }             -- IA5String (SIZE (1..15)) (FROM ("0123456789#*"))
//! ```
//!
//! The module uses EXPLICIT tags, so the SPC "1234" is `30 08 A0 06 16 04 31 32 33 34`. SHAKEN
//! end-entity certificates carry exactly one SPC entry (ATIS-1000080); delegate certificates
//! (RFC 9060) carry numbers and ranges.

use der::asn1::{ContextSpecific, Ia5StringRef};
use der::{Decode, Encode, Reader, Sequence, TagMode, TagNumber};

use crate::ShakenError;

/// The TNAuthList extension's OID.
pub const TN_AUTH_LIST_OID: &str = "1.3.6.1.5.5.7.1.26";

/// One authorisation in a TNAuthList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TnEntry {
    /// A service provider code (SHAKEN: the STI-PA-assigned SPC, usually the OCN).
    Spc(String),
    /// `count` consecutive numbers from `start`.
    Range {
        /// The first number.
        start: String,
        /// How many numbers (at least 2).
        count: u64,
    },
    /// One telephone number.
    One(String),
}

/// A decoded TNAuthList.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TnAuthList {
    entries: Vec<TnEntry>,
}

#[derive(Sequence)]
struct RangeDer<'a> {
    start: Ia5StringRef<'a>,
    count: u64,
}

/// At most this many entries are decoded (a certificate is bounded, but a fuzzer is not).
const MAX_ENTRIES: usize = 4096;

/// RFC 8226's TelephoneNumber: the PASSporT canonical form (1-15 of `0-9 * #`).
fn tn_ok(tn: &str) -> bool {
    crate::Tn::from_canonical(tn).is_ok()
}

impl TnAuthList {
    /// A list of one SPC (what a SHAKEN end-entity certificate carries).
    pub fn spc(spc: impl Into<String>) -> Self {
        Self { entries: vec![TnEntry::Spc(spc.into())] }
    }

    /// A list of the given entries.
    pub fn new(entries: Vec<TnEntry>) -> Self {
        Self { entries }
    }

    /// The entries, in certificate order.
    pub fn entries(&self) -> &[TnEntry] {
        &self.entries
    }

    /// The SPC entries' values.
    pub fn spcs(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            TnEntry::Spc(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The one SPC of a SHAKEN end-entity certificate: exactly one entry, an SPC, non-empty.
    pub fn single_spc(&self) -> Result<&str, ShakenError> {
        match self.entries.as_slice() {
            [TnEntry::Spc(s)] if !s.is_empty() => Ok(s),
            [TnEntry::Spc(_)] => Err(ShakenError::TnAuthList("the SPC is empty".into())),
            [] => Err(ShakenError::TnAuthList("no entries".into())),
            [_] => Err(ShakenError::TnAuthList("the entry is a telephone number or range, not an SPC".into())),
            many => Err(ShakenError::TnAuthList(format!("{} entries; SHAKEN allows exactly one SPC", many.len()))),
        }
    }

    /// Decodes the extension value (the DER inside the extension's OCTET STRING). Rejects
    /// trailing bytes, an empty list, unknown entry tags, numbers outside RFC 8226's alphabet or
    /// length and range counts below 2.
    pub fn from_der(bytes: &[u8]) -> Result<Self, ShakenError> {
        let bad = |e: der::Error| ShakenError::TnAuthList(format!("not DER: {e}"));
        let mut reader = der::SliceReader::new(bytes).map_err(bad)?;
        let entries = reader
            .sequence(|seq| {
                let mut entries = Vec::new();
                while !seq.is_finished() {
                    if entries.len() == MAX_ENTRIES {
                        return Err(der::Tag::Sequence.length_error().into());
                    }
                    let field: ContextSpecific<der::Any> = ContextSpecific::decode(seq)?;
                    entries.push((field.tag_number, field.value));
                }
                Ok(entries)
            })
            .map_err(bad)?;
        reader.finish().map_err(bad)?;
        if entries.is_empty() {
            return Err(ShakenError::TnAuthList("the list is empty".into()));
        }
        let mut out = Vec::with_capacity(entries.len());
        for (tag, inner) in entries {
            let entry = match tag.value() {
                0 => TnEntry::Spc(inner.decode_as::<Ia5StringRef<'_>>().map_err(bad)?.as_str().to_owned()),
                1 => {
                    let r: RangeDer<'_> = inner.decode_as().map_err(bad)?;
                    let start = r.start.as_str();
                    if !tn_ok(start) {
                        return Err(ShakenError::TnAuthList(format!(
                            "range start {start:?} is not a telephone number"
                        )));
                    }
                    if r.count < 2 {
                        return Err(ShakenError::TnAuthList(format!("range count {} is below 2", r.count)));
                    }
                    TnEntry::Range { start: start.to_owned(), count: r.count }
                }
                2 => {
                    let tn = inner.decode_as::<Ia5StringRef<'_>>().map_err(bad)?.as_str().to_owned();
                    if !tn_ok(&tn) {
                        return Err(ShakenError::TnAuthList(format!("{tn:?} is not a telephone number")));
                    }
                    TnEntry::One(tn)
                }
                n => return Err(ShakenError::TnAuthList(format!("unknown entry tag [{n}]"))),
            };
            out.push(entry);
        }
        Ok(Self { entries: out })
    }

    /// Encodes the list as DER (the extension value).
    pub fn to_der(&self) -> Result<Vec<u8>, ShakenError> {
        let bad = |e: der::Error| ShakenError::TnAuthList(format!("cannot encode: {e}"));
        let ia5 = |s: &str| Ia5StringRef::new(s).map_err(bad).map(|v| v.to_der()).and_then(|r| r.map_err(bad));
        let mut fields: Vec<ContextSpecific<der::Any>> = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let (n, inner) = match e {
                TnEntry::Spc(s) => (0, ia5(s)?),
                TnEntry::Range { start, count } => (
                    1,
                    RangeDer { start: Ia5StringRef::new(start).map_err(bad)?, count: *count }.to_der().map_err(bad)?,
                ),
                TnEntry::One(tn) => (2, ia5(tn)?),
            };
            fields.push(ContextSpecific {
                tag_number: TagNumber(n),
                tag_mode: TagMode::Explicit,
                value: der::Any::from_der(&inner).map_err(bad)?,
            });
        }
        fields.to_der().map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    #[test]
    fn decodes_and_encodes_the_rfc_8226_spc_form() {
        let der = [0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, b'1', b'2', b'3', b'4'];
        let list = TnAuthList::from_der(&der).unwrap();
        assert_eq!(list, TnAuthList::spc("1234"));
        assert_eq!(list.single_spc().unwrap(), "1234");
        assert_eq!(list.to_der().unwrap(), der);
        // A production certificate's list (Charter, "SHAKEN 5606").
        let prod = [0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, 0x35, 0x36, 0x30, 0x36];
        assert_eq!(TnAuthList::from_der(&prod).unwrap().single_spc().unwrap(), "5606");
    }

    #[test]
    fn rejects_what_rfc_8226_does_not_allow() {
        for (der, why) in [
            (&[0x30, 0x00][..], "empty list"),
            (&[0x16, 0x04, b'1', b'2', b'3', b'4'][..], "a bare IA5String (libstirshaken's test certificates)"),
            (&[0x30, 0x06, 0x80, 0x04, b'1', b'2', b'3', b'4'][..], "an IMPLICIT tag"),
            (&[0x30, 0x08, 0xA3, 0x06, 0x16, 0x04, b'1', b'2', b'3', b'4'][..], "unknown tag [3]"),
            (&[0x30, 0x08, 0xA2, 0x06, 0x16, 0x04, b'1', b'2', b'x', b'4'][..], "a letter in a number"),
            (&[0x30, 0x08, 0xA0, 0x06, 0x16, 0x04, b'1', b'2', b'3', b'4', 0x00][..], "trailing bytes"),
            (&[0x30, 0x09, 0xA0, 0x06, 0x16, 0x04, b'1', b'2', b'3', b'4'][..], "a bad length"),
        ] {
            assert!(TnAuthList::from_der(der).is_err(), "{why} was accepted");
        }
        let one = TnAuthList::new(vec![TnEntry::One("12025550123".into())]);
        assert!(one.single_spc().is_err());
        let two = TnAuthList::new(vec![TnEntry::Spc("1234".into()), TnEntry::Spc("5678".into())]);
        assert!(two.single_spc().is_err());
        assert!(TnAuthList::spc("").single_spc().is_err());
    }

    proptest::proptest! {
        #[test]
        fn round_trips(entries in proptest::collection::vec(
            proptest::prop_oneof![
                "[A-Z0-9]{0,8}".prop_map(TnEntry::Spc),
                "[0-9#*]{1,15}".prop_map(TnEntry::One),
                ("[0-9]{1,15}", 2u64..1_000_000).prop_map(|(start, count)| TnEntry::Range { start, count }),
            ],
            1..6,
        )) {
            let list = TnAuthList::new(entries);
            let der = list.to_der().unwrap();
            proptest::prop_assert_eq!(TnAuthList::from_der(&der).unwrap(), list);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = TnAuthList::from_der(&bytes);
        }
    }
}
