//! Call authentication tables: certificates and keys, SIP peers, number blocks, the RMD
//! snapshot and the signer's record of signed calls.

use jiff::Timestamp;
use vouch_registry::{BrandId, CampaignId, ProviderId, TelephoneNumber};

use crate::query::{parse, ts};
use crate::tx::map_unique;
use crate::{Store, StoreError, Tx};
use crate::{on, on_conn};

/// A registered signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    /// Hex SHA-256 of the end-entity certificate.
    pub fingerprint: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// Its SPC.
    pub spc: String,
    /// The chain, PEM.
    pub chain_pem: String,
    /// Its `x5u`.
    pub x5u: String,
    /// When it was registered.
    pub created: Timestamp,
}

/// A certificate's private key: PKCS#8 DER held in the store, or a file in the key directory.
#[derive(Clone, PartialEq, Eq)]
pub enum SigningKeyRow {
    /// PKCS#8 DER.
    Pkcs8(Vec<u8>),
    /// A file name in the server's key directory.
    File(String),
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs8(_) => f.write_str("Pkcs8(..)"),
            Self::File(name) => f.debug_tuple("File").field(name).finish(),
        }
    }
}

/// A SIP peering source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipPeerRow {
    /// CIDR network.
    pub address: String,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The customer it carries, when a customer trunk.
    pub brand_id: Option<BrandId>,
    /// A TDM gateway (calls without Identity are looked up in the CPS).
    pub tdm: bool,
    /// Only asks for verification (its calls without Identity are never signed).
    pub verify_only: bool,
    /// When it was added.
    pub created: Timestamp,
}

/// A provider's HPKE key for the Call Placement Service's privacy mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpsKeyRow {
    /// The provider.
    pub provider_id: ProviderId,
    /// First 16 hex digits of the SHA-256 of the point.
    pub key_id: String,
    /// The uncompressed P-256 point, base64url.
    pub public_key: String,
    /// When it was registered.
    pub created: Timestamp,
}

/// A number block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberBlockRow {
    /// First number.
    pub first: TelephoneNumber,
    /// Last number (inclusive).
    pub last: TelephoneNumber,
    /// Its provider.
    pub provider_id: ProviderId,
    /// The customer it is for; `None` for the provider's own.
    pub brand_id: Option<BrandId>,
    /// When it was registered.
    pub created: Timestamp,
}

/// What the signer signed (by `origid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCall {
    /// The PASSporT's origid.
    pub origid: String,
    /// The signing provider.
    pub provider_id: ProviderId,
    /// The brand behind the call, when known.
    pub brand_id: Option<BrandId>,
    /// The campaign holding the calling number, when any.
    pub campaign_id: Option<CampaignId>,
    /// Calling number (canonical digits).
    pub orig: String,
    /// Called numbers, comma-separated.
    pub dest: String,
    /// `A`, `B` or `C`.
    pub attest: String,
    /// The PASSporT's `iat`.
    pub iat: i64,
    /// When vouch signed it.
    pub created: Timestamp,
}

fn number(table: &'static str, n: i64) -> Result<TelephoneNumber, StoreError> {
    TelephoneNumber::from_digits(n as u64).ok_or_else(|| StoreError::corrupt(table, format!("number {n}")))
}

fn opt_id<T: std::str::FromStr>(table: &'static str, s: Option<String>) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Debug,
{
    s.map(|s| parse(table, &s)).transpose()
}

impl Tx {
    /// Stores a certificate's private key beside its `certificate.registered` event.
    pub async fn insert_signing_key(&mut self, fingerprint: &str, key: &SigningKeyRow) -> Result<(), StoreError> {
        let (pkcs8, file) = match key {
            SigningKeyRow::Pkcs8(der) => (Some(der.as_slice()), None),
            SigningKeyRow::File(f) => (None, Some(f.as_str())),
        };
        on_conn!(&mut self.tx, db => sqlx::query("INSERT INTO signing_keys (fingerprint, pkcs8, key_file) VALUES ($1, $2, $3)")
            .bind(fingerprint)
            .bind(pkcs8)
            .bind(file)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        Ok(())
    }

    /// Replaces the Robocall Mitigation Database snapshot: `(frn, filing JSON)` rows.
    pub async fn replace_rmd_filings(&mut self, filings: &[(String, String)]) -> Result<(), StoreError> {
        on_conn!(&mut self.tx, db => sqlx::query("DELETE FROM rmd_filings").execute(&mut *db).await.map(|r| r.rows_affected()))?;
        for chunk in filings.chunks(400) {
            on_conn!(&mut self.tx, db => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO rmd_filings (frn, filing) ");
                q.push_values(chunk, |mut b, (frn, json)| {
                    b.push_bind(frn).push_bind(json);
                });
                q.build().execute(&mut *db).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}

impl Store {
    /// Every registered certificate, oldest first.
    pub async fn certificates(&self) -> Result<Vec<CertificateRow>, StoreError> {
        const T: &str = "certificates";
        let rows = on!(self.pool(), db => sqlx::query(
            "SELECT fingerprint, provider_id, spc, chain_pem, x5u, created_us FROM certificates ORDER BY created_us, fingerprint",
        )
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter()
            .map(|r| {
                Ok(CertificateRow {
                    fingerprint: r.try_get("fingerprint")?,
                    provider_id: parse(T, r.try_get::<&str, _>("provider_id")?)?,
                    spc: r.try_get("spc")?,
                    chain_pem: r.try_get("chain_pem")?,
                    x5u: r.try_get("x5u")?,
                    created: ts(T, r.try_get("created_us")?)?,
                })
            })
            .collect()
    }

    /// The private key of a certificate.
    pub async fn signing_key(&self, fingerprint: &str) -> Result<Option<SigningKeyRow>, StoreError> {
        let row: Option<(Option<Vec<u8>>, Option<String>)> = on!(self.pool(), db => sqlx::query_as("SELECT pkcs8, key_file FROM signing_keys WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_optional(db)
                .await)?;
        Ok(match row {
            Some((Some(der), _)) => Some(SigningKeyRow::Pkcs8(der)),
            Some((None, Some(f))) => Some(SigningKeyRow::File(f)),
            _ => None,
        })
    }

    /// Every SIP peer.
    pub async fn sip_peers(&self) -> Result<Vec<SipPeerRow>, StoreError> {
        const T: &str = "sip_peers";
        let rows: Vec<(String, String, Option<String>, i64, i64, i64)> = on!(self.pool(), db => sqlx::query_as("SELECT address, provider_id, brand_id, created_us, tdm, verify_only FROM sip_peers ORDER BY address")
                .fetch_all(db)
                .await)?;
        rows.into_iter()
            .map(|(address, p, b, us, tdm, verify_only)| {
                Ok(SipPeerRow {
                    address,
                    provider_id: parse(T, &p)?,
                    brand_id: opt_id(T, b)?,
                    tdm: tdm != 0,
                    verify_only: verify_only != 0,
                    created: ts(T, us)?,
                })
            })
            .collect()
    }

    /// The HPKE key a provider registered last for the CPS's privacy mode.
    pub async fn cps_key(&self, provider: ProviderId) -> Result<Option<CpsKeyRow>, StoreError> {
        const T: &str = "cps_keys";
        let row: Option<(String, String, i64)> = on!(self.pool(), db => sqlx::query_as("SELECT key_id, public_key, created_us FROM cps_keys WHERE provider_id = $1")
                .bind(provider.to_string())
                .fetch_optional(db)
                .await)?;
        row.map(|(key_id, public_key, us)| {
            Ok(CpsKeyRow { provider_id: provider, key_id, public_key, created: ts(T, us)? })
        })
        .transpose()
    }

    /// Every number block.
    pub async fn number_blocks(&self) -> Result<Vec<NumberBlockRow>, StoreError> {
        const T: &str = "number_blocks";
        let rows: Vec<(i64, i64, String, Option<String>, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT first_number, last_number, provider_id, brand_id, created_us FROM number_blocks ORDER BY first_number",
        )
        .fetch_all(db)
        .await)?;
        rows.into_iter()
            .map(|(first, last, p, b, us)| {
                Ok(NumberBlockRow {
                    first: number(T, first)?,
                    last: number(T, last)?,
                    provider_id: parse(T, &p)?,
                    brand_id: opt_id(T, b)?,
                    created: ts(T, us)?,
                })
            })
            .collect()
    }

    /// The Robocall Mitigation Database snapshot: `(frn, filing JSON)`.
    pub async fn rmd_filings(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            on!(self.pool(), db => sqlx::query_as("SELECT frn, filing FROM rmd_filings ORDER BY frn").fetch_all(db).await)?,
        )
    }

    /// Records signed calls, in one transaction (the signer batches them).
    pub async fn insert_signed_calls(&self, calls: &[SignedCall]) -> Result<(), StoreError> {
        let mut tx = self.writer_pool().begin().await?;
        for chunk in calls.chunks(100) {
            on_conn!(&mut tx, db => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO signed_calls (call_key, origid, provider_id, brand_id, campaign_id, orig, dest, attest, iat, created_us) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(rand::random::<i64>())
                    .push_bind(&c.origid)
                    .push_bind(c.provider_id.to_string())
                    .push_bind(c.brand_id.map(|x| x.to_string()))
                    .push_bind(c.campaign_id.map(|x| x.to_string()))
                    .push_bind(&c.orig)
                    .push_bind(&c.dest)
                    .push_bind(&c.attest)
                    .push_bind(c.iat)
                    .push_bind(c.created.as_microsecond());
            });
            q.build().execute(&mut *db).await.map(|r| r.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The calls signed under `origid` (the latest 100), newest first.
    pub async fn signed_calls(&self, origid: &str) -> Result<Vec<SignedCall>, StoreError> {
        const T: &str = "signed_calls";
        let rows = on!(self.pool(), db => sqlx::query(
            "SELECT origid, provider_id, brand_id, campaign_id, orig, dest, attest, iat, created_us FROM signed_calls \
             WHERE origid = $1 ORDER BY created_us DESC LIMIT 100",
        )
        .bind(origid)
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter()
            .map(|r| {
                Ok(SignedCall {
                    origid: r.try_get("origid")?,
                    provider_id: parse(T, r.try_get::<&str, _>("provider_id")?)?,
                    brand_id: opt_id(T, r.try_get("brand_id")?)?,
                    campaign_id: opt_id(T, r.try_get("campaign_id")?)?,
                    orig: r.try_get("orig")?,
                    dest: r.try_get("dest")?,
                    attest: r.try_get("attest")?,
                    iat: r.try_get("iat")?,
                    created: ts(T, r.try_get("created_us")?)?,
                })
            })
            .collect()
    }

    /// Writes a batch of the PASSporT presentations this node saw first (`entries`: 24 bytes
    /// each, see `vouch_callauth::encode_presentations`).
    pub async fn put_presentations(
        &self,
        node: &str,
        batch: i64,
        at: Timestamp,
        entries: &[u8],
    ) -> Result<(), StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO stir_presentations (node_id, batch, at_us, entries) VALUES ($1, $2, $3, $4)",
        )
        .bind(node)
        .bind(batch)
        .bind(at.as_microsecond())
        .bind(entries)
        .execute(db)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The other nodes' batches written at `since` or later: (node, batch).
    pub async fn others_presentation_batches(
        &self,
        node: &str,
        since: Timestamp,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(on!(self.pool(), db => sqlx::query_as(
            "SELECT node_id, batch FROM stir_presentations WHERE at_us >= $1 AND node_id <> $2",
        )
        .bind(since.as_microsecond())
        .bind(node)
        .fetch_all(db)
        .await)?)
    }

    /// The entries of one batch, if it is still there.
    pub async fn presentation_batch(&self, node: &str, batch: i64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(on!(self.pool(), db => sqlx::query_scalar(
            "SELECT entries FROM stir_presentations WHERE node_id = $1 AND batch = $2",
        )
        .bind(node)
        .bind(batch)
        .fetch_optional(db)
        .await)?)
    }

    /// Deletes the batches written before `before`; returns how many.
    pub async fn purge_presentations(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on!(self.writer_pool(), db => sqlx::query("DELETE FROM stir_presentations WHERE at_us < $1")
            .bind(before.as_microsecond())
            .execute(db)
            .await.map(|r| r.rows_affected()))?)
    }
}
