//! The `reaqtions-data-transformation` Lambda as a library: the reading schema, the pure Firehose transform and
//! (behind the `package` feature) the deterministic deployment zip. The `bootstrap` binary only wires this into
//! `lambda_runtime`; the CLI links the same code so the local target runs exactly what runs on AWS.

pub mod batch;
#[cfg(feature = "runtime")]
pub mod decoded;
#[cfg(test)]
mod differential;
pub mod envelope;
pub mod event;
mod fast;
#[cfg(feature = "package")]
pub mod package;
#[doc(hidden)]
pub mod sample;
mod scan;
pub mod schema;
pub mod time;
pub mod transform;

pub use envelope::Envelope;

/// The transform's identity: a hash of this library's sources, recorded by `deploy` in the function's
/// description, so `reprocess` resends only through the transform it checked records with.
pub const TRANSFORM_ID: &str = env!("REAQTIONS_TRANSFORM_ID");
/// What the bootstrap logs when it starts, and what `deploy` finds in its bytes to record the transform it runs.
pub const TRANSFORM_MARK: &str = concat!("reaqtions-transform-id:", env!("REAQTIONS_TRANSFORM_ID"));
pub const TRANSFORM_MARK_PREFIX: &str = "reaqtions-transform-id:";

/// The transform identity a bootstrap carries: the 16 hex digits after [`TRANSFORM_MARK_PREFIX`] in its bytes.
pub fn transform_id_of(binary: &[u8]) -> Option<String> {
    let prefix = TRANSFORM_MARK_PREFIX.as_bytes();
    let at = memchr::memmem::find(binary, prefix)? + prefix.len();
    let id = binary.get(at..at + 16)?;
    id.iter().all(u8::is_ascii_hexdigit).then(|| String::from_utf8_lossy(id).into_owned())
}
pub use batch::{BatchReport, transform_event};
#[cfg(feature = "runtime")]
pub use batch::{RawResponse, transform_decoded};
#[cfg(feature = "runtime")]
pub use decoded::DecodedEvent;
pub use event::{
    FirehoseEvent, FirehoseRecord, FirehoseResponse, FirehoseResponseRecord, PartitionKeys, ResponseMetadata,
    TransformResult,
};
pub use schema::{ARRIVAL_FIELD, MEASURES, READING_TIME_FIELD, Reject};
pub use time::Hour;
pub use transform::{PARTITIONING_VAR, Partitioning, transform_record};

/// Tells glibc's malloc to keep freed memory instead of returning it to the kernel after each invocation.
///
/// Every batch allocates and frees megabytes (request body, response strings); by default glibc trims and
/// unmaps them, and the next batch page-faults them back in: ~20% of a batch's time on the benchmark event.
/// Peak memory is unchanged (the same pages are reused). A no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters and takes glibc's arena locks itself.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
    }
}
