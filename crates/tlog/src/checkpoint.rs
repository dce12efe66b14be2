//! C2SP `tlog-checkpoint`: the signed text of a tree head.
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, base64>
//! [extension lines]
//! ```

use crate::{Hash, TlogError};

/// A tree head as a checkpoint's text states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (e.g. `vouch.example/log`).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The tree head.
    pub root: Hash,
    /// Extension lines, if any (without newlines).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a (verified) note text.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let body = text.strip_suffix('\n').ok_or(TlogError::BadCheckpoint("the text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(TlogError::BadCheckpoint("no origin line"))?;
        let size = lines.next().ok_or(TlogError::BadCheckpoint("no size line"))?;
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
            return Err(TlogError::BadCheckpoint("the size is not a decimal number without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| TlogError::BadCheckpoint("the size is out of range"))?;
        let root = lines
            .next()
            .and_then(Hash::from_base64)
            .ok_or(TlogError::BadCheckpoint("the root hash is not base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(TlogError::BadCheckpoint("an empty extension line"));
        }
        Ok(Self { origin: origin.to_string(), size, root, extensions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMPTY_ROOT;

    #[test]
    fn round_trip_and_rejections() {
        let c = Checkpoint { origin: "vouch.example/log".into(), size: 42, root: EMPTY_ROOT, extensions: vec![] };
        let t = c.to_text();
        assert_eq!(t, "vouch.example/log\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
        assert_eq!(Checkpoint::parse(&t), Ok(c));
        for bad in [
            "o\n42\n",
            "o\n042\nAAAA\n",
            "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n-1\nx\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
