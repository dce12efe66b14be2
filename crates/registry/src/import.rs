//! Bulk number-assignment files: `number,campaignId,dca` rows, an optional header line.

use std::collections::HashMap;

use crate::RegistryError;

/// The byte order mark Excel writes at the start of a "CSV UTF-8" file.
const BOM: char = '\u{feff}';

/// One row of a bulk import, as read from the file (checked later, row by row, so that every
/// bad row is reported with its reason instead of failing the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Line in the file (1-based), for the report.
    pub line: u64,
    /// The number as written.
    pub number: String,
    /// The campaign id as written.
    pub campaign_id: String,
    /// The DCA id as written (must be the campaign's DCA; may be empty).
    pub dca_id: String,
    /// The fields after the third, as read (empty for a well-formed row). A row with a
    /// non-empty one is refused: [`ImportRow::refusal`].
    pub extra: Vec<String>,
    /// The line of an earlier row of the same body with the same number, campaign and DCA
    /// (neither row with extra fields): this row is decided as that one was.
    pub repeats: Option<u64>,
}

impl ImportRow {
    /// Why this row is refused before the registry is asked: a non-empty field after the
    /// third (the file would otherwise lose what it says). Empty trailing fields, which
    /// spreadsheets write to pad rows, are not a reason.
    pub fn refusal(&self) -> Option<String> {
        let (i, field) = self.extra.iter().enumerate().find(|(_, f)| !f.is_empty())?;
        Some(format!("unexpected field {} `{field}`: a row is number,campaignId,dca and nothing after them", i + 4))
    }
}

/// Whether `c` is trimmed from import fields: white space, and the byte order mark (which a
/// client that sends the file's first line in a later request leaves at a line's start).
fn trimmed(c: char) -> bool {
    c.is_whitespace() || c == BOM
}

/// One field of an import line as the server reads it: trimmed (of white space and a byte
/// order mark), then unwrapped from double quotes, then trimmed again.
pub fn import_field(field: &str) -> &str {
    let f = field.trim_matches(trimmed);
    f.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(f).trim()
}

/// Whether a first field makes its line a header (only on a request's first line).
pub fn is_import_header(first_field: &str) -> bool {
    first_field.eq_ignore_ascii_case("number")
}

/// Parses CSV rows; `first_line` is the line number of the first byte in the caller's file.
/// A UTF-8 byte order mark at the start is skipped; a first row whose first field is `number`
/// is a header and skipped; blank lines are skipped. Fields are trimmed and may be wrapped in
/// double quotes (none of the three contains a comma). Every other line is a row: one with
/// fields after the third keeps them in [`ImportRow::extra`], and one that repeats an earlier
/// row names it in [`ImportRow::repeats`].
pub fn parse_import_csv(body: &[u8], first_line: u64) -> Result<Vec<ImportRow>, RegistryError> {
    let body = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
    let mut rows = Vec::new();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = first_line.saturating_add(i as u64);
        let text = std::str::from_utf8(raw)
            .map_err(|_| RegistryError::field("body", format!("line {line} is not UTF-8 text")))?;
        let text = text.trim_matches(trimmed);
        if text.is_empty() {
            continue;
        }
        let mut fields = text.split(',').map(import_field);
        let number = fields.next().unwrap_or_default();
        if i == 0 && is_import_header(number) {
            continue;
        }
        let campaign_id = fields.next().unwrap_or_default().to_owned();
        let dca_id = fields.next().unwrap_or_default().to_owned();
        let extra: Vec<String> = fields.map(str::to_owned).collect();
        rows.push(ImportRow { line, number: number.to_owned(), campaign_id, dca_id, extra, repeats: None });
    }
    // (number, campaign, dca) of each row without extra fields → the first line with them.
    let mut first: HashMap<(&str, &str, &str), u64> = HashMap::with_capacity(rows.len());
    let mut repeats = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.refusal().is_none() {
            let key = (row.number.as_str(), row.campaign_id.as_str(), row.dca_id.as_str());
            match first.get(&key) {
                Some(&line) => repeats.push((i, line)),
                None => {
                    first.insert(key, row.line);
                }
            }
        }
    }
    for (i, line) in repeats {
        if let Some(row) = rows.get_mut(i) {
            row.repeats = Some(line);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blank_lines_and_line_numbers() {
        let rows = parse_import_csv(
            b"number,campaignId,dca\r\n+12025550123,C0000001,P0000001\n\n \"+12025550124\" , C0000001\n",
            10,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[0].number.as_str(), rows[0].dca_id.as_str()), (11, "+12025550123", "P0000001"));
        assert_eq!((rows[1].line, rows[1].number.as_str(), rows[1].dca_id.as_str()), (13, "+12025550124", ""));
        assert!(rows.iter().all(|r| r.extra.is_empty() && r.repeats.is_none() && r.refusal().is_none()));
    }

    #[test]
    fn bad_utf8_is_an_error_naming_the_line() {
        let e = parse_import_csv(b"+1,C1\n\xff\xfe,C2\n", 1).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    /// Excel's "CSV UTF-8" starts the file with a byte order mark: the header behind it is
    /// still a header, and a first data row behind it reads its number.
    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let rows =
            parse_import_csv(b"\xef\xbb\xbfnumber,campaignId,dca\r\n+12025550601,C0000001,P0000001\r\n", 1).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].line, rows[0].number.as_str()), (2, "+12025550601"));
        let rows = parse_import_csv(b"\xef\xbb\xbf+12025550603,C0000001,\n", 1).unwrap();
        assert_eq!(rows[0].number, "+12025550603");
        assert!(parse_import_csv(b"\xef\xbb\xbf\r\n", 1).unwrap().is_empty());
        // A client that sends the file's first line after a leading empty line (vouch import
        // numbers does) reads the header as the server does.
        assert!(is_import_header(import_field("\u{feff}number")));
        let rows = parse_import_csv("\n\u{feff}+12025550604,C0000001,\n".as_bytes(), 0).unwrap();
        assert_eq!(rows[0].number, "+12025550604");
    }

    #[test]
    fn a_row_with_a_fourth_field_is_refused_naming_it() {
        let rows =
            parse_import_csv(b"+12025550631,C0000001,P0000001,extra,cols\n+12025550632,C0000001,P0000001,,\n", 1)
                .unwrap();
        assert_eq!(rows[0].extra, ["extra", "cols"]);
        let why = rows[0].refusal().expect("refused");
        assert!(why.contains("field 4 `extra`"), "{why}");
        // Empty trailing fields (spreadsheets pad rows with them) say nothing more.
        assert_eq!(rows[1].refusal(), None);
        let rows = parse_import_csv(b"+12025550633,C0000001,P0000001,, \"note\"\n", 1).unwrap();
        let why = rows[0].refusal().expect("refused");
        assert!(why.contains("field 5 `note`"), "{why}");
    }

    #[test]
    fn an_identical_row_repeats_the_first_and_a_different_one_does_not() {
        let rows = parse_import_csv(
            b"+12025550610,C0000001,P0000001\n+12025550610,C0000002,P0000001\n \"+12025550610\",C0000001,P0000001\n\
              +12025550610,C0000001,P0000001,x\n+12025550610,C0000001,P0000001\n+12025550610,C0000001,\n",
            1,
        )
        .unwrap();
        let repeats: Vec<Option<u64>> = rows.iter().map(|r| r.repeats).collect();
        assert_eq!(repeats, [None, None, Some(1), None, Some(1), None]);
        assert!(rows[3].refusal().is_some());
    }
}
