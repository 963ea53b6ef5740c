//! The first end-to-end slice against the real Apache Kafka broker, every call through the
//! host emulator: produce with every field, consume and read every field, acknowledge, commit,
//! close; large values both ways; errors with their Kafka codes; SASL and TLS listeners.

mod support;

use support::client::{Bridge, Consumed, Rec, Transfer};
use support::{create_topic, unique, Broker};

fn consumer_cfg<'a>(broker: &'a Broker, group: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("bootstrap.servers", &broker.bootstrap), ("group.id", group), ("auto.offset.reset", "earliest")]
}

fn drain(b: &Bridge, c: i64, n: usize) -> Vec<Consumed> {
    let mut out = Vec::new();
    while out.len() < n {
        match b.poll_until(c, 30_000).unwrap() {
            Some(r) => out.push(r),
            None => panic!("only {} of {n} records arrived within 30 s", out.len()),
        }
    }
    out
}

#[test]
fn produce_and_consume_every_field() {
    let broker = Broker::from_env();
    let topic = unique("slice");
    create_topic(&broker.bootstrap, &topic, 3);
    let b = support::bridge();
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let binary: Vec<u8> = (0..=255u8).collect();
    let recs = vec![
        Rec {
            topic: topic.clone(),
            partition: Some(2),
            key: Some(b"k1".to_vec()),
            value: Some(b"hello, \xc3\xa9t\xc3\xa9".to_vec()),
            headers: vec![
                ("h".into(), Some(b"1".to_vec())),
                ("h".into(), Some(binary.clone())),
                ("null".into(), None),
                ("empty".into(), Some(Vec::new())),
            ],
            timestamp: Some(1_700_000_000_123),
        },
        Rec { topic: topic.clone(), partition: Some(2), key: None, value: None, ..Default::default() },
        Rec { topic: topic.clone(), partition: Some(2), key: Some(Vec::new()), value: Some(Vec::new()), ..Default::default() },
        Rec { topic: topic.clone(), partition: Some(2), key: Some(binary.clone()), value: Some(binary.clone()), ..Default::default() },
    ];
    let mut delivered = Vec::new();
    for r in &recs {
        let (part, off, calls) = b.produce(p, r).unwrap();
        assert_eq!(calls, 1, "a small record takes one call");
        assert_eq!(part, 2, "explicit partition honoured");
        delivered.push(off);
    }
    assert_eq!(b.producer_close(p, 5000).unwrap(), 0);

    let group = unique("g");
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let got = drain(&b, c, recs.len());
    for ((r, g), off) in recs.iter().zip(&got).zip(&delivered) {
        assert_eq!(g.calls, 1, "a small consumed record takes one call");
        assert_eq!((g.topic.as_str(), g.partition, g.offset), (topic.as_str(), 2, *off));
        assert_eq!(g.key, r.key, "key byte-exact (null stays null, empty stays empty)");
        assert_eq!(g.value, r.value, "value byte-exact");
        assert_eq!(g.headers, r.headers, "headers in order, repeated names, null and binary values");
        if let Some(ts) = r.timestamp {
            assert_eq!(g.timestamp, ts);
        } else {
            assert!(g.timestamp > 1_600_000_000_000, "librdkafka stamps the record");
        }
        b.ack(c, &g.topic, g.partition, g.offset).unwrap();
    }
    assert_eq!(b.commit(c).unwrap(), 1, "one partition's offset moved");
    assert_eq!(b.commit(c).unwrap(), 0, "nothing new to commit");
    b.consumer_close(c).unwrap();

    // The group resumes after the committed offset: only a new record comes.
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let (_, off, _) = b.produce(p, &Rec { topic: topic.clone(), partition: Some(2), value: Some(b"next".to_vec()), ..Default::default() }).unwrap();
    b.producer_close(p, 5000).unwrap();
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let next = drain(&b, c, 1).remove(0);
    assert_eq!((next.offset, next.value.as_deref()), (off, Some(&b"next"[..])));
    b.consumer_close(c).unwrap();
}

#[test]
fn commit_stops_at_the_first_unacknowledged_record() {
    let broker = Broker::from_env();
    let topic = unique("gap");
    create_topic(&broker.bootstrap, &topic, 1);
    let b = support::bridge();
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    for i in 0..3 {
        b.produce(p, &Rec { topic: topic.clone(), value: Some(vec![b'0' + i]), ..Default::default() }).unwrap();
    }
    b.producer_close(p, 5000).unwrap();
    let group = unique("g");
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let got = drain(&b, c, 3);
    b.ack(c, &topic, 0, got[0].offset).unwrap();
    b.ack(c, &topic, 0, got[2].offset).unwrap();
    b.consumer_close(c).unwrap();
    // Record 1 was never acknowledged: the group starts again from it, not after record 2.
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let again = drain(&b, c, 2);
    assert_eq!(again.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![got[1].offset, got[2].offset]);
    let e = b.ack(c, &topic, 0, 999).unwrap_err();
    assert_eq!(e.name, "BRIDGE_NO_RECORD");
    b.consumer_close(c).unwrap();
}

fn round_trip_sizes(transfer: Transfer, sizes: &[usize]) {
    let broker = Broker::from_env();
    let topic = unique("big");
    create_topic(&broker.bootstrap, &topic, 1);
    let mut b = support::bridge();
    b.transfer = transfer;
    let p = b
        .producer_new(&[("bootstrap.servers", &broker.bootstrap), ("message.max.bytes", "8000000")])
        .unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let values: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        })
        .collect();
    for v in &values {
        let key = vec![b'k'; 40_000.min(v.len())];
        b.produce(p, &Rec { topic: topic.clone(), key: Some(key), value: Some(v.clone()), ..Default::default() }).unwrap();
    }
    b.producer_close(p, 10_000).unwrap();
    let c = b
        .consumer_new(
            &[
                ("bootstrap.servers", &broker.bootstrap),
                ("group.id", &unique("g")),
                ("auto.offset.reset", "earliest"),
                ("fetch.message.max.bytes", "8000000"),
            ],
            &topic,
        )
        .unwrap();
    let got = drain(&b, c, values.len());
    for (v, g) in values.iter().zip(&got) {
        assert_eq!(g.value.as_ref().map(Vec::len), Some(v.len()));
        assert!(g.value.as_ref() == Some(v), "value of {} bytes is byte-exact", v.len());
        assert_eq!(g.key.as_ref().map(Vec::len), Some(40_000.min(v.len())));
    }
    b.consumer_close(c).unwrap();
}

#[test]
fn large_values_in_chunks_with_the_default_zf_heap() {
    round_trip_sizes(Transfer::Chunks, &[0, 1, 32 * 1024, 1024 * 1024, 3_641_144]);
}

#[test]
fn large_values_as_long_strings() {
    round_trip_sizes(Transfer::Long, &[32 * 1024, 1024 * 1024, 3_641_144, 5_000_000]);
}

#[test]
fn errors_carry_kafka_codes_names_and_classes() {
    let broker = Broker::from_env();
    let b = support::bridge();
    let topic = unique("err");
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let e = b
        .produce(p, &Rec { topic: topic.clone(), value: Some(vec![0; 2_000_000]), ..Default::default() })
        .unwrap_err();
    assert_eq!((e.code, e.name.as_str(), e.retriable, e.fatal), (10, "MSG_SIZE_TOO_LARGE", false, false), "{e}");
    let e = b.produce(p, &Rec { topic: topic.clone(), partition: Some(99), ..Default::default() }).unwrap_err();
    assert_eq!(e.name, "UNKNOWN_PARTITION", "{e}");
    b.producer_close(p, 1000).unwrap();
    let e = b.produce(p, &Rec { topic, ..Default::default() }).unwrap_err();
    assert_eq!(e.name, "BRIDGE_BAD_HANDLE");
    // Nobody listens on port 1: the delivery times out, a retriable error.
    let p = b.producer_new(&[("bootstrap.servers", "127.0.0.1:1"), ("message.timeout.ms", "1500")]).unwrap();
    let e = b.produce(p, &Rec { topic: "t".into(), ..Default::default() }).unwrap_err();
    assert_eq!((e.name.as_str(), e.retriable), ("MSG_TIMED_OUT", true), "{e}");
    b.producer_close(p, 0).unwrap();
}

fn secure_round_trip(cfg: &[(&str, &str)]) {
    let broker = Broker::from_env();
    let topic = unique("sec");
    create_topic(&broker.bootstrap, &topic, 1);
    let b = support::bridge();
    let p = b.producer_new(cfg).unwrap();
    let (_, off, _) = b.produce(p, &Rec { topic: topic.clone(), value: Some(b"secret stuff".to_vec()), ..Default::default() }).unwrap();
    b.producer_close(p, 5000).unwrap();
    let group = unique("g");
    let mut ccfg = cfg.to_vec();
    ccfg.extend([("group.id", group.as_str()), ("auto.offset.reset", "earliest")]);
    let c = b.consumer_new(&ccfg, &topic).unwrap();
    let r = drain(&b, c, 1).remove(0);
    assert_eq!((r.offset, r.value.as_deref()), (off, Some(&b"secret stuff"[..])));
    b.consumer_close(c).unwrap();
}

#[test]
fn sasl_plain_scram_and_tls_listeners() {
    let k = Broker::from_env();
    secure_round_trip(&[
        ("bootstrap.servers", &k.sasl_bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", &k.plain_user),
        ("sasl.password", &k.plain_password),
    ]);
    secure_round_trip(&[
        ("bootstrap.servers", &k.sasl_bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", &k.scram_user),
        ("sasl.password", &k.scram_password),
    ]);
    secure_round_trip(&[
        ("bootstrap.servers", &k.ssl_bootstrap),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &k.ssl_ca),
    ]);
}

#[test]
fn wrong_password_fails_in_bounded_time_without_leaking_it() {
    let k = Broker::from_env();
    let b = support::bridge();
    let wrong = "Wr0ng-Pa55word-xyz";
    let p = b
        .producer_new(&[
            ("bootstrap.servers", &k.sasl_bootstrap),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", &k.scram_user),
            ("sasl.password", wrong),
            ("message.timeout.ms", "5000"),
        ])
        .unwrap();
    let started = std::time::Instant::now();
    let e = b.produce(p, &Rec { topic: unique("auth"), ..Default::default() }).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "bounded");
    assert!(!e.message.contains(wrong) && !b.last_error().message.contains(wrong), "{e}");
    assert!(
        matches!(e.name.as_str(), "MSG_TIMED_OUT" | "AUTHENTICATION" | "SASL_AUTHENTICATION_FAILED"),
        "{e}"
    );
    b.producer_close(p, 0).unwrap();
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = Broker::from_env();
    let b = support::bridge();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(codec);
        create_topic(&broker.bootstrap, &topic, 1);
        let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap), ("compression.type", codec)]).unwrap();
        let value = format!("{codec} ").repeat(2000).into_bytes();
        b.produce(p, &Rec { topic: topic.clone(), value: Some(value.clone()), ..Default::default() }).unwrap();
        b.producer_close(p, 5000).unwrap();
        let c = b.consumer_new(&consumer_cfg(&broker, &unique("g")), &topic).unwrap();
        assert_eq!(drain(&b, c, 1)[0].value.as_ref(), Some(&value), "{codec}");
        b.consumer_close(c).unwrap();
    }
}

/// OAUTHBEARER tokens are renewed while the clients run. librdkafka asks for a new token at
/// 80 % of the old one's life with an event that its own refresh (here: unsecured tokens, as
/// the test broker accepts) serves only when that event is handled, not merely polled. With
/// 6-second tokens, and connections closed after 1 s idle so that each new connection
/// authenticates with the token of the moment (the producer's between records, the
/// consumer's to the group coordinator between heartbeats), records must keep going both
/// ways for three token lifetimes.
#[test]
fn oauthbearer_tokens_are_renewed_while_clients_run() {
    let k = Broker::from_env();
    let topic = unique("oauth");
    create_topic(&k.bootstrap, &topic, 1);
    let b = support::bridge();
    let auth = [
        ("bootstrap.servers", k.sasl_bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=iris lifeSeconds=6"),
        ("connections.max.idle.ms", "1000"),
    ];
    let mut pcfg = auth.to_vec();
    pcfg.push(("message.timeout.ms", "8000"));
    let p = b.producer_new(&pcfg).unwrap();
    let group = unique("g");
    let mut ccfg = auth.to_vec();
    ccfg.extend([("group.id", group.as_str()), ("auto.offset.reset", "earliest")]);
    let c = b.consumer_new(&ccfg, &topic).unwrap();
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < std::time::Duration::from_secs(18) {
        let value = format!("record {n}").into_bytes();
        let at = started.elapsed().as_secs();
        b.produce(p, &Rec { topic: topic.clone(), value: Some(value.clone()), ..Default::default() })
            .unwrap_or_else(|e| panic!("{at} s in, record {n} was not sent: {e}"));
        let r = b.poll_until(c, 10_000).unwrap_or_else(|e| panic!("{at} s in, reading record {n}: {e}"));
        assert_eq!(r.and_then(|r| r.value).as_deref(), Some(&value[..]), "{at} s in, record {n}");
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    assert!(n >= 8, "{n} records in 18 s");
    b.consumer_close(c).unwrap();
    b.producer_close(p, 5000).unwrap();
}
