//! The syntax rules for an x5u URL (ATIS-1000074 §5.3.1 as deployed): no I/O.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::error::FetchError;
use crate::policy::FetchPolicy;

/// Longest accepted x5u URL, in bytes. Real x5u URLs are well under 200 bytes; the cap bounds the
/// memory a hostile PASSporT can make the cache and logs hold.
pub const MAX_URL_LEN: usize = 2048;

/// The ports an x5u URL may use (ATIS-1000074): 443 and 8443.
pub const STANDARD_PORTS: [u16; 2] = [443, 8443];

/// The host of a checked x5u URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum X5uHost {
    /// A DNS name (lower-case, IDNA-encoded), still to be resolved and checked.
    Domain(String),
    /// An IP literal, already checked against the SSRF guard.
    Ip(IpAddr),
}

impl fmt::Display for X5uHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Self::Ip(IpAddr::V4(a)) => write!(f, "{a}"),
        }
    }
}

/// An x5u URL that passed [`check_x5u_url`]: https, port 443/8443 (or allow-listed), no
/// userinfo, query or fragment, and — if the host is an IP literal — not a special-purpose
/// address unless allow-listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X5uUrl {
    url: Url,
    host: X5uHost,
    port: u16,
}

impl X5uUrl {
    /// The normalised URL (WHATWG serialisation): the cache key and what is requested.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host.
    pub fn host(&self) -> &X5uHost {
        &self.host
    }

    /// The port (443 when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the port is 443 or 8443. Other ports are accepted only for allow-listed
    /// addresses; for a domain name that is checked on every resolved address.
    pub fn standard_port(&self) -> bool {
        STANDARD_PORTS.contains(&self.port)
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }
}

impl fmt::Display for X5uUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check an x5u URL's syntax against the rules, without any I/O.
///
/// Refuses, in this order: longer than [`MAX_URL_LEN`] or unparsable ([`FetchError::BadUrl`]),
/// not `https` ([`FetchError::NotHttps`]), userinfo ([`FetchError::Userinfo`]), a query
/// ([`FetchError::Query`]), a fragment ([`FetchError::Fragment`]), no host, an IP-literal host
/// in a special-purpose range that `policy.allow` does not cover
/// ([`FetchError::ForbiddenAddress`]), and a port other than 443/8443
/// ([`FetchError::ForbiddenPort`]) unless the host is an allow-listed IP literal, or a domain name
/// while the allow-list is non-empty (its addresses are then checked when resolved).
///
/// Domain names are not resolved here; [`crate::CertFetcher::fetch`] checks every address they
/// resolve to.
pub fn check_x5u_url(url: &str, policy: &FetchPolicy) -> Result<X5uUrl, FetchError> {
    if url.len() > MAX_URL_LEN {
        return Err(FetchError::BadUrl(format!("longer than {MAX_URL_LEN} bytes")));
    }
    let parsed = Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
    if parsed.scheme() != "https" {
        return Err(FetchError::NotHttps { scheme: parsed.scheme().to_owned() });
    }
    // The parser drops an empty userinfo ("https://@host/"), so look at the raw authority too.
    if !parsed.username().is_empty() || parsed.password().is_some() || raw_authority_has_at(url) {
        return Err(FetchError::Userinfo);
    }
    if parsed.query().is_some() {
        return Err(FetchError::Query);
    }
    if parsed.fragment().is_some() {
        return Err(FetchError::Fragment);
    }
    let host = match parsed.host() {
        Some(Host::Domain(d)) if !d.is_empty() => X5uHost::Domain(d.to_owned()),
        Some(Host::Ipv4(a)) => X5uHost::Ip(IpAddr::V4(a)),
        Some(Host::Ipv6(a)) => X5uHost::Ip(IpAddr::V6(a)),
        _ => return Err(FetchError::BadUrl("no host".to_owned())),
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    match &host {
        X5uHost::Ip(addr) => policy.check_addr(&host.to_string(), *addr, port)?,
        X5uHost::Domain(_) => {
            if !STANDARD_PORTS.contains(&port) && policy.allow.is_empty() {
                return Err(FetchError::ForbiddenPort { port });
            }
        }
    }
    Ok(X5uUrl { url: parsed, host, port })
}

/// Whether the authority of `url` (between `//` and the first `/`, `\`, `?` or `#`) contains `@`.
fn raw_authority_has_at(url: &str) -> bool {
    let Some(start) = url.find("//") else { return false };
    let rest = &url[start + 2..];
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    rest[..end].contains('@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<X5uUrl, FetchError> {
        check_x5u_url(url, &FetchPolicy::default())
    }

    #[test]
    fn accepts_https_on_443_and_8443() {
        let u = check("https://cert.example.org/passport.pem").expect("ok");
        assert_eq!((u.port(), u.host()), (443, &X5uHost::Domain("cert.example.org".into())));
        assert_eq!(check("https://cert.example.org:443/a.pem").expect("ok").port(), 443);
        assert_eq!(check("https://cert.example.org:8443/a.pem").expect("ok").port(), 8443);
        assert_eq!(check("https://CERT.Example.ORG/a.pem").expect("ok").as_str(), "https://cert.example.org/a.pem");
        assert!(check("https://8.8.8.8/a.pem").is_ok());
        assert!(check("https://[2606:4700:4700::1111]:8443/a.pem").is_ok());
    }

    #[test]
    fn refuses_each_rule() {
        assert!(
            matches!(check("http://cert.example.org/a.pem"), Err(FetchError::NotHttps { scheme }) if scheme == "http")
        );
        assert!(matches!(check("ftp://cert.example.org/a.pem"), Err(FetchError::NotHttps { .. })));
        assert_eq!(check("https://cert.example.org:8080/a.pem"), Err(FetchError::ForbiddenPort { port: 8080 }));
        assert_eq!(check("https://cert.example.org:80/a.pem"), Err(FetchError::ForbiddenPort { port: 80 }));
        assert_eq!(check("https://user:pw@cert.example.org/a.pem"), Err(FetchError::Userinfo));
        assert_eq!(check("https://user@cert.example.org/a.pem"), Err(FetchError::Userinfo));
        assert_eq!(check("https://@cert.example.org/a.pem"), Err(FetchError::Userinfo));
        assert_eq!(check("https://:@cert.example.org/a.pem"), Err(FetchError::Userinfo));
        assert_eq!(check("https://cert.example.org/a.pem?x=1"), Err(FetchError::Query));
        assert_eq!(check("https://cert.example.org/a.pem?"), Err(FetchError::Query));
        assert_eq!(check("https://cert.example.org/a.pem#x"), Err(FetchError::Fragment));
        assert_eq!(check("https://cert.example.org/a.pem#"), Err(FetchError::Fragment));
        assert!(matches!(check("not a url"), Err(FetchError::BadUrl(_))));
        assert!(matches!(check("/relative/a.pem"), Err(FetchError::BadUrl(_))));
        assert!(matches!(check("https:///a.pem"), Err(FetchError::BadUrl(_)) | Ok(_)));
        let long = format!("https://cert.example.org/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(check(&long), Err(FetchError::BadUrl(_))));
    }

    #[test]
    fn refuses_special_ip_literals_without_allow_list() {
        for (url, addr) in [
            ("https://127.0.0.1/a.pem", "127.0.0.1"),
            ("https://[::1]/a.pem", "::1"),
            ("https://10.0.0.1/a.pem", "10.0.0.1"),
            ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
            ("https://[::ffff:127.0.0.1]/a.pem", "::ffff:127.0.0.1"),
            ("https://[64:ff9b::a9fe:a9fe]/a.pem", "64:ff9b::a9fe:a9fe"),
            ("https://0x7f000001/a.pem", "127.0.0.1"),
            ("https://2130706433/a.pem", "127.0.0.1"),
            ("https://0/a.pem", "0.0.0.0"),
            ("https://100.64.0.1/a.pem", "100.64.0.1"),
            ("https://224.0.0.1/a.pem", "224.0.0.1"),
            ("https://255.255.255.255/a.pem", "255.255.255.255"),
            ("https://192.0.2.1/a.pem", "192.0.2.1"),
            ("https://[fe80::1]/a.pem", "fe80::1"),
            ("https://[fd00::1]/a.pem", "fd00::1"),
        ] {
            let want: IpAddr = addr.parse().expect("addr");
            match check(url) {
                Err(FetchError::ForbiddenAddress { addr, .. }) => assert_eq!(addr, want, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn allow_list_exempts_addresses_and_ports() {
        let policy = FetchPolicy { allow: vec!["127.0.0.0/8".parse().expect("net")], ..FetchPolicy::default() };
        let u = check_x5u_url("https://127.0.0.1:40123/a.pem", &policy).expect("allowed");
        assert_eq!((u.port(), u.standard_port()), (40123, false));
        assert!(check_x5u_url("https://[::ffff:127.0.0.1]:1/a.pem", &policy).is_ok());
        assert!(matches!(check_x5u_url("https://10.0.0.1/a.pem", &policy), Err(FetchError::ForbiddenAddress { .. })));
        // A public address is not special, but a non-standard port still needs the allow-list.
        assert_eq!(check_x5u_url("https://8.8.8.8:9000/a.pem", &policy), Err(FetchError::ForbiddenPort { port: 9000 }));
        // Domain names with other ports are deferred to resolution when an allow-list exists.
        assert!(check_x5u_url("https://sti.lab.test:9443/a.pem", &policy).is_ok());
    }

    #[test]
    fn raw_authority() {
        assert!(raw_authority_has_at("https://a@b/"));
        assert!(!raw_authority_has_at("https://b/a@c"));
        assert!(!raw_authority_has_at("https://b?a@c"));
        assert!(raw_authority_has_at("https://a@b"));
        assert!(!raw_authority_has_at("nothing"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = check(&s);
        }

        #[test]
        fn never_panics_on_url_like_input(
            scheme in "(https?|HTTPS|ftp)",
            auth in "[a-z0-9@:.\\[\\]%_-]{0,40}",
            rest in "[/a-zA-Z0-9?#%.@\\\\-]{0,60}",
        ) {
            let s = format!("{scheme}://{auth}{rest}");
            if let Ok(u) = check(&s) {
                proptest::prop_assert!(u.as_str().starts_with("https://"));
                proptest::prop_assert!(u.standard_port());
                let again = check(u.as_str());
                proptest::prop_assert_eq!(again.as_ref().map(X5uUrl::as_str), Ok(u.as_str()));
            }
        }
    }
}
