//! Automated brand vetting: a score from 0 to 100, reasons a CSP can act on, and an
//! [`IdentityStatus`].
//!
//! The checks, their points and their effect are listed in `docs/VETTING.md`. In short: every
//! check that passes adds points; a *blocking* reason makes the brand UNVERIFIED whatever its
//! score; a *warning* adds nothing (or takes points away) and keeps the brand from
//! VETTED_VERIFIED.

use serde::{Deserialize, Serialize};

use crate::brand::{AltBusinessIdType, BrandDetails, EntityType, IdentityStatus};
use crate::sanctions::{MATCH_THRESHOLD, SanctionsList};
use crate::{BrandId, ProviderId};

/// How much a reason weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// The check passed; `points` were added.
    Pass,
    /// Something looks wrong or unproven; the brand is at most VERIFIED.
    Warning,
    /// The brand cannot be verified until this is fixed.
    Blocking,
}

/// One finding of vetting, written so that a CSP knows what failed and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VettingReason {
    /// Stable machine-readable code, e.g. `EIN_PREFIX_INVALID`.
    pub code: String,
    /// Pass, warning or blocking.
    pub severity: Severity,
    /// The brand field the finding is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Points this finding added to (or, if negative, took from) the score.
    pub points: i32,
    /// What was found.
    pub message: String,
    /// How to fix it, when there is something to fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The outcome of vetting a brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VettingOutcome {
    /// 0 to 100.
    pub score: u8,
    /// What the brand may do.
    pub identity_status: IdentityStatus,
    /// Every finding, blocking first.
    pub reasons: Vec<VettingReason>,
}

/// Another brand that already uses the same tax id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EinHolder {
    /// That brand.
    pub brand_id: BrandId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// Its legal name.
    pub company_name: String,
}

/// What vetting needs to know beyond the brand itself.
#[derive(Debug, Clone, Copy)]
pub struct VettingContext<'a> {
    /// The CSP registering the brand.
    pub csp: ProviderId,
    /// Other brands registered with the same EIN (the brand itself excluded).
    pub ein_holders: &'a [EinHolder],
    /// The sanctions list the operator imported.
    pub sanctions: &'a SanctionsList,
}

/// IRS campus prefixes (first two EIN digits) that have been assigned.
const VALID_EIN_PREFIXES: &[u8] = &[
    1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37, 38,
    39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68,
    71, 72, 73, 74, 75, 76, 77, 80, 81, 82, 83, 84, 85, 86, 87, 88, 90, 91, 92, 93, 94, 95, 98, 99,
];

const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "mail.com",
    "yandex.com",
    "zoho.com",
];

/// Score at or above which a brand with a strong identifier is VETTED_VERIFIED.
pub const VETTED_SCORE: u8 = 75;

struct Findings(Vec<VettingReason>);

impl Findings {
    fn add(
        &mut self,
        code: &'static str,
        severity: Severity,
        field: Option<&'static str>,
        points: i32,
        message: String,
        fix: Option<&str>,
    ) {
        self.0.push(VettingReason {
            code: code.to_owned(),
            severity,
            field: field.map(str::to_owned),
            points,
            message,
            fix: fix.map(str::to_owned),
        });
    }
    fn pass(&mut self, code: &'static str, field: &'static str, points: i32, message: impl Into<String>) {
        self.add(code, Severity::Pass, Some(field), points, message.into(), None);
    }
    fn warn(&mut self, code: &'static str, field: &'static str, points: i32, message: impl Into<String>, fix: &str) {
        self.add(code, Severity::Warning, Some(field), points, message.into(), Some(fix));
    }
    fn block(&mut self, code: &'static str, field: &'static str, message: impl Into<String>, fix: &str) {
        self.add(code, Severity::Blocking, Some(field), 0, message.into(), Some(fix));
    }
}

/// Vets `brand`; pure and fast (the sanctions screen is linear in the list's length).
pub fn vet(brand: &BrandDetails, ctx: &VettingContext<'_>) -> VettingOutcome {
    let mut f = Findings(Vec::new());
    let mut strong_id = false;

    check_tax_id(brand, ctx, &mut f);
    let website_host = check_website(brand, &mut f);
    check_email(brand, website_host.as_deref(), &mut f);
    check_contact(brand, &mut f);
    strong_id |= check_alt_id(brand, &mut f);
    strong_id |= check_stock(brand, &mut f);
    check_sanctions(brand, ctx, &mut f);

    let mut reasons = f.0;
    let total: i32 = reasons.iter().map(|r| r.points).sum();
    let score = total.clamp(0, 100) as u8;
    let blocking = reasons.iter().any(|r| r.severity == Severity::Blocking);
    let warning = reasons.iter().any(|r| r.severity == Severity::Warning);
    let identity_status = if blocking {
        IdentityStatus::Unverified
    } else if brand.entity_type == EntityType::SoleProprietor {
        IdentityStatus::SelfDeclared
    } else if score >= VETTED_SCORE && strong_id && !warning {
        IdentityStatus::VettedVerified
    } else {
        IdentityStatus::Verified
    };
    reasons.sort_by_key(|r| std::cmp::Reverse(r.severity));
    VettingOutcome { score: if blocking { 0 } else { score }, identity_status, reasons }
}

fn check_tax_id(brand: &BrandDetails, ctx: &VettingContext<'_>, f: &mut Findings) {
    if brand.entity_type == EntityType::SoleProprietor {
        if brand.mobile_phone.is_some() {
            f.pass("SOLE_PROPRIETOR_MOBILE", "mobilePhone", 40, "sole proprietor identified by a mobile number");
        }
        return;
    }
    let Some(raw) = brand.ein.as_deref() else { return };
    if !brand.ein_is_us() {
        f.pass(
            "TAX_ID_NON_US",
            "ein",
            25,
            format!("tax id issued in {} (format not checked)", brand.ein_issuing_country.as_deref().unwrap_or("?")),
        );
    } else {
        let Some(digits) = brand.ein_digits() else {
            f.block(
                "EIN_FORMAT_INVALID",
                "ein",
                format!("`{raw}` is not an EIN: an EIN is nine digits, written 12-3456789 or 123456789"),
                "Enter the nine-digit EIN exactly as on the IRS notice CP 575 or letter 147C.",
            );
            return;
        };
        let prefix = (digits.as_bytes()[0] - b'0') * 10 + (digits.as_bytes()[1] - b'0');
        if !VALID_EIN_PREFIXES.contains(&prefix) {
            f.block("EIN_PREFIX_INVALID", "ein", format!("the IRS has never issued EINs starting with {prefix:02}"), "Check the first two digits of the EIN against the IRS notice; they identify the IRS campus that issued it.");
            return;
        }
        f.pass("EIN_VALID", "ein", 40, format!("EIN format and IRS prefix {prefix:02} are valid"));
    }
    let company = brand.company_name.as_deref().unwrap_or_default();
    let mine = crate::sanctions::normalise_name(company);
    for h in ctx.ein_holders {
        if crate::sanctions::normalise_name(&h.company_name) != mine {
            f.block(
                "EIN_REGISTERED_UNDER_OTHER_NAME",
                "ein",
                format!("this EIN is already registered (brand {}) under the legal name \"{}\"", h.brand_id, h.company_name),
                "Use the EIN of the company named in companyName; if the legal name changed, put the name the IRS has on file in companyName.",
            );
            return;
        }
    }
    if let Some(h) = ctx.ein_holders.iter().find(|h| h.csp_id != ctx.csp) {
        f.warn(
            "EIN_REGISTERED_BY_OTHER_CSP",
            "ein",
            -10,
            format!("the same company is already registered by another CSP (brand {})", h.brand_id),
            "Nothing to fix if the company really uses several CSPs; the flag is visible to reviewers.",
        );
    }
}

/// Returns the website's host when the URL is valid.
fn check_website(brand: &BrandDetails, f: &mut Findings) -> Option<String> {
    let Some(url) = brand.website.as_deref() else {
        f.warn(
            "WEBSITE_MISSING",
            "website",
            0,
            "no website given",
            "Give the brand's website; it is matched against the e-mail domain.",
        );
        return None;
    };
    match parse_web_url(url) {
        Some((https, host)) => {
            if https {
                f.pass("WEBSITE_VALID", "website", 10, format!("website {host} is a valid https URL"));
            } else {
                f.pass("WEBSITE_VALID", "website", 5, format!("website {host} is valid but not https"));
            }
            Some(host)
        }
        None => {
            f.warn(
                "WEBSITE_INVALID",
                "website",
                0,
                format!("`{url}` is not a valid web address"),
                "Write the website as https://example.com.",
            );
            None
        }
    }
}

fn check_email(brand: &BrandDetails, website_host: Option<&str>, f: &mut Findings) {
    let Some(domain) = email_domain(&brand.email) else {
        f.warn(
            "EMAIL_INVALID",
            "email",
            0,
            format!("`{}` is not a valid e-mail address", brand.email),
            "Give a mailbox the brand reads, e.g. support@example.com.",
        );
        return;
    };
    f.pass("EMAIL_VALID", "email", 5, "e-mail address is syntactically valid");
    if FREE_MAIL.contains(&domain.as_str()) && brand.entity_type != EntityType::SoleProprietor {
        f.warn(
            "EMAIL_FREE_MAIL",
            "email",
            0,
            format!("{domain} is a free mail service, not the brand's own domain"),
            "Use an address at the brand's own domain.",
        );
        return;
    }
    if let Some(host) = website_host {
        if base_domain(host) == base_domain(&domain) {
            f.pass("DOMAINS_CONSISTENT", "email", 15, format!("e-mail domain {domain} matches website {host}"));
        } else {
            f.warn(
                "DOMAINS_INCONSISTENT",
                "email",
                0,
                format!("e-mail domain {domain} does not match website {host}"),
                "Use an e-mail address at the website's domain, or correct the website.",
            );
        }
    }
}

fn check_contact(brand: &BrandDetails, f: &mut Findings) {
    if brand.phone.is_some() || brand.mobile_phone.is_some() {
        f.pass("PHONE_GIVEN", "phone", 5, "a contact phone number is given");
    }
    let complete =
        brand.street.is_some() && brand.city.is_some() && brand.postal_code.is_some() && brand.state.is_some();
    if !complete {
        f.warn(
            "ADDRESS_INCOMPLETE",
            "street",
            0,
            "street, city, state and postalCode are not all given",
            "Give the full registered address.",
        );
        return;
    }
    if brand.country == "US" {
        let state_ok =
            brand.state.as_deref().is_some_and(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase()));
        let zip_ok = brand.postal_code.as_deref().is_some_and(|z| {
            let b = z.as_bytes();
            (b.len() == 5 && b.iter().all(u8::is_ascii_digit))
                || (b.len() == 10 && b[5] == b'-' && b[..5].iter().chain(&b[6..]).all(u8::is_ascii_digit))
        });
        if !state_ok || !zip_ok {
            f.warn(
                "ADDRESS_INVALID",
                "postalCode",
                0,
                "a US address needs a two-letter state and a 5-digit ZIP code",
                "Write state as e.g. CA and postalCode as 94105 or 94105-1234.",
            );
            return;
        }
    }
    f.pass("ADDRESS_COMPLETE", "street", 10, "the registered address is complete");
}

fn check_alt_id(brand: &BrandDetails, f: &mut Findings) -> bool {
    let (Some(id), Some(kind)) = (brand.alt_business_id.as_deref(), brand.alt_business_id_type) else { return false };
    match kind {
        AltBusinessIdType::Lei => {
            if lei_valid(id) {
                f.pass("LEI_VALID", "altBusinessId", 15, "LEI check digits (ISO 17442, mod 97-10) are valid");
                true
            } else {
                f.warn(
                    "LEI_INVALID",
                    "altBusinessId",
                    -10,
                    format!("`{id}` is not a valid LEI: 20 characters whose ISO 17442 check digits verify"),
                    "Copy the LEI from the GLEIF record of the company.",
                );
                false
            }
        }
        AltBusinessIdType::Duns => {
            let digits: String = id.chars().filter(|c| *c != '-').collect();
            let ok = digits.len() == 9
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.bytes().all(|b| b == digits.as_bytes()[0]);
            if ok {
                f.pass("DUNS_VALID", "altBusinessId", 10, "D-U-N-S number has a valid format");
            } else {
                f.warn(
                    "DUNS_INVALID",
                    "altBusinessId",
                    -5,
                    format!("`{id}` is not a D-U-N-S number (nine digits)"),
                    "Copy the nine-digit D-U-N-S number from Dun & Bradstreet.",
                );
            }
            ok
        }
        AltBusinessIdType::Giin => {
            let ok = giin_valid(id);
            if ok {
                f.pass("GIIN_VALID", "altBusinessId", 10, "GIIN has a valid format");
            } else {
                f.warn(
                    "GIIN_INVALID",
                    "altBusinessId",
                    -5,
                    format!("`{id}` is not a GIIN (XXXXXX.XXXXX.XX.XXX)"),
                    "Copy the GIIN from the IRS FFI list.",
                );
            }
            ok
        }
        AltBusinessIdType::None => false,
    }
}

fn check_stock(brand: &BrandDetails, f: &mut Findings) -> bool {
    if brand.entity_type != EntityType::PublicProfit {
        return false;
    }
    let symbol_ok = brand
        .stock_symbol
        .as_deref()
        .is_some_and(|s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    match (symbol_ok, brand.stock_exchange) {
        (true, Some(ex)) if ex != crate::brand::StockExchange::None => {
            f.pass(
                "STOCK_LISTED",
                "stockSymbol",
                10,
                format!("listed as {} on {ex}", brand.stock_symbol.as_deref().unwrap_or_default()),
            );
            true
        }
        _ => {
            f.block("STOCK_SYMBOL_REQUIRED", "stockSymbol", "PUBLIC_PROFIT brands must give stockSymbol and stockExchange", "Give the ticker (e.g. ACME) and its exchange (e.g. NASDAQ), or register as PRIVATE_PROFIT if the company is not listed.");
            false
        }
    }
}

fn check_sanctions(brand: &BrandDetails, ctx: &VettingContext<'_>, f: &mut Findings) {
    let mut names: Vec<(&'static str, String)> = vec![("displayName", brand.display_name.clone())];
    if let Some(c) = &brand.company_name {
        names.push(("companyName", c.clone()));
    }
    if let (Some(a), Some(b)) = (&brand.first_name, &brand.last_name) {
        names.push(("firstName", format!("{a} {b}")));
    }
    let mut worst: Option<(&'static str, crate::SanctionsMatch)> = None;
    for (field, name) in names {
        if let Some(m) = ctx.sanctions.screen(&name).into_iter().next()
            && worst.as_ref().is_none_or(|(_, w)| m.similarity > w.similarity)
        {
            worst = Some((field, m));
        }
    }
    match worst {
        Some((field, m)) if m.similarity >= MATCH_THRESHOLD => f.block(
            "SANCTIONS_MATCH",
            field,
            format!("\"{}\" matches sanctioned party \"{}\" (entry {}, programme {}, similarity {:.2})", m.screened, m.entry.name, m.entry.uid, m.entry.program, m.similarity),
            "If this is a different party, ask the vouch operator for a manual review with documents proving the brand's identity.",
        ),
        Some((field, m)) => f.warn(
            "SANCTIONS_POSSIBLE_MATCH",
            field,
            -20,
            format!("\"{}\" resembles sanctioned party \"{}\" (entry {}, similarity {:.2})", m.screened, m.entry.name, m.entry.uid, m.similarity),
            "Make sure the legal name is complete and exact; a reviewer will look at this flag.",
        ),
        // The message does not name the list's size: a new list that changes nothing for a
        // brand must not change its vetting outcome (and so must not re-vet it).
        None => f.pass("SANCTIONS_CLEAR", "companyName", 0, "no match in the operator's sanctions list".to_owned()),
    }
}

/// ISO 17442: 18 alphanumerics and 2 check digits; mod 97 of the digit expansion is 1.
pub fn lei_valid(lei: &str) -> bool {
    let b = lei.as_bytes();
    if b.len() != 20
        || !b.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        || !b[18..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b {
        let v = if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

fn giin_valid(giin: &str) -> bool {
    let parts: Vec<&str> = giin.split('.').collect();
    parts.len() == 4
        && parts[0].len() == 6
        && parts[1].len() == 5
        && parts[2].len() == 2
        && parts[3].len() == 3
        && parts[..2].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()))
        && parts[2].bytes().all(|b| b.is_ascii_uppercase())
        && parts[3].bytes().all(|b| b.is_ascii_digit())
}

fn domain_valid(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && d.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels.last().is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// The lower-cased domain of a syntactically valid address.
fn email_domain(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    let domain = domain.to_ascii_lowercase();
    (local_ok && domain_valid(&domain)).then_some(domain)
}

/// `(is_https, lower-cased host without "www.")` of an `http(s)://host[:port][/…]` URL.
fn parse_web_url(url: &str) -> Option<(bool, String)> {
    let lower = url.to_ascii_lowercase();
    let (https, rest) =
        if let Some(r) = lower.strip_prefix("https://") { (true, r) } else { (false, lower.strip_prefix("http://")?) };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        Some(_) => return None,
        None => authority,
    };
    let host = host.strip_prefix("www.").unwrap_or(host);
    domain_valid(host).then(|| (https, host.to_owned()))
}

/// The registrable part of a domain, approximately: the last two labels, or three under common
/// second-level registries such as `co.uk`.
fn base_domain(host: &str) -> String {
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let take = if n >= 3
        && labels[n - 1].len() == 2
        && ["co", "com", "net", "org", "gov", "ac", "edu"].contains(&labels[n - 2])
    {
        3
    } else {
        2
    };
    labels[n.saturating_sub(take)..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrandRequest;

    fn brand(j: serde_json::Value) -> BrandDetails {
        serde_json::from_value::<BrandRequest>(j).unwrap().validate().unwrap()
    }

    fn ctx<'a>(holders: &'a [EinHolder], list: &'a SanctionsList) -> VettingContext<'a> {
        VettingContext { csp: ProviderId::from_random(1), ein_holders: holders, sanctions: list }
    }

    fn codes(o: &VettingOutcome) -> Vec<&str> {
        o.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn good_private_brand_is_verified() {
        let list = SanctionsList::default();
        let o = vet(&brand(crate::brand::tests::acme()), &ctx(&[], &list));
        assert_eq!(o.identity_status, IdentityStatus::Verified, "{o:#?}");
        assert!(o.score >= 60, "{o:#?}");
        assert!(codes(&o).contains(&"DOMAINS_CONSISTENT"));
    }

    #[test]
    fn strong_identifier_gives_vetted_verified() {
        let mut j = crate::brand::tests::acme();
        j["altBusinessIdType"] = "LEI".into();
        j["altBusinessId"] = "5493001KJTIIGC8Y1R12".into();
        j["street"] = "1 Main St".into();
        j["city"] = "San Francisco".into();
        j["postalCode"] = "94105".into();
        let list = SanctionsList::default();
        let o = vet(&brand(j), &ctx(&[], &list));
        assert_eq!(o.identity_status, IdentityStatus::VettedVerified, "{o:#?}");
        assert_eq!(o.score, 100);
    }

    #[test]
    fn bad_ein_prefix_blocks() {
        let mut j = crate::brand::tests::acme();
        j["ein"] = "07-1234567".into();
        let list = SanctionsList::default();
        let o = vet(&brand(j), &ctx(&[], &list));
        assert_eq!(o.identity_status, IdentityStatus::Unverified);
        assert_eq!(o.reasons[0].code, "EIN_PREFIX_INVALID");
        assert!(o.reasons[0].fix.is_some());
        assert_eq!(o.score, 0);
    }

    #[test]
    fn ein_under_other_name_blocks_and_other_csp_flags() {
        let list = SanctionsList::default();
        let other = [EinHolder {
            brand_id: BrandId::from_random(5),
            csp_id: ProviderId::from_random(9),
            company_name: "Totally Different Inc".into(),
        }];
        let o = vet(&brand(crate::brand::tests::acme()), &ctx(&other, &list));
        assert_eq!(o.identity_status, IdentityStatus::Unverified);
        assert!(codes(&o).contains(&"EIN_REGISTERED_UNDER_OTHER_NAME"));
        let same = [EinHolder {
            brand_id: BrandId::from_random(5),
            csp_id: ProviderId::from_random(9),
            company_name: "ACME DENTAL GROUP, L.L.C.".into(),
        }];
        let o = vet(&brand(crate::brand::tests::acme()), &ctx(&same, &list));
        assert_eq!(o.identity_status, IdentityStatus::Verified, "{o:#?}");
        assert!(codes(&o).contains(&"EIN_REGISTERED_BY_OTHER_CSP"));
    }

    #[test]
    fn public_company_needs_stock() {
        let mut j = crate::brand::tests::acme();
        j["entityType"] = "PUBLIC_PROFIT".into();
        let list = SanctionsList::default();
        assert!(codes(&vet(&brand(j.clone()), &ctx(&[], &list))).contains(&"STOCK_SYMBOL_REQUIRED"));
        j["stockSymbol"] = "ACME".into();
        j["stockExchange"] = "NASDAQ".into();
        let o = vet(&brand(j), &ctx(&[], &list));
        assert!(codes(&o).contains(&"STOCK_LISTED"), "{o:#?}");
    }

    #[test]
    fn sanctioned_name_blocks() {
        let list = SanctionsList::from_sdn_csv(b"900,\"ACME DENTAL GROUP\",-0-,\"SDGT\"\n").unwrap();
        let o = vet(&brand(crate::brand::tests::acme()), &ctx(&[], &list));
        assert_eq!(o.identity_status, IdentityStatus::Unverified);
        assert_eq!(o.reasons[0].code, "SANCTIONS_MATCH");
    }

    #[test]
    fn mismatched_domains_and_free_mail_warn() {
        let list = SanctionsList::default();
        let mut j = crate::brand::tests::acme();
        j["email"] = "owner@gmail.com".into();
        assert!(codes(&vet(&brand(j.clone()), &ctx(&[], &list))).contains(&"EMAIL_FREE_MAIL"));
        j["email"] = "owner@elsewhere.org".into();
        assert!(codes(&vet(&brand(j.clone()), &ctx(&[], &list))).contains(&"DOMAINS_INCONSISTENT"));
        j["email"] = "not an email".into();
        assert!(codes(&vet(&brand(j), &ctx(&[], &list))).contains(&"EMAIL_INVALID"));
    }

    #[test]
    fn identifiers() {
        assert!(lei_valid("5493001KJTIIGC8Y1R12"));
        assert!(!lei_valid("5493001KJTIIGC8Y1R13"));
        assert!(!lei_valid("5493001KJTIIGC8Y1R1"));
        assert!(giin_valid("98Q96B.00000.LE.250"));
        assert!(!giin_valid("98Q96B.00000.LE.25X"));
        assert_eq!(parse_web_url("https://www.Example.com/about"), Some((true, "example.com".into())));
        assert_eq!(parse_web_url("ftp://example.com"), None);
        assert_eq!(parse_web_url("https://user@example.com"), None);
        assert_eq!(base_domain("shop.example.co.uk"), "example.co.uk");
        assert_eq!(email_domain("a.b@Sub.Example.com").as_deref(), Some("sub.example.com"));
        assert_eq!(email_domain("a..b@example.com"), None);
    }
}
