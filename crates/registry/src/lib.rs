//! vouch's registry domain, with no I/O.
//!
//! This crate holds what the registry *is*: the types that name providers, brands, campaigns and
//! telephone numbers in the industry's words (TCR's field names and enumerations), the rules that
//! decide whether a brand is who it says it is (automated vetting) and whether a campaign is
//! complete for its use case, the registry [`Event`]s with their deterministic canonical encoding,
//! and the in-memory [`NumberIndex`] that answers "which campaign holds this number now".
//!
//! Nothing here reads a clock, a socket or a file: time and randomness are passed in, bytes come
//! in and values come out. Storage and transport adapters wrap it.

mod brand;
mod campaign;
mod error;
mod event;
mod ids;
mod import;
mod index;
mod number_map;
mod provider;
mod risk;
mod sanctions;
mod tn;
mod vetting;

pub use brand::{
    AltBusinessIdType, BrandDetails, BrandRelationship, BrandRequest, EntityType, IdentityStatus, StockExchange,
    Vertical,
};
pub use campaign::{
    CampaignDetails, CampaignRequest, CampaignStatus, SharingStatus, ThroughputClass, Usecase, check_brand_eligibility,
};
pub use error::{FieldViolation, RegistryError, Violations};
pub use event::{Actor, EVENT_ENCODING_VERSION, Event, EventBody, RMD_EVENT_FRNS, RmdChangeTotals, Seq};
pub use ids::{BrandId, CampaignId, ProviderId, ReportId};
pub use import::{ImportRow, import_field, is_import_header, parse_import_csv};
pub use index::{CampaignSlot, IndexedAssignment, NumberIndex};
pub use provider::{Frn, Ocn, ProviderRegistration, Role, Spc};
pub use risk::{EinTwin, RiskPolicy, RiskReason, RiskScore, RiskSignals, Threshold, busiest_hour};
pub use sanctions::{SanctionsEntry, SanctionsList, SanctionsMatch};
pub use tn::TelephoneNumber;
pub use vetting::{EinHolder, Severity, VETTED_SCORE, VettingContext, VettingOutcome, VettingReason, lei_valid, vet};
pub use vouch_canonical_json::{CanonicalJsonError, to_canonical_json};
