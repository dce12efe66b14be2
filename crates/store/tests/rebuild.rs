//! The view tables are views of the events: replaying the event table rebuilds them exactly.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use vouch_registry::{Actor, BrandRequest, CampaignRequest, EventBody, ProviderRegistration};
use vouch_store::Store;

/// Every row of every view table, as text, in a stable order.
async fn dump(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for (table, order) in [
        ("providers", "id"),
        ("brands", "id"),
        ("campaigns", "id"),
        ("campaign_sharing", "campaign_id, dca_id"),
        ("number_assignments", "assigned_seq"),
    ] {
        let cols: Vec<(String,)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
                .fetch_all(store.sqlite_pool().unwrap())
                .await
                .unwrap();
        let expr = cols.iter().map(|(c,)| format!("quote({c})")).collect::<Vec<_>>().join(" || '|' || ");
        let rows: Vec<(String,)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {expr} FROM {table} ORDER BY {order}")))
                .fetch_all(store.sqlite_pool().unwrap())
                .await
                .unwrap();
        out.extend(rows.into_iter().map(|(r,)| format!("{table}: {r}")));
    }
    out
}

#[tokio::test]
async fn replaying_events_rebuilds_every_view() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("v.db")).await.unwrap();
    let t0 = Timestamp::from_second(1_790_000_000).unwrap();
    let csp = "P0000001".parse().unwrap();
    let dca = "P0000002".parse().unwrap();
    let brand_id = "B0000001".parse().unwrap();
    let campaign_id = "C0000001".parse().unwrap();
    let brand: BrandRequest = serde_json::from_value(serde_json::json!({
        "entityType": "PRIVATE_PROFIT", "displayName": "Acme", "companyName": "Acme LLC", "ein": "46-4123456",
        "country": "US", "email": "a@acme.com", "vertical": "RETAIL", "referenceId": "r1"
    }))
    .unwrap();
    let campaign: CampaignRequest = serde_json::from_value(serde_json::json!({
        "brandId": "B0000001", "usecase": "2FA", "description": "x", "messageFlow": "y"
    }))
    .unwrap();
    let reg = |name: &str, roles: &str| -> ProviderRegistration {
        serde_json::from_value(serde_json::json!({"legalName": name, "roles": [roles]})).unwrap()
    };
    let mut tx = store.begin(t0).await.unwrap();
    for body in [
        EventBody::ProviderRegistered { provider_id: csp, registration: reg("CSP", "csp") },
        EventBody::ProviderRegistered { provider_id: dca, registration: reg("DCA", "dca") },
        EventBody::BrandRegistered { brand_id, csp_id: csp, brand: brand.clone() },
        EventBody::CampaignCreated { campaign_id, csp_id: csp, campaign: campaign.clone() },
        EventBody::CampaignShared { campaign_id, dca_id: dca },
        EventBody::SharingAccepted { campaign_id, dca_id: dca },
        EventBody::NumberAssigned { number: "+12025550123".parse().unwrap(), campaign_id, dca_id: dca },
    ] {
        tx.append(Actor::Admin, body).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = store.begin(Timestamp::from_second(1_790_000_100).unwrap()).await.unwrap();
    tx.append(Actor::Provider(dca), EventBody::CampaignSuspended { campaign_id, reason: "spam".into() }).await.unwrap();
    tx.append(
        Actor::Provider(dca),
        EventBody::NumberReleased { number: "+12025550123".parse().unwrap(), campaign_id, reason: None },
    )
    .await
    .unwrap();
    tx.append_number_assignments(Actor::Provider(dca), &[("+12025550199".parse().unwrap(), campaign_id, dca)])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let before = dump(&store).await;
    assert!(before.iter().any(|r| r.contains("SUSPENDED")), "{before:#?}");
    assert_eq!(before.iter().filter(|r| r.starts_with("number_assignments")).count(), 2);
    let replayed = store.rebuild_views().await.unwrap();
    assert_eq!(replayed, 10);
    assert_eq!(dump(&store).await, before);
    assert_eq!(store.last_seq().await.unwrap(), 10);
}

#[tokio::test]
async fn event_time_never_goes_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("v.db")).await.unwrap();
    let later = Timestamp::from_second(1_790_000_000).unwrap();
    let mut tx = store.begin(later).await.unwrap();
    tx.append(Actor::System, EventBody::SanctionsImported { entries: 0, sha256: "a".into() }).await.unwrap();
    tx.commit().await.unwrap();
    let tx = store.begin(Timestamp::from_second(1_700_000_000).unwrap()).await.unwrap();
    assert_eq!(tx.now(), later);
}
