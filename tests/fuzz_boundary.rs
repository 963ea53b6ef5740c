//! Random calls at every table entry through the host emulator: random and structured
//! handles (live, closed, invented), integers, lengths and bytes, with the default and a tiny
//! reply capacity. Whatever comes in, an entry must return 0 with a status (no `<FUNCTION>`),
//! never write past a buffer, always release long-string inputs, never crash or let a panic
//! out, and `LastError` must agree with every failed status.
//!
//! `FUZZ_CASES=n` sets the number of cases (default 300); `FUZZ_SECONDS=s` runs batches until
//! `s` seconds have passed (the long run quoted in the README).

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rdkafka::mocking::MockCluster;
use support::zfhost::{cdylib_path, Arg, HostError, Limits, Param, ZfHost};

#[derive(Debug, Clone)]
enum IntGen {
    Value(i64),
    LiveProducer,
    LiveConsumer,
    ClosedProducer,
}

#[derive(Debug, Clone)]
enum BytesGen {
    Raw(Vec<u8>),
    Pairs(Vec<(Vec<u8>, Option<Vec<u8>>)>),
}

#[derive(Debug, Clone)]
struct Case {
    entry: usize,
    ints: Vec<IntGen>,
    bytes: Vec<BytesGen>,
    tiny_reply: bool,
}

const KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "acks",
    "linger.ms",
    "group.id",
    "enable.auto.commit",
    "sasl.password",
    "no.such.key",
    "compression.type",
];

fn int_gen() -> impl Strategy<Value = IntGen> {
    prop_oneof![
        4 => (-5i64..300).prop_map(IntGen::Value),
        1 => Just(IntGen::Value(i32::MIN as i64)),
        1 => any::<i64>().prop_map(IntGen::Value),
        1 => (1i64..(1 << 52)).prop_map(IntGen::Value),
        3 => Just(IntGen::LiveProducer),
        3 => Just(IntGen::LiveConsumer),
        1 => Just(IntGen::ClosedProducer),
    ]
}

fn bytes_gen() -> impl Strategy<Value = BytesGen> {
    let key = prop_oneof![
        3 => proptest::sample::select(KEYS).prop_map(|k| k.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let value = proptest::option::weighted(0.9, prop_oneof![
        Just(b"127.0.0.1:1".to_vec()),
        Just(b"all".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ]);
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(BytesGen::Raw),
        1 => proptest::collection::vec(any::<u8>(), 0..40_000).prop_map(BytesGen::Raw),
        1 => proptest::collection::vec(proptest::sample::select(b"0123456789,-".to_vec()), 0..40).prop_map(BytesGen::Raw),
        3 => proptest::collection::vec((key, value), 0..5).prop_map(BytesGen::Pairs),
    ]
}

fn case(n_entries: usize) -> impl Strategy<Value = Case> {
    (
        0..n_entries,
        proptest::collection::vec(int_gen(), 12),
        proptest::collection::vec(bytes_gen(), 8),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(entry, ints, bytes, tiny_reply)| Case { entry, ints, bytes, tiny_reply })
}

struct Live {
    servers: String,
    producer: i64,
    consumer: i64,
    closed_producer: i64,
}

impl Live {
    fn producer(host: &ZfHost, servers: &str) -> i64 {
        let cfg = support::client::Bridge::pairs(&[("bootstrap.servers", servers), ("message.timeout.ms", "2000")]);
        let r = host.call("ProducerNew", &[Arg::Bytes(&cfg)]).unwrap();
        assert_eq!(r.outputs[0].int(), 0);
        r.outputs[1].int()
    }
    fn consumer(host: &ZfHost, servers: &str) -> i64 {
        let cfg = support::client::Bridge::pairs(&[("bootstrap.servers", servers), ("group.id", "fuzz")]);
        let r = host.call("ConsumerNew", &[Arg::Bytes(&cfg), Arg::Bytes(b"fz")]).unwrap();
        assert_eq!(r.outputs[0].int(), 0);
        r.outputs[1].int()
    }
}

fn run_case(host: &mut ZfHost, live: &mut Live, c: &Case) -> Result<(), TestCaseError> {
    let entry = host.entries()[c.entry].clone();
    let mut ints = c.ints.iter();
    let mut bytes = c.bytes.iter();
    let mut owned: Vec<Vec<u8>> = Vec::new();
    let mut used_live = (false, false);
    enum A {
        I(i64),
        B(usize),
    }
    let mut plan = Vec::new();
    for p in &entry.params {
        match p {
            Param::I32 | Param::I64 => {
                let v = match ints.next().unwrap() {
                    IntGen::Value(v) => *v,
                    IntGen::LiveProducer => {
                        used_live.0 = true;
                        live.producer
                    }
                    IntGen::LiveConsumer => {
                        used_live.1 = true;
                        live.consumer
                    }
                    IntGen::ClosedProducer => live.closed_producer,
                };
                // An i32 parameter is also used for timeouts: keep positive ones short.
                let v = if *p == Param::I32 { (v as i32).min(300) as i64 } else { v };
                plan.push(A::I(v));
            }
            Param::Counted { out: false } | Param::Long { out: false } | Param::CStr { out: false } => {
                let b = match bytes.next().unwrap() {
                    BytesGen::Raw(b) => b.clone(),
                    BytesGen::Pairs(p) => iriskafka::wire::encode_pairs(p.iter().map(|(k, v)| (&k[..], v.as_deref()))),
                };
                owned.push(b);
                plan.push(A::B(owned.len() - 1));
            }
            _ => {}
        }
    }
    let args: Vec<Arg<'_>> = plan
        .iter()
        .map(|a| match a {
            A::I(v) => Arg::Int(*v),
            A::B(i) => Arg::Bytes(&owned[*i]),
        })
        .collect();
    host.limits = if c.tiny_reply { Limits { zf_string: 64, ..Limits::default() } } else { Limits::default() };
    let reply = match host.call(&entry.name, &args) {
        Ok(r) => r,
        Err(HostError::HeapSpace { .. }) => return Ok(()),
        Err(e) => return Err(TestCaseError::fail(format!("{}: {e}", entry.name))),
    };
    host.limits = Limits::default();
    if let Some(status) = reply.outputs.first().filter(|_| !matches!(entry.name.as_str(), "Version" | "LastError")) {
        let status = status.int();
        if status != 0 {
            let le = host.call("LastError", &[]).unwrap();
            let text = String::from_utf8_lossy(le.outputs[0].bytes()).into_owned();
            prop_assert!(text.starts_with(&format!("{status},")), "{}: status {status} but LastError {text}", entry.name);
        } else {
            // New clients made by random configs are closed at once; closed live ones replaced.
            match entry.name.as_str() {
                "ProducerNew" => {
                    let h = reply.outputs[1].int();
                    host.call("ProducerClose", &[Arg::Int(h), Arg::Int(0)]).unwrap();
                }
                "ConsumerNew" => {
                    let h = reply.outputs[1].int();
                    host.call("ConsumerClose", &[Arg::Int(h)]).unwrap();
                }
                "ProducerClose" if used_live.0 => {
                    live.closed_producer = live.producer;
                    live.producer = Live::producer(host, &live.servers);
                }
                "ConsumerClose" if used_live.1 => live.consumer = Live::consumer(host, &live.servers),
                _ => {}
            }
        }
    }
    Ok(())
}

#[test]
fn random_calls_at_every_entry() {
    let mock = MockCluster::new(1).expect("mock cluster");
    mock.create_topic("fz", 2, 1).unwrap();
    let servers = mock.bootstrap_servers();
    let mut host = ZfHost::load(&cdylib_path()).unwrap();
    let producer = Live::producer(&host, &servers);
    let closed_producer = Live::producer(&host, &servers);
    host.call("ProducerClose", &[Arg::Int(closed_producer), Arg::Int(0)]).unwrap();
    let consumer = Live::consumer(&host, &servers);
    let mut live = Live { servers, producer, consumer, closed_producer };
    let n = host.entries().len();
    let cases: u32 = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seconds: u64 = std::env::var("FUZZ_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
        let host_cell = std::cell::RefCell::new(&mut host);
        let live_cell = std::cell::RefCell::new(&mut live);
        runner
            .run(&case(n), |c| run_case(&mut host_cell.borrow_mut(), &mut live_cell.borrow_mut(), &c))
            .unwrap();
        total += cases as u64;
        if std::time::Instant::now() >= deadline {
            break;
        }
    }
    println!("fuzz: {total} random calls over {n} entries, no finding");
}
