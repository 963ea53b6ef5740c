"""Writes BENCHMARKS.md from the RESULT lines of one bench/run.sh run and prints the tables.

    python report.py --results target/bench/results.jsonl --meta target/bench/meta.env \
                     --lat target/bench/lat --out BENCHMARKS.md

Every figure comes from the results file; nothing here is typed in except the goals of
issue 5.
"""

import argparse
import glob
import json
import math
import os
import re
from collections import defaultdict


def load(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def meta_of(path):
    m = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                m[k] = v
    return m


def group_label(label):
    if not label:
        return "main"
    return re.sub(r"-?round\d+$", "", label) or "main"


class Agg:
    """Several rounds of one side of one workload: totals over the rounds."""

    def __init__(self, runs, nproc):
        self.runs = runs
        self.nproc = nproc
        self.records = sum(r["records"] for r in runs)
        self.size = runs[0]["size"]
        self.wall = sum(r["wall_s"] for r in runs)
        self.cpu = sum(r["cpu_user_s"] + r["cpu_sys_s"] for r in runs)
        self.thread = sum(r["thread_cpu_s"] for r in runs)
        b = [r.get("broker_cpu_s") for r in runs]
        self.broker = sum(b) if all(x is not None for x in b) else None
        self.rates = [r["records"] / r["wall_s"] for r in runs]
        calls = [r.get("entry_calls") for r in runs]
        self.calls = sum(calls) if all(c is not None for c in calls) else None

    @property
    def rps(self):
        return self.records / self.wall

    @property
    def mbps(self):
        return self.records * self.size / self.wall / 1e6

    @property
    def cpu_us(self):
        return self.cpu / self.records * 1e6

    @property
    def u_client(self):
        return self.cpu / self.wall

    @property
    def u_thread(self):
        return self.thread / self.wall

    @property
    def u_broker(self):
        return None if self.broker is None else self.broker / self.wall

    def bound(self):
        ub = self.u_broker
        if self.u_thread >= 0.85:
            return f"client (calling thread {self.u_thread:.0%} busy)"
        if ub is not None and self.u_client + ub >= 0.8 * self.nproc:
            return "CPU-saturated: " + ("broker" if ub >= self.u_client else "client")
        if ub is not None and ub >= 0.85:
            return f"broker ({ub:.2f} cores)"
        return "latency (waits; no CPU saturated)"

    def spread(self):
        if len(self.rates) < 2:
            return ""
        lo, hi = min(self.rates), max(self.rates)
        return f"±{(hi - lo) / (hi + lo) * 100:.0f}%"


def fmt_num(v, digits=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{digits}f}"


def size_name(s):
    if s >= 1024 * 100 and s % 1024 == 0:
        return f"{s // 1024} KiB"
    if s >= 1000 and s % 1024 == 0:
        return f"{s // 1024} KiB"
    return f"{s} B"


def mark(ok):
    return "pass" if ok else "**FAIL**"


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = round(p / 100.0 * (len(sorted_values) - 1))
    return sorted_values[min(i, len(sorted_values) - 1)]


def lat_samples(lat_dir, prefix, side, size):
    vals = []
    for path in sorted(glob.glob(os.path.join(lat_dir, f"{prefix}-{side}-{size}-*.txt"))):
        with open(path) as f:
            vals.extend(float(x) for x in f if x.strip())
    vals.sort()
    return vals


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def callgrind_costs(path):
    """(total Ir, [(Ir, 'file:function [object]')]) from `callgrind_annotate --inclusive=yes`."""
    total, rows = None, []
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
            if not m:
                continue
            ir = int(m.group(1).replace(",", ""))
            if "PROGRAM TOTALS" in m.group(2):
                total = ir
            else:
                rows.append((ir, m.group(2)))
    return total, rows


def inclusive(rows, *needles):
    """Inclusive cost of a function: the largest of its lines (callgrind_annotate lists a function
    once per source file its inlined code came from)."""
    vals = [ir for ir, name in rows if all(n in name for n in needles)]
    return max(vals) if vals else None


def profile_section(directory, profile_runs):
    paths = {s: os.path.join(directory, f"callgrind-{s}.txt") for s in ("bridge", "raw")}
    if not all(os.path.exists(p) for p in paths.values()) or set(profile_runs) != {"bridge", "raw"}:
        return ""
    n = {s: profile_runs[s]["records"] for s in paths}
    tb, rb = callgrind_costs(paths["bridge"])
    tr, rr = callgrind_costs(paths["raw"])

    def per(v, side):
        return "–" if v is None else f"{v / n[side]:,.0f}"

    host = inclusive(rb, "ZfHost::call")
    nxt = inclusive(rb, "entries::ConsumerBatch")
    commit = inclusive(rb, "entries::ConsumerCommit")
    memset = inclusive(rb, "memset")
    poll_b = inclusive(rb, "iriskafka::consumer::Consumer::poll_batch")
    from_msg = inclusive(rb, "Consumer::next_message")
    frame = inclusive(rb, "wire::encode_record_frame")
    settle = inclusive(rb, "Consumer::settle_batch")
    poll_r = inclusive(rr, "BaseConsumer<C>::poll_queue")
    bg_b = inclusive(rb, "rd_kafka_broker_thread_main")
    bg_r = inclusive(rr, "rd_kafka_broker_thread_main")
    rows = [
        ["whole process (every thread, set-up and close included)", per(tb, "bridge"), per(tr, "raw")],
        ["librdkafka's broker threads (fetch, parse)", per(bg_b, "bridge"), per(bg_r, "raw")],
        ["entry calls through the emulator (`ZfHost::call`, inclusive: `ConsumerBatch`, the commits)",
         per(host, "bridge"), "–"],
        ["· of which `memset` (the emulator filling each call's $ZF heap, 32 KiB+ for the reply buffer, with guard bytes)",
         per(memset, "bridge"), "–"],
        ["· of which the library's `ConsumerBatch` entry", per(nxt, "bridge"), "–"],
        ["· · `Consumer::poll_batch` (librdkafka poll, frame straight from its buffers, ack tracking)", per(poll_b, "bridge"), "–"],
        ["· · · `Consumer::next_message` (librdkafka's batch consume, events between batches)", per(from_msg, "bridge"), "–"],
        ["· · `wire::encode_record_frame`", per(frame, "bridge"), "–"],
        ["· · `Consumer::settle_batch` (each record's outcome letter: the acks)", per(settle, "bridge"), "–"],
        ["· `ConsumerCommit` (every commit's share)", per(commit, "bridge"), "–"],
        ["rust-rdkafka `BaseConsumer` poll", "not used: `Consumer::next_message` takes records in batches (`ClosableConsumer::poll_record`)", per(poll_r, "raw")],
    ]
    return f"""
## Profile: where a consumed record's instructions go

callgrind (instructions, Ir) on the 100-byte AtLeastOnce consume of {n['bridge']:,} records (bridge) and the raw
consume of {n['raw']:,} records, from `callgrind_annotate --inclusive=yes` (raw output in
target/bench/callgrind-*.txt). Instructions per record:

{table(["where", "bridge", "raw"], rows)}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--lat", required=True)
    ap.add_argument("--profile", help="directory of callgrind-{bridge,raw}.txt (callgrind_annotate --inclusive=yes)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    results = load(a.results)
    meta = meta_of(a.meta)
    nproc = int(meta.get("nproc", "1"))

    runs = defaultdict(list)
    call_rows = []
    profile_runs = {}
    for r in results:
        if r["workload"] == "call":
            call_rows = r["rows"]
            continue
        if r["workload"] == "fill":
            continue
        if r.get("label") == "profile":
            profile_runs[r["side"]] = r
            continue
        runs[(r["workload"], group_label(r.get("label")), r["side"], r["size"])].append(r)
    agg = {k: Agg(v, nproc) for k, v in runs.items()}
    sizes = sorted({k[3] for k in agg if k[1] == "main"})

    summary = []

    def ratio_row(pid, what, goal, mine, other, other_name, note=""):
        if mine is None or other is None:
            return
        rate = mine.rps / other.rps
        cpu = other.cpu_us / mine.cpu_us
        summary.append([
            pid, f"{what}, {size_name(mine.size)}", f"≥ {goal:.2f}",
            f"rate {rate:.2f} · CPU/rec {cpu:.2f}",
            f"rate {mark(rate >= goal)} · CPU {mark(cpu >= goal)}",
            f"bridge: {mine.bound()}; {other_name}: {other.bound()}" + (f"; {note}" if note else ""),
        ])

    def commit_note(g):
        if g is None:
            return ""
        cw = [r.get("commit_wall_s") for r in g.runs]
        if any(x is None for x in cw):
            return ""
        n = sum(r["commit_calls"] for r in g.runs)
        other = agg.get(("consume", "main", "raw", g.size))
        ex = g.records / (g.wall - sum(cw))
        return (f"the bridge spent {sum(cw) / g.wall:.0%} of its time in {n} `ConsumerCommit` calls "
                f"({sum(cw) / n * 1000:.1f} ms each); without them {ex:,.0f} records/s"
                + (f" (rate ratio {ex / other.rps:.2f})" if other else ""))

    for s in sizes:
        ratio_row("P1", "confirmed produce, 1 `Produce` call per record ÷ raw rust-rdkafka send + wait for that record", 0.95,
                  agg.get(("confirmed", "main", "bridge", s)), agg.get(("confirmed", "main", "raw", s)), "raw")
    for s in sizes:
        b = agg.get(("throughput", "main", "bridge", s))
        entry = b.runs[0].get("entry", "ProduceBatch") if b else "ProduceBatch"
        per = b.runs[0].get("records_per_call", "?") if b else "?"
        ratio_row("P1", f"throughput, `{entry}` ({per} records/call) ÷ raw rust-rdkafka send all + wait for every report", 0.95,
                  b, agg.get(("throughput", "main", "raw", s)), "raw")
    for s in sizes:
        ratio_row("P2", "confirmed produce ÷ confluent-kafka-python produce + flush per record", 3.0,
                  agg.get(("confirmed", "main", "bridge", s)), agg.get(("confirmed", "main", "python", s)), "python")
    for s in sizes:
        ratio_row("P2", "throughput (bridge `ProduceSend`) ÷ confluent-kafka-python produce all + flush", 3.0,
                  agg.get(("throughput", "main", "bridge", s)), agg.get(("throughput", "main", "python", s)), "python")
    for s in sizes:
        ratio_row("P3", "AtLeastOnce consume (`ConsumerBatch`: an outcome letter per record; ordered commit: `ConsumerCommit` every "
                  f"{meta.get('commit_every', '?')} records, sent at most once per {meta.get('commit_interval_ms', '?')} ms as the adapter's "
                  "CommitIntervalMs default; headers not read, as for EnsLib.Kafka.Message) ÷ raw `BaseConsumer` auto-commit", 0.90,
                  agg.get(("consume", "main", "bridge", s)), agg.get(("consume", "main", "raw", s)), "raw",
                  commit_note(agg.get(("consume", "main", "bridge", s))))
    for s in sizes:
        b, rc = agg.get(("consume", "main", "bridge", s)), agg.get(("consume", "copy", "raw", s))
        if b and rc:
            summary.append([
                "P3 (reference)", f"the same ÷ a raw `BaseConsumer` that copies each value once into a buffer of its own, {size_name(s)}", "–",
                f"rate {b.rps / rc.rps:.2f} · CPU/rec {rc.cpu_us / b.cpu_us:.2f}", "–",
                f"raw (copy): {rc.bound()}; not a goal row: the raw side of P3 never reads a value, while the bridge "
                "copies each one into the host's reply; here the raw side does that copy too",
            ])
    def diagnosis_row(group, entry, what, raw_group, raw_bound):
        """A 100-byte throughput diagnosis (not a goal row): the bridge in `group` ÷ raw in `raw_group`."""
        br = agg.get(("throughput", group, "bridge", 100))
        rw = agg.get(("throughput", raw_group, "raw", 100))
        if not (br and rw):
            return
        per = br.runs[0].get("records_per_call", "?")
        summary.append([
            "P1 (diagnosis)", f"throughput{what}, `{entry}` ({per} records/call) ÷ raw, 100 B", "–",
            f"rate {br.rps / rw.rps:.2f} · CPU/rec {rw.cpu_us / br.cpu_us:.2f}", "–",
            f"bridge: {br.bound()}" + (f"; raw: {rw.bound()}" if raw_bound else "") + "; not a goal row: " + (
                "shows what linger.ms does" if raw_bound else "shows what the batch size per call does"),
        ])

    diagnosis_row("long-batch", "ProduceSendLong", "", "main", False)
    diagnosis_row("linger5", "ProduceSend", " with librdkafka's default linger.ms=5 on both sides", "linger5", True)

    # P4
    emu = next((r for r in call_rows if r["entry"] == "ProducerStageReset" and r["path"] == "emulator"), None)
    direct = next((r for r in call_rows if r["entry"] == "ProducerStageReset" and r["path"] == "direct"), None)
    by_name = next((r for r in call_rows if r["entry"] == "ProducerStageReset" and r["path"] == "emulator-by-name"), None)
    if emu:
        summary.append([
            "P4", f"one entry call with small arguments through the emulator, by function id as `$ZF(-5)` calls (`ProducerStageReset`, {int(meta.get('calls', 0)):,} calls)",
            "≤ 200 ns", f"{emu['ns']:,.0f} ns/call", mark(emu["ns"] <= 200),
            (f"library alone (direct call, no emulator): {direct['ns']:,.0f} ns" if direct else "")
            + (f"; by name with a new reply each call (the tests' convenience API): {by_name['ns']:,.0f} ns" if by_name else ""),
        ])
    for s in sizes:
        c = agg.get(("consume", "main", "bridge", s))
        p = agg.get(("confirmed", "main", "bridge", s))
        if c and c.calls is not None and all("batch_calls" in r for r in c.runs):
            bat = sum(r["batch_calls"] for r in c.runs)
            com = sum(r["commit_calls"] for r in c.runs)
            rd = sum(r["read_calls"] for r in c.runs)
            small = s <= 1024
            ok = c.calls <= c.records
            summary.append([
                "P4", f"entry calls per record, consume, {size_name(s)}", "≤ 1" if small else "(large record)",
                f"{c.calls / c.records:.3f} = {bat / c.records:.3f} `ConsumerBatch` + {com / c.records:.3f} `ConsumerCommit`"
                + (f" + {rd / c.records:.3f} `ConsumerReadFieldLong`" if rd else ""),
                mark(ok) if small else "–",
                f"{c.records / bat:,.0f} records per `ConsumerBatch` call (it settles the previous batch, one outcome letter "
                f"per record, and brings the next); a commit every {meta.get('commit_every')} records"
                + ("" if small else "; a value the frame leaves out is read with `ConsumerReadFieldLong`"),
            ])
        if p and p.calls is not None:
            per = p.calls / p.records
            small = s <= 1024
            summary.append([
                "P4", f"entry calls per record, produce, {size_name(s)}", "1" if small else "(large record)",
                f"{per:.3f}", mark(per <= 1.0) if small else "–",
                "`Produce`" if small else "`ProduceLong` (the value as a long string)",
            ])

    # P5
    lat = lat_samples(a.lat, "confirmed", "bridge", 100)
    if lat:
        p50, p99 = percentile(lat, 50) / 1000, percentile(lat, 99) / 1000
        b = agg.get(("confirmed", "main", "bridge", 100))
        summary.append([
            "P5", f"confirmed (acks=all) 100 B produce latency through the bridge, its defaults (linger.ms=0), {len(lat):,} samples",
            "p50 ≤ 1 ms / p99 ≤ 5 ms", f"p50 {p50:.2f} ms / p99 {p99:.2f} ms",
            f"p50 {mark(p50 <= 1)} · p99 {mark(p99 <= 5)}" + ("" if len(lat) >= 2000 else " (fewer than 2,000 samples)"),
            "raw and python with the same properties below; then every side with linger.ms=5",
        ])
    for side in ("raw", "python"):
        l = lat_samples(a.lat, "confirmed", side, 100)
        if l:
            summary.append([
                "P5 (reference)", f"{side}, the same properties (linger.ms=0), {len(l):,} samples", "–",
                f"p50 {percentile(l, 50) / 1000:.2f} ms / p99 {percentile(l, 99) / 1000:.2f} ms", "–", "not a goal row",
            ])
    for side in ("bridge", "raw", "python"):
        l5 = lat_samples(a.lat, "linger5", side, 100)
        if l5:
            summary.append([
                "P5 (diagnosis)", f"the same with librdkafka's default linger.ms=5, {side}, {len(l5):,} samples", "–",
                f"p50 {percentile(l5, 50) / 1000:.2f} ms / p99 {percentile(l5, 99) / 1000:.2f} ms", "–", "not a goal row",
            ])

    # P6
    qkb = int(meta.get("queued_kb", "0"))
    limit_mb = 2 * qkb / 1024 + 50
    for side in ("bridge", "raw"):
        r = runs.get(("consume", "rss", side, int(meta.get("rss_record", "0"))))
        if r:
            hwm = r[0]["vm_hwm_kb"] / 1024
            before = r[0]["vm_rss_before_kb"] / 1024
            summary.append([
                "P6" if side == "bridge" else "P6 (reference)",
                f"peak RSS (VmHWM) of the {side} consumer process while a {meta.get('rss_mb')} MiB backlog "
                f"({r[0]['records']:,} × {size_name(r[0]['size'])}) drains; queued.max.messages.kbytes={qkb}",
                f"≤ 2 × {qkb // 1024} MiB + 50 MiB = {limit_mb:.0f} MiB",
                f"{hwm:.0f} MiB (RSS before consuming {before:.0f} MiB)",
                mark(hwm <= limit_mb) if side == "bridge" else "–",
                "issue's figure: 1 GiB backlog (BENCH_RSS_MB=1024)",
            ])

    # details
    detail = []
    order = {"bridge": 0, "raw": 1, "python": 2}
    for k in sorted(agg, key=lambda k: (["confirmed", "throughput", "consume"].index(k[0]) if k[0] in ("confirmed", "throughput", "consume") else 9, k[1], k[3], order.get(k[2], 9))):
        g = agg[k]
        lat_txt = "–"
        if k[0] == "confirmed":
            prefix = "confirmed" if k[1] == "main" else k[1]
            l = lat_samples(a.lat, prefix, k[2], k[3])
            if l:
                lat_txt = f"{percentile(l, 50) / 1000:.2f} / {percentile(l, 99) / 1000:.2f}"
        workload = k[0] + ("" if k[1] == "main" else f" ({k[1]})")
        detail.append([
            workload, k[2], size_name(k[3]), f"{g.records:,}", fmt_num(g.rps), fmt_num(g.mbps, 1), g.spread(),
            fmt_num(g.cpu_us, 1), fmt_num(g.u_client, 2), fmt_num(g.u_thread, 2), fmt_num(g.u_broker, 2),
            lat_txt, g.bound(),
        ])

    headers = ["id", "measure", "goal", "measured", "pass", "bound / note"]
    summary_md = table(headers, summary)
    detail_headers = ["workload", "side", "size", "records", "records/s", "MB/s", "round spread", "client CPU µs/record",
                      "client CPU (cores)", "calling thread (cores)", "broker CPU (cores)", "p50 / p99 ms", "bound"]
    detail_md = table(detail_headers, detail)
    calls_md = table(["entry", "path", "arguments", "ns per call"],
                     [[f"`{r['entry']}`", r["path"], r["args"], f"{r['ns']:,.0f}"] for r in call_rows])

    profile_md = profile_section(a.profile, profile_runs) if a.profile else ""

    # figures the reading notes quote, from this run
    def spread_pct(g):
        lo, hi = min(g.rates), max(g.rates)
        return (hi - lo) / (hi + lo) * 100
    spreads = [spread_pct(g) for g in agg.values() if len(g.rates) >= 2]
    max_spread = f"±{max(spreads):.0f} %" if spreads else "(one round: no spread)"
    c1k = agg.get(("consume", "main", "bridge", 1024))
    per_call_1k = ""
    if c1k and all("batch_calls" in r for r in c1k.runs):
        per_call_1k = (f" At 1 KiB a `ConsumerBatch` reply (one `$ZF` string) held "
                       f"{c1k.records / sum(r['batch_calls'] for r in c1k.runs):,.0f} records per call; the library copies "
                       f"each record once, straight into the host's reply buffer, and the host copies the reply "
                       f"into its own string, as IRIS does.")

    doc = f"""# Benchmarks

Generated by `bench/run.sh` (issue 5) — do not edit by hand; run the command again.

**Command:** `{meta.get('command')}` — {meta.get('date')}, {int(meta.get('seconds', 0)) // 60} min {int(meta.get('seconds', 0)) % 60} s.

**Machine:** {meta.get('nproc')} CPUs ({meta.get('cpu')}), {meta.get('mem')} memory, {meta.get('kernel')};
load average {meta.get('loadavg_start')} at the start, {meta.get('loadavg_end')} at the end; other Kafka brokers
running on the machine at the end: {meta.get('other_brokers')}.

**Software:** bridge `{meta.get('bridge')}` (release build, loaded through the IRIS host emulator, which copies every
long-string input into a buffer as IRIS does and reuses freed long-string buffers of 64 KiB and more, as IRIS reuses its
string memory);
raw side rust-rdkafka 0.39 on the same librdkafka (producer: `ThreadedProducer`, i.e. a `BaseProducer` whose
delivery reports rust-rdkafka's own thread serves, with a condition variable to wait for them — `BaseProducer::poll`
and `flush` return only at their deadline, 100 ms granularity, which would charge the raw side for an API quirk;
consumer: `BaseConsumer` with auto-commit); {meta.get('confluent_kafka')} ({meta.get('python')}, from PyPI in a
private virtualenv); broker {meta.get('kafka')} (tests/kafka/broker.sh, one KRaft node on loopback, JVM heap
-Xms{meta.get('heap')} -Xmx{meta.get('heap')}, its own state dir), {meta.get('java')}; {meta.get('rustc')}.

**Method.** Each side of each workload runs in its own process (so `getrusage(RUSAGE_SELF)` — user + system,
every thread including librdkafka's — is that client's own CPU time) against the same broker, with the
same producer properties — the bridge's defaults: `acks=all`, `enable.idempotence=true`,
`partitioner=murmur2_random`, `linger.ms=0` unless stated) and the same consumer properties (the bridge's
defaults, `fetch.queue.backoff.ms=10` among them, on both sides); the sides alternate (bridge, raw,
python, bridge, raw, python, …) for {meta.get('rounds')} rounds, and figures are totals over the rounds. One
topic of one partition per run. Before the first run the broker's JVM is warmed up with unrecorded traffic of
every kind (bulk and confirmed produce, AtLeastOnce consume with commits). Clocks start after set-up and warm-up
(consumers: at the first record). The
broker's CPU time comes from `/proc/<pid>/stat` over the same window. Ratios: *rate* = bridge records/s ÷ the
other side's; *CPU/rec* = the other side's CPU per record ÷ the bridge's (both > 1 when the bridge is better).
"bound": *client* when the calling thread was ≥ 85 % busy; *CPU-saturated* when client + broker used ≥ 80 % of
all CPUs (then the larger user is named); *broker* when the broker alone used ≥ 0.85 cores; else *latency*
(round trips, linger, fsync — no CPU was the limit). On a machine this small, a saturated broker hides the
client's cost: read the CPU/rec ratio there.

Sizes: confirmed runs {int(meta.get('confirmed', 0)):,} records each; throughput runs
{meta.get('mb')} MB or at most {int(meta.get('max_records', 0)):,} records each; consume runs
{meta.get('consume_mb', meta.get('mb'))} MB or at most {int(meta.get('consume_max_records', meta.get('max_records', 0))):,} records each.

## Goals (issue 5)

{summary_md}

### Reading the rows that miss

* **Confirmed produce (P1, P2, one record at a time).** Every side waits one broker round trip
  per record; the broker, not a client, is the bound (see the *bound* column), and the sides
  are within the run-to-run spread of each other. No client can be 3× faster than another
  there; the bulk rows are where client cost shows. confluent-kafka-python's `flush()` serves
  the delivery report in the calling thread, and so does the bridge with no linger; the raw
  side waits for it to come through rust-rdkafka's polling thread, one thread wake-up more per
  record. At 100 KiB the bridge's CPU per record also counts the host copying each value into
  the long string it passes, as IRIS does.
* **P2 in bulk.** confluent-kafka-python drives the same librdkafka: its extra cost per record
  is the interpreter's, large next to librdkafka's own work only for small records — so the
  ratio is highest at 100 B and falls towards 1 as the record grows and the copying and the
  broker dominate.
* **P3.** The raw side does nothing per record (it reads a value's length, never its bytes)
  and lets librdkafka commit every 5 s. The bridge copies each record into the `$ZF` reply,
  tracks it until its outcome letter comes back (so that a commit never passes an
  unprocessed record), and calls `ConsumerCommit` every {meta.get('commit_every')} records as
  the Inbound adapter does at the end of each batch, which sends the offsets at most once per
  {meta.get('commit_interval_ms')} ms (CommitIntervalMs, the adapter's default; commits also cost
  the broker CPU on this 2-core machine). The *P3 (reference)* rows compare with a raw
  consumer that copies each value once, the work the bridge does to hand it over. The
  remaining cost is spread thin (the profile below). The raw side pays librdkafka's
  per-message poll for every record (three clock reads, a queue lock, a partition lock to
  note the position) and rust-rdkafka's `poll` adds a clock read and an allocation. The
  bridge forwards every assigned partition's fetch queue to a queue of its own and takes
  what is fetched up to {meta['carry_max']} records per librdkafka call (`rd_kafka_consume_batch_queue`),
  handing them out one by one; rebalances and other events still come through the consumer
  queue, each served before the records already taken. At 1 KiB and 100 KiB the bridge is bound by copying: the raw side never reads a
  value's bytes, while the bridge brings each into the reply (the first read of bytes that the
  fetch thread wrote on the other core) and the host copies the reply into its own string, as
  IRIS does. A 100 KiB value does not fit a reply: the record ends its batch, stays where it
  lies in librdkafka's buffer, and `ConsumerReadFieldLong` copies the value from there into
  the host's long string.{per_call_1k}
* **Spread.** Single runs on this 2-core virtual machine moved by up to {max_spread} in this
  report (the *round spread* column), and a row near its goal passes in one run and misses in
  the next; the
  machine's speed also differs from day to day (compare the P4 figures between reports).

## Every measurement

{detail_md}

## P4: one entry call

{calls_md}

*emulator*: `ZfHost::call` — what the test host does per `$ZF` call (per-call heap, argument copies, output
collection) plus the library's entry. *direct*: the table's function pointer called with ready arguments,
as IRIS's own call path would after its marshalling.
{profile_md}"""
    with open(a.out, "w") as f:
        f.write(doc)
    print(summary_md)
    print()
    print(detail_md)
    print()
    print(calls_md)


if __name__ == "__main__":
    main()
