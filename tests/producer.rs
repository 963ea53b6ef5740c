//! Kafka.Operation.Producer's native side, through the host emulator: configuration the way
//! the adapter sends it (host settings over lookup-table rows over defaults), security,
//! key → partition as the Java client does it, batches, error classes, and fault injection on
//! librdkafka's mock cluster where a real broker cannot fail on demand.

mod support;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::client::{Bridge, Rec};
use support::{create_topic, unique, Broker};

fn table(name: &str, rows: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![("#source".to_owned(), format!("lookup table \"{name}\""))];
    v.extend(rows.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    v
}

fn host(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings.iter().map(|(k, v)| (format!("host:{k}"), v.to_string())).collect()
}

fn new_producer(b: &Bridge, parts: &[Vec<(String, String)>]) -> Result<i64, support::client::ZfError> {
    let all: Vec<(&str, &str)> = parts.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.producer_new(&all)
}

fn rec(topic: &str, value: &str) -> Rec {
    Rec { topic: topic.into(), value: Some(value.as_bytes().to_vec()), ..Default::default() }
}

#[test]
fn host_settings_win_over_table_rows_which_win_over_defaults() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("prec");
    create_topic(&k.bootstrap, &topic, 1);
    // The table points at nothing; the host's Servers setting must win.
    let p = new_producer(&b, &[table("Shared", &[("bootstrap.servers", "127.0.0.1:1")]), host(&[("Servers", &k.bootstrap)])]).unwrap();
    b.produce(p, &rec(&topic, "host wins")).unwrap();
    b.producer_close(p, 5000).unwrap();
    // An empty host setting is "not set": the table row applies over the defaults.
    let p = new_producer(&b, &[table("Shared", &[("bootstrap.servers", &k.bootstrap)]), host(&[("Servers", "")])]).unwrap();
    b.produce(p, &rec(&topic, "table applies")).unwrap();
    b.producer_close(p, 5000).unwrap();
}

#[test]
fn unknown_keys_name_the_key_and_the_table_row() {
    let b = support::bridge();
    let e = new_producer(&b, &[table("KafkaShared", &[("linger.ms", "5"), ("no.such.thing", "1")])]).unwrap_err();
    assert_eq!(e.name, "BRIDGE_CONFIG");
    assert!(e.message.contains("no.such.thing") && e.message.contains("lookup table \"KafkaShared\""), "{e}");
    let e = new_producer(&b, &[host(&[("SecurityProtocol", "TLS")])]).unwrap_err();
    assert!(e.message.contains("SecurityProtocol"), "{e}");
    let e = new_producer(&b, &[host(&[("NoSuchSetting", "x")])]).unwrap_err();
    assert!(e.message.contains("NoSuchSetting"), "{e}");
}

#[test]
fn a_java_keystore_is_refused_with_the_conversion() {
    let k = Broker::from_env();
    let dir = std::env::temp_dir().join(unique("jks"));
    std::fs::create_dir_all(&dir).unwrap();
    let jks = dir.join("truststore.jks");
    let st = std::process::Command::new("keytool")
        .args(["-importcert", "-noprompt", "-alias", "ca", "-storetype", "JKS", "-storepass", "changeit", "-file", &k.ssl_ca])
        .arg("-keystore")
        .arg(&jks)
        .output()
        .expect("keytool (Java 17) is needed");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let b = support::bridge();
    let e = new_producer(
        &b,
        &[host(&[("Servers", &k.ssl_bootstrap), ("SecurityProtocol", "SSL"), ("TrustStoreLocation", jks.to_str().unwrap())])],
    )
    .unwrap_err();
    assert_eq!(e.name, "BRIDGE_CONFIG");
    assert!(e.message.contains("Java keystore") && e.message.contains("keytool -exportcert -rfc"), "{e}");
    // The PEM CA through the same setting works.
    let topic = unique("tls");
    create_topic(&k.bootstrap, &topic, 1);
    let p = new_producer(
        &b,
        &[host(&[("Servers", &k.ssl_bootstrap), ("SecurityProtocol", "SSL"), ("TrustStoreLocation", &k.ssl_ca)])],
    )
    .unwrap();
    b.produce(p, &rec(&topic, "over TLS")).unwrap();
    b.producer_close(p, 5000).unwrap();
}

fn sasl(k: &Broker, mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
    host(&[
        ("Servers", &k.sasl_bootstrap),
        ("SecurityProtocol", "SASL_PLAINTEXT"),
        ("SASLMechanism", mechanism),
        ("Username", user),
        ("Password", password),
        ("DeliveryTimeout", "10"),
    ])
}

#[test]
fn sasl_credentials_from_host_settings_and_a_wrong_password() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("sasl");
    create_topic(&k.bootstrap, &topic, 1);
    for (mech, user, pw) in [("PLAIN", &k.plain_user, &k.plain_password), ("SCRAM-SHA-512", &k.scram_user, &k.scram_password)] {
        let p = new_producer(&b, &[sasl(&k, mech, user, pw)]).unwrap();
        b.produce(p, &rec(&topic, mech)).unwrap();
        let (_, logs) = b.logs(p).unwrap();
        assert!(logs.iter().all(|(_, _, t)| !t.contains(pw.as_str())), "password in logs");
        b.producer_close(p, 5000).unwrap();
    }
    let wrong = "not-the-Password-42";
    let p = new_producer(&b, &[sasl(&k, "SCRAM-SHA-512", &k.scram_user, wrong), vec![("debug".into(), "security,broker".into())]])
        .unwrap();
    let started = std::time::Instant::now();
    let e = b.produce(p, &rec(&topic, "nope")).unwrap_err();
    assert!(started.elapsed().as_secs() < 40, "bounded: {:?}", started.elapsed());
    assert!(matches!(e.name.as_str(), "MSG_TIMED_OUT" | "AUTHENTICATION" | "SASL_AUTHENTICATION_FAILED"), "{e}");
    let (_, logs) = b.logs(p).unwrap();
    assert!(
        logs.iter().any(|(_, _, t)| t.contains("Authentication failed") || t.contains("SASL authentication error")),
        "the authentication failure is in the client's log: {logs:?}"
    );
    for (_, _, t) in &logs {
        assert!(!t.contains(wrong), "password leaked into a log line: {t}");
    }
    assert!(!e.message.contains(wrong) && !b.last_error().message.contains(wrong));
    b.producer_close(p, 0).unwrap();
}

/// The Java client's partition for each key, computed by the Java client itself (kafka-clients
/// from the test broker's classpath): `Utils.toPositive(Utils.murmur2(key)) % partitions`.
fn java_partitions(partitions: i32, keys: &[String]) -> Vec<i32> {
    let libs = std::env::var("KAFKA_TEST_LIBS").expect("KAFKA_TEST_LIBS from tests/kafka/broker.sh");
    let dir = std::env::temp_dir().join(unique("murmur"));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("Murmur.java");
    std::fs::write(
        &src,
        r#"import org.apache.kafka.common.utils.Utils;
public class Murmur {
  public static void main(String[] a) {
    int n = Integer.parseInt(a[0]);
    for (int i = 1; i < a.length; i++) {
      byte[] k = a[i].getBytes(java.nio.charset.StandardCharsets.UTF_8);
      System.out.println(Utils.toPositive(Utils.murmur2(k)) % n);
    }
  }
}"#,
    )
    .unwrap();
    let out = std::process::Command::new("java")
        .arg("-cp")
        .arg(format!("{libs}/*"))
        .arg(&src)
        .arg(partitions.to_string())
        .args(keys)
        .output()
        .expect("java");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect()
}

#[test]
fn keys_land_on_the_java_clients_partitions() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("murmur");
    create_topic(&k.bootstrap, &topic, 7);
    let mut keys: Vec<String> = (0..40).map(|i| format!("customer-{i}")).collect();
    keys.extend(["21", "foobar", "a-little-bit-long-string", "é-ü-ß", "x"].map(String::from));
    let want = java_partitions(7, &keys);
    let p = new_producer(&b, &[host(&[("Servers", &k.bootstrap)])]).unwrap();
    for (key, want) in keys.iter().zip(want) {
        let (part, _, _) =
            b.produce(p, &Rec { topic: topic.clone(), key: Some(key.as_bytes().to_vec()), ..Default::default() }).unwrap();
        assert_eq!(part, want, "key {key}");
    }
    b.producer_close(p, 5000).unwrap();
}

/// 300 records over partitions 0-2 of `topic` (values "0".."299"); record 8 names partition
/// 50, which does not exist: that record alone fails.
fn spread_with_one_bad(topic: &str) -> Vec<Rec> {
    let mut recs: Vec<Rec> = (0..300)
        .map(|i| Rec { topic: topic.into(), partition: Some(i % 3), value: Some(format!("{i}").into_bytes()), ..Default::default() })
        .collect();
    recs[7].partition = Some(50);
    recs
}

#[test]
fn a_batch_answers_each_records_outcome_in_order() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("batch");
    create_topic(&k.bootstrap, &topic, 3);
    let p = new_producer(&b, &[host(&[("Servers", &k.bootstrap)])]).unwrap();
    let recs = spread_with_one_bad(&topic);
    let got = b.produce_batch(p, &recs).unwrap();
    assert_eq!(got.len(), 300);
    let mut last = [-1i64; 3];
    for (i, g) in got.iter().enumerate() {
        if i == 7 {
            assert_eq!(g.as_ref().unwrap_err(), "UNKNOWN_PARTITION");
            continue;
        }
        let (part, off) = g.as_ref().unwrap();
        assert_eq!(*part, (i % 3) as i32);
        assert!(*off > last[*part as usize], "offsets increase in send order within a partition");
        last[*part as usize] = *off;
    }
    let big: Vec<Rec> = (0..1000).map(|_| rec(&topic, "x")).collect();
    let e = b.produce_batch(p, &big).unwrap_err();
    assert_eq!(e.name, "BRIDGE_TOO_LARGE", "refused before anything is sent: {e}");
    b.producer_close(p, 5000).unwrap();
}

/// `ProduceSend` + `ProducerReports`: records sent without waiting are each reported once,
/// delivered or failed with their sequence number; nothing is dropped, and close counts
/// failures nobody collected.
/// Confirmed records sent while a bulk send is still in flight, with the default (no linger:
/// the calling thread serves the delivery reports itself while it waits) and with a linger
/// (the caller makes librdkafka send at once and the background thread serves them): every
/// confirmed call answers its own record, and the bulk records are each reported once.
#[test]
fn confirmed_records_amid_a_bulk_send_are_each_answered() {
    let k = Broker::from_env();
    let b = support::bridge();
    for linger in ["0", "20"] {
        let topic = unique("mixed");
        create_topic(&k.bootstrap, &topic, 1);
        let p = new_producer(&b, &[host(&[("Servers", &k.bootstrap)]), vec![("linger.ms".into(), linger.into())]]).unwrap();
        let bulk: Vec<Rec> = (0..2000).map(|i| rec(&topic, &format!("bulk-{i}"))).collect();
        for (i, chunk) in bulk.chunks(500).enumerate() {
            assert_eq!(b.produce_send(p, chunk).unwrap(), (1 + 500 * i as i64, 500), "a call's batch fits a $ZF string");
        }
        let mut last = -1;
        for i in 0..20 {
            let (partition, offset, _) = b.produce(p, &rec(&topic, &format!("confirmed-{i}"))).unwrap();
            assert_eq!(partition, 0);
            assert!(offset > last, "linger {linger}: each confirmed call answers its own, later record");
            last = offset;
        }
        let (mut delivered, mut in_flight) = (0, 1);
        let start = std::time::Instant::now();
        while in_flight > 0 {
            assert!(start.elapsed().as_secs() < 60, "linger {linger}: reports never completed");
            let (d, f, failures) = b.producer_reports(p, 10_000).unwrap();
            assert!(failures.is_empty(), "linger {linger}: {failures:?}");
            delivered += d;
            in_flight = f;
        }
        assert_eq!(delivered, 2000, "linger {linger}: every bulk record reported once");
        assert_eq!(b.producer_close(p, 5000).unwrap(), 0);
        assert_eq!(last, 2019, "linger {linger}: the confirmed records follow the bulk ones");
    }
}

#[test]
fn records_sent_without_waiting_are_each_reported() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("async");
    create_topic(&k.bootstrap, &topic, 3);
    let p = new_producer(&b, &[host(&[("Servers", &k.bootstrap)])]).unwrap();
    let recs = spread_with_one_bad(&topic);
    let (first, n) = b.produce_send(p, &recs).unwrap();
    assert_eq!((first, n), (1, 300));
    let second: Vec<Rec> = recs[..10]
        .iter()
        .map(|r| Rec { value: Some([b"second-", &r.value.clone().unwrap()[..]].concat()), ..r.clone() })
        .collect();
    let (first2, n2) = b.produce_send(p, &second).unwrap();
    assert_eq!((first2, n2), (301, 10), "sequence numbers continue per producer");
    let (mut delivered, mut failures) = (0, Vec::new());
    let start = std::time::Instant::now();
    loop {
        let (d, in_flight, f) = b.producer_reports(p, 10_000).unwrap();
        delivered += d;
        failures.extend(f);
        if in_flight == 0 {
            break;
        }
        assert!(start.elapsed().as_secs() < 60, "reports never completed");
    }
    assert_eq!(delivered, 308);
    let names: Vec<(i64, &str)> = failures.iter().map(|(s, _, n)| (*s, n.as_str())).collect();
    assert_eq!(names, [(8, "UNKNOWN_PARTITION"), (308, "UNKNOWN_PARTITION")], "record 8 of each batch failed");
    assert_eq!(b.producer_reports(p, 0).unwrap(), (0, 0, Vec::new()), "each outcome is reported once");
    // An invalid record refuses the whole call before anything is sent.
    let mut bad = recs[..3].to_vec();
    bad[1].topic = String::new();
    let e = b.produce_send(p, &bad).unwrap_err();
    assert_eq!(e.name, "BRIDGE_BAD_ARGUMENT", "{e}");
    assert!(e.message.contains("record 2 of the batch"), "{e}");
    // A failure nobody collects is counted by close.
    b.produce_send(p, &recs[7..8]).unwrap();
    assert_eq!(b.producer_close(p, 5000).unwrap(), 1, "the uncollected failure counts as undelivered");
    // Every delivered record is in the log, once: 308 of them.
    let c = b
        .consumer_new(&[("host:Servers", &k.bootstrap), ("host:GroupID", &unique("g")), ("host:AutoOffsetReset", "earliest")], &topic)
        .unwrap();
    let mut seen = std::collections::HashMap::<Vec<u8>, usize>::new();
    let start = std::time::Instant::now();
    let mut settle = String::new();
    while seen.values().sum::<usize>() < 308 && start.elapsed().as_secs() < 30 {
        let got = b.batch(c, &settle, &[], 500, 200).unwrap().1;
        settle = "1".repeat(got.len());
        for r in got {
            *seen.entry(r.value.unwrap()).or_default() += 1;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let extra = b.batch(c, &settle, &[], 500, 200).unwrap().1;
    b.consumer_close(c).unwrap();
    assert!(extra.is_empty(), "no more than the delivered records: {extra:?}");
    assert_eq!(seen.values().sum::<usize>(), 308);
    assert!(seen.values().all(|n| *n == 1), "each once");
}

#[test]
fn unknown_topic_without_auto_creation_is_permanent() {
    let k = Broker::from_env();
    let b = support::bridge();
    let p = new_producer(
        &b,
        &[
            table("T", &[("allow.auto.create.topics", "false"), ("topic.metadata.propagation.max.ms", "1000")]),
            host(&[("Servers", &k.bootstrap), ("DeliveryTimeout", "20")]),
        ],
    )
    .unwrap();
    let e = b.produce(p, &rec(&unique("missing"), "x")).unwrap_err();
    assert!(matches!(e.name.as_str(), "UNKNOWN_TOPIC" | "UNKNOWN_TOPIC_OR_PART"), "{e}");
    assert!(!e.retriable || e.name == "UNKNOWN_TOPIC_OR_PART", "{e}");
    b.producer_close(p, 0).unwrap();
}

#[test]
fn close_reports_records_still_in_flight() {
    let b = std::sync::Arc::new(support::bridge());
    let p = b.producer_new(&[("bootstrap.servers", "127.0.0.1:1"), ("message.timeout.ms", "3000")]).unwrap();
    let b2 = b.clone();
    let sender = std::thread::spawn(move || b2.produce(p, &rec("t", "stuck")));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(b.producer_close(p, 100).unwrap(), 1, "one record was not delivered by the close");
    let e = sender.join().unwrap().unwrap_err();
    assert_eq!(e.name, "MSG_TIMED_OUT", "the stuck record is reported failed, not dropped: {e}");
}

/// Produce request errors, a leader move and a broker going down and back, on the mock
/// cluster: every confirmed record is in the log exactly once, none is lost.
#[test]
fn mock_faults_lose_and_duplicate_nothing() {
    let mock = MockCluster::new(3).unwrap();
    mock.create_topic("faults", 4, 3).unwrap();
    let b = std::sync::Arc::new(support::bridge());
    let p = b
        .producer_new(&[
            ("bootstrap.servers", &mock.bootstrap_servers()),
            ("retry.backoff.ms", "20"),
            ("message.timeout.ms", "30000"),
        ])
        .unwrap();
    let produce = move |b: &Bridge, range: std::ops::Range<i32>| {
        let mut confirmed = Vec::new();
        for i in range {
            let value = format!("record-{i}");
            let r = Rec {
                topic: "faults".into(),
                key: Some(format!("k{}", i % 11).into_bytes()),
                value: Some(value.clone().into_bytes()),
                ..Default::default()
            };
            let (part, off, _) = b.produce(p, &r).unwrap_or_else(|e| panic!("record {i}: {e}"));
            confirmed.push((value, (part, off)));
        }
        confirmed
    };
    let mut confirmed: Vec<(String, (i32, i64))> = produce(&b, 0..30);
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT,
        ],
    );
    confirmed.extend(produce(&b, 30..80));
    mock.partition_leader("faults", 1, Some(2)).unwrap();
    confirmed.extend(produce(&b, 80..120));
    // Broker 1 goes down while records are being sent, and comes back 2 s later.
    mock.broker_down(1).unwrap();
    let sender = {
        let b = b.clone();
        std::thread::spawn(move || produce(&b, 120..200))
    };
    std::thread::sleep(std::time::Duration::from_secs(2));
    mock.broker_up(1).unwrap();
    confirmed.extend(sender.join().unwrap());
    confirmed.extend(produce(&b, 200..240));
    let confirmed: std::collections::BTreeMap<String, (i32, i64)> = confirmed.into_iter().collect();
    assert_eq!(confirmed.len(), 240);
    b.producer_close(p, 5000).unwrap();
    // Read the whole log back (through the bridge) and count every value.
    let c = b
        .consumer_new(
            &[("bootstrap.servers", &mock.bootstrap_servers()), ("group.id", "faults-check"), ("auto.offset.reset", "earliest")],
            "faults",
        )
        .unwrap();
    let mut seen: std::collections::BTreeMap<String, Vec<(i32, i64)>> = Default::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < confirmed.len() && std::time::Instant::now() < deadline {
        if let Some(r) = b.poll(c, 200).unwrap() {
            seen.entry(String::from_utf8(r.value.unwrap()).unwrap()).or_default().push((r.partition, r.offset));
        }
    }
    // Drain a little longer: a duplicate would arrive after the last original.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        if let Some(r) = b.poll(c, 200).unwrap() {
            seen.entry(String::from_utf8(r.value.unwrap()).unwrap()).or_default().push((r.partition, r.offset));
        }
    }
    b.consumer_close(c).unwrap();
    for (v, at) in &confirmed {
        assert_eq!(seen.get(v).map(Vec::as_slice), Some(&[*at][..]), "{v} must be in the log exactly once, where confirmed");
    }
    assert_eq!(seen.len(), confirmed.len());
}

/// Records are sent through a topic handle kept per topic (not by name). A producer sending to
/// more topics than it keeps handles for (64) gets every record to its own topic, in a batch
/// and one at a time, also to a topic whose handle was given up and made again.
#[test]
fn records_reach_their_own_topic_among_many() {
    let mock = MockCluster::new(1).unwrap();
    let topics: Vec<String> = (0..70).map(|i| format!("many-{i}")).collect();
    for t in &topics {
        mock.create_topic(t, 1, 1).unwrap();
    }
    let b = support::bridge();
    let p = b.producer_new(&[("bootstrap.servers", &mock.bootstrap_servers())]).unwrap();
    let rec = |t: &str, v: &str| Rec { topic: t.into(), partition: Some(0), value: Some(v.as_bytes().to_vec()), ..Default::default() };
    let first: Vec<Rec> = topics.iter().map(|t| rec(t, "first")).collect();
    for (i, r) in b.produce_batch(p, &first).unwrap().into_iter().enumerate() {
        assert_eq!(r, Ok((0, 0)), "the first record of {}", topics[i]);
    }
    // the first topics' handles were given up for the last ones; they are made again
    for t in &topics[..3] {
        assert_eq!(b.produce(p, &rec(t, "second")).unwrap().1, 1, "the second record of {t}");
    }
    b.producer_close(p, 5000).unwrap();
}
