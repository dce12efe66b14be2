//! Gateway decision records: written in batches keyed by source number, read back by number,
//! window and CSP exactly as if they were one time-ordered table.
#![allow(clippy::unwrap_used)]

use jiff::{SignedDuration, Timestamp};
use vouch_registry::{CampaignId, ProviderId};
use vouch_store::{GatewayRecord, RECORD_BATCH_SPAN, RecordFilter, Store};

fn record(at: Timestamp, source: &str, provider: ProviderId, n: u64) -> GatewayRecord {
    GatewayRecord {
        at,
        system_id: format!("acct{}", provider.to_u64() % 10),
        provider_id: provider,
        source: source.to_owned(),
        campaign_id: Some(CampaignId::from_random(n % 3 + 1)),
        dest_key: format!("{n:032x}"),
        fingerprint: format!("{:016x}", n * 31),
        parts: 1,
        verdict: if n.is_multiple_of(5) { "rejected" } else { "accepted" }.to_owned(),
        status: if n.is_multiple_of(5) { 0x400 } else { 0 },
        detail: String::new(),
        message_id: Some(format!("{n:x}")),
    }
}

/// The same question asked of a plain list: newest first, then latest written first.
fn expected<'a>(all: &'a [GatewayRecord], f: &RecordFilter<'_>, limit: usize) -> Vec<&'a GatewayRecord> {
    let mut v: Vec<(usize, &GatewayRecord)> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| f.source.is_none_or(|s| r.source == s))
        .filter(|(_, r)| f.provider.is_none_or(|p| r.provider_id == p))
        .filter(|(_, r)| r.at >= f.since && r.at <= f.until)
        .collect();
    v.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(b.0.cmp(&a.0)));
    v.into_iter().take(limit).map(|(_, r)| r).collect()
}

#[tokio::test]
async fn records_round_trip_by_number_window_and_csp() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vouch.db")).await.unwrap();
    let t0: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let csps = [ProviderId::from_random(11), ProviderId::from_random(12)];
    let sources = ["+12025550101", "+12025550102", "+12025550103", "+13105550199"];
    // Four writes of 250 records 300 ms apart, so that each write holds several batches
    // (RECORD_BATCH_SPAN is shorter than a write's span) and batches interleave sources.
    let mut all = Vec::new();
    let mut n = 0u64;
    for write in 0..4 {
        let mut batch = Vec::new();
        for _ in 0..250 {
            let at = t0 + SignedDuration::from_millis(i64::try_from(n).unwrap() * 300);
            let r = record(at, sources[(n * 7 % 4) as usize], csps[(n % 2) as usize], n);
            batch.push(r);
            n += 1;
        }
        store.insert_gateway_records(&batch, &[]).await.unwrap();
        all.extend(batch);
        let _ = write;
    }
    let batches: (i64,) = sqlx::query_as("SELECT count(*) FROM gateway_record_batches")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    let span_ms = i64::try_from(RECORD_BATCH_SPAN.as_millis()).unwrap();
    assert!(batches.0 >= 4 * (250 * 300 / span_ms), "a write longer than the span is split: {} batches", batches.0);

    let end = all.last().unwrap().at;
    let windows = [
        (t0, end),
        (t0 + SignedDuration::from_secs(25), t0 + SignedDuration::from_secs(95)),
        (t0 + SignedDuration::from_millis(150_100), t0 + SignedDuration::from_millis(150_500)),
        (end + SignedDuration::from_secs(1), end + SignedDuration::from_secs(60)),
    ];
    for (since, until) in windows {
        for source in [None, Some(sources[0]), Some(sources[3]), Some("+19995550000")] {
            for provider in [None, Some(csps[1])] {
                for limit in [1usize, 7, 10_000] {
                    let f = RecordFilter { source, provider, since, until };
                    let got = store.gateway_records(&f, u32::try_from(limit).unwrap()).await.unwrap();
                    let want = expected(&all, &f, limit);
                    assert_eq!(got.len(), want.len(), "{f:?} limit {limit}");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g, *w, "{f:?} limit {limit}");
                    }
                }
            }
        }
    }

    // Retention deletes whole batches that ended before the cut, and nothing after it.
    let cut = t0 + SignedDuration::from_secs(200);
    let deleted = store.purge_gateway_records(cut).await.unwrap();
    let left = store
        .gateway_records(&RecordFilter { source: None, provider: None, since: t0, until: end }, 10_000)
        .await
        .unwrap();
    assert_eq!(usize::try_from(deleted).unwrap() + left.len(), all.len());
    let cut_with_span = cut - SignedDuration::try_from(RECORD_BATCH_SPAN).unwrap();
    assert!(left.iter().all(|r| r.at >= cut_with_span), "only records within a span of the cut remain before it");
    assert_eq!(left.iter().filter(|r| r.at >= cut).count(), all.iter().filter(|r| r.at >= cut).count());
}

/// Opt-outs: START keeps a row that says so (other nodes read the recent rows), only opt-outs
/// in force load at start, and old opt-ins are purged while opt-outs stay.
#[tokio::test]
async fn opt_ins_stay_readable_as_changes_until_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vouch.db")).await.unwrap();
    let t0: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
    let (c1, c2) = (CampaignId::from_random(1), CampaignId::from_random(2));
    let (k1, k2) = (format!("{:032x}", 1), format!("{:032x}", 2));
    store.set_opt_out(c1, &k1, true, t0).await.unwrap();
    store.set_opt_out(c2, &k1, true, t0 + SignedDuration::from_secs(1)).await.unwrap();
    store.set_opt_out(c1, &k2, true, t0 + SignedDuration::from_secs(2)).await.unwrap();
    store.set_opt_out(c1, &k1, false, t0 + SignedDuration::from_secs(3)).await.unwrap();

    let mut in_force = store.opt_outs().await.unwrap();
    in_force.sort();
    let mut want = vec![(c2, k1.clone()), (c1, k2.clone())];
    want.sort();
    assert_eq!(in_force, want, "the lifted opt-out is not in force");

    let changes = store.opt_out_changes(t0 + SignedDuration::from_secs(2)).await.unwrap();
    let seen: Vec<(CampaignId, &str, bool)> =
        changes.iter().map(|c| (c.campaign, c.dest_key.as_str(), c.opted_out)).collect();
    assert_eq!(seen, vec![(c1, k2.as_str(), true), (c1, k1.as_str(), false)], "oldest first, from `since` on");
    assert_eq!(changes[1].at, t0 + SignedDuration::from_secs(3));

    // STOP again after START: the same row says opted out, at the new time.
    store.set_opt_out(c1, &k1, true, t0 + SignedDuration::from_secs(4)).await.unwrap();
    assert_eq!(store.opt_outs().await.unwrap().len(), 3);
    store.set_opt_out(c1, &k1, false, t0 + SignedDuration::from_secs(5)).await.unwrap();

    assert_eq!(store.purge_opt_ins(t0 + SignedDuration::from_secs(5)).await.unwrap(), 0, "not older than the bound");
    assert_eq!(store.purge_opt_ins(t0 + SignedDuration::from_secs(6)).await.unwrap(), 1);
    assert_eq!(store.opt_out_changes(t0).await.unwrap().len(), 2, "opt-outs in force are never purged");
    assert_eq!(store.opt_outs().await.unwrap().len(), 2);
}

/// The per-minute figures: every written record counted once under its minute, verdict and
/// status; summed over CSPs or of one; added to by later writes; purged with the records.
#[tokio::test]
async fn decisions_are_counted_per_minute_verdict_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vouch.db")).await.unwrap();
    let t0: Timestamp = "2026-11-20T12:00:50Z".parse().unwrap();
    let csps = [ProviderId::from_random(11), ProviderId::from_random(12)];
    // 40 records over 20 s (12:00:50 to 12:01:09.5): two minutes, two CSPs, every fifth rejected.
    let all: Vec<GatewayRecord> = (0..40u64)
        .map(|n| record(t0 + SignedDuration::from_millis(500 * n as i64), "+12025550101", csps[(n % 2) as usize], n))
        .collect();
    store.insert_gateway_records(&all[..25], &[]).await.unwrap();
    store.insert_gateway_records(&all[25..], &[]).await.unwrap();

    let expect = |provider: Option<ProviderId>| {
        let mut m: std::collections::BTreeMap<(i64, String, u32), u64> = Default::default();
        for r in all.iter().filter(|r| provider.is_none_or(|p| r.provider_id == p)) {
            let minute = r.at.as_second() - r.at.as_second().rem_euclid(60);
            *m.entry((minute, r.verdict.clone(), r.status)).or_default() += 1;
        }
        let mut v: Vec<(i64, String, u32, u64)> = m.into_iter().map(|((a, b, c), n)| (a, b, c, n)).collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        v
    };
    let got = |rows: Vec<vouch_store::GatewayMinute>| -> Vec<(i64, String, u32, u64)> {
        rows.into_iter().map(|m| (m.minute.as_second(), m.verdict, m.status, m.messages)).collect()
    };
    let since = t0 - SignedDuration::from_secs(30);
    let everyone = got(store.gateway_minutes(since, None).await.unwrap());
    assert_eq!(everyone, expect(None));
    assert_eq!(everyone.iter().map(|r| r.3).sum::<u64>(), 40);
    assert_eq!(everyone.len(), 4, "two minutes, accepted and rejected: {everyone:?}");
    assert_eq!(got(store.gateway_minutes(since, Some(csps[1])).await.unwrap()), expect(Some(csps[1])));
    // From the second minute on only (a `since` inside a minute counts that whole minute).
    let later = got(store.gateway_minutes("2026-11-20T12:01:30Z".parse().unwrap(), None).await.unwrap());
    assert!(later.iter().all(|r| r.0 == t0.as_second() + 10), "{later:?}");

    store.purge_gateway_records(t0 + SignedDuration::from_hours(1)).await.unwrap();
    assert!(store.gateway_minutes(since, None).await.unwrap().is_empty());
}

/// Throughput totals: a node's figure for a key and period is replaced, not added to; a node
/// reads the sum of the others' and never its own; old periods are purged.
#[tokio::test]
async fn throughput_totals_are_summed_over_the_other_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("vouch.db")).await.unwrap();
    let row = |scope: &str, key: &str, period: i64, count: u64| vouch_store::UsageRow {
        scope: scope.to_owned(),
        key: key.to_owned(),
        period,
        count,
    };
    store.put_gateway_usage("a", &[row("m", "c1:0", 100, 5), row("d", "b1", 20, 5)]).await.unwrap();
    store.put_gateway_usage("a", &[row("m", "c1:0", 100, 7), row("d", "b1", 20, 7)]).await.unwrap();
    store
        .put_gateway_usage("b", &[row("m", "c1:0", 100, 3), row("m", "c1:0", 98, 9), row("d", "b1", 19, 4)])
        .await
        .unwrap();
    store.put_gateway_usage("c", &[row("m", "c1:0", 100, 1), row("d", "b1", 20, 2)]).await.unwrap();

    let mut seen = store.others_gateway_usage("c", 99, 20).await.unwrap();
    seen.sort_by(|x, y| (&x.scope, x.period).cmp(&(&y.scope, y.period)));
    assert_eq!(seen, vec![row("d", "b1", 20, 7), row("m", "c1:0", 100, 10)], "a's latest plus b's, not c's own");
    let mut seen = store.others_gateway_usage("a", 98, 19).await.unwrap();
    seen.sort_by(|x, y| (&x.scope, x.period).cmp(&(&y.scope, y.period)));
    assert_eq!(
        seen,
        vec![row("d", "b1", 19, 4), row("d", "b1", 20, 2), row("m", "c1:0", 98, 9), row("m", "c1:0", 100, 4)]
    );

    assert_eq!(store.purge_gateway_usage(100, 20).await.unwrap(), 2, "minute 98 and day 19");
    assert_eq!(store.others_gateway_usage("z", 0, 0).await.unwrap().len(), 2);
}
