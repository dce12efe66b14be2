//! Campaigns: what a brand sends, why, and how subscribers opt in and out; with TCR's field
//! names and per-use-case rules.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::brand::{EntityType, IdentityStatus, wire_enum};
use crate::{BrandId, RegistryError, Violations};

wire_enum!(
    /// A campaign's use case.
    Usecase {
        /// One-time passwords and login codes.
        TwoFactorAuth => "2FA",
        /// Account notifications.
        AccountNotification => "ACCOUNT_NOTIFICATION",
        /// Customer care conversations.
        CustomerCare => "CUSTOMER_CARE",
        /// Delivery notifications.
        DeliveryNotification => "DELIVERY_NOTIFICATION",
        /// Fraud alerts.
        FraudAlert => "FRAUD_ALERT",
        /// Higher education.
        HigherEducation => "HIGHER_EDUCATION",
        /// Low-volume mixed traffic.
        LowVolume => "LOW_VOLUME",
        /// Marketing.
        Marketing => "MARKETING",
        /// Several standard use cases together.
        Mixed => "MIXED",
        /// Polling and voting (not political).
        PollingVoting => "POLLING_VOTING",
        /// Public service announcements.
        PublicServiceAnnouncement => "PUBLIC_SERVICE_ANNOUNCEMENT",
        /// Security alerts.
        SecurityAlert => "SECURITY_ALERT",
        /// Agents and franchises (special).
        AgentsFranchises => "AGENTS_FRANCHISES",
        /// Carrier exemptions (special).
        CarrierExempt => "CARRIER_EXEMPT",
        /// Charity (special; non-profits only).
        Charity => "CHARITY",
        /// Emergency (special).
        Emergency => "EMERGENCY",
        /// K-12 education (special).
        K12Education => "K12_EDUCATION",
        /// Machine to machine (special).
        M2M => "M2M",
        /// Political (special).
        Political => "POLITICAL",
        /// Proxy / conversational (special).
        Proxy => "PROXY",
        /// Social (special).
        Social => "SOCIAL",
        /// Sole proprietor (sole-proprietor brands only).
        SoleProprietor => "SOLE_PROPRIETOR",
        /// Sweepstakes (special).
        Sweepstake => "SWEEPSTAKE",
        /// Platform free trial (special).
        Trial => "TRIAL",
        /// UCaaS, high volume (special).
        UcaasHigh => "UCAAS_HIGH",
        /// UCaaS, low volume (special).
        UcaasLow => "UCAAS_LOW",
    }
);

impl Usecase {
    /// Whether this is one of the twelve standard use cases.
    pub fn is_standard(self) -> bool {
        matches!(
            self,
            Self::TwoFactorAuth
                | Self::AccountNotification
                | Self::CustomerCare
                | Self::DeliveryNotification
                | Self::FraudAlert
                | Self::HigherEducation
                | Self::LowVolume
                | Self::Marketing
                | Self::Mixed
                | Self::PollingVoting
                | Self::PublicServiceAnnouncement
                | Self::SecurityAlert
        )
    }

    /// How many sample messages the use case needs at least.
    pub fn min_samples(self) -> usize {
        match self {
            Self::Mixed | Self::LowVolume | Self::Marketing => 2,
            _ => 1,
        }
    }

    /// `(min, max)` sub-use-cases; `(0, 0)` when the use case takes none.
    pub fn sub_usecase_bounds(self) -> (usize, usize) {
        match self {
            Self::Mixed => (2, 5),
            Self::LowVolume => (1, 5),
            _ => (0, 0),
        }
    }
}

wire_enum!(
    /// Whether a campaign may send.
    CampaignStatus {
        /// Running.
        Active => "ACTIVE",
        /// Stopped by its DCA or the administrator; may be resumed.
        Suspended => "SUSPENDED",
        /// Deactivated for good; its numbers were released.
        Expired => "EXPIRED",
    }
);

wire_enum!(
    /// Where a campaign's sharing to a DCA stands.
    SharingStatus {
        /// Shared, waiting for the DCA.
        Pending => "PENDING",
        /// The DCA carries the campaign.
        Accepted => "ACCEPTED",
        /// The DCA refused; the CSP may share to another.
        Declined => "DECLINED",
    }
);

wire_enum!(
    /// Message class, modelled on AT&T's 10DLC classes; fixes messages per minute per campaign.
    ThroughputClass {
        /// Standard use case, vetting score 75-100: 4,500 TPM.
        A => "A",
        /// Mixed/marketing, score 75-100: 4,500 TPM.
        B => "B",
        /// Standard, score 50-74: 2,400 TPM.
        C => "C",
        /// Mixed/marketing, score 50-74: 2,400 TPM.
        D => "D",
        /// Standard, score 1-49: 240 TPM.
        E => "E",
        /// Mixed/marketing, score 1-49: 240 TPM.
        F => "F",
        /// Low-volume mixed and sole proprietors: 75 TPM.
        T => "T",
        /// Conversational (proxy, UCaaS): 600 TPM per number.
        G => "G",
        /// Charity: 60 TPM.
        P => "P",
        /// Social: 60,000 TPM.
        S => "S",
        /// Political: 3,000 TPM.
        Q => "Q",
        /// Emergency: 3,000 TPM.
        X => "X",
        /// Free trial: 60 TPM.
        Z => "Z",
        /// Agents and franchises: 3,600 TPM per number.
        N => "N",
    }
);

impl ThroughputClass {
    /// The class for a use case and the brand's vetting score.
    pub fn for_campaign(usecase: Usecase, brand_score: u8) -> Self {
        let mixed = matches!(usecase, Usecase::Mixed | Usecase::Marketing);
        match usecase {
            Usecase::LowVolume | Usecase::SoleProprietor => Self::T,
            Usecase::Charity => Self::P,
            Usecase::Social => Self::S,
            Usecase::Political => Self::Q,
            Usecase::Emergency => Self::X,
            Usecase::Trial => Self::Z,
            Usecase::AgentsFranchises => Self::N,
            Usecase::Proxy | Usecase::UcaasHigh | Usecase::UcaasLow => Self::G,
            _ => match (brand_score, mixed) {
                (75.., false) => Self::A,
                (75.., true) => Self::B,
                (50..75, false) => Self::C,
                (50..75, true) => Self::D,
                (_, false) => Self::E,
                (_, true) => Self::F,
            },
        }
    }

    /// Whether the class's rate is per number rather than per campaign: conversational (G) and
    /// agents and franchises (N) campaigns spread over many numbers, each with its own rate
    /// (AT&T enforces G, N and Y per number, the others per campaign).
    pub fn per_number(self) -> bool {
        matches!(self, Self::G | Self::N)
    }

    /// SMS messages per minute this class allows.
    pub fn sms_per_minute(self) -> u32 {
        match self {
            Self::A | Self::B => 4_500,
            Self::C | Self::D => 2_400,
            Self::E | Self::F => 240,
            Self::T => 75,
            Self::G => 600,
            Self::P | Self::Z => 60,
            Self::S => 60_000,
            Self::Q | Self::X => 3_000,
            Self::N => 3_600,
        }
    }
}

/// A campaign as a CSP submits it (`POST /v1/campaigns`; `PUT` replaces the mutable fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CampaignRequest {
    /// The brand the campaign sends for; one of the CSP's VERIFIED brands. Immutable.
    pub brand_id: BrandId,
    /// Use case. Immutable.
    pub usecase: Usecase,
    /// For MIXED (2-5) and LOW_VOLUME (1-5): the standard use cases the traffic covers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_usecases: Vec<Usecase>,
    /// What the campaign sends and why (40-4096 characters).
    pub description: String,
    /// How a subscriber opts in, step by step (40-2048 characters).
    pub message_flow: String,
    /// Sample message 1 (20-1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample1: Option<String>,
    /// Sample message 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample2: Option<String>,
    /// Sample message 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample3: Option<String>,
    /// Sample message 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample4: Option<String>,
    /// Sample message 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample5: Option<String>,
    /// Messages contain links.
    #[serde(default)]
    pub embedded_link: bool,
    /// Messages contain phone numbers.
    #[serde(default)]
    pub embedded_phone: bool,
    /// Sends from a pool of more than 49 numbers.
    #[serde(default)]
    pub number_pool: bool,
    /// Content is age-gated (alcohol, tobacco…).
    #[serde(default)]
    pub age_gated: bool,
    /// Direct lending or loan arrangement.
    #[serde(default)]
    pub direct_lending: bool,
    /// Affiliate marketing.
    #[serde(default)]
    pub affiliate_marketing: bool,
    /// Subscribers opt in.
    #[serde(default)]
    pub subscriber_optin: bool,
    /// Subscribers can opt out (required).
    #[serde(default)]
    pub subscriber_optout: bool,
    /// Subscribers can ask for help (required).
    #[serde(default)]
    pub subscriber_help: bool,
    /// Opt-in keywords, comma-separated, no spaces (e.g. `START,JOIN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optin_keywords: Option<String>,
    /// Opt-out keywords, comma-separated; must include STOP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optout_keywords: Option<String>,
    /// Help keywords, comma-separated; must include HELP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_keywords: Option<String>,
    /// Reply to an opt-in keyword.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optin_message: Option<String>,
    /// Reply to an opt-out keyword.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optout_message: Option<String>,
    /// Reply to a help keyword.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_message: Option<String>,
    /// Link to the privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy_link: Option<String>,
    /// Link to the terms and conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_and_conditions_link: Option<String>,
    /// The CSP's own reference, unique among its campaigns (an idempotency key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    /// Free tags for the CSP's own search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<String>,
}

/// A campaign request that passed its use case's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CampaignDetails(CampaignRequest);

impl Deref for CampaignDetails {
    type Target = CampaignRequest;
    fn deref(&self) -> &CampaignRequest {
        &self.0
    }
}

impl CampaignDetails {
    /// The samples given, in order.
    pub fn samples(&self) -> impl Iterator<Item = &str> {
        [&self.sample1, &self.sample2, &self.sample3, &self.sample4, &self.sample5]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The opt-out keywords (upper case).
    pub fn optout_keywords(&self) -> Vec<&str> {
        keywords(self.optout_keywords.as_deref())
    }
}

fn keywords(s: Option<&str>) -> Vec<&str> {
    s.map(|s| s.split(',').collect()).unwrap_or_default()
}

fn text_len(v: &mut Violations, field: &str, s: &mut String, min: usize, max: usize, what: &str) {
    *s = s.trim().to_owned();
    let n = s.chars().count();
    if n < min || n > max {
        v.push(field, format!("{what} must be {min} to {max} characters (is {n})"));
    }
}

fn has_link(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("http://") || l.contains("https://") || l.contains("www.")
}

fn has_phone(s: &str) -> bool {
    let mut run = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 10 {
                return true;
            }
        } else if !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+') {
            run = 0;
        }
    }
    false
}

fn check_keywords(v: &mut Violations, field: &str, value: &mut Option<String>, must: Option<&str>) {
    if let Some(s) = value.as_mut() {
        *s = s.trim().to_ascii_uppercase();
        if s.is_empty() {
            *value = None;
        }
    }
    match value.as_deref() {
        Some(s) => {
            let words: Vec<&str> = s.split(',').collect();
            if s.len() > 255 {
                // As TCR's API: the keywords of one field take at most 255 characters.
                v.push(field, format!("at most 255 characters of keywords ({} given)", s.len()));
            } else if words
                .iter()
                .any(|w| w.is_empty() || w.len() > 20 || !w.bytes().all(|b| b.is_ascii_alphanumeric()))
            {
                v.push(
                    field,
                    "write keywords as letters and digits separated by commas, without spaces, e.g. STOP,QUIT,END",
                );
            } else if let Some(m) = must
                && !words.contains(&m)
            {
                v.push(field, format!("must include {m}"));
            }
        }
        None => {
            if let Some(m) = must {
                v.push(field, format!("is required and must include {m}"));
            }
        }
    }
}

fn reply(v: &mut Violations, field: &str, value: &mut Option<String>, required: bool, why: &str) {
    match value.as_mut() {
        Some(s) => text_len(v, field, s, 20, 320, "the reply"),
        None if required => v.push(field, format!("is required: {why}")),
        None => {}
    }
}

impl CampaignRequest {
    /// Checks the request against its use case's rules, naming every field that fails.
    pub fn validate(mut self) -> Result<CampaignDetails, RegistryError> {
        let mut v = Violations::default();
        text_len(&mut v, "description", &mut self.description, 40, 4096, "the description");
        text_len(&mut v, "messageFlow", &mut self.message_flow, 40, 2048, "the opt-in flow description");

        // Samples: contiguous from sample1, at least the use case's minimum.
        let mut given = 0;
        let mut gap = false;
        for (i, s) in [&mut self.sample1, &mut self.sample2, &mut self.sample3, &mut self.sample4, &mut self.sample5]
            .into_iter()
            .enumerate()
        {
            let field = format!("sample{}", i + 1);
            if let Some(text) = s.as_mut() {
                text_len(&mut v, &field, text, 20, 1024, "a sample message");
                if gap {
                    v.push(&field, format!("fill sample{} before {field}", i));
                }
                given += 1;
            } else {
                gap = true;
            }
        }
        let min = self.usecase.min_samples();
        if given < min {
            v.push(
                if given == 0 { "sample1" } else { "sample2" },
                format!(
                    "{} campaigns need at least {min} sample message{}",
                    self.usecase,
                    if min > 1 { "s" } else { "" }
                ),
            );
        }

        let (lo, hi) = self.usecase.sub_usecase_bounds();
        let mut subs = self.sub_usecases.clone();
        subs.sort();
        subs.dedup();
        if hi == 0 && !self.sub_usecases.is_empty() {
            v.push(
                "subUsecases",
                format!("only MIXED and LOW_VOLUME campaigns take subUsecases, not {}", self.usecase),
            );
        } else if hi > 0 {
            if subs.len() != self.sub_usecases.len() {
                v.push("subUsecases", "a use case is listed twice");
            }
            if self.sub_usecases.len() < lo || self.sub_usecases.len() > hi {
                v.push("subUsecases", format!("{} campaigns need {lo} to {hi} subUsecases", self.usecase));
            }
            if let Some(bad) =
                self.sub_usecases.iter().find(|u| !u.is_standard() || matches!(u, Usecase::Mixed | Usecase::LowVolume))
            {
                v.push(
                    "subUsecases",
                    format!(
                        "{bad} cannot be a sub-use-case; choose among the standard use cases such as MARKETING or 2FA"
                    ),
                );
            }
        }

        if !self.subscriber_optout {
            v.push("subscriberOptout", "must be true: every campaign must honour opt-out requests");
        }
        if !self.subscriber_help {
            v.push("subscriberHelp", "must be true: every campaign must answer help requests");
        }
        check_keywords(&mut v, "optoutKeywords", &mut self.optout_keywords, Some("STOP"));
        check_keywords(&mut v, "helpKeywords", &mut self.help_keywords, Some("HELP"));
        check_keywords(&mut v, "optinKeywords", &mut self.optin_keywords, None);
        reply(
            &mut v,
            "optoutMessage",
            &mut self.optout_message,
            true,
            "the confirmation sent when a subscriber opts out",
        );
        reply(
            &mut v,
            "helpMessage",
            &mut self.help_message,
            true,
            "the answer sent to HELP, with the brand's name and contact",
        );
        reply(
            &mut v,
            "optinMessage",
            &mut self.optin_message,
            self.optin_keywords.is_some(),
            "the confirmation sent when a subscriber opts in by keyword",
        );

        let samples: Vec<(usize, String)> = [&self.sample1, &self.sample2, &self.sample3, &self.sample4, &self.sample5]
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.clone().map(|s| (i + 1, s)))
            .collect();
        if !self.embedded_link {
            if let Some((i, _)) = samples.iter().find(|(_, s)| has_link(s)) {
                v.push(
                    format!("sample{i}"),
                    "contains a link but embeddedLink is false: set embeddedLink or remove the link",
                );
            }
        } else if !samples.iter().any(|(_, s)| has_link(s)) {
            v.push(
                "embeddedLink",
                "is true but no sample shows a link: add one sample with the link as subscribers will see it",
            );
        }
        if !self.embedded_phone
            && let Some((i, _)) = samples.iter().find(|(_, s)| has_phone(s))
        {
            v.push(format!("sample{i}"), "contains a phone number but embeddedPhone is false");
        }
        if matches!(self.usecase, Usecase::Marketing | Usecase::Mixed) {
            let words: Vec<String> = keywords(self.optout_keywords.as_deref()).into_iter().map(str::to_owned).collect();
            let says_optout = samples.iter().any(|(_, s)| {
                let up = s.to_ascii_uppercase();
                words.iter().any(|w| up.contains(w.as_str()))
            });
            if !words.is_empty() && !says_optout {
                v.push("sample1", "marketing messages must tell subscribers how to opt out: add e.g. \"Reply STOP to opt out\" to a sample");
            }
        }
        for (field, link) in [
            ("privacyPolicyLink", &mut self.privacy_policy_link),
            ("termsAndConditionsLink", &mut self.terms_and_conditions_link),
        ] {
            if let Some(l) = link.as_mut() {
                *l = l.trim().to_owned();
                if !(l.starts_with("https://") || l.starts_with("http://")) || l.len() > 255 {
                    v.push(field, "must be an http(s) URL of at most 255 characters");
                }
            }
        }
        if let Some(r) = self.reference_id.as_mut() {
            text_len(&mut v, "referenceId", r, 1, 50, "referenceId");
        }
        if self.tag.len() > 10 || self.tag.iter().any(|t| t.chars().count() > 32) {
            v.push("tag", "at most 10 tags of at most 32 characters");
        }
        v.into_result().map(|()| CampaignDetails(self))
    }
}

/// Whether a brand of `entity_type` with `status` may run a campaign of `usecase`; the error
/// names the field to fix.
pub fn check_brand_eligibility(
    usecase: Usecase,
    entity_type: EntityType,
    status: IdentityStatus,
) -> Result<(), RegistryError> {
    let sole = entity_type == EntityType::SoleProprietor;
    if usecase == Usecase::SoleProprietor {
        return if sole {
            Ok(())
        } else {
            Err(RegistryError::field("usecase", "SOLE_PROPRIETOR campaigns are only for SOLE_PROPRIETOR brands"))
        };
    }
    if sole {
        return Err(RegistryError::field("usecase", "sole-proprietor brands can only run SOLE_PROPRIETOR campaigns"));
    }
    if !status.is_verified() {
        return Err(RegistryError::field(
            "brandId",
            format!(
                "the brand is {status}; fix the blocking vetting reasons (GET /v1/brands/{{id}}) before creating campaigns"
            ),
        ));
    }
    if usecase == Usecase::Charity && entity_type != EntityType::NonProfit {
        return Err(RegistryError::field("usecase", "CHARITY campaigns are only for NON_PROFIT brands"));
    }
    if !usecase.is_standard() && status != IdentityStatus::VettedVerified {
        return Err(RegistryError::field(
            "usecase",
            format!("{usecase} is a special use case and needs a VETTED_VERIFIED brand"),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn marketing(brand: &str) -> serde_json::Value {
        serde_json::json!({
            "brandId": brand,
            "usecase": "MARKETING",
            "description": "Appointment reminders and monthly offers for Acme Dental patients.",
            "messageFlow": "Patients tick an unticked SMS consent box on the booking form at acmedental.com/book.",
            "sample1": "Acme Dental: 20% off whitening this month. Reply STOP to opt out.",
            "sample2": "Acme Dental: your cleaning is due, book online. Reply STOP to opt out.",
            "subscriberOptin": true,
            "subscriberOptout": true,
            "subscriberHelp": true,
            "optinKeywords": "START",
            "optoutKeywords": "STOP,QUIT",
            "helpKeywords": "HELP",
            "optinMessage": "Acme Dental: you are subscribed to offers. Reply STOP to stop.",
            "optoutMessage": "Acme Dental: you are unsubscribed and will get no more messages.",
            "helpMessage": "Acme Dental: help at support@acmedental.com or +14155550100."
        })
    }

    fn validate(j: serde_json::Value) -> Result<CampaignDetails, String> {
        serde_json::from_value::<CampaignRequest>(j).map_err(|e| e.to_string())?.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn valid_marketing_campaign() {
        let c = validate(marketing("B0000001")).unwrap();
        assert_eq!(c.optout_keywords(), vec!["STOP", "QUIT"]);
        assert_eq!(c.samples().count(), 2);
    }

    #[test]
    fn per_usecase_rules() {
        let mut j = marketing("B0000001");
        j.as_object_mut().unwrap().remove("sample2");
        j["optoutKeywords"] = "QUIT".into();
        j["subUsecases"] = serde_json::json!(["2FA"]);
        let e = validate(j).unwrap_err();
        for f in ["sample2", "optoutKeywords: must include STOP", "subUsecases"] {
            assert!(e.contains(f), "{f} missing from {e}");
        }
        let mut j = marketing("B0000001");
        j["usecase"] = "MIXED".into();
        j["subUsecases"] = serde_json::json!(["MARKETING"]);
        assert!(validate(j.clone()).unwrap_err().contains("need 2 to 5 subUsecases"));
        j["subUsecases"] = serde_json::json!(["MARKETING", "MIXED"]);
        assert!(validate(j.clone()).unwrap_err().contains("cannot be a sub-use-case"));
        j["subUsecases"] = serde_json::json!(["MARKETING", "2FA"]);
        validate(j).unwrap();
    }

    #[test]
    fn links_and_phones_must_be_declared() {
        let mut j = marketing("B0000001");
        j["sample1"] = "Acme: see https://acme.example/offer today. Reply STOP to opt out.".into();
        assert!(validate(j.clone()).unwrap_err().contains("sample1: contains a link"));
        j["embeddedLink"] = true.into();
        validate(j.clone()).unwrap();
        j["sample2"] = "Acme: call us at (415) 555-0100 to book. Reply STOP to opt out.".into();
        assert!(validate(j).unwrap_err().contains("embeddedPhone"));
    }

    #[test]
    fn eligibility() {
        use EntityType::*;
        use IdentityStatus::*;
        assert!(check_brand_eligibility(Usecase::Marketing, PrivateProfit, Verified).is_ok());
        assert!(check_brand_eligibility(Usecase::Marketing, PrivateProfit, Unverified).is_err());
        assert!(check_brand_eligibility(Usecase::Political, PrivateProfit, Verified).is_err());
        assert!(check_brand_eligibility(Usecase::Political, PrivateProfit, VettedVerified).is_ok());
        assert!(check_brand_eligibility(Usecase::SoleProprietor, SoleProprietor, SelfDeclared).is_ok());
        assert!(check_brand_eligibility(Usecase::Marketing, SoleProprietor, SelfDeclared).is_err());
        assert!(check_brand_eligibility(Usecase::Charity, PrivateProfit, VettedVerified).is_err());
    }

    #[test]
    fn throughput_classes() {
        assert_eq!(ThroughputClass::for_campaign(Usecase::Marketing, 80), ThroughputClass::B);
        assert_eq!(ThroughputClass::for_campaign(Usecase::TwoFactorAuth, 80), ThroughputClass::A);
        assert_eq!(ThroughputClass::for_campaign(Usecase::TwoFactorAuth, 60), ThroughputClass::C);
        assert_eq!(ThroughputClass::for_campaign(Usecase::Mixed, 10), ThroughputClass::F);
        assert_eq!(ThroughputClass::for_campaign(Usecase::LowVolume, 99), ThroughputClass::T);
        assert_eq!(ThroughputClass::A.sms_per_minute(), 4_500);
    }
}
