//! The SMPP gateway's rules with no I/O: given what the registry says about a message's
//! source number, decide whether it may go to the carrier, and why not.
//!
//! [`Gateway::check`] runs the checks in the order the gateway documents (docs/SMPP-GATEWAY.md):
//! the registry (the source number's campaign is ACTIVE, accepted by this gateway's DCA and
//! owned by the bound CSP), throughput ([`throughput`]: per-campaign minute rate by class,
//! per-brand daily cap), opt-out ([`optout`]), and content against the campaign's
//! declaration ([`content`]). Each refusal carries its own `command_status`. Under
//! [`Policy::Flag`] refusals become marks and the message goes on. Time is passed in.

pub mod content;
pub mod fingerprint;
pub mod optout;
pub mod throughput;
mod tlds;

use std::sync::Arc;

use dashmap::DashSet;
use jiff::Timestamp;
use vouch_registry::{CampaignId, CampaignSlot, CampaignStatus, ProviderId, TelephoneNumber};
use vouch_smpp::{Address, CommandStatus};

pub use content::{ContentClassifier, Finding, TermList};
pub use fingerprint::{DestinationKey, DestinationKeyer, hamming, simhash};
pub use optout::Keyword;
pub use throughput::{DailyTier, Limited, Throughput, ThroughputConfig, Usage, UsageKey, usage_minute};

/// What the gateway does with a message that fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse it with the check's status (the default).
    #[default]
    Block,
    /// Forward it and record the failure (for a gradual roll-out).
    Flag,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "block" => Ok(Self::Block),
            "flag" => Ok(Self::Flag),
            other => Err(format!("policy must be block or flag, not {other:?}")),
        }
    }
}

impl Policy {
    /// `block` or `flag`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Flag => "flag",
        }
    }
}

/// What a campaign declared about its content and keywords (from its registration).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CampaignRules {
    /// Messages may carry links.
    pub embedded_link: bool,
    /// Messages may carry phone numbers.
    pub embedded_phone: bool,
    /// The campaign's own opt-out words (besides CTIA's).
    pub optout_keywords: Vec<String>,
    /// The campaign's own help words.
    pub help_keywords: Vec<String>,
    /// The answer to a help word.
    pub help_message: Option<String>,
    /// The confirmation of an opt-out.
    pub optout_message: Option<String>,
}

/// Why a message failed a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The status the ESME gets (or, flagged, that is recorded).
    pub status: CommandStatus,
    /// What exactly (the link's host, the limit hit…), for the record.
    pub detail: String,
}

impl Reason {
    fn new(status: CommandStatus, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into() }
    }
}

/// The outcome of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Accept,
    /// Refused.
    Reject(Reason),
    /// Failed a check, forwarded anyway under [`Policy::Flag`].
    Flag(Reason),
}

impl Verdict {
    /// Whether the message goes to the carrier.
    pub fn forwards(&self) -> bool {
        !matches!(self, Self::Reject(_))
    }
    /// The reason, if a check failed.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Self::Accept => None,
            Self::Reject(r) | Self::Flag(r) => Some(r),
        }
    }
    /// Whether [`Gateway::check`] spent the campaign's throughput on the message: it was
    /// accepted, or flagged for a check after throughput (opt-out, content). A message that
    /// failed the registry or the rate itself spent nothing.
    pub fn spent_budget(&self) -> bool {
        match self {
            Self::Accept => true,
            Self::Reject(_) => false,
            Self::Flag(r) => matches!(
                r.status,
                CommandStatus::VOUCH_OPTED_OUT
                    | CommandStatus::VOUCH_UNDECLARED_LINK
                    | CommandStatus::VOUCH_UNDECLARED_PHONE
                    | CommandStatus::VOUCH_URL_SHORTENER
                    | CommandStatus::VOUCH_CONTENT_REFUSED
            ),
        }
    }

    /// `accepted`, `rejected` or `flagged`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accept => "accepted",
            Self::Reject(_) => "rejected",
            Self::Flag(_) => "flagged",
        }
    }
}

/// A message (all its parts) as the checks see it.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The CSP the ESME bound as.
    pub csp: ProviderId,
    /// The source number.
    pub source: TelephoneNumber,
    /// The destination's keyed hash.
    pub dest: DestinationKey,
    /// The keyed hash of the number the destination may also mean
    /// ([`address_number_alternative`]): an opt-out under either refuses the message.
    pub dest_also: Option<DestinationKey>,
    /// The whole text (parts reassembled).
    pub text: &'a str,
    /// How many SMS it is (parts).
    pub parts: u32,
    /// Now.
    pub now: Timestamp,
}

/// What the registry says of a source number, as the service looks it up.
#[derive(Debug, Clone)]
pub struct SourceFacts {
    /// The campaign holding the number now (from the index), if any.
    pub campaign: Option<CampaignSlot>,
    /// The campaign's declaration.
    pub rules: Option<Arc<CampaignRules>>,
    /// The brand's daily tier.
    pub tier: DailyTier,
    /// The number itself is suspended.
    pub number_suspended: bool,
}

/// Configuration of a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The DCA this gateway carries traffic for.
    pub dca: ProviderId,
    /// Block or flag.
    pub policy: Policy,
    /// Throughput limits.
    pub throughput: ThroughputConfig,
}

/// The gateway's rules and in-memory state (minute and day counters, opt-outs).
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    throughput: Throughput,
    opted_out: DashSet<(CampaignId, DestinationKey), foldhash::fast::RandomState>,
    classifier: Option<Arc<dyn ContentClassifier>>,
}

impl Gateway {
    /// A gateway under `config`, with an optional content classifier.
    pub fn new(config: GatewayConfig, classifier: Option<Arc<dyn ContentClassifier>>) -> Self {
        let throughput = Throughput::new(config.throughput.clone());
        Self { config, throughput, opted_out: DashSet::with_hasher(Default::default()), classifier }
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The throughput counters.
    pub fn throughput(&self) -> &Throughput {
        &self.throughput
    }

    /// Records an opt-out (STOP); `true` if it is new.
    pub fn opt_out(&self, campaign: CampaignId, dest: DestinationKey) -> bool {
        self.opted_out.insert((campaign, dest))
    }

    /// Removes an opt-out (START); `true` if there was one.
    pub fn opt_in(&self, campaign: CampaignId, dest: DestinationKey) -> bool {
        self.opted_out.remove(&(campaign, dest)).is_some()
    }

    /// Whether the subscriber opted out of the campaign.
    pub fn is_opted_out(&self, campaign: CampaignId, dest: DestinationKey) -> bool {
        self.opted_out.contains(&(campaign, dest))
    }

    /// Gives the throughput a message spent back (the SMSC refused it: it was not sent); see
    /// [`Verdict::spent_budget`].
    pub fn give_back(&self, campaign: &CampaignSlot, source: TelephoneNumber, parts: u32, now: Timestamp) {
        self.throughput.give_back(campaign, source, parts.max(1), now);
    }

    /// Runs the checks, in order; the first failure decides.
    pub fn check(&self, facts: &SourceFacts, m: &Submission<'_>) -> Verdict {
        match self.first_failure(facts, m) {
            None => Verdict::Accept,
            Some(r) => match self.config.policy {
                Policy::Block => Verdict::Reject(r),
                Policy::Flag => Verdict::Flag(r),
            },
        }
    }

    fn first_failure(&self, facts: &SourceFacts, m: &Submission<'_>) -> Option<Reason> {
        // 1. The registry.
        let Some(c) = facts.campaign else {
            return Some(Reason::new(
                CommandStatus::VOUCH_SOURCE_UNREGISTERED,
                format!("{} is not assigned", m.source),
            ));
        };
        // Ownership before anything else about the campaign: another CSP's campaign's state
        // (suspended, expired, not accepted) is none of this account's business, and its id
        // and CSP stay out of the detail this account reads back in its records.
        if c.csp != m.csp {
            return Some(Reason::new(
                CommandStatus::VOUCH_WRONG_CSP,
                format!("{} is assigned to another CSP's campaign", m.source),
            ));
        }
        match c.status {
            CampaignStatus::Active => {}
            CampaignStatus::Suspended => {
                return Some(Reason::new(CommandStatus::VOUCH_CAMPAIGN_SUSPENDED, format!("campaign {}", c.id)));
            }
            _ => return Some(Reason::new(CommandStatus::VOUCH_CAMPAIGN_EXPIRED, format!("campaign {}", c.id))),
        }
        if facts.number_suspended {
            return Some(Reason::new(
                CommandStatus::VOUCH_NUMBER_SUSPENDED,
                format!("{} in campaign {}", m.source, c.id),
            ));
        }
        if c.dca != Some(self.config.dca) {
            return Some(Reason::new(
                CommandStatus::VOUCH_CAMPAIGN_NOT_ACCEPTED,
                format!("campaign {} is not accepted by DCA {}", c.id, self.config.dca),
            ));
        }
        // 2. Throughput. A message that a later check refuses is not sent, so under the block
        // policy it is measured against the budget without spending it; the reason reported
        // still follows the order of the checks.
        let later = self.later_failure(c.id, facts, m);
        let spend = later.is_none() || self.config.policy == Policy::Flag;
        let class = c.throughput_class;
        let n = m.parts.max(1);
        let admitted = match spend {
            true => self.throughput.take(&c, m.source, facts.tier, n, m.now),
            false => self.throughput.would_take(&c, m.source, facts.tier, n, m.now),
        };
        match admitted {
            Ok(()) => later,
            Err(Limited::PerMinute) => Some(Reason::new(
                CommandStatus::ESME_RTHROTTLED,
                format!("class {} allows {} a minute", class.as_str(), class.sms_per_minute()),
            )),
            Err(Limited::Daily) => Some(Reason::new(
                CommandStatus::VOUCH_BRAND_DAILY_CAP,
                format!("brand {} reached {} today", c.brand, self.config.throughput.daily_cap(facts.tier)),
            )),
        }
    }

    /// The checks after throughput (opt-out, then content): the first failure.
    fn later_failure(&self, campaign: CampaignId, facts: &SourceFacts, m: &Submission<'_>) -> Option<Reason> {
        // 3. Opt-out.
        if self.is_opted_out(campaign, m.dest) || m.dest_also.is_some_and(|d| self.is_opted_out(campaign, d)) {
            return Some(Reason::new(CommandStatus::VOUCH_OPTED_OUT, format!("destination {}", m.dest.to_hex())));
        }
        // 4. Content.
        let default_rules = CampaignRules::default();
        let rules = facts.rules.as_deref().unwrap_or(&default_rules);
        for f in content::scan(m.text) {
            match f {
                Finding::Shortener(h) => return Some(Reason::new(CommandStatus::VOUCH_URL_SHORTENER, h)),
                Finding::Link(h) if !rules.embedded_link => {
                    return Some(Reason::new(CommandStatus::VOUCH_UNDECLARED_LINK, h));
                }
                Finding::Phone(_) if !rules.embedded_phone => {
                    return Some(Reason::new(CommandStatus::VOUCH_UNDECLARED_PHONE, "a phone number"));
                }
                _ => {}
            }
        }
        if let Some(why) = self.classifier.as_ref().and_then(|c| c.classify(m.text)) {
            return Some(Reason::new(CommandStatus::VOUCH_CONTENT_REFUSED, why));
        }
        None
    }
}

/// The telephone number an SMPP address names: TON 1 (international) reads the digits as
/// E.164; otherwise 10 digits are a North American number (+1) and 11 starting with 1 too. A
/// leading `+` is allowed. `None` for anything else (alphanumeric senders, short codes).
pub fn address_number(a: &Address<'_>) -> Option<TelephoneNumber> {
    let digits = a.addr.strip_prefix('+').unwrap_or(a.addr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let e164 = if a.ton == 1 || a.addr.starts_with('+') || digits.len() != 10 {
        format!("+{digits}")
    } else {
        format!("+1{digits}")
    };
    TelephoneNumber::parse(&e164).ok()
}

/// The other number an address may mean: ten digits that look North American under TON 1
/// (international), which [`address_number`] reads as written (`3105557001` as +3105557001),
/// may be a national number an ESME mislabelled, and a US SMSC that normalises them would
/// deliver to +13105557001. The opt-out check looks at both, so a STOP cannot be sidestepped
/// by how the number is written.
pub fn address_number_alternative(a: &Address<'_>) -> Option<TelephoneNumber> {
    let b = a.addr.as_bytes();
    let nanp = b.len() == 10
        && b.iter().all(u8::is_ascii_digit)
        && (b'2'..=b'9').contains(&b[0])
        && (b'2'..=b'9').contains(&b[3]);
    if a.ton == 1 && nanp { TelephoneNumber::parse(&format!("+1{}", a.addr)).ok() } else { None }
}

#[cfg(test)]
mod tests {
    use vouch_registry::{BrandId, ThroughputClass};

    use super::*;

    fn setup(policy: Policy) -> (Gateway, SourceFacts, Submission<'static>) {
        let dca = ProviderId::from_random(2);
        let csp = ProviderId::from_random(1);
        let g = Gateway::new(
            GatewayConfig { dca, policy, throughput: ThroughputConfig::default() },
            Some(Arc::new(TermList::parse("phishing\tverify your account"))),
        );
        let slot = CampaignSlot {
            id: CampaignId::from_random(5),
            brand: BrandId::from_random(6),
            csp,
            dca: Some(dca),
            status: CampaignStatus::Active,
            throughput_class: ThroughputClass::A,
        };
        let facts = SourceFacts {
            campaign: Some(slot),
            rules: Some(Arc::new(CampaignRules::default())),
            tier: DailyTier::Top,
            number_suspended: false,
        };
        let keyer = DestinationKeyer::new(b"k");
        let m = Submission {
            csp,
            source: "+12025550100".parse().unwrap(),
            dest: keyer.key("+13105550100".parse().unwrap()),
            dest_also: None,
            text: "Your appointment is confirmed.",
            parts: 1,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
        };
        (g, facts, m)
    }

    fn status(v: Verdict) -> u32 {
        v.reason().map_or(0, |r| r.status.0)
    }

    #[test]
    fn checks_in_order() {
        let (g, facts, m) = setup(Policy::Block);
        assert_eq!(g.check(&facts, &m), Verdict::Accept);
        let mut f = facts.clone();
        f.campaign = None;
        assert_eq!(status(g.check(&f, &m)), 0x400);
        let with = |edit: &dyn Fn(&mut CampaignSlot)| {
            let mut f = facts.clone();
            if let Some(c) = f.campaign.as_mut() {
                edit(c);
            }
            status(g.check(&f, &m))
        };
        assert_eq!(with(&|c| c.status = CampaignStatus::Suspended), 0x401);
        assert_eq!(with(&|c| c.status = CampaignStatus::Expired), 0x402);
        assert_eq!(status(g.check(&SourceFacts { number_suspended: true, ..facts.clone() }, &m)), 0x40C);
        assert_eq!(with(&|c| c.dca = None), 0x403);
        assert_eq!(with(&|c| c.dca = Some(ProviderId::from_random(9))), 0x403);
        assert_eq!(with(&|c| c.csp = ProviderId::from_random(9)), 0x404);
        // Another CSP's campaign reads the same whatever its state: nothing of it leaks.
        assert_eq!(
            with(&|c| {
                c.csp = ProviderId::from_random(9);
                c.status = CampaignStatus::Suspended;
                c.dca = None;
            }),
            0x404
        );
        let mut other = SourceFacts { number_suspended: true, ..facts.clone() };
        if let Some(c) = other.campaign.as_mut() {
            c.csp = ProviderId::from_random(9);
        }
        assert_eq!(status(g.check(&other, &m)), 0x404);
        let text = |t: &'static str| status(g.check(&facts, &Submission { text: t, ..m.clone() }));
        assert_eq!(text("Book at https://acme.example/b"), 0x407);
        assert_eq!(text("Call 415-555-0100"), 0x408);
        assert_eq!(text("Book at bit.ly/x"), 0x409);
        assert_eq!(text("Please verify your account"), 0x40A);
        let mut open = facts.clone();
        open.rules = Some(Arc::new(CampaignRules { embedded_link: true, embedded_phone: true, ..Default::default() }));
        assert_eq!(
            status(g.check(&open, &Submission { text: "Book at https://acme.example or 4155550100", ..m.clone() })),
            0
        );
        assert_eq!(status(g.check(&open, &Submission { text: "Book at tinyurl.com/x", ..m.clone() })), 0x409);
        let c = facts.campaign.unwrap().id;
        assert!(g.opt_out(c, m.dest));
        assert_eq!(status(g.check(&facts, &m)), 0x406);
        assert!(g.opt_in(c, m.dest));
        assert_eq!(status(g.check(&facts, &m)), 0);
    }

    #[test]
    fn throughput_and_flag_policy() {
        let (g, mut facts, m) = setup(Policy::Flag);
        if let Some(c) = facts.campaign.as_mut() {
            c.throughput_class = ThroughputClass::P; // 60 a minute
        }
        for _ in 0..30 {
            assert_eq!(g.check(&facts, &Submission { parts: 2, ..m.clone() }), Verdict::Accept);
        }
        let v = g.check(&facts, &m);
        assert!(v.forwards(), "flag mode forwards");
        assert_eq!(status(v.clone()), 0x58);
        assert_eq!(v.as_str(), "flagged");
    }

    #[test]
    fn a_stop_holds_however_the_destination_is_written() {
        let (g, facts, m) = setup(Policy::Block);
        let c = facts.campaign.as_ref().map(|c| c.id).unwrap();
        let keyer = DestinationKeyer::new(b"k");
        let addr = |ton: u8, addr: &'static str| Address { ton, npi: 1, addr };
        let stopped = address_number(&addr(1, "+13105557001")).unwrap();
        assert!(g.opt_out(c, keyer.key(stopped)));
        // Ten digits under TON 1 read as written, but also as the North American number.
        let mislabelled = addr(1, "3105557001");
        assert_eq!(address_number(&mislabelled).map(|n| n.to_string()), Some("+3105557001".into()));
        assert_eq!(address_number_alternative(&mislabelled), Some(stopped));
        let m = Submission {
            dest: keyer.key(address_number(&mislabelled).unwrap()),
            dest_also: address_number_alternative(&mislabelled).map(|n| keyer.key(n)),
            ..m
        };
        assert_eq!(status(g.check(&facts, &m)), 0x406);
        // Not for other shapes: national TON, a '+', other lengths, NPA or NXX starting 0/1.
        for (ton, a) in [(0, "3105557001"), (1, "+3105557001"), (1, "441234567890"), (1, "3101557001")] {
            assert_eq!(address_number_alternative(&addr(ton, a)), None, "{ton} {a}");
        }
    }

    #[test]
    fn a_blocked_message_does_not_spend_the_campaigns_budget() {
        let (g, mut facts, m) = setup(Policy::Block);
        if let Some(c) = facts.campaign.as_mut() {
            c.throughput_class = ThroughputClass::P; // 60 a minute
        }
        let c = facts.campaign.as_ref().map(|c| c.id).unwrap();
        let keyer = DestinationKeyer::new(b"k");
        let stopped = keyer.key("+13105550199".parse().unwrap());
        assert!(g.opt_out(c, stopped));
        // 100 messages to a subscriber who sent STOP, and 100 with an undeclared link: all refused
        // for what they are, none sent.
        for _ in 0..100 {
            assert_eq!(status(g.check(&facts, &Submission { dest: stopped, ..m.clone() })), 0x406);
            assert_eq!(status(g.check(&facts, &Submission { text: "See https://acme.example/x", ..m.clone() })), 0x407);
        }
        // The minute's 60 are all still there.
        for i in 0..60 {
            assert_eq!(g.check(&facts, &m), Verdict::Accept, "message {i}");
        }
        // Now the budget is spent: the rate is reported first, even for an opted-out subscriber.
        assert_eq!(status(g.check(&facts, &m)), 0x58);
        assert_eq!(status(g.check(&facts, &Submission { dest: stopped, ..m.clone() })), 0x58);
        // The brand's daily cap likewise counts only messages sent.
        assert_eq!(g.throughput.brand_today(facts.campaign.as_ref().unwrap().brand, m.now), 60);
    }

    #[test]
    fn what_the_smsc_refused_is_given_back() {
        let (g, mut facts, m) = setup(Policy::Flag);
        if let Some(c) = facts.campaign.as_mut() {
            c.throughput_class = ThroughputClass::P; // 60 a minute
        }
        let slot = facts.campaign.unwrap();
        for _ in 0..50 {
            let v = g.check(&facts, &m);
            assert!(v.spent_budget());
            g.give_back(&slot, m.source, m.parts, m.now);
        }
        assert_eq!(g.throughput.brand_today(slot.brand, m.now), 0, "nothing was sent");
        for i in 0..60 {
            assert_eq!(g.check(&facts, &m), Verdict::Accept, "message {i}");
        }
        let over = g.check(&facts, &m);
        assert_eq!(status(over.clone()), 0x58);
        assert!(!over.spent_budget(), "an over-rate message took nothing");
        assert!(g.check(&facts, &Submission { text: "See https://acme.example/x", ..m.clone() }).forwards());
        let mut unregistered = facts.clone();
        unregistered.campaign = None;
        assert!(!g.check(&unregistered, &m).spent_budget());
    }

    #[test]
    fn flagged_messages_are_sent_and_spend_the_budget() {
        let (g, mut facts, m) = setup(Policy::Flag);
        if let Some(c) = facts.campaign.as_mut() {
            c.throughput_class = ThroughputClass::P; // 60 a minute
        }
        for _ in 0..60 {
            let v = g.check(&facts, &Submission { text: "See https://acme.example/x", ..m.clone() });
            assert!(v.forwards());
            assert_eq!(status(v), 0x407);
        }
        assert_eq!(status(g.check(&facts, &m)), 0x58);
    }

    #[test]
    fn addresses() {
        let a = |ton, addr| address_number(&Address { ton, npi: 1, addr }).map(|n| n.to_string());
        assert_eq!(a(1, "12025550100").as_deref(), Some("+12025550100"));
        assert_eq!(a(0, "2025550100").as_deref(), Some("+12025550100"));
        assert_eq!(a(2, "+12025550100").as_deref(), Some("+12025550100"));
        assert_eq!(a(1, "442071234567").as_deref(), Some("+442071234567"));
        assert_eq!(a(5, "ACME"), None);
        assert_eq!(a(1, ""), None);
        assert_eq!(a(3, "55555"), None);
    }
}
