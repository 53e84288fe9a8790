//! Where simulated devices connect over MQTT and how: the broker's address, each device's identity, and how
//! fast connections may open (IoT Core throttles connects per account and per client id). The targets make it
//! ([`crate::seams::Pipeline::mqtt`]); the sink ([`super::sink`]) uses it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use rumqttc::tokio_rustls::rustls;
use tokio::time::Instant;

/// How each device proves who it is.
#[derive(Clone)]
pub(crate) enum DeviceAuth {
    /// Nothing: the local broker has no authentication.
    None,
    /// Its own certificate and key in a device directory (IoT Core, MQTT over TLS).
    Certificates { dir: std::path::PathBuf, roots: Arc<rustls::RootCertStore> },
}

/// Something that must settle before what was acknowledged is durable: the in-process local broker.
pub(crate) trait Settle: Send + Sync {
    /// Waits until the broker has handed on at least `acknowledged` messages, then flushes.
    fn settle(&self, acknowledged: u64) -> Result<()>;
}

/// Where devices connect and publish.
pub struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The stack: readings go to `<stack>/<device>/readings`.
    pub(crate) stack: String,
    pub(crate) identity: DeviceAuth,
    /// How a refused or failed connection is explained (what to run).
    pub(crate) hint: String,
    /// Keeps an in-process broker running; it settles on flush.
    pub(crate) broker: Option<Box<dyn Settle>>,
    /// Connections (first ones and reconnects) the whole fleet may open per second; `None`: as fast as they come.
    pub(crate) connects_per_second: Option<f64>,
}

/// IoT Core's connects per second for one client id, under the name the MQTT sink imports it by (it can import
/// [`crate::limits::IOT_CONNECTS_PER_SECOND_PER_CLIENT`] itself, and this line go).
pub(crate) use crate::limits::IOT_CONNECTS_PER_SECOND_PER_CLIENT as CONNECTS_PER_SECOND_PER_CLIENT;
/// The fleet's pace on AWS unless told otherwise: IoT Core's connects per second per account in the regions with
/// the lowest default quota.
pub(crate) const DEFAULT_CONNECTS_PER_SECOND: f64 = crate::limits::IOT_CONNECTS_PER_SECOND_PER_ACCOUNT;

/// Spaces connection attempts evenly at a rate shared by every device's connection.
pub(crate) struct Pacer {
    interval: Duration,
    next: std::sync::Mutex<Option<Instant>>,
}

impl Pacer {
    pub(crate) fn new(per_second: f64) -> Pacer {
        Pacer { interval: Duration::from_secs_f64(1.0 / per_second), next: std::sync::Mutex::new(None) }
    }

    /// The next free slot, taken: now if the pace allows, else one interval after the last slot taken.
    fn slot(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + self.interval);
        at
    }

    /// Waits for this connection's turn.
    pub(crate) async fn turn(&self) {
        tokio::time::sleep_until(self.slot(Instant::now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_turns_at_the_pace() {
        let pacer = Pacer::new(100.0);
        let start = Instant::now();
        // 250 connects asked for at once at 100 per second: the last waits 2.49 s, no second holds more than 100.
        let slots: Vec<Duration> = (0..250).map(|_| pacer.slot(start) - start).collect();
        assert_eq!(slots[0], Duration::ZERO);
        assert!((slots[249].as_secs_f64() - 2.49).abs() < 1e-6, "{:?}", slots[249]);
        for second in 0..3u64 {
            let n = slots.iter().filter(|d| d.as_secs() == second).count();
            assert!(n <= 100, "{n} connects in second {second}");
        }
        // After a quiet spell, the next connect goes at once.
        let later = start + Duration::from_secs(10);
        assert_eq!(pacer.slot(later), later);
    }
}
