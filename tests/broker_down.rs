//! The real broker stops in the middle of the work and comes back (one test in its own
//! binary, so no other test sees the broker down): the producer answers a retriable error in
//! bounded time, a consumer leaves within a bounded time, and both recover afterwards.

mod support;

use std::time::{Duration, Instant};

use support::client::Rec;
use support::{create_topic, unique, Broker};

fn broker_script(cmd: &str) {
    let dir = std::env::var("KAFKA_TEST_STATE_DIR").expect("KAFKA_TEST_STATE_DIR from tests/kafka/broker.sh");
    let st = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kafka/broker.sh"))
        .args([cmd, &dir])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("tests/kafka/broker.sh");
    assert!(st.success(), "broker.sh {cmd} failed");
}

#[test]
fn broker_down_then_back() {
    let k = Broker::from_env();
    let topic = unique("down");
    create_topic(&k.bootstrap, &topic, 2);
    let b = support::bridge();
    let host = |extra: &[(&'static str, &'static str)]| {
        let mut v = vec![("host:Servers", k.bootstrap.clone()), ("host:DeliveryTimeout", "6".to_owned())];
        v.extend(extra.iter().map(|(a, c)| (*a, c.to_string())));
        v
    };
    let cfg = host(&[]);
    let cfg: Vec<(&str, &str)> = cfg.iter().map(|(a, c)| (*a, c.as_str())).collect();
    let p = b.producer_new(&cfg).unwrap();
    b.produce(p, &Rec { topic: topic.clone(), value: Some(b"before".to_vec()), ..Default::default() }).unwrap();
    let group = unique("down-group");
    let mut ccfg = host(&[("host:AutoOffsetReset", "earliest"), ("host:AtLeastOnce", "1")]);
    ccfg.push(("host:GroupID", group));
    let ccfg: Vec<(&str, &str)> = ccfg.iter().map(|(a, c)| (*a, c.as_str())).collect();
    let c = b.consumer_new(&ccfg, &topic).unwrap();
    let Some(r) = b.poll_until(c, 30_000).unwrap() else {
        panic!("no record before the stop; consumer log: {:?}", b.logs(c));
    };
    b.ack(c, &r.topic, r.partition, r.offset).unwrap();

    broker_script("stop");
    let started = Instant::now();
    let e = b.produce(p, &Rec { topic: topic.clone(), value: Some(b"during".to_vec()), ..Default::default() }).unwrap_err();
    let took = started.elapsed();
    println!("produce with the broker down: {e} after {took:?}");
    assert!(e.retriable, "a stopped broker is a retriable condition: {e}");
    assert!(took < Duration::from_secs(20), "bounded by DeliveryTimeout: {took:?}");

    let started = Instant::now();
    let closed = b.consumer_close(c);
    let took = started.elapsed();
    println!("consumer close with the broker down: {closed:?} after {took:?}");
    // Bounded by the commit timeout (10 s) plus the session timeout (10 s by default).
    assert!(took < Duration::from_secs(25), "leaving the group is bounded: {took:?}");

    broker_script("restart-same");
    let (_, off, _) = b
        .produce(p, &Rec { topic: topic.clone(), value: Some(b"after".to_vec()), ..Default::default() })
        .expect("the same producer works again once the broker is back");
    assert!(off >= 0);
    b.producer_close(p, 5000).unwrap();
}
