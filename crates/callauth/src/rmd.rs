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

fn yes(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "x" => Ok(true),
        "no" | "n" | "false" | "0" | "" => Ok(false),
        other => Err(format!("{other:?} is not yes or no")),
    }
}

fn frn(s: &str) -> Result<Frn, String> {
    let t = s.trim();
    // Spreadsheets drop FRNs' leading zeros; put them back.
    let padded = if !t.is_empty() && t.len() < 10 && t.bytes().all(|b| b.is_ascii_digit()) {
        format!("{t:0>10}")
    } else {
        t.to_owned()
    };
    padded.parse().map_err(|_| format!("frn {t:?} is not an FCC Registration Number (ten digits)"))
}

fn date(s: &str) -> Result<String, String> {
    let t = s.trim();
    // The export writes YYYY-MM-DD, sometimes with a time after it.
    let d = t.get(..10).unwrap_or(t);
    let b = d.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if ok { Ok(d.to_owned()) } else { Err(format!("last_updated {t:?} is not a date YYYY-MM-DD")) }
}

impl RmdSnapshot {
    /// Parses the CSV export. Columns are found by name (any order, any case; others ignored).
    /// A row with a bad FRN or date is refused with its line; the `other_frns` column, when
    /// present, lists further FRNs the same filing covers.
    pub fn parse(bytes: &[u8]) -> Result<Self, RmdError> {
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let header: Vec<String> = rdr
            .headers()
            .map_err(|e| RmdError::Csv(e.to_string()))?
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let col = |name: &'static str| header.iter().position(|h| h == name).ok_or(RmdError::MissingColumn(name));
        let idx: Vec<usize> = REQUIRED_COLUMNS.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
        let other_frns = header.iter().position(|h| h == "other_frns");
        let mut out = Self::default();
        for (i, record) in rdr.records().enumerate() {
            let line = i as u64 + 2;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    out.rejected.push(RmdRejection { line, reason: e.to_string() });
                    continue;
                }
            };
            if i >= MAX_FILINGS {
                return Err(RmdError::TooLarge);
            }
            let get = |k: usize| record.get(idx[k]).unwrap_or_default();
            let parsed = (|| -> Result<Vec<RmdFiling>, String> {
                let filing = RmdFiling {
                    rmd_number: get(0).trim().chars().take(32).collect(),
                    frn: frn(get(1))?,
                    business_name: get(2).trim().chars().take(255).collect(),
                    implementation: Implementation::parse(get(3)),
                    voice: yes(get(4)).map_err(|e| format!("voice_service_provider_choice: {e}"))?,
                    gateway: yes(get(5)).map_err(|e| format!("gateway_provider_choice: {e}"))?,
                    intermediate: yes(get(6)).map_err(|e| format!("intermediate_provider_choice: {e}"))?,
                    last_updated: date(get(7))?,
                };
                let mut all = vec![filing.clone()];
                if let Some(o) = other_frns.and_then(|k| record.get(k)) {
                    for extra in o.split([',', ';', ' ']).filter(|s| !s.trim().is_empty()) {
                        all.push(RmdFiling { frn: frn(extra)?, ..filing.clone() });
                    }
                }
                Ok(all)
            })();
            match parsed {
                Ok(filings) => {
                    for f in filings {
                        match out.filings.get(&f.frn) {
                            Some(old) if old.last_updated > f.last_updated => {}
                            _ => {
                                out.filings.insert(f.frn.clone(), f);
                            }
                        }
                    }
                }
                Err(reason) => out.rejected.push(RmdRejection { line, reason }),
            }
        }
        Ok(out)
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
        assert_eq!(s.filings.len(), 3, "{s:#?}");
        let acme = &s.filings[&"0012345678".parse().unwrap()];
        assert_eq!(acme.rmd_number, "RMD0000001", "the later filing wins");
        assert_eq!(acme.implementation, Implementation::Complete);
        assert!(acme.voice && !acme.gateway);
        let beta = &s.filings[&"0012345679".parse().unwrap()];
        assert_eq!(beta.last_updated, "2024-12-01");
        assert!(s.filings.contains_key(&"0000000042".parse().unwrap()), "other_frns are covered");
        assert_eq!(s.rejected.iter().map(|r| r.line).collect::<Vec<_>>(), vec![4, 5]);
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
