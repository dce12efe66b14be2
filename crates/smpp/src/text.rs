//! User data to text, and the user data header's concatenation reference.
//!
//! Content checks read text; SMPP carries bytes whose meaning `data_coding` gives: the GSM
//! 03.38 default alphabet (one septet per octet, unpacked, as SMPP carries it), IA5/ASCII,
//! Latin-1 or UCS-2 (UTF-16BE, surrogate pairs included). Other codings are binary: their
//! bytes are read as Latin-1 so that a link hidden in them is still seen.

/// GSM 03.38 default alphabet, code point by septet (0x1B is the escape to the extension table).
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

fn gsm_extension(septet: u8) -> Option<char> {
    Some(match septet {
        0x0A => '\u{c}',
        0x14 => '^',
        0x28 => '{',
        0x29 => '}',
        0x2F => '\\',
        0x3C => '[',
        0x3D => '~',
        0x3E => ']',
        0x40 => '|',
        0x65 => '€',
        _ => return None,
    })
}

/// How `data_coding` says the bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// GSM 03.38 default alphabet, unpacked.
    Gsm7,
    /// IA5 (ASCII).
    Ascii,
    /// ISO-8859-1.
    Latin1,
    /// UCS-2 / UTF-16BE.
    Ucs2,
    /// 8-bit data.
    Binary,
}

impl Alphabet {
    /// The alphabet a `data_coding` value names (SMPP 3.4 §5.2.19 and the GSM 03.38 coding
    /// groups).
    pub fn of(data_coding: u8) -> Self {
        match data_coding {
            0x00 => Self::Gsm7,
            0x01 => Self::Ascii,
            0x03 => Self::Latin1,
            0x08 => Self::Ucs2,
            // General data coding group 00xx: bits 3-2 give the alphabet.
            0x10..=0x3F => match data_coding & 0x0C {
                0x00 => Self::Gsm7,
                0x08 => Self::Ucs2,
                _ => Self::Binary,
            },
            0xC0..=0xDF => Self::Gsm7,
            0xE0..=0xEF => Self::Ucs2,
            0xF0..=0xFF if data_coding & 0x04 == 0 => Self::Gsm7,
            _ => Self::Binary,
        }
    }
}

/// The text of user data (without its UDH) in `data_coding`; undecodable units become U+FFFD.
pub fn decode_text(data_coding: u8, bytes: &[u8]) -> String {
    match Alphabet::of(data_coding) {
        Alphabet::Gsm7 => {
            let mut s = String::with_capacity(bytes.len());
            let mut escape = false;
            for &b in bytes {
                let septet = b & 0x7f;
                if escape {
                    escape = false;
                    s.push(gsm_extension(septet).unwrap_or(GSM_BASIC[septet as usize]));
                } else if septet == 0x1b {
                    escape = true;
                } else {
                    s.push(GSM_BASIC[septet as usize]);
                }
            }
            s
        }
        Alphabet::Ascii => bytes.iter().map(|&b| if b < 0x80 { b as char } else { '\u{fffd}' }).collect(),
        Alphabet::Latin1 | Alphabet::Binary => bytes.iter().map(|&b| b as char).collect(),
        Alphabet::Ucs2 => {
            let units = bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).map(|r| r.unwrap_or('\u{fffd}')).collect()
        }
    }
}

/// `text` as user data vouch sends itself (a campaign's HELP or STOP answer): the GSM 03.38
/// default alphabet, unpacked, with `data_coding` 0 when every character has a septet there
/// (the extension table included), else UCS-2 with `data_coding` 8. Returns (data_coding,
/// bytes).
pub fn encode_text(text: &str) -> (u8, Vec<u8>) {
    let mut gsm = Vec::with_capacity(text.len());
    for c in text.chars() {
        if let Some(septet) = GSM_BASIC.iter().position(|&g| g == c && c != '\u{1b}') {
            gsm.push(septet as u8);
        } else if let Some(septet) = (0u8..0x80).find(|&s| gsm_extension(s) == Some(c)) {
            gsm.extend([0x1b, septet]);
        } else {
            return (0x08, text.encode_utf16().flat_map(u16::to_be_bytes).collect());
        }
    }
    (0x00, gsm)
}

/// Where a part stands in a concatenated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConcatRef {
    /// The message's reference (8-bit references are widened).
    pub reference: u16,
    /// How many parts.
    pub total: u8,
    /// This part's number, from 1.
    pub seqnum: u8,
}

/// Errors reading a user data header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UdhError {
    /// The header's length runs past the user data.
    #[error("the user data header's length {0} runs past the user data")]
    Truncated(usize),
    /// An information element runs past the header.
    #[error("information element 0x{0:02X} runs past the user data header")]
    ElementTruncated(u8),
}

/// Splits user data that starts with a UDH (esm_class 0x40) into its concatenation
/// reference (IE 0x00, 8-bit, or 0x08, 16-bit), if any, and the rest.
pub fn split_udh(user_data: &[u8]) -> Result<(Option<ConcatRef>, &[u8]), UdhError> {
    let Some(&udhl) = user_data.first() else { return Err(UdhError::Truncated(0)) };
    let end = 1 + udhl as usize;
    let Some(header) = user_data.get(1..end) else { return Err(UdhError::Truncated(udhl as usize)) };
    let mut concat = None;
    let mut i = 0;
    while i < header.len() {
        let iei = header[i];
        let Some(&len) = header.get(i + 1) else { return Err(UdhError::ElementTruncated(iei)) };
        let Some(value) = header.get(i + 2..i + 2 + len as usize) else {
            return Err(UdhError::ElementTruncated(iei));
        };
        match (iei, value) {
            (0x00, [r, total, seq]) => {
                concat = Some(ConcatRef { reference: u16::from(*r), total: *total, seqnum: *seq });
            }
            (0x08, [hi, lo, total, seq]) => {
                concat = Some(ConcatRef { reference: u16::from_be_bytes([*hi, *lo]), total: *total, seqnum: *seq });
            }
            _ => {}
        }
        i += 2 + len as usize;
    }
    Ok((concat, &user_data[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabets() {
        assert_eq!(decode_text(0, b"Hello \x00 \x1b\x65 \x1b\x28x\x1b\x29 @"), "Hello @ € {x} ¡");
        assert_eq!(decode_text(0, &[0x00, 0x02, 0x11]), "@$_");
        assert_eq!(decode_text(1, b"plain"), "plain");
        assert_eq!(decode_text(3, &[0x63, 0x61, 0x66, 0xe9]), "café");
        let ucs2: Vec<u8> = "hé 😀".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode_text(8, &ucs2), "hé 😀");
        assert_eq!(decode_text(8, &[0xd8, 0x00]), "\u{fffd}", "a lone surrogate is replaced");
        assert_eq!(Alphabet::of(0xF1), Alphabet::Gsm7);
        assert_eq!(Alphabet::of(0xF5), Alphabet::Binary);
        assert_eq!(Alphabet::of(0x18), Alphabet::Ucs2);
    }

    #[test]
    fn answers_are_encoded_as_their_data_coding_says() {
        let help = "Acme: help at support@acme.com or {call} 555-0100 €5. Reply STOP";
        let (dc, bytes) = encode_text(help);
        assert_eq!(dc, 0);
        assert!(bytes.contains(&0x00) && !bytes.contains(&b'@'), "@ is septet 0, not 0x40 (¡)");
        assert_eq!(decode_text(dc, &bytes), help);
        let accented = "Dentál — don’t";
        let (dc, bytes) = encode_text(accented);
        assert_eq!(dc, 8, "á, — and ’ have no GSM septet: UCS-2");
        assert_eq!(decode_text(dc, &bytes), accented);
        assert_eq!(decode_text(0, &encode_text("é Ä ß ¿").1), "é Ä ß ¿");
        assert_eq!(encode_text("\u{1b}").0, 8, "the escape is not a character");
    }

    #[test]
    fn udh_references() {
        let (r, rest) = split_udh(&[5, 0, 3, 0x2a, 2, 1, b'h', b'i']).unwrap();
        assert_eq!(r, Some(ConcatRef { reference: 0x2a, total: 2, seqnum: 1 }));
        assert_eq!(rest, b"hi");
        let (r, rest) = split_udh(&[6, 8, 4, 0x12, 0x34, 3, 3, b'x']).unwrap();
        assert_eq!(r, Some(ConcatRef { reference: 0x1234, total: 3, seqnum: 3 }));
        assert_eq!(rest, b"x");
        // Other elements are skipped (a port-addressing IE before the concat IE).
        let (r, _) = split_udh(&[11, 5, 4, 0, 0, 0, 0, 0, 3, 1, 2, 2]).unwrap();
        assert_eq!(r, Some(ConcatRef { reference: 1, total: 2, seqnum: 2 }));
        assert_eq!(split_udh(&[7, 0, 3]), Err(UdhError::Truncated(7)));
        assert_eq!(split_udh(&[3, 0, 3, 1]), Err(UdhError::ElementTruncated(0)));
        assert!(split_udh(&[]).is_err());
    }
}
