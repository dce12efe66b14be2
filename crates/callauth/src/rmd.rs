//! The FCC Robocall Mitigation Database (47 CFR 64.6305): its public CSV export, parsed into
//! filings keyed by FRN, and the difference between two snapshots.
//!
//! Since 28 May 2024 every voice and intermediate provider must refuse traffic handed over
//! directly by a provider that is not in the database; vouch checks the immediate upstream
//! provider and the signer by FRN.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vouch_registry::Frn;

/// Most filings accepted in one export (the database held about 9,200 in 2025).
pub const MAX_FILINGS: usize = 200_000;

/// Columns the export must have.
pub const REQUIRED_COLUMNS: [&str; 8] = [
    "number",
    "frn",
    "business_name",
    "implementation",
    "voice_service_provider_choice",
    "gateway_provider_choice",
    "intermediate_provider_choice",
    "last_updated",
];

/// How far a filer has implemented STIR/SHAKEN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// "Complete STIR/SHAKEN Implementation".
    Complete,
    /// "Partial STIR/SHAKEN Implementation - Performing Robocall Mitigation".
    Partial,
    /// "No STIR/SHAKEN Implementation - Performing Robocall Mitigation".
    None,
    /// Another value, kept as written.
    Other(String),
}

impl Implementation {
    fn parse(s: &str) -> Self {
        let l = s.trim().to_ascii_lowercase();
        if l.starts_with("complete") {
            Self::Complete
        } else if l.starts_with("partial") {
            Self::Partial
        } else if l.starts_with("no ") || l == "no" {
            Self::None
        } else {
            Self::Other(s.trim().to_owned())
        }
    }
}

/// One provider's filing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RmdFiling {
    /// The filing's number, e.g. `RMD0004008`.
    pub rmd_number: String,
    /// The filer's FCC Registration Number.
    pub frn: Frn,
    /// The filer's name.
    pub business_name: String,
    /// STIR/SHAKEN implementation.
    pub implementation: Implementation,
    /// Files as a voice service provider.
    pub voice: bool,
    /// Files as a gateway provider.
    pub gateway: bool,
    /// Files as an intermediate provider.
    pub intermediate: bool,
    /// Last update, `YYYY-MM-DD`.
    pub last_updated: String,
}

/// A row of the export that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmdRejection {
    /// Line in the file (the header is line 1).
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Why an export cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RmdError {
    /// The header lacks a required column.
    #[error("the RMD export has no {0:?} column (columns needed: {cols})", cols = REQUIRED_COLUMNS.join(", "))]
    MissingColumn(&'static str),
    /// The file is not CSV.
    #[error("the RMD export is not readable CSV: {0}")]
    Csv(String),
    /// More than [`MAX_FILINGS`] rows.
    #[error("the RMD export has more than {MAX_FILINGS} filings")]
    TooLarge,
}

/// A parsed export: filings by FRN (one per FRN: the latest `last_updated` wins) and the rows
/// that were refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RmdSnapshot {
    /// Filings by FRN.
    pub filings: BTreeMap<Frn, RmdFiling>,
    /// Rows refused.
    pub rejected: Vec<RmdRejection>,
}

/// A yes/no column. Anything but a yes counts as no: the provider choices only describe the
/// filing, and the RMD rule looks at whether the FRN is listed, so an odd value must not cost
/// a provider its listing.
fn yes(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "yes" | "y" | "true" | "1" | "x")
}

/// An FRN as written in the export or by an operator: ten digits, leading zeros optional
/// (spreadsheets drop them).
pub fn frn(s: &str) -> Result<Frn, String> {
    let t = s.trim();
    // Spreadsheets drop FRNs' leading zeros; put them back.
    let padded = if !t.is_empty() && t.len() < 10 && t.bytes().all(|b| b.is_ascii_digit()) {
        format!("{t:0>10}")
    } else {
        t.to_owned()
    };
    padded.parse().map_err(|_| format!("frn {t:?} is not an FCC Registration Number (ten digits)"))
}

/// `last_updated` as `YYYY-MM-DD`: the export writes `YYYY-MM-DD`, sometimes with a time after
/// it (` 10:00:00`, `T10:00:00Z`); spreadsheets turn it into `M/D/YYYY`. A real calendar date,
/// else empty: the date only decides between two filings of one FRN, so a bad one must not
/// cost the provider its listing (an empty date loses to any real one).
fn date(s: &str) -> String {
    let t = s.trim();
    let iso = t.get(..10).filter(|_| t.len() == 10 || t[10..].starts_with([' ', 'T']));
    let parsed = iso
        .and_then(|d| jiff::civil::Date::strptime("%Y-%m-%d", d).ok())
        .or_else(|| jiff::civil::Date::strptime("%m/%d/%Y", t.split(' ').next().unwrap_or(t)).ok());
    parsed.filter(|d| d.year() >= 2000).map(|d| d.to_string()).unwrap_or_default()
}

/// The further FRNs of an `other_frns` cell: the tokens between separators (`,` `;` `|` `/`,
/// spaces, "and") that are FRNs; anything else in the cell ("N/A", "None", notes) is skipped
/// rather than costing the filing its main FRN.
fn other_frns(cell: &str) -> Vec<Frn> {
    cell.split([',', ';', '|', '/', ' ', '\t']).filter_map(|t| frn(t).ok()).collect()
}

impl RmdSnapshot {
    /// Parses the CSV export. Columns are found by name (any order, any case; others ignored).
    /// Cells are read as bytes: text that is not UTF-8 (a Latin-1 business name) is kept with
    /// replacement characters rather than refusing the row. A row is refused (with its line)
    /// only when its FRN is not one: everything else (roles, dates, `other_frns` notes) is
    /// descriptive, and a refused row leaves its provider unlisted, which blocks its calls.
    /// The `other_frns` column, when present, lists further FRNs the same filing covers.
    pub fn parse(bytes: &[u8]) -> Result<Self, RmdError> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| RmdError::Csv(e.to_string()))?
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
            .collect();
        let col = |name: &'static str| header.iter().position(|h| h == name).ok_or(RmdError::MissingColumn(name));
        let idx: Vec<usize> = REQUIRED_COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
        let other = header.iter().position(|h| h == "other_frns");
        let mut out = Self::default();
        let mut record = csv::ByteRecord::new();
        let mut rows = 0usize;
        let mut lines = LineCounter::default();
        loop {
            match rdr.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    out.rejected.push(RmdRejection { line, reason: e.to_string() });
                    if out.rejected.len() > MAX_FILINGS {
                        return Err(RmdError::Csv(e.to_string()));
                    }
                    continue;
                }
            }
            // A blank line between rows is no filing.
            if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            rows += 1;
            if rows > MAX_FILINGS {
                return Err(RmdError::TooLarge);
            }
            let line = lines.line_at(bytes, record.position().map_or(0, |p| p.byte()) as usize);
            let get = |k: usize| String::from_utf8_lossy(record.get(idx[k]).unwrap_or_default()).into_owned();
            let main = match frn(&get(1)) {
                Ok(f) => f,
                Err(reason) => {
                    out.rejected.push(RmdRejection { line, reason });
                    continue;
                }
            };
            let filing = RmdFiling {
                rmd_number: get(0).trim().chars().take(32).collect(),
                frn: main,
                business_name: get(2).trim().chars().take(255).collect(),
                implementation: Implementation::parse(&get(3)),
                voice: yes(&get(4)),
                gateway: yes(&get(5)),
                intermediate: yes(&get(6)),
                last_updated: date(&get(7)),
            };
            let extra = other.and_then(|k| record.get(k)).map(|c| other_frns(&String::from_utf8_lossy(c)));
            for frn in std::iter::once(filing.frn.clone()).chain(extra.into_iter().flatten()) {
                match out.filings.get(&frn) {
                    Some(old) if old.last_updated > filing.last_updated => {}
                    _ => {
                        out.filings.insert(frn.clone(), RmdFiling { frn, ..filing.clone() });
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The line a record starts on, counted from the bytes (the csv reader's own line numbers skip
/// blank lines and CRLF ends). The reader's position is at or before the line break that ends
/// the previous record: breaks are skipped first. Counting goes forward only.
#[derive(Default)]
struct LineCounter {
    at: usize,
    breaks: u64,
}

impl LineCounter {
    fn line_at(&mut self, bytes: &[u8], position: usize) -> u64 {
        let mut start = position.min(bytes.len());
        while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        if start >= self.at {
            self.breaks += bytes[self.at..start].iter().filter(|b| **b == b'\n').count() as u64;
            self.at = start;
        }
        self.breaks + 1
    }
}

/// What changed between two snapshots, by FRN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RmdChanges {
    /// FRNs newly listed.
    pub added: Vec<Frn>,
    /// FRNs no longer listed.
    pub removed: Vec<Frn>,
    /// FRNs whose filing changed.
    pub changed: Vec<Frn>,
}

impl RmdChanges {
    /// The changes from `old` to `new`.
    pub fn between(old: &BTreeMap<Frn, RmdFiling>, new: &BTreeMap<Frn, RmdFiling>) -> Self {
        let mut c = Self::default();
        for (frn, f) in new {
            match old.get(frn) {
                None => c.added.push(frn.clone()),
                Some(o) if o != f => c.changed.push(frn.clone()),
                Some(_) => {}
            }
        }
        c.removed = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\u{feff}number,frn,business_name,business_address,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated,other_frns\n\
        RMD0000001,0012345678,Acme Voice LLC,\"1 Main St, Town\",Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-02,\n\
        RMD0000002,12345679,Beta Tel,x,Partial STIR/SHAKEN Implementation - Performing Robocall Mitigation,No,Yes,Yes,2024-12-01 10:00:00,0000000042\n\
        RMD0000003,ABC,Bad Frn,x,Complete,Yes,No,No,2025-01-01,\n\
        RMD0000004,0000000099,Bad Date,x,No STIR/SHAKEN Implementation - Performing Robocall Mitigation,Yes,No,No,yesterday,\n\
        RMD0000005,0012345678,Acme Voice LLC,x,Complete STIR/SHAKEN Implementation,Yes,No,No,2024-06-01,\n";

    #[test]
    fn parses_the_export() {
        let s = RmdSnapshot::parse(CSV.as_bytes()).unwrap();
        assert_eq!(s.filings.len(), 4, "{s:#?}");
        let acme = &s.filings[&"0012345678".parse().unwrap()];
        assert_eq!(acme.rmd_number, "RMD0000001", "the later filing wins");
        assert_eq!(acme.implementation, Implementation::Complete);
        assert!(acme.voice && !acme.gateway);
        let beta = &s.filings[&"0012345679".parse().unwrap()];
        assert_eq!(beta.last_updated, "2024-12-01");
        assert!(s.filings.contains_key(&"0000000042".parse().unwrap()), "other_frns are covered");
        // Only the row whose FRN is not one is refused; a bad date keeps its filing (undated).
        assert_eq!(s.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), vec![4]);
        assert_eq!(s.filings[&"0000000099".parse().unwrap()].last_updated, "");
    }

    #[test]
    fn odd_cells_do_not_cost_a_provider_its_listing() {
        let csv = b"number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated,other_frns\r\n\
            RMD1,0000000101,T\xe9l\xe9com Sub Co,Complete,Yes,No,No,2025-01-01,N/A\r\n\
            \r\n\
            RMD2,0000000202,\"Multi\nLine, Inc\",Complete,Maybe,No,No,05/28/2024,0000000020 and 0000000021\r\n\
            RMD3,0000000303,Odd Date,Complete,Yes,No,No,2024-13-45,None\r\n\
            RMD4,bad,Bad Frn,Complete,Yes,No,No,2025-01-01,\r\n\
            RMD5,0,Zero Frn,Complete,Yes,No,No,2025-01-01,0000000000\r\n";
        let s = RmdSnapshot::parse(csv).unwrap();
        let f = |n: &str| s.filings.get(&n.parse().unwrap()).cloned();
        assert!(f("0000000101").unwrap().business_name.starts_with('T'), "Latin-1 kept, lossily");
        assert_eq!(f("0000000202").unwrap().last_updated, "2024-05-28", "M/D/YYYY");
        assert!(!f("0000000202").unwrap().voice, "an odd yes/no is no, the filing kept");
        assert!(f("0000000020").is_some() && f("0000000021").is_some(), "FRNs among words");
        assert_eq!(f("0000000303").unwrap().last_updated, "", "not a calendar date: undated");
        assert_eq!(s.filings.len(), 5);
        // The line of the refused row counts the blank line and the quoted line break.
        // A `0` would pad to 0000000000, which the FCC never issues: refused, not matched.
        assert_eq!(s.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), vec![7, 8]);
        assert!(frn("0").is_err() && frn("0000000000").is_err());
    }

    #[test]
    fn missing_columns_and_diff() {
        assert_eq!(RmdSnapshot::parse(b"number,frn\n1,2\n").unwrap_err(), RmdError::MissingColumn("business_name"));
        let a = RmdSnapshot::parse(CSV.as_bytes()).unwrap().filings;
        let mut b = a.clone();
        b.remove(&"0000000042".parse().unwrap());
        if let Some(f) = b.get_mut(&"0012345678".parse().unwrap()) {
            f.business_name = "Acme Voice Inc".into();
        }
        b.insert(
            "0000000007".parse().unwrap(),
            RmdFiling { frn: "0000000007".parse().unwrap(), ..a.values().next().unwrap().clone() },
        );
        let c = RmdChanges::between(&a, &b);
        assert_eq!(c.added, vec!["0000000007".parse().unwrap()]);
        assert_eq!(c.removed, vec!["0000000042".parse().unwrap()]);
        assert_eq!(c.changed, vec!["0012345678".parse().unwrap()]);
    }
}
