//! vouch's call authentication logic, with no I/O: bytes and registry facts in, decisions and
//! bytes out. The service crate wraps it with the store, keys and certificate fetching; the
//! HTTP and SIP adapters wrap the service.
//!
//! - [`atis`]: the ATIS-1000082 STI-AS / STI-VS interface: request parsing, the SVC/POL
//!   exception table, E1-E19 verification outcomes.
//! - [`attest`]: the attestation the registry supports for a call (A/B/C), and the verified
//!   caller name.
//! - [`redirect`]: the SIP redirect server's responses (302 with Identity or verstat, RFC 8224
//!   refusals, RFC 9410 `Reason: STIR`).
//! - [`replay`]: replayed PASSporT detection.
//! - [`rmd`]: the FCC Robocall Mitigation Database export.

pub mod atis;
pub mod attest;
pub mod redirect;
pub mod replay;
pub mod rmd;

pub use atis::{
    DivSigningRequest, DivSigningResponse, Failure, ServiceException, Signing, SigningRequest, SigningResponse,
    VerificationRequest, VerificationResponse,
};
pub use attest::{BrandFacts, Decision, NumberHolder, decide};
pub use replay::{Presentation, ReplayCache, Seen, decode_presentations, encode_presentations};
pub use rmd::{Implementation, RmdChanges, RmdError, RmdFiling, RmdSnapshot};
