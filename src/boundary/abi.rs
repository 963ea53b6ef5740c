//! The `$ZF` argument types. Each Rust parameter type of a table entry carries its
//! descriptor letter(s), so an entry's descriptor is derived from its signature and cannot
//! disagree with it. Every type is `#[repr(transparent)]` over the C type IRIS passes.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::error::{BridgeError, Result};

/// IRIS's counted 8-bit string (`b`/`B`): a 16-bit length, then the bytes at offset 2.
#[repr(C)]
pub struct ZfCounted {
    /// Length in bytes.
    pub len: u16,
    /// The bytes (flexible array member).
    pub data: [u8; 0],
}

/// IRIS's long-string descriptor (`j`/`J`): 32-bit length, 4 bytes padding, byte pointer.
#[repr(C)]
pub struct IrisExStr {
    /// Length in bytes.
    pub len: u32,
    /// The bytes, owned by IRIS.
    pub ch: *mut u8,
}

/// What every parameter type of a table entry provides.
pub trait ZfParam {
    /// The descriptor letter(s) for this parameter.
    const LETTER: &'static str;
    /// Before the body runs: give outputs a defined value.
    fn prepare(&mut self) {}
    /// The body failed with `code`: status outputs report it.
    fn on_error(&mut self, _code: i32) {}
    /// After the body: release what IRIS requires released (long-string inputs).
    fn release(&mut self) {}
}

/// `i`: a 32-bit integer input.
#[repr(transparent)]
pub struct InI32(pub c_int);
impl ZfParam for InI32 {
    const LETTER: &'static str = "i";
}

/// `8i`: a 64-bit integer input (handles, offsets, timestamps).
#[repr(transparent)]
pub struct InI64(pub i64);
impl ZfParam for InI64 {
    const LETTER: &'static str = "8i";
}

/// `P`: the call's status output: 0 on success, else the error code (then `LastError`).
#[repr(transparent)]
pub struct Status(*mut c_int);
impl ZfParam for Status {
    const LETTER: &'static str = "P";
    fn prepare(&mut self) {
        self.on_error(0);
    }
    fn on_error(&mut self, code: i32) {
        if !self.0.is_null() && self.0.is_aligned() {
            // SAFETY: IRIS passes a valid, writable int for a `P` argument; null and
            // misaligned pointers were excluded above.
            unsafe { *self.0 = code }
        }
    }
}

/// `P`: a 32-bit integer output.
#[repr(transparent)]
pub struct OutI32(*mut c_int);
impl OutI32 {
    /// Sets the output.
    pub fn set(&mut self, v: i32) -> Result<()> {
        if self.0.is_null() || !self.0.is_aligned() {
            return Err(BridgeError::bad_argument("null integer output"));
        }
        // SAFETY: a valid writable int from IRIS (checked non-null and aligned).
        unsafe { *self.0 = v };
        Ok(())
    }
}
impl ZfParam for OutI32 {
    const LETTER: &'static str = "P";
    fn prepare(&mut self) {
        let _ = self.set(0);
    }
}

/// `8P`: a 64-bit integer output.
#[repr(transparent)]
pub struct OutI64(*mut i64);
impl OutI64 {
    /// Sets the output.
    pub fn set(&mut self, v: i64) -> Result<()> {
        if self.0.is_null() || !self.0.is_aligned() {
            return Err(BridgeError::bad_argument("null integer output"));
        }
        // SAFETY: a valid writable int64 from IRIS (checked non-null and aligned).
        unsafe { *self.0 = v };
        Ok(())
    }
}
impl ZfParam for OutI64 {
    const LETTER: &'static str = "8P";
    fn prepare(&mut self) {
        let _ = self.set(0);
    }
}

/// `b`: a counted 8-bit string input (binary-safe, at most 65,535 bytes, in the `$ZF` heap).
#[repr(transparent)]
pub struct InBytes(*const ZfCounted);
impl InBytes {
    /// The bytes.
    pub fn bytes(&self) -> Result<&[u8]> {
        if self.0.is_null() {
            return Err(BridgeError::bad_argument("null string argument"));
        }
        // SAFETY: IRIS passes a counted string whose `len` bytes follow the length field;
        // the slice lives as long as the call (borrowed from `self`).
        unsafe {
            let len = (*self.0).len as usize;
            Ok(std::slice::from_raw_parts(std::ptr::addr_of!((*self.0).data).cast::<u8>(), len))
        }
    }

    /// The bytes as UTF-8 text.
    pub fn text(&self, what: &str) -> Result<&str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| BridgeError::bad_argument(format!("{what} is not valid UTF-8")))
    }
}
impl ZfParam for InBytes {
    const LETTER: &'static str = "b";
}

/// `B`: a counted 8-bit string output; holds at most the host's reply capacity.
#[repr(transparent)]
pub struct OutBytes(*mut ZfCounted);
impl OutBytes {
    /// How many bytes the output can take.
    pub fn capacity(&self) -> usize {
        host::reply_capacity()
    }

    /// Writes `data` as the output.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.fill(|buf| {
            let cap = buf.len();
            let dst = buf.get_mut(..data.len()).ok_or_else(|| {
                BridgeError::too_large(format!("{} bytes do not fit the reply capacity of {cap} bytes", data.len()))
            })?;
            dst.copy_from_slice(data);
            Ok(((), data.len()))
        })
    }

    /// Lets `fill` write the output in place, into the host's buffer (`capacity()` bytes),
    /// instead of building it elsewhere and copying it: `fill` answers its result and how
    /// many bytes it wrote. The output's length is set only when `fill` succeeds.
    pub fn fill<T>(&mut self, fill: impl FnOnce(&mut [u8]) -> Result<(T, usize)>) -> Result<T> {
        if self.0.is_null() {
            return Err(BridgeError::bad_argument("null string output"));
        }
        let cap = self.capacity();
        // SAFETY: IRIS gives a `B` output room for `capacity()` bytes after the length field
        // (the reply capacity from callback slot 0), writable for the whole call; the slice
        // is the only reference to them while `fill` runs.
        let buf = unsafe { std::slice::from_raw_parts_mut(std::ptr::addr_of_mut!((*self.0).data).cast::<u8>(), cap) };
        let (r, len) = fill(buf)?;
        if len > cap {
            return Err(BridgeError::too_large(format!("{len} bytes do not fit the reply capacity of {cap} bytes")));
        }
        // SAFETY: as above; only the length field is written.
        unsafe { (*self.0).len = len as u16 };
        Ok(r)
    }
}
impl ZfParam for OutBytes {
    const LETTER: &'static str = "B";
    fn prepare(&mut self) {
        if !self.0.is_null() {
            // SAFETY: a valid counted-string output from IRIS; only the length is written.
            unsafe { (*self.0).len = 0 }
        }
    }
}

/// `j`: a long-string input (up to 3,641,144 bytes, outside the `$ZF` heap). Released with
/// `IrisExStrKill` after every call, as the callout book requires, used or not.
#[repr(transparent)]
pub struct InLong(*mut IrisExStr);
impl InLong {
    /// The bytes.
    pub fn bytes(&self) -> Result<&[u8]> {
        if self.0.is_null() {
            return Err(BridgeError::bad_argument("null long-string argument"));
        }
        // SAFETY: IRIS passes a descriptor whose `ch` holds `len` bytes for the call.
        unsafe {
            let d = &*self.0;
            if d.len == 0 {
                return Ok(&[]);
            }
            if d.ch.is_null() {
                return Err(BridgeError::bad_argument("long string without data"));
            }
            Ok(std::slice::from_raw_parts(d.ch, d.len as usize))
        }
    }
}
impl ZfParam for InLong {
    const LETTER: &'static str = "j";
    fn release(&mut self) {
        if !self.0.is_null() {
            let _ = host::exstr_kill(self.0);
        }
    }
}

/// `J`: a long-string output.
#[repr(transparent)]
pub struct OutLong(*mut IrisExStr);
impl OutLong {
    /// Writes `data` as the output (IrisExStrKill, then IrisExStrNew and copy).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.0.is_null() {
            return Err(BridgeError::bad_argument("null long-string output"));
        }
        if data.len() > MAX_LONG_STRING {
            return Err(BridgeError::too_large(format!(
                "{} bytes exceed the long-string limit of {MAX_LONG_STRING}; read in chunks",
                data.len()
            )));
        }
        host::exstr_kill(self.0)?;
        if data.is_empty() {
            // An empty result is the killed (empty) descriptor: no zero-byte allocation, whose
            // answer (NULL or not) the callout book does not define.
            return Ok(());
        }
        let dst = host::exstr_new(self.0, data.len())?;
        // SAFETY: IrisExStrNew returned a buffer of `data.len()` bytes owned by the
        // descriptor; we copy exactly that many and record the length.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len());
            (*self.0).len = data.len() as u32;
        }
        Ok(())
    }
}
impl ZfParam for OutLong {
    const LETTER: &'static str = "J";
}

/// The IRIS long-string limit in bytes.
pub const MAX_LONG_STRING: usize = 3_641_144;

/// The host's tables as passed to `GetZFTable`, and what the library uses from them.
pub mod host {
    use super::*;

    /// Reply capacity when the host gave no callback table (IRIS's default ZFString).
    pub const DEFAULT_REPLY_CAPACITY: usize = 32_767;

    #[cfg(not(windows))]
    const SLOT_EXSTR_KILL: usize = 117;
    #[cfg(not(windows))]
    const SLOT_EXSTR_NEW: usize = 118;
    #[cfg(windows)]
    const SLOT_EXSTR_KILL: usize = 93;
    #[cfg(windows)]
    const SLOT_EXSTR_NEW: usize = 94;

    static CALLBACKS: AtomicPtr<*const c_void> = AtomicPtr::new(std::ptr::null_mut());
    static EXPORTS: AtomicPtr<*const c_void> = AtomicPtr::new(std::ptr::null_mut());

    /// Remembers the tables IRIS passed to `GetZFTable`.
    pub fn install(callbacks: *const *const c_void, exports: *const *const c_void) {
        CALLBACKS.store(callbacks as *mut _, Ordering::Release);
        EXPORTS.store(exports as *mut _, Ordering::Release);
    }

    fn slot(table: &AtomicPtr<*const c_void>, index: usize) -> Option<*const c_void> {
        let t = table.load(Ordering::Acquire);
        if t.is_null() {
            return None;
        }
        // SAFETY: IRIS's tables are arrays of function pointers that outlive the library;
        // the slots used here exist in every documented version of the table.
        let f = unsafe { *t.add(index) };
        (!f.is_null()).then_some(f)
    }

    /// Bytes a `B` output can hold: callback slot 0 (`strsize`), within what a counted
    /// string's 16-bit length can say.
    pub fn reply_capacity() -> usize {
        match slot(&CALLBACKS, 0) {
            Some(f) => {
                // SAFETY: slot 0 of the callback table is `int strsize(void)`.
                let f: extern "C" fn() -> c_int = unsafe { std::mem::transmute(f) };
                (f().max(0) as usize).min(u16::MAX as usize)
            }
            None => DEFAULT_REPLY_CAPACITY,
        }
    }

    pub(super) fn exstr_kill(s: *mut IrisExStr) -> Result<()> {
        let f = slot(&EXPORTS, SLOT_EXSTR_KILL)
            .ok_or_else(|| BridgeError::long_strings_unavailable("the host gave no IrisExStrKill"))?;
        // SAFETY: the export-table slot holds `int IrisExStrKill(IRIS_EXSTR*)`; `s` is a
        // descriptor IRIS passed for this call.
        let f: extern "C" fn(*mut IrisExStr) -> c_int = unsafe { std::mem::transmute(f) };
        f(s);
        Ok(())
    }

    pub(super) fn exstr_new(s: *mut IrisExStr, len: usize) -> Result<*mut u8> {
        let f = slot(&EXPORTS, SLOT_EXSTR_NEW)
            .ok_or_else(|| BridgeError::long_strings_unavailable("the host gave no IrisExStrNew"))?;
        // SAFETY: the export-table slot holds `unsigned char* IrisExStrNew(IRIS_EXSTR*, int)`.
        let f: extern "C" fn(*mut IrisExStr, c_int) -> *mut u8 = unsafe { std::mem::transmute(f) };
        let p = f(s, len as c_int);
        if p.is_null() {
            return Err(BridgeError::too_large(format!("IrisExStrNew could not allocate {len} bytes")));
        }
        Ok(p)
    }
}
