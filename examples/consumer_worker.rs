//! One IRIS job running `Kafka.Service.Consumer` with AtLeastOnce, as a process of its own:
//! the multi-process tests (`tests/consumer_group.rs`, `tests/chaos.rs`) start several of
//! these, kill them and restart them. Every library call goes through the IRIS host emulator
//! (`support::bridge()`), exactly as the ObjectScript service makes it.
//!
//! The loop is the service's `OnTask` (Kafka.Adapter.Inbound): `ConsumerBatch` calls bring up
//! to `--max-poll` records within the poll timeout; each is "sent" to the targets — here a
//! pseudo-random outcome, a failure with probability `--fail-rate`, decided by (seed,
//! partition, offset, attempt) so a rerun makes the same decisions — and its outcome letter
//! goes back with the next `ConsumerBatch` call (after a failure, the later records of that
//! partition in the batch are left for redelivery); `ConsumerCommit` at the end of the batch. After `--idle-exit` seconds without a record, or
//! on SIGTERM (a job being stopped), it closes the consumer (`OnTearDown`) and exits 0.
//!
//! Output: one line per outcome, appended to `--out` (several workers may share the file: it
//! is opened with O_APPEND and every line is one `write`, so the file's order is the order in
//! which the outcomes happened):
//!
//! ```text
//! <pid> <partition> <offset> ok|fail <value>
//! ```
//!
//! written when the outcome is decided, before the call that settles it, so a line exists for
//! every record whose offset the library could commit (at the end of the batch, or inside a
//! later poll when partitions are revoked). Events are lines starting with `#`:
//! `# <pid> start ...`, `# <pid> assigned <p> <p>...`, `# <pid> revoked <p>...`,
//! `# <pid> commit <n>`, `# <pid> error <entry> <LastError>`, `# <pid> log <level> <text>`,
//! `# <pid> exit <reason>`.
//!
//! Usage (every flag also reads the environment variable `WORKER_<NAME>`, e.g. WORKER_TOPIC):
//!
//! ```text
//! cargo run --example consumer_worker -- --bootstrap 127.0.0.1:9092 --topic t --group g \
//!     --fail-rate 0.05 --seed 7 --out /tmp/outcomes.txt --idle-exit 10
//! ```
//! Optional: `--max-poll 500` (MaxPollRecords), `--poll-timeout-ms 100`,
//! `--session-timeout-ms 6000`, `--retry-initial-ms 50`, `--retry-max-ms 500`,
//! `--config 'key=value;key=value'` (more librdkafka properties, like lookup-table rows).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::client::{Bridge, ZfError};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Args {
    bootstrap: String,
    topic: String,
    group: String,
    fail_rate: f64,
    seed: u64,
    out: String,
    idle_exit: f64,
    max_poll: usize,
    poll_timeout_ms: u64,
    session_timeout_ms: u64,
    retry_initial_ms: u64,
    retry_max_ms: u64,
    /// Extra librdkafka pairs, `key=value` separated by `;` (like lookup-table rows).
    extra: Vec<(String, String)>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "consumer_worker: {problem}\nusage: consumer_worker --bootstrap HOST:PORT --topic T --group G --fail-rate 0.05 \
         --seed N --out FILE --idle-exit SECS [--max-poll 500] [--poll-timeout-ms 100] [--session-timeout-ms 6000] \
         [--retry-initial-ms 50] [--retry-max-ms 500] [--config 'k=v;k=v']  (or WORKER_<NAME> variables)"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut given: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let Some(name) = a.strip_prefix("--") else { usage(&format!("unexpected argument {a:?}")) };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_owned(), v.to_owned()),
            None => (name.to_owned(), it.next().unwrap_or_else(|| usage(&format!("--{name} needs a value")))),
        };
        given.insert(name, value);
    }
    let get = |name: &str| -> Option<String> {
        given.get(name).cloned().or_else(|| std::env::var(format!("WORKER_{}", name.replace('-', "_").to_uppercase())).ok())
    };
    let need = |name: &str| get(name).unwrap_or_else(|| usage(&format!("--{name} is missing")));
    fn num<T: std::str::FromStr>(name: &str, v: String) -> T {
        v.trim().parse().unwrap_or_else(|_| usage(&format!("--{name}: {v:?} is not a number")))
    }
    Args {
        bootstrap: get("bootstrap")
            .or_else(|| std::env::var("KAFKA_TEST_BOOTSTRAP").ok())
            .unwrap_or_else(|| usage("--bootstrap is missing")),
        topic: need("topic"),
        group: need("group"),
        fail_rate: num("fail-rate", get("fail-rate").unwrap_or_else(|| "0".into())),
        seed: num("seed", get("seed").unwrap_or_else(|| "1".into())),
        out: need("out"),
        idle_exit: num("idle-exit", get("idle-exit").unwrap_or_else(|| "10".into())),
        max_poll: num("max-poll", get("max-poll").unwrap_or_else(|| "500".into())),
        poll_timeout_ms: num("poll-timeout-ms", get("poll-timeout-ms").unwrap_or_else(|| "100".into())),
        session_timeout_ms: num("session-timeout-ms", get("session-timeout-ms").unwrap_or_else(|| "6000".into())),
        retry_initial_ms: num("retry-initial-ms", get("retry-initial-ms").unwrap_or_else(|| "50".into())),
        retry_max_ms: num("retry-max-ms", get("retry-max-ms").unwrap_or_else(|| "500".into())),
        extra: get("config")
            .unwrap_or_default()
            .split(';')
            .filter(|kv| !kv.trim().is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
                None => usage(&format!("--config: {kv:?} is not key=value")),
            })
            .collect(),
    }
}

/// splitmix64: a well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether the targets "fail" this delivery: a function of (seed, partition, offset, attempt)
/// only, uniform in [0, 1) compared with the failure rate.
fn fails(seed: u64, partition: i32, offset: i64, attempt: u32, rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let h = mix(mix(mix(mix(seed) ^ partition as u64) ^ offset as u64) ^ attempt as u64);
    ((h >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// The shared outcome file: every line is a single `write` on an O_APPEND descriptor, so lines
/// of concurrent workers never interleave and each is in the page cache (it survives a
/// SIGKILL of this process) before the next library call.
struct Out {
    file: File,
    pid: u32,
}

impl Out {
    fn line(&mut self, text: &str) {
        let mut s = String::with_capacity(text.len() + 16);
        s.push_str(text);
        s.push('\n');
        if let Err(e) = self.file.write_all(s.as_bytes()) {
            eprintln!("consumer_worker {}: writing the outcome file failed: {e}", self.pid);
            std::process::exit(3);
        }
    }
    fn event(&mut self, text: &str) {
        let pid = self.pid;
        self.line(&format!("# {pid} {text}"));
    }
    fn error(&mut self, entry: &str, e: &ZfError) {
        eprintln!("consumer_worker {}: {entry} failed: {e}", self.pid);
        self.event(&format!("error {entry} {e}"));
    }
}

/// Partition numbers named in a bridge log line such as "partitions assigned: t[0], t[3]".
fn partitions_in(text: &str) -> Vec<i32> {
    text.split('[').skip(1).filter_map(|s| s.split(']').next()?.parse().ok()).collect()
}

/// Drains the consumer's log: assignments and revocations become events, and so do the
/// bridge's warnings and errors (commit retries, failed commits, ...).
fn drain_logs(b: &Bridge, c: i64, out: &mut Out) {
    match b.logs(c) {
        Ok((dropped, lines)) => {
            if dropped > 0 {
                out.event(&format!("log 4 {dropped} log lines were dropped"));
            }
            for (level, fac, text) in lines {
                if let Some(rest) = text.strip_prefix("partitions assigned:") {
                    let ps: Vec<String> = partitions_in(rest).iter().map(i32::to_string).collect();
                    out.event(&format!("assigned {}", ps.join(" ")));
                } else if let Some(rest) = text.strip_prefix("partitions revoked:") {
                    let ps: Vec<String> = partitions_in(rest).iter().map(i32::to_string).collect();
                    out.event(&format!("revoked {}", ps.join(" ")));
                } else if level <= 4 {
                    out.event(&format!("log {level} {fac} {}", text.replace('\n', " ")));
                }
            }
        }
        Err(e) => out.error("ClientLogs", &e),
    }
}

fn main() {
    let a = parse_args();
    let pid = std::process::id();
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as extern "C" fn(libc::c_int) as libc::sighandler_t);
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.out)
        .unwrap_or_else(|e| usage(&format!("cannot open {}: {e}", a.out)));
    let mut out = Out { file, pid };
    out.event(&format!("start seed={} fail-rate={} group={} topic={}", a.seed, a.fail_rate, a.group, a.topic));

    let b = support::bridge();
    let session = a.session_timeout_ms.to_string();
    let heartbeat = (a.session_timeout_ms / 6).max(100).to_string();
    let (ri, rm) = (a.retry_initial_ms.to_string(), a.retry_max_ms.to_string());
    let mut cfg: Vec<(&str, &str)> = vec![
        ("bootstrap.servers", &a.bootstrap),
        ("group.id", &a.group),
        ("auto.offset.reset", "earliest"),
        ("session.timeout.ms", &session),
        ("heartbeat.interval.ms", &heartbeat),
        ("host:AtLeastOnce", "1"),
        ("host:RetryInitialMs", &ri),
        ("host:RetryMaxMs", &rm),
        ("host:MaxAttempts", "0"),
    ];
    cfg.extend(a.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let c = match b.consumer_new(&cfg, &a.topic) {
        Ok(c) => c,
        Err(e) => {
            out.error("ConsumerNew", &e);
            std::process::exit(1);
        }
    };

    // Deliveries of each record seen by this process (the "attempt" of the failure decision).
    let mut attempts: HashMap<(i32, i64), u32> = HashMap::new();
    let poll_timeout = Duration::from_millis(a.poll_timeout_ms);
    let idle_exit = Duration::from_secs_f64(a.idle_exit);
    let mut last_record = Instant::now();
    let reason = loop {
        if STOP.load(Ordering::SeqCst) {
            break "sigterm";
        }
        // OnTask, as Kafka.Adapter.Inbound does it: each ConsumerBatch call settles the outcome
        // letters of the records before and brings the next ones; after a failed record the
        // later records of its partition in the batch are left for redelivery (letter 3).
        let deadline = Instant::now() + poll_timeout;
        let mut n = 0;
        let mut outcomes = String::new();
        while n < a.max_poll && !STOP.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            let batch = match b.batch(c, &outcomes, &[], (a.max_poll - n) as i32, left.as_millis() as i32) {
                Ok((settled, batch)) => {
                    if settled.dead > 0 || settled.discarded > 0 {
                        out.event(&format!("nack-outcome dead={} discarded={}", settled.dead, settled.discarded));
                    }
                    batch
                }
                Err(e) => {
                    out.error("ConsumerBatch", &e);
                    outcomes.clear();
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            };
            outcomes.clear();
            if batch.is_empty() {
                break;
            }
            let mut stopped: Vec<i32> = Vec::new();
            for r in &batch {
                n += 1;
                if stopped.contains(&r.partition) || STOP.load(Ordering::SeqCst) {
                    outcomes.push('3');
                    continue;
                }
                let attempt = attempts.entry((r.partition, r.offset)).or_insert(0);
                *attempt += 1;
                let value = r.value.as_deref().map(String::from_utf8_lossy).unwrap_or("-".into()).into_owned();
                // The line is written when the outcome is decided, before the call that
                // settles it: a line exists for every record whose offset can be committed.
                if fails(a.seed, r.partition, r.offset, *attempt, a.fail_rate) {
                    out.line(&format!("{pid} {} {} fail {value}", r.partition, r.offset));
                    outcomes.push('2');
                    stopped.push(r.partition);
                } else {
                    out.line(&format!("{pid} {} {} ok {value}", r.partition, r.offset));
                    outcomes.push('1');
                }
            }
        }
        if !outcomes.is_empty() {
            // settle the last batch (nothing more is polled)
            match b.batch(c, &outcomes, &[], 0, 0) {
                Ok((settled, _)) => {
                    if settled.dead > 0 || settled.discarded > 0 {
                        out.event(&format!("nack-outcome dead={} discarded={}", settled.dead, settled.discarded));
                    }
                }
                Err(e) => out.error("ConsumerBatch", &e),
            }
        }
        drain_logs(&b, c, &mut out);
        // End of the batch: every outcome line is already written (one write each), commit.
        // Also after an empty batch, so offsets a failed commit left pending go out without
        // waiting for the next record (a no-op when nothing is pending).
        match b.commit(c) {
            Ok(moved) => {
                if moved > 0 {
                    out.event(&format!("commit {moved}"));
                }
            }
            Err(e) => out.error("ConsumerCommit", &e),
        }
        drain_logs(&b, c, &mut out);
        if n > 0 {
            last_record = Instant::now();
        } else if last_record.elapsed() >= idle_exit {
            break "idle";
        }
    };
    let closed = b.consumer_close(c);
    // The consumer handle is gone: its remaining log lines went with it.
    match closed {
        Ok(()) => out.event(&format!("exit {reason}")),
        Err(e) => {
            out.error("ConsumerClose", &e);
            out.event(&format!("exit {reason} (close failed)"));
            std::process::exit(1);
        }
    }
}
