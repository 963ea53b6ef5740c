#!/usr/bin/env bash
# =============================================================================
# tests/kafka/broker.sh — a REAL single-node Apache Kafka broker for the
# integration tests (KRaft, combined broker+controller, one JVM).
#
# Everything comes from Maven Central (org.apache.kafka:kafka_2.13 + a logging
# backend) and runs on the machine's Java (17+). No other download.
#
# Usage:
#   tests/kafka/broker.sh fetch                      resolve the broker jars into the cache
#   tests/kafka/broker.sh start        [STATE_DIR]   fresh broker (new certs, users, data)
#   tests/kafka/broker.sh stop         [STATE_DIR]   SIGTERM, wait <=20 s, then SIGKILL
#   tests/kafka/broker.sh restart-same [STATE_DIR]   start again after `stop` with the SAME
#                                                    ports, config, users and data (no format)
#   tests/kafka/broker.sh status       [STATE_DIR]   exit 0 if running, 1 if not
#
#   STATE_DIR defaults to <repo root>/target/kafka-test.
#
# After start / restart-same, STATE_DIR/env holds `export NAME=value` lines:
#   KAFKA_TEST_BOOTSTRAP        PLAINTEXT listener, 127.0.0.1:port
#   KAFKA_TEST_SASL_BOOTSTRAP   SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
#                               OAUTHBEARER with unsecured tokens: alg none, any subject)
#   KAFKA_TEST_SSL_BOOTSTRAP    SSL listener (server auth only; cert SAN DNS:localhost,IP:127.0.0.1)
#   KAFKA_TEST_SSL_CA           absolute path of the CA certificate (PEM) -> ssl.ca.location
#   KAFKA_TEST_PLAIN_USER / KAFKA_TEST_PLAIN_PASSWORD     SASL/PLAIN user
#   KAFKA_TEST_SCRAM_USER / KAFKA_TEST_SCRAM_PASSWORD     SCRAM user (SHA-256 and SHA-512)
#   KAFKA_TEST_BROKER_PID       pid of the broker JVM
#   KAFKA_TEST_STATE_DIR        absolute STATE_DIR
#   KAFKA_TEST_LIBS             directory of the broker's jars (classpath: "$KAFKA_TEST_LIBS/*")
#   KAFKA_TEST_CONFIG           path of server.properties
# Use it with:  source "$STATE_DIR/env"
#
# Environment knobs (all optional):
#   KAFKA_TEST_VERSION        Kafka version to fetch (default below; any 4.x from Maven Central)
#   KAFKA_TEST_CACHE          cache root (default $HOME/.cache/iris-kafka-test); the jars go
#                             to $KAFKA_TEST_CACHE/kafka-<version>/libs
#   KAFKA_TEST_START_TIMEOUT  seconds to wait for the broker (default 60)
#   KAFKA_TEST_JAVA_OPTS      extra JVM options appended to the broker command line
#   JAVA_HOME                 if set, $JAVA_HOME/bin/java is used instead of `java` on PATH
#
# State dir layout: server.properties, log4j2.properties, broker.log, broker.pid,
#   env, data/ (KRaft log dir), tls/ (ca.pem, broker.p12, ...).
#
# Notes / gotchas (see also shared docs kafka-test-infra.md):
#   * In server.properties a `#` after a value is NOT a comment: comments are on
#     their own lines only.
#   * kafka_2.13 brings no logging backend; without one the broker logs nothing
#     and the readiness check (log line) could never succeed. The binding is
#     chosen to match the slf4j-api version the broker brings (1.x vs 2.x).
#   * SCRAM credentials are created at format time (`--add-scram`), so a fresh
#     `start` always re-formats; `restart-same` must not.
#   * The broker is started in its own session (setsid) so a Ctrl-C of the
#     caller does not kill it; always call `stop` (the pid file is checked
#     against the process command line before any signal is sent).
#   * SCRAM against Kafka 4.x needs librdkafka >= 2.6.1 (older ones resend the
#     client nonce; 4.x brokers reject the proof as "invalid credentials").
#     Debian 12's kcat (librdkafka 2.0.2) therefore fails SCRAM here, while
#     PLAIN/SSL/PLAINTEXT work; the project's rdkafka (librdkafka 2.12) is fine.
#   * After a crash (SIGKILL) the restarted broker waits for the old incarnation's
#     session to expire (broker.session.timeout.ms, set to 5 s here).
#   * stdout carries only the env file path (for ENV=$(broker.sh start));
#     progress and errors go to stderr.
# =============================================================================
set -euo pipefail
shopt -s inherit_errexit

KAFKA_VERSION="${KAFKA_TEST_VERSION:-4.1.2}"
SCALA_BINARY="2.13"
# maven-dependency-plugin pinned (Maven 3.8's built-in default is the ancient 2.8)
DEP_PLUGIN_VERSION="3.8.1"
CACHE_ROOT="${KAFKA_TEST_CACHE:-${HOME}/.cache/iris-kafka-test}"
[[ "$CACHE_ROOT" == /* ]] || CACHE_ROOT="${PWD}/${CACHE_ROOT}"
CACHE_DIR="${CACHE_ROOT}/kafka-${KAFKA_VERSION}"
LIBS_DIR="${CACHE_DIR}/libs"
MARKER="${CACHE_DIR}/.complete"
START_TIMEOUT="${KAFKA_TEST_START_TIMEOUT:-60}"
STOP_TIMEOUT=20

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
DEFAULT_STATE_DIR="${REPO_ROOT}/target/kafka-test"

PLAIN_USER="plainuser"
SCRAM_USER="scramuser"

log() { printf '[kafka-broker] %s\n' "$*" >&2; }
die() { printf '[kafka-broker] ERROR: %s\n' "$*" >&2; exit 1; }

# --------------------------------------------------------------------------
# Tool checks
# --------------------------------------------------------------------------
need_tool() {
    # need_tool <command> <install hint>
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found. Install it: $2"
}

java_bin() {
    if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/java" ]]; then
        printf '%s\n' "${JAVA_HOME}/bin/java"
    else
        need_tool java "a JDK 17+ (Debian: apt-get install -y openjdk-17-jdk-headless)"
        command -v java
    fi
}

check_java() {
    local java ver major
    java="$(java_bin)"
    ver="$("$java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
    [[ -n "$ver" ]] || die "could not read the version of $java"
    major="${ver%%.*}"
    [[ "$major" == "1" ]] && major="$(echo "$ver" | cut -d. -f2)"
    [[ "$major" =~ ^[0-9]+$ ]] || die "could not parse Java version '$ver' of $java"
    (( major >= 17 )) || die "Kafka 4.x needs Java 17+, but $java is $ver (apt-get install -y openjdk-17-jdk-headless, or set JAVA_HOME)"
}

check_runtime_tools() {
    check_java
    need_tool keytool "a JDK 17+ (Debian: apt-get install -y openjdk-17-jdk-headless)"
    need_tool openssl "apt-get install -y openssl"
    need_tool base64 "apt-get install -y coreutils"
}

# --------------------------------------------------------------------------
# fetch: resolve the broker's runtime classpath from Maven Central
# --------------------------------------------------------------------------
write_pom() {
    # write_pom <file> <extra dependency XML>
    cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Throwaway POM generated by tests/kafka/broker.sh: only used to resolve jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.iris-kafka-test</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
$2
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>${DEP_PLUGIN_VERSION}</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
EOF
}

mvn_copy() {
    # mvn_copy <pom dir> <output dir>
    local out
    if ! out="$(cd "$1" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
            -DincludeScope=runtime -DoutputDirectory="$2" 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "mvn could not resolve org.apache.kafka:kafka_${SCALA_BINARY}:${KAFKA_VERSION} (see above; Maven Central must be reachable, or the jars in ~/.m2)"
    fi
}

jar_version() {
    # jar_version <dir> <artifactId>  -> version of <artifactId>-<version>.jar, or empty
    local f
    f="$(find "$1" -maxdepth 1 -name "$2-[0-9]*.jar" -printf '%f\n' | sort | tail -n 1)"
    [[ -n "$f" ]] || return 0
    f="${f#"$2"-}"
    printf '%s\n' "${f%.jar}"
}

do_fetch() {
    if [[ -f "$MARKER" && -d "$LIBS_DIR" ]]; then
        log "Kafka ${KAFKA_VERSION} already fetched: ${LIBS_DIR}"
        return 0
    fi
    need_tool mvn "apt-get install -y maven"
    check_java
    mkdir -p "$CACHE_DIR"

    # Serialise concurrent fetches of the same version (e.g. parallel test runs).
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${CACHE_DIR}.lock"
        flock 9
        if [[ -f "$MARKER" && -d "$LIBS_DIR" ]]; then
            log "Kafka ${KAFKA_VERSION} fetched by a concurrent run: ${LIBS_DIR}"
            exec 9>&-
            return 0
        fi
    fi

    log "fetching org.apache.kafka:kafka_${SCALA_BINARY}:${KAFKA_VERSION} from Maven Central (first time: ~20-60 s)"
    local work="${CACHE_DIR}/work" tmp_libs="${CACHE_DIR}/libs.tmp"
    rm -rf "$work" "$tmp_libs"
    mkdir -p "$work/probe" "$work/final"

    # Pass 1: the broker alone, to learn which slf4j-api / log4j-api it brings.
    write_pom "$work/probe/pom.xml" ""
    mvn_copy "$work/probe" "$work/probe/libs"
    [[ -f "$work/probe/libs/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]] \
        || die "mvn ran but kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar is missing from $work/probe/libs"

    local slf4j log4j extra binding
    slf4j="$(jar_version "$work/probe/libs" slf4j-api)"
    log4j="$(jar_version "$work/probe/libs" log4j-api)"
    [[ -n "$slf4j" ]] || die "the broker's dependencies bring no slf4j-api jar; cannot choose a logging backend"

    # Pass 2: broker + a logging backend bound to exactly those versions.
    # Direct dependencies pin slf4j-api / log4j so Maven's mediation cannot move them.
    extra="    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>${slf4j}</version></dependency>"
    if [[ -n "$log4j" ]]; then
        if [[ "$slf4j" == 1.* ]]; then binding="log4j-slf4j-impl"; else binding="log4j-slf4j2-impl"; fi
        extra+=$'\n'"    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>${log4j}</version></dependency>"
        extra+=$'\n'"    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${log4j}</version></dependency>"
        extra+=$'\n'"    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>${binding}</artifactId><version>${log4j}</version></dependency>"
        binding="${binding}-${log4j}"
    else
        # No log4j2 on the classpath (older brokers): slf4j-simple of the same version.
        extra+=$'\n'"    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>${slf4j}</version></dependency>"
        binding="slf4j-simple-${slf4j}"
    fi
    write_pom "$work/final/pom.xml" "$extra"
    mvn_copy "$work/final" "$tmp_libs"
    [[ -f "$tmp_libs/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]] || die "second mvn pass lost the broker jar"
    [[ -f "$tmp_libs/${binding}.jar" ]] || die "logging backend ${binding}.jar missing from $tmp_libs"

    rm -rf "$LIBS_DIR"
    mv "$tmp_libs" "$LIBS_DIR"
    cp "$work/final/pom.xml" "${CACHE_DIR}/pom.xml"
    rm -rf "$work"
    {
        echo "kafka=${KAFKA_VERSION}"
        echo "slf4j-api=${slf4j}"
        echo "logging-backend=${binding}"
        echo "jars=$(find "$LIBS_DIR" -maxdepth 1 -name '*.jar' | wc -l)"
    } >"$MARKER"
    log "fetched $(find "$LIBS_DIR" -maxdepth 1 -name '*.jar' | wc -l) jars into ${LIBS_DIR} (logging: ${binding})"
    if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

# --------------------------------------------------------------------------
# helpers for start / stop
# --------------------------------------------------------------------------
resolve_state_dir() {
    local d="${1:-$DEFAULT_STATE_DIR}"
    mkdir -p "$d"
    (cd "$d" && pwd)
}

# Is <pid> alive AND the broker of <config>? (guards against pid reuse)
is_our_broker() {
    local pid="$1" config="$2"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 0   # no procfs: trust kill -0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka ${config}"
}

# pid of the running broker for STATE_DIR, or nothing
running_pid() {
    local state="$1" pid
    [[ -f "$state/broker.pid" ]] || return 0
    pid="$(cat "$state/broker.pid")"
    if is_our_broker "$pid" "$state/server.properties"; then printf '%s\n' "$pid"; fi
}

# Pick N distinct free TCP ports on 127.0.0.1.
free_ports() {
    local n="$1"
    if command -v python3 >/dev/null 2>&1; then
        # Bind all N sockets at once (port 0) so the kernel hands out distinct ports.
        python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
        return 0
    fi
    # Fallback: random ports in 20000-59999 that nothing answers on.
    local ports=() p tries=0
    while (( ${#ports[@]} < n )); do
        (( ++tries < 500 )) || die "could not find $n free loopback ports"
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        [[ " ${ports[*]:-} " == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then ports+=("$p"); fi
    done
    echo "${ports[*]}"
}

tcp_open() {
    # tcp_open <port>: does something accept connections on 127.0.0.1:<port>?
    if command -v timeout >/dev/null 2>&1; then
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

port_of() {
    # port_of <config> <LISTENER_NAME>  -> port from the `listeners=` line
    sed -n 's/^listeners=//p' "$1" | tr ',' '\n' | sed -n "s#^$2://[^:]*:\([0-9]*\)\$#\1#p"
}

rand_hex() { openssl rand -hex "$1"; }

# --------------------------------------------------------------------------
# TLS material: throwaway CA + broker certificate (openssl: milliseconds, where
# the equivalent 7 keytool JVM runs took ~10 s on 2 cores), packed as a PKCS#12
# keystore for the broker; keytool then proves Java can read that keystore.
# --------------------------------------------------------------------------
make_tls() {
    local tls="$1" pass="$2" out
    rm -rf "$tls"
    mkdir -p "$tls"
    # Own minimal openssl config: independent of the system's openssl.cnf defaults.
    cat >"$tls/openssl.cnf" <<'EOF_CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = iris-kafka-test CA
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_broker ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF_CNF
    # (chained with && : `set -e` does not apply inside an `if ! ...` command substitution)
    if ! out="$({
        cd "$tls" &&
        # CA: self-signed, 30 days
        openssl req -config openssl.cnf -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
            -keyout ca.key -out ca.pem -extensions v3_ca -subj "/CN=iris-kafka-test CA" &&
        # broker key + CSR, signed by the CA with SAN localhost / 127.0.0.1
        openssl req -config openssl.cnf -new -newkey rsa:2048 -nodes -sha256 \
            -keyout broker.key -out broker.csr -subj "/CN=localhost" &&
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -sha256 -days 30 \
            -set_serial "0x$(openssl rand -hex 8)" -extfile openssl.cnf -extensions v3_broker \
            -out broker.pem &&
        openssl verify -CAfile ca.pem broker.pem &&
        # PKCS#12 keystore (key + cert + CA chain) for ssl.keystore.location
        openssl pkcs12 -export -name broker -inkey broker.key -in broker.pem -certfile ca.pem \
            -keypbe AES-256-CBC -certpbe AES-256-CBC -macalg sha256 \
            -passout "pass:${pass}" -out broker.p12
    } 2>&1)"; then
        printf '%s\n' "$out" >&2
        die "openssl could not create the test CA / broker certificate (in $tls)"
    fi
    # The broker's JVM must be able to open the keystore: check with keytool now
    # rather than get an obscure SSL listener failure later.
    if ! out="$(keytool -list -storetype PKCS12 -keystore "$tls/broker.p12" -storepass "$pass" 2>&1)" \
            || ! grep -q PrivateKeyEntry <<<"$out"; then
        printf '%s\n' "$out" >&2
        die "keytool cannot read the broker keystore $tls/broker.p12"
    fi
    rm -f "$tls/broker.csr" "$tls/openssl.cnf"
    printf '%s\n' "$pass" >"$tls/keystore.password"
    chmod 600 "$tls/ca.key" "$tls/broker.key" "$tls/broker.p12" "$tls/keystore.password"
}

# --------------------------------------------------------------------------
# config files
# --------------------------------------------------------------------------
write_log4j2() {
    # Console only: stdout/stderr of the JVM go to STATE_DIR/broker.log.
    cat >"$1" <<'EOF'
# log4j2 config for the test broker (generated by tests/kafka/broker.sh)
status = warn
name = kafka-test
# keep logging until the broker's own shutdown hook has finished (post-mortems)
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
# request logs are very chatty
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.request.additivity = false
logger.request.appenderRef.stdout.ref = STDOUT
EOF
}

write_server_properties() {
    # write_server_properties <file> <state> <p_plain> <p_sasl> <p_ssl> <p_ctl> <plain_pw> <ks_pw>
    local f="$1" state="$2" pp="$3" ps="$4" pt="$5" pc="$6" plain_pw="$7" ks_pw="$8"
    # NB: never put a comment after a value on the same line ('#' would become part of it).
    cat >"$f" <<EOF
# Single-node KRaft test broker, generated by tests/kafka/broker.sh. Do not edit by hand.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${pc}
controller.listener.names=CONTROLLER

listeners=PLAINTEXT://127.0.0.1:${pp},SASL_PLAINTEXT://127.0.0.1:${ps},SSL://127.0.0.1:${pt},CONTROLLER://127.0.0.1:${pc}
advertised.listeners=PLAINTEXT://127.0.0.1:${pp},SASL_PLAINTEXT://127.0.0.1:${ps},SSL://127.0.0.1:${pt}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT

# SASL on the SASL_PLAINTEXT listener: PLAIN users inline, SCRAM users from 'format --add-scram',
# OAUTHBEARER with Kafka's unsecured token validator (tokens with alg "none", for tests only;
# each connection is authenticated with the client's token of the moment, refused once expired).
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${PLAIN_USER}="${plain_pw}";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";

# TLS on the SSL listener: server authentication only
ssl.keystore.type=PKCS12
ssl.keystore.location=${state}/tls/broker.p12
ssl.keystore.password=${ks_pw}
ssl.key.password=${ks_pw}
ssl.client.auth=none

log.dirs=${state}/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true

# internal topics: one replica, one partition (fast first group join / transaction init)
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0

# room for 4 MiB+ records
message.max.bytes=8388608
replica.fetch.max.bytes=8388608

# the 128 MiB default dedupe buffer is allocated at start: keep the heap small
log.cleaner.dedupe.buffer.size=1048577
# faster recovery after a crash (SIGKILL): a new broker incarnation is only accepted
# once the old one's session has expired (default 9 s); heartbeat must stay below it
broker.session.timeout.ms=5000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

write_env() {
    # write_env <state> <pid>; credentials / ports from the globals set by the caller
    local state="$1" pid="$2" f="$1/env" tmp="$1/env.tmp"
    {
        echo "# generated by tests/kafka/broker.sh — source this file"
        printf 'export KAFKA_TEST_BOOTSTRAP=%q\n' "127.0.0.1:${P_PLAIN}"
        printf 'export KAFKA_TEST_SASL_BOOTSTRAP=%q\n' "127.0.0.1:${P_SASL}"
        printf 'export KAFKA_TEST_SSL_BOOTSTRAP=%q\n' "127.0.0.1:${P_SSL}"
        printf 'export KAFKA_TEST_SSL_CA=%q\n' "${state}/tls/ca.pem"
        printf 'export KAFKA_TEST_PLAIN_USER=%q\n' "${PLAIN_USER}"
        printf 'export KAFKA_TEST_PLAIN_PASSWORD=%q\n' "${PLAIN_PW}"
        printf 'export KAFKA_TEST_SCRAM_USER=%q\n' "${SCRAM_USER}"
        printf 'export KAFKA_TEST_SCRAM_PASSWORD=%q\n' "${SCRAM_PW}"
        printf 'export KAFKA_TEST_BROKER_PID=%q\n' "${pid}"
        printf 'export KAFKA_TEST_STATE_DIR=%q\n' "${state}"
        printf 'export KAFKA_TEST_LIBS=%q\n' "${LIBS_DIR}"
        printf 'export KAFKA_TEST_CONFIG=%q\n' "${state}/server.properties"
    } >"$tmp"
    chmod 600 "$tmp"
    mv "$tmp" "$f"
}

# --------------------------------------------------------------------------
# launch + readiness
# --------------------------------------------------------------------------
launch_and_wait() {
    local state="$1" config="$1/server.properties" blog="$1/broker.log"
    local java pid t0 deadline now ports p ready
    java="$(java_bin)"
    ports=("$(port_of "$config" PLAINTEXT)" "$(port_of "$config" SASL_PLAINTEXT)"
           "$(port_of "$config" SSL)" "$(port_of "$config" CONTROLLER)")
    for p in "${ports[@]}"; do
        [[ -n "$p" ]] || die "cannot read the listener ports from $config"
        if tcp_open "$p"; then
            die "port 127.0.0.1:$p (from $config) is already in use by another process"
        fi
    done

    # keep the previous run's log (restart-same) for post-mortems
    if [[ -f "$blog" ]]; then mv -f "$blog" "$blog.prev"; fi
    : >"$blog"
    t0="$(date +%s.%N)"
    # Own session (setsid): a Ctrl-C / process-group kill of the caller leaves it alone.
    local launcher=()
    if command -v setsid >/dev/null 2>&1; then launcher=(setsid); fi
    # shellcheck disable=SC2086  # KAFKA_TEST_JAVA_OPTS is deliberately word-split
    "${launcher[@]}" "$java" -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="file:${state}/log4j2.properties" \
        -Dkafka.logs.dir="${state}" \
        ${KAFKA_TEST_JAVA_OPTS:-} \
        -cp "${LIBS_DIR}/*" kafka.Kafka "$config" \
        </dev/null >>"$blog" 2>&1 &
    pid=$!
    echo "$pid" >"$state/broker.pid"

    deadline=$(( $(date +%s) + START_TIMEOUT ))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$state/broker.pid"
            log "broker process $pid exited during start-up; last lines of $blog:"
            tail -n 60 "$blog" >&2 || true
            die "Kafka broker failed to start (state dir: $state)"
        fi
        ready=1
        grep -qE 'Kafka Server started|Transitioning from RECOVERY to RUNNING' "$blog" || ready=0
        if (( ready )); then
            for p in "${ports[@]}"; do tcp_open "$p" || { ready=0; break; }; done
        fi
        if (( ready )) && command -v kcat >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then
            # optional: a real metadata request over PLAINTEXT
            timeout 10 kcat -b "127.0.0.1:${ports[0]}" -L -m 5 >/dev/null 2>&1 || ready=0
        fi
        (( ready )) && break
        now="$(date +%s)"
        if (( now >= deadline )); then
            log "broker not ready after ${START_TIMEOUT} s; last lines of $blog:"
            tail -n 60 "$blog" >&2 || true
            kill -TERM "$pid" 2>/dev/null || true
            sleep 2
            kill -KILL "$pid" 2>/dev/null || true
            rm -f "$state/broker.pid"
            die "Kafka broker did not become ready within ${START_TIMEOUT} s (state dir: $state)"
        fi
        sleep 0.25
    done
    BROKER_PID="$pid"
    log "broker ready (pid $pid) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}

# --------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------
do_start() {
    local state pid
    state="$(resolve_state_dir "${1:-}")"
    check_runtime_tools
    pid="$(running_pid "$state")"
    [[ -z "$pid" ]] || die "a broker is already running for $state (pid $pid); run '$0 stop $state' first"
    do_fetch

    local t_start
    t_start="$(date +%s.%N)"
    # Fresh state: remove only what this script creates (STATE_DIR may hold other files).
    rm -rf "$state/data" "$state/tls"
    rm -f "$state/server.properties" "$state/log4j2.properties" "$state/env" \
          "$state/broker.log" "$state/broker.log.prev" "$state/broker.pid" "$state/format.log"

    read -r P_PLAIN P_SASL P_SSL P_CTL <<<"$(free_ports 4)"
    [[ -n "${P_CTL:-}" ]] || die "could not pick free ports"
    PLAIN_PW="$(rand_hex 12)"
    SCRAM_PW="$(rand_hex 12)"
    local ks_pw cluster_id
    ks_pw="$(rand_hex 12)"
    # 16 random bytes, base64url without padding = 22 chars (a Kafka Uuid).
    # Kafka's own Uuid.randomUuid() never starts with '-': the storage tool's
    # argument parser would read such an id as an option (1 start in 64 failed
    # that way). Draw again until the first character is not '-'.
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
        cluster_id="$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    [[ ${#cluster_id} -eq 22 ]] || die "bad cluster id '$cluster_id'"

    make_tls "$state/tls" "$ks_pw"
    write_log4j2 "$state/log4j2.properties"
    write_server_properties "$state/server.properties" "$state" \
        "$P_PLAIN" "$P_SASL" "$P_SSL" "$P_CTL" "$PLAIN_PW" "$ks_pw"
    chmod 600 "$state/server.properties"

    log "formatting KRaft storage (cluster id $cluster_id)"
    if ! "$(java_bin)" -Xmx256m -Dlog4j2.configurationFile="file:${state}/log4j2.properties" \
            -cp "${LIBS_DIR}/*" kafka.tools.StorageTool format \
            --cluster-id="$cluster_id" -c "$state/server.properties" \
            --add-scram "SCRAM-SHA-256=[name=${SCRAM_USER},password=${SCRAM_PW}]" \
            --add-scram "SCRAM-SHA-512=[name=${SCRAM_USER},password=${SCRAM_PW}]" \
            >"$state/format.log" 2>&1; then
        tail -n 40 "$state/format.log" >&2 || true
        die "kafka.tools.StorageTool format failed (log: $state/format.log)"
    fi

    launch_and_wait "$state"
    write_env "$state" "$BROKER_PID"
    log "total start time $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s (Kafka ${KAFKA_VERSION})"
    log "PLAINTEXT 127.0.0.1:${P_PLAIN}  SASL_PLAINTEXT 127.0.0.1:${P_SASL}  SSL 127.0.0.1:${P_SSL}  CONTROLLER 127.0.0.1:${P_CTL}"
    echo "$state/env"
}

do_restart_same() {
    local state pid
    state="$(resolve_state_dir "${1:-}")"
    check_runtime_tools
    [[ -f "$state/server.properties" && -f "$state/env" && -d "$state/data" ]] \
        || die "no previous broker in $state (need server.properties, env and data/); use 'start'"
    pid="$(running_pid "$state")"
    [[ -z "$pid" ]] || die "a broker is already running for $state (pid $pid); run '$0 stop $state' first"
    do_fetch
    # Credentials, ports and paths come from the previous env file.
    # shellcheck disable=SC1091
    source "$state/env"
    [[ "$KAFKA_TEST_LIBS" == "$LIBS_DIR" ]] \
        || log "note: previous run used libs $KAFKA_TEST_LIBS; now $LIBS_DIR"
    P_PLAIN="${KAFKA_TEST_BOOTSTRAP##*:}"
    P_SASL="${KAFKA_TEST_SASL_BOOTSTRAP##*:}"
    P_SSL="${KAFKA_TEST_SSL_BOOTSTRAP##*:}"
    PLAIN_PW="$KAFKA_TEST_PLAIN_PASSWORD"
    SCRAM_PW="$KAFKA_TEST_SCRAM_PASSWORD"
    [[ -f "$state/log4j2.properties" ]] || write_log4j2 "$state/log4j2.properties"
    launch_and_wait "$state"
    write_env "$state" "$BROKER_PID"
    echo "$state/env"
}

do_stop() {
    local state pid i
    state="$(resolve_state_dir "${1:-}")"
    if [[ ! -f "$state/broker.pid" ]]; then
        log "no broker running for $state (no pid file)"
        return 0
    fi
    pid="$(cat "$state/broker.pid")"
    if ! is_our_broker "$pid" "$state/server.properties"; then
        log "broker pid $pid is not running (stale pid file removed)"
        rm -f "$state/broker.pid"
        return 0
    fi
    log "stopping broker pid $pid (SIGTERM)"
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < STOP_TIMEOUT * 4; i++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "broker pid $pid still alive after ${STOP_TIMEOUT} s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for (( i = 0; i < 40; i++ )); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && die "broker pid $pid survived SIGKILL"
    fi
    rm -f "$state/broker.pid"
    log "broker stopped"
}

do_status() {
    local state pid
    state="$(resolve_state_dir "${1:-}")"
    pid="$(running_pid "$state")"
    if [[ -n "$pid" ]]; then
        echo "running (pid $pid, state dir $state, env $state/env)"
        return 0
    fi
    echo "not running (state dir $state)"
    return 1
}

usage() {
    sed -n '3,/^# =====/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

main() {
    local cmd="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "$cmd" in
        fetch)        [[ $# -eq 0 ]] || usage; do_fetch ;;
        start)        [[ $# -le 1 ]] || usage; do_start "${1:-}" ;;
        stop)         [[ $# -le 1 ]] || usage; do_stop "${1:-}" ;;
        restart-same) [[ $# -le 1 ]] || usage; do_restart_same "${1:-}" ;;
        status)       [[ $# -le 1 ]] || usage; do_status "${1:-}" ;;
        -h|--help|help|"") usage ;;
        *) log "unknown command: $cmd"; usage ;;
    esac
}

main "$@"
