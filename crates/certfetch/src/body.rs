//! Interpreting a fetched response: the PEM certificate chain and the caching headers. No I/O.

use std::time::Duration;

use jiff::Timestamp;
use x509_parser::pem::Pem;

use crate::error::FetchError;

/// A parsed certificate chain: DER certificates in the order of the response, and the earliest
/// `notAfter` among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedChain {
    /// DER certificates, in the order they appear in the response (leaf first, by convention).
    pub certificates: Vec<Vec<u8>>,
    /// The earliest `notAfter` of the certificates.
    pub earliest_not_after: Timestamp,
}

/// Parse a response body as a PEM certificate chain (`application/pem-certificate-chain`,
/// RFC 8555 §9.1). Text outside PEM blocks and blocks with other labels are ignored; every
/// `CERTIFICATE` block must hold exactly one DER X.509 certificate.
pub fn parse_pem_chain(body: &[u8]) -> Result<ParsedChain, FetchError> {
    let mut certificates = Vec::new();
    let mut earliest: Option<Timestamp> = None;
    for (index, block) in Pem::iter_from_buffer(body).enumerate() {
        let block = block.map_err(|e| FetchError::BadCertificate { index, reason: format!("PEM: {e}") })?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let not_after = {
            let (rest, cert) = x509_parser::parse_x509_certificate(&block.contents)
                .map_err(|e| FetchError::BadCertificate { index, reason: format!("X.509: {e}") })?;
            if !rest.is_empty() {
                return Err(FetchError::BadCertificate {
                    index,
                    reason: format!("{} bytes after the certificate", rest.len()),
                });
            }
            let secs = cert.validity().not_after.timestamp();
            Timestamp::from_second(secs)
                .map_err(|e| FetchError::BadCertificate { index, reason: format!("notAfter: {e}") })?
        };
        earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
        certificates.push(block.contents);
    }
    // `earliest` is set exactly when a certificate was kept.
    earliest.map(|earliest_not_after| ParsedChain { certificates, earliest_not_after }).ok_or(FetchError::NoCertificate)
}

/// What the `Cache-Control` header(s) of a response ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheDirective {
    /// `max-age=N` (seconds), without `no-store` or `no-cache`.
    MaxAge(u64),
    /// `no-store` or `no-cache`: treated as "cache for the minimum" (ATIS-1000074's 24 h).
    NoStore,
    /// No recognised directive.
    None,
}

/// Parse the `Cache-Control` header values of a response (several headers are one list).
/// `no-store`/`no-cache` win over `max-age`; an unparsable `max-age` is ignored.
pub fn parse_cache_control<'a>(values: impl IntoIterator<Item = &'a str>) -> CacheDirective {
    let mut max_age = None;
    let mut no_store = false;
    for directive in values.into_iter().flat_map(|v| v.split(',')) {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            no_store = true;
        } else if name.eq_ignore_ascii_case("max-age")
            && let Some(v) = value
            && !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
        {
            // RFC 9111 §1.2.2: a delta-seconds too large to represent means "very long".
            let secs = v.parse::<u64>().unwrap_or(u64::MAX);
            max_age = Some(max_age.map_or(secs, |m: u64| m.min(secs)));
        }
    }
    match (no_store, max_age) {
        (true, _) => CacheDirective::NoStore,
        (false, Some(s)) => CacheDirective::MaxAge(s),
        (false, None) => CacheDirective::None,
    }
}

/// When a chain fetched at `now` stops being served from the cache: `now + max(max-age,
/// min_cache)`, capped at the chain's earliest `notAfter`, but never sooner than
/// `now + floor` (the negative-cache time: an already expired chain is not refetched per call).
pub fn expiry(
    now: Timestamp,
    directive: CacheDirective,
    min_cache: Duration,
    earliest_not_after: Timestamp,
    floor: Duration,
) -> Timestamp {
    let lifetime = match directive {
        CacheDirective::MaxAge(s) => Duration::from_secs(s).max(min_cache),
        CacheDirective::NoStore | CacheDirective::None => min_cache,
    };
    let lifetime = lifetime.min(Duration::from_secs(100 * 365 * 86_400));
    let wanted = add(now, lifetime).min(earliest_not_after);
    wanted.max(add(now, floor.min(lifetime)))
}

/// `t + d`, saturating at the largest timestamp.
pub(crate) fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(parse_cache_control(["max-age=60"]), CacheDirective::MaxAge(60));
        assert_eq!(parse_cache_control(["public, MAX-AGE=\"172800\""]), CacheDirective::MaxAge(172_800));
        assert_eq!(parse_cache_control(["max-age=60", "no-cache"]), CacheDirective::NoStore);
        assert_eq!(parse_cache_control(["no-store, max-age=999999"]), CacheDirective::NoStore);
        assert_eq!(parse_cache_control(["no-cache=\"Set-Cookie\""]), CacheDirective::NoStore);
        assert_eq!(parse_cache_control(["max-age=-1"]), CacheDirective::None);
        assert_eq!(parse_cache_control(["max-age="]), CacheDirective::None);
        assert_eq!(parse_cache_control(["private"]), CacheDirective::None);
        assert_eq!(parse_cache_control(Vec::<&str>::new()), CacheDirective::None);
        assert_eq!(parse_cache_control(["max-age=99999999999999999999999"]), CacheDirective::MaxAge(u64::MAX));
        assert_eq!(parse_cache_control(["max-age=100, max-age=50"]), CacheDirective::MaxAge(50));
    }

    #[test]
    fn expiry_rules() {
        let now = Timestamp::from_second(1_800_000_000).expect("ts");
        let day = Duration::from_secs(86_400);
        let far = add(now, day * 3650);
        let s = |d: Duration| add(now, d);
        let floor = Duration::from_secs(30);
        assert_eq!(expiry(now, CacheDirective::MaxAge(60), day, far, floor), s(day));
        assert_eq!(expiry(now, CacheDirective::MaxAge(172_800), day, far, floor), s(day * 2));
        assert_eq!(expiry(now, CacheDirective::NoStore, day, far, floor), s(day));
        assert_eq!(expiry(now, CacheDirective::None, day, far, floor), s(day));
        assert_eq!(expiry(now, CacheDirective::MaxAge(u64::MAX), day, far, floor), far);
        let soon = s(Duration::from_secs(3600));
        assert_eq!(expiry(now, CacheDirective::MaxAge(172_800), day, soon, floor), soon);
        let past = Timestamp::from_second(1_700_000_000).expect("ts");
        assert_eq!(expiry(now, CacheDirective::None, day, past, floor), s(floor));
    }

    #[test]
    fn pem_rejections() {
        assert_eq!(parse_pem_chain(b""), Err(FetchError::NoCertificate));
        assert_eq!(parse_pem_chain(b"<html>not a certificate</html>"), Err(FetchError::NoCertificate));
        assert_eq!(
            parse_pem_chain(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            Err(FetchError::NoCertificate)
        );
        assert!(matches!(
            parse_pem_chain(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(FetchError::BadCertificate { index: 0, .. })
        ));
        assert!(matches!(
            parse_pem_chain(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            Err(FetchError::BadCertificate { index: 0, .. })
        ));
        assert!(matches!(
            parse_pem_chain(b"-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Err(FetchError::BadCertificate { index: 0, .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn pem_parser_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_pem_chain(&body);
        }

        #[test]
        fn pem_parser_never_panics_on_pem_like_input(s in "(-----(BEGIN|END) CERTIFICATE-----\n|[A-Za-z0-9+/=]{0,80}\n){0,8}") {
            let _ = parse_pem_chain(s.as_bytes());
        }
    }
}
