//! Error kinds the CLI maps to exit codes: a value the user gave that breaks a rule is [`Invalid`] (exit 2,
//! like a usage error), found before any work or AWS call; everything else is a failure (exit 1).

/// A value given by the user (flag, settings file, name) that breaks a rule; the message names both.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// `Err(Invalid(format!(…)))` as an `anyhow::Error`, for `?`-returning validation.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        ::anyhow::Error::from($crate::error::Invalid(format!($($arg)*)))
    };
}

/// Whether an error (or anything in its chain) is [`Invalid`].
pub fn is_invalid(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<Invalid>())
}
