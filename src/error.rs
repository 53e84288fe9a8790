//! Error kinds and the exit codes they map to, in one place: a value the user gave that breaks a rule is
//! [`Invalid`] (exit 2, like a usage error), found before any work or AWS call; a service's refusal is a
//! [`ServiceError`] of a [`Kind`] (denied, not found, throttled, …) that commands decide by; credentials that are
//! missing, expired or refused exit 6, so a script can tell "log in again" from any other failure (exit 1).

/// A value given by the user (flag, settings file, name) that breaks a rule; the message names both.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Invalid(pub(crate) String);

/// `Err(Invalid(format!(…)))` as an `anyhow::Error`, for `?`-returning validation.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        ::anyhow::Error::from($crate::error::Invalid(format!($($arg)*)))
    };
}

/// Whether an error (or anything in its chain) is [`Invalid`].
pub(crate) fn is_invalid(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<Invalid>())
}

/// What a service's failure was, decided by `aws::error::kind_of` from its code and status (and, for
/// CloudFormation's `ValidationError` alone, its message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The caller's policy does not allow the call.
    Denied,
    /// The resource does not exist.
    NotFound,
    /// The resource's state forbids the call: it exists already, or is still in use (a 409).
    Conflict,
    /// The service asked to slow down.
    Throttled,
    /// No credentials, or the ones given were refused or expired.
    Credentials,
    /// Nothing answered at the endpoint in time.
    Unreachable,
    /// The service answered that it failed on its side (a 5xx, `InternalFailure`, `ServiceUnavailable`): a
    /// later attempt may succeed.
    ServiceFault,
    /// The endpoint does not implement the call (an emulator).
    Unsupported,
    /// The request would change nothing (CloudFormation's "No updates are to be performed"): the goal is met.
    NoChange,
    /// Any other refusal or failure.
    Failed,
}

/// A call to a service that failed: its kind, the service, its code, and the line the user reads.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct ServiceError {
    pub(crate) kind: Kind,
    pub(crate) service: &'static str,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

/// The kind of the first [`ServiceError`] in an error's chain.
pub(crate) fn kind(error: &anyhow::Error) -> Option<Kind> {
    error.chain().find_map(|e| e.downcast_ref::<ServiceError>()).map(|e| e.kind)
}

/// The exit code of a command whose credentials are missing, expired or refused.
pub const CREDENTIALS_EXIT: u8 = 6;

/// Every exit code and what it means, once: the manual pages' EXIT STATUS and docs/running.md's table (a test
/// compares them) come from here.
pub const EXIT_CODES: [(u8, &str); 7] = [
    (0, "success, nothing left undone (a closed pipe, as in `reaqtions report | head -1`, ends with 0 too)"),
    (
        1,
        "an error (the message names the file, bucket, stack or record), or \"no\" at a confirmation prompt, so \
         `teardown && …` stops",
    ),
    (
        2,
        "bad usage, a setting that breaks a rule (found before any work), or a confirmation refused because there is \
         no terminal to ask on (pass `--yes`)",
    ),
    (
        3,
        "incomplete: `--verify` found readings missing, `simulate` lost readings it could neither write nor spool, \
         `report` skipped unreadable objects or corrupt lines, `reprocess` left records it could not send, `broker` \
         could not pass on every message",
    ),
    (
        4,
        "readings could not be sent after all retries and were written to the spool file (`simulate --resend FILE` \
         sends them later)",
    ),
    (5, "`health` found the pipeline degraded"),
    (
        CREDENTIALS_EXIT,
        "the AWS credentials are missing, expired or refused, or the account has not opted in to the region (log in \
         again or choose others: `aws sso login`, `--profile`/`AWS_PROFILE`, new keys); `simulate` exits 4 instead \
         when it spooled readings",
    ),
];

/// The exit code of a command that failed with `error`: a value that breaks a rule is a usage error, like
/// clap's own (2); credentials that are missing, expired or refused are [`CREDENTIALS_EXIT`]; any other failure,
/// whatever its kind, is 1.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if is_invalid(error) {
        2
    } else if kind(error) == Some(Kind::Credentials) {
        CREDENTIALS_EXIT
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_table_in_running_md_is_the_declared_one() {
        let doc = include_str!("../docs/running.md");
        let table: Vec<String> = doc
            .lines()
            .skip_while(|l| !l.starts_with("## Exit codes"))
            .filter_map(|l| l.strip_prefix("| ").filter(|r| r.starts_with(|c: char| c.is_ascii_digit())))
            .map(|row| row.trim_end_matches(" |").replace("\\|", "|"))
            .collect();
        let declared: Vec<String> = EXIT_CODES.iter().map(|(code, meaning)| format!("{code} | {meaning}")).collect();
        assert_eq!(table, declared, "docs/running.md's exit codes and EXIT_CODES say the same");
    }

    #[test]
    fn credentials_have_their_own_exit_code_and_every_other_failure_is_1() {
        let failed = |kind| {
            anyhow::Error::new(ServiceError { kind, service: "STS", code: None, message: "no".into() })
                .context("status")
        };
        assert_eq!(exit_code(&failed(Kind::Credentials)), 6);
        for kind in [
            Kind::Denied,
            Kind::NotFound,
            Kind::Conflict,
            Kind::Throttled,
            Kind::Unreachable,
            Kind::ServiceFault,
            Kind::Unsupported,
            Kind::NoChange,
            Kind::Failed,
        ] {
            assert_eq!(exit_code(&failed(kind)), 1, "{kind:?}");
        }
        assert_eq!(exit_code(&crate::invalid!("--bucket x is too short")), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("cannot read file x")), 1);
    }
}
