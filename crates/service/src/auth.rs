//! API keys and the principals they authenticate.

use rand::Rng;
use vouch_registry::{ProviderId, Role};

use crate::{Registry, ServiceError};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator's administrator.
    Admin,
    /// A provider, with its roles.
    Provider {
        /// The provider.
        id: ProviderId,
        /// Its roles.
        roles: Vec<Role>,
    },
}

impl Principal {
    /// The provider id, if the caller is a provider.
    pub fn provider(&self) -> Option<ProviderId> {
        match self {
            Self::Provider { id, .. } => Some(*id),
            Self::Admin => None,
        }
    }

    /// Whether the caller is the administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }

    /// The event actor for this caller.
    pub fn actor(&self) -> vouch_registry::Actor {
        match self {
            Self::Admin => vouch_registry::Actor::Admin,
            Self::Provider { id, .. } => vouch_registry::Actor::Provider(*id),
        }
    }
}

/// A freshly generated API key: `vouch_<keyId>_<secret>`. Only its SHA-256 is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public part, e.g. `K3F9A0ZQ`.
    pub key_id: String,
    /// The whole key, shown once.
    pub secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// `n` characters drawn uniformly from `alphabet` (ASCII).
pub(crate) fn random_chars(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl ApiKey {
    /// A new random key (about 190 bits of secret).
    pub fn generate() -> Self {
        let key_id = format!("K{}", random_chars(&ALNUM[..36], 7));
        let secret = random_chars(ALNUM, 32);
        Self { secret: format!("vouch_{key_id}_{secret}"), key_id }
    }

    /// Hex SHA-256 of a presented key, the form keys are stored in.
    pub fn hash(presented: &str) -> String {
        crate::sha256_hex(presented.as_bytes())
    }
}

impl Registry {
    /// The principal a presented API key stands for.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, ServiceError> {
        let unknown =
            || ServiceError::Unauthenticated("the API key is not valid; check the Authorization: Bearer header".into());
        if !presented.starts_with("vouch_") || presented.len() > 128 {
            return Err(unknown());
        }
        let hash = ApiKey::hash(presented);
        if let Some(p) = self.cached_principal(&hash) {
            return Ok(p);
        }
        let generation = self.principals_generation();
        let Some(row) = self.store.api_key_by_hash(&hash).await? else {
            return Err(unknown());
        };
        if row.revoked.is_some() {
            return Err(ServiceError::Unauthenticated(format!("API key {} was revoked", row.key_id)));
        }
        let principal = match row.provider_id {
            None => Principal::Admin,
            Some(id) => {
                let provider = self.store.provider(id).await?.ok_or_else(unknown)?;
                Principal::Provider { id, roles: provider.registration.roles }
            }
        };
        self.cache_principal(hash, principal.clone(), generation);
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(&format!("vouch_{}_", a.key_id)));
        assert_eq!(a.secret.len(), 6 + 8 + 1 + 32);
        assert_eq!(ApiKey::hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
