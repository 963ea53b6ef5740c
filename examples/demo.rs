//! The demo: drives the library exactly as IRIS does — `dlopen`, `GetZFTable`, calls by
//! descriptor through the host emulator — against librdkafka's in-process mock cluster, so
//! no broker is needed. Prints every step.
//!
//! Run: `cargo run --example demo`

#[path = "../tests/support/mod.rs"]
mod support;

use rdkafka::mocking::MockCluster;
use support::client::{Rec, Transfer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The "Kafka cluster": librdkafka's mock brokers, listening on loopback in this process.
    let mock = MockCluster::new(1)?;
    mock.create_topic("orders", 3, 1)?;
    let servers = mock.bootstrap_servers();
    println!("mock cluster at {servers}, topic \"orders\" with 3 partitions");

    // The "IRIS job": loads the library and walks its table.
    let path = support::zfhost::cdylib_path();
    let mut bridge = support::bridge();
    println!("loaded {} — {} entries:", path.display(), bridge.host.entries().len());
    for e in bridge.host.entries() {
        println!("  #{:<2} {:<22} \"{}\"", e.id, e.name, e.descriptor);
    }
    let version = bridge.host.call("Version", &[])?;
    println!("Version: {}", String::from_utf8_lossy(&version.joined()));

    // Producer: what Kafka.Operation.Producer does per message.
    let producer = bridge.producer_new(&[("bootstrap.servers", &servers), ("linger.ms", "0")])?;
    println!("ProducerNew -> handle {producer}");
    for i in 0..5 {
        let rec = Rec {
            topic: "orders".into(),
            key: Some(format!("customer-{}", i % 2).into_bytes()),
            value: Some(format!("{{\"order\":{i}}}").into_bytes()),
            headers: vec![("source".into(), Some(b"IRIS".to_vec())), ("trace".into(), None)],
            ..Default::default()
        };
        let (partition, offset, calls) = bridge.produce(producer, &rec)?;
        println!(
            "Produce key={} -> delivered to partition {partition} offset {offset} ({calls} call)",
            String::from_utf8_lossy(rec.key.as_deref().unwrap())
        );
    }
    let big = Rec { topic: "orders".into(), partition: Some(0), value: Some(vec![b'x'; 200_000]), ..Default::default() };
    let (partition, offset, calls) = bridge.produce(producer, &big)?;
    println!("Produce 200,000-byte value in chunks -> partition {partition} offset {offset} ({calls} calls)");
    println!("ProducerClose -> {} undelivered", bridge.producer_close(producer, 5000)?);

    // Consumer: what Kafka.Service.Consumer does per OnTask.
    let consumer = bridge.consumer_new(
        &[("bootstrap.servers", &servers), ("group.id", "demo"), ("auto.offset.reset", "earliest")],
        "orders",
    )?;
    println!("ConsumerNew -> handle {consumer} (joining group \"demo\")");
    bridge.transfer = Transfer::Chunks;
    let mut seen = 0;
    while seen < 6 {
        let Some(r) = bridge.poll_until(consumer, 15_000)? else {
            return Err("no record within 15 s".into());
        };
        seen += 1;
        let shown = match &r.value {
            Some(v) if v.len() > 40 => format!("<{} bytes>", v.len()),
            Some(v) => String::from_utf8_lossy(v).into_owned(),
            None => "<null>".into(),
        };
        println!(
            "Poll -> {}[{}]@{} key={} value={} headers={} ({} call(s))",
            r.topic,
            r.partition,
            r.offset,
            r.key.as_deref().map(String::from_utf8_lossy).unwrap_or("<null>".into()),
            shown,
            r.headers.len(),
            r.calls
        );
        bridge.ack(consumer, &r.topic, r.partition, r.offset)?;
    }
    println!("Commit -> {} partition(s) committed", bridge.commit(consumer)?);
    bridge.consumer_close(consumer)?;
    println!("ConsumerClose -> ok");

    // A bad handle is an error, never a crash.
    match bridge.producer_close(producer, 0) {
        Err(e) => println!("ProducerClose on the closed handle -> {e}"),
        Ok(_) => return Err("a closed handle was accepted".into()),
    }
    let rc = std::mem::replace(&mut bridge.host, support::zfhost::ZfHost::load(&path)?).unload();
    println!("ZFUnload -> {rc}; done");
    Ok(())
}
