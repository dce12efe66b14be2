//! Sanctions screening against a list in OFAC's SDN CSV layout.
//!
//! OFAC publishes `sdn.csv` without a header: `ent_num, SDN_Name, SDN_Type, Program, Title,
//! Call_Sign, Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks`, with `-0-` for empty
//! fields. Only the first four columns matter for screening names.

use serde::Serialize;

use crate::RegistryError;

/// One sanctioned party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SanctionsEntry {
    /// OFAC's entity number (`ent_num`).
    pub uid: u64,
    /// The listed name, as published.
    pub name: String,
    /// `individual`, `vessel`, `aircraft` or empty for entities.
    pub sdn_type: String,
    /// Sanctions programme(s), e.g. `SDGT`.
    pub program: String,
    #[serde(skip)]
    normalised: String,
    #[serde(skip)]
    sorted_tokens: String,
}

/// A screened name that resembles a sanctioned party.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SanctionsMatch {
    /// The listed party.
    pub entry: SanctionsEntry,
    /// The name that was screened.
    pub screened: String,
    /// Similarity from 0 to 1 (Jaro-Winkler over normalised names).
    pub similarity: f64,
}

/// A loaded sanctions list.
#[derive(Debug, Clone, Default)]
pub struct SanctionsList {
    entries: Vec<SanctionsEntry>,
}

/// Similarity at and above which a name is treated as the listed party.
pub const MATCH_THRESHOLD: f64 = 0.93;
/// Similarity at and above which a name is reported as a possible match.
pub const POSSIBLE_MATCH_THRESHOLD: f64 = 0.88;

const STOP_WORDS: &[&str] = &[
    "THE",
    "OF",
    "AND",
    "INC",
    "INCORPORATED",
    "LLC",
    "L",
    "C",
    "LTD",
    "LIMITED",
    "CORP",
    "CORPORATION",
    "CO",
    "COMPANY",
    "SA",
    "SAS",
    "SRL",
    "GMBH",
    "AG",
    "PLC",
    "LLP",
    "LP",
    "PC",
    "PLLC",
    "DBA",
    "NV",
    "BV",
];

/// Upper-cases, drops punctuation and legal-form words, and collapses white space.
pub fn normalise_name(name: &str) -> String {
    let mapped: String = name.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_uppercase() } else { ' ' }).collect();
    mapped.split_whitespace().filter(|w| !STOP_WORDS.contains(w)).collect::<Vec<_>>().join(" ")
}

fn sorted_tokens(normalised: &str) -> String {
    let mut t: Vec<&str> = normalised.split(' ').collect();
    t.sort_unstable();
    t.join(" ")
}

impl SanctionsList {
    /// Parses a list in OFAC SDN CSV layout. Blank lines and the trailing SUB (0x1A) OFAC puts
    /// at the end of the file are skipped; any other malformed row is an error naming its line.
    pub fn from_sdn_csv(bytes: &[u8]) -> Result<Self, RegistryError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
        let mut entries = Vec::new();
        for record in reader.byte_records() {
            let record = record.map_err(|e| RegistryError::SanctionsList {
                line: e.position().map_or(0, |p| p.line()),
                detail: e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let first = record.get(0).unwrap_or_default();
            if record.len() == 1 && first.iter().all(|b| b.is_ascii_whitespace() || *b == 0x1a) {
                continue;
            }
            let text = |i: usize| -> Result<String, RegistryError> {
                let raw = record.get(i).unwrap_or_default();
                let s = std::str::from_utf8(raw).map_err(|_| RegistryError::SanctionsList {
                    line,
                    detail: format!("column {} is not UTF-8", i + 1),
                })?;
                let s = s.trim();
                Ok(if s == "-0-" { String::new() } else { s.to_owned() })
            };
            if record.len() < 4 {
                return Err(RegistryError::SanctionsList {
                    line,
                    detail: format!(
                        "expected at least 4 columns (ent_num, SDN_Name, SDN_Type, Program), found {}",
                        record.len()
                    ),
                });
            }
            let uid = text(0)?.parse::<u64>().map_err(|_| RegistryError::SanctionsList {
                line,
                detail: "ent_num (column 1) must be a whole number".into(),
            })?;
            let name = text(1)?;
            if name.is_empty() {
                return Err(RegistryError::SanctionsList { line, detail: "SDN_Name (column 2) is empty".into() });
            }
            let normalised = normalise_name(&name);
            let sorted = sorted_tokens(&normalised);
            entries.push(SanctionsEntry {
                uid,
                name,
                sdn_type: text(2)?,
                program: text(3)?,
                normalised,
                sorted_tokens: sorted,
            });
        }
        Ok(Self { entries })
    }

    /// How many parties are listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The listed parties whose names resemble `name` at or above
    /// [`POSSIBLE_MATCH_THRESHOLD`], best first.
    pub fn screen(&self, name: &str) -> Vec<SanctionsMatch> {
        let norm = normalise_name(name);
        if norm.is_empty() {
            return Vec::new();
        }
        let sorted = sorted_tokens(&norm);
        let mut out: Vec<SanctionsMatch> = self
            .entries
            .iter()
            .filter_map(|e| {
                let similarity = if norm.len() < 4 || e.normalised.len() < 4 {
                    // Short names only match exactly; fuzzy scores on them mean nothing.
                    if norm == e.normalised { 1.0 } else { 0.0 }
                } else {
                    strsim::jaro_winkler(&norm, &e.normalised).max(strsim::jaro_winkler(&sorted, &e.sorted_tokens))
                };
                (similarity >= POSSIBLE_MATCH_THRESHOLD).then(|| SanctionsMatch {
                    entry: e.clone(),
                    screened: name.to_owned(),
                    similarity,
                })
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "36,\"AEROCARIBBEAN AIRLINES\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Havana, Cuba.\"\n\
306,\"BANCO NACIONAL DE CUBA\",-0- ,\"CUBA\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n\
7157,\"VOLKOV, Ivan Petrovich\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n\
\x1a\n";

    #[test]
    fn parses_sdn_layout() {
        let l = SanctionsList::from_sdn_csv(SAMPLE.as_bytes()).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l.entries[2].sdn_type, "individual");
        assert_eq!(l.entries[0].sdn_type, "");
    }

    #[test]
    fn fuzzy_matches_variants_but_not_strangers() {
        let l = SanctionsList::from_sdn_csv(SAMPLE.as_bytes()).unwrap();
        let m = l.screen("Aerocaribean Airlines, Inc.");
        assert_eq!(m.first().map(|m| m.entry.uid), Some(36));
        assert!(m[0].similarity >= MATCH_THRESHOLD);
        assert_eq!(l.screen("Ivan Petrovich Volkov")[0].entry.uid, 7157);
        assert!(l.screen("Acme Dental Group LLC").is_empty());
        assert!(l.screen("").is_empty());
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = SanctionsList::from_sdn_csv(b"36,\"A\",-0-,\"CUBA\"\nxx,\"B\",-0-,\"CUBA\"\n").unwrap_err();
        assert!(matches!(e, RegistryError::SanctionsList { line: 2, .. }), "{e:?}");
        assert!(SanctionsList::from_sdn_csv(b"1,\"A\"\n").is_err());
        assert!(SanctionsList::from_sdn_csv(b"1,\"\",x,y\n").is_err());
    }
}
