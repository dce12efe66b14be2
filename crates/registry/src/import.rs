//! Bulk number-assignment files: `number,campaignId,dca` rows, an optional header line.

use crate::RegistryError;

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
}

/// One field of an import line as the server reads it: trimmed, then unwrapped from double
/// quotes, then trimmed again.
pub fn import_field(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or(f).trim()
}

/// Whether a first field makes its line a header (only on a request's first line).
pub fn is_import_header(first_field: &str) -> bool {
    first_field.eq_ignore_ascii_case("number")
}

/// Parses CSV rows; `first_line` is the line number of the first byte in the caller's file.
/// A first row whose first field is `number` is a header and skipped; blank lines are skipped.
/// Fields are trimmed and may be wrapped in double quotes (none of the three contains a comma).
pub fn parse_import_csv(body: &[u8], first_line: u64) -> Result<Vec<ImportRow>, RegistryError> {
    let mut rows = Vec::new();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = first_line + i as u64;
        let text = std::str::from_utf8(raw)
            .map_err(|_| RegistryError::field("body", format!("line {line} is not UTF-8 text")))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut fields = text.split(',').map(import_field);
        let number = fields.next().unwrap_or_default();
        if i == 0 && is_import_header(number) {
            continue;
        }
        rows.push(ImportRow {
            line,
            number: number.to_owned(),
            campaign_id: fields.next().unwrap_or_default().to_owned(),
            dca_id: fields.next().unwrap_or_default().to_owned(),
        });
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
    }

    #[test]
    fn bad_utf8_is_an_error_naming_the_line() {
        let e = parse_import_csv(b"+1,C1\n\xff\xfe,C2\n", 1).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
