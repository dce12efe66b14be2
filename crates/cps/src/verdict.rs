//! What a terminating verifier makes of the PASSporTs a CPS holds for one call when more than one
//! verifies.
//!
//! A CPS record is named by (terminating SPC, called, calling number), and any authenticated
//! publisher may add to it: the originating provider, a gateway forwarding the originating
//! provider's PASSporT, but also a provider that signs a PASSporT of its own for the same
//! numbers. When PASSporTs of **one** signer verify (its retransmissions and re-publishes), that
//! signer vouches for the call. When PASSporTs of **several** signers verify, nothing tells which
//! of them placed the call: the call is *ambiguous*, so
//!
//! - no caller name is shown (a name is the signer's word, and the verifier cannot tell whose
//!   word applies), and
//! - the weakest attestation among the signers decides (C below B below A): no publisher can
//!   raise what the call is credited with by adding a PASSporT, only lower it;
//! - a signer the RMD rule refuses does not get the call refused when another signer's PASSporT
//!   verifies too (the call cannot be attributed to it, and a refusal on a third party's word
//!   would let any certificate holder absent from the RMD block others' calls); when every
//!   signer is refused, the call is.

use vouch_shaken::Attestation;

/// One held PASSporT that verified for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The SPC of the certificate that signed it (who vouches).
    pub signer: &'a str,
    /// Its attestation.
    pub attest: Attestation,
    /// Whether the RMD rule refuses its signer.
    pub refused: bool,
}

/// Which candidate answers the call ([`decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The index of the candidate whose outcome answers the call.
    pub index: usize,
    /// Several signers' PASSporTs verified: show no caller name.
    pub ambiguous: bool,
}

/// Decides among the PASSporTs that verified for one call, given newest first: `None` when
/// none did. One signer: its newest. Several: ambiguous, and the weakest attestation among the
/// signers not refused by the RMD rule (the newest of those on a tie), or the newest refusal
/// when every signer is refused.
pub fn decide(candidates: &[Candidate<'_>]) -> Option<Verdict> {
    let first = candidates.first()?;
    if candidates.iter().all(|c| c.signer == first.signer) {
        return Some(Verdict { index: 0, ambiguous: false });
    }
    let weakest = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.refused)
        // max_by_key keeps the last maximum; reversing keeps the newest (lowest index).
        .rev()
        .max_by_key(|(_, c)| c.attest)
        .map(|(i, _)| i)
        .unwrap_or(0);
    Some(Verdict { index: weakest, ambiguous: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Attestation::{A, B, C};

    fn c(signer: &str, attest: Attestation, refused: bool) -> Candidate<'_> {
        Candidate { signer, attest, refused }
    }

    #[test]
    fn one_signer_is_not_ambiguous_and_its_newest_answers() {
        assert_eq!(decide(&[]), None);
        assert_eq!(decide(&[c("731A", A, false)]), Some(Verdict { index: 0, ambiguous: false }));
        // Re-publishes and retransmissions of one signer, whatever their attestations.
        assert_eq!(
            decide(&[c("731A", B, false), c("731A", A, false), c("731A", A, false)]),
            Some(Verdict { index: 0, ambiguous: false })
        );
        // One signer refused by the RMD rule: its refusal answers.
        assert_eq!(decide(&[c("731A", A, true)]), Some(Verdict { index: 0, ambiguous: false }));
    }

    #[test]
    fn several_signers_are_ambiguous_and_the_weakest_attestation_decides() {
        // Another publisher's A PASSporT newest: ambiguous, and still A (no name either way).
        assert_eq!(decide(&[c("753C", A, false), c("731A", A, false)]), Some(Verdict { index: 0, ambiguous: true }));
        // The weakest wins wherever it is; on a tie, the newest of the weakest.
        assert_eq!(
            decide(&[c("753C", A, false), c("731A", C, false), c("731A", C, false), c("731A", B, false)]),
            Some(Verdict { index: 1, ambiguous: true })
        );
        assert_eq!(decide(&[c("731A", A, false), c("753C", B, false)]), Some(Verdict { index: 1, ambiguous: true }));
    }

    #[test]
    fn a_refused_signer_refuses_the_call_only_when_every_signer_is_refused() {
        assert_eq!(decide(&[c("753C", C, true), c("731A", A, false)]), Some(Verdict { index: 1, ambiguous: true }));
        assert_eq!(decide(&[c("753C", C, true), c("731A", A, true)]), Some(Verdict { index: 0, ambiguous: true }));
    }
}
