//! Interpreting a fetched response: the PEM certificate chain and the caching headers. No I/O.

use std::borrow::Cow;
use std::time::Duration;

use jiff::Timestamp;
use x509_parser::pem::Pem;

use crate::error::FetchError;

/// A parsed certificate chain: DER certificates in the order of the response, and the earliest
/// `notAfter` of the leaf and the certificates it chains to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedChain {
    /// DER certificates, in the order they appear in the response (leaf first, by convention).
    pub certificates: Vec<Vec<u8>>,
    /// The earliest `notAfter` of the first certificate (the leaf) and of the certificates that
    /// chain from it by name (see [`parse_pem_chain`]). Other certificates in the response do
    /// not count.
    pub earliest_not_after: Timestamp,
}

/// Parse a response body as a PEM certificate chain (`application/pem-certificate-chain`,
/// RFC 8555 §9.1). Text outside PEM blocks and blocks with other labels are ignored; every
/// `CERTIFICATE` block must hold exactly one DER X.509 certificate.
///
/// A `-----BEGIN …-----` or `-----END …-----` marker is recognised anywhere, not only at the start
/// of a line (`<pre>-----BEGIN CERTIFICATE-----`, `-----END CERTIFICATE----------BEGIN …`), so a
/// block is never skipped and the first certificate stays the first.
///
/// `earliest_not_after` covers the first certificate and the chain built from it by names only
/// (no signature check): the certificate whose subject is its issuer, then that one's issuer, and
/// so on, each certificate at most once, stopping at a self-issued one. An unrelated extra
/// certificate (e.g. a TLS CA appended by the repository) does not shorten caching.
pub fn parse_pem_chain(body: &[u8]) -> Result<ParsedChain, FetchError> {
    let body = normalise_markers(body);
    let mut certificates = Vec::new();
    let mut names: Vec<CertNames> = Vec::new();
    for (index, block) in Pem::iter_from_buffer(&body).enumerate() {
        let block = block.map_err(|e| FetchError::BadCertificate { index, reason: format!("PEM: {e}") })?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let cert_names = {
            let (rest, cert) = x509_parser::parse_x509_certificate(&block.contents)
                .map_err(|e| FetchError::BadCertificate { index, reason: format!("X.509: {e}") })?;
            if !rest.is_empty() {
                return Err(FetchError::BadCertificate {
                    index,
                    reason: format!("{} bytes after the certificate", rest.len()),
                });
            }
            let secs = cert.validity().not_after.timestamp();
            let not_after = Timestamp::from_second(secs)
                .map_err(|e| FetchError::BadCertificate { index, reason: format!("notAfter: {e}") })?;
            CertNames { subject: cert.subject().as_raw().to_vec(), issuer: cert.issuer().as_raw().to_vec(), not_after }
        };
        names.push(cert_names);
        certificates.push(block.contents);
    }
    chain_not_after(&names)
        .map(|earliest_not_after| ParsedChain { certificates, earliest_not_after })
        .ok_or(FetchError::NoCertificate)
}

/// The names (DER, as encoded) and `notAfter` of one certificate of a response.
struct CertNames {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    not_after: Timestamp,
}

/// The earliest `notAfter` of the first certificate and of those chaining from it by name; `None`
/// when there is no certificate. Quadratic in the number of certificates, which the body cap
/// keeps small (a P-256 certificate is over 400 bytes, so at most ~20 in 8 KiB).
fn chain_not_after(certs: &[CertNames]) -> Option<Timestamp> {
    let mut current = certs.first()?;
    let mut earliest = current.not_after;
    let mut used = vec![false; certs.len()];
    if let Some(u) = used.first_mut() {
        *u = true;
    }
    while current.subject != current.issuer {
        let next = certs.iter().zip(used.iter_mut()).find(|(c, used)| !**used && c.subject == current.issuer);
        let Some((issuer, used)) = next else { break };
        *used = true;
        earliest = earliest.min(issuer.not_after);
        current = issuer;
    }
    Some(earliest)
}

const DASHES: &[u8] = b"-----";
const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";

/// `body` with a line break inserted before every PEM marker that does not start a line and after
/// every marker's closing dashes that do not end one, so that the line-based PEM reader sees every
/// marker on a line of its own. Borrows `body` when nothing needs inserting; otherwise makes one
/// copy, sized exactly.
fn normalise_markers(body: &[u8]) -> Cow<'_, [u8]> {
    let inserts = marker_breaks(body).count();
    if inserts == 0 {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len() + inserts);
    let mut from = 0;
    for at in marker_breaks(body) {
        out.extend_from_slice(body.get(from..at).unwrap_or_default());
        out.push(b'\n');
        from = at;
    }
    out.extend_from_slice(body.get(from..).unwrap_or_default());
    Cow::Owned(out)
}

/// The offsets (increasing, distinct) where [`normalise_markers`] inserts a line break.
fn marker_breaks(body: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut i = 0;
    let mut pending: Option<usize> = None;
    let mut last: Option<usize> = None;
    std::iter::from_fn(move || {
        loop {
            if let Some(at) = pending.take()
                && last != Some(at)
            {
                last = Some(at);
                return Some(at);
            }
            let rest = body.get(i..)?;
            if rest.is_empty() {
                return None;
            }
            if !(rest.starts_with(BEGIN) || rest.starts_with(END)) {
                i += 1;
                continue;
            }
            let start = i;
            // The closing dashes, on the marker's own line.
            let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let label = rest.get(DASHES.len()..line_end).unwrap_or_default();
            let close = label.windows(DASHES.len()).position(|w| w == DASHES).map(|p| start + 2 * DASHES.len() + p);
            i = close.unwrap_or(start + DASHES.len());
            if let Some(close) = close {
                let after = body.get(close..).unwrap_or_default();
                if !(after.is_empty() || after.starts_with(b"\n") || after.starts_with(b"\r\n")) {
                    pending = Some(close);
                }
            }
            let at_line_start = start == 0 || body.get(start - 1) == Some(&b'\n');
            if !at_line_start && last != Some(start) {
                last = Some(start);
                return Some(start);
            }
        }
    })
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

    /// A certificate as (PEM, DER); `issuer` signs it (self-signed without one).
    fn cert(
        cn: &str,
        not_after: (i32, u8, u8),
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
    ) -> (String, Vec<u8>, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let c = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).expect("signed"),
            None => params.self_signed(&key).expect("self-signed"),
        };
        (c.pem(), c.der().to_vec(), rcgen::Issuer::new(params, key))
    }

    fn year(y: i16) -> Timestamp {
        jiff::civil::date(y, 1, 1).to_zoned(jiff::tz::TimeZone::UTC).expect("date").timestamp()
    }

    #[test]
    fn pem_markers_anywhere() {
        let (root_pem, root_der, root) = cert("root", (2040, 1, 1), None);
        let (leaf_pem, leaf_der, _) = cert("leaf", (2035, 1, 1), Some(&root));
        let (leaf, root) = (leaf_pem.trim_end(), root_pem.trim_end());
        let both = vec![leaf_der.clone(), root_der.clone()];
        for body in [
            format!("<html><pre>{leaf}\n{root}</pre></html>"),
            format!("<html><pre>{leaf}{root}</pre></html>"),
            format!("{leaf}  {root}"),
            format!("  {leaf}\r\n\t{root}\r\n"),
            format!("{leaf}\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----{root}"),
        ] {
            let parsed = parse_pem_chain(body.as_bytes()).expect(&body);
            assert_eq!(parsed.certificates, both, "{body}");
        }
        // A broken marker is an error wherever it is, as one at the start of a line always was.
        for body in [format!("{leaf}\n-----BEGIN CERTIFI\n{root}"), format!("{leaf}-----BEGIN CERTIFI\n{root}")] {
            assert!(
                matches!(parse_pem_chain(body.as_bytes()), Err(FetchError::BadCertificate { index: 1, .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn marker_normalisation_copies_at_most_once() {
        let plain = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(normalise_markers(plain), Cow::Borrowed(_)));
        let html = b"<pre>-----BEGIN X-----\nAAAA\n-----END X----------BEGIN Y-----\r\n-----END Y-----</pre>";
        let out = normalise_markers(html);
        assert_eq!(
            &*out,
            b"<pre>\n-----BEGIN X-----\nAAAA\n-----END X-----\n-----BEGIN Y-----\r\n-----END Y-----\n</pre>"
        );
        assert_eq!(out.len(), html.len() + 3, "one break per marker boundary, none doubled");
        if let Cow::Owned(v) = out {
            assert_eq!(v.capacity(), v.len(), "allocated once, exactly");
        }
    }

    #[test]
    fn earliest_not_after_follows_the_chain_from_the_leaf() {
        let (root_pem, _, root) = cert("root", (2040, 1, 1), None);
        let (mid_pem, _, mid) = cert("intermediate", (2038, 1, 1), Some(&root));
        let (leaf_pem, _, _) = cert("leaf", (2036, 1, 1), Some(&mid));
        let (stray_pem, _, _) = cert("unrelated TLS CA", (2030, 1, 1), None);
        let earliest = |pems: &[&str]| parse_pem_chain(pems.concat().as_bytes()).expect("parsed").earliest_not_after;
        assert_eq!(earliest(&[&leaf_pem, &mid_pem, &root_pem]), year(2036));
        assert_eq!(earliest(&[&leaf_pem, &mid_pem, &stray_pem]), year(2036), "an unrelated certificate is ignored");
        assert_eq!(earliest(&[&leaf_pem, &stray_pem, &root_pem, &mid_pem]), year(2036), "in any order");
        assert_eq!(earliest(&[&stray_pem, &leaf_pem]), year(2030), "the first certificate always counts");
        // An intermediate expiring before the leaf caps it, wherever it is in the response.
        let (short_mid_pem, _, short_mid) = cert("short intermediate", (2032, 1, 1), Some(&root));
        let (leaf2_pem, _, _) = cert("leaf 2", (2036, 1, 1), Some(&short_mid));
        assert_eq!(earliest(&[&leaf2_pem, &root_pem, &short_mid_pem]), year(2032));
        // A root expiring first counts too.
        let (old_root_pem, _, old_root) = cert("old root", (2031, 1, 1), None);
        let (leaf3_pem, _, _) = cert("leaf 3", (2036, 1, 1), Some(&old_root));
        assert_eq!(earliest(&[&leaf3_pem, &old_root_pem]), year(2031));
    }

    #[test]
    fn chain_walk_terminates_on_name_loops() {
        let names = |s: &str, i: &str, y: i16| CertNames { subject: s.into(), issuer: i.into(), not_after: year(y) };
        // a <- b <- a: a loop of names, and a duplicate of the leaf.
        let certs = [names("a", "b", 2036), names("b", "a", 2035), names("a", "b", 2030), names("c", "c", 2020)];
        assert_eq!(chain_not_after(&certs), Some(year(2030)));
        assert_eq!(chain_not_after(&[]), None);
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

        #[test]
        fn normalisation_only_inserts_line_breaks(s in "(-----|BEGIN |END |CERT|-|\n|\r|<pre>|A){0,40}") {
            let out = normalise_markers(s.as_bytes());
            let mut rest = out.iter().copied().filter(|&b| b != b'\n');
            proptest::prop_assert!(s.bytes().filter(|&b| b != b'\n').eq(&mut rest));
            let _ = parse_pem_chain(s.as_bytes());
        }
    }
}
