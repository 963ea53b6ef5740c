//! A consumer group of several OS processes against the real broker: three workers
//! (`examples/consumer_worker.rs`, each one IRIS job running the consumer service with
//! AtLeastOnce, every call through the host emulator) share a 6-partition topic.
//!
//! * the assignment spreads: every member gets partitions, together all 6, none twice;
//! * a member leaving (SIGTERM: the job stops, closes the consumer) while records flow moves
//!   its partitions to the others;
//! * a member joining while records flow takes partitions from the others (cooperative
//!   rebalance: the losing members commit before their partitions go);
//! * through all of it, with no failure and no kill, every record is processed exactly once,
//!   and at the end the group's committed offsets are the partitions' end offsets.
//!
//! Each worker appends its outcomes (`<pid> <partition> <offset> ok|fail <value>`) and events
//! (`# <pid> assigned|revoked|commit|error|exit ...`) to one shared file, one `write` per line,
//! so the file's order is the order in which things happened across the processes.
//!
//! Also here: a partition revoked while paused for a redelivery backoff must flow again when
//! it is assigned back to the same member (two consumers in one emulated job).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use support::client::Rec;
use support::workers::*;
use support::{create_topic, unique, Broker};



/// Asserts every record was processed exactly once (no failure is injected and no worker is
/// killed, so there is no reason for a second delivery) and with its own value.
fn assert_exactly_once(tail: &Tail, expected: &HashMap<(i32, i64), String>, what: &str) {
    let oks = tail.oks();
    let mut missing: Vec<_> = expected.keys().filter(|k| !oks.contains_key(k)).collect();
    missing.sort();
    assert!(missing.is_empty(), "{what}: {} records never processed, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    let mut dups: Vec<_> = oks.iter().filter(|(_, pids)| pids.len() > 1).map(|(k, pids)| (*k, pids.clone())).collect();
    dups.sort();
    assert!(dups.is_empty(), "{what}: {} records processed more than once, first {:?}", dups.len(), &dups[..dups.len().min(10)]);
    for l in &tail.lines {
        match l {
            Line::Outcome { partition, offset, ok, value, .. } => {
                assert!(*ok, "{what}: a failure was reported with the failure rate at 0: {l:?}");
                let want = expected.get(&(*partition, *offset));
                assert_eq!(want, Some(value), "{what}: [{partition}]@{offset} has the wrong value");
            }
            Line::Event { .. } => {}
        }
    }
}

/// Which worker processed records of which partition.
fn processed_by(tail: &Tail, from_line: usize) -> BTreeMap<u32, BTreeSet<i32>> {
    let mut m: BTreeMap<u32, BTreeSet<i32>> = BTreeMap::new();
    for l in &tail.lines[from_line..] {
        if let Line::Outcome { pid, partition, .. } = l {
            m.entry(*pid).or_default().insert(*partition);
        }
    }
    m
}

#[test]
fn group_of_three_spreads_moves_partitions_and_never_duplicates() {
    let broker = Broker::from_env();
    let topic = unique("group");
    let group = unique("g");
    create_topic(&broker.bootstrap, &topic, PARTITIONS);
    let dir = std::env::temp_dir().join(unique("iriskafka-group"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("outcomes.txt");
    eprintln!("outcome file: {}", out.display());
    let common: Vec<String> = [
        ("--bootstrap", broker.bootstrap.as_str()),
        ("--topic", &topic),
        ("--group", &group),
        ("--fail-rate", "0"),
        ("--out", out.to_str().unwrap()),
        ("--idle-exit", "300"),
        ("--session-timeout-ms", "6000"),
    ]
    .iter()
    .flat_map(|(k, v)| [k.to_string(), v.to_string()])
    .collect();
    let mut workers = Workers::new(&dir, common);
    let mut tail = Tail::new(&out);
    let b = support::bridge();
    let producer = b.producer_new(&[("bootstrap.servers", &broker.bootstrap), ("linger.ms", "5")]).unwrap();
    let mut expected: HashMap<(i32, i64), String> = HashMap::new();
    let mut next = 0usize;

    // 1. Three members: the assignment spreads over all of them before any record exists.
    let first: Vec<u32> = (0..3).map(|i| workers.spawn(i)).collect();
    wait_for(&mut tail, Duration::from_secs(60), "3 members sharing 6 partitions", |t| {
        let a = t.assignment();
        a.len() == 3 && a.values().map(BTreeSet::len).sum::<usize>() == 6 && a.values().flatten().collect::<BTreeSet<_>>().len() == 6
    });
    let spread = tail.assignment();
    eprintln!("assignment of 3 members: {spread:?}");
    let lines_before = tail.lines.len();
    expected.extend(produce(&b, producer, &topic, "a", next, 6000));
    next += 6000;
    wait_for(&mut tail, Duration::from_secs(60), "6,000 records processed", |t| {
        let oks = t.oks();
        expected.keys().all(|k| oks.contains_key(k))
    });
    let by = processed_by(&tail, lines_before);
    eprintln!("phase 1, partitions processed per member: {by:?}");
    assert_eq!(by.len(), 3, "every member processed records: {by:?}");
    for (pid, parts) in &by {
        assert!(first.contains(pid));
        assert_eq!(Some(parts), spread.get(pid), "member {pid} processed exactly its assigned partitions");
    }
    let all: BTreeSet<i32> = by.values().flatten().copied().collect();
    assert_eq!(all, (0..PARTITIONS).collect(), "together the members covered all 6 partitions");
    assert_eq!(by.values().map(BTreeSet::len).sum::<usize>(), 6, "no partition processed by two members: {by:?}");
    assert_exactly_once(&tail, &expected, "phase 1 (spread)");

    // 2. A member leaves (SIGTERM: the job stops and closes its consumer) while records flow:
    //    its partitions move to the two others, nothing is lost or processed twice.
    let leaver = first[0];
    let moved: BTreeSet<i32> = spread[&leaver].clone();
    let mut stopped = false;
    let mut leave_line = usize::MAX;
    let phase2_line = tail.lines.len();
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        expected.extend(produce(&b, producer, &topic, "b", next, 300));
        next += 300;
        tail.read();
        if !stopped && processed_by(&tail, phase2_line).get(&leaver).is_some() && next >= 6000 + 1500 {
            workers.signal(leaver, libc::SIGTERM);
            let st = workers.wait(leaver, Duration::from_secs(30));
            assert!(st.success(), "the leaving worker exits cleanly after closing its consumer: {st:?}\n{}", workers.stderr_of_all());
            tail.read();
            leave_line = tail.lines.len();
            stopped = true;
        }
        if stopped {
            // The others own the leaver's partitions and processed records of them since.
            let a = tail.assignment();
            let by = processed_by(&tail, leave_line);
            let owned: BTreeSet<i32> = a.values().flatten().copied().collect();
            let taken: BTreeSet<i32> = by.values().flatten().copied().filter(|p| moved.contains(p)).collect();
            if owned.len() == 6 && !a.contains_key(&leaver) && taken == moved && next >= 6000 + 4500 {
                break;
            }
        }
        assert!(Instant::now() < end, "member leaving: partitions {moved:?} of {leaver} did not move; assignment {:?}", tail.assignment());
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&mut tail, Duration::from_secs(60), "every record after the leave processed", |t| {
        let oks = t.oks();
        expected.keys().all(|k| oks.contains_key(k))
    });
    let after = tail.assignment();
    eprintln!("after {leaver} left: {after:?}");
    assert_eq!(after.len(), 2, "two members remain: {after:?}");
    for p in &moved {
        assert!(after.values().any(|s| s.contains(p)), "partition {p} of the leaver moved to a remaining member");
    }
    let by = processed_by(&tail, leave_line);
    assert!(!by.contains_key(&leaver), "the leaver processed nothing after it exited");
    assert_exactly_once(&tail, &expected, "phase 2 (a member leaves)");

    // 3. A member joins while records flow: the cooperative rebalance revokes partitions from
    //    the others, which commit what they processed before the partitions go; the newcomer
    //    starts after it. Still nothing twice.
    let joiner = workers.spawn(10);
    let join_line = tail.lines.len();
    let mut produced_after_assigned = 0;
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        expected.extend(produce(&b, producer, &topic, "c", next, 300));
        next += 300;
        tail.read();
        let a = tail.assignment();
        if a.get(&joiner).is_some_and(|s| !s.is_empty()) {
            produced_after_assigned += 300;
        }
        let joined_processed = processed_by(&tail, join_line).get(&joiner).is_some();
        if joined_processed && produced_after_assigned >= 3000 && a.len() == 3 && a.values().map(BTreeSet::len).sum::<usize>() == 6 {
            break;
        }
        assert!(Instant::now() < end, "member joining: {joiner} got no partition or record; assignment {a:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for(&mut tail, Duration::from_secs(60), "every record after the join processed", |t| {
        let oks = t.oks();
        expected.keys().all(|k| oks.contains_key(k))
    });
    let after = tail.assignment();
    eprintln!("after {joiner} joined: {after:?}");
    assert!(after[&joiner].len() >= 1, "the newcomer owns partitions");
    assert_exactly_once(&tail, &expected, "phase 3 (a member joins)");

    // 4. Every member stops cleanly; the group's committed offsets are the end offsets.
    let pids: Vec<u32> = workers.children.iter().map(|(p, _)| *p).collect();
    for pid in &pids {
        workers.signal(*pid, libc::SIGTERM);
    }
    for pid in pids {
        let st = workers.wait(pid, Duration::from_secs(30));
        assert!(st.success(), "worker {pid} exits cleanly: {st:?}\n{}", workers.stderr_of_all());
    }
    tail.read();
    let (rebalance_commits, others) = split_errors(tail.errors());
    if !rebalance_commits.is_empty() {
        eprintln!("NOTE: ConsumerCommit returned an error status during a rebalance ({} time(s)), offsets stayed pending:", rebalance_commits.len());
        for e in &rebalance_commits {
            eprintln!("  {e}");
        }
    }
    assert!(others.is_empty(), "a library call failed in a worker: {others:?}");
    let obs = observer(&broker.bootstrap, &group);
    let (c, e) = (committed(&obs, &topic), end_offsets(&obs, &topic));
    eprintln!("records {}, committed {c:?}, end offsets {e:?}", expected.len());
    assert_eq!(c, e, "the group committed every processed record");
    assert_exactly_once(&tail, &expected, "whole run");
    b.producer_close(producer, 5000).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Creates `topic` with two partitions and sends `n` records (values `v0`, `v1`, …) through
/// the bridge, record `i` to partition `partition(i)`.
fn fill_two_partitions(b: &support::client::Bridge, broker: &Broker, topic: &str, n: i32, partition: impl Fn(i32) -> i32) {
    create_topic(&broker.bootstrap, topic, 2);
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let recs: Vec<Rec> = (0..n)
        .map(|i| Rec { topic: topic.into(), partition: Some(partition(i)), value: Some(format!("v{i}").into_bytes()), ..Default::default() })
        .collect();
    // (a batch reply holds the outcomes of a few hundred records)
    for part in recs.chunks(200) {
        assert!(b.produce_batch(p, part).unwrap().iter().all(Result::is_ok));
    }
    b.producer_close(p, 5000).unwrap();
}

/// A partition that a member paused for a redelivery backoff (after a nack) and that is revoked
/// before the backoff ends, then assigned back to the same member, must flow again. The
/// revocation makes the member forget the partition's backoff; nothing may leave it paused.
/// Two consumer handles of one emulated job play the two members (deterministic: with two
/// partitions both paused at A, B always takes one of them).
#[test]
fn a_partition_revoked_during_its_retry_backoff_flows_again_when_it_comes_back() {
    let broker = Broker::from_env();
    let topic = unique("backoff-back");
    let group = unique("g");
    let b = support::bridge();
    fill_two_partitions(&b, &broker, &topic, 20, |i| i % 2);
    let cfg = |retry_ms: &'static str| -> Vec<(&str, &str)> {
        vec![
            ("bootstrap.servers", &broker.bootstrap),
            ("group.id", &group),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("host:AtLeastOnce", "1"),
            ("host:RetryInitialMs", retry_ms),
            ("host:RetryMaxMs", retry_ms),
        ]
    };
    let (ca, cb) = (cfg("15000"), cfg("50"));

    // A owns both partitions and fails the first record of each: both wait 15 s to redeliver.
    let a = b.consumer_new(&ca, &topic).unwrap();
    let t0 = Instant::now();
    let mut nacked = BTreeSet::new();
    while nacked.len() < 2 {
        let r = b.poll_until(a, 30_000).unwrap().expect("A receives the records within 30 s");
        if nacked.insert(r.partition) {
            assert_eq!(b.nack(a, &topic, r.partition, r.offset, "target down").unwrap(), 1, "redelivery after the backoff");
        }
    }
    // B joins and takes one of them (A keeps polling, which serves the rebalance).
    let c = b.consumer_new(&cb, &topic).unwrap();
    let moved = loop {
        assert!(b.poll(a, 100).unwrap().is_none(), "A's partitions are both in their backoff");
        if let Some(r) = b.poll(c, 100).unwrap() {
            break r.partition;
        }
        assert!(t0.elapsed() < Duration::from_secs(12), "B received nothing before A's backoff ended");
    };
    // B leaves without processing anything: the partition goes back to A, whose backoff for it
    // was forgotten at the revocation. It must be consumed again.
    b.consumer_close(c).unwrap();
    let back = Instant::now();
    let mut seen = BTreeSet::new();
    while back.elapsed() < Duration::from_secs(40) && seen.len() < 2 {
        if let Some(r) = b.poll(a, 200).unwrap() {
            seen.insert(r.partition);
            b.ack(a, &topic, r.partition, r.offset).unwrap();
        }
    }
    let logs: Vec<String> = b.logs(a).unwrap().1.into_iter().filter(|(_, f, _)| f == "BRIDGE").map(|(_, _, t)| t).collect();
    assert!(seen.contains(&(1 - moved)), "the partition A kept flows after its backoff; A's log: {logs:?}");
    assert!(
        seen.contains(&moved),
        "partition {moved}, revoked from A during its retry backoff and assigned back to A, was not consumed within 40 s \
         (the backoff ended {:?} ago): it stayed paused. A's log: {logs:?}",
        (t0 + Duration::from_secs(15)).elapsed()
    );
    b.consumer_close(a).unwrap();
}

/// Without AtLeastOnce, a record's offset is stored for the automatic commit as the record
/// reaches the host. The consumer takes records from librdkafka ahead of the host (many per
/// call); those of a partition that moves to another member before the host got them are
/// neither handed out nor committed: the new owner delivers them, none is lost and none comes
/// twice.
///
/// Deterministic: the members are static (`group.instance.id` "a" and "b"), and the range
/// assignor orders static members by that id, so when B joins, partition 1 (every record is
/// there) moves from A to B.
#[test]
fn without_at_least_once_records_taken_ahead_of_a_moving_partition_reach_its_new_owner() {
    let broker = Broker::from_env();
    let topic = unique("ahead-moves");
    let group = unique("g");
    let b = support::bridge();
    fill_two_partitions(&b, &broker, &topic, 400, |_| 1);
    let cfg = |member: &'static str| -> Vec<(&str, &str)> {
        vec![
            ("bootstrap.servers", &broker.bootstrap),
            ("group.id", &group),
            ("group.instance.id", member),
            ("partition.assignment.strategy", "range"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("host:AtLeastOnce", "0"),
        ]
    };
    let (ca, cb) = (cfg("a"), cfg("b"));
    let got = std::cell::RefCell::new(BTreeSet::<i64>::new());
    let again = std::cell::RefCell::new(Vec::<i64>::new()); // records that reached a host a second time
    let note = |r: support::client::Consumed| {
        assert_eq!(r.partition, 1, "only partition 1 has records");
        if !got.borrow_mut().insert(r.offset) {
            again.borrow_mut().push(r.offset);
        }
    };

    // A owns both partitions, gets a record, and fetches the rest meanwhile; its next polls
    // hand out a few of what it takes from librdkafka at once and keep the rest.
    let a = b.consumer_new(&ca, &topic).unwrap();
    note(b.poll_until(a, 30_000).unwrap().expect("A receives a record within 30 s"));
    std::thread::sleep(Duration::from_secs(1));
    for _ in 0..3 {
        note(b.poll(a, 1000).unwrap().expect("A's next record"));
    }

    // B joins. A polls slowly (a slow Production): the rebalance finds most of what A took
    // still waiting for the host; A serves it at its next poll, and partition 1 moves to B.
    let c = b.consumer_new(&cb, &topic).unwrap();
    let t0 = Instant::now();
    let mut last_a = Instant::now();
    let b_first = loop {
        assert!(t0.elapsed() < Duration::from_secs(40), "B received nothing within 40 s");
        if last_a.elapsed() >= Duration::from_millis(500) {
            if let Some(r) = b.poll(a, 0).unwrap() {
                note(r);
            }
            last_a = Instant::now();
        }
        if let Some(r) = b.poll(c, 100).unwrap() {
            let first = r.offset;
            note(r);
            break first;
        }
    };
    let from_a = got.borrow().len() - 1;
    while got.borrow().len() < 400 && t0.elapsed() < Duration::from_secs(60) {
        for h in [a, c] {
            if let Some(r) = b.poll(h, 50).unwrap() {
                note(r);
            }
        }
    }
    let (got, again) = (got.into_inner(), again.into_inner());
    let missing: Vec<i64> = (0..400).filter(|o| !got.contains(o)).collect();
    assert!(
        missing.is_empty(),
        "{} records never reached a host (A handed out {from_a}, B started at {b_first}), first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // A's commit at the revocation covers exactly what it handed out, and B starts there.
    assert!(
        again.is_empty(),
        "{} records reached a host twice (A handed out {from_a}, B started at {b_first}), first {:?}",
        again.len(),
        &again[..again.len().min(10)]
    );
    b.consumer_close(c).unwrap();
    b.consumer_close(a).unwrap();
}
