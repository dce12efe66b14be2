//! Attestation from the registry (ATIS-1000074 section 5.2.3, decided by who really holds the
//! number rather than by the signer's say-so).
//!
//! - **A**: the calling number is held (through a campaign, or a number block the provider
//!   registered for the customer) by a brand of the signing provider whose identity is VERIFIED
//!   or better and whose campaign is active, or it is a number the provider registered as its own.
//! - **B**: the signing provider knows the customer (the request names one of its brands, or
//!   the number is held by one of its brands that is not verified or not active), but the
//!   number is not shown to be the customer's.
//! - **C**: anything else (gateway traffic, unknown numbers).
//!
//! The caller may ask for a level; the level signed is never higher (never more trusted) than
//! the one the registry supports.

use vouch_registry::{BrandId, CampaignId, CampaignStatus, IdentityStatus, ProviderId};
use vouch_shaken::Attestation;

/// What the registry holds about a brand, as attestation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandFacts {
    /// The brand.
    pub id: BrandId,
    /// The provider that registered it (its CSP, the signing provider's customer relation).
    pub csp: ProviderId,
    /// How far its identity is established.
    pub status: IdentityStatus,
    /// The name signed as `rcd.nam` when the brand is VETTED_VERIFIED
    /// ([`vouch_registry::BrandRequest::verified_caller_name`]).
    pub caller_name: String,
}

/// Who holds the calling number, according to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberHolder {
    /// Assigned to a campaign.
    Campaign {
        /// The campaign.
        campaign: CampaignId,
        /// Its status.
        status: CampaignStatus,
        /// Its brand.
        brand: BrandFacts,
    },
    /// In a number block a voice provider registered: its own numbers (`brand` absent) or a
    /// customer's.
    Block {
        /// The provider that registered the block.
        provider: ProviderId,
        /// The customer the block is for.
        brand: Option<BrandFacts>,
    },
}

/// The attestation the registry supports, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The attestation to sign.
    pub attest: Attestation,
    /// Why, in words a trust engineer can check against the registry.
    pub reason: String,
    /// The brand behind the call, when known.
    pub brand: Option<BrandId>,
    /// The campaign holding the number, when there is one.
    pub campaign: Option<CampaignId>,
    /// The verified caller name to sign as `rcd.nam` (VETTED_VERIFIED brands at A only).
    pub caller_name: Option<String>,
}

impl Decision {
    fn new(attest: Attestation, reason: String, brand: Option<&BrandFacts>, campaign: Option<CampaignId>) -> Self {
        let caller_name = brand
            .filter(|b| attest == Attestation::A && b.status == IdentityStatus::VettedVerified)
            .map(|b| b.caller_name.clone());
        Self { attest, reason, brand: brand.map(|b| b.id), campaign, caller_name }
    }

    /// At most B (and no caller name), for `why`, when the registry says more.
    pub fn at_most_b(mut self, why: &str) -> Self {
        if self.attest == Attestation::A {
            self.attest = Attestation::B;
            self.reason = format!("{}, but {why}", self.reason);
            self.caller_name = None;
        }
        self
    }

    /// Applies the caller's requested level: the result is the less trusted of the two.
    pub fn capped_by(mut self, requested: Attestation) -> Self {
        if requested > self.attest {
            self.reason = format!("{} asked for; {}", requested, self.reason);
            self.attest = requested;
            self.caller_name = None;
        }
        self
    }
}

/// Decides the attestation for a call from `provider` with the calling number held by
/// `holder`, the provider having authenticated `customer` as the caller (when it says so).
pub fn decide(provider: ProviderId, customer: Option<&BrandFacts>, holder: Option<&NumberHolder>) -> Decision {
    // A customer only counts when it is the provider's own.
    let customer = customer.filter(|c| c.csp == provider);
    let (brand, campaign, active) = match holder {
        Some(NumberHolder::Block { provider: p, brand: None }) if *p == provider => {
            // The provider's own number: A, whoever the provider says the caller is. A named
            // customer is not the number's holder, so its name is never signed for it.
            let mut d = Decision::new(
                Attestation::A,
                "the number is in a block the provider registered as its own".into(),
                None,
                None,
            );
            if let Some(c) = customer {
                d.reason = format!("{}; the customer named (brand {}) is not the number's holder", d.reason, c.id);
                d.brand = Some(c.id);
            }
            return d;
        }
        Some(NumberHolder::Block { provider: p, brand: Some(b) }) if *p == provider => (b, None, true),
        Some(NumberHolder::Campaign { campaign, status, brand }) if brand.csp == provider => {
            (brand, Some(*campaign), *status == CampaignStatus::Active)
        }
        _ => {
            return match customer {
                Some(c) => Decision::new(
                    Attestation::B,
                    format!("the customer (brand {}) is known, but the registry does not give it this number", c.id),
                    Some(c),
                    None,
                ),
                None => Decision::new(
                    Attestation::C,
                    "the registry does not give this number to the provider or one of its customers".into(),
                    None,
                    None,
                ),
            };
        }
    };
    if let Some(c) = customer
        && c.id != brand.id
    {
        return Decision::new(
            Attestation::B,
            format!("the customer (brand {}) is known, but the number is held by brand {}", c.id, brand.id),
            Some(c),
            None,
        );
    }
    let held = match campaign {
        Some(c) => format!("campaign {c} of brand {}", brand.id),
        None => format!("a number block of brand {}", brand.id),
    };
    if !active {
        return Decision::new(
            Attestation::B,
            format!("the number is held by {held}, but the campaign is not active"),
            Some(brand),
            campaign,
        );
    }
    if !brand.status.is_verified() {
        return Decision::new(
            Attestation::B,
            format!("the number is held by {held}, whose identity is {}", brand.status.as_str()),
            Some(brand),
            campaign,
        );
    }
    Decision::new(
        Attestation::A,
        format!("the number is held by {held}, whose identity is {}", brand.status.as_str()),
        Some(brand),
        campaign,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u8) -> ProviderId {
        ProviderId::from_random(u64::from(n))
    }

    fn brand(n: u8, csp: ProviderId, status: IdentityStatus) -> BrandFacts {
        BrandFacts { id: BrandId::from_random(u64::from(n)), csp, status, caller_name: format!("Brand {n}") }
    }

    #[test]
    fn the_table() {
        let p = pid(1);
        let other = pid(2);
        let verified = brand(1, p, IdentityStatus::Verified);
        let vetted = brand(2, p, IdentityStatus::VettedVerified);
        let unverified = brand(3, p, IdentityStatus::Unverified);
        let foreign = brand(4, other, IdentityStatus::VettedVerified);
        let camp = |b: &BrandFacts, status| NumberHolder::Campaign {
            campaign: CampaignId::from_random(9),
            status,
            brand: b.clone(),
        };
        let active = CampaignStatus::Active;
        let a = |d: Decision| d.attest;
        assert_eq!(a(decide(p, None, Some(&camp(&verified, active)))), Attestation::A);
        let d = decide(p, None, Some(&camp(&vetted, active)));
        assert_eq!((d.attest, d.caller_name.as_deref()), (Attestation::A, Some("Brand 2")));
        assert_eq!(decide(p, None, Some(&camp(&verified, active))).caller_name, None);
        assert_eq!(a(decide(p, None, Some(&camp(&unverified, active)))), Attestation::B);
        assert_eq!(a(decide(p, None, Some(&camp(&verified, CampaignStatus::Suspended)))), Attestation::B);
        let d = decide(p, None, Some(&camp(&vetted, active))).at_most_b("the number itself is suspended");
        assert_eq!((d.attest, d.caller_name), (Attestation::B, None));
        assert!(d.reason.ends_with("but the number itself is suspended"), "{}", d.reason);
        assert_eq!(a(decide(p, None, None).at_most_b("x")), Attestation::C, "never raises");
        // The number belongs to another provider's brand.
        assert_eq!(a(decide(p, None, Some(&camp(&foreign, active)))), Attestation::C);
        assert_eq!(a(decide(p, Some(&verified), Some(&camp(&foreign, active)))), Attestation::B);
        // A customer that is not the provider's does not count.
        assert_eq!(a(decide(p, Some(&foreign), None)), Attestation::C);
        // The customer named is not the holder.
        assert_eq!(a(decide(p, Some(&vetted), Some(&camp(&verified, active)))), Attestation::B);
        assert_eq!(a(decide(p, None, None)), Attestation::C);
        assert_eq!(a(decide(p, Some(&verified), None)), Attestation::B);
        // Blocks.
        let own = NumberHolder::Block { provider: p, brand: None };
        assert_eq!(a(decide(p, None, Some(&own))), Attestation::A);
        assert_eq!(a(decide(other, None, Some(&own))), Attestation::C);
        let customers = NumberHolder::Block { provider: p, brand: Some(vetted.clone()) };
        let d = decide(p, None, Some(&customers));
        assert_eq!((d.attest, d.caller_name.as_deref()), (Attestation::A, Some("Brand 2")));
        let weak = NumberHolder::Block { provider: p, brand: Some(unverified) };
        assert_eq!(a(decide(p, None, Some(&weak))), Attestation::B);
    }

    #[test]
    fn a_customer_named_on_the_providers_own_number_gets_no_caller_name() {
        let p = pid(1);
        let own = NumberHolder::Block { provider: p, brand: None };
        let vetted = brand(2, p, IdentityStatus::VettedVerified);
        let d = decide(p, Some(&vetted), Some(&own));
        // A stays right (the provider holds the number), but the registry does not tie the
        // number to the brand: no verified caller name.
        assert_eq!((d.attest, d.caller_name.as_deref()), (Attestation::A, None), "{}", d.reason);
        assert!(d.reason.contains("registered as its own"), "{}", d.reason);
        assert!(d.reason.contains(&format!("(brand {}) is not the number's holder", vetted.id)), "{}", d.reason);
        // The call is still recorded as the customer's, which the provider authenticated.
        assert_eq!((d.brand, d.campaign), (Some(vetted.id), None));
        // Without a customer, nothing about one.
        let d = decide(p, None, Some(&own));
        assert_eq!((d.attest, d.caller_name, d.brand), (Attestation::A, None, None));
        assert!(!d.reason.contains("customer"), "{}", d.reason);
        // A customer of another provider does not count at all.
        let foreign = brand(4, pid(2), IdentityStatus::VettedVerified);
        let d = decide(p, Some(&foreign), Some(&own));
        assert_eq!((d.attest, d.caller_name, d.brand), (Attestation::A, None, None));
    }

    #[test]
    fn requests_cap_never_raise() {
        let p = pid(1);
        let d = decide(p, None, None);
        assert_eq!(d.clone().capped_by(Attestation::A).attest, Attestation::C);
        let vetted = brand(2, p, IdentityStatus::VettedVerified);
        let holder = NumberHolder::Block { provider: p, brand: Some(vetted) };
        let d = decide(p, None, Some(&holder)).capped_by(Attestation::B);
        assert_eq!((d.attest, d.caller_name), (Attestation::B, None));
        assert!(d.reason.starts_with("B asked for"), "{}", d.reason);
    }
}
