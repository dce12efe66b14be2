//! Canonical JSON: the deterministic encoding of registry events (`docs/EVENTS.md`) and of
//! PASSporT headers and claims (RFC 8225 section 9: keys in code-point order, no white space,
//! integers).
//!
//! Rules: object keys sorted by their UTF-8 bytes (which is
//! code-point order), no white space, integers only (no fractions or exponents), strings escaped
//! as `"`, `\\` and control characters only (`\n`, `\t`… or `\u00XX`), everything else as raw
//! UTF-8. The same value always encodes to the same bytes, whatever serde_json's features.

use serde_json::Value;

/// A value that has no canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalJsonError {
    /// Non-integer numbers have no canonical form here.
    #[error("number {0} is not an integer; only integers have a canonical form")]
    NonInteger(String),
}

/// Encodes `value` canonically.
pub fn to_canonical_json(value: &Value) -> Result<Vec<u8>, CanonicalJsonError> {
    let mut out = Vec::with_capacity(256);
    write(value, &mut out)?;
    Ok(out)
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(CanonicalJsonError::NonInteger(n.to_string()));
            }
        }
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write(&map[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_strips_whitespace() {
        let v = json!({"b": 1, "a": {"z": [true, null], "é": "x\"y\n"}, "A": -3});
        assert_eq!(
            String::from_utf8(to_canonical_json(&v).unwrap()).unwrap(),
            r#"{"A":-3,"a":{"z":[true,null],"é":"x\"y\n"},"b":1}"#
        );
    }

    #[test]
    fn rejects_floats() {
        assert!(to_canonical_json(&json!({"x": 1.5})).is_err());
    }

    proptest::proptest! {
        #[test]
        fn reparses_to_same_value(s in ".{0,20}", k in "[a-z]{1,5}", n in proptest::num::i64::ANY) {
            let v = json!({ k.clone(): [s.clone(), n], "k": {"s": s}});
            let bytes = to_canonical_json(&v).unwrap();
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            proptest::prop_assert_eq!(back, v);
        }
    }
}
