//! x5u URL checks and Cache-Control parsing: never panic; what passes is https on 443/8443 with
//! no userinfo, query or fragment, is not a special-purpose IP literal, and re-checks to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_certfetch::{FetchPolicy, X5uHost, check_x5u_url, parse_cache_control, ranges};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = parse_cache_control([s]);
    let policy = FetchPolicy::default();
    if let Ok(u) = check_x5u_url(s, &policy) {
        let text = u.as_str();
        assert!(text.starts_with("https://"), "{text}");
        assert!(u.standard_port(), "{text}");
        assert!(!text.contains('?') && !text.contains('#'), "{text}");
        if let X5uHost::Ip(addr) = u.host() {
            assert!(ranges::classify(*addr).is_none(), "{text}");
        }
        let again = check_x5u_url(text, &policy).expect("a checked URL passes again");
        assert_eq!(again.as_str(), text);
    }
    let lab = FetchPolicy { allow: vec!["10.0.0.0/8".parse().expect("net")], ..FetchPolicy::default() };
    if let Ok(u) = check_x5u_url(s, &lab)
        && let X5uHost::Ip(addr) = u.host()
        && !u.standard_port()
    {
        assert!(lab.is_allowed(*addr), "{s}");
    }
});
