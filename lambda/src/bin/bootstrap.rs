//! `bootstrap` for `provided.al2023`: wires the pure transform into `lambda_runtime`, nothing more. The event is
//! read with each record's data decoded as it is parsed, and the response goes out as the JSON the transform wrote.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use reaqtions_lambda::{DecodedEvent, PARTITIONING_VAR, Partitioning, RawResponse, transform_decoded};

async fn handler(event: LambdaEvent<DecodedEvent>, partitioning: Partitioning) -> Result<RawResponse, Error> {
    let (response, report) = transform_decoded(&event.payload, partitioning);
    report.emit();
    Ok(response)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL.
    lambda_runtime::tracing::init_default_subscriber();
    reaqtions_lambda::keep_freed_memory();
    let value = std::env::var_os(PARTITIONING_VAR).map(|v| v.to_string_lossy().into_owned());
    let partitioning = Partitioning::from_var(value.as_deref()).inspect_err(|e| tracing::error!("{e}"))?;
    tracing::info!(partitioning = partitioning.name(), "{}", reaqtions_lambda::TRANSFORM_MARK);
    lambda_runtime::run(service_fn(move |event| handler(event, partitioning))).await
}
