//! The ObjectScript macro preprocessor. SKELETON: the preprocessor helper owns this file;
//! the signatures below are the contract the front end codes against (extend, do not break).

use crate::error::RtResult;

/// Where `#include` / `Include` find include files: the project's `.inc` files and the
/// runtime's own system includes (`inc/`).
pub trait IncludeSource {
    /// The text of include file `name` (without `.inc`), with the file name to cite in errors.
    fn include(&self, name: &str) -> Option<(String, String)>;
}

/// What `##Expression`-style built-ins such as `$$$CurrentClass` and `$$$CurrentMethod` see.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The class being compiled.
    pub class_name: String,
    /// The method being compiled ("" outside a method).
    pub method_name: String,
}

/// The macros in force: those of the class's `Include` files, then `#define`s met so far.
#[derive(Clone, Debug, Default)]
pub struct Macros {}

impl Macros {
    /// No macros.
    pub fn new() -> Macros {
        Macros {}
    }

    /// Reads include file `name` (and the files it includes) into the macros in force.
    pub fn include(&mut self, _name: &str, _src: &dyn IncludeSource) -> RtResult<()> {
        Err(crate::error::RtError::unimplemented("preprocessor"))
    }

    /// Expands `text` (a method body, or any lines of code) whose first line is `first_line`
    /// of `file`: `#define`/`#def1arg`/`#undef`/`#if`/`#ifdef`/`#ifndef`/`#else`/`#elseif`/
    /// `#endif`/`#include` lines are obeyed and become empty lines, `$$$name` and
    /// `$$$name(args)` are replaced. The result has exactly as many lines as `text`, so line
    /// numbers stay those of the source.
    pub fn expand(&mut self, _text: &str, _file: &str, _first_line: u32, _ctx: &Context, _src: &dyn IncludeSource) -> RtResult<String> {
        Err(crate::error::RtError::unimplemented("preprocessor"))
    }
}
