//! `broker`: the local target's MQTT front door — an embedded broker whose topic rule feeds the local delivery
//! stream, until Ctrl-C (then everything received is flushed). On AWS, IoT Core is the broker.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::{Exit, Target};
use crate::cli::BrokerArgs;
use crate::local::broker::LocalBroker;
use crate::output::print;
use crate::progress::Progress;
use crate::simulate::INTERRUPTED;

#[derive(Serialize)]
struct BrokerSummary {
    listen: String,
    /// Messages the rule selected and handed to the delivery stream.
    forwarded: u64,
    failed: u64,
    devices: usize,
    objects_written: u64,
    error_objects_written: u64,
}

pub(crate) fn run(target: &Target, args: &BrokerArgs) -> Result<Exit> {
    let local = target.local(
        "on AWS, IoT Core is the broker: register devices with `reaqtions devices add`, then publish to \
         <stack>/<device>/readings (or run the local one with `reaqtions --local broker`)",
    )?;
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(crate::invalid!(
            "--listen {} is not a loopback address: the local broker has no authentication, so anyone who can \
             reach it can publish into the lake; pass --allow-remote to listen there anyway",
            args.listen
        ));
    }
    let deployment = local.require()?;
    let stack = deployment.settings.stack.clone();
    let broker = LocalBroker::start(args.listen, &stack, local.start_stream(&deployment)?)?;
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Relaxed));
    if !args.listen.ip().is_loopback() {
        crate::warning!("listening on {} with no authentication: anyone who can reach it can publish", broker.addr);
    }
    crate::say!(
        "listening on mqtt://{addr}; devices publish to {topic} (e.g. mosquitto_pub -h {host} -p {port} -q 1 -i \
         aq-0001 -t {example} -m '{{\"NO2\": 1.2}}'); Ctrl-C stops",
        addr = broker.addr,
        topic = crate::mqtt::topic(&stack, "<device>"),
        host = broker.addr.ip(),
        port = broker.addr.port(),
        example = crate::mqtt::topic(&stack, "aq-0001"),
    );
    let mut progress = Progress::new("broker", 0);
    while !INTERRUPTED.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let counters = &broker.counters;
        let forwarded = counters.forwarded.load(Relaxed);
        progress.update(forwarded, || {
            let devices = counters.devices.lock().unwrap_or_else(|e| e.into_inner()).len();
            format!("{forwarded} readings from {} into {}", crate::output::count(devices as u64, "device"), stack)
        });
    }
    progress.finish();
    crate::say!("stopping: flushing what was received");
    let counters = std::sync::Arc::clone(&broker.counters);
    let listen = broker.addr.to_string();
    let stats = broker.stop()?;
    let summary = BrokerSummary {
        listen,
        forwarded: counters.forwarded.load(Relaxed),
        failed: counters.failed.load(Relaxed),
        devices: counters.devices.lock().unwrap_or_else(|e| e.into_inner()).len(),
        objects_written: stats.objects,
        error_objects_written: stats.error_objects,
    };
    print(args.shape.format, "broker", &summary)?;
    Ok(if summary.failed > 0 { Exit::Incomplete } else { Exit::Ok })
}
