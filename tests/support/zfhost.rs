//! An IRIS host emulator: loads the built library the way an IRIS job does and calls its
//! `$ZF` table by name with IRIS's marshalling and limits.
//!
//! * `dlopen` the cdylib, call `GetZFTable(callbacks, exports)` — callback slot 0 answers the
//!   reply capacity (ZFString, 32,767 by default), export slots 117/118 (Unix x86-64) are
//!   `IrisExStrKill`/`IrisExStrNew`, every other slot traps — then `ZFInit`.
//! * Walk the table to its all-NULL terminator; parse every descriptor, rejecting letters IRIS
//!   does not have.
//! * `call(name, args)`: the arguments are the inputs (lowercase letters) in order, as in
//!   `$ZF(-5, lib, id, args...)`; outputs (uppercase) are not passed and come back in order,
//!   and joined by commas as the `$ZF` result. Counted strings (`b`/`B`) are placed in a
//!   per-call heap of ZFSize bytes (135,168 by default) — a call that needs more fails like
//!   IRIS's `<ZFHEAPSPACE>` — with guard bytes after each, checked after the call. Long-string
//!   inputs must be released by the callee (checked), long-string outputs are read and freed.
//! * A non-zero return is IRIS's `<FUNCTION>` error: outputs are lost.
//! * Cost: IRIS calls by id (`$ZF(-5)`/`$ZF(-6)`); `call_id`/`call_into` do too, and `call`
//!   resolves the name first (a one-entry cache, then a map). Each entry's inputs/outputs
//!   are counted at load; a call's scratch (argument words, `int*` storage, long-string
//!   descriptors) is on the stack, the $ZF heap is a reused thread-local touched only by
//!   calls with strings, and only the guard bytes around each string are written and checked
//!   (the 32 KiB output capacity is not cleared, as IRIS does not clear it). `call_into`
//!   reuses a `Reply`'s buffers, so a loop makes no allocation per call.
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a parameter letter means to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `i`: int by value.
    I32,
    /// `8i`: int64 by value.
    I64,
    /// `p`/`P`: int*.
    I32Ptr { out: bool },
    /// `8p`/`8P`: int64*.
    I64Ptr { out: bool },
    /// `d`/`D`, `#d`/`#D`: double*.
    F64Ptr { out: bool },
    /// `c`/`C`: NUL-terminated 8-bit string.
    CStr { out: bool },
    /// `b`/`B`: counted 8-bit string.
    Counted { out: bool },
    /// `j`/`J`: long string descriptor.
    Long { out: bool },
    /// `w`/`s`/`n` (16-bit variants): valid IRIS letters this emulator does not call.
    Wide { letter: char },
}

impl Param {
    /// Whether the parameter is an output (uppercase letter).
    pub fn is_output(self) -> bool {
        match self {
            Param::I32 | Param::I64 => false,
            Param::I32Ptr { out } | Param::I64Ptr { out } | Param::F64Ptr { out } => out,
            Param::CStr { out } | Param::Counted { out } | Param::Long { out } => out,
            Param::Wide { letter } => letter.is_ascii_uppercase(),
        }
    }
}

/// Parses a descriptor string into parameters; an unknown letter is an error.
pub fn parse_descriptor(desc: &str) -> Result<Vec<Param>, String> {
    let mut out = Vec::new();
    let mut chars = desc.chars().peekable();
    while let Some(c) = chars.next() {
        let p = match c {
            '8' => match chars.next() {
                Some('i') => Param::I64,
                Some('p') => Param::I64Ptr { out: false },
                Some('P') => Param::I64Ptr { out: true },
                other => return Err(format!("unknown descriptor letters '8{}' in \"{desc}\"", other.unwrap_or(' '))),
            },
            '#' => match chars.next() {
                Some('d') => Param::F64Ptr { out: false },
                Some('D') => Param::F64Ptr { out: true },
                other => return Err(format!("unknown descriptor letters '#{}' in \"{desc}\"", other.unwrap_or(' '))),
            },
            'i' => Param::I32,
            'p' | 'P' => Param::I32Ptr { out: c == 'P' },
            'd' | 'D' => Param::F64Ptr { out: c == 'D' },
            'c' | 'C' => Param::CStr { out: c == 'C' },
            'b' | 'B' => Param::Counted { out: c == 'B' },
            'j' | 'J' => Param::Long { out: c == 'J' },
            'w' | 'W' | 's' | 'S' | 'n' | 'N' => Param::Wide { letter: c },
            other => return Err(format!("unknown descriptor letter '{other}' in \"{desc}\"")),
        };
        out.push(p);
    }
    if out.len() > 32 {
        return Err(format!("{} parameters in \"{desc}\": IRIS allows 32", out.len()));
    }
    Ok(out)
}

/// An argument of a `$ZF` call (inputs only).
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    /// A number (for `i`, `8i`, `p`, `8p`, `d`).
    Int(i64),
    /// A string (for `b`, `c`, `j`).
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<i32> for Arg<'_> {
    fn from(v: i32) -> Self {
        Arg::Int(v as i64)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Bytes(v.as_bytes())
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}

/// One output value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// An integer output.
    Int(i64),
    /// A string output.
    Bytes(Vec<u8>),
}

impl Out {
    /// The integer, panicking if this is a string.
    pub fn int(&self) -> i64 {
        match self {
            Out::Int(v) => *v,
            Out::Bytes(b) => panic!("expected an integer output, got {} bytes", b.len()),
        }
    }
    /// The bytes, panicking if this is an integer.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Out::Bytes(b) => b,
            Out::Int(v) => panic!("expected a string output, got {v}"),
        }
    }
}

/// What a call answered.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The outputs in order.
    pub outputs: Vec<Out>,
}

impl Reply {
    /// The `$ZF` result as ObjectScript sees it: the outputs joined by commas (integers in
    /// decimal). Built on request: a call does not pay for a second copy of its outputs.
    pub fn joined(&self) -> Vec<u8> {
        let size: usize = self.outputs.iter().map(|o| match o {
            Out::Int(_) => 20,
            Out::Bytes(b) => b.len(),
        }).sum::<usize>() + self.outputs.len();
        let mut joined = Vec::with_capacity(size);
        for (i, o) in self.outputs.iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            match o {
                Out::Int(v) => push_int(&mut joined, *v),
                Out::Bytes(b) => joined.extend_from_slice(b),
            }
        }
        joined
    }
}

/// Errors IRIS itself would raise, or findings of the emulator's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// No entry of that name.
    NoSuchFunction(String),
    /// Wrong number of input arguments (IRIS: `<PARAMETER>`).
    ArgCount { name: String, expected: usize, got: usize },
    /// An argument of the wrong type for its letter.
    ArgType(String),
    /// The per-call heap is exhausted (IRIS: `<ZFHEAPSPACE>`).
    HeapSpace { needed: usize, available: usize },
    /// The function returned non-zero (IRIS: `<FUNCTION>`).
    Function(i32),
    /// The callee wrote past an output buffer.
    Overrun(String),
    /// The callee did not release a long-string input.
    LongNotReleased(String),
    /// A letter the emulator does not call.
    Unsupported(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for HostError {}

/// The host's configurable limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// ZFString: capacity of an output string.
    pub zf_string: usize,
    /// ZFSize: the per-call heap for counted and C strings.
    pub zf_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { zf_string: 32_767, zf_size: 135_168 }
    }
}

/// One walked table entry.
#[derive(Debug, Clone)]
pub struct HostEntry {
    /// 1-based function id.
    pub id: usize,
    /// Name.
    pub name: String,
    /// Descriptor string as exported.
    pub descriptor: String,
    /// Parsed parameters.
    pub params: Vec<Param>,
    func: usize,
    /// How many parameters are inputs (computed once at load).
    inputs: usize,
    /// How many parameters are outputs (computed once at load).
    outputs: usize,
}

impl HostEntry {
    /// How many arguments a `$ZF` call passes (the inputs).
    pub fn input_count(&self) -> usize {
        self.inputs
    }

    /// How many outputs a successful call answers.
    pub fn output_count(&self) -> usize {
        self.outputs
    }
}

#[repr(C)]
struct RawEntry {
    name: *const c_char,
    descriptor: *const c_char,
    func: *const c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ExStr {
    len: u32,
    ch: *mut u8,
}

// ---- the callback and export tables the host passes ----

thread_local! {
    static REPLY_CAPACITY: Cell<c_int> = const { Cell::new(32_767) };
    /// The per-call $ZF heap, reused from call to call as IRIS reuses its own.
    static HEAP: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

extern "C" fn cb_strsize() -> c_int {
    REPLY_CAPACITY.with(|c| c.get())
}
extern "C" fn cb_noop() -> c_int {
    0
}
extern "C" fn trap() {
    eprintln!("host emulator: the library called an export/callback slot it must not use");
    std::process::abort();
}

/// Long-string buffers the emulator has handed out (pointer → allocated size).
static LONG_ALLOCS: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

/// Freed long-string buffers of [`POOL_MIN`] bytes and more, kept for reuse, as IRIS reuses
/// its own string memory. Without it every large string would be a fresh allocation that
/// glibc takes from the kernel and gives back (its trim threshold is 128 KiB), so each call
/// would pay page faults and page clearing that IRIS does not. A buffer's first and last
/// 4 KiB are poisoned when it comes back: a library reading a string after releasing it
/// reads garbage, not the old bytes.
static LONG_POOL: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
const POOL_MIN: usize = 64 * 1024;
const POOL_MAX: usize = 4;
const POISON: u8 = 0xA5;

/// A buffer of at least `len` bytes (one at least), filled with `init` and then poison: from
/// the pool when one of about that size is there, else new (filled in one pass, so the
/// copy is a new allocation's first touch). Returns the pointer and the allocation's size.
fn long_buffer(len: usize, init: &[u8]) -> (*mut u8, usize) {
    let want = len.max(1);
    if want >= POOL_MIN {
        let mut pool = LONG_POOL.lock().unwrap();
        if let Some(i) = pool.iter().position(|&(_, cap)| cap >= want && cap <= want * 2) {
            let (p, cap) = pool.swap_remove(i);
            // SAFETY (test host): a pooled allocation of `cap` >= `init.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(init.as_ptr(), p as *mut u8, init.len()) };
            return (p as *mut u8, cap);
        }
    }
    let mut v = Vec::with_capacity(want);
    v.extend_from_slice(init);
    v.resize(want, POISON);
    let mut v = std::mem::ManuallyDrop::new(v);
    (v.as_mut_ptr(), v.capacity())
}

/// Gives a buffer made by [`long_buffer`] (or any `Vec<u8>` allocation of `cap` bytes) back.
///
/// # Safety
/// `p` is an allocation of exactly `cap` bytes by the global allocator, not used afterwards.
unsafe fn release_long(p: *mut u8, cap: usize) {
    if cap >= POOL_MIN {
        let mut pool = LONG_POOL.lock().unwrap();
        if pool.len() < POOL_MAX {
            // its first and last 4 KiB: enough to show a read after release
            let edge = cap.min(4096);
            std::ptr::write_bytes(p, POISON, edge);
            std::ptr::write_bytes(p.add(cap - edge), POISON, edge);
            pool.push((p as usize, cap));
            return;
        }
    }
    drop(Vec::from_raw_parts(p, cap, cap));
}

/// Gives an output's buffer back when it is replaced.
fn recycle(out: Out) {
    if let Out::Bytes(v) = out {
        let mut v = std::mem::ManuallyDrop::new(v);
        // SAFETY (test host): the vector's own allocation, of its capacity, never used again.
        unsafe { release_long(v.as_mut_ptr(), v.capacity()) }
    }
}

extern "C" fn exstr_kill(s: *mut ExStr) -> c_int {
    if s.is_null() {
        return 0;
    }
    // SAFETY (test host): `s` is a descriptor this emulator created for the call.
    unsafe {
        let p = (*s).ch as usize;
        if p != 0 {
            let mut g = LONG_ALLOCS.lock().unwrap();
            if let Some(cap) = g.get_or_insert_with(HashMap::new).remove(&p) {
                drop(g);
                release_long(p as *mut u8, cap);
            } else {
                eprintln!("host emulator: IrisExStrKill on a buffer the host did not allocate");
                std::process::abort();
            }
        }
        (*s).ch = std::ptr::null_mut();
        (*s).len = 0;
    }
    1
}

/// Takes the buffer of an output long string from its descriptor (which is left empty), as
/// IRIS keeps the string the library produced; a buffer this host did not hand out aborts,
/// as `IrisExStrKill` would.
///
/// # Safety
/// `s` is a descriptor this emulator created for the call.
unsafe fn take_long(s: *mut ExStr) -> Vec<u8> {
    let p = (*s).ch;
    let len = (*s).len as usize;
    (*s).ch = std::ptr::null_mut();
    (*s).len = 0;
    if p.is_null() {
        return Vec::new();
    }
    let Some(cap) = LONG_ALLOCS.lock().unwrap().get_or_insert_with(HashMap::new).remove(&(p as usize)) else {
        eprintln!("host emulator: a long-string output the host did not allocate");
        std::process::abort();
    };
    assert!(len <= cap, "host emulator: long-string output length {len} exceeds its buffer of {cap}");
    // SAFETY (test host): `p` came from `exstr_new` as a boxed slice of `cap` bytes.
    let mut v = Vec::from_raw_parts(p, cap, cap);
    v.truncate(len);
    v
}

extern "C" fn exstr_new(s: *mut ExStr, len: c_int) -> *mut u8 {
    if s.is_null() || len < 0 || len as usize > 3_641_144 {
        return std::ptr::null_mut();
    }
    // At least one byte, so that every live buffer has its own address (zero-length boxes
    // would all share one dangling pointer).
    let (p, cap) = long_buffer(len as usize, &[]);
    LONG_ALLOCS.lock().unwrap().get_or_insert_with(HashMap::new).insert(p as usize, cap);
    // SAFETY (test host): `s` is a descriptor this emulator created for the call.
    unsafe {
        (*s).ch = p;
        (*s).len = len as u32;
    }
    p
}

fn alloc_long(bytes: &[u8]) -> ExStr {
    // As IrisExStrNew would give it (at least one byte, registered for IrisExStrKill).
    let (p, cap) = long_buffer(bytes.len(), bytes);
    LONG_ALLOCS.lock().unwrap().get_or_insert_with(HashMap::new).insert(p as usize, cap);
    ExStr { len: bytes.len() as u32, ch: p }
}

const EXPORT_SLOTS: usize = 160;
const SLOT_KILL: usize = 117;
const SLOT_NEW: usize = 118;

struct Tables {
    callbacks: Vec<*const c_void>,
    exports: Vec<*const c_void>,
}

fn tables(long_strings: bool) -> Tables {
    let mut callbacks = vec![trap as *const c_void; 8];
    callbacks[0] = cb_strsize as *const c_void;
    callbacks[1] = cb_noop as *const c_void; // zferror
    callbacks[4] = cb_noop as *const c_void; // sigrtchk: no stop request
    callbacks[5] = cb_noop as *const c_void; // sigrtclr
    callbacks[6] = cb_noop as *const c_void; // dzfalarm
    let mut exports = vec![trap as *const c_void; EXPORT_SLOTS];
    if long_strings {
        exports[SLOT_KILL] = exstr_kill as *const c_void;
        exports[SLOT_NEW] = exstr_new as *const c_void;
    } else {
        exports[SLOT_KILL] = std::ptr::null();
        exports[SLOT_NEW] = std::ptr::null();
    }
    Tables { callbacks, exports }
}

/// A loaded library, as one IRIS process holds it.
///
/// `Sync`: tests share one host between threads (as IRIS never does, but the library must
/// cope); per-call scratch lives on the calling thread's stack or in thread-locals.
pub struct ZfHost {
    lib: Option<libloading::Library>,
    entries: Vec<HostEntry>,
    by_name: HashMap<String, usize>,
    /// The limits calls run with.
    pub limits: Limits,
}

const GUARD: usize = 32;
const GUARD_BYTE: u8 = 0xA5;
/// Written after an `int` output's 4 bytes (its storage is 8 bytes wide): a callee that
/// writes an `int64` through an `int*` overwrites it.
const GUARD_I32: i32 = 0xA5A5_A5A5_u32 as i32;
/// Parameters `call_words` can pass.
const MAX_CALL_PARAMS: usize = 16;

/// Where a counted or C string lives in the per-call heap and what it carries in.
#[derive(Clone, Copy)]
struct Region<'a> {
    at: usize,
    cap: usize,
    input: &'a [u8],
}

impl ZfHost {
    /// Loads the library at `path` with IRIS's default limits and long strings available.
    pub fn load(path: &Path) -> Result<Self, String> {
        Self::load_with(path, Limits::default(), true)
    }

    /// Loads the library; `long_strings: false` passes an export table without the
    /// long-string functions.
    pub fn load_with(path: &Path, limits: Limits, long_strings: bool) -> Result<Self, String> {
        // SAFETY (test host): loading the library runs its initialisers, as IRIS does.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| format!("<DYNAMIC LIBRARY LOAD> {e}"))?;
        // IRIS's tables live as long as the process: leak them (a test process that loads the
        // library again gets new ones; the library keeps only the latest pair).
        let tables: &'static Tables = Box::leak(Box::new(tables(long_strings)));
        let table: *const RawEntry = unsafe {
            let get: libloading::Symbol<extern "C" fn(*const *const c_void, *const *const c_void) -> *const RawEntry> =
                lib.get(b"GetZFTable\0").map_err(|e| format!("<DYNAMIC LIBRARY LOAD> no GetZFTable: {e}"))?;
            get(tables.callbacks.as_ptr(), tables.exports.as_ptr())
        };
        if table.is_null() {
            return Err("GetZFTable returned NULL".into());
        }
        unsafe {
            if let Ok(init) = lib.get::<extern "C" fn() -> c_int>(b"ZFInit\0") {
                let rc = init();
                if rc != 0 {
                    return Err(format!("ZFInit returned {rc}"));
                }
            }
        }
        let mut entries = Vec::new();
        let mut i = 0;
        loop {
            // SAFETY (test host): the table is an array terminated by an all-NULL entry.
            let e = unsafe { &*table.add(i) };
            if e.name.is_null() && e.descriptor.is_null() && e.func.is_null() {
                break;
            }
            if e.name.is_null() || e.descriptor.is_null() || e.func.is_null() {
                return Err(format!("table entry {} has a NULL field but is not the terminator", i + 1));
            }
            let name = unsafe { CStr::from_ptr(e.name) }.to_str().map_err(|_| "entry name not ASCII")?.to_owned();
            let descriptor = unsafe { CStr::from_ptr(e.descriptor) }.to_str().map_err(|_| "bad descriptor")?.to_owned();
            let params = parse_descriptor(&descriptor).map_err(|e| format!("entry {name}: {e}"))?;
            let outputs = params.iter().filter(|p| p.is_output()).count();
            let inputs = params.len() - outputs;
            entries.push(HostEntry { id: i + 1, name, descriptor, params, func: e.func as usize, inputs, outputs });
            i += 1;
            if i > 10_000 {
                return Err("no table terminator".into());
            }
        }
        let by_name = entries.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        Ok(ZfHost { lib: Some(lib), entries, by_name, limits })
    }

    /// The walked table.
    pub fn entries(&self) -> &[HostEntry] {
        &self.entries
    }

    /// The entry with this name.
    pub fn entry(&self, name: &str) -> Option<&HostEntry> {
        self.index_of(name).map(|i| &self.entries[i])
    }

    /// The 1-based function id of the entry with this name, as `$ZF(-4,3,libid,name)`
    /// answers it: look it up once, then call with [`ZfHost::call_id`] or
    /// [`ZfHost::call_into`].
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.index_of(name).map(|i| i + 1)
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Calls `ZFUnload` (as `$ZF(-4,2)` does) and unloads the library.
    pub fn unload(mut self) -> i32 {
        let lib = self.lib.take().expect("loaded");
        let rc = unsafe {
            match lib.get::<extern "C" fn() -> c_int>(b"ZFUnload\0") {
                Ok(f) => f(),
                Err(_) => 0,
            }
        };
        drop(lib);
        rc
    }

    /// Calls an entry by name, as `$ZF(-5, lib, id, args...)` would (the name is resolved to
    /// the id first, as `$ZF(-4,3)` does).
    pub fn call(&self, name: &str, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let i = self.index_of(name).ok_or_else(|| HostError::NoSuchFunction(name.to_owned()))?;
        self.call_fresh(&self.entries[i], args)
    }

    /// Calls an entry by 1-based id.
    pub fn call_id(&self, id: usize, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let e = self.entries.get(id.wrapping_sub(1)).ok_or_else(|| HostError::NoSuchFunction(format!("#{id}")))?;
        self.call_fresh(e, args)
    }

    /// Calls an entry by 1-based id like [`ZfHost::call_id`], answering into `reply` and
    /// reusing its buffers (a loop that keeps one `Reply` makes no allocation per call once
    /// the buffers are large enough). On an error `reply` is left empty.
    pub fn call_into(&self, id: usize, args: &[Arg<'_>], reply: &mut Reply) -> Result<(), HostError> {
        let Some(e) = self.entries.get(id.wrapping_sub(1)) else {
            reply.outputs.clear();
            return Err(HostError::NoSuchFunction(format!("#{id}")));
        };
        self.call_entry(e, args, reply)
    }

    fn call_fresh(&self, e: &HostEntry, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let mut reply = Reply { outputs: Vec::with_capacity(e.outputs) };
        self.call_entry(e, args, &mut reply)?;
        Ok(reply)
    }

    fn call_entry(&self, e: &HostEntry, args: &[Arg<'_>], reply: &mut Reply) -> Result<(), HostError> {
        match self.call_entry_inner(e, args, reply) {
            Ok(()) => Ok(()),
            Err(err) => {
                reply.outputs.clear();
                Err(err)
            }
        }
    }

    #[inline(always)]
    fn call_entry_inner(&self, e: &HostEntry, args: &[Arg<'_>], reply: &mut Reply) -> Result<(), HostError> {
        if args.len() != e.inputs {
            return Err(HostError::ArgCount { name: e.name.clone(), expected: e.inputs, got: args.len() });
        }
        let n = e.params.len();
        if n > MAX_CALL_PARAMS {
            panic!("the emulator calls at most {MAX_CALL_PARAMS} parameters, not {n}");
        }
        // Pass 1: check every argument against its letter and plan the $ZF heap, before
        // anything is allocated. All scratch is on this thread's stack and not cleared:
        // `words[i]` (the argument as passed) is written for every parameter (here for
        // values, in pass 2 for pointers), `nums[i]` here for each `int*`/`int64*`/`double*`
        // parameter (the 8 bytes it points to), `regions[i]` here for each string parameter
        // (counted, C, long) and `longs[i]` in pass 2 for each long-string parameter; each is
        // read only for such parameters.
        let mut words = [MaybeUninit::<u64>::uninit(); MAX_CALL_PARAMS];
        let mut nums = [MaybeUninit::<u64>::uninit(); MAX_CALL_PARAMS];
        let mut regions: [MaybeUninit<Region<'_>>; MAX_CALL_PARAMS] = [const { MaybeUninit::uninit() }; MAX_CALL_PARAMS];
        let mut longs: [MaybeUninit<ExStr>; MAX_CALL_PARAMS] = [const { MaybeUninit::uninit() }; MAX_CALL_PARAMS];
        let mut heap_used = 0usize;
        let mut payload = 0usize;
        let align8 = |n: usize| (n + 7) & !7;
        let mut next_arg = args.iter();
        for (i, &p) in e.params.iter().enumerate() {
            let arg = if p.is_output() { None } else { next_arg.next() };
            match (p, arg) {
                (Param::I32, Some(Arg::Int(v))) => _ = words[i].write(*v as i32 as i64 as u64),
                (Param::I64, Some(Arg::Int(v))) => _ = words[i].write(*v as u64),
                (Param::I32Ptr { .. }, a) => _ = nums[i].write(int_arg(a)? as u64),
                (Param::I64Ptr { .. }, a) => _ = nums[i].write(int_arg(a)? as u64),
                (Param::F64Ptr { .. }, a) => _ = nums[i].write((int_arg(a)? as f64).to_bits()),
                (Param::Counted { out }, a) => {
                    let input = bytes_arg(a)?;
                    if input.len() > u16::MAX as usize {
                        return Err(HostError::ArgType(format!("{} bytes do not fit a counted string", input.len())));
                    }
                    let cap = if out { input.len().max(self.limits.zf_string) } else { input.len() };
                    regions[i].write(Region { at: heap_used, cap, input });
                    heap_used = align8(heap_used + 2 + cap) + GUARD;
                    payload += 2 + cap;
                }
                (Param::CStr { out }, a) => {
                    let input = bytes_arg(a)?;
                    let cap = if out { input.len().max(self.limits.zf_string) } else { input.len() };
                    regions[i].write(Region { at: heap_used, cap, input });
                    heap_used = align8(heap_used + cap + 1) + GUARD;
                    payload += cap + 1;
                }
                (Param::Long { out: false }, a) => {
                    regions[i].write(Region { at: 0, cap: 0, input: bytes_arg(a)? });
                }
                (Param::Long { out: true }, _) => {}
                (Param::Wide { letter }, _) => return Err(HostError::Unsupported(format!("letter {letter}"))),
                (p, a) => return Err(HostError::ArgType(format!("{p:?} given {a:?}"))),
            }
        }
        if payload > self.limits.zf_size {
            return Err(HostError::HeapSpace { needed: payload, available: self.limits.zf_size });
        }
        // Pass 2: marshal. The heap is only touched by calls that have strings in it.
        let mut heap = if heap_used > 0 { HEAP.with(|h| h.take()) } else { Vec::new() };
        let base: *mut u8 = if heap_used > 0 {
            if heap.len() < heap_used + 16 {
                heap.resize(heap_used + 16, GUARD_BYTE);
            }
            // Align the heap base to 8 bytes.
            let base_off = heap.as_ptr().align_offset(8);
            unsafe { heap.as_mut_ptr().add(base_off) }
        } else {
            std::ptr::null_mut()
        };
        let nums_p = nums.as_mut_ptr() as *mut u64;
        let words_p = words.as_mut_ptr() as *mut u64;
        let longs_p = longs.as_mut_ptr() as *mut ExStr;
        for (i, &p) in e.params.iter().enumerate() {
            // SAFETY (test host): every offset is inside the planned heap or the scratch arrays.
            unsafe {
                match p {
                    Param::I32 | Param::I64 | Param::Wide { .. } => {}
                    Param::I32Ptr { .. } => {
                        let q = nums_p.add(i) as *mut i32;
                        q.write(nums_p.add(i).read() as i64 as i32);
                        q.add(1).write(GUARD_I32);
                        words_p.add(i).write(q as u64);
                    }
                    Param::I64Ptr { .. } | Param::F64Ptr { .. } => words_p.add(i).write(nums_p.add(i) as u64),
                    // Guard bytes after every string region (the regions themselves are not
                    // cleared, as IRIS does not clear its heap either).
                    Param::Counted { .. } => {
                        let Region { at, cap, input } = regions[i].assume_init();
                        let q = base.add(at);
                        std::ptr::write_bytes(q.add(2 + cap), GUARD_BYTE, GUARD);
                        std::ptr::write_unaligned(q as *mut u16, input.len() as u16);
                        std::ptr::copy_nonoverlapping(input.as_ptr(), q.add(2), input.len());
                        words_p.add(i).write(q as u64);
                    }
                    Param::CStr { .. } => {
                        let Region { at, cap, input } = regions[i].assume_init();
                        let q = base.add(at);
                        std::ptr::write_bytes(q.add(cap + 1), GUARD_BYTE, GUARD);
                        std::ptr::copy_nonoverlapping(input.as_ptr(), q, input.len());
                        *q.add(input.len()) = 0;
                        words_p.add(i).write(q as u64);
                    }
                    Param::Long { out } => {
                        longs_p.add(i).write(if out {
                            ExStr { len: 0, ch: std::ptr::null_mut() }
                        } else {
                            alloc_long(regions[i].assume_init().input)
                        });
                        words_p.add(i).write(longs_p.add(i) as u64);
                    }
                }
            }
        }
        REPLY_CAPACITY.with(|c| c.set(self.limits.zf_string as c_int));
        // SAFETY: every word below `n` was written above.
        let rc = unsafe { call_words(e.func, std::slice::from_raw_parts(words_p, n)) };
        // Pass 3: checks and outputs, in parameter order; the first finding is the answer,
        // but every long string is still read and freed.
        let mut problem: Option<HostError> = None;
        let mut found = |p: HostError| {
            if problem.is_none() {
                problem = Some(p);
            }
        };
        let outputs = &mut reply.outputs;
        let mut k = 0usize;
        for (i, &p) in e.params.iter().enumerate() {
            // SAFETY (test host): as in pass 2.
            unsafe {
                match p {
                    Param::Counted { out } => {
                        let Region { at, cap, input } = regions[i].assume_init();
                        let q = base.add(at);
                        let len = std::ptr::read_unaligned(q as *const u16) as usize;
                        if !guard_intact(q.add(2 + cap)) {
                            found(HostError::Overrun(format!("{}: counted string past its capacity", e.name)));
                        }
                        if out {
                            if len > cap {
                                found(HostError::Overrun(format!("{}: length {len} > capacity {cap}", e.name)));
                            } else {
                                put_bytes(outputs, k, std::slice::from_raw_parts(q.add(2), len));
                                k += 1;
                            }
                        } else if len != input.len() {
                            found(HostError::Overrun(format!("{}: an input string was modified", e.name)));
                        }
                    }
                    Param::CStr { out } => {
                        let Region { at, cap, .. } = regions[i].assume_init();
                        let q = base.add(at);
                        if !guard_intact(q.add(cap + 1)) {
                            found(HostError::Overrun(format!("{}: C string past its capacity", e.name)));
                        }
                        if out {
                            // The terminator must be inside the region (cap bytes and the NUL).
                            let region = std::slice::from_raw_parts(q, cap + 1);
                            match region.iter().position(|&b| b == 0) {
                                Some(len) => {
                                    put_bytes(outputs, k, &region[..len]);
                                    k += 1;
                                }
                                None => found(HostError::Overrun(format!("{}: C string not terminated within its capacity", e.name))),
                            }
                        }
                    }
                    Param::I32Ptr { out } => {
                        let q = nums_p.add(i) as *const i32;
                        if q.add(1).read() != GUARD_I32 {
                            found(HostError::Overrun(format!("{}: more than 4 bytes written to an int*", e.name)));
                        }
                        if out {
                            put_int(outputs, k, q.read() as i64);
                            k += 1;
                        }
                    }
                    Param::I64Ptr { out: true } => {
                        put_int(outputs, k, (nums_p.add(i) as *const i64).read());
                        k += 1;
                    }
                    Param::F64Ptr { out: true } => {
                        put_int(outputs, k, (nums_p.add(i) as *const f64).read() as i64);
                        k += 1;
                    }
                    Param::Long { out } => {
                        let d = longs_p.add(i);
                        if out {
                            // IRIS keeps the long string the library made: the output takes
                            // the buffer itself (no copy), and the descriptor is emptied.
                            let v = take_long(d);
                            match outputs.get_mut(k) {
                                Some(o) => recycle(std::mem::replace(o, Out::Bytes(v))),
                                None => outputs.push(Out::Bytes(v)),
                            }
                            k += 1;
                        } else if !(*d).ch.is_null() {
                            found(HostError::LongNotReleased(e.name.clone()));
                            exstr_kill(d);
                        }
                    }
                    _ => {}
                }
            }
        }
        if heap_used > 0 {
            HEAP.with(|h| h.set(heap));
        }
        outputs.truncate(k);
        if let Some(p) = problem {
            return Err(p);
        }
        if rc != 0 {
            return Err(HostError::Function(rc));
        }
        Ok(())
    }
}

impl Drop for ZfHost {
    fn drop(&mut self) {
        // An IRIS process that halts does not call ZFUnload; neither does dropping the host.
        if let Some(lib) = self.lib.take() {
            std::mem::forget(lib);
        }
    }
}

/// Whether the `GUARD` bytes at `p` still hold `GUARD_BYTE`.
unsafe fn guard_intact(p: *const u8) -> bool {
    // A fold without early exit, so that it compiles to a few vector compares.
    std::slice::from_raw_parts(p, GUARD).iter().fold(0u8, |acc, &b| acc | (b ^ GUARD_BYTE)) == 0
}

/// Sets output `k` to these bytes, reusing the buffer already there.
fn put_bytes(outputs: &mut Vec<Out>, k: usize, b: &[u8]) {
    match outputs.get_mut(k) {
        Some(Out::Bytes(v)) => {
            v.clear();
            v.extend_from_slice(b);
        }
        Some(o) => *o = Out::Bytes(b.to_vec()),
        None => outputs.push(Out::Bytes(b.to_vec())),
    }
}

/// Sets output `k` to this integer.
fn put_int(outputs: &mut Vec<Out>, k: usize, v: i64) {
    match outputs.get_mut(k) {
        Some(o) => *o = Out::Int(v),
        None => outputs.push(Out::Int(v)),
    }
}

/// Appends the decimal form of `v` (as ObjectScript prints an integer).
fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

fn int_arg(a: Option<&Arg<'_>>) -> Result<i64, HostError> {
    match a {
        None => Ok(0),
        Some(Arg::Int(v)) => Ok(*v),
        Some(other) => Err(HostError::ArgType(format!("expected a number, got {other:?}"))),
    }
}

fn bytes_arg<'a>(a: Option<&'a Arg<'a>>) -> Result<&'a [u8], HostError> {
    match a {
        None => Ok(&[]),
        Some(Arg::Bytes(b)) => Ok(b),
        // ObjectScript converts a number to its canonical string form.
        Some(Arg::Int(_)) => Err(HostError::ArgType("a number where a string is expected".into())),
    }
}

/// Calls `f` with every argument in an integer register or 8-byte stack slot, as the C
/// calling convention of x86-64 and AArch64 Linux passes ints and pointers (an `int` by
/// value reads the low half of its slot).
unsafe fn call_words(f: usize, w: &[u64]) -> c_int {
    macro_rules! call_n {
        ($($i:literal)*) => {{
            let g: extern "C" fn($(call_n!(@ty $i)),*) -> c_int = std::mem::transmute(f);
            g($(w[$i]),*)
        }};
        (@ty $i:literal) => { u64 };
    }
    match w.len() {
        0 => call_n!(),
        1 => call_n!(0),
        2 => call_n!(0 1),
        3 => call_n!(0 1 2),
        4 => call_n!(0 1 2 3),
        5 => call_n!(0 1 2 3 4),
        6 => call_n!(0 1 2 3 4 5),
        7 => call_n!(0 1 2 3 4 5 6),
        8 => call_n!(0 1 2 3 4 5 6 7),
        9 => call_n!(0 1 2 3 4 5 6 7 8),
        10 => call_n!(0 1 2 3 4 5 6 7 8 9),
        11 => call_n!(0 1 2 3 4 5 6 7 8 9 10),
        12 => call_n!(0 1 2 3 4 5 6 7 8 9 10 11),
        13 => call_n!(0 1 2 3 4 5 6 7 8 9 10 11 12),
        14 => call_n!(0 1 2 3 4 5 6 7 8 9 10 11 12 13),
        15 => call_n!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14),
        16 => call_n!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
        n => panic!("the emulator calls at most 16 parameters, not {n}"),
    }
}

/// The built cdylib: `IRISKAFKA_LIB` if set, else `libiriskafka.so` next to (or one level
/// above) the running test, example or bench executable.
pub fn cdylib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("IRISKAFKA_LIB") {
        return PathBuf::from(p);
    }
    let name = if cfg!(target_os = "macos") {
        "libiriskafka.dylib"
    } else if cfg!(windows) {
        "iriskafka.dll"
    } else {
        "libiriskafka.so"
    };
    let exe = std::env::current_exe().expect("current exe");
    for dir in exe.ancestors().skip(1).take(3) {
        let p = dir.join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not found near {}: build it with `cargo build` (or set IRISKAFKA_LIB)", exe.display());
}
