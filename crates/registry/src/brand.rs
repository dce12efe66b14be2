//! Brands: the legal entities responsible for what is sent, with TCR's field names.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::{RegistryError, TelephoneNumber, Violations};

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($wire => Ok($name::$variant),)+ _ => Err(()) }
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum!(
    /// The legal form of a brand.
    EntityType {
        /// Privately held for-profit company.
        PrivateProfit => "PRIVATE_PROFIT",
        /// Publicly traded company.
        PublicProfit => "PUBLIC_PROFIT",
        /// Non-profit organisation.
        NonProfit => "NON_PROFIT",
        /// Government body.
        Government => "GOVERNMENT",
        /// Individual without a tax id of a company.
        SoleProprietor => "SOLE_PROPRIETOR",
    }
);

wire_enum!(
    /// Kind of an alternative business identifier.
    AltBusinessIdType {
        /// None given.
        None => "NONE",
        /// Dun & Bradstreet D-U-N-S number (nine digits).
        Duns => "DUNS",
        /// IRS Global Intermediary Identification Number.
        Giin => "GIIN",
        /// ISO 17442 Legal Entity Identifier.
        Lei => "LEI",
    }
);

wire_enum!(
    /// Stock exchange of a public company.
    StockExchange {
        /// Not listed.
        None => "NONE",
        /// NASDAQ.
        Nasdaq => "NASDAQ",
        /// New York Stock Exchange.
        Nyse => "NYSE",
        /// NYSE American.
        Amex => "AMEX",
        /// NYSE American (alternative code).
        Amx => "AMX",
        /// Australian Securities Exchange.
        Asx => "ASX",
        /// B3 (Brazil).
        B3 => "B3",
        /// Bolsas y Mercados Españoles.
        Bme => "BME",
        /// Bombay Stock Exchange.
        Bse => "BSE",
        /// Frankfurt.
        Fra => "FRA",
        /// Iceland.
        Icex => "ICEX",
        /// Japan Exchange Group.
        Jpx => "JPX",
        /// Johannesburg.
        Jse => "JSE",
        /// Korea Exchange.
        Krx => "KRX",
        /// London.
        Lon => "LON",
        /// National Stock Exchange of India.
        Nse => "NSE",
        /// Nasdaq Nordic.
        Omx => "OMX",
        /// Hong Kong.
        Sehk => "SEHK",
        /// Singapore.
        Sgx => "SGX",
        /// Shanghai.
        Sse => "SSE",
        /// Stockholm.
        Sto => "STO",
        /// SIX Swiss Exchange.
        Swx => "SWX",
        /// Shenzhen.
        Szse => "SZSE",
        /// Toronto.
        Tsx => "TSX",
        /// Taiwan.
        Twse => "TWSE",
        /// Vienna.
        Vse => "VSE",
        /// Another exchange.
        Other => "OTHER",
    }
);

wire_enum!(
    /// Industry of a brand.
    Vertical {
        /// Professional services.
        Professional => "PROFESSIONAL",
        /// Real estate.
        RealEstate => "REAL_ESTATE",
        /// Healthcare.
        Healthcare => "HEALTHCARE",
        /// Human resources, staffing.
        HumanResources => "HUMAN_RESOURCES",
        /// Energy and utilities.
        Energy => "ENERGY",
        /// Entertainment.
        Entertainment => "ENTERTAINMENT",
        /// Retail.
        Retail => "RETAIL",
        /// Transportation and logistics.
        Transportation => "TRANSPORTATION",
        /// Agriculture.
        Agriculture => "AGRICULTURE",
        /// Insurance.
        Insurance => "INSURANCE",
        /// Postal and delivery.
        Postal => "POSTAL",
        /// Education.
        Education => "EDUCATION",
        /// Hospitality and travel.
        Hospitality => "HOSPITALITY",
        /// Financial services.
        Financial => "FINANCIAL",
        /// Political.
        Political => "POLITICAL",
        /// Gambling and lottery.
        Gambling => "GAMBLING",
        /// Legal.
        Legal => "LEGAL",
        /// Construction and manufacturing of buildings.
        Construction => "CONSTRUCTION",
        /// Non-governmental organisation.
        Ngo => "NGO",
        /// Manufacturing.
        Manufacturing => "MANUFACTURING",
        /// Government.
        Government => "GOVERNMENT",
        /// Technology.
        Technology => "TECHNOLOGY",
        /// Communication and media.
        Communication => "COMMUNICATION",
    }
);

wire_enum!(
    /// How far a brand's identity has been established.
    IdentityStatus {
        /// A sole proprietor's own statement; not verified.
        SelfDeclared => "SELF_DECLARED",
        /// Vetting failed; the brand cannot run campaigns until fixed.
        Unverified => "UNVERIFIED",
        /// Identity checks passed; standard campaigns allowed.
        Verified => "VERIFIED",
        /// Identity checks passed with strong corroborating identifiers; higher throughput.
        VettedVerified => "VETTED_VERIFIED",
    }
);

impl IdentityStatus {
    /// Whether a brand with this status may run standard campaigns.
    pub fn is_verified(self) -> bool {
        matches!(self, Self::Verified | Self::VettedVerified)
    }
}

wire_enum!(
    /// The brand's relationship to its CSP.
    BrandRelationship {
        /// Basic account.
        BasicAccount => "BASIC_ACCOUNT",
        /// Small account.
        SmallAccount => "SMALL_ACCOUNT",
        /// Medium account.
        MediumAccount => "MEDIUM_ACCOUNT",
        /// Large account.
        LargeAccount => "LARGE_ACCOUNT",
        /// Key account.
        KeyAccount => "KEY_ACCOUNT",
    }
);

/// A brand as a CSP submits it (`POST /v1/brands`, `PUT /v1/brands/{id}`), in TCR's field names.
///
/// Only the shape is checked here; whether the identity holds up is [`crate::vet`]'s job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandRequest {
    /// Legal form.
    pub entity_type: EntityType,
    /// Contact first name (sole proprietors: the person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Contact last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Name the public knows the brand by (DBA); used as the verified caller name.
    pub display_name: String,
    /// Legal company name (required unless SOLE_PROPRIETOR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Tax id: the nine-digit EIN in the US (`12-3456789` or `123456789`). Confidential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ein: Option<String>,
    /// ISO 3166-1 alpha-2 country that issued `ein`; defaults to `US`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ein_issuing_country: Option<String>,
    /// Business phone, E.164.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<TelephoneNumber>,
    /// Mobile phone, E.164 (sole proprietors: required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<TelephoneNumber>,
    /// Street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province (two letters in the US).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country of the brand.
    pub country: String,
    /// Support e-mail address.
    pub email: String,
    /// Business contact e-mail (public companies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_contact_email: Option<String>,
    /// Ticker symbol (PUBLIC_PROFIT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_symbol: Option<String>,
    /// Exchange of `stockSymbol` (PUBLIC_PROFIT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_exchange: Option<StockExchange>,
    /// IP address the registration came from, if the CSP records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Brand website, `https://…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Relationship to the CSP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_relationship: Option<BrandRelationship>,
    /// Industry.
    pub vertical: Vertical,
    /// DUNS, GIIN or LEI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_business_id: Option<String>,
    /// Kind of `altBusinessId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_business_id_type: Option<AltBusinessIdType>,
    /// The CSP's own reference, unique among its brands (an idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// Free tags for the CSP's own search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<String>,
}

/// A brand request whose shape has been checked and whose text has been trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BrandDetails(BrandRequest);

impl Deref for BrandDetails {
    type Target = BrandRequest;
    fn deref(&self) -> &BrandRequest {
        &self.0
    }
}

impl BrandDetails {
    /// The normalised EIN digits (`123456789`), when `ein` is nine digits with an optional dash.
    pub fn ein_digits(&self) -> Option<String> {
        normalise_ein(self.ein.as_deref()?)
    }

    /// Whether the tax id was issued in the US.
    pub fn ein_is_us(&self) -> bool {
        self.ein_issuing_country.as_deref().unwrap_or("US") == "US"
    }
}

/// `12-3456789` or `123456789` → `123456789`.
pub(crate) fn normalise_ein(ein: &str) -> Option<String> {
    let digits: String = ein.chars().filter(|c| *c != '-').collect();
    let dash_ok = !ein.contains('-') || (ein.len() == 10 && ein.as_bytes()[2] == b'-');
    (dash_ok && digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

fn clean(v: &mut Violations, field: &str, s: &mut String, max: usize) {
    let t = s.trim();
    if t.len() != s.len() {
        *s = t.to_owned();
    }
    if s.chars().count() > max {
        v.push(field, format!("at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        v.push(field, "must not contain control characters");
    }
}

fn clean_opt(v: &mut Violations, field: &str, s: &mut Option<String>, max: usize) {
    if let Some(inner) = s.as_mut() {
        clean(v, field, inner, max);
        if inner.is_empty() {
            *s = None;
        }
    }
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

impl BrandRequest {
    /// The name signed as the brand's verified caller name (`rcd.nam`) once vetting has made
    /// it VETTED_VERIFIED. Vetting establishes the legal name (`companyName`, with its EIN and
    /// a strong identifier), not the free-text `displayName`, so the display name is used only
    /// when it names that company: words of the legal name starting with its first (`Acme` or
    /// `Acme Dental` for `Acme Dental Group LLC`, not `Dental` alone), or the legal name written
    /// together (`CocaCola`), compared without case, punctuation and legal-form words. Initials
    /// are not enough (`Irvine Roofing Services` is not `IRS`). Otherwise the legal name is
    /// signed, so that a display name such as `IRS Collections` is never presented as verified.
    pub fn verified_caller_name(&self) -> &str {
        let Some(company) = self.company_name.as_deref().filter(|c| !c.trim().is_empty()) else {
            return &self.display_name;
        };
        let (display_n, company_n) =
            (crate::sanctions::normalise_name(&self.display_name), crate::sanctions::normalise_name(company));
        let company_words: Vec<&str> = company_n.split(' ').filter(|w| !w.is_empty()).collect();
        let display_words: Vec<&str> = display_n.split(' ').filter(|w| !w.is_empty()).collect();
        let joined = |words: &[&str]| words.concat();
        let names_the_company = !display_words.is_empty()
            && ((display_words.first() == company_words.first()
                && display_words.iter().all(|w| company_words.contains(w)))
                || joined(&display_words) == joined(&company_words));
        if names_the_company { &self.display_name } else { company }
    }

    /// Checks the shape: required fields per entity type, lengths, country codes.
    pub fn validate(mut self) -> Result<BrandDetails, RegistryError> {
        let mut v = Violations::default();
        clean(&mut v, "displayName", &mut self.display_name, 255);
        if self.display_name.is_empty() {
            v.push("displayName", "is required: the name the public knows the brand by");
        }
        clean(&mut v, "country", &mut self.country, 2);
        if !is_country(&self.country) {
            v.push("country", "must be an ISO 3166-1 alpha-2 code such as US");
        }
        clean(&mut v, "email", &mut self.email, 100);
        if self.email.is_empty() {
            v.push("email", "is required");
        }
        for (field, value, max) in [
            ("firstName", &mut self.first_name, 100),
            ("lastName", &mut self.last_name, 100),
            ("companyName", &mut self.company_name, 255),
            ("ein", &mut self.ein, 21),
            ("einIssuingCountry", &mut self.ein_issuing_country, 2),
            ("street", &mut self.street, 100),
            ("city", &mut self.city, 100),
            ("state", &mut self.state, 20),
            ("postalCode", &mut self.postal_code, 10),
            ("businessContactEmail", &mut self.business_contact_email, 100),
            ("stockSymbol", &mut self.stock_symbol, 10),
            ("ipAddress", &mut self.ip_address, 50),
            ("website", &mut self.website, 100),
            ("altBusinessId", &mut self.alt_business_id, 50),
            ("referenceId", &mut self.reference_id, 50),
        ] {
            clean_opt(&mut v, field, value, max);
        }
        if let Some(c) = &self.ein_issuing_country
            && !is_country(c)
        {
            v.push("einIssuingCountry", "must be an ISO 3166-1 alpha-2 code such as US");
        }
        if self.tag.len() > 10 {
            v.push("tag", "at most 10 tags");
        }
        for t in &mut self.tag {
            clean(&mut v, "tag", t, 32);
        }
        if self.entity_type == EntityType::SoleProprietor {
            if self.first_name.is_none() || self.last_name.is_none() {
                v.push("firstName", "sole proprietors must give firstName and lastName");
            }
            if self.mobile_phone.is_none() {
                v.push("mobilePhone", "sole proprietors must give a mobile phone for the one-time-password check");
            }
        } else {
            if self.company_name.is_none() {
                v.push(
                    "companyName",
                    format!("is required for {} brands: the legal name on the tax registration", self.entity_type),
                );
            }
            if self.ein.is_none() {
                v.push("ein", format!("is required for {} brands: the tax id (EIN in the US)", self.entity_type));
            }
        }
        match (&self.alt_business_id, self.alt_business_id_type) {
            (Some(_), None | Some(AltBusinessIdType::None)) => {
                v.push("altBusinessIdType", "say which kind of id altBusinessId is: DUNS, GIIN or LEI")
            }
            (None, Some(t)) if t != AltBusinessIdType::None => {
                v.push("altBusinessId", format!("altBusinessIdType is {t} but no altBusinessId is given"))
            }
            _ => {}
        }
        v.into_result().map(|()| BrandDetails(self))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_verified_caller_name_names_the_vetted_company() {
        let with = |display: &str, company: Option<&str>| {
            let mut b: BrandRequest = serde_json::from_value(acme()).unwrap();
            b.display_name = display.into();
            b.company_name = company.map(Into::into);
            b.verified_caller_name().to_owned()
        };
        let acme = Some("Acme Dental Group LLC");
        for display in ["Acme Dental", "ACME DENTAL GROUP", "Acme Dental Group, LLC", "Acme", "Acme Group"] {
            assert_eq!(with(display, acme), display, "{display}");
        }
        assert_eq!(with("CocaCola", Some("The Coca-Cola Company")), "CocaCola");
        assert_eq!(with("Coca-Cola", Some("The Coca-Cola Company")), "Coca-Cola");
        // Initials and a later word alone are not the company: the legal name instead.
        assert_eq!(with("IRS", Some("Irvine Roofing Services LLC")), "Irvine Roofing Services LLC");
        assert_eq!(with("Services", Some("Irvine Roofing Services LLC")), "Irvine Roofing Services LLC");
        // Anything else: the legal name vetting established.
        for display in [
            "IRS Collections",
            "Acme Bank",
            "Acme Dental Fraud Dept",
            "A",
            "",
            "LLC",
            "Bank of America",
            "ADG",
            "Dental",
        ] {
            assert_eq!(with(display, acme), "Acme Dental Group LLC", "{display:?}");
        }
        assert_eq!(with("Jane's Bakery", None), "Jane's Bakery", "no legal name (sole proprietors)");
    }

    pub(crate) fn acme() -> serde_json::Value {
        serde_json::json!({
            "entityType": "PRIVATE_PROFIT",
            "displayName": "Acme Dental",
            "companyName": "Acme Dental Group LLC",
            "ein": "46-4123456",
            "country": "US",
            "state": "CA",
            "email": "ops@acmedental.com",
            "website": "https://www.acmedental.com",
            "vertical": "HEALTHCARE",
            "phone": "+14155550100"
        })
    }

    #[test]
    fn accepts_and_trims() {
        let mut j = acme();
        j["displayName"] = " Acme Dental ".into();
        let b: BrandRequest = serde_json::from_value(j).unwrap();
        let d = b.validate().unwrap();
        assert_eq!(d.display_name, "Acme Dental");
        assert_eq!(d.ein_digits().as_deref(), Some("464123456"));
    }

    #[test]
    fn names_missing_fields() {
        let mut j = acme();
        j.as_object_mut().unwrap().remove("ein");
        j["country"] = "usa".into();
        let e = serde_json::from_value::<BrandRequest>(j).unwrap().validate().unwrap_err().to_string();
        assert!(e.contains("ein: is required") && e.contains("country:"), "{e}");
    }

    #[test]
    fn rejects_unknown_enum_and_field() {
        let mut j = acme();
        j["entityType"] = "CORPORATION".into();
        assert!(serde_json::from_value::<BrandRequest>(j).unwrap_err().to_string().contains("unknown variant"));
        let mut j = acme();
        j["favouriteColour"] = "blue".into();
        assert!(serde_json::from_value::<BrandRequest>(j).unwrap_err().to_string().contains("unknown field"));
    }

    #[test]
    fn ein_normalisation() {
        assert_eq!(normalise_ein("12-3456789").as_deref(), Some("123456789"));
        assert_eq!(normalise_ein("123456789").as_deref(), Some("123456789"));
        assert_eq!(normalise_ein("1-23456789"), None);
        assert_eq!(normalise_ein("12345678"), None);
        assert_eq!(normalise_ein("12-345678X"), None);
    }
}
