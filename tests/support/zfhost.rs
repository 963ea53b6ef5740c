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
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
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
#[derive(Debug, Clone)]
pub struct Reply {
    /// The outputs in order.
    pub outputs: Vec<Out>,
    /// The `$ZF` result as ObjectScript sees it: outputs joined by commas.
    pub joined: Vec<u8>,
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
}

impl HostEntry {
    /// How many arguments a `$ZF` call passes (the inputs).
    pub fn input_count(&self) -> usize {
        self.params.iter().filter(|p| !p.is_output()).count()
    }
}

#[repr(C)]
struct RawEntry {
    name: *const c_char,
    descriptor: *const c_char,
    func: *const c_void,
}

#[repr(C)]
struct ExStr {
    len: u32,
    ch: *mut u8,
}

// ---- the callback and export tables the host passes ----

thread_local! {
    static REPLY_CAPACITY: Cell<c_int> = const { Cell::new(32_767) };
    /// The per-call $ZF heap, reused from call to call as IRIS reuses its own.
    static HEAP: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
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

extern "C" fn exstr_kill(s: *mut ExStr) -> c_int {
    if s.is_null() {
        return 0;
    }
    // SAFETY (test host): `s` is a descriptor this emulator created for the call.
    unsafe {
        let p = (*s).ch as usize;
        if p != 0 {
            let mut g = LONG_ALLOCS.lock().unwrap();
            if let Some(len) = g.get_or_insert_with(HashMap::new).remove(&p) {
                drop(Vec::from_raw_parts(p as *mut u8, len, len));
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

extern "C" fn exstr_new(s: *mut ExStr, len: c_int) -> *mut u8 {
    if s.is_null() || len < 0 || len as usize > 3_641_144 {
        return std::ptr::null_mut();
    }
    // At least one byte, so that every live buffer has its own address (zero-length boxes
    // would all share one dangling pointer).
    let cap = (len as usize).max(1);
    let mut v = vec![0u8; cap].into_boxed_slice();
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    LONG_ALLOCS.lock().unwrap().get_or_insert_with(HashMap::new).insert(p as usize, cap);
    // SAFETY (test host): `s` is a descriptor this emulator created for the call.
    unsafe {
        (*s).ch = p;
        (*s).len = len as u32;
    }
    p
}

fn alloc_long(bytes: &[u8]) -> ExStr {
    let mut e = ExStr { len: 0, ch: std::ptr::null_mut() };
    let p = exstr_new(&mut e, bytes.len() as c_int);
    // SAFETY: exstr_new allocated bytes.len() bytes at p.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    e
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
pub struct ZfHost {
    lib: Option<libloading::Library>,
    entries: Vec<HostEntry>,
    by_name: HashMap<String, usize>,
    /// The limits calls run with.
    pub limits: Limits,
}

const GUARD: usize = 32;
const GUARD_BYTE: u8 = 0xA5;

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
            entries.push(HostEntry { id: i + 1, name, descriptor, params, func: e.func as usize });
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
        self.by_name.get(name).map(|&i| &self.entries[i])
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

    /// Calls an entry by name, as `$ZF(-5, lib, id, args...)` would.
    pub fn call(&self, name: &str, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let e = self.entry(name).ok_or_else(|| HostError::NoSuchFunction(name.to_owned()))?;
        self.call_entry(e, args)
    }

    /// Calls an entry by 1-based id.
    pub fn call_id(&self, id: usize, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let e = self.entries.get(id.wrapping_sub(1)).ok_or_else(|| HostError::NoSuchFunction(format!("#{id}")))?;
        self.call_entry(e, args)
    }

    fn call_entry(&self, e: &HostEntry, args: &[Arg<'_>]) -> Result<Reply, HostError> {
        let inputs = e.input_count();
        if args.len() != inputs {
            return Err(HostError::ArgCount { name: e.name.clone(), expected: inputs, got: args.len() });
        }
        // Plan the $ZF heap: (offset, capacity) for each counted/C string parameter.
        let mut args_iter = args.iter();
        let mut plan: Vec<Slot> = Vec::with_capacity(e.params.len());
        let mut heap_used = 0usize;
        let align8 = |n: usize| (n + 7) & !7;
        for p in &e.params {
            let arg = if p.is_output() { None } else { args_iter.next() };
            let slot = match (*p, arg) {
                (Param::I32, Some(Arg::Int(v))) => Slot::Value(*v as i32 as i64 as u64),
                (Param::I64, Some(Arg::Int(v))) => Slot::Value(*v as u64),
                (Param::I32Ptr { .. }, a) => Slot::I32(Box::new(int_arg(a)? as i32)),
                (Param::I64Ptr { .. }, a) => Slot::I64(Box::new(int_arg(a)?)),
                (Param::F64Ptr { .. }, a) => Slot::F64(Box::new(int_arg(a)? as f64)),
                (Param::Counted { out }, a) => {
                    let input = bytes_arg(a)?;
                    if input.len() > u16::MAX as usize {
                        return Err(HostError::ArgType(format!("{} bytes do not fit a counted string", input.len())));
                    }
                    let cap = if out { input.len().max(self.limits.zf_string) } else { input.len() };
                    let at = heap_used;
                    heap_used = align8(heap_used + 2 + cap) + GUARD;
                    Slot::Counted { at, cap, input: input.to_vec(), out }
                }
                (Param::CStr { out }, a) => {
                    let input = bytes_arg(a)?;
                    let cap = if out { input.len().max(self.limits.zf_string) } else { input.len() };
                    let at = heap_used;
                    heap_used = align8(heap_used + cap + 1) + GUARD;
                    Slot::CStr { at, cap, input: input.to_vec(), out }
                }
                (Param::Long { out: false }, a) => Slot::Long(Box::new(alloc_long(bytes_arg(a)?)), false),
                (Param::Long { out: true }, _) => Slot::Long(Box::new(ExStr { len: 0, ch: std::ptr::null_mut() }), true),
                (Param::Wide { letter }, _) => return Err(HostError::Unsupported(format!("letter {letter}"))),
                (p, a) => return Err(HostError::ArgType(format!("{p:?} given {a:?}"))),
            };
            plan.push(slot);
        }
        let payload: usize = plan
            .iter()
            .map(|s| match s {
                Slot::Counted { cap, .. } => 2 + cap,
                Slot::CStr { cap, .. } => cap + 1,
                _ => 0,
            })
            .sum();
        if payload > self.limits.zf_size {
            return Err(HostError::HeapSpace { needed: payload, available: self.limits.zf_size });
        }
        let mut heap = HEAP.with(|h| h.take());
        if heap.len() < heap_used + 16 {
            heap.resize(heap_used + 16, GUARD_BYTE);
        }
        // Align the heap base to 8 bytes.
        let base_off = heap.as_ptr().align_offset(8);
        let base = unsafe { heap.as_mut_ptr().add(base_off) };
        // Guard bytes after every string region (the regions themselves are not cleared, as
        // IRIS does not clear its heap either).
        for s in &plan {
            let guard_at = match s {
                Slot::Counted { at, cap, .. } => at + 2 + cap,
                Slot::CStr { at, cap, .. } => at + cap + 1,
                _ => continue,
            };
            unsafe { std::ptr::write_bytes(base.add(guard_at), GUARD_BYTE, GUARD) };
        }
        let mut words: Vec<u64> = Vec::with_capacity(plan.len());
        for s in plan.iter_mut() {
            let w = match s {
                Slot::Value(v) => *v,
                Slot::I32(b) => &mut **b as *mut i32 as u64,
                Slot::I64(b) => &mut **b as *mut i64 as u64,
                Slot::F64(b) => &mut **b as *mut f64 as u64,
                Slot::Counted { at, input, .. } => unsafe {
                    let p = base.add(*at);
                    std::ptr::write_unaligned(p as *mut u16, input.len() as u16);
                    std::ptr::copy_nonoverlapping(input.as_ptr(), p.add(2), input.len());
                    p as u64
                },
                Slot::CStr { at, input, .. } => unsafe {
                    let p = base.add(*at);
                    std::ptr::copy_nonoverlapping(input.as_ptr(), p, input.len());
                    *p.add(input.len()) = 0;
                    p as u64
                },
                Slot::Long(b, _) => &mut **b as *mut ExStr as u64,
            };
            words.push(w);
        }
        REPLY_CAPACITY.with(|c| c.set(self.limits.zf_string as c_int));
        let rc = unsafe { call_words(e.func, &words) };
        // Checks and outputs.
        let mut outputs = Vec::new();
        let mut problems = Vec::new();
        for (s, p) in plan.iter_mut().zip(&e.params) {
            match s {
                Slot::Counted { at, cap, out, input } => unsafe {
                    let p = base.add(*at);
                    let len = std::ptr::read_unaligned(p as *const u16) as usize;
                    let region_end = 2 + *cap;
                    let guard = std::slice::from_raw_parts(p.add(region_end), GUARD);
                    if guard.iter().any(|&b| b != GUARD_BYTE) {
                        problems.push(HostError::Overrun(format!("{}: counted string past its capacity", e.name)));
                    }
                    if *out {
                        if len > *cap {
                            problems.push(HostError::Overrun(format!("{}: length {len} > capacity {cap}", e.name)));
                        } else {
                            outputs.push(Out::Bytes(std::slice::from_raw_parts(p.add(2), len).to_vec()));
                        }
                    } else if len != input.len() {
                        problems.push(HostError::Overrun(format!("{}: an input string was modified", e.name)));
                    }
                },
                Slot::CStr { at, cap, out, .. } => unsafe {
                    let p = base.add(*at);
                    let guard = std::slice::from_raw_parts(p.add(*cap + 1), GUARD);
                    if guard.iter().any(|&b| b != GUARD_BYTE) {
                        problems.push(HostError::Overrun(format!("{}: C string past its capacity", e.name)));
                    }
                    if *out {
                        outputs.push(Out::Bytes(CStr::from_ptr(p as *const c_char).to_bytes().to_vec()));
                    }
                },
                Slot::I32(b) if p.is_output() => outputs.push(Out::Int(**b as i64)),
                Slot::I64(b) if p.is_output() => outputs.push(Out::Int(**b)),
                Slot::F64(b) if p.is_output() => outputs.push(Out::Int(**b as i64)),
                Slot::Long(d, out) => {
                    if *out {
                        let bytes = if d.ch.is_null() {
                            Vec::new()
                        } else {
                            unsafe { std::slice::from_raw_parts(d.ch, d.len as usize).to_vec() }
                        };
                        exstr_kill(&mut **d);
                        outputs.push(Out::Bytes(bytes));
                    } else if !d.ch.is_null() {
                        problems.push(HostError::LongNotReleased(e.name.clone()));
                        exstr_kill(&mut **d);
                    }
                }
                _ => {}
            }
        }
        HEAP.with(|h| h.replace(heap));
        if let Some(p) = problems.into_iter().next() {
            return Err(p);
        }
        if rc != 0 {
            return Err(HostError::Function(rc));
        }
        let mut joined = Vec::new();
        for (i, o) in outputs.iter().enumerate() {
            if i > 0 {
                joined.push(b',');
            }
            match o {
                Out::Int(v) => joined.extend_from_slice(v.to_string().as_bytes()),
                Out::Bytes(b) => joined.extend_from_slice(b),
            }
        }
        Ok(Reply { outputs, joined })
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

enum Slot {
    Value(u64),
    I32(Box<i32>),
    I64(Box<i64>),
    F64(Box<f64>),
    Counted { at: usize, cap: usize, input: Vec<u8>, out: bool },
    CStr { at: usize, cap: usize, input: Vec<u8>, out: bool },
    Long(Box<ExStr>, bool),
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
