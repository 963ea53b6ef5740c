//! Worker processes for the multi-process consumer tests (tests/consumer_group.rs,
//! tests/chaos.rs): spawning `examples/consumer_worker`, reading the outcome file they all
//! append to, and observing the group's offsets from outside.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::client::Rec;

/// Partitions of the test topics.
pub const PARTITIONS: i32 = 6;

// ---------------------------------------------------------------------------------------------
// Worker processes of the consumer-group and chaos tests
// ---------------------------------------------------------------------------------------------

/// The worker executable, `target/<profile>/examples/consumer_worker`, next to this test's
/// `deps` directory. `cargo test` builds examples, `cargo test --test <name>` does not: the
/// example is built here (a no-op when it is up to date) with the same profile and target dir.
pub fn worker_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(format!("consumer_worker{}", std::env::consts::EXE_SUFFIX));
    if std::env::var_os("CONSUMER_WORKER_NO_BUILD").is_none() {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--example", "consumer_worker", "--profile", &profile, "--target-dir"])
            .arg(profile_dir.parent().expect("target dir"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        match status {
            Ok(s) if s.success() => {}
            other => eprintln!("building the consumer_worker example failed ({other:?}); using {}", path.display()),
        }
    }
    assert!(
        path.exists(),
        "{} not found: build it with `cargo build --example consumer_worker` (same profile as the tests)",
        path.display()
    );
    path
}

/// The worker processes of a test; every one still running is killed (and reaped) on drop, so
/// a failing test leaves no process behind.
pub struct Workers {
    pub exe: PathBuf,
    pub dir: PathBuf,
    pub common: Vec<String>,
    pub children: Vec<(u32, Child)>,
    pub spawned: usize,
}

impl Workers {
    pub fn new(dir: &Path, common: Vec<String>) -> Workers {
        Workers { exe: worker_exe(), dir: dir.to_owned(), common, children: Vec::new(), spawned: 0 }
    }

    /// Starts a worker; its stderr goes to `<dir>/worker-<n>.stderr`.
    pub fn spawn(&mut self, seed: u64) -> u32 {
        self.spawned += 1;
        let err = File::create(self.dir.join(format!("worker-{}.stderr", self.spawned))).expect("stderr file");
        let child = Command::new(&self.exe)
            .args(&self.common)
            .args(["--seed", &seed.to_string()])
            .env("IRISKAFKA_LIB", super::zfhost::cdylib_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.exe.display()));
        let pid = child.id();
        self.children.push((pid, child));
        pid
    }

    pub fn signal(&self, pid: u32, sig: libc::c_int) {
        assert!(self.children.iter().any(|(p, _)| *p == pid), "{pid} is not a running worker");
        // SAFETY: plain kill(2) on a child this test started and has not reaped yet.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }

    /// Waits (bounded) for a worker to exit and reaps it.
    pub fn wait(&mut self, pid: u32, within: Duration) -> ExitStatus {
        let i = self.children.iter().position(|(p, _)| *p == pid).expect("a running worker");
        let end = Instant::now() + within;
        loop {
            if let Some(st) = self.children[i].1.try_wait().expect("try_wait") {
                self.children.remove(i);
                return st;
            }
            assert!(Instant::now() < end, "worker {pid} did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr_of_all(&self) -> String {
        let mut s = String::new();
        for n in 1..=self.spawned {
            let p = self.dir.join(format!("worker-{n}.stderr"));
            if let Ok(t) = std::fs::read_to_string(&p) {
                if !t.trim().is_empty() {
                    s.push_str(&format!("--- {}\n{t}", p.display()));
                }
            }
        }
        s
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (pid, child) in &mut self.children {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The shared outcome file
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub enum Line {
    /// `<pid> <partition> <offset> ok|fail <value>`
    Outcome { pid: u32, partition: i32, offset: i64, ok: bool, value: String },
    /// `# <pid> <kind> <rest>`
    Event { pid: u32, kind: String, rest: String },
}

pub fn parse_line(l: &str) -> Line {
    if let Some(ev) = l.strip_prefix("# ") {
        let mut f = ev.splitn(3, ' ');
        let pid = f.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("bad event line {l:?}"));
        let kind = f.next().unwrap_or_default().to_owned();
        let rest = f.next().unwrap_or_default().to_owned();
        return Line::Event { pid, kind, rest };
    }
    let f: Vec<&str> = l.splitn(5, ' ').collect();
    assert!(f.len() == 5 && (f[3] == "ok" || f[3] == "fail"), "bad outcome line {l:?}");
    Line::Outcome {
        pid: f[0].parse().unwrap(),
        partition: f[1].parse().unwrap(),
        offset: f[2].parse().unwrap(),
        ok: f[3] == "ok",
        value: f[4].to_owned(),
    }
}

/// Reads the outcome file as the workers append to it; keeps every line in file order.
pub struct Tail {
    pub path: PathBuf,
    pub pos: u64,
    pub partial: Vec<u8>,
    pub lines: Vec<Line>,
}

impl Tail {
    pub fn new(path: &Path) -> Tail {
        Tail { path: path.to_owned(), pos: 0, partial: Vec::new(), lines: Vec::new() }
    }

    /// Parses the complete lines appended since the last call; returns how many.
    pub fn read(&mut self) -> usize {
        let Ok(mut f) = File::open(&self.path) else { return 0 };
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(self.pos)).unwrap();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        self.pos += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let before = self.lines.len();
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.lines.push(parse_line(&text));
        }
        self.lines.len() - before
    }

    /// The current assignment per worker, from the `assigned`/`revoked` events (incremental,
    /// as cooperative rebalancing reports them) of workers that have not exited.
    pub fn assignment(&self) -> BTreeMap<u32, BTreeSet<i32>> {
        let mut a: BTreeMap<u32, BTreeSet<i32>> = BTreeMap::new();
        for l in &self.lines {
            if let Line::Event { pid, kind, rest } = l {
                let ps = rest.split_whitespace().filter_map(|p| p.parse::<i32>().ok());
                match kind.as_str() {
                    "assigned" => a.entry(*pid).or_default().extend(ps),
                    "revoked" => {
                        let e = a.entry(*pid).or_default();
                        for p in ps {
                            e.remove(&p);
                        }
                    }
                    "exit" => {
                        a.remove(pid);
                    }
                    _ => {}
                }
            }
        }
        a.retain(|_, s| !s.is_empty());
        a
    }

    /// `error` events (a failed library call in a worker).
    pub fn errors(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Event { pid, kind, rest } if kind == "error" => Some(format!("{pid}: {rest}")),
                _ => None,
            })
            .collect()
    }

    /// ok outcomes per record.
    pub fn oks(&self) -> HashMap<(i32, i64), Vec<u32>> {
        let mut m: HashMap<(i32, i64), Vec<u32>> = HashMap::new();
        for l in &self.lines {
            if let Line::Outcome { pid, partition, offset, ok: true, .. } = l {
                m.entry((*partition, *offset)).or_default().push(*pid);
            }
        }
        m
    }
}

/// Commit errors a rebalance can cause: a commit made while the group moves to a new generation
/// is refused by the coordinator (`ILLEGAL_GENERATION`, `REBALANCE_IN_PROGRESS`,
/// `UNKNOWN_MEMBER_ID`). The library returns them as the status of `ConsumerCommit` (the OnTask
/// of the service would report an error) and keeps the offsets pending for the next commit;
/// the tests print them and check that nothing was lost or duplicated because of them. Any
/// other failed call fails the test.
pub const REBALANCE_COMMIT_ERRORS: &[&str] = &["ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "UNKNOWN_MEMBER_ID"];

pub fn split_errors(errors: Vec<String>) -> (Vec<String>, Vec<String>) {
    errors.into_iter().partition(|e| {
        e.split_once(": ").is_some_and(|(_, rest)| {
            rest.starts_with("ConsumerCommit ") && REBALANCE_COMMIT_ERRORS.iter().any(|n| rest.contains(&format!(" {n} (")))
        })
    })
}

/// Waits (bounded) until `cond` holds, reading the outcome file before each check.
pub fn wait_for(tail: &mut Tail, within: Duration, what: &str, mut cond: impl FnMut(&Tail) -> bool) {
    let end = Instant::now() + within;
    loop {
        tail.read();
        if cond(tail) {
            return;
        }
        if Instant::now() >= end {
            panic!(
                "{what}: not reached within {within:?}; assignment {:?}, {} lines, errors {:?}",
                tail.assignment(),
                tail.lines.len(),
                tail.errors()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// Producing and observing (test side)
// ---------------------------------------------------------------------------------------------

/// Produces records `from..from+n` (value `<prefix><i>`, partition `i % 6`) through the
/// emulator's `ProduceBatch`; returns (partition, offset) -> value.
pub fn produce(b: &super::client::Bridge, p: i64, topic: &str, prefix: &str, from: usize, n: usize) -> HashMap<(i32, i64), String> {
    let mut out = HashMap::new();
    let idx: Vec<usize> = (from..from + n).collect();
    for chunk in idx.chunks(300) {
        let recs: Vec<Rec> = chunk
            .iter()
            .map(|i| Rec {
                topic: topic.to_owned(),
                partition: Some(*i as i32 % PARTITIONS),
                value: Some(format!("{prefix}{i}").into_bytes()),
                ..Default::default()
            })
            .collect();
        let res = b.produce_batch(p, &recs).expect("ProduceBatch");
        for (i, r) in chunk.iter().zip(res) {
            let (part, off) = r.unwrap_or_else(|e| panic!("record {i} not delivered: {e}"));
            out.insert((part, off), format!("{prefix}{i}"));
        }
    }
    out
}

/// The group's committed offsets of the topic's partitions, read by a plain rdkafka consumer
/// with the same group.id that never subscribes (so it does not join the group).
pub fn observer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("observer consumer")
}

pub fn committed(c: &BaseConsumer, topic: &str) -> Vec<i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).expect("committed offsets");
    (0..PARTITIONS)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => -1,
        })
        .collect()
}

pub fn end_offsets(c: &BaseConsumer, topic: &str) -> Vec<i64> {
    (0..PARTITIONS).map(|p| c.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1).collect()
}
