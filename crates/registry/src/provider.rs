//! Providers: the companies that register brands (CSPs), carry messages to carriers (DCAs),
//! terminate traffic (carriers) and originate calls (voice service providers).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{RegistryError, Violations};

/// What a provider does in the ecosystem; a provider may have several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Campaign service provider: registers brands and campaigns, sends A2P traffic.
    Csp,
    /// Direct connect aggregator: accepts campaigns, runs the gateway in front of carriers.
    Dca,
    /// Carrier (mobile network operator or terminating provider).
    Carrier,
    /// Voice service provider: signs and verifies calls.
    Voice,
}

impl Role {
    /// The role's name, as in JSON (`csp`, `dca`, `carrier`, `voice`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csp => "csp",
            Self::Dca => "dca",
            Self::Carrier => "carrier",
            Self::Voice => "voice",
        }
    }
}

macro_rules! code_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr, $expect:literal, $pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = RegistryError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(RegistryError::field(
                        $field,
                        format!("`{}` is not valid: expected {}", s.chars().take(24).collect::<String>(), $expect),
                    ))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .description(Some($expect))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn four_alnum(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

code_newtype!(
    /// FCC Registration Number: ten digits, not all zero (the FCC issues no such number, and a
    /// spreadsheet's `0` padded back to ten digits would otherwise match it).
    Frn, "frn", |s| s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) && s != "0000000000", "ten digits, not all zero (the FCC Registration Number)", "^(?!0{10})[0-9]{10}$"
);
code_newtype!(
    /// Operating Company Number: four digits or upper-case letters.
    Ocn, "ocn", four_alnum, "four digits or upper-case letters (the NECA OCN)", "^[0-9A-Z]{4}$"
);
code_newtype!(
    /// SHAKEN Service Provider Code, as in the TNAuthList of the provider's certificate.
    Spc, "spc", four_alnum, "four digits or upper-case letters (the SHAKEN SPC, usually the OCN)", "^[0-9A-Z]{4}$"
);

/// A request to register a provider (`POST /v1/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderRegistration {
    /// The provider's legal name, as filed with the FCC.
    pub legal_name: String,
    /// One or more of `csp`, `dca`, `carrier`, `voice`.
    pub roles: Vec<Role>,
    /// FCC Registration Number; required for `carrier` and `voice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frn: Option<Frn>,
    /// Operating Company Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocn: Option<Ocn>,
    /// SHAKEN Service Provider Code; required for `voice`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spc: Option<Spc>,
}

impl ProviderRegistration {
    /// Checks what serde cannot: names, role combinations, required codes.
    pub fn validate(mut self) -> Result<Self, RegistryError> {
        let mut v = Violations::default();
        self.legal_name = self.legal_name.trim().to_owned();
        if self.legal_name.is_empty() || self.legal_name.chars().count() > 255 {
            v.push("legalName", "must be 1 to 255 characters");
        }
        self.roles.sort();
        let n = self.roles.len();
        self.roles.dedup();
        if self.roles.is_empty() {
            v.push("roles", "name at least one of csp, dca, carrier, voice");
        } else if self.roles.len() != n {
            v.push("roles", "a role is listed twice");
        }
        let needs_frn = self.roles.iter().any(|r| matches!(r, Role::Carrier | Role::Voice));
        if needs_frn && self.frn.is_none() {
            v.push("frn", "carriers and voice service providers must give their FCC Registration Number");
        }
        if self.roles.contains(&Role::Voice) && self.spc.is_none() {
            v.push("spc", "voice service providers must give the SHAKEN SPC their certificates carry");
        }
        v.into_result().map(|()| self)
    }

    /// Whether the provider has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_the_json_names() {
        for r in [Role::Csp, Role::Dca, Role::Carrier, Role::Voice] {
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{}\"", r.as_str()));
        }
    }

    fn reg(json: serde_json::Value) -> Result<ProviderRegistration, String> {
        serde_json::from_value::<ProviderRegistration>(json)
            .map_err(|e| e.to_string())
            .and_then(|r| r.validate().map_err(|e| e.to_string()))
    }

    #[test]
    fn voice_needs_frn_and_spc() {
        let e = reg(serde_json::json!({"legalName": "Acme", "roles": ["voice"]})).unwrap_err();
        assert!(e.contains("frn") && e.contains("spc"), "{e}");
        let ok = reg(
            serde_json::json!({"legalName": " Acme ", "roles": ["voice", "csp"], "frn": "0012345678", "spc": "123A"}),
        )
        .unwrap();
        assert_eq!(ok.legal_name, "Acme");
        assert_eq!(ok.roles, vec![Role::Csp, Role::Voice]);
    }

    #[test]
    fn rejects_unknown_role_and_bad_codes() {
        assert!(
            reg(serde_json::json!({"legalName": "A", "roles": ["tower"]})).unwrap_err().contains("unknown variant")
        );
        assert!(reg(serde_json::json!({"legalName": "A", "roles": ["csp"], "frn": "12"})).is_err());
        assert!(reg(serde_json::json!({"legalName": "A", "roles": ["csp"], "ocn": "12345"})).is_err());
        assert!(reg(serde_json::json!({"legalName": "A", "roles": []})).is_err());
        assert!(reg(serde_json::json!({"legalName": "A", "roles": ["csp", "csp"]})).is_err());
    }
}
