//! Test support shared by tests, examples and benches: the IRIS host emulator, a client that
//! calls the library the way the ObjectScript adapters do, and the real broker's addresses.
#![allow(dead_code)]

pub mod client;
pub mod workers;
pub mod zfhost;

use std::sync::atomic::{AtomicUsize, Ordering};

/// The real broker's addresses and users, from the environment `tests/kafka/broker.sh start`
/// writes (sourced by `tests/run-all.sh`).
#[derive(Debug, Clone)]
pub struct Broker {
    pub bootstrap: String,
    pub sasl_bootstrap: String,
    pub ssl_bootstrap: String,
    pub ssl_ca: String,
    pub plain_user: String,
    pub plain_password: String,
    pub scram_user: String,
    pub scram_password: String,
}

fn need(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real Kafka broker. Run the whole suite with \
             `tests/run-all.sh` (it starts the broker), or start it yourself with \
             `tests/kafka/broker.sh start && . target/kafka-test/env` (needs Java 17 and Maven)."
        )
    })
}

impl Broker {
    /// The broker of this test run; panics with the command to run when it is not there.
    pub fn from_env() -> Broker {
        Broker {
            bootstrap: need("KAFKA_TEST_BOOTSTRAP"),
            sasl_bootstrap: need("KAFKA_TEST_SASL_BOOTSTRAP"),
            ssl_bootstrap: need("KAFKA_TEST_SSL_BOOTSTRAP"),
            ssl_ca: need("KAFKA_TEST_SSL_CA"),
            plain_user: need("KAFKA_TEST_PLAIN_USER"),
            plain_password: need("KAFKA_TEST_PLAIN_PASSWORD"),
            scram_user: need("KAFKA_TEST_SCRAM_USER"),
            scram_password: need("KAFKA_TEST_SCRAM_PASSWORD"),
        }
    }
}

/// A name unique to this process and call, for topics and groups.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() % 1_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a topic with `partitions` partitions on the real broker (test setup, not the
/// product: the rdkafka admin client used directly).
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(20)));
    let new = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
    let fut = admin.create_topics(&new, &opts);
    let res = block_on(fut).expect("create_topics");
    for r in res {
        if let Err((t, e)) = r {
            if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                panic!("creating topic {t}: {e}");
            }
        }
    }
}

/// A minimal executor for the admin client's futures (no async runtime in this project).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::{Arc, Condvar, Mutex};
    use std::task::{Context, Poll, Wake, Waker};
    struct Signal(Mutex<bool>, Condvar);
    impl Wake for Signal {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() = true;
            self.1.notify_one();
        }
    }
    let signal = Arc::new(Signal(Mutex::new(false), Condvar::new()));
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let mut woken = signal.0.lock().unwrap();
        while !*woken {
            woken = signal.1.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// Loads the built library into a fresh emulated IRIS job.
pub fn bridge() -> client::Bridge {
    client::Bridge::new(zfhost::ZfHost::load(&zfhost::cdylib_path()).expect("load the cdylib"))
}
