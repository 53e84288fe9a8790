//! A moto server for one test: started on a free loopback port, stopped (by PID) when dropped.

use std::process::{Command, Stdio};
use std::time::Duration;

pub(crate) struct Moto {
    _child: crate::fixture::Reaped,
    pub url: String,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let port = crate::fixture::free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]')");
        let moto = Moto { _child: crate::fixture::Reaped::new(child), url: format!("http://127.0.0.1:{port}") };
        crate::fixture::wait_for_port(port, Duration::from_secs(30), "moto_server");
        moto
    }

    /// Environment for the CLI and SDK clients: fake credentials, a region, the endpoint, no IMDS.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SDK configuration for the test's own checks.
    pub(crate) fn sdk_config(&self, runtime: &tokio::runtime::Runtime) -> aws_config::SdkConfig {
        let creds = aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "moto");
        runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(reaqtions::aws::http_client())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&self.url)
                .credentials_provider(creds)
                .load(),
        )
    }
}
