#!/usr/bin/env bash
# The whole test suite, real broker included: builds the library, starts a real Apache Kafka
# broker (KRaft, fetched from Maven Central into a cache, run with Java 17 on loopback), runs
# every test and the demo through the host emulator, and stops the broker.
#
#   tests/run-all.sh            # what CI runs
#   FUZZ_SECONDS=600 tests/run-all.sh   # with a 10-minute fuzz run
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in cargo java mvn keytool openssl nm ldd; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run-all: missing ${missing[*]}: install Rust (rustup), Java 17 (openjdk-17-jdk-headless), Maven, OpenSSL and binutils" >&2
  exit 2
fi

if ! ls /usr/lib/x86_64-linux-gnu/fis-gtm/*/mumps >/dev/null 2>&1 && ! command -v mumps >/dev/null 2>&1; then
  echo "run-all: GT.M is missing (the ObjectScript runtime's differential test needs it): apt-get install fis-gtm" >&2
  exit 2
fi

state="${KAFKA_TEST_STATE_DIR:-$PWD/target/kafka-test}"

echo "== build (library, tests, examples; the ObjectScript runtime)"
cargo build --lib --tests --examples
cargo build -p iris-runtime --tests --bins

echo "== start the Kafka broker"
envfile=$(tests/kafka/broker.sh start "$state")
trap 'tests/kafka/broker.sh stop "$state" >/dev/null 2>&1 || true' EXIT
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

echo "== tests"
log="$state/test-output.log"
mkdir -p "$state"
set +e
cargo test --lib --tests --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo "== ObjectScript runtime (tests/iris-runtime)"
cargo test -p iris-runtime --no-fail-fast 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
set -e

echo "== demo (mock cluster)"
if cargo run --quiet --example demo; then demo_passed=1; demo_failed=0; else demo_failed=1; demo_passed=0; rc=1; fi

# One closing line for the whole suite: the sum over every test binary, plus the demo.
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo "suite: $((passed + demo_passed)) passed, $((failed + demo_failed)) failed"
exit "$rc"
