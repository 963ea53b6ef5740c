//! Opaque 64-bit handles with a generation check, so that a closed, stale, wrong-kind or
//! invented handle is an error and never reaches freed memory.
//!
//! Layout (52 bits, exact in a double and in any ObjectScript number):
//! bits 44-51 the kind, bits 20-43 the slot's generation, bits 0-19 the slot index.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{BridgeError, Result};

const INDEX_BITS: u32 = 20;
const GEN_BITS: u32 = 24;
const MAX_SLOTS: usize = 1 << INDEX_BITS;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

struct Slot<T> {
    generation: u64,
    value: Option<Arc<T>>,
}

/// A table of live objects of one kind, addressed by handle.
pub struct Registry<T> {
    kind: u8,
    label: &'static str,
    slots: Mutex<(Vec<Slot<T>>, Vec<usize>)>,
}

impl<T> Registry<T> {
    /// An empty registry for objects of `kind` (1-255), named `label` in errors.
    pub const fn new(kind: u8, label: &'static str) -> Self {
        Registry { kind, label, slots: Mutex::new((Vec::new(), Vec::new())) }
    }

    fn encode(&self, index: usize, generation: u64) -> i64 {
        ((self.kind as u64) << (INDEX_BITS + GEN_BITS) | generation << INDEX_BITS | index as u64) as i64
    }

    fn decode(&self, handle: i64) -> Result<(usize, u64)> {
        let h = handle as u64;
        let kind = h >> (INDEX_BITS + GEN_BITS);
        if handle <= 0 || kind != self.kind as u64 {
            return Err(BridgeError::bad_handle(format!("{handle} is not a {} handle", self.label)));
        }
        Ok(((h & (MAX_SLOTS as u64 - 1)) as usize, (h >> INDEX_BITS) & GEN_MASK))
    }

    /// Stores `value` and returns its new handle.
    pub fn insert(&self, value: T) -> Result<i64> {
        let mut g = self.slots.lock();
        let (slots, free) = &mut *g;
        let index = match free.pop() {
            Some(i) => i,
            None if slots.len() < MAX_SLOTS => {
                slots.push(Slot { generation: 1, value: None });
                slots.len() - 1
            }
            None => return Err(BridgeError::bad_argument(format!("too many open {} handles", self.label))),
        };
        slots[index].value = Some(Arc::new(value));
        Ok(self.encode(index, slots[index].generation))
    }

    /// The object behind `handle`.
    pub fn get(&self, handle: i64) -> Result<Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        let g = self.slots.lock();
        match g.0.get(index) {
            Some(Slot { generation: gen, value: Some(v) }) if *gen == generation => Ok(v.clone()),
            _ => Err(BridgeError::bad_handle(format!("{} handle {handle} is closed or stale", self.label))),
        }
    }

    /// Removes the object behind `handle`; the handle (and every copy of it) is stale after.
    pub fn remove(&self, handle: i64) -> Result<Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        let mut g = self.slots.lock();
        let (slots, free) = &mut *g;
        match slots.get_mut(index) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => {
                let v = slot.value.take().expect("checked above");
                slot.generation = (slot.generation % GEN_MASK) + 1;
                free.push(index);
                Ok(v)
            }
            _ => Err(BridgeError::bad_handle(format!("{} handle {handle} is closed or stale", self.label))),
        }
    }

    /// Removes and returns every live object.
    pub fn drain(&self) -> Vec<Arc<T>> {
        let mut g = self.slots.lock();
        let (slots, free) = &mut *g;
        let mut out = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Some(v) = slot.value.take() {
                slot.generation = (slot.generation % GEN_MASK) + 1;
                free.push(i);
                out.push(v);
            }
        }
        out
    }

    /// How many objects are live.
    pub fn len(&self) -> usize {
        self.slots.lock().0.iter().filter(|s| s.value.is_some()).count()
    }

    /// Whether no object is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_wrong_kind_and_invented_handles_fail() {
        let a: Registry<u32> = Registry::new(1, "producer");
        let b: Registry<u32> = Registry::new(2, "consumer");
        let h = a.insert(7).unwrap();
        assert_eq!(*a.get(h).unwrap(), 7);
        assert!(b.get(h).is_err());
        assert!(a.get(0).is_err() && a.get(-5).is_err() && a.get(12345).is_err() && a.get(h + 1).is_err());
        a.remove(h).unwrap();
        assert!(a.get(h).is_err());
        assert!(a.remove(h).is_err());
        let h2 = a.insert(8).unwrap();
        assert_ne!(h, h2, "a reused slot gets a new generation");
        assert!(a.get(h).is_err());
        assert!(h2 < (1 << 53));
    }
}
