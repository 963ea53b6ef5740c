"""confluent-kafka-python side of the benchmark (P2): the same produce workloads as the Rust
bench binary, one process per run, printing one `RESULT {json}` line.

    python bench.py --workload confirmed|throughput --size BYTES --records N [--topic T]
                    [--linger-ms X] [--latency-out FILE] [--label TEXT]

confirmed:  produce() then flush() per record (the record is confirmed before the next).
throughput: produce() every record (poll() on a full queue), then one flush().

Same producer properties as the other sides: acks=all, enable.idempotence=true,
partitioner=murmur2_random, linger.ms=0 (the bridge's defaults) unless --linger-ms is given.
Environment: KAFKA_TEST_BOOTSTRAP, KAFKA_TEST_BROKER_PID.
"""

import argparse
import json
import os
import resource
import sys
import time

import confluent_kafka
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def broker_cpu():
    pid = os.environ.get("KAFKA_TEST_BROKER_PID")
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


class Window:
    def __init__(self):
        self.broker0 = broker_cpu()
        self.proc0 = resource.getrusage(resource.RUSAGE_SELF)
        self.thread0 = resource.getrusage(resource.RUSAGE_THREAD)
        self.t0 = time.perf_counter()

    def stop(self):
        wall = time.perf_counter() - self.t0
        p = resource.getrusage(resource.RUSAGE_SELF)
        t = resource.getrusage(resource.RUSAGE_THREAD)
        b = broker_cpu()
        return {
            "wall_s": wall,
            "cpu_user_s": p.ru_utime - self.proc0.ru_utime,
            "cpu_sys_s": p.ru_stime - self.proc0.ru_stime,
            "thread_cpu_s": (t.ru_utime - self.thread0.ru_utime) + (t.ru_stime - self.thread0.ru_stime),
            "broker_cpu_s": (b - self.broker0) if (b is not None and self.broker0 is not None) else None,
        }


def client_version():
    v = confluent_kafka.version()
    return v[0] if isinstance(v, tuple) else v


def create_topic(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)], operation_timeout=20)
    for _, f in fs.items():
        f.result()


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = round(p / 100.0 * (len(sorted_values) - 1))
    return sorted_values[min(i, len(sorted_values) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True, choices=["confirmed", "throughput"])
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--topic")
    ap.add_argument("--linger-ms")
    ap.add_argument("--latency-out")
    ap.add_argument("--label")
    a = ap.parse_args()

    bootstrap = os.environ["KAFKA_TEST_BOOTSTRAP"]
    topic = a.topic or f"bench-{a.workload}-python-{a.size}-{os.getpid()}-{int(time.time() * 1000) % 1000000}"
    create_topic(bootstrap, topic)
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
    }
    # the bridge's default producer properties, linger.ms=0 included, unless a run asks otherwise
    conf["linger.ms"] = a.linger_ms if a.linger_ms is not None else "0"
    state = {"ok": 0, "failed": 0}

    def on_delivery(err, msg):
        if err is None:
            state["ok"] += 1
        else:
            state["failed"] += 1
            print(f"bench.py: delivery failed: {err}", file=sys.stderr)

    p = Producer(conf)
    value = b"x" * a.size
    n = a.records
    lat = []

    def produce(v):
        while True:
            try:
                p.produce(topic, v, on_delivery=on_delivery)
                return
            except BufferError:
                p.poll(0.001)

    if a.workload == "confirmed":
        for _ in range(20):
            produce(value)
            p.flush()
        w = Window()
        for _ in range(n):
            t = time.perf_counter()
            produce(value)
            p.flush()
            lat.append((time.perf_counter() - t) * 1e6)
        m = w.stop()
    else:
        produce(value)
        p.flush()
        w = Window()
        for i in range(n):
            produce(value)
            if i % 64 == 0:
                p.poll(0)
        left = p.flush(300)
        m = w.stop()
        if left:
            sys.exit(f"bench.py: {left} records undelivered")
    if state["failed"]:
        sys.exit(f"bench.py: {state['failed']} deliveries failed")
    if state["ok"] != n + (20 if a.workload == "confirmed" else 1):
        sys.exit(f"bench.py: {state['ok']} delivery reports for {n} records")

    result = {
        "side": "python", "workload": a.workload, "size": a.size, "records": n, "topic": topic,
        "linger_ms": a.linger_ms, "label": a.label, "pid": os.getpid(),
        "client": f"confluent-kafka {client_version()} librdkafka {confluent_kafka.libversion()[0]}",
    }
    result.update(m)
    if lat:
        s = sorted(lat)
        result.update({"p50_us": percentile(s, 50), "p99_us": percentile(s, 99), "samples": len(s)})
        if a.latency_out:
            with open(a.latency_out, "w") as f:
                f.write("".join(f"{v:.1f}\n" for v in lat))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
