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
