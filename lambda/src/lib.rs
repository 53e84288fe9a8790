//! The `reaqtions-data-transformation` Lambda as a library: the reading schema, the pure Firehose transform and
//! (behind the `package` feature) the deterministic deployment zip. The `bootstrap` binary only wires this into
//! `lambda_runtime`; the CLI links the same code so the local target runs exactly what runs on AWS.

pub mod event;
#[cfg(feature = "package")]
pub mod package;
pub mod schema;
pub mod transform;

pub use event::{FirehoseEvent, FirehoseRecord, FirehoseResponse, FirehoseResponseRecord, TransformResult};
pub use schema::{ARRIVAL_FIELD, MEASURES, Reject};
pub use transform::{BatchReport, transform_event, transform_record};
