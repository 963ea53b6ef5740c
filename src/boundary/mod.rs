//! The `$ZF` callout boundary: the exported `GetZFTable`/`ZFInit`/`ZFUnload`, the function
//! table, handles and the per-process last error. All `unsafe` of the crate lives here.
//!
//! Every entry returns 0 (a non-zero return makes IRIS throw `<FUNCTION>` and drop the
//! outputs), catches panics, and reports failure through its `Status` output; `LastError`
//! then gives the code, name, classification and text.

pub mod abi;
mod entries;
pub use entries::produce_flags;
pub mod sys;

use std::ffi::{c_char, c_void, CString};
use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use once_cell::sync::Lazy;

use crate::consumer::Consumer;
use crate::error::{BridgeError, Result};
use crate::handles::Registry;
use crate::producer::Producer;

/// Live producers of this process.
pub(crate) static PRODUCERS: Registry<Producer> = Registry::new(1, "producer");
/// Live consumers of this process.
pub(crate) static CONSUMERS: Registry<Consumer> = Registry::new(2, "consumer");

/// The last error any entry reported to this IRIS job. A job calls from one thread, so the
/// error is kept per calling thread: the same thing for IRIS, and hosts that call from several
/// threads (tests, benches) never read each other's errors.
pub fn last_error() -> Option<BridgeError> {
    LAST_ERROR.with(|e| e.borrow().clone())
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<Option<BridgeError>> = const { std::cell::RefCell::new(None) };
    static PANIC_TEXT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs an entry body: a returned error or a caught panic becomes the last error, and its
/// code is returned for the status output.
pub(crate) fn guard(name: &str, body: impl FnOnce() -> Result<()>) -> std::result::Result<(), i32> {
    let err = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let at = PANIC_TEXT.with(|p| p.borrow_mut().take()).unwrap_or_default();
            BridgeError::panic(format!("{name}: internal error: {text} {at}").trim_end().to_owned())
        }
    };
    let code = err.code;
    tracing::debug!(entry = name, "{err}");
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(err));
    Err(code)
}

/// One table entry as declared in Rust.
pub(crate) struct RawEntry {
    pub name: &'static str,
    pub letters: &'static [&'static str],
    pub func: usize,
    pub doc: &'static str,
}

/// An entry of the exported table as ObjectScript and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySpec {
    /// 1-based position: the function id for `$ZF(-5)`/`$ZF(-6)`.
    pub id: usize,
    /// Exact, case-sensitive name.
    pub name: &'static str,
    /// The descriptor string, derived from the Rust parameter types.
    pub descriptor: String,
    /// Descriptor letters one per parameter.
    pub params: Vec<&'static str>,
    /// The entry's documentation.
    pub doc: &'static str,
}

/// The function table in order.
pub fn table_spec() -> Vec<EntrySpec> {
    entries::raw_entries()
        .into_iter()
        .enumerate()
        .map(|(i, e)| EntrySpec {
            id: i + 1,
            name: e.name,
            descriptor: e.letters.concat(),
            params: e.letters.to_vec(),
            doc: e.doc,
        })
        .collect()
}

/// One entry of the C table: name, descriptor, function (24 bytes on 64-bit).
#[repr(C)]
pub struct ZfEntry {
    name: *const c_char,
    descriptor: *const c_char,
    func: *const c_void,
}

struct Table {
    entries: Vec<ZfEntry>,
    _strings: Vec<CString>,
}

// SAFETY: the table is built once and never mutated; its pointers refer to the strings it
// owns and to functions of this library, all valid while the library is loaded.
unsafe impl Sync for Table {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for Table {}

static TABLE: Lazy<Table> = Lazy::new(|| {
    let mut strings = Vec::new();
    let mut entries = Vec::new();
    for e in entries::raw_entries() {
        let name = CString::new(e.name).expect("entry names hold no NUL");
        let desc = CString::new(e.letters.concat()).expect("descriptors hold no NUL");
        entries.push(ZfEntry { name: name.as_ptr(), descriptor: desc.as_ptr(), func: e.func as *const c_void });
        strings.push(name);
        strings.push(desc);
    }
    entries.push(ZfEntry { name: std::ptr::null(), descriptor: std::ptr::null(), func: std::ptr::null() });
    Table { entries, _strings: strings }
});

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The hook belongs to this library's own copy of std: it only keeps a panic's
        // location for the error text instead of printing into the IRIS job's output.
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| format!("at {}:{}", l.file(), l.line())).unwrap_or_default();
            PANIC_TEXT.with(|p| *p.borrow_mut() = Some(at));
        }));
    });
}

/// IRIS calls this when it loads the library: keeps the callback and export-function tables
/// and returns the function table.
#[no_mangle]
pub extern "C" fn GetZFTable(callbacks: *const *const c_void, exports: *const *const c_void) -> *const ZfEntry {
    match catch_unwind(|| {
        install_panic_hook();
        abi::host::install(callbacks, exports);
        TABLE.entries.as_ptr()
    }) {
        Ok(p) => p,
        Err(_) => std::ptr::null(),
    }
}

/// IRIS calls this once after loading the library. Nothing to do: clients start lazily.
#[no_mangle]
pub extern "C" fn ZFInit() -> c_int {
    0
}

/// IRIS calls this before unloading the library (`$ZF(-4,2)`, `$ZF(-4,4)`, `$ZF(-3)` with
/// another library; never at process halt). Closes every live handle and returns only when
/// every thread the library owns has stopped, because their code is about to be unmapped.
#[no_mangle]
pub extern "C" fn ZFUnload() -> c_int {
    let _ = catch_unwind(close_all);
    0
}

/// Closes every handle: producers flush for a bounded time, consumers commit what was
/// acknowledged, then every client is destroyed (joining its threads).
pub fn close_all() {
    for p in PRODUCERS.drain() {
        p.flush(std::time::Duration::from_secs(5));
        drop(p);
    }
    for c in CONSUMERS.drain() {
        let _ = sole_owner(c).close();
    }
}

/// The object behind a handle that was just removed from its registry, once calls still
/// running on it (from other threads) have finished.
pub(crate) fn sole_owner<T>(mut arc: std::sync::Arc<T>) -> T {
    loop {
        match std::sync::Arc::try_unwrap(arc) {
            Ok(v) => return v,
            Err(again) => {
                arc = again;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
}

/// The ObjectScript include file (`cls/Kafka/Native.inc`) that gives the adapters every
/// function id and constant of this table, generated so the two cannot drift. A test fails
/// when the committed file differs; regenerate it with
/// `UPDATE_CLS=1 cargo test --test zf_table`.
pub fn objectscript_include() -> String {
    use crate::error::codes;
    use crate::wire::field;
    use entries::produce_flags as pf;
    let mut s = String::new();
    s.push_str("ROUTINE Kafka.Native [Type=INC]\n");
    s.push_str("#; GENERATED from the Rust $ZF table of libiriskafka (src/boundary/entries.rs).\n");
    s.push_str("#; Do not edit: regenerate with `UPDATE_CLS=1 cargo test --test zf_table`.\n");
    s.push_str("#; Function ids are 1-based table positions for $ZF(-5,lib,id,...) / $ZF(-6,index,id,...).\n");
    s.push_str("#; Arguments: the inputs (lowercase letters) in order; outputs (uppercase) come back\n");
    s.push_str("#; joined by commas, the status first and a binary output last.\n");
    for e in table_spec() {
        let inputs: Vec<&str> = e.params.iter().copied().filter(|l| l.chars().last().is_some_and(|c| c.is_ascii_lowercase())).collect();
        let outputs: Vec<&str> = e.params.iter().copied().filter(|l| l.chars().last().is_some_and(|c| c.is_ascii_uppercase())).collect();
        s.push_str(&format!(
            "#; {} \"{}\": {} input(s), {} output(s)\n#define KafkaZF{} {}\n#define KafkaZF{}Args {}\n",
            e.name,
            e.descriptor,
            inputs.len(),
            outputs.len(),
            e.name,
            e.id,
            e.name,
            inputs.len()
        ));
    }
    s.push_str(&format!("#define KafkaZFCount {}\n", table_spec().len()));
    s.push_str("#; Produce flags\n");
    for (n, v) in [
        ("Key", pf::KEY),
        ("Value", pf::VALUE),
        ("KeyStaged", pf::KEY_STAGED),
        ("ValueStaged", pf::VALUE_STAGED),
        ("HeadersStaged", pf::HEADERS_STAGED),
        ("Timestamp", pf::TIMESTAMP),
    ] {
        s.push_str(&format!("#define KafkaProduce{n} {v}\n"));
    }
    s.push_str("#; Field numbers (ProducerStage, ConsumerReadField) and frame inline bits\n");
    for (n, v) in [("Key", field::KEY), ("Value", field::VALUE), ("Headers", field::HEADERS)] {
        s.push_str(&format!("#define KafkaField{n} {v}\n#define KafkaInline{n} {}\n", field::inline_bit(v)));
    }
    s.push_str("#; Bridge error codes (librdkafka codes are passed through unchanged)\n");
    for (n, v) in [
        ("BadHandle", codes::BAD_HANDLE),
        ("BadArgument", codes::BAD_ARGUMENT),
        ("Config", codes::CONFIG),
        ("Panic", codes::PANIC),
        ("NoRecord", codes::NO_RECORD),
        ("LongStringsUnavailable", codes::LONG_STRINGS_UNAVAILABLE),
        ("TooLarge", codes::TOO_LARGE),
    ] {
        s.push_str(&format!("#define KafkaErr{n} {v}\n"));
    }
    s
}
