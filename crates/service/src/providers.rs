//! Providers and their API keys.

use vouch_registry::{EventBody, ProviderId, ProviderRegistration};
use vouch_store::{ApiKeyRow, ProviderRow};

use crate::{ApiKey, ConflictKind, Principal, Registry, ServiceError, store_conflict};

/// A key issued to a provider: its id and, once, its secret.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The provider (`None` for the administrator).
    pub provider_id: Option<ProviderId>,
    /// The key.
    pub key: ApiKey,
}

impl Registry {
    /// Creates the administrator key if there is none; returns it (to be shown once).
    pub async fn bootstrap_admin(&self) -> Result<Option<ApiKey>, ServiceError> {
        let mut w = self.write_lock().await?;
        if self.store.has_admin_key().await? {
            return Ok(None);
        }
        let key = ApiKey::generate();
        let mut tx = self.begin(&mut w).await?;
        tx.insert_api_key(&ApiKey::hash(&key.secret), &key.key_id, None).await?;
        tx.append(
            vouch_registry::Actor::System,
            EventBody::ApiKeyIssued { provider_id: None, key_id: key.key_id.clone() },
        )
        .await?;
        self.committed(&tx.commit().await?).await?;
        Ok(Some(key))
    }

    /// Registers a provider (administrator only) and issues its first API key.
    pub async fn register_provider(
        &self,
        p: &Principal,
        reg: ProviderRegistration,
    ) -> Result<(ProviderRow, ApiKey), ServiceError> {
        if !p.is_admin() {
            return Err(ServiceError::Forbidden("only the administrator registers providers".into()));
        }
        let reg = reg.validate()?;
        let mut w = self.write_lock().await?;
        let id = loop {
            let id = ProviderId::from_random(rand::random());
            if self.store.provider(id).await?.is_none() {
                break id;
            }
        };
        let key = ApiKey::generate();
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::ProviderRegistered { provider_id: id, registration: reg }).await.map_err(
            store_conflict(ConflictKind::DuplicateProvider, "a provider with this FRN or SPC is already registered"),
        )?;
        tx.insert_api_key(&ApiKey::hash(&key.secret), &key.key_id, Some(id)).await?;
        tx.append(p.actor(), EventBody::ApiKeyIssued { provider_id: Some(id), key_id: key.key_id.clone() }).await?;
        self.committed(&tx.commit().await?).await?;
        let row = self.store.provider(id).await?.ok_or_else(|| ServiceError::not_found("provider", id))?;
        Ok((row, key))
    }

    /// A provider's public record (any authenticated caller: it is the registry's directory).
    pub async fn provider(&self, _p: &Principal, id: ProviderId) -> Result<ProviderRow, ServiceError> {
        self.store.provider(id).await?.ok_or_else(|| ServiceError::not_found("provider", id))
    }

    /// Every provider.
    pub async fn providers(&self, _p: &Principal) -> Result<Vec<ProviderRow>, ServiceError> {
        Ok(self.store.providers().await?)
    }

    /// Only the administrator and the provider itself see or change the provider's `what`
    /// (its API keys, its SMPP accounts).
    pub(crate) fn admin_or_self(p: &Principal, id: ProviderId, what: &str) -> Result<(), ServiceError> {
        match p {
            Principal::Admin => Ok(()),
            Principal::Provider { id: me, .. } if *me == id => Ok(()),
            _ => Err(ServiceError::Forbidden(format!(
                "only the administrator and the provider itself see or change its {what}"
            ))),
        }
    }

    fn may_manage_keys(p: &Principal, id: ProviderId) -> Result<(), ServiceError> {
        Self::admin_or_self(p, id, "API keys")
    }

    /// Issues another key for a provider (the administrator, or the provider itself).
    pub async fn issue_key(&self, p: &Principal, id: ProviderId) -> Result<ApiKey, ServiceError> {
        Self::may_manage_keys(p, id)?;
        let mut w = self.write_lock().await?;
        self.store.provider(id).await?.ok_or_else(|| ServiceError::not_found("provider", id))?;
        let key = ApiKey::generate();
        let mut tx = self.begin(&mut w).await?;
        tx.insert_api_key(&ApiKey::hash(&key.secret), &key.key_id, Some(id)).await?;
        tx.append(p.actor(), EventBody::ApiKeyIssued { provider_id: Some(id), key_id: key.key_id.clone() }).await?;
        self.committed(&tx.commit().await?).await?;
        Ok(key)
    }

    /// A provider's keys, without secrets.
    pub async fn keys(&self, p: &Principal, id: ProviderId) -> Result<Vec<ApiKeyRow>, ServiceError> {
        Self::may_manage_keys(p, id)?;
        self.store.provider(id).await?.ok_or_else(|| ServiceError::not_found("provider", id))?;
        Ok(self.store.api_keys_of(Some(id)).await?)
    }

    /// Revokes one of a provider's keys.
    pub async fn revoke_key(&self, p: &Principal, id: ProviderId, key_id: &str) -> Result<(), ServiceError> {
        Self::may_manage_keys(p, id)?;
        let mut w = self.write_lock().await?;
        if !self.store.api_keys_of(Some(id)).await?.iter().any(|k| k.key_id == key_id && k.revoked.is_none()) {
            return Err(ServiceError::not_found("api key", key_id));
        }
        let mut tx = self.begin(&mut w).await?;
        tx.revoke_api_key(key_id).await?;
        tx.append(p.actor(), EventBody::ApiKeyRevoked { provider_id: Some(id), key_id: key_id.to_owned() }).await?;
        self.committed(&tx.commit().await?).await?;
        Ok(())
    }
}
