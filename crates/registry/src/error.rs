//! The registry crate's one error type.

use std::fmt;

use serde::Serialize;

/// Everything that can go wrong while parsing or checking registry input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// One or more fields of a request are missing or malformed.
    #[error("{0}")]
    Invalid(Violations),
    /// A sanctions list file could not be read.
    #[error("sanctions list, line {line}: {detail}")]
    SanctionsList {
        /// 1-based line of the file.
        line: u64,
        /// What was wrong with it.
        detail: String,
    },
    /// An event could not be encoded canonically.
    #[error("canonical encoding: {0}")]
    Canonical(#[from] crate::CanonicalJsonError),
}

impl RegistryError {
    /// An [`RegistryError::Invalid`] with a single violation.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid(Violations(vec![FieldViolation::new(field, detail)]))
    }
}

/// One field that failed a check, named by its JSON field name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldViolation {
    /// The request's field name (camelCase, as on the wire), e.g. `ein` or `sample2`.
    pub field: String,
    /// What is wrong and, where it helps, what would be accepted.
    pub detail: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
}

/// A non-empty list of field violations, reported together so a caller can fix them in one go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Violations(pub Vec<FieldViolation>);

impl Violations {
    /// Records a violation.
    pub fn push(&mut self, field: impl Into<String>, detail: impl Into<String>) {
        self.0.push(FieldViolation::new(field, detail));
    }

    /// `Ok(())` when nothing was recorded, else the violations as an error.
    pub fn into_result(self) -> Result<(), RegistryError> {
        if self.0.is_empty() { Ok(()) } else { Err(RegistryError::Invalid(self)) }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.detail)?;
        }
        Ok(())
    }
}
