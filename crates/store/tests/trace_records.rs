//! What a trace reads of the gateway's records: the decisions nearest an instant, read outward
//! from it on both sides, and the whole window's counts per account, verdict and fingerprint,
//! whatever the number of records in it.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use vouch_registry::ProviderId;
use vouch_store::{GatewayRecord, Store};

const SOURCE: &str = "+12025557000";

fn record(at: Timestamp, source: &str, n: u64) -> GatewayRecord {
    GatewayRecord {
        at,
        system_id: format!("acct{}", n % 3),
        provider_id: ProviderId::from_random(n % 3 + 1),
        source: source.to_owned(),
        campaign_id: None,
        dest_key: format!("{n:032x}"),
        fingerprint: format!("{:016x}", n % 7),
        parts: 1,
        verdict: if n.is_multiple_of(5) { "rejected" } else { "accepted" }.to_owned(),
        status: if n.is_multiple_of(5) { 0x400 } else { 0 },
        detail: String::new(),
        message_id: None,
    }
}

#[tokio::test]
async fn a_trace_reads_outward_from_the_instant_and_counts_the_whole_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vouch.db")).await.unwrap();
    let t0: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let at = |n: u64| t0 + SignedDuration::from_millis(i64::try_from(n).unwrap() * 37);
    // 3,000 records of the source over about 2 minutes and 400 of another number, written in
    // three writes whose batches overlap in time (a second node, or a late flush), so that
    // batch order is not time order.
    let mut all: Vec<GatewayRecord> = (0..3_000).map(|n| record(at(n), SOURCE, n)).collect();
    let (early, late): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|r| r.at < at(1_500));
    let other: Vec<GatewayRecord> = (0..400).map(|n| record(at(n * 7), "+12025550101", n)).collect();
    store.insert_gateway_records(&late, &[]).await.unwrap();
    store.insert_gateway_records(&other, &[]).await.unwrap();
    store.insert_gateway_records(&early, &[]).await.unwrap();
    all.sort_by_key(|r| r.at);

    let since = at(200);
    let until = at(2_800);
    for instant in [at(1_000), at(1_000) + SignedDuration::from_millis(5), at(199), at(2_900), at(2_800)] {
        for each in [1u32, 10, 1_000] {
            let (before, after) = store.gateway_records_around(SOURCE, instant, since, until, each).await.unwrap();
            let in_window = all.iter().filter(|r| r.at >= since && r.at <= until);
            let want_before: Vec<Timestamp> =
                in_window.clone().filter(|r| r.at <= instant).rev().take(each as usize).map(|r| r.at).collect();
            let want_after: Vec<Timestamp> =
                in_window.filter(|r| r.at > instant).take(each as usize).map(|r| r.at).collect();
            assert_eq!(before.iter().map(|r| r.at).collect::<Vec<_>>(), want_before, "before {instant} ({each})");
            assert_eq!(after.iter().map(|r| r.at).collect::<Vec<_>>(), want_after, "after {instant} ({each})");
            assert!(before.iter().chain(&after).all(|r| r.source == SOURCE));
        }
    }

    // The counts cover all 2,601 records of the window, not only those read.
    let counts = store.gateway_record_counts(SOURCE, since, until).await.unwrap();
    let mut want: BTreeMap<(String, ProviderId, String), u64> = BTreeMap::new();
    let mut fingerprints: BTreeMap<String, u64> = BTreeMap::new();
    for r in all.iter().filter(|r| r.at >= since && r.at <= until) {
        *want.entry((r.system_id.clone(), r.provider_id, r.verdict.clone())).or_default() += 1;
        *fingerprints.entry(r.fingerprint.clone()).or_default() += 1;
    }
    let got: BTreeMap<(String, ProviderId, String), u64> =
        counts.into_iter().map(|c| ((c.system_id, c.provider_id, c.verdict), c.messages)).collect();
    assert_eq!(got, want);
    assert_eq!(got.values().sum::<u64>(), 2_601);
    let got: BTreeMap<String, u64> =
        store.gateway_fingerprint_counts(SOURCE, since, until).await.unwrap().into_iter().collect();
    assert_eq!(got, fingerprints);

    // The ends of time neither overflow nor find anything.
    let (b, a) = store.gateway_records_around(SOURCE, Timestamp::MIN, Timestamp::MIN, Timestamp::MIN, 5).await.unwrap();
    assert!(b.is_empty() && a.is_empty());
    assert!(store.gateway_record_counts(SOURCE, Timestamp::MAX, Timestamp::MAX).await.unwrap().is_empty());
}
