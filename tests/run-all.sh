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

state="${KAFKA_TEST_STATE_DIR:-$PWD/target/kafka-test}"

echo "== build (library, tests, examples)"
cargo build --all-targets

echo "== start the Kafka broker"
envfile=$(tests/kafka/broker.sh start "$state")
trap 'tests/kafka/broker.sh stop "$state" >/dev/null 2>&1 || true' EXIT
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

echo "== tests"
cargo test --all-targets --no-fail-fast

echo "== demo (mock cluster)"
cargo run --quiet --example demo
