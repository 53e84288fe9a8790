//! Where simulated devices connect over MQTT and how: the broker's address, each device's identity, and how
//! fast connections may open (IoT Core throttles connects per account and per client id). The targets make it
//! ([`crate::target::Pipeline::mqtt`]); the sink ([`super::sink`]) uses it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rumqttc::tokio_rustls::rustls;
use tokio::time::Instant;

/// How each device proves who it is.
#[derive(Clone)]
pub enum Identity {
    /// Nothing: the local broker has no authentication.
    None,
    /// Its own certificate and key in a device directory (IoT Core, MQTT over TLS).
    Certificates { dir: std::path::PathBuf, roots: Arc<rustls::RootCertStore> },
}

/// Something that must settle before what was acknowledged is durable: the in-process local broker.
pub trait Settle: Send + Sync {
    /// Waits until the broker has handed on at least `acknowledged` messages, then flushes.
    fn settle(&self, acknowledged: u64) -> Result<()>;
}

/// Where devices connect and publish.
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// The stack: readings go to `<stack>/<device>/readings`.
    pub stack: String,
    pub identity: Identity,
    /// How a refused or failed connection is explained (what to run).
    pub hint: String,
    /// Keeps an in-process broker running; it settles on flush.
    pub broker: Option<Box<dyn Settle>>,
    /// Connections (first ones and reconnects) the whole fleet may open per second; `None`: as fast as they come.
    pub connects_per_second: Option<f64>,
}

/// IoT Core's connect requests per second for one client id.
pub const CONNECTS_PER_SECOND_PER_CLIENT: f64 = 1.0;
/// IoT Core's connect requests per second per account in the regions with the lowest default quota (most
/// regions allow 100; us-east-1, us-west-2 and eu-west-1 allow 500): the default pace on AWS.
pub const DEFAULT_CONNECTS_PER_SECOND: f64 = 100.0;

/// Spaces connection attempts evenly at a rate shared by every device's connection.
pub struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(per_second: f64) -> Pacer {
        Pacer { interval: Duration::from_secs_f64(1.0 / per_second), next: tokio::sync::Mutex::new(None) }
    }

    /// Waits for this connection's turn.
    pub async fn turn(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_take_turns_at_the_pace() {
        let pacer = Arc::new(Pacer::new(1000.0));
        let start = Instant::now();
        let turns: Vec<_> = (0..60)
            .map(|_| {
                let pacer = Arc::clone(&pacer);
                tokio::spawn(async move {
                    pacer.turn().await;
                    Instant::now()
                })
            })
            .collect();
        let mut at = Vec::new();
        for t in turns {
            at.push(t.await.unwrap() - start);
        }
        at.sort();
        // 60 connects at 1,000 per second: the last waits at least 59 ms, each at least 1 ms after the one before.
        assert!(at[59] >= Duration::from_millis(59), "{:?}", at[59]);
        for pair in at.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_micros(900), "{pair:?}");
        }
    }
}
