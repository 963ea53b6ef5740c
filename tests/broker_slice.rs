//! The first end-to-end slice against the real Apache Kafka broker, every call through the
//! host emulator: produce with every field, consume and read every field, acknowledge, commit,
//! close; large values both ways; errors with their Kafka codes; SASL and TLS listeners.

mod support;

use support::client::{Bridge, Consumed, Rec, Transfer};
use support::{create_topic, unique, Broker};

fn consumer_cfg<'a>(broker: &'a Broker, group: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("bootstrap.servers", &broker.bootstrap), ("group.id", group), ("auto.offset.reset", "earliest")]
}

fn drain(b: &Bridge, c: i64, n: usize) -> Vec<Consumed> {
    let mut out = Vec::new();
    while out.len() < n {
        match b.poll_until(c, 30_000).unwrap() {
            Some(r) => out.push(r),
            None => panic!("only {} of {n} records arrived within 30 s", out.len()),
        }
    }
    out
}

#[test]
fn produce_and_consume_every_field() {
    let broker = Broker::from_env();
    let topic = unique("slice");
    create_topic(&broker.bootstrap, &topic, 3);
    let b = support::bridge();
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let binary: Vec<u8> = (0..=255u8).collect();
    let recs = vec![
        Rec {
            topic: topic.clone(),
            partition: Some(2),
            key: Some(b"k1".to_vec()),
            value: Some(b"hello, \xc3\xa9t\xc3\xa9".to_vec()),
            headers: vec![
                ("h".into(), Some(b"1".to_vec())),
                ("h".into(), Some(binary.clone())),
                ("null".into(), None),
                ("empty".into(), Some(Vec::new())),
            ],
            timestamp: Some(1_700_000_000_123),
        },
        Rec { topic: topic.clone(), partition: Some(2), key: None, value: None, ..Default::default() },
        Rec { topic: topic.clone(), partition: Some(2), key: Some(Vec::new()), value: Some(Vec::new()), ..Default::default() },
        Rec { topic: topic.clone(), partition: Some(2), key: Some(binary.clone()), value: Some(binary.clone()), ..Default::default() },
    ];
    let mut delivered = Vec::new();
    for r in &recs {
        let (part, off, calls) = b.produce(p, r).unwrap();
        assert_eq!(calls, 1, "a small record takes one call");
        assert_eq!(part, 2, "explicit partition honoured");
        delivered.push(off);
    }
    assert_eq!(b.producer_close(p, 5000).unwrap(), 0);

    let group = unique("g");
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let got = drain(&b, c, recs.len());
    for ((r, g), off) in recs.iter().zip(&got).zip(&delivered) {
        assert_eq!(g.calls, 1, "a small consumed record takes one call");
        assert_eq!((g.topic.as_str(), g.partition, g.offset), (topic.as_str(), 2, *off));
        assert_eq!(g.key, r.key, "key byte-exact (null stays null, empty stays empty)");
        assert_eq!(g.value, r.value, "value byte-exact");
        assert_eq!(g.headers, r.headers, "headers in order, repeated names, null and binary values");
        if let Some(ts) = r.timestamp {
            assert_eq!(g.timestamp, ts);
        } else {
            assert!(g.timestamp > 1_600_000_000_000, "librdkafka stamps the record");
        }
        b.ack(c, &g.topic, g.partition, g.offset).unwrap();
    }
    assert_eq!(b.commit(c).unwrap(), 1, "one partition's offset moved");
    assert_eq!(b.commit(c).unwrap(), 0, "nothing new to commit");
    b.consumer_close(c).unwrap();

    // The group resumes after the committed offset: only a new record comes.
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let (_, off, _) = b.produce(p, &Rec { topic: topic.clone(), partition: Some(2), value: Some(b"next".to_vec()), ..Default::default() }).unwrap();
    b.producer_close(p, 5000).unwrap();
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let next = drain(&b, c, 1).remove(0);
    assert_eq!((next.offset, next.value.as_deref()), (off, Some(&b"next"[..])));
    b.consumer_close(c).unwrap();
}

#[test]
fn commit_stops_at_the_first_unacknowledged_record() {
    let broker = Broker::from_env();
    let topic = unique("gap");
    create_topic(&broker.bootstrap, &topic, 1);
    let b = support::bridge();
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    for i in 0..3 {
        b.produce(p, &Rec { topic: topic.clone(), value: Some(vec![b'0' + i]), ..Default::default() }).unwrap();
    }
    b.producer_close(p, 5000).unwrap();
    let group = unique("g");
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let got = drain(&b, c, 3);
    b.ack(c, &topic, 0, got[0].offset).unwrap();
    b.ack(c, &topic, 0, got[2].offset).unwrap();
    b.consumer_close(c).unwrap();
    // Record 1 was never acknowledged: the group starts again from it, not after record 2.
    let c = b.consumer_new(&consumer_cfg(&broker, &group), &topic).unwrap();
    let again = drain(&b, c, 2);
    assert_eq!(again.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![got[1].offset, got[2].offset]);
    let e = b.ack(c, &topic, 0, 999).unwrap_err();
    assert_eq!(e.name, "BRIDGE_NO_RECORD");
    b.consumer_close(c).unwrap();
}

fn round_trip_sizes(transfer: Transfer, sizes: &[usize]) {
    let broker = Broker::from_env();
    let topic = unique("big");
    create_topic(&broker.bootstrap, &topic, 1);
    let mut b = support::bridge();
    b.transfer = transfer;
    let p = b
        .producer_new(&[("bootstrap.servers", &broker.bootstrap), ("message.max.bytes", "8000000")])
        .unwrap();
    let mut seed = 0x9e3779b97f4a7c15u64;
    let values: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        })
        .collect();
    for v in &values {
        let key = vec![b'k'; 40_000.min(v.len())];
        b.produce(p, &Rec { topic: topic.clone(), key: Some(key), value: Some(v.clone()), ..Default::default() }).unwrap();
    }
    b.producer_close(p, 10_000).unwrap();
    let c = b
        .consumer_new(
            &[
                ("bootstrap.servers", &broker.bootstrap),
                ("group.id", &unique("g")),
                ("auto.offset.reset", "earliest"),
                ("fetch.message.max.bytes", "8000000"),
            ],
            &topic,
        )
        .unwrap();
    let got = drain(&b, c, values.len());
    for (v, g) in values.iter().zip(&got) {
        assert_eq!(g.value.as_ref().map(Vec::len), Some(v.len()));
        assert!(g.value.as_ref() == Some(v), "value of {} bytes is byte-exact", v.len());
        assert_eq!(g.key.as_ref().map(Vec::len), Some(40_000.min(v.len())));
    }
    b.consumer_close(c).unwrap();
}

#[test]
fn large_values_in_chunks_with_the_default_zf_heap() {
    round_trip_sizes(Transfer::Chunks, &[0, 1, 32 * 1024, 1024 * 1024, 3_641_144]);
}

#[test]
fn large_values_as_long_strings() {
    round_trip_sizes(Transfer::Long, &[32 * 1024, 1024 * 1024, 3_641_144, 5_000_000]);
}

#[test]
fn errors_carry_kafka_codes_names_and_classes() {
    let broker = Broker::from_env();
    let b = support::bridge();
    let topic = unique("err");
    let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap)]).unwrap();
    let e = b
        .produce(p, &Rec { topic: topic.clone(), value: Some(vec![0; 2_000_000]), ..Default::default() })
        .unwrap_err();
    assert_eq!((e.code, e.name.as_str(), e.retriable, e.fatal), (10, "MSG_SIZE_TOO_LARGE", false, false), "{e}");
    let e = b.produce(p, &Rec { topic: topic.clone(), partition: Some(99), ..Default::default() }).unwrap_err();
    assert_eq!(e.name, "UNKNOWN_PARTITION", "{e}");
    b.producer_close(p, 1000).unwrap();
    let e = b.produce(p, &Rec { topic, ..Default::default() }).unwrap_err();
    assert_eq!(e.name, "BRIDGE_BAD_HANDLE");
    // Nobody listens on port 1: the delivery times out, a retriable error.
    let p = b.producer_new(&[("bootstrap.servers", "127.0.0.1:1"), ("message.timeout.ms", "1500")]).unwrap();
    let e = b.produce(p, &Rec { topic: "t".into(), ..Default::default() }).unwrap_err();
    assert_eq!((e.name.as_str(), e.retriable), ("MSG_TIMED_OUT", true), "{e}");
    b.producer_close(p, 0).unwrap();
}

fn secure_round_trip(cfg: &[(&str, &str)]) {
    let broker = Broker::from_env();
    let topic = unique("sec");
    create_topic(&broker.bootstrap, &topic, 1);
    let b = support::bridge();
    let p = b.producer_new(cfg).unwrap();
    let (_, off, _) = b.produce(p, &Rec { topic: topic.clone(), value: Some(b"secret stuff".to_vec()), ..Default::default() }).unwrap();
    b.producer_close(p, 5000).unwrap();
    let group = unique("g");
    let mut ccfg = cfg.to_vec();
    ccfg.extend([("group.id", group.as_str()), ("auto.offset.reset", "earliest")]);
    let c = b.consumer_new(&ccfg, &topic).unwrap();
    let r = drain(&b, c, 1).remove(0);
    assert_eq!((r.offset, r.value.as_deref()), (off, Some(&b"secret stuff"[..])));
    b.consumer_close(c).unwrap();
}

#[test]
fn sasl_plain_scram_and_tls_listeners() {
    let k = Broker::from_env();
    secure_round_trip(&[
        ("bootstrap.servers", &k.sasl_bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", &k.plain_user),
        ("sasl.password", &k.plain_password),
    ]);
    secure_round_trip(&[
        ("bootstrap.servers", &k.sasl_bootstrap),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("sasl.username", &k.scram_user),
        ("sasl.password", &k.scram_password),
    ]);
    secure_round_trip(&[
        ("bootstrap.servers", &k.ssl_bootstrap),
        ("security.protocol", "SSL"),
        ("ssl.ca.location", &k.ssl_ca),
    ]);
}

#[test]
fn wrong_password_fails_in_bounded_time_without_leaking_it() {
    let k = Broker::from_env();
    let b = support::bridge();
    let wrong = "Wr0ng-Pa55word-xyz";
    let p = b
        .producer_new(&[
            ("bootstrap.servers", &k.sasl_bootstrap),
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", &k.scram_user),
            ("sasl.password", wrong),
            ("message.timeout.ms", "5000"),
        ])
        .unwrap();
    let started = std::time::Instant::now();
    let e = b.produce(p, &Rec { topic: unique("auth"), ..Default::default() }).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "bounded");
    assert!(!e.message.contains(wrong) && !b.last_error().message.contains(wrong), "{e}");
    assert!(
        matches!(e.name.as_str(), "MSG_TIMED_OUT" | "AUTHENTICATION" | "SASL_AUTHENTICATION_FAILED"),
        "{e}"
    );
    b.producer_close(p, 0).unwrap();
}

#[test]
fn every_compression_codec_round_trips() {
    let broker = Broker::from_env();
    let b = support::bridge();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(codec);
        create_topic(&broker.bootstrap, &topic, 1);
        let p = b.producer_new(&[("bootstrap.servers", &broker.bootstrap), ("compression.type", codec)]).unwrap();
        let value = format!("{codec} ").repeat(2000).into_bytes();
        b.produce(p, &Rec { topic: topic.clone(), value: Some(value.clone()), ..Default::default() }).unwrap();
        b.producer_close(p, 5000).unwrap();
        let c = b.consumer_new(&consumer_cfg(&broker, &unique("g")), &topic).unwrap();
        assert_eq!(drain(&b, c, 1)[0].value.as_ref(), Some(&value), "{codec}");
        b.consumer_close(c).unwrap();
    }
}

/// Sends a record every 1.5 s for `secs` seconds, each waited for and read back before the
/// next (the clients idle in between).
fn send_and_read_for(b: &Bridge, p: i64, c: i64, topic: &str, secs: u64) {
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < std::time::Duration::from_secs(secs) {
        let value = format!("record {n}").into_bytes();
        let at = started.elapsed().as_secs();
        b.produce(p, &Rec { topic: topic.to_owned(), value: Some(value.clone()), ..Default::default() })
            .unwrap_or_else(|e| panic!("{at} s in, record {n} was not sent: {e}"));
        let r = b.poll_until(c, 10_000).unwrap_or_else(|e| panic!("{at} s in, reading record {n}: {e}"));
        assert_eq!(r.and_then(|r| r.value).as_deref(), Some(&value[..]), "{at} s in, record {n}");
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    assert!(n as u64 >= secs / 3, "{n} records in {secs} s");
}

/// OAUTHBEARER tokens are renewed while the clients run. librdkafka asks for a new token at
/// 80 % of the old one's life with an event that its own refresh (here: unsecured tokens, as
/// the test broker accepts) serves only when that event is handled, not merely polled. With
/// 6-second tokens, and connections closed after 1 s idle so that each new connection
/// authenticates with the token of the moment (the producer's between records, the
/// consumer's to the group coordinator between heartbeats), records must keep going both
/// ways for three token lifetimes.
#[test]
fn oauthbearer_tokens_are_renewed_while_clients_run() {
    let k = Broker::from_env();
    let topic = unique("oauth");
    create_topic(&k.bootstrap, &topic, 1);
    let b = support::bridge();
    let auth = [
        ("bootstrap.servers", k.sasl_bootstrap.as_str()),
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=iris lifeSeconds=6"),
        ("connections.max.idle.ms", "1000"),
    ];
    let mut pcfg = auth.to_vec();
    pcfg.push(("message.timeout.ms", "8000"));
    let p = b.producer_new(&pcfg).unwrap();
    let group = unique("g");
    let mut ccfg = auth.to_vec();
    ccfg.extend([("group.id", group.as_str()), ("auto.offset.reset", "earliest")]);
    let c = b.consumer_new(&ccfg, &topic).unwrap();
    send_and_read_for(&b, p, c, &topic, 18);
    b.consumer_close(c).unwrap();
    b.producer_close(p, 5000).unwrap();
}

/// Base64 of `bytes`: the standard alphabet with padding (HTTP Basic), or the URL-safe one
/// without (JWT parts).
fn base64(bytes: &[u8], url: bool) -> String {
    let abc: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(abc[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

/// An OAuth token endpoint for the OIDC test, on loopback: each POST that presents the
/// expected client id and secret (HTTP Basic, the client-credentials grant) gets an
/// unsigned token for subject "iris" living `life` seconds (as the test broker's validator
/// accepts); any other request is refused with 401. Counts both.
struct TokenEndpoint {
    url: String,
    issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn token_endpoint(client_id: &str, secret: &str, life: u64) -> TokenEndpoint {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let expected = format!("basic {}", base64(format!("{client_id}:{secret}").as_bytes(), false));
    let (issued, refused) = (std::sync::Arc::default(), std::sync::Arc::default());
    let (i, r): (std::sync::Arc<std::sync::atomic::AtomicUsize>, std::sync::Arc<std::sync::atomic::AtomicUsize>) =
        (std::sync::Arc::clone(&issued), std::sync::Arc::clone(&refused));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut auth, mut length, mut line) = (String::new(), 0usize, String::new());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                match name.trim().to_ascii_lowercase().as_str() {
                    "authorization" => auth = value.trim().to_owned(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let grant = String::from_utf8_lossy(&body).contains("grant_type=client_credentials");
            let (status, json) = if request_line.starts_with("POST ") && grant && auth.to_ascii_lowercase() == expected.to_ascii_lowercase() {
                i.fetch_add(1, Ordering::SeqCst);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let header = base64(br#"{"alg":"none"}"#, true);
                let claims = base64(format!(r#"{{"sub":"iris","iat":{now},"exp":{}}}"#, now + life).as_bytes(), true);
                ("200 OK", format!(r#"{{"access_token":"{header}.{claims}.","token_type":"bearer","expires_in":{life}}}"#))
            } else {
                r.fetch_add(1, Ordering::SeqCst);
                ("401 Unauthorized", r#"{"error":"invalid_client"}"#.to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    TokenEndpoint { url, issued, refused }
}

/// OAUTHBEARER with librdkafka's OIDC client, set up as the adapters send it: the SASL
/// mechanism and the Credentials (the OAuth client's id and secret) as host settings, the
/// method and the token endpoint as lookup-table rows. Both clients fetch tokens from the
/// endpoint and fetch new ones before they expire (15-second tokens, renewed at 12 s; the
/// broker ends a session when its token expires, so connections re-authenticate or are made
/// anew with the token of the moment), records keep going both ways for 25 s, and a wrong
/// secret fails in bounded time without appearing in any error.
#[test]
fn oidc_client_credentials_from_the_credentials_setting() {
    use std::sync::atomic::Ordering;
    let k = Broker::from_env();
    let topic = unique("oidc");
    create_topic(&k.bootstrap, &topic, 1);
    let secret = "0idc-Cl1ent-S3cret";
    let idp = token_endpoint("iris-client", secret, 15);
    let b = support::bridge();
    let cfg = |password: &'static str| {
        vec![
            ("host:Servers", k.sasl_bootstrap.clone()),
            ("host:SecurityProtocol", "SASL_PLAINTEXT".to_owned()),
            ("host:SASLMechanism", "OAUTHBEARER".to_owned()),
            ("host:Username", "iris-client".to_owned()),
            ("host:Password", password.to_owned()),
            ("sasl.oauthbearer.method", "oidc".to_owned()),
            ("sasl.oauthbearer.token.endpoint.url", idp.url.clone()),
            ("connections.max.idle.ms", "1000".to_owned()),
            ("message.timeout.ms", "8000".to_owned()),
        ]
    };
    fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
    let pcfg = cfg(secret);
    let p = b.producer_new(&refs(&pcfg)).unwrap();
    let group = unique("g");
    let mut ccfg = cfg(secret);
    ccfg.extend([("host:GroupID", group.clone()), ("host:AutoOffsetReset", "earliest".to_owned())]);
    ccfg.retain(|(k, _)| *k != "message.timeout.ms");
    let c = b.consumer_new(&refs(&ccfg), &topic).unwrap();
    send_and_read_for(&b, p, c, &topic, 25);
    let issued = idp.issued.load(Ordering::SeqCst);
    assert!(issued >= 4, "two clients, each a first token and at least one renewal in 25 s: {issued} issued");
    assert_eq!(idp.refused.load(Ordering::SeqCst), 0);
    b.consumer_close(c).unwrap();
    b.producer_close(p, 5000).unwrap();

    // a wrong secret: refused by the endpoint, no connection authenticates
    let wrong = cfg("Wr0ng-S3cret-xyz");
    let p = b.producer_new(&refs(&wrong)).unwrap();
    let started = std::time::Instant::now();
    let e = b.produce(p, &Rec { topic: topic.clone(), ..Default::default() }).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "bounded");
    assert!(idp.refused.load(Ordering::SeqCst) > 0, "the endpoint was asked with the wrong secret");
    let logs = b.logs(p).unwrap().1;
    for text in [e.message.clone(), b.last_error().message].into_iter().chain(logs.into_iter().map(|(_, _, m)| m)) {
        assert!(!text.contains("Wr0ng-S3cret-xyz") && !text.contains(secret), "a secret leaked: {text}");
    }
    b.producer_close(p, 0).unwrap();
}
