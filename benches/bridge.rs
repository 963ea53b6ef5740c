//! The benchmark harness of issue 5 (not a timed test): one process per measured side, so the
//! process's own CPU time (getrusage) belongs to that side alone. `bench/run.sh` starts the
//! broker, runs the sides alternately (A B A B) and writes BENCHMARKS.md from the `RESULT`
//! lines this program prints.
//!
//! ```text
//! bridge --side bridge|raw --workload confirmed|throughput|consume --size BYTES --records N
//! bridge --workload fill --topic T --size BYTES --records N     (pre-fill, raw producer)
//! bridge --workload call --calls N                              (P4: cost of one entry call)
//! ```
//! Options: `--topic T`, `--linger-ms X` (default: librdkafka's), `--commit-every N` and
//! `--commit-interval-ms MS` (bridge consume; default 500 and 1000), `--copy-values 1` (raw
//! consume: copy each value into a buffer of its own), `--queued-kb N` (queued.max.messages.kbytes of both consumers), `--latency-out
//! FILE` (per-record latencies in µs, confirmed produce), `--batch N` (bridge batch size cap),
//! `--label TEXT`. Environment: `KAFKA_TEST_BOOTSTRAP`, `KAFKA_TEST_BROKER_PID` (its CPU time
//! is read from /proc for the same window), `IRISKAFKA_LIB` (the cdylib the emulator loads).
//!
//! The bridge side calls the `$ZF` entries through the IRIS host emulator
//! (`tests/support/zfhost.rs`) with arguments prepared before the clock starts, as an
//! ObjectScript loop with its strings at hand would; the raw side is rust-rdkafka's
//! `BaseProducer` / `BaseConsumer` with the same librdkafka properties.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::ffi::c_void;
use std::io::Write;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer};
use serde_json::{json, Value};
use support::client::Bridge;
use support::zfhost::{Arg, Out, Reply};

// ---------------------------------------------------------------- arguments and measurement

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Args {
        let mut m = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            // `cargo bench` passes `--bench`; ignore flags without a value.
            let Some(name) = k.strip_prefix("--") else { continue };
            if name == "bench" {
                continue;
            }
            let v = it.next().unwrap_or_else(|| die(&format!("--{name} needs a value")));
            m.insert(name.to_owned(), v);
        }
        Args(m)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn str(&self, k: &str, default: &str) -> String {
        self.get(k).unwrap_or(default).to_owned()
    }
    fn num(&self, k: &str, default: u64) -> u64 {
        self.get(k).map_or(default, |v| v.parse().unwrap_or_else(|_| die(&format!("--{k} {v}: not a number"))))
    }
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// (user, system) CPU seconds of this process (every thread, librdkafka's included) or of
/// the calling thread alone.
fn rusage(who: c_int) -> (f64, f64) {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        (tv(ru.ru_utime), tv(ru.ru_stime))
    }
}

/// CPU seconds the broker JVM has used so far (from /proc), if its pid is known.
fn broker_cpu() -> Option<f64> {
    let pid = std::env::var("KAFKA_TEST_BROKER_PID").ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command: state is field 3, utime 14, stime 15.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz)
}

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A measured window: wall time, this process's CPU, the calling thread's CPU, the broker's CPU.
struct Window {
    t0: Instant,
    proc0: (f64, f64),
    thread0: (f64, f64),
    broker0: Option<f64>,
}

impl Window {
    fn start() -> Window {
        Window {
            broker0: broker_cpu(),
            proc0: rusage(libc::RUSAGE_SELF),
            thread0: rusage(libc::RUSAGE_THREAD),
            t0: Instant::now(),
        }
    }
    fn stop(&self) -> Value {
        let wall = self.t0.elapsed().as_secs_f64();
        let p = rusage(libc::RUSAGE_SELF);
        let t = rusage(libc::RUSAGE_THREAD);
        let b = match (self.broker0, broker_cpu()) {
            (Some(a), Some(b)) => json!(b - a),
            _ => Value::Null,
        };
        json!({
            "wall_s": wall,
            "cpu_user_s": p.0 - self.proc0.0,
            "cpu_sys_s": p.1 - self.proc0.1,
            "thread_cpu_s": (t.0 - self.thread0.0) + (t.1 - self.thread0.1),
            "broker_cpu_s": b,
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn emit(mut v: Value, extra: Value) {
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    println!("RESULT {v}");
    std::io::stdout().flush().ok();
}

fn bootstrap() -> String {
    std::env::var("KAFKA_TEST_BOOTSTRAP").unwrap_or_else(|_| die("KAFKA_TEST_BOOTSTRAP is not set (bench/run.sh sets it)"))
}

/// The producer properties of every side: the bridge's defaults, written out so the raw
/// client gets exactly the same.
fn producer_props(a: &Args) -> Vec<(String, String)> {
    vec![
        ("bootstrap.servers".to_owned(), bootstrap()),
        ("acks".to_owned(), "all".to_owned()),
        ("enable.idempotence".to_owned(), "true".to_owned()),
        ("partitioner".to_owned(), "murmur2_random".to_owned()),
        // the bridge's default (see PRODUCER_DEFAULTS) unless a run asks for another
        ("linger.ms".to_owned(), a.get("linger-ms").unwrap_or("0").to_owned()),
    ]
}

/// The consumer properties of every side: the bridge's consumer defaults written out.
fn consumer_props(a: &Args, group: &str) -> Vec<(String, String)> {
    let mut v = vec![
        ("bootstrap.servers".to_owned(), bootstrap()),
        ("group.id".to_owned(), group.to_owned()),
        ("auto.offset.reset".to_owned(), "earliest".to_owned()),
        ("partition.assignment.strategy".to_owned(), "cooperative-sticky".to_owned()),
        ("session.timeout.ms".to_owned(), "10000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "3000".to_owned()),
        ("enable.metrics.push".to_owned(), "false".to_owned()),
        // the bridge's default (see CONSUMER_DEFAULTS), given to both sides
        ("fetch.queue.backoff.ms".to_owned(), "10".to_owned()),
    ];
    if let Some(kb) = a.get("queued-kb") {
        v.push(("queued.max.messages.kbytes".to_owned(), kb.to_owned()));
    }
    v
}

fn client_config(props: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in props {
        c.set(k, v);
    }
    c
}

fn as_refs(props: &[(String, String)]) -> Vec<(&str, &str)> {
    props.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

// ---------------------------------------------------------------- the bridge through the emulator

/// Loads the cdylib into an emulated IRIS job and checks it is a release build.
fn load_bridge() -> Bridge {
    let path = support::zfhost::cdylib_path();
    let b = support::bridge();
    let v = b.host.call("Version", &[]).expect("Version");
    let v = String::from_utf8_lossy(v.outputs[0].bytes()).into_owned();
    if !v.contains(" release ") && std::env::var_os("BENCH_ALLOW_DEBUG").is_none() {
        die(&format!("{} is not a release build ({v}); set IRISKAFKA_LIB to target/release/libiriskafka.so", path.display()));
    }
    eprintln!("bench: bridge {} ({})", path.display(), v.split(" features=").next().unwrap_or(&v));
    b
}

/// A call whose status (first output) must be 0, made as IRIS makes it: by function id, into
/// the caller's reply (its buffers reused from call to call).
fn zf<'r>(b: &Bridge, name: &str, args: &[Arg<'_>], reply: &'r mut Option<Reply>) -> &'r Reply {
    let id = b.host.id_of(name).unwrap_or_else(|| die(&format!("no entry {name}")));
    let r = reply.get_or_insert_with(Reply::default);
    b.host.call_into(id, args, r).unwrap_or_else(|e| die(&format!("{name}: host error {e}")));
    if r.outputs.first().map(Out::int).unwrap_or(0) != 0 {
        die(&format!("{name} failed: {}", b.last_error()));
    }
    r
}

const F_VALUE: i32 = 2;
/// Largest topic+value a single `Produce` call carries (the client's ONE_CALL_LIMIT).
const ONE_CALL: usize = support::client::ONE_CALL_LIMIT;

/// Produces one record through the entries and waits for its delivery: one `Produce` call, or
/// one `ProduceLong` (the value as a long string) for a value too large for a counted string.
/// Returns the number of entry calls.
fn bridge_produce(b: &Bridge, h: i64, topic: &str, value: &[u8]) -> u64 {
    let mut reply = None;
    if topic.len() + value.len() <= ONE_CALL {
        zf(
            b,
            "Produce",
            &[h.into(), Arg::Bytes(topic.as_bytes()), (-1).into(), F_VALUE.into(), 0i64.into(), Arg::Bytes(b""), Arg::Bytes(value), Arg::Bytes(b"")],
            &mut reply,
        );
        1
    } else {
        // one call: the value as a long string
        zf(
            b,
            "ProduceLong",
            &[h.into(), Arg::Bytes(topic.as_bytes()), (-1).into(), F_VALUE.into(), 0i64.into(), Arg::Bytes(b""), Arg::Bytes(value), Arg::Bytes(b"")],
            &mut reply,
        );
        1
    }
}

fn bridge_producer(b: &Bridge, a: &Args) -> i64 {
    b.producer_new(&as_refs(&producer_props(a))).unwrap_or_else(|e| die(&format!("ProducerNew: {e}")))
}

/// Confirmed produce, one record at a time (P1/P2 "one call per record", P5 latency).
fn bridge_confirmed(a: &Args, topic: &str, size: usize, n: u64) -> (Value, Vec<f64>) {
    let b = load_bridge();
    let h = bridge_producer(&b, a);
    let value = vec![b'x'; size];
    for _ in 0..20 {
        bridge_produce(&b, h, topic, &value);
    }
    let mut lat = Vec::with_capacity(n as usize);
    let mut calls = 0;
    let w = Window::start();
    for _ in 0..n {
        let t = Instant::now();
        calls += bridge_produce(&b, h, topic, &value);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let m = w.stop();
    b.producer_close(h, 10_000).ok();
    (with(m, json!({"entry_calls": calls})), lat)
}

/// Throughput as a bulk load does it: `ProduceSend` (counted strings) or `ProduceSendLong`
/// (long strings, for records a counted string cannot hold) with as many records per call as
/// fit, none waiting for its delivery, then `ProducerReports` until every record is reported
/// (the raw side likewise sends all and waits for every report).
fn bridge_throughput(a: &Args, topic: &str, size: usize, n: u64) -> Value {
    let b = load_bridge();
    let h = bridge_producer(&b, a);
    let value = vec![b'x'; size];
    let mut one = Vec::new();
    iriskafka::wire::push_batch_record(
        &mut one,
        &iriskafka::wire::BatchRecord { topic: topic.as_bytes(), partition: -1, flags: F_VALUE, timestamp: 0, key: b"", value: &value, headers: b"" },
    );
    // Counted strings carry up to 65,535 bytes; long strings 3,641,144.
    let counted_fit = 60_000 / one.len();
    let force_long = a.get("entry") == Some("long");
    let (entry, per_call) = if counted_fit >= 8 && !force_long {
        ("ProduceSend", counted_fit)
    } else {
        ("ProduceSendLong", (3_600_000 / one.len()).max(1))
    };
    let per_call = per_call.min(a.num("batch", u64::MAX) as usize).max(1);
    let blob_full: Vec<u8> = one.repeat(per_call);
    let mut reply = None;
    let collect = |reply: &mut Option<Reply>, calls: &mut u64| -> (u64, u64) {
        let (mut delivered, mut failed) = (0u64, 0u64);
        loop {
            let r = zf(&b, "ProducerReports", &[h.into(), 30_000.into()], reply);
            *calls += 1;
            delivered += r.outputs[1].int() as u64;
            failed += r.outputs[3].bytes().split(|&c| c == b';').filter(|f| !f.is_empty()).count() as u64;
            if r.outputs[2].int() == 0 {
                return (delivered, failed);
            }
        }
    };
    // warm-up: one batch, every report collected
    zf(&b, entry, &[h.into(), Arg::Bytes(&blob_full)], &mut reply);
    collect(&mut reply, &mut 0);
    let mut calls = 0u64;
    let w = Window::start();
    let mut left = n as usize;
    while left > 0 {
        let k = left.min(per_call);
        zf(&b, entry, &[h.into(), Arg::Bytes(&blob_full[..k * one.len()])], &mut reply);
        calls += 1;
        left -= k;
    }
    let (delivered, failed) = collect(&mut reply, &mut calls);
    let m = w.stop();
    b.producer_close(h, 10_000).ok();
    if failed > 0 || delivered != n {
        die(&format!("{failed} records failed, {delivered} of {n} delivered through {entry}"));
    }
    with(m, json!({"entry_calls": calls, "entry": entry, "records_per_call": per_call}))
}

/// Parses the numbers of a record frame header (`partition,offset,timestamp,topicLen,keyLen,
/// valueLen,headersLen,inline,`) without allocating, as ObjectScript's `$Piece` would;
/// also answers where the header ends (the topic's first byte).
fn frame_header(frame: &[u8]) -> ([i64; 8], usize) {
    let mut n = [0i64; 8];
    let mut i = 0;
    for slot in n.iter_mut() {
        let mut neg = false;
        let mut v = 0i64;
        while i < frame.len() && frame[i] != b',' {
            if frame[i] == b'-' {
                neg = true;
            } else {
                v = v * 10 + (frame[i] - b'0') as i64;
            }
            i += 1;
        }
        i += 1;
        *slot = if neg { -v } else { v };
    }
    (n, i)
}

/// AtLeastOnce consume as the Inbound adapter does it: one `ConsumerBatch` call settles the
/// previous batch (an outcome letter per record: every record is acknowledged on its own) and
/// brings the next records (up to `--batch-max`, default 500, within the default 32,767-byte
/// reply); `ConsumerCommit` after every `commit_every` settled records (sent at most once per
/// `--commit-interval-ms`, the adapter's CommitIntervalMs); a field the frame left
/// out (only the batch's last record can have one) is read with `ConsumerReadFieldLong`.
/// The frames are parsed as ObjectScript would, with the lengths in the frame header.
fn bridge_consume(a: &Args, topic: &str, n: u64) -> Value {
    let b = load_bridge();
    let group = support::unique("bench-bridge");
    let mut props = consumer_props(a, &group);
    props.push(("host:AtLeastOnce".into(), "1".into()));
    // The Inbound adapter's CommitIntervalMs (default 1000): ConsumerCommit after every
    // batch sends offsets at most once per interval.
    props.push(("host:CommitIntervalMs".into(), a.get("commit-interval-ms").unwrap_or("1000").into()));
    // What the Inbound adapter sends for the drop-in EnsLib.Kafka.Message (no place for
    // headers); the raw side does not read headers either.
    props.push(("host:Headers".into(), a.get("headers").unwrap_or("0").into()));
    let h = b.consumer_new(&as_refs(&props), topic).unwrap_or_else(|e| die(&format!("ConsumerNew: {e}")));
    let commit_every = a.num("commit-every", 500).max(1);
    let batch_max = a.num("batch-max", 500).clamp(1, i32::MAX as u64) as i32;
    let rss0 = status_kb("VmRSS:");
    let mut reply = None;
    let mut got = 0u64;
    let (mut batch_calls, mut commit_calls, mut read_calls) = (0u64, 0u64, 0u64);
    let mut commit_wall = Duration::ZERO;
    let mut bytes = 0u64;
    let mut outcomes: Vec<u8> = Vec::with_capacity(batch_max as usize);
    let mut read_reply = None;
    let mut since_commit = 0u64;
    let mut w: Option<Window> = None;
    let deadline = Instant::now() + Duration::from_secs(a.num("timeout-s", 300));
    let vbit = iriskafka::wire::field::inline_bit(iriskafka::wire::field::VALUE) as i64;
    let mut commit = |b: &Bridge, reply: &mut Option<Reply>, commit_calls: &mut u64| {
        let t = Instant::now();
        zf(b, "ConsumerCommit", &[h.into()], reply);
        commit_wall += t.elapsed();
        *commit_calls += 1;
    };
    while got < n {
        if Instant::now() > deadline {
            die(&format!("consumed only {got} of {n} records"));
        }
        let want = batch_max.min((n - got) as i32);
        let r = zf(&b, "ConsumerBatch", &[h.into(), Arg::Bytes(&outcomes), Arg::Bytes(b""), want.into(), 1000.into()], &mut reply);
        since_commit += outcomes.len() as u64;
        outcomes.clear();
        let count = r.outputs[1].int() as usize;
        if w.is_some() || count > 0 {
            batch_calls += 1;
        }
        if count == 0 {
            continue;
        }
        if w.is_none() {
            w = Some(Window::start());
        }
        let frames = r.outputs[5].bytes();
        let mut pos = 0;
        for i in 0..count {
            let (hd, header_len) = frame_header(&frames[pos..]);
            // skip the eight numbers, then the topic and the inline fields
            pos += header_len;
            let (key_len, value_len, headers_len, inline) = (hd[4].max(0), hd[5].max(0), hd[6], hd[7]);
            pos += hd[3] as usize;
            pos += if inline & 1 != 0 { key_len as usize } else { 0 };
            pos += if inline & 4 != 0 { headers_len as usize } else { 0 };
            if inline & vbit != 0 {
                pos += value_len as usize;
            } else if value_len > 0 {
                assert_eq!(i + 1, count, "only the batch's last record has fields left out");
                let mut have = 0i64;
                while have < value_len {
                    let r = zf(&b, "ConsumerReadFieldLong", &[h.into(), 2.into(), have.into()], &mut read_reply);
                    read_calls += 1;
                    have += r.outputs[1].bytes().len() as i64;
                }
            }
            bytes += value_len as u64;
            outcomes.push(b'1');
        }
        got += count as u64;
        if since_commit >= commit_every {
            commit(&b, &mut reply, &mut commit_calls);
            since_commit = 0;
        }
    }
    // settle the last batch (max 0: nothing more is polled) and commit
    zf(&b, "ConsumerBatch", &[h.into(), Arg::Bytes(&outcomes), Arg::Bytes(b""), 0.into(), 0.into()], &mut reply);
    batch_calls += 1;
    commit(&b, &mut reply, &mut commit_calls);
    let calls = batch_calls + commit_calls + read_calls;
    let m = w.expect("records arrived").stop();
    let hwm = status_kb("VmHWM:");
    b.consumer_close(h).ok();
    with(
        m,
        json!({
            "entry_calls": calls, "batch_calls": batch_calls, "commit_calls": commit_calls, "read_calls": read_calls,
            "commit_wall_s": commit_wall.as_secs_f64(), "value_bytes": bytes, "vm_hwm_kb": hwm,
            "vm_rss_before_kb": rss0, "commit_every": commit_every, "batch_max": batch_max,
        }),
    )
}

// ---------------------------------------------------------------- raw rust-rdkafka

/// Counts delivery reports and wakes the waiting thread on each.
struct Counting {
    done: Mutex<u64>,
    ready: Condvar,
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            eprintln!("bench: raw delivery failed: {e}");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        *self.done.lock().unwrap() += 1;
        self.ready.notify_all();
    }
}

/// The raw producer: rust-rdkafka's `ThreadedProducer` — a `BaseProducer` whose delivery
/// reports are served by rust-rdkafka's own polling thread. (A bare `BaseProducer` cannot
/// wait for one report: its `poll(t)` and `flush()` return only at their deadline, 100 ms
/// granularity, which would charge the raw side for rust-rdkafka's API, not for Kafka.)
type Raw = ThreadedProducer<Counting>;

fn raw_producer(a: &Args) -> Raw {
    client_config(&producer_props(a))
        .create_with_context(Counting { done: Mutex::new(0), ready: Condvar::new(), failed: AtomicU64::new(0) })
        .unwrap_or_else(|e| die(&format!("raw producer: {e}")))
}

fn raw_done(p: &Raw) -> u64 {
    *p.context().done.lock().unwrap()
}

/// Waits until `target` delivery reports arrived in total.
fn raw_wait(p: &Raw, target: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut g = p.context().done.lock().unwrap();
    while *g < target {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            die(&format!("raw: {} of {target} delivery reports after 300 s", *g));
        }
        g = p.context().ready.wait_timeout(g, left).unwrap().0;
    }
}

/// Sends one record and waits for its delivery report.
fn raw_send_wait(p: &Raw, topic: &str, value: &[u8]) {
    let before = raw_done(p);
    raw_send(p, topic, value);
    raw_wait(p, before + 1);
}

fn raw_send(p: &Raw, topic: &str, value: &[u8]) {
    let mut rec = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => die(&format!("raw send: {e}")),
        }
    }
}

fn raw_confirmed(a: &Args, topic: &str, size: usize, n: u64) -> (Value, Vec<f64>) {
    let p = raw_producer(a);
    let value = vec![b'x'; size];
    for _ in 0..20 {
        raw_send_wait(&p, topic, &value);
    }
    let mut lat = Vec::with_capacity(n as usize);
    let w = Window::start();
    for _ in 0..n {
        let t = Instant::now();
        raw_send_wait(&p, topic, &value);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let m = w.stop();
    if p.context().failed.load(Ordering::Relaxed) > 0 {
        die("raw deliveries failed");
    }
    (m, lat)
}

fn raw_throughput(a: &Args, topic: &str, size: usize, n: u64) -> Value {
    let p = raw_producer(a);
    let value = vec![b'x'; size];
    raw_send_wait(&p, topic, &value);
    let start_done = raw_done(&p);
    let w = Window::start();
    for _ in 0..n {
        raw_send(&p, topic, &value);
    }
    raw_wait(&p, start_done + n);
    let m = w.stop();
    if p.context().failed.load(Ordering::Relaxed) > 0 {
        die(&format!("raw: {} deliveries failed", p.context().failed.load(Ordering::Relaxed)));
    }
    m
}

/// Raw consume with auto-commit (librdkafka stores every polled offset and commits every 5 s).
fn raw_consume(a: &Args, topic: &str, n: u64) -> Value {
    let group = support::unique("bench-raw");
    let mut props = consumer_props(a, &group);
    props.push(("enable.auto.commit".into(), "true".into()));
    let c: BaseConsumer = client_config(&props).create().unwrap_or_else(|e| die(&format!("raw consumer: {e}")));
    c.subscribe(&[topic]).unwrap_or_else(|e| die(&format!("subscribe: {e}")));
    let rss0 = status_kb("VmRSS:");
    let deadline = Instant::now() + Duration::from_secs(a.num("timeout-s", 300));
    let mut got = 0u64;
    let mut bytes = 0u64;
    let copy_values = a.num("copy-values", 0) != 0;
    let mut copy: Vec<u8> = Vec::new();
    let mut w: Option<Window> = None;
    let mut polls = 0u64;
    while got < n {
        // The deadline is checked when a poll brings nothing and every 4096 polls, not per
        // poll: a clock read costs tens of nanoseconds on a VM, a few percent of the raw
        // side's work per record, which the bridge side pays once per call, not per record.
        polls += 1;
        if polls % 4096 == 0 && Instant::now() > deadline {
            die(&format!("consumed only {got} of {n} records"));
        }
        match c.poll(Duration::from_millis(1000)) {
            None => {
                if Instant::now() > deadline {
                    die(&format!("consumed only {got} of {n} records"));
                }
                continue;
            }
            Some(Err(e)) => eprintln!("bench: raw consumer: {e}"),
            Some(Ok(m)) => {
                if w.is_none() {
                    w = Some(Window::start());
                }
                let value = m.payload().unwrap_or_default();
                bytes += value.len() as u64;
                if copy_values {
                    // what the bridge does with a value: one copy, into the host's buffer
                    copy.clear();
                    copy.extend_from_slice(value);
                    std::hint::black_box(&copy);
                }
                got += 1;
            }
        }
    }
    let m = w.expect("records arrived").stop();
    let hwm = status_kb("VmHWM:");
    drop(c);
    with(m, json!({"value_bytes": bytes, "vm_hwm_kb": hwm, "vm_rss_before_kb": rss0, "copy_values": copy_values}))
}

fn fill(a: &Args, topic: &str, size: usize, n: u64) -> Value {
    support::create_topic(&bootstrap(), topic, 1);
    let v = raw_throughput(a, topic, size, n);
    with(v, json!({"records_total": n + 1}))
}

// ---------------------------------------------------------------- P4: one entry call

type ResetFn = extern "C" fn(i64, *mut c_int) -> c_int;
type AckFn = extern "C" fn(i64, *const u8, c_int, i64, *mut c_int) -> c_int;

extern "C" fn my_strsize() -> c_int {
    32_767
}
extern "C" fn my_noop() -> c_int {
    0
}

/// Times `f` over `n` calls after a warm-up; ns per call.
fn ns_per_call(n: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..(n / 10).max(1000) {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn calls(a: &Args) {
    let n = a.num("calls", 1_000_000);
    let b = load_bridge();
    let h = bridge_producer(&b, a);
    let mut rows = Vec::new();
    // Through the emulator as IRIS calls: by function id (`$ZF(-5, lib, id, ...)`, the id
    // looked up once), the host's marshalling (heap, guard bytes, output collection) and the
    // library's entry; the reply's buffers are reused from call to call.
    let reset_id = b.host.id_of("ProducerStageReset").expect("ProducerStageReset");
    let mut reply = Reply::default();
    let reset = ns_per_call(n, || {
        b.host.call_into(reset_id, &[h.into()], &mut reply).unwrap();
        assert_eq!(reply.outputs[0].int(), 0);
    });
    rows.push(json!({"entry": "ProducerStageReset", "path": "emulator", "args": "valid producer handle", "ns": reset}));
    // By name with a new reply each call (what the tests' convenience API does).
    let by_name = ns_per_call(n, || {
        let r = b.host.call("ProducerStageReset", &[h.into()]).unwrap();
        assert_eq!(r.outputs[0].int(), 0);
    });
    rows.push(json!({"entry": "ProducerStageReset", "path": "emulator-by-name", "args": "valid producer handle", "ns": by_name}));
    let bad: i64 = 0x7_0000_0001;
    let ack_id = b.host.id_of("ConsumerAck").expect("ConsumerAck");
    let ack_bad = ns_per_call(n / 4, || {
        b.host.call_into(ack_id, &[bad.into(), Arg::Bytes(b"t"), 0.into(), 0i64.into()], &mut reply).unwrap();
        assert_ne!(reply.outputs[0].int(), 0);
    });
    rows.push(json!({"entry": "ConsumerAck", "path": "emulator", "args": "invalid handle (error path)", "ns": ack_bad}));
    let version = ns_per_call(n / 10, || {
        b.host.call("Version", &[]).unwrap();
    });
    rows.push(json!({"entry": "Version", "path": "emulator", "args": "none (formats a string)", "ns": version}));
    // Directly: the table's function pointers called with the arguments IRIS would pass, no
    // emulator in between (this process re-runs GetZFTable with its own callback tables).
    let lib = unsafe { libloading::Library::new(support::zfhost::cdylib_path()) }.expect("dlopen");
    #[repr(C)]
    struct RawEntry {
        name: *const std::ffi::c_char,
        desc: *const std::ffi::c_char,
        func: *const c_void,
    }
    let mut callbacks: Vec<*const c_void> = vec![my_noop as *const c_void; 8];
    callbacks[0] = my_strsize as *const c_void;
    let exports: Vec<*const c_void> = vec![std::ptr::null(); 160];
    let table = unsafe {
        let get: libloading::Symbol<extern "C" fn(*const *const c_void, *const *const c_void) -> *const RawEntry> =
            lib.get(b"GetZFTable\0").expect("GetZFTable");
        get(callbacks.as_ptr(), exports.as_ptr())
    };
    let find = |name: &str| -> *const c_void {
        let mut i = 0;
        loop {
            let e = unsafe { &*table.add(i) };
            if e.name.is_null() {
                die(&format!("no entry {name}"));
            }
            if unsafe { std::ffi::CStr::from_ptr(e.name) }.to_bytes() == name.as_bytes() {
                return e.func;
            }
            i += 1;
        }
    };
    let reset_fn: ResetFn = unsafe { std::mem::transmute(find("ProducerStageReset")) };
    let mut status: c_int = -1;
    let direct = ns_per_call(n, || {
        reset_fn(std::hint::black_box(h), &mut status);
        assert_eq!(status, 0);
    });
    rows.push(json!({"entry": "ProducerStageReset", "path": "direct", "args": "valid producer handle", "ns": direct}));
    let ack_fn: AckFn = unsafe { std::mem::transmute(find("ConsumerAck")) };
    // a counted string: u16 length then bytes
    let topic: [u8; 3] = [1, 0, b't'];
    let direct_bad = ns_per_call(n / 4, || {
        ack_fn(std::hint::black_box(bad), topic.as_ptr(), 0, 0, &mut status);
        assert_ne!(status, 0);
    });
    rows.push(json!({"entry": "ConsumerAck", "path": "direct", "args": "invalid handle (error path)", "ns": direct_bad}));
    std::mem::forget(lib);
    std::mem::forget(callbacks);
    std::mem::forget(exports);
    emit(json!({"side": "bridge", "workload": "call", "calls": n}), json!({"rows": rows}));
}

// ---------------------------------------------------------------- main

fn with(mut v: Value, extra: Value) -> Value {
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

fn main() {
    let a = Args::parse();
    let workload = a.str("workload", "");
    let side = a.str("side", "raw");
    let size = a.num("size", 100) as usize;
    let n = a.num("records", 1000);
    let topic = a.get("topic").map(str::to_owned).unwrap_or_else(|| support::unique(&format!("bench-{workload}-{side}-{size}")));
    let base = json!({
        "side": side, "workload": workload, "size": size, "records": n, "topic": topic,
        "linger_ms": a.get("linger-ms"), "label": a.get("label"), "pid": std::process::id(),
    });
    let (m, lat) = match (workload.as_str(), side.as_str()) {
        ("call", _) => return calls(&a),
        ("mktopic", _) => {
            support::create_topic(&bootstrap(), &topic, 1);
            return;
        }
        ("fill", _) => (fill(&a, &topic, size, n), Vec::new()),
        ("confirmed", s) => {
            support::create_topic(&bootstrap(), &topic, 1);
            if s == "bridge" {
                bridge_confirmed(&a, &topic, size, n)
            } else {
                raw_confirmed(&a, &topic, size, n)
            }
        }
        ("throughput", s) => {
            support::create_topic(&bootstrap(), &topic, 1);
            (if s == "bridge" { bridge_throughput(&a, &topic, size, n) } else { raw_throughput(&a, &topic, size, n) }, Vec::new())
        }
        ("consume", s) => (if s == "bridge" { bridge_consume(&a, &topic, n) } else { raw_consume(&a, &topic, n) }, Vec::new()),
        (w, s) => die(&format!("unknown workload/side {w}/{s}")),
    };
    let mut extra = json!({});
    if !lat.is_empty() {
        let mut sorted = lat.clone();
        sorted.sort_by(|x, y| x.partial_cmp(y).unwrap());
        extra = json!({"p50_us": percentile(&sorted, 50.0), "p99_us": percentile(&sorted, 99.0), "samples": sorted.len()});
        if let Some(path) = a.get("latency-out") {
            let text: String = lat.iter().map(|v| format!("{v:.1}\n")).collect();
            std::fs::write(path, text).unwrap_or_else(|e| die(&format!("{path}: {e}")));
        }
    }
    emit(with(base, m), extra);
}
