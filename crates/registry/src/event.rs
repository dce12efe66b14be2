//! Registry events: every mutation of the registry, in order, with a deterministic encoding.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    BrandId, BrandRequest, CampaignId, CampaignRequest, Frn, ProviderId, ProviderRegistration, RegistryError, Spc,
    TelephoneNumber, VettingOutcome, to_canonical_json,
};

/// An event's position in the registry's one total order, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The operator's administrator key.
    Admin,
    /// vouch itself (bootstrap, automatic re-vetting).
    System,
    /// A provider, through one of its API keys.
    Provider(ProviderId),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::System => f.write_str("system"),
            Self::Provider(p) => p.fmt(f),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "admin" => Ok(Self::Admin),
            "system" => Ok(Self::System),
            p => p.parse().map(Self::Provider).map_err(serde::de::Error::custom),
        }
    }
}

/// Most FRNs an `rmd.imported` event lists in each of `added`, `removed` and `changed`.
pub const RMD_EVENT_FRNS: usize = 1_000;

/// How many FRNs an RMD import added, removed and changed, when its event lists only the first
/// [`RMD_EVENT_FRNS`] of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmdChangeTotals {
    /// FRNs newly listed.
    pub added: u64,
    /// FRNs no longer listed.
    pub removed: u64,
    /// FRNs whose filing changed.
    pub changed: u64,
}

/// What happened. The `kind` strings are stable: the transparency log hashes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum EventBody {
    /// A provider was registered by the administrator.
    #[serde(rename = "provider.registered")]
    ProviderRegistered {
        /// The new provider.
        provider_id: ProviderId,
        /// What was registered.
        registration: ProviderRegistration,
    },
    /// An API key was issued (its secret never appears; `keyId` names it).
    #[serde(rename = "apikey.issued")]
    ApiKeyIssued {
        /// The provider the key acts as; absent for the administrator key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_id: Option<ProviderId>,
        /// Public identifier of the key.
        key_id: String,
    },
    /// An API key was revoked.
    #[serde(rename = "apikey.revoked")]
    ApiKeyRevoked {
        /// The provider the key acted as; absent for the administrator key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider_id: Option<ProviderId>,
        /// Public identifier of the key.
        key_id: String,
    },
    /// An SMPP account was issued to a CSP (its password never appears).
    #[serde(rename = "smppaccount.issued")]
    SmppAccountIssued {
        /// The CSP the account binds as.
        provider_id: ProviderId,
        /// The account's `system_id`.
        system_id: String,
    },
    /// An SMPP account's password was replaced (neither password nor hash appears).
    #[serde(rename = "smppaccount.rotated")]
    SmppAccountRotated {
        /// The CSP the account binds as.
        provider_id: ProviderId,
        /// The account's `system_id`.
        system_id: String,
    },
    /// An SMPP account was revoked.
    #[serde(rename = "smppaccount.revoked")]
    SmppAccountRevoked {
        /// The CSP the account bound as.
        provider_id: ProviderId,
        /// The account's `system_id`.
        system_id: String,
    },
    /// A CSP registered a brand.
    #[serde(rename = "brand.registered")]
    BrandRegistered {
        /// The new brand.
        brand_id: BrandId,
        /// Its CSP.
        csp_id: ProviderId,
        /// The brand's fields.
        brand: BrandRequest,
    },
    /// A CSP changed a brand's fields.
    #[serde(rename = "brand.updated")]
    BrandUpdated {
        /// The brand.
        brand_id: BrandId,
        /// All of its fields after the change.
        brand: BrandRequest,
    },
    /// A brand was vetted (on registration, update, request, or a new sanctions list).
    #[serde(rename = "brand.vetted")]
    BrandVetted {
        /// The brand.
        brand_id: BrandId,
        /// Score, status and reasons.
        outcome: VettingOutcome,
    },
    /// A CSP created a campaign.
    #[serde(rename = "campaign.created")]
    CampaignCreated {
        /// The new campaign.
        campaign_id: CampaignId,
        /// Its CSP.
        csp_id: ProviderId,
        /// The campaign's fields.
        campaign: CampaignRequest,
    },
    /// A CSP changed a campaign's mutable fields.
    #[serde(rename = "campaign.updated")]
    CampaignUpdated {
        /// The campaign.
        campaign_id: CampaignId,
        /// All of its fields after the change.
        campaign: CampaignRequest,
    },
    /// A CSP shared a campaign with a DCA, which must now accept or decline.
    #[serde(rename = "campaign.shared")]
    CampaignShared {
        /// The campaign.
        campaign_id: CampaignId,
        /// The DCA it was shared with.
        dca_id: ProviderId,
    },
    /// The DCA accepted the campaign.
    #[serde(rename = "campaign.sharing_accepted")]
    SharingAccepted {
        /// The campaign.
        campaign_id: CampaignId,
        /// The DCA.
        dca_id: ProviderId,
    },
    /// The DCA declined the campaign.
    #[serde(rename = "campaign.sharing_declined")]
    SharingDeclined {
        /// The campaign.
        campaign_id: CampaignId,
        /// The DCA.
        dca_id: ProviderId,
        /// Why, in the DCA's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The DCA or administrator suspended the campaign.
    #[serde(rename = "campaign.suspended")]
    CampaignSuspended {
        /// The campaign.
        campaign_id: CampaignId,
        /// Why.
        reason: String,
    },
    /// The DCA or administrator resumed a suspended campaign.
    #[serde(rename = "campaign.resumed")]
    CampaignResumed {
        /// The campaign.
        campaign_id: CampaignId,
        /// Why.
        reason: String,
    },
    /// The campaign was deactivated for good (its numbers are released by their own events).
    #[serde(rename = "campaign.expired")]
    CampaignExpired {
        /// The campaign.
        campaign_id: CampaignId,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A number was assigned to a campaign.
    #[serde(rename = "number.assigned")]
    NumberAssigned {
        /// The number.
        number: TelephoneNumber,
        /// The campaign now holding it.
        campaign_id: CampaignId,
        /// The DCA carrying the campaign at the time.
        dca_id: ProviderId,
    },
    /// A number was released from its campaign.
    #[serde(rename = "number.released")]
    NumberReleased {
        /// The number.
        number: TelephoneNumber,
        /// The campaign that held it.
        campaign_id: CampaignId,
        /// Why, when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The DCA, the administrator or an enforcement policy suspended one number of a campaign
    /// (messages from it are refused until it is reinstated or released).
    #[serde(rename = "number.suspended")]
    NumberSuspended {
        /// The number.
        number: TelephoneNumber,
        /// The campaign holding it.
        campaign_id: CampaignId,
        /// Why.
        reason: String,
    },
    /// A suspended number was reinstated.
    #[serde(rename = "number.reinstated")]
    NumberReinstated {
        /// The number.
        number: TelephoneNumber,
        /// The campaign holding it.
        campaign_id: CampaignId,
        /// Why.
        reason: String,
    },
    /// The administrator imported a sanctions list.
    #[serde(rename = "sanctions.imported")]
    SanctionsImported {
        /// Number of listed parties.
        entries: u64,
        /// Hex SHA-256 of the imported file.
        sha256: String,
    },
    /// A voice provider registered a SHAKEN certificate chain to sign with (its private key is
    /// never in an event).
    #[serde(rename = "certificate.registered")]
    CertificateRegistered {
        /// The provider.
        provider_id: ProviderId,
        /// Hex SHA-256 of the end-entity certificate's DER.
        fingerprint: String,
        /// The SPC in its TNAuthList.
        spc: Spc,
        /// The whole chain, PEM, end-entity first.
        chain_pem: String,
        /// Where verifiers fetch the chain (the PASSporT's `x5u`).
        x5u: String,
    },
    /// A provider registered a SIP peering source address (or network).
    #[serde(rename = "sippeer.added")]
    SipPeerAdded {
        /// The provider.
        provider_id: ProviderId,
        /// The address or CIDR network, e.g. `192.0.2.10/32`.
        address: String,
        /// The customer (brand) whose traffic the peer carries, when it is a customer trunk.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brand_id: Option<BrandId>,
        /// The peer is a TDM gateway: its calls lost their Identity header on a non-SIP
        /// segment, so the verifier retrieves the PASSporT from the Call Placement Service.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tdm: bool,
        /// The peer only asks for verification (a terminating SBC): an INVITE from it without
        /// Identity is marked `No-TN-Validation`, never signed for the provider.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        verify_only: bool,
    },
    /// A provider removed a SIP peering source address.
    #[serde(rename = "sippeer.removed")]
    SipPeerRemoved {
        /// The provider.
        provider_id: ProviderId,
        /// The address or network.
        address: String,
    },
    /// A voice provider registered a block of numbers as its own or a customer's.
    #[serde(rename = "numberblock.registered")]
    NumberBlockRegistered {
        /// The provider.
        provider_id: ProviderId,
        /// First number of the block.
        first: TelephoneNumber,
        /// Last number of the block (inclusive).
        last: TelephoneNumber,
        /// The customer (brand) the block is for; absent for the provider's own numbers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        brand_id: Option<BrandId>,
    },
    /// A voice provider removed a number block.
    #[serde(rename = "numberblock.removed")]
    NumberBlockRemoved {
        /// The provider.
        provider_id: ProviderId,
        /// First number of the block.
        first: TelephoneNumber,
    },
    /// The administrator imported a Robocall Mitigation Database snapshot, replacing the last.
    #[serde(rename = "rmd.imported")]
    RmdImported {
        /// Filings in the snapshot.
        filings: u64,
        /// Hex SHA-256 of the imported file.
        sha256: String,
        /// FRNs newly listed.
        added: Vec<Frn>,
        /// FRNs no longer listed.
        removed: Vec<Frn>,
        /// FRNs whose filing changed.
        changed: Vec<Frn>,
        /// When the three lists were cut to their first [`RMD_EVENT_FRNS`] FRNs each (an
        /// event has a size limit; the first import of the whole database lists some 9,000):
        /// how many FRNs each list had. Absent when nothing was cut.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totals: Option<RmdChangeTotals>,
    },
    /// A voice provider registered the HPKE public key that PASSporTs published for it to the
    /// Call Placement Service in privacy mode are sealed to (replacing the last one).
    #[serde(rename = "cpskey.registered")]
    CpsKeyRegistered {
        /// The provider.
        provider_id: ProviderId,
        /// The key's id: the first 16 hex digits of the SHA-256 of the point.
        key_id: String,
        /// The uncompressed P-256 point, base64url without padding.
        public_key: String,
    },
}

impl EventBody {
    /// The stable kind string, e.g. `brand.registered`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ProviderRegistered { .. } => "provider.registered",
            Self::ApiKeyIssued { .. } => "apikey.issued",
            Self::ApiKeyRevoked { .. } => "apikey.revoked",
            Self::SmppAccountIssued { .. } => "smppaccount.issued",
            Self::SmppAccountRotated { .. } => "smppaccount.rotated",
            Self::SmppAccountRevoked { .. } => "smppaccount.revoked",
            Self::BrandRegistered { .. } => "brand.registered",
            Self::BrandUpdated { .. } => "brand.updated",
            Self::BrandVetted { .. } => "brand.vetted",
            Self::CampaignCreated { .. } => "campaign.created",
            Self::CampaignUpdated { .. } => "campaign.updated",
            Self::CampaignShared { .. } => "campaign.shared",
            Self::SharingAccepted { .. } => "campaign.sharing_accepted",
            Self::SharingDeclined { .. } => "campaign.sharing_declined",
            Self::CampaignSuspended { .. } => "campaign.suspended",
            Self::CampaignResumed { .. } => "campaign.resumed",
            Self::CampaignExpired { .. } => "campaign.expired",
            Self::NumberAssigned { .. } => "number.assigned",
            Self::NumberReleased { .. } => "number.released",
            Self::NumberSuspended { .. } => "number.suspended",
            Self::NumberReinstated { .. } => "number.reinstated",
            Self::SanctionsImported { .. } => "sanctions.imported",
            Self::CertificateRegistered { .. } => "certificate.registered",
            Self::SipPeerAdded { .. } => "sippeer.added",
            Self::SipPeerRemoved { .. } => "sippeer.removed",
            Self::NumberBlockRegistered { .. } => "numberblock.registered",
            Self::NumberBlockRemoved { .. } => "numberblock.removed",
            Self::RmdImported { .. } => "rmd.imported",
            Self::CpsKeyRegistered { .. } => "cpskey.registered",
        }
    }

    /// The id of the entity the event is about, as text (for indexing the event table).
    pub fn subject(&self) -> String {
        match self {
            Self::ProviderRegistered { provider_id, .. } | Self::CpsKeyRegistered { provider_id, .. } => {
                provider_id.to_string()
            }
            Self::ApiKeyIssued { key_id, .. } | Self::ApiKeyRevoked { key_id, .. } => key_id.clone(),
            Self::SmppAccountIssued { system_id, .. }
            | Self::SmppAccountRotated { system_id, .. }
            | Self::SmppAccountRevoked { system_id, .. } => system_id.clone(),
            Self::BrandRegistered { brand_id, .. }
            | Self::BrandUpdated { brand_id, .. }
            | Self::BrandVetted { brand_id, .. } => brand_id.to_string(),
            Self::CampaignCreated { campaign_id, .. }
            | Self::CampaignUpdated { campaign_id, .. }
            | Self::CampaignShared { campaign_id, .. }
            | Self::SharingAccepted { campaign_id, .. }
            | Self::SharingDeclined { campaign_id, .. }
            | Self::CampaignSuspended { campaign_id, .. }
            | Self::CampaignResumed { campaign_id, .. }
            | Self::CampaignExpired { campaign_id, .. } => campaign_id.to_string(),
            Self::NumberAssigned { number, .. }
            | Self::NumberReleased { number, .. }
            | Self::NumberSuspended { number, .. }
            | Self::NumberReinstated { number, .. } => number.to_string(),
            Self::SanctionsImported { sha256, .. } | Self::RmdImported { sha256, .. } => sha256.clone(),
            Self::CertificateRegistered { fingerprint, .. } => fingerprint.clone(),
            Self::SipPeerAdded { address, .. } | Self::SipPeerRemoved { address, .. } => address.clone(),
            Self::NumberBlockRegistered { first, .. } | Self::NumberBlockRemoved { first, .. } => first.to_string(),
        }
    }
}

/// A registry event: one mutation, its place in the order, when, and by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the total order.
    pub seq: Seq,
    /// When it was committed (microsecond precision).
    pub time: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub body: EventBody,
}

/// The version of the canonical event encoding.
pub const EVENT_ENCODING_VERSION: u64 = 1;

impl Event {
    /// `time` as the fixed-width RFC 3339 text used in the canonical encoding:
    /// `2026-11-22T21:58:00.123456Z`.
    pub fn time_text(time: Timestamp) -> String {
        format!("{}.{:06}Z", time.strftime("%Y-%m-%dT%H:%M:%S"), time.subsec_microsecond())
    }

    /// The canonical bytes: `{"actor":…,"body":{…},"kind":…,"seq":…,"time":…,"v":1}` with keys
    /// sorted and no white space. These bytes are what is stored and what the transparency log
    /// will hash.
    pub fn to_canonical(&self) -> Result<Vec<u8>, RegistryError> {
        let mut value = serde_json::to_value(&self.body).map_err(|e| RegistryError::field("event", e.to_string()))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("seq".into(), self.seq.0.into());
            obj.insert("time".into(), Self::time_text(self.time).into());
            obj.insert("actor".into(), self.actor.to_string().into());
            obj.insert("v".into(), EVENT_ENCODING_VERSION.into());
        }
        Ok(to_canonical_json(&value)?)
    }

    /// Parses canonical bytes back into an event. Bytes that parse but are not exactly the
    /// canonical encoding of what they parse to (other key order, white space, time precision)
    /// are refused: an event has one encoding.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, RegistryError> {
        let event = Self::parse_envelope(bytes)?;
        if event.to_canonical()? != bytes {
            return Err(RegistryError::field("event", "not in canonical form (see docs/EVENTS.md)"));
        }
        Ok(event)
    }

    fn parse_envelope(bytes: &[u8]) -> Result<Self, RegistryError> {
        #[derive(Deserialize)]
        struct Envelope {
            seq: Seq,
            time: String,
            actor: Actor,
            v: u64,
            #[serde(flatten)]
            body: EventBody,
        }
        let env: Envelope = serde_json::from_slice(bytes).map_err(|e| RegistryError::field("event", e.to_string()))?;
        if env.v != EVENT_ENCODING_VERSION {
            return Err(RegistryError::field("v", format!("unknown event encoding version {}", env.v)));
        }
        let time = env.time.parse::<Timestamp>().map_err(|e| RegistryError::field("time", e.to_string()))?;
        Ok(Self { seq: env.seq, time, actor: env.actor, body: env.body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_round_trip_is_byte_exact() {
        let ev = Event {
            seq: Seq(42),
            time: Timestamp::from_microsecond(1_790_000_000_123_456).unwrap(),
            actor: Actor::Provider("PABCDEFG".parse().unwrap()),
            body: EventBody::NumberAssigned {
                number: "+12025550123".parse().unwrap(),
                campaign_id: "C1234567".parse().unwrap(),
                dca_id: "P7654321".parse().unwrap(),
            },
        };
        let bytes = ev.to_canonical().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"actor":"PABCDEFG","body":{"campaignId":"C1234567","dcaId":"P7654321","number":"+12025550123"},"kind":"number.assigned","seq":42,"time":"2026-09-21T14:13:20.123456Z","v":1}"#
        );
        let back = Event::from_canonical(&bytes).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.to_canonical().unwrap(), bytes);
        let spaced = String::from_utf8(bytes.clone()).unwrap().replacen(',', ", ", 1);
        assert!(Event::from_canonical(spaced.as_bytes()).is_err());
        let nanos = String::from_utf8(bytes).unwrap().replace(".123456Z", ".123456789Z");
        assert!(Event::from_canonical(nanos.as_bytes()).is_err());
    }

    #[test]
    fn smpp_account_rotation_names_the_account_only() {
        let ev = Event {
            seq: Seq(7),
            time: Timestamp::from_microsecond(1_790_000_000_123_456).unwrap(),
            actor: Actor::Admin,
            body: EventBody::SmppAccountRotated { provider_id: "PABCDEFG".parse().unwrap(), system_id: "acme1".into() },
        };
        assert_eq!(ev.body.subject(), "acme1");
        let bytes = ev.to_canonical().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"actor":"admin","body":{"providerId":"PABCDEFG","systemId":"acme1"},"kind":"smppaccount.rotated","seq":7,"time":"2026-09-21T14:13:20.123456Z","v":1}"#
        );
        assert_eq!(Event::from_canonical(&bytes).unwrap(), ev);
    }
}
