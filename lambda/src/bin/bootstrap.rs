//! `bootstrap` for `provided.al2023`: wires the pure transform into `lambda_runtime`, nothing more.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use reaqtions_lambda::{FirehoseEvent, FirehoseResponse, transform_event};

async fn handler(event: LambdaEvent<FirehoseEvent>) -> Result<FirehoseResponse, Error> {
    let (response, report) = transform_event(&event.payload);
    report.emit();
    Ok(response)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL.
    lambda_runtime::tracing::init_default_subscriber();
    reaqtions_lambda::keep_freed_memory();
    tracing::info!("{}", reaqtions_lambda::TRANSFORM_MARK);
    lambda_runtime::run(service_fn(handler)).await
}
