//! Safe wrappers over the few C calls the safe rdkafka API does not offer: signal masks for
//! the threads the library starts, and librdkafka's error names.

use std::ffi::CStr;

/// Runs `f` with every signal blocked in the calling thread, then restores the mask. Threads
/// started inside `f` inherit the full mask, so they never take a signal meant for the IRIS
/// job (the `$ZF` rules: a library must not disturb the process's signal handling).
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data; sigfillset initialises it fully before use and
    // pthread_sigmask only reads `all` and writes `old`, both valid for the call.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    struct Restore(libc::sigset_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the mask saved above; the pointer is valid for the call.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut());
            }
        }
    }
    let _restore = Restore(old);
    f()
}

/// librdkafka's symbolic name for an error code (`MSG_SIZE_TOO_LARGE`, `_TRANSPORT`).
pub fn rdkafka_err_name(code: i32) -> String {
    use rdkafka::bindings::rd_kafka_resp_err_t;
    // Only codes librdkafka defines are converted; any other gets a generic name.
    let Ok(err) = rd_kafka_resp_err_t::try_from(code) else {
        return format!("ERR_{code}");
    };
    // SAFETY: rd_kafka_err2name takes any defined code and returns a pointer to a static,
    // NUL-terminated string.
    unsafe {
        let p = rdkafka::bindings::rd_kafka_err2name(err);
        if p.is_null() {
            return format!("ERR_{code}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Has librdkafka's background thread serve the client's SASL callbacks: the OAUTHBEARER
/// token refresh, for a client configured with a SASL queue (`enable_sasl_queue`, which the
/// config module sets for OAUTHBEARER). librdkafka otherwise puts the refresh on the queue the
/// host's calls poll, as an event that only a handler of its own would serve; polled and
/// destroyed, it refreshes nothing, and the token expires. Served in the background, a token
/// is also renewed while the host does not call. Nothing to do for a client without SASL
/// callbacks. The background thread starts with every signal blocked.
pub fn sasl_callbacks_in_background<C: rdkafka::client::ClientContext>(
    client: &rdkafka::client::Client<C>,
) -> crate::error::Result<()> {
    use rdkafka::bindings as rd;
    // SAFETY: the client is live for the call; an error object returned is ours, read and
    // destroyed here (its string is copied before).
    let (code, text) = with_signals_blocked(|| unsafe {
        let err = rd::rd_kafka_sasl_background_callbacks_enable(client.native_ptr());
        if err.is_null() {
            return (rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR, String::new());
        }
        let code = rd::rd_kafka_error_code(err);
        let text = CStr::from_ptr(rd::rd_kafka_error_string(err)).to_string_lossy().into_owned();
        rd::rd_kafka_error_destroy(err);
        (code, text)
    });
    match code {
        rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR | rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOT_CONFIGURED => Ok(()),
        _ => Err(crate::error::BridgeError::from_code(code.into(), &format!("serving SASL callbacks in the background: {text}"))),
    }
}

/// The outcome a librdkafka error object (null: success) stands for; the object is destroyed.
///
/// # Safety
/// `err` is null or an error object returned to us and not used afterwards.
unsafe fn take_error(err: *mut rdkafka::bindings::rd_kafka_error_t) -> Result<(), rdkafka::types::RDKafkaErrorCode> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: per the contract; read, then destroyed once.
    unsafe {
        let code = rdkafka::bindings::rd_kafka_error_code(err);
        rdkafka::bindings::rd_kafka_error_destroy(err);
        Err(code.into())
    }
}

/// librdkafka's version string.
pub fn rdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}

/// librdkafka's compiled-in features (`builtin.features`: gzip, snappy, ssl, sasl_scram, ...).
pub fn rdkafka_features() -> String {
    rdkafka::ClientConfig::new()
        .create_native_config()
        .and_then(|c| c.get("builtin.features"))
        .unwrap_or_default()
}

/// Commits `offsets` for `consumer` and waits at most `timeout` for the broker's answer
/// (librdkafka's synchronous commit has no time limit and can block for minutes while the
/// group coordinator is unreachable). A commit still unanswered then is reported as
/// `TIMED_OUT` (retriable); its late answer is discarded.
pub fn commit_within<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    offsets: &rdkafka::TopicPartitionList,
    timeout: std::time::Duration,
) -> crate::error::Result<()> {
    use rdkafka::bindings as rd;
    use rdkafka::consumer::Consumer;
    use rdkafka::types::RDKafkaErrorCode;
    let rk = consumer.client().native_ptr();
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `rk` is the live client of `consumer` (borrowed for the call) and `offsets` a
    // valid list; the queue we create is destroyed on every path below, and an event taken
    // from it is destroyed after its fields (and its partition list, owned by the event) are read.
    unsafe {
        let q = rd::rd_kafka_queue_new(rk);
        let err = rd::rd_kafka_commit_queue(rk, offsets.ptr(), q, None, std::ptr::null_mut());
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            rd::rd_kafka_queue_destroy(q);
            return Err(crate::error::BridgeError::from_code(RDKafkaErrorCode::from(err), "commit"));
        }
        let ev = rd::rd_kafka_queue_poll(q, ms);
        if ev.is_null() {
            rd::rd_kafka_queue_destroy(q);
            return Err(crate::error::BridgeError::from_code(
                RDKafkaErrorCode::OperationTimedOut,
                &format!("commit: no answer within {} ms", ms),
            ));
        }
        let (_, result) = commit_event_result(ev);
        rd::rd_kafka_queue_destroy(q);
        result
    }
}

/// Reads and destroys an offset-commit event: its opaque value and its outcome (the first
/// per-partition error counts as the outcome).
///
/// # Safety
/// `ev` must be a live offset-commit event; it is destroyed here.
unsafe fn commit_event_result(ev: *mut rdkafka::bindings::rd_kafka_event_t) -> (usize, crate::error::Result<()>) {
    use rdkafka::bindings as rd;
    use rdkafka::types::RDKafkaErrorCode;
    let opaque = rd::rd_kafka_event_opaque(ev) as usize;
    let mut err = rd::rd_kafka_event_error(ev);
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        if let Some(e) = list_elems(rd::rd_kafka_event_topic_partition_list(ev))
            .iter()
            .find(|e| e.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
        {
            err = e.err;
        }
    }
    rd::rd_kafka_event_destroy(ev);
    let result = if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(crate::error::BridgeError::from_code(RDKafkaErrorCode::from(err), "commit"))
    };
    (opaque, result)
}

/// A private queue for asynchronous offset commits: a commit is sent with an id and its
/// outcome collected later, so the host does not wait a broker round trip per batch. Must be
/// dropped before its consumer is destroyed.
pub struct CommitQueue {
    q: *mut rdkafka::bindings::rd_kafka_queue_t,
}

// SAFETY: librdkafka queues are thread-safe; the pointer is owned by this value alone.
unsafe impl Send for CommitQueue {}
// SAFETY: as above; every operation on the queue is internally locked by librdkafka.
unsafe impl Sync for CommitQueue {}

impl CommitQueue {
    /// A queue on `consumer`'s client.
    pub fn new<C: rdkafka::consumer::ConsumerContext>(consumer: &rdkafka::consumer::BaseConsumer<C>) -> Self {
        use rdkafka::consumer::Consumer;
        // SAFETY: creates a queue on the consumer's live client; destroyed in Drop.
        CommitQueue { q: unsafe { rdkafka::bindings::rd_kafka_queue_new(consumer.client().native_ptr()) } }
    }

    /// Sends a commit of `offsets`; its outcome comes back with `id` from [`Self::drain`].
    pub fn send<C: rdkafka::consumer::ConsumerContext>(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<C>,
        offsets: &rdkafka::TopicPartitionList,
        id: usize,
    ) -> crate::error::Result<()> {
        use rdkafka::bindings as rd;
        use rdkafka::consumer::Consumer;
        // SAFETY: the client and the list are live for the call; the queue is ours; `id` is
        // an integer carried as the opaque value, never dereferenced.
        let err = unsafe {
            rd::rd_kafka_commit_queue(consumer.client().native_ptr(), offsets.ptr(), self.q, None, id as *mut std::ffi::c_void)
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(crate::error::BridgeError::from_code(rdkafka::types::RDKafkaErrorCode::from(err), "commit"))
        }
    }

    /// The outcomes of the commits that completed since the last call, oldest first.
    pub fn drain(&self) -> Vec<(usize, crate::error::Result<()>)> {
        let mut out = Vec::new();
        loop {
            // SAFETY: polls our live queue without waiting; an event returned is ours to read
            // and destroy (commit_event_result does both).
            let ev = unsafe { rdkafka::bindings::rd_kafka_queue_poll(self.q, 0) };
            if ev.is_null() {
                return out;
            }
            // SAFETY: only offset commits are sent to this queue.
            out.push(unsafe { commit_event_result(ev) });
        }
    }
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        // SAFETY: destroyed once, while the client still exists (see the type's contract);
        // commit answers arriving later are discarded by librdkafka.
        unsafe { rdkafka::bindings::rd_kafka_queue_destroy(self.q) }
    }
}

/// A consumer whose close is bounded in time: it leaves its group normally when it can, and
/// otherwise (broker or coordinator unreachable) is destroyed without leaving, so that an IRIS
/// job never hangs in OnTearDown. Either way every librdkafka thread of it has stopped when
/// [`ClosableConsumer::close_within`] returns.
pub struct ClosableConsumer<C: rdkafka::consumer::ConsumerContext> {
    inner: std::mem::ManuallyDrop<rdkafka::consumer::BaseConsumer<C>>,
    /// Our reference to the queue the consumer's records and events arrive on (the consumer
    /// group's queue, or the main queue without a group), for [`Self::poll_record`]; null
    /// once released (before the close).
    queue: *mut rdkafka::bindings::rd_kafka_queue_t,
    /// Our records queue and the note of events waiting on `queue` (at a fixed address: the
    /// consumer queue's wake-up callback gets it as its opaque value).
    wake: Box<Wake>,
    /// Records taken from `records` and not yet handed out, in order.
    carry: parking_lot::Mutex<Carry>,
    /// A polled record kept as it lies in librdkafka's buffer ([`Self::keep`]); released
    /// before the client goes.
    kept: parking_lot::Mutex<Option<Fetched<'static>>>,
    abandoned: bool,
}

/// How many records one call takes from librdkafka at most.
const CARRY_MAX: usize = 128;

/// Records (librdkafka messages, ours to destroy) taken in one call and not yet handed out:
/// `msgs[next..len]`, in the order librdkafka delivered them.
struct Carry {
    msgs: Vec<*mut rdkafka::bindings::rd_kafka_message_t>,
    next: usize,
    len: usize,
}

impl Carry {
    fn new() -> Self {
        Carry { msgs: vec![std::ptr::null_mut(); CARRY_MAX], next: 0, len: 0 }
    }

    fn is_empty(&self) -> bool {
        self.next >= self.len
    }

    fn pop(&mut self) -> Option<*mut rdkafka::bindings::rd_kafka_message_t> {
        if self.is_empty() {
            return None;
        }
        self.next += 1;
        Some(self.msgs[self.next - 1])
    }

    /// Destroys the carried records of the `partitions` (topic name, partition; all of them
    /// when `None`), keeping the others in order.
    fn discard(&mut self, partitions: Option<&[(&[u8], i32)]>) {
        let mut kept = self.next;
        for i in self.next..self.len {
            let m = self.msgs[i];
            // SAFETY: carried messages are live and ours until destroyed here or handed out
            // (then they are no longer in `next..len`); a live message's topic name is too.
            let gone = partitions.is_none_or(|ps| unsafe { ps.iter().any(|&(t, p)| p == (*m).partition && t == topic_of(&*m)) });
            if gone {
                // SAFETY: as above; destroyed once, and no longer carried (not copied back).
                unsafe { rdkafka::bindings::rd_kafka_message_destroy(m) };
            } else {
                self.msgs[kept] = m;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// What an event arriving on the consumer's queue must reach: a wait for records, and the
/// poll that would otherwise hand out records taken earlier before serving it.
struct Wake {
    /// A queue of our own that every assigned partition's fetch queue is forwarded to (before
    /// each assignment takes effect), so that records are taken from librdkafka many at a
    /// time ([`ClosableConsumer::poll_record`]); a wait on it is ended with a yield when an
    /// event arrives on the consumer queue. Null once released.
    records: *mut rdkafka::bindings::rd_kafka_queue_t,
    /// Set when an event arrives on the consumer's empty queue (and by the poll itself while
    /// events may be left): the next poll serves events before records.
    events: std::sync::atomic::AtomicBool,
}

/// Called by librdkafka, on any of its threads and with the consumer's queue locked, when an
/// event arrives on that queue while it is empty: notes it and ends a wait for records.
unsafe extern "C" fn wake_on_event(_rk: *mut rdkafka::bindings::rd_kafka_t, wake: *mut std::ffi::c_void) {
    // SAFETY: the opaque value is our live `Wake` and its records queue: the callback is
    // removed (under the consumer queue's lock, which librdkafka holds while calling it)
    // before either goes.
    unsafe {
        let wake = &*(wake as *const Wake);
        wake.events.store(true, std::sync::atomic::Ordering::Release);
        rdkafka::bindings::rd_kafka_queue_yield(wake.records)
    }
}

// SAFETY: the queue reference is an owned librdkafka handle; librdkafka queues are
// thread-safe, and the consumer itself is Send and Sync.
unsafe impl<C: rdkafka::consumer::ConsumerContext> Send for ClosableConsumer<C> {}
// SAFETY: as above; every queue operation is internally locked by librdkafka.
unsafe impl<C: rdkafka::consumer::ConsumerContext> Sync for ClosableConsumer<C> {}

/// What one [`ClosableConsumer::poll_record`] brought.
pub enum Polled<'a> {
    /// Nothing arrived in time.
    Nothing,
    /// A record.
    Record(Fetched<'a>),
    /// An event that was served (a rebalance, statistics, a commit's outcome, a log line).
    Served,
    /// An error that librdkafka reports to the consumer (as rust-rdkafka's `poll` returns it).
    Failed(rdkafka::error::KafkaError),
}

/// A record polled by [`ClosableConsumer::poll_record`]: librdkafka's message, read in place
/// and alive until this is dropped.
pub struct Fetched<'a> {
    /// The message, ours: destroyed (with the operation that carries it) on drop.
    m: &'a rdkafka::bindings::rd_kafka_message_t,
}

impl<'a> Fetched<'a> {
    /// The identity of the record's topic handle: records with the same handle have the same
    /// topic (valid while a record of that topic is alive).
    pub fn topic_handle(&self) -> usize {
        self.m.rkt as usize
    }

    /// The topic's name (Kafka topic names are ASCII).
    pub fn topic(&self) -> &str {
        // SAFETY: the message is live for the borrow of `self`.
        std::str::from_utf8(unsafe { topic_of(self.m) }).unwrap_or("?")
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.m.partition
    }

    /// The offset.
    pub fn offset(&self) -> i64 {
        self.m.offset
    }

    /// The timestamp in milliseconds, when the record has one.
    pub fn timestamp(&self) -> Option<i64> {
        use rdkafka::bindings as rd;
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: reads the live message; `kind` is valid for the call.
        let ts = unsafe { rd::rd_kafka_message_timestamp(self.m, &mut kind) };
        (ts != -1 && kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE).then_some(ts)
    }

    /// The key; `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        // SAFETY: librdkafka's key pointer and length describe bytes owned by the message.
        unsafe { opt_slice(self.m.key, self.m.key_len) }
    }

    /// The value; `None` for a null value.
    pub fn value(&self) -> Option<&[u8]> {
        // SAFETY: librdkafka's payload pointer and length describe bytes owned by the message.
        unsafe { opt_slice(self.m.payload, self.m.len) }
    }

    /// Calls `f` with each header's name and value (`None`: a null value), in order.
    pub fn for_each_header(&self, mut f: impl FnMut(&[u8], Option<&[u8]>)) {
        use rdkafka::bindings as rd;
        let mut hdrs: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
        // SAFETY: the headers belong to the live message (parsed on first access, which
        // only this thread makes); each name is NUL-terminated and each value pointer and
        // size describe bytes owned by the headers.
        unsafe {
            if rd::rd_kafka_message_headers(self.m, &mut hdrs) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return;
            }
            let mut i = 0;
            loop {
                let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
                if rd::rd_kafka_header_get_all(hdrs, i, &mut name, &mut value, &mut size)
                    != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                {
                    return;
                }
                f(CStr::from_ptr(name).to_bytes(), opt_slice(value, size));
                i += 1;
            }
        }
    }
}

impl Fetched<'_> {
    /// Stores the record's offset + 1 (with its leader epoch) as the partition's next commit,
    /// as librdkafka's `enable.auto.offset.store` does when it hands a record out; an error
    /// when the partition is no longer assigned to this consumer.
    pub fn store_offset(&self) -> std::result::Result<(), rdkafka::types::RDKafkaErrorCode> {
        use rdkafka::bindings as rd;
        // SAFETY: the message is live and a consumed one; an error object returned is ours,
        // read and destroyed here.
        unsafe { take_error(rd::rd_kafka_offset_store_message(self.m as *const _ as *mut _)) }
    }
}

impl Drop for Fetched<'_> {
    fn drop(&mut self) {
        // SAFETY: the message is ours (taken from a queue) and destroyed once; it is not used
        // afterwards (accessors borrow `self`).
        unsafe { rdkafka::bindings::rd_kafka_message_destroy(self.m as *const _ as *mut _) }
    }
}

/// The name of a consumed message's topic.
///
/// # Safety
/// `m` is a live consumed message; the name lives as long as it (its topic handle owns it).
unsafe fn topic_of(m: &rdkafka::bindings::rd_kafka_message_t) -> &[u8] {
    // SAFETY: a consumed message's topic handle is live while the message is, and
    // rd_kafka_topic_name returns its NUL-terminated name, owned by the handle.
    unsafe { CStr::from_ptr(rdkafka::bindings::rd_kafka_topic_name(m.rkt)).to_bytes() }
}

/// A byte slice from librdkafka's pointer and length; `None` for a null pointer.
///
/// # Safety
/// A non-null `p` must point to `len` readable bytes that outlive `'a`.
unsafe fn opt_slice<'a>(p: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    (!p.is_null()).then(|| std::slice::from_raw_parts(p as *const u8, len))
}

/// The elements of a librdkafka partition list (none for a null list).
///
/// # Safety
/// `list` is null or a live partition list that outlives `'a` and is not changed meanwhile.
unsafe fn list_elems<'a>(list: *const rdkafka::bindings::rd_kafka_topic_partition_list_t) -> &'a [rdkafka::bindings::rd_kafka_topic_partition_t] {
    match list.as_ref() {
        Some(l) if l.cnt > 0 && !l.elems.is_null() => std::slice::from_raw_parts(l.elems, l.cnt as usize),
        _ => &[],
    }
}

/// A copy of a partition list owned by an event (topic, partition, offset, leader epoch:
/// what an assignment uses), for the context's callbacks that take a `TopicPartitionList`.
///
/// # Safety
/// `list` is null or a live partition list.
unsafe fn copy_list(list: *const rdkafka::bindings::rd_kafka_topic_partition_list_t) -> rdkafka::TopicPartitionList {
    use rdkafka::bindings as rd;
    let copy = rdkafka::TopicPartitionList::new();
    for e in list_elems(list) {
        let c = rd::rd_kafka_topic_partition_list_add(copy.ptr(), e.topic, e.partition);
        (*c).offset = e.offset;
        (*c).err = e.err;
        rd::rd_kafka_topic_partition_set_leader_epoch(c, rd::rd_kafka_topic_partition_get_leader_epoch(e));
    }
    copy
}

impl<C: rdkafka::consumer::ConsumerContext> ClosableConsumer<C> {
    /// Wraps a consumer.
    pub fn new(inner: rdkafka::consumer::BaseConsumer<C>) -> Self {
        use rdkafka::consumer::Consumer;
        let rk = inner.client().native_ptr();
        // SAFETY: new references to the live client's queues (the consumer queue exists once
        // a group id is set; else the main queue, as rust-rdkafka's poll uses); released in
        // `release_queue`, before the client goes.
        let queue = unsafe {
            let q = rdkafka::bindings::rd_kafka_queue_get_consumer(rk);
            if q.is_null() { rdkafka::bindings::rd_kafka_queue_get_main(rk) } else { q }
        };
        // SAFETY: a new queue of the live client, ours (destroyed in `release_queue`).
        let records = unsafe { rdkafka::bindings::rd_kafka_queue_new(rk) };
        // (events may be waiting already)
        let wake = Box::new(Wake { records, events: std::sync::atomic::AtomicBool::new(true) });
        // SAFETY: the callback gets the boxed `Wake` (a fixed address, owned by the returned
        // value) as its opaque value; it is removed in `release_queue`, before the box and the
        // records queue go.
        unsafe {
            rdkafka::bindings::rd_kafka_queue_cb_event_enable(queue, Some(wake_on_event), &*wake as *const Wake as *mut std::ffi::c_void);
        }
        ClosableConsumer {
            inner: std::mem::ManuallyDrop::new(inner),
            queue,
            wake,
            carry: parking_lot::Mutex::new(Carry::new()),
            kept: parking_lot::Mutex::new(None),
            abandoned: false,
        }
    }

    /// Assigns `partitions` (explicit partitions, no group rebalancing), their records coming
    /// to this consumer's poll.
    pub fn assign(&self, partitions: &rdkafka::TopicPartitionList) -> rdkafka::error::KafkaResult<()> {
        use rdkafka::consumer::Consumer;
        // SAFETY: the list is live for the call.
        unsafe { self.forward(partitions.ptr()) };
        self.inner.assign(partitions)
    }

    /// Forwards the fetch queue of each partition of `list` to our records queue. Done before
    /// the partitions are assigned (librdkafka then leaves an application's forwarding as it
    /// is); a partition's forwarding is cleared when it is unassigned, so every assignment
    /// forwards again. librdkafka starts an assignment only once the fetchers of the previous
    /// one have stopped, so no stop clears a forwarding made for the next assignment.
    ///
    /// # Safety
    /// `list` is null or a live partition list.
    unsafe fn forward(&self, list: *const rdkafka::bindings::rd_kafka_topic_partition_list_t) {
        use rdkafka::bindings as rd;
        use rdkafka::consumer::Consumer;
        let rk = self.inner.client().native_ptr();
        for e in list_elems(list) {
            let q = rd::rd_kafka_queue_get_partition(rk, e.topic, e.partition);
            if !q.is_null() {
                rd::rd_kafka_queue_forward(q, self.wake.records);
                rd::rd_kafka_queue_destroy(q);
            }
        }
    }

    /// Destroys the records taken from librdkafka and not yet handed out of a partition that
    /// was sought (or rewound): they come again from its new position.
    pub fn drop_carried(&self, topic: &str, partition: i32) {
        self.carry.lock().discard(Some(&[(topic.as_bytes(), partition)]));
    }

    /// Keeps a polled record (in place of any kept before) until [`Self::release_kept`] or
    /// the close, so that its fields can still be read without copying it out first.
    pub fn keep(&self, m: Fetched<'_>) {
        let m = std::mem::ManuallyDrop::new(m);
        // SAFETY: the message stays valid until destroyed, which the kept value does once, on
        // drop (`m` is not dropped). It is only kept in `self.kept`, which is emptied before
        // the client is closed or destroyed (`close_within`, Drop), so the 'static lifetime
        // never outlives the client.
        let kept = unsafe { Fetched { m: &*(m.m as *const rdkafka::bindings::rd_kafka_message_t) } };
        *self.kept.lock() = Some(kept);
    }

    /// Runs `f` on the kept record; `None` when no record is kept.
    pub fn with_kept<T>(&self, f: impl FnOnce(&Fetched<'_>) -> T) -> Option<T> {
        self.kept.lock().as_ref().map(f)
    }

    /// Drops the kept record, if any.
    pub fn release_kept(&self) {
        drop(self.kept.lock().take());
    }

    fn release_queue(&mut self) {
        self.release_kept();
        self.carry.lock().discard(None);
        if !self.queue.is_null() {
            // SAFETY: our own references, released once (nulled here). The wake-up callback
            // is removed first, under the queue's lock: none runs once that returns, and none
            // uses the records queue after it goes. Partitions still forwarded to that queue
            // (until the close unassigns them) find it disabled, and librdkafka drops what
            // they fetch.
            unsafe {
                rdkafka::bindings::rd_kafka_queue_cb_event_enable(self.queue, None, std::ptr::null_mut());
                rdkafka::bindings::rd_kafka_queue_destroy(self.wake.records);
                rdkafka::bindings::rd_kafka_queue_destroy(self.queue);
            }
            self.queue = std::ptr::null_mut();
            self.wake.records = std::ptr::null_mut();
        }
    }

    /// Polls for one record or event, waiting at most `timeout_ms`: a record is returned as
    /// it lies in librdkafka's buffers; any other event is served as rust-rdkafka's
    /// `BaseConsumer::poll` serves it (the context's rebalance, commit, statistics, error and
    /// log callbacks), one per call, before any record. Records are taken from librdkafka up to
    /// [`CARRY_MAX`] at a time (what is fetched already; a wait is only for the first, and an
    /// event ends it) and handed out one per call, in order. Unlike rust-rdkafka's poll,
    /// nothing is allocated and no clock is read per record.
    pub fn poll_record(&self, timeout_ms: i32) -> Polled<'_> {
        use std::sync::atomic::Ordering;
        assert!(!self.abandoned && !self.queue.is_null(), "consumer polled after its close");
        // Events first (a rebalance must not wait for the records taken before it arrived);
        // when one was served, more may be left: the next call looks again. With no record
        // taken left, the consumer queue is looked at whatever the note says.
        let mut carried = None;
        if !self.wake.events.swap(false, Ordering::AcqRel) {
            carried = self.carry.lock().pop();
        }
        if carried.is_none() {
            let polled = self.serve_event();
            if !matches!(polled, Polled::Nothing) {
                self.wake.events.store(true, Ordering::Release);
                return polled;
            }
            carried = self.carry.lock().pop();
        }
        if let Some(m) = carried {
            // SAFETY: a carried message is live and ours.
            return unsafe { self.record(m) };
        }
        let mut carry = self.carry.lock();
        if timeout_ms == 0 {
            self.take(&mut carry, 0, CARRY_MAX);
        } else if self.take(&mut carry, timeout_ms, 1) > 0 {
            // (an event arriving on the consumer queue meanwhile ends the wait: see `Wake`)
            self.take(&mut carry, 0, CARRY_MAX - 1);
        }
        match carry.pop() {
            // SAFETY: as above.
            Some(m) => unsafe { self.record(m) },
            None => Polled::Nothing,
        }
    }

    /// Takes at most `max` records from our records queue into `carry` (which has room: it
    /// is empty, or holds only what the last take brought), waiting at most `timeout_ms` for
    /// the first. Returns how many.
    fn take(&self, carry: &mut Carry, timeout_ms: i32, max: usize) -> usize {
        if carry.is_empty() {
            (carry.next, carry.len) = (0, 0);
        }
        let max = max.min(CARRY_MAX - carry.len);
        // SAFETY: our live records queue; librdkafka writes at most `max` message pointers
        // from `len` on, inside the array, and each message it returns is ours (destroyed when
        // handed out and dropped, or discarded).
        let n = unsafe {
            rdkafka::bindings::rd_kafka_consume_batch_queue(self.wake.records, timeout_ms, carry.msgs.as_mut_ptr().add(carry.len), max)
        };
        let n = n.max(0) as usize;
        carry.len += n;
        n
    }

    /// A record taken from librdkafka: returned, or its error (the message destroyed).
    ///
    /// # Safety
    /// `m` is a live consumed message, ours, not used by the caller afterwards.
    unsafe fn record(&self, m: *mut rdkafka::bindings::rd_kafka_message_t) -> Polled<'_> {
        use rdkafka::bindings::rd_kafka_resp_err_t as E;
        use rdkafka::error::KafkaError;
        // SAFETY: per the contract; on error the message is destroyed once, here, and not
        // read afterwards.
        unsafe {
            let (err, partition) = ((*m).err, (*m).partition);
            if err == E::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Polled::Record(Fetched { m: &*m });
            }
            rdkafka::bindings::rd_kafka_message_destroy(m);
            if err == E::RD_KAFKA_RESP_ERR__PARTITION_EOF {
                Polled::Failed(KafkaError::PartitionEOF(partition))
            } else {
                Polled::Failed(KafkaError::MessageConsumption(err.into()))
            }
        }
    }

    /// Serves one event waiting on the consumer's queue, without waiting.
    fn serve_event(&self) -> Polled<'_> {
        use rdkafka::bindings as rd;
        use rd::rd_kafka_resp_err_t as E;
        use rdkafka::consumer::Consumer;
        use rdkafka::error::KafkaError;
        let ctx = self.inner.context();
        // SAFETY: polls our live queue reference; an event returned is ours: it is either
        // handed out as a record (destroyed with it) or destroyed below after it was served.
        // Partition lists, strings and messages read from it are owned by the event and used
        // only before it is destroyed (lists are copied for the callbacks).
        unsafe {
            let e = rd::rd_kafka_queue_poll(self.queue, 0);
            if e.is_null() {
                return Polled::Nothing;
            }
            let polled = match rd::rd_kafka_event_type(e) {
                // (a record of a partition not forwarded to our records queue)
                rd::RD_KAFKA_EVENT_FETCH => {
                    let m = rd::rd_kafka_event_message_next(e);
                    if !m.is_null() {
                        // (destroying the message destroys the event, the operation carrying it)
                        return self.record(m as *mut _);
                    }
                    Polled::Served
                }
                rd::RD_KAFKA_EVENT_REBALANCE => {
                    let err = rd::rd_kafka_event_error(e);
                    if err == E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS || err == E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                        let mut list = copy_list(rd::rd_kafka_event_topic_partition_list(e));
                        if err == E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                            self.forward(list.ptr());
                        }
                        ctx.rebalance(&self.inner, err, &mut list);
                        if err == E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                            // Records taken and not handed out of partitions no longer ours:
                            // their new owner delivers them.
                            let revoked: Vec<(&[u8], i32)> =
                                list_elems(list.ptr()).iter().map(|t| (CStr::from_ptr(t.topic).to_bytes(), t.partition)).collect();
                            self.carry.lock().discard(Some(&revoked));
                        }
                    } else {
                        tracing::warn!("invalid rebalance event: {}", rdkafka_err_name(err as i32));
                    }
                    Polled::Served
                }
                rd::RD_KAFKA_EVENT_OFFSET_COMMIT => {
                    let err = rd::rd_kafka_event_error(e);
                    let result = if err == E::RD_KAFKA_RESP_ERR_NO_ERROR { Ok(()) } else { Err(KafkaError::ConsumerCommit(err.into())) };
                    ctx.commit_callback(result, &copy_list(rd::rd_kafka_event_topic_partition_list(e)));
                    Polled::Served
                }
                rd::RD_KAFKA_EVENT_STATS => {
                    ctx.stats_raw(CStr::from_ptr(rd::rd_kafka_event_stats(e)).to_bytes());
                    Polled::Served
                }
                rd::RD_KAFKA_EVENT_ERROR => {
                    let err = rd::rd_kafka_event_error(e);
                    let reason = CStr::from_ptr(rd::rd_kafka_event_error_string(e)).to_string_lossy();
                    ctx.error(KafkaError::Global(err.into()), reason.trim());
                    if err == E::RD_KAFKA_RESP_ERR_NO_ERROR {
                        Polled::Served
                    } else if err == E::RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        let tp = rd::rd_kafka_event_topic_partition(e);
                        let partition = tp.as_ref().map_or(-1, |tp| tp.partition);
                        if !tp.is_null() {
                            rd::rd_kafka_topic_partition_destroy(tp);
                        }
                        Polled::Failed(KafkaError::PartitionEOF(partition))
                    } else if rd::rd_kafka_event_error_is_fatal(e) != 0 {
                        Polled::Failed(KafkaError::MessageConsumptionFatal(err.into()))
                    } else {
                        Polled::Failed(KafkaError::MessageConsumption(err.into()))
                    }
                }
                rd::RD_KAFKA_EVENT_LOG => {
                    let (mut fac, mut text, mut level) = (std::ptr::null(), std::ptr::null(), 0);
                    if rd::rd_kafka_event_log(e, &mut fac, &mut text, &mut level) == 0 {
                        use rdkafka::config::RDKafkaLogLevel as L;
                        let level = [L::Emerg, L::Alert, L::Critical, L::Error, L::Warning, L::Notice, L::Info, L::Debug]
                            [level.clamp(0, 7) as usize];
                        let fac = CStr::from_ptr(fac).to_string_lossy();
                        let text = CStr::from_ptr(text).to_string_lossy();
                        ctx.log(level, fac.trim(), text.trim());
                    }
                    Polled::Served
                }
                // Not expected: the bridge's clients have token refreshes served on their own
                // queue by librdkafka's background thread (`sasl_callbacks_in_background`), and
                // a refresh polled here and destroyed would refresh nothing.
                rd::RD_KAFKA_EVENT_OAUTHBEARER_TOKEN_REFRESH => {
                    tracing::warn!("an OAUTHBEARER token refresh reached the consumer's poll; it is not served there");
                    Polled::Served
                }
                other => {
                    let name = CStr::from_ptr(rd::rd_kafka_event_name(e)).to_string_lossy();
                    tracing::warn!("ignored event '{name}' ({other}) on consumer poll");
                    Polled::Served
                }
            };
            rd::rd_kafka_event_destroy(e);
            polled
        }
    }

    /// Leaves the group within `timeout` when `reachable`; returns `false` when that was not
    /// possible and the client was destroyed without leaving (the group notices at its
    /// session timeout). Not reachable: destroyed at once without trying to leave.
    pub fn close_within(&mut self, timeout: std::time::Duration, reachable: bool) -> bool {
        use rdkafka::consumer::Consumer;
        if self.abandoned {
            return false;
        }
        self.release_queue();
        let deadline = std::time::Instant::now() + timeout;
        if reachable && self.inner.close_queue().is_ok() {
            while std::time::Instant::now() < deadline {
                if self.inner.closed() {
                    return true;
                }
                // Serves the revocation and close events; records still queued are dropped.
                let _ = self.inner.poll(std::time::Duration::from_millis(100));
            }
            if self.inner.closed() {
                return true;
            }
        }
        let rk = self.inner.client().native_ptr();
        // SAFETY: `rk` is this consumer's live client. After destroying it here the Rust
        // wrapper is never used or dropped again (`abandoned`): its own Drop would destroy the
        // client a second time. Its small allocations are leaked on this rare path only.
        unsafe { rdkafka::bindings::rd_kafka_destroy_flags(rk, rdkafka::bindings::RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) };
        self.abandoned = true;
        false
    }
}

impl<C: rdkafka::consumer::ConsumerContext> std::ops::Deref for ClosableConsumer<C> {
    type Target = rdkafka::consumer::BaseConsumer<C>;
    fn deref(&self) -> &Self::Target {
        assert!(!self.abandoned, "consumer used after it was destroyed");
        &self.inner
    }
}

impl<C: rdkafka::consumer::ConsumerContext> Drop for ClosableConsumer<C> {
    fn drop(&mut self) {
        self.release_queue();
        if !self.abandoned {
            // SAFETY: dropped exactly once, here, and only when not destroyed natively.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.inner) }
        }
    }
}

/// Makes librdkafka send what is queued now, ignoring `linger.ms`, and waits at most
/// `timeout` until nothing is in flight (delivery reports are events that the producer's
/// [`ReportPump`] thread serves, so this only waits). Used right after a record that must be confirmed
/// before the call answers: waiting out the linger would only add latency.
pub fn flush_now<C: rdkafka::producer::ProducerContext + 'static>(
    producer: &rdkafka::producer::BaseProducer<C>,
    timeout: std::time::Duration,
) {
    use rdkafka::producer::Producer;
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: the client pointer is the live producer borrowed for the call; rd_kafka_flush
    // only waits (event-based delivery reports are not served by it).
    unsafe {
        rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms);
    }
}

/// The shared state of a [`ReportPump`]: whether the producer's event queue has something to
/// serve, how many callers are serving it themselves, and whether the pump stops.
#[derive(Default)]
struct PumpShared {
    state: parking_lot::Mutex<PumpState>,
    cv: parking_lot::Condvar,
}

#[derive(Default)]
struct PumpState {
    pending: bool,
    callers: usize,
    stop: bool,
}

/// A handle on a producer's main (event) queue, for its length.
struct MainQueue(*mut rdkafka::bindings::rd_kafka_queue_t);

// SAFETY: librdkafka queue handles are thread-safe; the pointer is owned by this value alone.
unsafe impl Send for MainQueue {}
// SAFETY: as above; reading a queue's length takes the queue's own lock.
unsafe impl Sync for MainQueue {}

impl MainQueue {
    fn is_empty(&self) -> bool {
        // SAFETY: the handle is live until the pump destroys it, after its thread stopped.
        unsafe { rdkafka::bindings::rd_kafka_queue_length(self.0) == 0 }
    }
}

/// Called by librdkafka (on its own thread, with the queue locked) when the producer's event
/// queue goes from empty to not empty: wakes whoever serves it. Takes only the pump's lock.
extern "C" fn pump_wake(_rk: *mut rdkafka::bindings::rd_kafka_t, opaque: *mut std::ffi::c_void) {
    // SAFETY: `opaque` is the pump's `PumpShared`, kept alive by the pump until this callback
    // is disabled (which waits for a callback under way, both holding the queue's lock).
    let shared = unsafe { &*(opaque as *const PumpShared) };
    shared.state.lock().pending = true;
    shared.cv.notify_all();
}

/// Serves a producer's delivery reports (and other events). A thread of the pump's own serves
/// them in the background — the records sent without waiting — but a caller waiting for its
/// own record serves them itself meanwhile ([`ReportPump::serve_until`]): the report then
/// reaches the caller straight from librdkafka's broker thread instead of through the
/// background thread, one thread wake-up less per confirmed record. The thread blocks every
/// signal and is stopped and joined when the pump is dropped.
pub struct ReportPump<C: rdkafka::producer::ProducerContext + 'static> {
    producer: std::sync::Arc<rdkafka::producer::BaseProducer<C>>,
    shared: std::sync::Arc<PumpShared>,
    main: Option<std::sync::Arc<MainQueue>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Topic handles of the topics records were sent to ([`Self::send`]), destroyed before
    /// the client.
    topics: parking_lot::Mutex<TopicHandles>,
}

/// librdkafka topic handles by name (ours: each destroyed once, in [`TopicHandles::clear`]),
/// the one used last first: a record is sent through its topic's handle, not by name (which
/// would copy the name into a new C string and look the topic up for every record).
#[derive(Default)]
struct TopicHandles {
    list: Vec<(Box<str>, std::ptr::NonNull<rdkafka::bindings::rd_kafka_topic_t>)>,
    last: usize,
}

// SAFETY: librdkafka topic handles may be used and destroyed from any thread (they are
// reference-counted and locked inside librdkafka); the list itself is behind a Mutex.
unsafe impl Send for TopicHandles {}

/// How many topic handles a producer keeps (a host sending to more topics than this has the
/// oldest handle destroyed and made again when needed).
const TOPIC_HANDLES_MAX: usize = 64;

impl TopicHandles {
    /// The handle of `topic`, made on first use.
    fn get(&mut self, rk: *mut rdkafka::bindings::rd_kafka_t, topic: &str) -> Result<*mut rdkafka::bindings::rd_kafka_topic_t, rdkafka::types::RDKafkaErrorCode> {
        if let Some((name, h)) = self.list.get(self.last) {
            if **name == *topic {
                return Ok(h.as_ptr());
            }
        }
        if let Some(i) = self.list.iter().position(|(name, _)| **name == *topic) {
            self.last = i;
            return Ok(self.list[i].1.as_ptr());
        }
        let name = std::ffi::CString::new(topic).map_err(|_| rdkafka::types::RDKafkaErrorCode::InvalidTopic)?;
        // SAFETY: `rk` is the live client; the name is a C string copied by librdkafka; the
        // default topic configuration (NULL) is the client's, as for a send by name.
        let h = unsafe { rdkafka::bindings::rd_kafka_topic_new(rk, name.as_ptr(), std::ptr::null_mut()) };
        let Some(h) = std::ptr::NonNull::new(h) else {
            // SAFETY: reads the calling thread's last librdkafka error, set by the call above.
            return Err(unsafe { rdkafka::bindings::rd_kafka_last_error() }.into());
        };
        if self.list.len() >= TOPIC_HANDLES_MAX {
            let (_, old) = self.list.remove(0);
            // SAFETY: our handle, destroyed once (removed from the list); records sent through
            // it keep their own references.
            unsafe { rdkafka::bindings::rd_kafka_topic_destroy(old.as_ptr()) };
        }
        self.list.push((topic.into(), h));
        self.last = self.list.len() - 1;
        Ok(h.as_ptr())
    }

    /// Destroys every handle.
    fn clear(&mut self) {
        for (_, h) in self.list.drain(..) {
            // SAFETY: our handle, destroyed once (drained), while the client is alive.
            unsafe { rdkafka::bindings::rd_kafka_topic_destroy(h.as_ptr()) };
        }
        self.last = 0;
    }
}

impl<C: rdkafka::producer::ProducerContext + 'static> ReportPump<C> {
    /// Starts serving `producer`'s events.
    pub fn new(producer: rdkafka::producer::BaseProducer<C>) -> std::io::Result<Self> {
        use rdkafka::producer::Producer;
        let producer = std::sync::Arc::new(producer);
        let shared = std::sync::Arc::new(PumpShared::default());
        // SAFETY: a new handle on the live client's main queue, destroyed in Drop before the
        // client; the callback's opaque is `shared`, which outlives the callback (disabled in
        // Drop before `shared` can go).
        let main = unsafe {
            let q = rdkafka::bindings::rd_kafka_queue_get_main(producer.client().native_ptr());
            rdkafka::bindings::rd_kafka_queue_cb_event_enable(
                q,
                Some(pump_wake),
                std::sync::Arc::as_ptr(&shared) as *mut std::ffi::c_void,
            );
            std::sync::Arc::new(MainQueue(q))
        };
        let mut pump = ReportPump { producer, shared, main: Some(main), thread: None, topics: Default::default() };
        let (p, s, m) = (pump.producer.clone(), pump.shared.clone(), pump.main.clone().expect("set above"));
        let thread = with_signals_blocked(|| {
            std::thread::Builder::new().name("iriskafka-reports".into()).spawn(move || Self::background(&p, &s, &m))
        })?;
        pump.thread = Some(thread);
        Ok(pump)
    }

    /// The producer.
    pub fn producer(&self) -> &rdkafka::producer::BaseProducer<C> {
        &self.producer
    }

    /// Hands one record to librdkafka (`rd_kafka_produceva`, key, value and headers copied),
    /// through its topic's handle; its delivery report comes with `opaque` (a number, never
    /// dereferenced). The error is librdkafka's (`QueueFull` when its queue is full: the
    /// caller may retry).
    pub fn send(&self, rec: &crate::message::ProduceRecord<'_>, opaque: usize) -> Result<(), rdkafka::types::RDKafkaErrorCode> {
        use rdkafka::bindings as rd;
        use rdkafka::producer::Producer;
        let rk = self.producer.client().native_ptr();
        // (held until librdkafka has the record: no other call destroys the handle meanwhile)
        let mut topics = self.topics.lock();
        let rkt = topics.get(rk, rec.topic)?;
        let vu = |vtype: rd::rd_kafka_vtype_t, u: rd::rd_kafka_vu_s__bindgen_ty_1| rd::rd_kafka_vu_t { vtype, u };
        let mem = |b: Option<&[u8]>| rd::rd_kafka_vu_s__bindgen_ty_1 {
            mem: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                ptr: b.map_or(std::ptr::null_mut(), |b| b.as_ptr() as *mut std::ffi::c_void),
                size: b.map_or(0, <[u8]>::len),
            },
        };
        use rd::rd_kafka_vtype_t as V;
        let mut vus = [
            vu(V::RD_KAFKA_VTYPE_RKT, rd::rd_kafka_vu_s__bindgen_ty_1 { rkt }),
            vu(V::RD_KAFKA_VTYPE_PARTITION, rd::rd_kafka_vu_s__bindgen_ty_1 { i32_: rec.partition.unwrap_or(-1 /* RD_KAFKA_PARTITION_UA */) }),
            vu(V::RD_KAFKA_VTYPE_MSGFLAGS, rd::rd_kafka_vu_s__bindgen_ty_1 { i: rd::RD_KAFKA_MSG_F_COPY as i32 }),
            vu(V::RD_KAFKA_VTYPE_VALUE, mem(rec.value)),
            vu(V::RD_KAFKA_VTYPE_KEY, mem(rec.key)),
            vu(V::RD_KAFKA_VTYPE_OPAQUE, rd::rd_kafka_vu_s__bindgen_ty_1 { ptr: opaque as *mut std::ffi::c_void }),
            vu(V::RD_KAFKA_VTYPE_TIMESTAMP, rd::rd_kafka_vu_s__bindgen_ty_1 { i64_: rec.timestamp.unwrap_or(0) }),
            vu(V::RD_KAFKA_VTYPE_HEADERS, rd::rd_kafka_vu_s__bindgen_ty_1 { headers: std::ptr::null_mut() }),
        ];
        let mut n = vus.len() - 1;
        // SAFETY: a new header list, ours until librdkafka takes it with the record (on
        // success), else destroyed below; each name and value is copied by librdkafka.
        let headers = unsafe {
            if rec.headers.is_empty() {
                std::ptr::null_mut()
            } else {
                let h = rd::rd_kafka_headers_new(rec.headers.len());
                for (name, value) in &rec.headers {
                    rd::rd_kafka_header_add(
                        h,
                        name.as_ptr() as *const std::ffi::c_char,
                        name.len() as isize,
                        value.map_or(std::ptr::null(), |v| v.as_ptr() as *const std::ffi::c_void),
                        value.map_or(0, |v| v.len() as isize),
                    );
                }
                h
            }
        };
        if !headers.is_null() {
            vus[n] = vu(V::RD_KAFKA_VTYPE_HEADERS, rd::rd_kafka_vu_s__bindgen_ty_1 { headers });
            n += 1;
        }
        // SAFETY: the client is live; every pointer in `vus` is valid for the call (borrowed
        // fields, copied by librdkafka: RD_KAFKA_MSG_F_COPY), and the topic handle is ours and
        // alive (`topics` stays locked). An error object returned is ours, read and destroyed
        // here; the headers are librdkafka's only when the record was taken.
        unsafe {
            let taken = take_error(rd::rd_kafka_produceva(rk, vus.as_mut_ptr(), n));
            if taken.is_err() && !headers.is_null() {
                rd::rd_kafka_headers_destroy(headers);
            }
            taken
        }
    }

    /// Serves every event queued now.
    fn drain(producer: &rdkafka::producer::BaseProducer<C>, main: &MainQueue) {
        // (bounded: events that keep coming are served by the next round)
        for _ in 0..100_000 {
            if main.is_empty() {
                return;
            }
            producer.poll(std::time::Duration::ZERO);
        }
    }

    /// The background thread: serves the queue when it has something and no caller is
    /// serving it, and every 100 ms regardless (as rdkafka's own polling thread does).
    fn background(producer: &rdkafka::producer::BaseProducer<C>, shared: &PumpShared, main: &MainQueue) {
        loop {
            {
                let mut g = shared.state.lock();
                loop {
                    if g.stop {
                        return;
                    }
                    if g.callers == 0 && g.pending {
                        g.pending = false;
                        break;
                    }
                    let timed_out = shared.cv.wait_for(&mut g, std::time::Duration::from_millis(100)).timed_out();
                    if timed_out && g.callers == 0 {
                        break;
                    }
                }
            }
            Self::drain(producer, main);
            // A caller that started waiting meanwhile may have had its report served here.
            if shared.state.lock().callers > 0 {
                shared.cv.notify_all();
            }
        }
    }

    /// Serves the producer's events in the calling thread until `done()` or `deadline` (the
    /// background thread stands by meanwhile). For a record sent without `linger.ms`, which
    /// librdkafka sends at once.
    pub fn serve_until(&self, done: impl Fn() -> bool, deadline: std::time::Instant) {
        let main = self.main.as_ref().expect("live until drop");
        self.shared.state.lock().callers += 1;
        loop {
            Self::drain(&self.producer, main);
            if done() {
                break;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            let mut g = self.shared.state.lock();
            if !g.pending {
                // (a report served by the background thread just before it stood by wakes
                // this wait too; the slice bounds a wake-up missed any other way)
                let slice = deadline.min(now + std::time::Duration::from_millis(20));
                self.shared.cv.wait_until(&mut g, slice);
            }
            g.pending = false;
        }
        let mut g = self.shared.state.lock();
        g.callers -= 1;
        if g.callers == 0 {
            // events that arrived while this caller stopped serving: the background thread's
            g.pending = true;
            drop(g);
            self.shared.cv.notify_all();
        }
    }
}

impl<C: rdkafka::producer::ProducerContext + 'static> Drop for ReportPump<C> {
    fn drop(&mut self) {
        self.topics.lock().clear();
        self.shared.state.lock().stop = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(main) = self.main.take() {
            // SAFETY: the callback is disabled under the queue's lock (a callback under way
            // has finished when this returns); the handle is destroyed while the client is
            // alive (the producer drops after this), and the thread that shared it is gone.
            unsafe {
                rdkafka::bindings::rd_kafka_queue_cb_event_enable(main.0, None, std::ptr::null_mut());
                if let Ok(m) = std::sync::Arc::try_unwrap(main) {
                    rdkafka::bindings::rd_kafka_queue_destroy(m.0);
                }
            }
        }
    }
}
