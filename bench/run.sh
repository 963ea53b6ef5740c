#!/usr/bin/env bash
# =============================================================================
# bench/run.sh — the benchmark of issue 5, in one command:
#
#   bench/run.sh
#
# Builds the release library and the bench binary (benches/bridge.rs), starts ITS OWN
# Kafka broker (tests/kafka/broker.sh, state in target/kafka-bench, fixed JVM heap), installs
# confluent-kafka from PyPI into a private virtualenv (target/bench-venv), runs every side of
# every workload in its own process, alternating the sides (A B C A B C ...), then writes
# BENCHMARKS.md (machine, exact command, tables) and prints the summary table. The broker is
# stopped on exit, whatever happens.
#
# Knobs (environment; defaults keep a run on a 2-core machine under ~10 minutes):
#   BENCH_ROUNDS=12           rounds of alternation per workload and size (single runs on a
#                             2-core VM spread widely: more rounds, steadier totals)
#   BENCH_SIZES="100 1024 102400"   record (value) sizes in bytes
#   BENCH_CONFIRMED=1000      records per confirmed (one-at-a-time) produce run
#   BENCH_MB=64               megabytes per throughput (produce) run ...
#   BENCH_RECORDS=200000      ... but at most this many records
#   BENCH_CONSUME_MB=300      megabytes per consume run ... (a consume run takes a fraction
#   BENCH_CONSUME_RECORDS=1000000  of a second per 100 MB: shorter runs measure mostly the
#                             first fetches' round trips, not the steady state)
#   BENCH_COMMIT_EVERY=500    bridge consumer: ConsumerCommit every N records (a batch's end)
#   BENCH_COMMIT_INTERVAL_MS=1000  ... which sends offsets at most once per this many ms
#                             (host:CommitIntervalMs: the Inbound adapter's default)
#   BENCH_CALLS=1000000       P4: calls timed per entry
#   BENCH_RSS_MB=1024         P6: backlog to drain, MiB (the issue's 1 GB)
#   BENCH_RSS_RECORD=10240    P6: record size
#   BENCH_QUEUED_KB=65536     P6: queued.max.messages.kbytes of both consumers
#   BENCH_BROKER_HEAP=512m    broker JVM heap (-Xms = -Xmx)
#   BENCH_PIP_SPEC=confluent-kafka   what pip installs into the virtualenv
#   BENCH_REPORT=BENCHMARKS.md       where the report goes
#   BENCH_PROFILE=1           0: skip the callgrind profile of the 100-byte consume
#   BENCH_PROFILE_RECORDS=20000      records the profile consumes per side
#   BENCH_WARMUP_ROUNDS=3     rounds of broker warm-up traffic before the first measurement
# =============================================================================
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ROUNDS="${BENCH_ROUNDS:-12}"
SIZES="${BENCH_SIZES:-100 1024 102400}"
CONFIRMED="${BENCH_CONFIRMED:-1000}"
MB="${BENCH_MB:-64}"
MAX_RECORDS="${BENCH_RECORDS:-200000}"
CONSUME_MB="${BENCH_CONSUME_MB:-300}"
CONSUME_MAX_RECORDS="${BENCH_CONSUME_RECORDS:-1000000}"
COMMIT_EVERY="${BENCH_COMMIT_EVERY:-500}"
COMMIT_INTERVAL_MS="${BENCH_COMMIT_INTERVAL_MS:-1000}"
CALLS="${BENCH_CALLS:-1000000}"
RSS_MB="${BENCH_RSS_MB:-1024}"
RSS_RECORD="${BENCH_RSS_RECORD:-10240}"
QUEUED_KB="${BENCH_QUEUED_KB:-65536}"
HEAP="${BENCH_BROKER_HEAP:-512m}"
PIP_SPEC="${BENCH_PIP_SPEC:-confluent-kafka}"
REPORT="${BENCH_REPORT:-BENCHMARKS.md}"

STATE="$ROOT/target/kafka-bench"
OUT="$ROOT/target/bench"
VENV="$ROOT/target/bench-venv"
BROKER="$ROOT/tests/kafka/broker.sh"

COMMAND="bench/run.sh"
for v in $(env | sed -n 's/^\(BENCH_[A-Z_]*\)=.*/\1/p' | sort); do
    COMMAND="$v=$(printf '%q' "${!v}") $COMMAND"
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

if "$BROKER" status "$STATE" >/dev/null 2>&1; then
    die "a broker is already running for $STATE (another bench run?); stop it with: $BROKER stop $STATE"
fi

T0=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/lat"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# ---------------------------------------------------------------------------- build
log "building the release library and the bench binary"
LIB_SO="$(cargo build --release --lib --message-format=json-render-diagnostics \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and "cdylib" in m["target"]["kind"]:
        print(*[f for f in m["filenames"] if f.endswith((".so", ".dylib"))])')"
[[ -f "$LIB_SO" ]] || die "cargo build --release --lib did not produce the cdylib"
BENCH_EXE="$(cargo bench --no-run --bench bridge --message-format=json-render-diagnostics \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "bridge":
        print(m["executable"])')"
[[ -x "$BENCH_EXE" ]] || die "cargo bench --no-run did not produce the bench binary"
# Private copies: others may rebuild target/release while the benchmark runs.
cp "$LIB_SO" "$OUT/bin/libiriskafka.so"
cp "$BENCH_EXE" "$OUT/bin/bridge"
export IRISKAFKA_LIB="$OUT/bin/libiriskafka.so"
BENCH="$OUT/bin/bridge"

# ---------------------------------------------------------------------------- python
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating the virtualenv $VENV"
    python3 -m venv "$VENV"
fi
log "pip install $PIP_SPEC (PyPI) into $VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "$PIP_SPEC" >&2
PY="$VENV/bin/python"
"$PY" -c 'import confluent_kafka' || die "confluent_kafka does not import in $VENV"

# ---------------------------------------------------------------------------- broker
BROKER_STARTED=0
cleanup() {
    local rc=$?
    if (( BROKER_STARTED )); then
        "$BROKER" stop "$STATE" >&2 || true
        rm -rf "$STATE/data"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "starting the bench broker (heap -Xms$HEAP -Xmx$HEAP, state $STATE)"
BROKER_STARTED=1
ENV_FILE="$(KAFKA_TEST_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP" "$BROKER" start "$STATE")"
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

# ---------------------------------------------------------------------------- runs
# run <log name> <command...>: one process, its RESULT lines appended to the results
run() {
    local name="$1"
    shift
    local out="$OUT/logs/$name.out"
    if ! "$@" >"$out" 2>"$OUT/logs/$name.err"; then
        tail -n 20 "$OUT/logs/$name.err" >&2 || true
        die "$name failed (logs in $OUT/logs)"
    fi
    sed -n 's/^RESULT //p' "$out" >>"$RESULTS"
    local line
    line="$(sed -n 's/^RESULT //p' "$out" | tail -n 1)"
    log "$name: $(printf '%s' "$line" | python3 -c 'import json,sys
r = json.loads(sys.stdin.read() or "{}")
if "wall_s" in r:
    n, w, cpu = r["records"], r["wall_s"], r["cpu_user_s"] + r["cpu_sys_s"]
    lat = ", p50 %.0f us" % r["p50_us"] if "p50_us" in r else ""
    print("%.0f rec/s, %.1f us CPU/rec%s" % (n / w, cpu / n * 1e6, lat))
else:
    print("done")')"
}

run_side() { # run_side <name> <bridge|raw|python> <workload args...>: one side of a workload
    local name="$1" side="$2"
    shift 2
    if [[ $side == python ]]; then
        run "$name" "$PY" bench/python/bench.py "$@"
    else
        run "$name" "$BENCH" --side "$side" "$@"
    fi
}

records_for() { # records_for <size> [MB] [max records]: BENCH_MB megabytes, at most BENCH_RECORDS
    local n=$(( ${2:-$MB} * 1000000 / $1 )) max=${3:-$MAX_RECORDS}
    (( n > max )) && n=$max
    (( n < 1 )) && n=1
    echo "$n"
}

log "P4: entry-call cost ($CALLS calls)"
run call "$BENCH" --workload call --calls "$CALLS"

# A fresh JVM compiles its hot paths during the first minute of traffic, and whichever side
# ran first would pay for it. Warm the broker up with every kind of traffic the runs make
# (produce confirmed and in bulk, consume, commit); nothing of this is recorded.
warm() {
    local name="$1"
    shift
    "$@" >"$OUT/logs/$name.out" 2>"$OUT/logs/$name.err" || { tail -n 20 "$OUT/logs/$name.err" >&2; die "$name failed"; }
}
log "warming the broker up (not measured)"
for ((w = 1; w <= ${BENCH_WARMUP_ROUNDS:-3}; w++)); do
    warm "warmup-fill-$w" "$BENCH" --workload fill --topic "bench-warmup-$w" --size 100 --records 200000 --label warmup
    warm "warmup-confirmed-$w" "$BENCH" --side raw --workload confirmed --size 100 --records 5000 --label warmup
    warm "warmup-consume-$w" "$BENCH" --side bridge --workload consume --topic "bench-warmup-$w" --size 100 \
        --records 200000 --commit-every "$COMMIT_EVERY" --label warmup
done
sleep "${BENCH_SETTLE_S:-10}" # let the broker finish what the warm-up left (GC, offsets log)

for size in $SIZES; do
    for ((r = 1; r <= ROUNDS; r++)); do
        for side in bridge raw python; do
            run_side "confirmed-$side-$size-$r" "$side" --workload confirmed --size "$size" --records "$CONFIRMED" \
                --label "round$r" --latency-out "$OUT/lat/confirmed-$side-$size-$r.txt"
        done
    done
done

# P5 diagnosis: the same 100-byte confirmed produce with librdkafka's default linger.ms=5 (not a goal row)
for ((r = 1; r <= ROUNDS; r++)); do
    for side in bridge raw python; do
        run_side "linger5-$side-$r" "$side" --workload confirmed --size 100 --records "$CONFIRMED" --linger-ms 5 \
            --label "linger5-round$r" --latency-out "$OUT/lat/linger5-$side-100-$r.txt"
    done
done

for size in $SIZES; do
    n="$(records_for "$size")"
    for ((r = 1; r <= ROUNDS; r++)); do
        for side in bridge raw python; do
            run_side "throughput-$side-$size-$r" "$side" --workload throughput --size "$size" --records "$n" \
                --label "round$r"
        done
    done
done

# Diagnosis (not goal rows), 100-byte throughput: ProduceSendLong with as many records per
# call as it takes; and bridge vs raw with librdkafka's default linger.ms=5
for ((r = 1; r <= ROUNDS; r++)); do
    run "throughput-long-bridge-100-$r" "$BENCH" --side bridge --workload throughput --size 100 \
        --records "$(records_for 100)" --entry long --label "long-batch-round$r"
    for side in bridge raw; do
        run "throughput-linger5-$side-100-$r" "$BENCH" --side "$side" --workload throughput --size 100 \
            --records "$(records_for 100)" --linger-ms 5 --label "linger5-round$r"
    done
done

for size in $SIZES; do
    n="$(records_for "$size" "$CONSUME_MB" "$CONSUME_MAX_RECORDS")"
    topic="bench-consume-$size"
    log "pre-filling $topic with $n records of $size bytes"
    run "fill-$size" "$BENCH" --workload fill --topic "$topic" --size "$size" --records "$n" --label fill
    for ((r = 1; r <= ROUNDS; r++)); do
        for side in bridge raw; do
            run "consume-$side-$size-$r" "$BENCH" --side "$side" --workload consume --topic "$topic" \
                --size "$size" --records "$n" --commit-every "$COMMIT_EVERY" \
                --commit-interval-ms "$COMMIT_INTERVAL_MS" --label "round$r"
        done
        # reference: a raw consumer that copies each value once into its own buffer, the
        # work the bridge does to hand a value to the host
        run "consume-raw-copy-$size-$r" "$BENCH" --side raw --workload consume --topic "$topic" \
            --size "$size" --records "$n" --copy-values 1 --label "copy-round$r"
    done
done

rss_n=$(( RSS_MB * 1048576 / RSS_RECORD ))
log "P6: pre-filling bench-rss with $rss_n records of $RSS_RECORD bytes ($RSS_MB MiB)"
run fill-rss "$BENCH" --workload fill --topic bench-rss --size "$RSS_RECORD" --records "$rss_n" --label fill
for side in bridge raw; do
    run "rss-$side" "$BENCH" --side "$side" --workload consume --topic bench-rss --size "$RSS_RECORD" \
        --records "$rss_n" --commit-every "$COMMIT_EVERY" --queued-kb "$QUEUED_KB" --label rss
done

# Profile (evidence for the report): callgrind on the 100-byte consume of both sides —
# instructions per record in the emulator, in the library's entry, in librdkafka.
if [[ "${BENCH_PROFILE:-1}" != 0 ]]; then
    if command -v valgrind >/dev/null 2>&1 && command -v callgrind_annotate >/dev/null 2>&1; then
        pn="${BENCH_PROFILE_RECORDS:-20000}"
        log "profile: callgrind on the 100-byte consume, $pn records per side"
        run fill-profile "$BENCH" --workload fill --topic bench-profile --size 100 --records "$pn" --label fill
        for side in bridge raw; do
            run "profile-$side" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind-$side.out" \
                "$BENCH" --side "$side" --workload consume --topic bench-profile --size 100 --records "$pn" \
                --commit-every "$COMMIT_EVERY" --label profile
            callgrind_annotate --inclusive=yes "$OUT/callgrind-$side.out" >"$OUT/callgrind-$side.txt" 2>/dev/null
        done
    else
        log "valgrind/callgrind_annotate not found: no profile section (apt-get install valgrind)"
    fi
fi

# ---------------------------------------------------------------------------- report
T1=$(date +%s)
KAFKA_JAR="$(find "$KAFKA_TEST_LIBS" -maxdepth 1 -name 'kafka_2.13-*.jar' -printf '%f\n' | head -n 1)"
# the consumer's take size: a constant of the code that the report's text names
CARRY_MAX="$(sed -n 's/^const CARRY_MAX: usize = \([0-9]*\);.*/\1/p' src/boundary/sys.rs)"
[[ -n "$CARRY_MAX" ]] || die "const CARRY_MAX not found in src/boundary/sys.rs"
{
    echo "command=$COMMAND"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "loadavg_start=$LOAD_START"
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "other_brokers=$(( $(pgrep -fc 'kafka\.Kafka' || true) - 1 ))"
    echo "rustc=$(rustc --version)"
    echo "java=$(java -version 2>&1 | head -n 1)"
    echo "kafka=${KAFKA_JAR%.jar}"
    echo "heap=$HEAP"
    echo "python=$("$PY" --version 2>&1)"
    echo "confluent_kafka=$("$PY" -c 'import confluent_kafka as c; v = c.version(); print("confluent-kafka", v[0] if isinstance(v, tuple) else v, "librdkafka", c.libversion()[0])')"
    echo "bridge=$(sed -n 's/^bench: bridge [^(]*(\(.*\))$/\1/p' "$OUT/logs/call.err" | head -n 1)"
    echo "rounds=$ROUNDS"
    echo "sizes=$SIZES"
    echo "confirmed=$CONFIRMED"
    echo "mb=$MB"
    echo "max_records=$MAX_RECORDS"
    echo "consume_mb=$CONSUME_MB"
    echo "consume_max_records=$CONSUME_MAX_RECORDS"
    echo "commit_every=$COMMIT_EVERY"
    echo "commit_interval_ms=$COMMIT_INTERVAL_MS"
    echo "calls=$CALLS"
    echo "rss_mb=$RSS_MB"
    echo "rss_record=$RSS_RECORD"
    echo "queued_kb=$QUEUED_KB"
    echo "carry_max=$CARRY_MAX"
    echo "seconds=$(( T1 - T0 ))"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$OUT/meta.env"
"$PY" bench/python/report.py --results "$RESULTS" --meta "$OUT/meta.env" --lat "$OUT/lat" --profile "$OUT" --out "$REPORT"
log "wrote $REPORT in $(( $(date +%s) - T0 )) s (raw results: $RESULTS)"
