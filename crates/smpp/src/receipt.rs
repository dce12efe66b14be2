//! Delivery receipt text (SMPP 3.4 Appendix B): `id:IIII sub:SSS dlvrd:DDD submit date:…
//! done date:… stat:DDDDDDD err:E text:…`. The gateway reads the upstream SMSC's message id
//! from it and rewrites it to the id the ESME was given.

fn find_field<'a>(text: &'a [u8], name: &[u8]) -> Option<(usize, &'a [u8])> {
    let mut at = 0;
    while at + name.len() <= text.len() {
        let starts_word = at == 0 || text[at - 1] == b' ';
        if starts_word && text[at..at + name.len()].eq_ignore_ascii_case(name) {
            let start = at + name.len();
            let end = text[start..].iter().position(|&b| b == b' ').map_or(text.len(), |p| start + p);
            return Some((start, &text[start..end]));
        }
        at += 1;
    }
    None
}

/// The `id:` of a receipt text.
pub fn receipt_id(text: &[u8]) -> Option<&str> {
    find_field(text, b"id:").and_then(|(_, v)| std::str::from_utf8(v).ok()).filter(|v| !v.is_empty())
}

/// The `stat:` of a receipt text (`DELIVRD`, `UNDELIV`, `REJECTD`…).
pub fn receipt_stat(text: &[u8]) -> Option<&str> {
    find_field(text, b"stat:").and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The receipt text with its `id:` replaced by `id`; `None` when it has none.
pub fn rewrite_id(text: &[u8], id: &str) -> Option<Vec<u8>> {
    let (start, old) = find_field(text, b"id:")?;
    let mut out = Vec::with_capacity(text.len() + id.len());
    out.extend_from_slice(&text[..start]);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&text[start + old.len()..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &[u8] =
        b"id:smsc-17 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:Hello";

    #[test]
    fn read_and_rewrite() {
        assert_eq!(receipt_id(R), Some("smsc-17"));
        assert_eq!(receipt_stat(R), Some("DELIVRD"));
        let new = rewrite_id(R, "v0000000000000abc").unwrap();
        assert!(new.starts_with(b"id:v0000000000000abc sub:001"));
        assert!(new.ends_with(b"text:Hello"));
        assert_eq!(receipt_id(b"ID:AbC"), Some("AbC"));
        assert_eq!(receipt_id(b"stat:DELIVRD"), None);
        assert_eq!(receipt_id(b"xid:1"), None, "id: must start a word");
        assert_eq!(rewrite_id(b"no id here", "x"), None);
    }
}
