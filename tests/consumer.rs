//! Kafka.Service.Consumer's native side through the host emulator, against the real broker:
//! AtLeastOnce redelivery and dead letters, the auto-commit override, assign mode, seeks,
//! start positions, one call per record, lag; and commit faults on the mock cluster.

mod support;

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::client::{Bridge, Consumed, Rec};
use support::{create_topic, unique, Broker};

fn cfg(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn consumer(b: &Bridge, k: &Broker, group: &str, topic: &str, extra: &[(&str, &str)]) -> i64 {
    let mut c = cfg(&[
        ("host:Servers", &k.bootstrap),
        ("host:GroupID", group),
        ("host:AutoOffsetReset", "earliest"),
        ("host:AtLeastOnce", "1"),
    ]);
    c.extend(cfg(extra));
    let c: Vec<(&str, &str)> = c.iter().map(|(a, v)| (a.as_str(), v.as_str())).collect();
    b.consumer_new(&c, topic).unwrap()
}

/// A new topic of one partition holding `n` records, valued "0", "1", ... in order.
fn counted_topic(b: &Bridge, k: &Broker, prefix: &str, n: usize) -> String {
    let topic = unique(prefix);
    create_topic(&k.bootstrap, &topic, 1);
    produce(b, k, &(0..n).map(|i| rec(&topic, 0, &i.to_string())).collect::<Vec<_>>());
    topic
}

fn produce(b: &Bridge, k: &Broker, recs: &[Rec]) -> Vec<(i32, i64)> {
    let p = b.producer_new(&[("host:Servers", &k.bootstrap)]).unwrap();
    let out = recs.iter().map(|r| b.produce(p, r).map(|(pa, o, _)| (pa, o)).unwrap()).collect();
    b.producer_close(p, 5000).unwrap();
    out
}

fn rec(topic: &str, partition: i32, value: &str) -> Rec {
    Rec { topic: topic.into(), partition: Some(partition), value: Some(value.as_bytes().to_vec()), ..Default::default() }
}

/// A mock cluster whose `topic` (`partitions` partitions) holds the records "0" to "n-1"
/// (record i in partition i % partitions), the bridge, the cluster's servers and the producer
/// that wrote them (still open).
fn mock_topic(topic: &str, partitions: i32, n: i32) -> (MockCluster<'static, DefaultProducerContext>, Bridge, String, i64) {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(topic, partitions, 1).unwrap();
    let b = support::bridge();
    let servers = mock.bootstrap_servers();
    let p = b.producer_new(&[("bootstrap.servers", &servers)]).unwrap();
    for i in 0..n {
        b.produce(p, &rec(topic, i % partitions, &i.to_string())).unwrap();
    }
    (mock, b, servers, p)
}

/// An AtLeastOnce consumer's settings on a mock cluster, reading from the earliest offset.
fn mock_cfg<'a>(servers: &'a str, group: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut c = vec![("host:Servers", servers), ("host:GroupID", group), ("host:AutoOffsetReset", "earliest"), ("host:AtLeastOnce", "1")];
    c.extend_from_slice(extra);
    c
}

/// The first non-empty `ConsumerBatch` answer (of up to `max` records), the previous batch
/// having been settled already.
fn first_batch(b: &Bridge, c: i64, max: i32) -> Vec<Consumed> {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "no record within 30 s");
        let got = b.batch(c, "", &[], max, 200).unwrap().1;
        if !got.is_empty() {
            return got;
        }
    }
}

/// A batch of exactly `n` records: a partial one (the fetch was still under way) is settled
/// as not processed, so it comes again.
fn whole_batch(b: &Bridge, c: i64, n: usize) -> Vec<Consumed> {
    loop {
        let got = first_batch(b, c, n as i32);
        if got.len() == n {
            return got;
        }
        assert!(b.batch(c, &"3".repeat(got.len()), &[], 0, 0).unwrap().1.is_empty());
    }
}

fn text(r: &Consumed) -> String {
    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned()
}

#[test]
fn a_failed_record_comes_back_in_order_after_a_backoff_while_other_partitions_flow() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("nack");
    create_topic(&k.bootstrap, &topic, 2);
    produce(&b, &k, &[rec(&topic, 0, "a"), rec(&topic, 0, "b"), rec(&topic, 0, "c"), rec(&topic, 1, "x"), rec(&topic, 1, "y")]);
    let group = unique("g");
    let c = consumer(&b, &k, &group, &topic, &[("host:RetryInitialMs", "400"), ("host:RetryMaxMs", "2000")]);
    let start = Instant::now();
    let mut events: Vec<(String, u128)> = Vec::new();
    let mut b_failures = 0;
    let (mut outcome, mut error) = (0, String::new());
    while events.iter().filter(|(e, _)| e.starts_with("ok")).count() < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "stuck: {events:?}");
        let (_, next) = b.next(c, outcome, &error, 200).unwrap();
        let Some(r) = next else {
            outcome = 0;
            continue;
        };
        let v = text(&r);
        if v == "b" && b_failures < 2 {
            b_failures += 1;
            (outcome, error) = (2, format!("target refused b (attempt {b_failures})"));
            events.push((format!("fail {v}"), start.elapsed().as_millis()));
        } else {
            (outcome, error) = (1, String::new());
            events.push((format!("ok {v}"), start.elapsed().as_millis()));
        }
    }
    b.next(c, outcome, &error, 0).unwrap();
    let p0: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).filter(|e| e.ends_with(['a', 'b', 'c'])).collect();
    assert_eq!(p0, ["ok a", "fail b", "fail b", "ok b", "ok c"], "partition 0 in order: {events:?}");
    let at = |name: &str, nth: usize| events.iter().filter(|(e, _)| e.ends_with(name)).nth(nth).unwrap().1;
    assert!(at("b", 1) - at("b", 0) >= 380, "first backoff ≥ 400 ms: {events:?}");
    assert!(at("b", 2) - at("b", 1) >= 780, "second backoff doubles: {events:?}");
    assert!(at("y", 0) < at("b", 2), "partition 1 kept flowing while partition 0 waited: {events:?}");
    assert_eq!(b.commit(c).unwrap(), 2);
    b.consumer_close(c).unwrap();
    // Everything was processed and committed: the group sees only a new record.
    produce(&b, &k, &[rec(&topic, 0, "d")]);
    let c = consumer(&b, &k, &group, &topic, &[]);
    let r = b.poll_until(c, 30_000).unwrap().unwrap();
    assert_eq!(text(&r), "d");
    b.consumer_close(c).unwrap();
}

#[test]
fn a_poison_record_goes_to_the_dead_letter_topic_and_the_partition_moves_on() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("poison");
    let dlt = format!("{topic}.DLT");
    create_topic(&k.bootstrap, &topic, 1);
    create_topic(&k.bootstrap, &dlt, 1);
    let mut poison = rec(&topic, 0, "poison");
    poison.key = Some(b"k1".to_vec());
    poison.headers = vec![("trace".into(), Some(b"t-1".to_vec()))];
    let at = produce(&b, &k, &[poison, rec(&topic, 0, "fine")]);
    let c = consumer(
        &b,
        &k,
        &unique("g"),
        &topic,
        &[("host:MaxAttempts", "3"), ("host:DeadLetterTopic", &dlt), ("host:RetryInitialMs", "50")],
    );
    let mut outcomes = Vec::new();
    let (mut outcome, mut error) = (0, String::new());
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(60));
        let (nack, next) = b.next(c, outcome, &error, 200).unwrap();
        if nack != 0 {
            outcomes.push(nack);
        }
        let Some(r) = next else {
            outcome = 0;
            continue;
        };
        if text(&r) == "poison" {
            (outcome, error) = (2, "always fails".to_owned());
        } else {
            b.next(c, 1, "", 0).unwrap();
            break;
        }
    }
    assert_eq!(outcomes, [1, 1, 2], "two redeliveries, then the dead-letter topic");
    assert_eq!(b.commit(c).unwrap(), 1);
    b.consumer_close(c).unwrap();
    let d = consumer(&b, &k, &unique("g"), &dlt, &[]);
    let r = b.poll_until(d, 30_000).unwrap().expect("the poison record in the dead-letter topic");
    assert_eq!((text(&r).as_str(), r.key.as_deref()), ("poison", Some(&b"k1"[..])));
    let h = |n: &str| r.headers.iter().find(|(k, _)| k == n).and_then(|(_, v)| v.clone()).map(|v| String::from_utf8(v).unwrap());
    assert_eq!(h("trace").as_deref(), Some("t-1"), "original headers kept");
    assert_eq!(h("x-original-topic").as_deref(), Some(topic.as_str()));
    assert_eq!(h("x-original-partition").as_deref(), Some("0"));
    assert_eq!(h("x-original-offset"), Some(at[0].1.to_string()));
    assert_eq!(h("x-attempts").as_deref(), Some("3"));
    assert_eq!(h("x-error").as_deref(), Some("always fails"));
    b.consumer_close(d).unwrap();
}

#[test]
fn a_table_cannot_turn_auto_commit_on_under_at_least_once() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("override");
    create_topic(&k.bootstrap, &topic, 1);
    produce(&b, &k, &[rec(&topic, 0, "1"), rec(&topic, 0, "2")]);
    let group = unique("g");
    let table = [("#source", "lookup table \"Shared\""), ("enable.auto.commit", "true"), ("auto.commit.interval.ms", "100")];
    let c = consumer(&b, &k, &group, &topic, &table);
    let (_, logs) = b.logs(c).unwrap();
    assert!(
        logs.iter().any(|(l, _, t)| *l == 4 && t.contains("enable.auto.commit=true") && t.contains("Shared")),
        "a warning names the row: {logs:?}"
    );
    assert!(b.poll_until(c, 30_000).unwrap().is_some());
    assert!(b.poll_until(c, 30_000).unwrap().is_some());
    std::thread::sleep(Duration::from_millis(500));
    b.consumer_close(c).unwrap(); // nothing acknowledged: nothing may be committed
    let c = consumer(&b, &k, &group, &topic, &[]);
    assert_eq!(text(&b.poll_until(c, 30_000).unwrap().unwrap()), "1", "redelivered from the start");
    b.consumer_close(c).unwrap();
}

#[test]
fn without_at_least_once_offsets_are_committed_whatever_the_targets_do() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("auto");
    create_topic(&k.bootstrap, &topic, 1);
    produce(&b, &k, &[rec(&topic, 0, "1"), rec(&topic, 0, "2")]);
    let group = unique("g");
    let c = consumer(&b, &k, &group, &topic, &[("host:AtLeastOnce", "0"), ("auto.commit.interval.ms", "100")]);
    assert!(b.poll_until(c, 30_000).unwrap().is_some());
    assert!(b.poll_until(c, 30_000).unwrap().is_some());
    let _ = b.poll(c, 500).unwrap();
    b.consumer_close(c).unwrap();
    produce(&b, &k, &[rec(&topic, 0, "3")]);
    let c = consumer(&b, &k, &group, &topic, &[("host:AtLeastOnce", "0")]);
    assert_eq!(text(&b.poll_until(c, 30_000).unwrap().unwrap()), "3", "1 and 2 were auto-committed");
    b.consumer_close(c).unwrap();
}

#[test]
fn assign_mode_reads_exactly_the_listed_partitions() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("assign");
    create_topic(&k.bootstrap, &topic, 3);
    produce(&b, &k, &(0..3).map(|p| rec(&topic, p, &format!("p{p}"))).collect::<Vec<_>>());
    let c = consumer(&b, &k, &unique("g"), &topic, &[("host:Partition", "0, 2")]);
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(6);
    while Instant::now() < end {
        if let Some(r) = b.poll(c, 200).unwrap() {
            got.push(r.partition);
        }
    }
    got.sort();
    assert_eq!(got, [0, 2]);
    b.consumer_close(c).unwrap();
}

#[test]
fn seek_to_an_offset_a_timestamp_the_beginning_and_the_end() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("seek");
    create_topic(&k.bootstrap, &topic, 1);
    let base = 1_700_000_000_000i64;
    let recs: Vec<Rec> =
        (0..10).map(|i| Rec { timestamp: Some(base + i * 1000), ..rec(&topic, 0, &i.to_string()) }).collect();
    produce(&b, &k, &recs);
    let c = consumer(&b, &k, &unique("g"), &topic, &[("host:Partition", "0")]);
    assert_eq!(b.poll_until(c, 30_000).unwrap().unwrap().offset, 0);
    assert_eq!(b.seek(c, &topic, 0, 0, 5).unwrap(), 5);
    assert_eq!(b.poll_until(c, 10_000).unwrap().unwrap().offset, 5);
    assert_eq!(b.seek(c, &topic, 0, 1, base + 7000).unwrap(), 7, "first record at or after the time");
    assert_eq!(b.poll_until(c, 10_000).unwrap().unwrap().offset, 7);
    b.seek(c, &topic, 0, 2, 0).unwrap();
    assert_eq!(b.poll_until(c, 10_000).unwrap().unwrap().offset, 0);
    b.seek(c, &topic, 0, 3, 0).unwrap();
    assert!(b.poll_until(c, 1500).unwrap().is_none(), "at the end nothing is left");
    assert_eq!(b.call("ConsumerSeek", &[c.into(), support::zfhost::Arg::Bytes(topic.as_bytes()), 0.into(), 9.into(), 0.into()]).unwrap_err().name, "BRIDGE_BAD_ARGUMENT");
    b.consumer_close(c).unwrap();
}

#[test]
fn a_new_group_starts_at_the_earliest_or_the_latest_record() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("reset");
    create_topic(&k.bootstrap, &topic, 1);
    produce(&b, &k, &[rec(&topic, 0, "old")]);
    let early = consumer(&b, &k, &unique("g"), &topic, &[]);
    assert_eq!(text(&b.poll_until(early, 30_000).unwrap().unwrap()), "old");
    let late = consumer(&b, &k, &unique("g"), &topic, &[("host:AutoOffsetReset", "latest")]);
    // Wait until the late group has its partition (and so its start position) before producing.
    let end = Instant::now() + Duration::from_secs(30);
    while !b.logs(late).unwrap().1.iter().any(|(_, _, t)| t.contains("partitions assigned")) {
        assert!(Instant::now() < end, "no assignment");
        assert!(b.poll(late, 200).unwrap().is_none(), "latest must not read the old record");
    }
    let _ = b.poll(late, 1000).unwrap();
    produce(&b, &k, &[rec(&topic, 0, "new")]);
    assert_eq!(text(&b.poll_until(late, 30_000).unwrap().unwrap()), "new");
    b.consumer_close(early).unwrap();
    b.consumer_close(late).unwrap();
}

#[test]
fn one_entry_call_per_record_and_the_lag_summary() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = counted_topic(&b, &k, "next", 5);
    let c = consumer(&b, &k, &unique("g"), &topic, &[("statistics.interval.ms", "200")]);
    let mut calls = 0;
    let mut got = 0;
    let mut outcome = 0;
    let start = Instant::now();
    while got < 2 {
        assert!(start.elapsed() < Duration::from_secs(30));
        let (_, r) = b.next(c, outcome, "", 200).unwrap();
        calls += 1;
        outcome = if let Some(r) = r {
            assert_eq!(r.calls, 1, "a small record arrives whole in the frame");
            got += 1;
            1
        } else {
            0
        };
    }
    let (_, _) = b.next(c, 1, "", 0).unwrap();
    calls += 1;
    println!("{got} records in {calls} entry calls");
    assert_eq!(b.commit(c).unwrap(), 1);
    // The summary comes from the last statistics event served; a zero-timeout poll serves at
    // most one queued event, possibly one emitted before the commit. Keep serving until a
    // snapshot taken after the commit arrives.
    let row = loop {
        assert!(start.elapsed() < Duration::from_secs(40), "no statistics after the commit: {:?}", b.lag(c));
        let _ = b.poll(c, 100); // serve the statistics callback
        let lag = b.lag(c).unwrap();
        if let Some(row) = lag.into_iter().find(|r| r.0 == topic && r.1 == 0 && r.2 >= 0) {
            break row;
        }
    };
    assert_eq!(row.2, 2, "committed: {row:?}");
    assert_eq!(row.4, 5, "high watermark: {row:?}");
    assert!(row.5 >= 2 && row.5 <= 3, "lag {row:?}");
    let stats = b.statistics(c).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(v["type"], "consumer");
    b.consumer_close(c).unwrap();
}

/// The group's committed offset of a partition (-1 when none), as another client sees it.
fn group_offset(k: &Broker, group: &str, topic: &str, partition: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &k.bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    match got.find_partition(topic, partition).map(|e| e.offset()) {
        Some(rdkafka::Offset::Offset(o)) => o,
        _ => -1,
    }
}

/// `host:CommitIntervalMs` (the Inbound adapter's CommitIntervalMs): `ConsumerCommit` sends
/// the processed offsets at most once per interval. A call within it sends nothing (0) and the
/// group's offset stays; the first call after it sends what was held back; the close commits
/// what is still pending, whatever the interval.
#[test]
fn commits_are_sent_at_most_once_per_interval() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = counted_topic(&b, &k, "interval", 4);
    let group = unique("g");
    let c = consumer(&b, &k, &group, &topic, &[("host:CommitIntervalMs", "8000")]);
    let next = || {
        let r = b.poll_until(c, 30_000).unwrap().expect("a record");
        b.ack(c, &r.topic, r.partition, r.offset).unwrap();
        r.offset
    };
    let settle = |want: i64| {
        let start = Instant::now();
        while group_offset(&k, &group, &topic, 0) != want {
            assert!(start.elapsed() < Duration::from_secs(20), "the group's offset never became {want}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(next(), 0);
    assert_eq!(b.commit(c).unwrap(), 1, "the first commit goes at once");
    let first = Instant::now();
    settle(1);
    assert_eq!(next(), 1);
    assert_eq!(b.commit(c).unwrap(), 0, "within the interval nothing is sent");
    assert!(first.elapsed() < Duration::from_millis(7000), "the machine was too slow for this check");
    assert_eq!(group_offset(&k, &group, &topic, 0), 1, "the held-back offset was not committed");
    std::thread::sleep(Duration::from_millis(8000).saturating_sub(first.elapsed()));
    assert_eq!(b.commit(c).unwrap(), 1, "after the interval the held-back offset goes");
    settle(2);
    assert_eq!(next(), 2);
    assert_eq!(b.commit(c).unwrap(), 0, "within the interval again");
    b.consumer_close(c).unwrap();
    assert_eq!(group_offset(&k, &group, &topic, 0), 3, "the close commits what was held back");
}

/// Without AtLeastOnce librdkafka stores the offset of every record it returns to the
/// bridge, and commits it. Records fetched ahead that the close drains must not count as
/// consumed: a consumer that handed one record to the host and then closed commits offset 1,
/// so the next member starts at record 1, not after everything that had been prefetched.
#[test]
fn close_without_at_least_once_commits_only_what_was_handed_out() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = counted_topic(&b, &k, "prefetch", 300);
    let group = unique("g");
    let c = consumer(&b, &k, &group, &topic, &[("host:AtLeastOnce", "0")]);
    let r = b.poll_until(c, 30_000).unwrap().expect("a record");
    assert_eq!(r.offset, 0);
    std::thread::sleep(Duration::from_millis(500)); // the rest is fetched meanwhile
    b.consumer_close(c).unwrap();
    assert_eq!(group_offset(&k, &group, &topic, 0), 1, "records the host never got were committed");
}

/// A static member (`group.instance.id`, KIP-345) is closed without giving its assignment
/// up first (unsubscribing would make it leave the group): the close commits what was
/// processed and returns, and the member's restart resumes after it.
#[test]
fn a_static_member_closes_and_resumes() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = counted_topic(&b, &k, "static", 3);
    let group = unique("g");
    let extra = [("group.instance.id", "iris-job-1")];
    let c = consumer(&b, &k, &group, &topic, &extra);
    let r = b.poll_until(c, 30_000).unwrap().expect("a record");
    assert_eq!(r.offset, 0);
    b.ack(c, &r.topic, r.partition, r.offset).unwrap();
    let start = Instant::now();
    b.consumer_close(c).unwrap();
    assert!(start.elapsed() < Duration::from_secs(15), "close took {:?}", start.elapsed());
    assert_eq!(group_offset(&k, &group, &topic, 0), 1);
    let again = consumer(&b, &k, &group, &topic, &extra);
    let r = b.poll_until(again, 30_000).unwrap().expect("a record");
    assert_eq!(r.offset, 1, "the restarted member resumes after what was committed");
    b.consumer_close(again).unwrap();
}

/// A rebalance event still queued when a consumer closes (another member left, and this one
/// was not polled since) must not hang the close: with a cooperative assignor librdkafka can
/// leave the assign call of such an event unanswered forever once the group is terminating
/// (librdkafka issue 4884), which would hang an IRIS job in OnTearDown. Each round closes
/// the second member right after the first left; every close returns within its bound.
#[test]
fn close_with_a_rebalance_pending_returns() {
    let (_mock, b, servers, p) = mock_topic("cpend", 4, 200);
    b.producer_close(p, 5000).unwrap();
    let b = std::sync::Arc::new(b);
    for round in 0..4 {
        let group = format!("cpend-{round}");
        let cfg = mock_cfg(&servers, &group, &[]);
        let a = b.consumer_new(&cfg, "cpend").unwrap();
        let second = b.consumer_new(&cfg, "cpend").unwrap();
        let start = Instant::now();
        let (mut got_a, mut got_second) = (false, false);
        while !(got_a && got_second) {
            assert!(start.elapsed() < Duration::from_secs(60), "round {round}: both members never held partitions");
            got_a |= b.poll(a, 100).unwrap().is_some();
            got_second |= b.poll(second, 100).unwrap().is_some();
        }
        b.consumer_close(a).unwrap();
        // the group rebalances now; `second` is not polled, so the events wait in its queue
        std::thread::sleep(Duration::from_millis(300 * round as u64));
        let (tx, rx) = std::sync::mpsc::channel();
        let b2 = b.clone();
        std::thread::spawn(move || tx.send(b2.consumer_close(second)).unwrap());
        let closed = rx.recv_timeout(Duration::from_secs(40)).unwrap_or_else(|_| panic!("round {round}: ConsumerClose hung"));
        closed.unwrap();
    }
}

/// `ConsumerBatch`: many records per call, each settled by its own letter in the next call.
/// A failure rewinds only its partition (its later records in the batch come again, in order);
/// a 100 KiB record ends its batch and is read with ReadField; the commit covers exactly what
/// was processed.
#[test]
fn batches_settle_each_record_and_keep_partition_order() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("batch");
    create_topic(&k.bootstrap, &topic, 3);
    let mut recs = Vec::new();
    for p in 0..3 {
        for i in 0..30 {
            recs.push(rec(&topic, p, &format!("p{p}-{i}")));
        }
    }
    let big = "B".repeat(100 * 1024);
    recs.push(rec(&topic, 2, &big));
    produce(&b, &k, &recs);
    let group = unique("g");
    let c = consumer(&b, &k, &group, &topic, &[("host:RetryInitialMs", "200"), ("host:RetryMaxMs", "400")]);
    let mut processed: Vec<Vec<String>> = vec![Vec::new(); 3];
    let (mut outcomes, mut errors) = (String::new(), Vec::<(usize, String)>::new());
    let (mut calls, mut largest, mut redelivered, mut failures) = (0, 0, 0, 0);
    let start = Instant::now();
    while processed.iter().map(Vec::len).sum::<usize>() < recs.len() {
        assert!(start.elapsed() < Duration::from_secs(60), "stuck: {processed:?}");
        let errs: Vec<(usize, &str)> = errors.iter().map(|(i, t)| (*i, t.as_str())).collect();
        let (settled, batch) = b.batch(c, &outcomes, &errs, 50, 200).unwrap();
        calls += 1;
        redelivered += settled.redelivered;
        largest = largest.max(batch.len());
        outcomes.clear();
        errors.clear();
        let mut stopped = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let v = text(r);
            if stopped.contains(&r.partition) {
                outcomes.push('3');
            } else if v == "p1-5" && failures < 2 {
                failures += 1;
                outcomes.push('2');
                errors.push((i, format!("target refused {v}")));
                stopped.push(r.partition);
            } else {
                outcomes.push('1');
                processed[r.partition as usize].push(if v.len() > 100 { "big".into() } else { v });
            }
        }
    }
    let (settled, rest) = b.batch(c, &outcomes, &[], 0, 0).unwrap();
    assert!(rest.is_empty(), "max 0 settles only");
    redelivered += settled.redelivered;
    for p in 0..3 {
        let mut want: Vec<String> = (0..30).map(|i| format!("p{p}-{i}")).collect();
        if p == 2 {
            want.push("big".into());
        }
        assert_eq!(processed[p], want, "partition {p}: each record once, in order");
    }
    assert_eq!(redelivered, 2, "both failures were redelivered");
    assert!(largest > 10, "records arrive many per call (largest batch {largest})");
    println!("{} records in {calls} ConsumerBatch calls (largest batch {largest})", recs.len());
    assert_eq!(b.commit(c).unwrap(), 3);
    b.consumer_close(c).unwrap();
    // Everything was processed and committed: the group sees only a new record.
    produce(&b, &k, &[rec(&topic, 1, "new")]);
    let c = consumer(&b, &k, &group, &topic, &[]);
    assert_eq!(first_batch(&b, c, 10).iter().map(text).collect::<Vec<_>>(), ["new"]);
    b.consumer_close(c).unwrap();
}

/// `Headers` 0 (what the Inbound adapter sends for EnsLib.Kafka.Message, which has no place
/// for them): records come without headers; by default they come with them.
#[test]
fn headers_are_handed_out_unless_the_host_turns_them_off() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = unique("hdr");
    create_topic(&k.bootstrap, &topic, 1);
    let mut r = rec(&topic, 0, "v");
    r.headers = vec![("h1".into(), Some(b"x".to_vec())), ("h2".into(), None)];
    produce(&b, &k, &[r.clone()]);
    for (headers, want) in [("0", vec![]), ("1", r.headers.clone())] {
        let c = consumer(&b, &k, &unique("g"), &topic, &[("host:Headers", headers)]);
        let got = first_batch(&b, c, 10);
        assert_eq!(got[0].headers, want, "Headers={headers}");
        assert_eq!(text(&got[0]), "v");
        b.batch(c, "1", &[], 0, 0).unwrap();
        b.consumer_close(c).unwrap();
    }
}

/// A record too large for the batch reply ends its batch; its fields left out are read with
/// the ReadField entries, in chunks or as one long string, from where it lies in librdkafka's
/// buffer (or from its copy, kept when a dead-letter topic is set) and come whole. After the
/// next batch call it is no longer the current record.
#[test]
fn a_record_cut_from_its_batch_is_read_whole_with_either_transfer() {
    use support::client::Transfer;
    let k = Broker::from_env();
    let mut b = support::bridge();
    let topic = unique("cut");
    create_topic(&k.bootstrap, &topic, 1);
    let mut big = rec(&topic, 0, "");
    big.key = Some(b"key-1".to_vec());
    big.value = Some((0..150 * 1024).map(|i| (i * 7 % 251) as u8).collect());
    big.headers = vec![("h1".into(), Some(vec![b'x'; 40 * 1024])), ("h2".into(), None)];
    produce(&b, &k, &[big.clone(), rec(&topic, 0, "after")]);
    let dlt = unique("cut-dlt");
    for (transfer, dead_letters) in [(Transfer::Chunks, false), (Transfer::Long, false), (Transfer::Long, true)] {
        b.transfer = transfer;
        let mut extra = vec![("host:Headers", "1")];
        if dead_letters {
            extra.extend([("host:DeadLetterTopic", dlt.as_str()), ("host:MaxAttempts", "3")]);
        }
        let c = consumer(&b, &k, &unique("g"), &topic, &extra);
        let what = format!("{transfer:?}, dead letters {dead_letters}");
        let got = first_batch(&b, c, 10);
        assert_eq!(got.len(), 1, "{what}: the large record ends its batch");
        assert_eq!((got[0].key.as_ref(), got[0].value.as_ref()), (big.key.as_ref(), big.value.as_ref()), "{what}");
        assert_eq!(got[0].headers, big.headers, "{what}");
        assert!(got[0].calls > 1, "{what}: fields were read with ReadField");
        let (_, next) = b.batch(c, "1", &[], 10, 5000).unwrap();
        assert_eq!(next.iter().map(text).collect::<Vec<_>>(), ["after"], "{what}");
        let e = b.call("ConsumerReadField", &[c.into(), 2.into(), 0i64.into()]).unwrap_err();
        assert_eq!(e.name, "BRIDGE_NO_RECORD", "{what}: {e}");
        b.batch(c, "1", &[], 0, 0).unwrap();
        assert_eq!(b.commit(c).unwrap(), 1, "{what}");
        b.consumer_close(c).unwrap();
    }
}

/// Wrong batch outcomes are refused and change nothing; "not processed" brings the same
/// records back without a backoff.
#[test]
fn batch_outcomes_are_checked_and_not_processed_records_come_again() {
    let k = Broker::from_env();
    let b = support::bridge();
    let topic = counted_topic(&b, &k, "batchbad", 5);
    let c = consumer(&b, &k, &unique("g"), &topic, &[]);
    let offsets: Vec<i64> = whole_batch(&b, c, 5).iter().map(|r| r.offset).collect();
    // an errors key that is not a record index
    let bad_key = iriskafka::wire::encode_pairs([(&b"two"[..], Some(&b"e"[..]))]);
    for (outcomes, errors, what) in [("111", &[][..], "count"), ("11x11", &[][..], "letter"), ("11211", &bad_key[..], "errors key")] {
        let args = [c.into(), support::zfhost::Arg::Bytes(outcomes.as_bytes()), support::zfhost::Arg::Bytes(errors), 5.into(), 0.into()];
        let e = b.call("ConsumerBatch", &args).unwrap_err();
        assert_eq!(e.name, "BRIDGE_BAD_ARGUMENT", "{what}: {e}");
    }
    // Nothing was settled by the refused calls: mark all not processed, they come again.
    let (s, again) = b.batch(c, "33333", &[], 0, 0).unwrap();
    assert_eq!((s.redelivered, s.dead, s.discarded, again.len()), (0, 0, 0, 0));
    let second = whole_batch(&b, c, 5);
    assert_eq!(second.iter().map(|r| r.offset).collect::<Vec<_>>(), offsets, "the same records, in order");
    b.batch(c, "11111", &[], 0, 0).unwrap();
    assert_eq!(b.commit(c).unwrap(), 1);
    b.consumer_close(c).unwrap();
}

/// Offset commits fail with NOT_COORDINATOR, REQUEST_TIMED_OUT and
/// COORDINATOR_LOAD_IN_PROGRESS on the mock cluster: the commit is retried, the retries are
/// logged with their codes, and the committed position is right afterwards.
#[test]
fn commit_errors_are_retried_and_surfaced() {
    let (mock, b, servers, p) = mock_topic("commits", 1, 4);
    b.producer_close(p, 5000).unwrap();
    let mk = || b.consumer_new(&mock_cfg(&servers, "cg", &[]), "commits").unwrap();
    let c = mk();
    for _ in 0..2 {
        let r = b.poll_until(c, 30_000).unwrap().unwrap();
        b.ack(c, &r.topic, r.partition, r.offset).unwrap();
    }
    mock.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        ],
    );
    // Commits are asynchronous: a failure comes back (logged, with its code) from the next
    // commit call, which sends the offsets again — as OnTask's next batch does.
    assert_eq!(b.commit(c).unwrap(), 1, "sent");
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        match b.commit(c) {
            Err(e) => errors.push(e.name.clone()),
            Ok(0) if !errors.is_empty() => break,
            Ok(_) => {}
        }
    }
    println!("commit errors seen: {errors:?}");
    let (_, logs) = b.logs(c).unwrap();
    let retried: Vec<&String> = logs.iter().map(|(_, _, t)| t).filter(|t| t.contains("commit failed")).collect();
    assert!(
        retried.iter().any(|t| t.contains("NOT_COORDINATOR") || t.contains("REQUEST_TIMED_OUT") || t.contains("COORDINATOR_LOAD_IN_PROGRESS")),
        "a failed commit is logged with its Kafka code (librdkafka itself retries some): {logs:?}"
    );
    b.consumer_close(c).unwrap();
    let c = mk();
    assert_eq!(text(&b.poll_until(c, 30_000).unwrap().unwrap()), "2", "resumes after the committed records");
    b.consumer_close(c).unwrap();
}

/// The group evicts the member (its heartbeat answered "unknown member") after two records
/// were processed and before their commit: when the partition comes back to the member, what
/// it processed is committed before fetching starts, so nothing processed comes again.
#[test]
fn processed_offsets_survive_a_lost_assignment() {
    let (mock, b, servers, p) = mock_topic("evicted", 1, 2);
    let fast = [("session.timeout.ms", "3000"), ("heartbeat.interval.ms", "300")];
    let mk = || b.consumer_new(&mock_cfg(&servers, "eg", &fast), "evicted").unwrap();
    let c = mk();
    for want in ["0", "1"] {
        let r = b.poll_until(c, 30_000).unwrap().unwrap();
        assert_eq!(text(&r), want);
        b.ack(c, &r.topic, r.partition, r.offset).unwrap();
    }
    // Not committed yet (the Inbound adapter commits at the end of a batch): the member is
    // evicted now, and rejoins while it polls.
    mock.request_errors(RDKafkaApiKey::Heartbeat, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID]);
    let mut texts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !texts.iter().any(|t: &String| t.contains("committed what was processed")) {
        assert!(Instant::now() < deadline, "no commit after the partition came back: {texts:?}");
        assert!(b.poll(c, 200).unwrap().is_none(), "nothing new was produced");
        texts.extend(b.logs(c).unwrap().1.into_iter().map(|(_, _, t)| t));
    }
    println!("{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("assignment lost")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("committed what was processed: evicted[0]@2")), "{texts:?}");
    for i in 2..4 {
        b.produce(p, &rec("evicted", 0, &i.to_string())).unwrap();
    }
    b.producer_close(p, 5000).unwrap();
    let next = b.poll_until(c, 30_000).unwrap().unwrap();
    assert_eq!(text(&next), "2", "records processed before the eviction do not come again");
    b.consumer_close(c).unwrap();
    let c = mk();
    assert_eq!(text(&b.poll_until(c, 30_000).unwrap().unwrap()), "2", "the group's committed offset");
    b.consumer_close(c).unwrap();
}

/// The mock broker goes down in the middle of a batch and comes back: records keep their
/// order, nothing is lost, and the commit after the outage covers what was processed.
#[test]
fn broker_down_during_a_batch_loses_nothing() {
    let (mock, b, servers, p) = mock_topic("outage", 2, 40);
    let cfg = mock_cfg(&servers, "og", &[]);
    let c = b.consumer_new(&cfg, "outage").unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let start = Instant::now();
    let mut went_down = false;
    let mut came_back = false;
    while seen.len() < 40 {
        assert!(start.elapsed() < Duration::from_secs(90), "only {} of 40", seen.len());
        if seen.len() == 15 && !went_down {
            mock.broker_down(1).unwrap();
            went_down = true;
        }
        if went_down && !came_back && start.elapsed() > Duration::from_secs(3) {
            mock.broker_up(1).unwrap();
            came_back = true;
        }
        match b.poll(c, 200) {
            Ok(Some(r)) => {
                b.ack(c, &r.topic, r.partition, r.offset).unwrap();
                seen.insert(text(&r).parse::<i32>().unwrap());
            }
            Ok(None) => {}
            Err(e) => assert!(e.retriable, "{e}"),
        }
        if seen.len() == 20 {
            let _ = b.commit(c);
        }
    }
    if !came_back {
        mock.broker_up(1).unwrap();
    }
    b.commit(c).unwrap();
    b.consumer_close(c).unwrap();
    let p2 = b.producer_new(&[("bootstrap.servers", &servers)]).unwrap();
    b.produce(p2, &rec("outage", 0, "after")).unwrap();
    let c = b.consumer_new(&cfg, "outage").unwrap();
    assert_eq!(text(&b.poll_until(c, 30_000).unwrap().unwrap()), "after", "all 40 were committed");
    b.consumer_close(c).unwrap();
    b.producer_close(p, 1000).unwrap();
    b.producer_close(p2, 1000).unwrap();
}

/// A rebalance while records are in flight (mock cluster): the first member holds records it
/// has not acknowledged when a second member joins and takes some of its partitions. Its late
/// acknowledgements for the partitions it lost are discarded, the new owner delivers those
/// records again, and in the end every record was processed and committed.
#[test]
fn rebalance_with_records_in_flight_loses_nothing() {
    let (_mock, b, servers, p) = mock_topic("rb", 4, 40);
    b.producer_close(p, 5000).unwrap();
    let cfg = mock_cfg(&servers, "rbg", &[]);
    let a = b.consumer_new(&cfg, "rb").unwrap();
    let mut held = Vec::new();
    while held.len() < 8 {
        if let Some(r) = b.poll_until(a, 30_000).unwrap() {
            held.push(r);
        }
    }
    let second = b.consumer_new(&cfg, "rb").unwrap();
    let mut seen: std::collections::BTreeSet<String> = Default::default();
    let revoked = |h: i64| b.logs(h).unwrap().1.into_iter().any(|(_, _, t)| t.contains("partitions revoked"));
    let start = Instant::now();
    let mut a_revoked = false;
    while !a_revoked {
        assert!(start.elapsed() < Duration::from_secs(60), "no rebalance");
        // Both members keep polling (the second to join, the first to serve its revocation);
        // what they get now is processed at once.
        for h in [a, second] {
            if let Some(r) = b.poll(h, 100).unwrap() {
                b.ack(h, &r.topic, r.partition, r.offset).unwrap();
                seen.insert(text(&r));
            }
        }
        a_revoked = revoked(a);
    }
    // Now the first member finishes the records it held: acks for lost partitions are
    // discarded (no error), the others count.
    for r in &held {
        b.ack(a, &r.topic, r.partition, r.offset).unwrap();
        seen.insert(text(r));
    }
    let idle_until = |deadline: Instant| Instant::now() >= deadline;
    let mut quiet_since = Instant::now();
    while !idle_until(quiet_since + Duration::from_secs(4)) {
        assert!(start.elapsed() < Duration::from_secs(120));
        for h in [a, second] {
            if let Some(r) = b.poll(h, 100).unwrap() {
                b.ack(h, &r.topic, r.partition, r.offset).unwrap();
                seen.insert(text(&r));
                quiet_since = Instant::now();
            }
        }
    }
    assert_eq!(seen.len(), 40, "every record was delivered to a member: {seen:?}");
    // A commit refused while the group settles (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS)
    // keeps its offsets pending; the next batch's commit sends them again, as OnTask does.
    // Commits are asynchronous: keep committing until a few calls in a row report nothing
    // pending and no failure.
    for h in [a, second] {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut quiet = 0;
        while quiet < 3 {
            assert!(Instant::now() < deadline, "commits never settled");
            match b.commit(h) {
                Ok(0) => quiet += 1,
                Ok(_) => quiet = 0,
                Err(e) => {
                    quiet = 0;
                    println!("commit refused while the group settles: {e}");
                }
            }
            assert!(b.poll(h, 200).unwrap().is_none(), "nothing new to read");
        }
    }
    b.consumer_close(a).unwrap();
    b.consumer_close(second).unwrap();
    // Everything is committed: a new member of the group finds nothing left.
    let check = b.consumer_new(&cfg, "rb").unwrap();
    assert!(b.poll_until(check, 6_000).unwrap().is_none(), "a record was left uncommitted");
    b.consumer_close(check).unwrap();
}
