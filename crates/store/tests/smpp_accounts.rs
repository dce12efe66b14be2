//! SMPP accounts: looked up ignoring case for issuance, their password replaced only while
//! active, and kept (hash included) when the views are rebuilt from the events, which never
//! hold the hash.
#![allow(clippy::unwrap_used)]

use jiff::Timestamp;
use vouch_registry::{Actor, EventBody, ProviderId};
use vouch_store::Store;

#[tokio::test]
async fn accounts_are_found_ignoring_case_rotated_while_active_and_survive_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("v.db")).await.unwrap();
    let csp: ProviderId = "P0000001".parse().unwrap();
    let t0 = Timestamp::from_second(1_790_000_000).unwrap();

    let mut tx = store.begin(t0).await.unwrap();
    assert_eq!(tx.smpp_account_ignoring_case("Acme1").await.unwrap(), None);
    tx.insert_smpp_account("Acme1", csp, "pbkdf2-sha256$1$a$b").await.unwrap();
    tx.append(Actor::Provider(csp), EventBody::SmppAccountIssued { provider_id: csp, system_id: "Acme1".into() })
        .await
        .unwrap();
    tx.insert_smpp_account("other", csp, "pbkdf2-sha256$1$c$d").await.unwrap();
    tx.append(Actor::Provider(csp), EventBody::SmppAccountIssued { provider_id: csp, system_id: "other".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin(t0).await.unwrap();
    for asked in ["acme1", "ACME1", "Acme1"] {
        assert_eq!(tx.smpp_account_ignoring_case(asked).await.unwrap().as_deref(), Some("Acme1"), "{asked}");
    }
    assert_eq!(tx.smpp_account_ignoring_case("acme").await.unwrap(), None);
    // The replacement is exact on system_id, like a bind.
    assert!(!tx.set_smpp_password("acme1", "pbkdf2-sha256$1$x$y").await.unwrap());
    assert!(tx.set_smpp_password("Acme1", "pbkdf2-sha256$1$e$f").await.unwrap());
    tx.append(Actor::Provider(csp), EventBody::SmppAccountRotated { provider_id: csp, system_id: "Acme1".into() })
        .await
        .unwrap();
    assert!(tx.revoke_smpp_account("other").await.unwrap());
    tx.append(Actor::Provider(csp), EventBody::SmppAccountRevoked { provider_id: csp, system_id: "other".into() })
        .await
        .unwrap();
    // A revoked account keeps its last password hash (and never gets another), and is still
    // found by the issuance check.
    assert!(!tx.set_smpp_password("other", "pbkdf2-sha256$1$g$h").await.unwrap());
    assert_eq!(tx.smpp_account_ignoring_case("OTHER").await.unwrap().as_deref(), Some("other"));
    tx.commit().await.unwrap();

    let before = (
        store.smpp_accounts(None).await.unwrap(),
        store.smpp_account_secret("Acme1").await.unwrap(),
        store.smpp_account_secret("other").await.unwrap(),
    );
    assert_eq!(before.1.as_ref().map(|(_, h)| h.as_str()), Some("pbkdf2-sha256$1$e$f"));
    assert_eq!(before.2.as_ref().map(|(_, h)| h.as_str()), Some("pbkdf2-sha256$1$c$d"));
    assert!(before.2.as_ref().is_some_and(|(a, _)| a.revoked.is_some()));

    // The events name the accounts only; the table beside them is not a view, and a rebuild
    // leaves it as it was.
    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|(_, e)| !e.contains("pbkdf2")), "{events:?}");
    assert_eq!(store.rebuild_views().await.unwrap(), 4);
    let after = (
        store.smpp_accounts(None).await.unwrap(),
        store.smpp_account_secret("Acme1").await.unwrap(),
        store.smpp_account_secret("other").await.unwrap(),
    );
    assert_eq!(after, before);
}
