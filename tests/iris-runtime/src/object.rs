//! Objects: instances of ObjectScript classes and of the runtime's native system classes.
//!
//! SKELETON: the evaluator helper owns this file and replaces the placeholder below.

use std::cell::RefCell;
use std::rc::Rc;

/// An object reference (OREF): shared, compared by identity.
#[derive(Clone, Debug)]
pub struct Oref(pub Rc<Object>);

/// One object.
#[derive(Debug)]
pub struct Object {
    /// Its class name.
    pub class: Rc<str>,
    /// The integer part of its OREF (`n` in `n@Class`), unique in the job.
    pub id: u64,
    /// Its state (properties), owned by the evaluator.
    pub state: RefCell<()>,
}

impl Oref {
    /// `<n>@<class>`, what an OREF is as a string.
    pub fn display_string(&self) -> String {
        format!("{}@{}", self.0.id, self.0.class)
    }

    /// The `n` of `n@Class`.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// Same object.
    pub fn same(&self, other: &Oref) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}
