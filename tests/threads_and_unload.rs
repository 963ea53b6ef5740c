//! Process hygiene, checked in a process of its own (no test harness threads): every thread
//! the library or librdkafka starts blocks all signals, the caller's mask is untouched, and
//! `ZFUnload` returns only after every one of those threads has stopped.

mod support;

use std::collections::BTreeMap;

/// Signal numbers a thread cannot block: SIGKILL, SIGSTOP (kernel) and the two glibc keeps
/// for itself (32, 33: thread cancellation and set*id).
const UNBLOCKABLE: [u32; 4] = [9, 19, 32, 33];

fn threads() -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let e = e.unwrap();
        let tid: u32 = e.file_name().to_string_lossy().parse().unwrap();
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else { continue };
        let field = |k: &str| status.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_owned());
        let name = field("Name:").unwrap_or_default();
        let blk = u64::from_str_radix(&field("SigBlk:").unwrap(), 16).unwrap();
        out.insert(tid, (name, blk));
    }
    out
}

fn blocks_all(mask: u64) -> bool {
    (1..=64u32).filter(|s| !UNBLOCKABLE.contains(s)).all(|s| mask & (1u64 << (s - 1)) != 0)
}

fn main() {
    let me = std::process::id();
    let before = threads();
    assert_eq!(before.len(), 1, "run without other threads: {before:?}");
    let caller_mask = before[&me].1;

    let bridge = support::bridge();
    let cfg = [("bootstrap.servers", "127.0.0.1:1"), ("message.timeout.ms", "1000")];
    let p1 = bridge.producer_new(&cfg).unwrap();
    let _p2 = bridge.producer_new(&cfg).unwrap();
    let c1 = bridge.consumer_new(&[cfg[0], ("group.id", "threads")], "t1").unwrap();
    let _c2 = bridge.consumer_new(&[cfg[0], ("group.id", "threads")], "t1,t2").unwrap();
    // OAUTHBEARER clients have librdkafka's background thread renew their tokens.
    let oauth = [cfg[0], ("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER"), ("enable.sasl.oauthbearer.unsecure.jwt", "true")];
    let _p3 = bridge.producer_new(&oauth).unwrap();
    let _c3 = bridge.consumer_new(&[oauth.as_slice(), &[("group.id", "threads")]].concat(), "t1").unwrap();
    let _ = bridge.poll(c1, 50).unwrap();
    let e = bridge.produce(p1, &support::client::Rec { topic: "t1".into(), ..Default::default() }).unwrap_err();
    assert_eq!(e.name, "MSG_TIMED_OUT", "{e}");
    assert!(e.retriable);

    let during = threads();
    assert!(during.len() > 8, "clients run threads: {during:?}");
    let background = during.values().filter(|(name, _)| name == "rdk:bg").count();
    assert_eq!(background, 2, "a background thread for each OAUTHBEARER client: {during:?}");
    let mut checked = 0;
    for (tid, (name, mask)) in &during {
        if *tid == me {
            assert_eq!(*mask, caller_mask, "the caller's signal mask changed");
            continue;
        }
        assert!(blocks_all(*mask), "thread {tid} ({name}) does not block every signal: SigBlk {mask:016x}");
        checked += 1;
    }

    let rc = bridge.host.unload();
    assert_eq!(rc, 0);
    let after = threads();
    assert_eq!(after.keys().collect::<Vec<_>>(), vec![&me], "threads left after ZFUnload: {after:?}");
    println!("threads_and_unload: {checked} library threads block every signal; none left after ZFUnload");
    println!("2 passed, 0 failed");
}
