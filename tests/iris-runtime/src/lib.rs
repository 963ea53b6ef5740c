//! An ObjectScript runtime for the bridge's test suite: the classes in `cls/` run here, on
//! InterSystems' tree-sitter grammars, against a strict `$ZF` host and enough of the IRIS
//! interoperability framework to run a Production. No IRIS is needed. Every semantic comes
//! from InterSystems' documentation (pages cited where the behaviour is not obvious); where
//! this runtime and the documentation disagree, the documentation wins, and where the
//! runtime has no implementation it stops with `<UNIMPLEMENTED>`, never silently.
//!
//! Layers, bottom up:
//! * [`value`], [`number`], [`pattern`]: strings of 16-bit characters, IRIS decimal numbers
//!   and their canonical form, pattern matching;
//! * [`func`]: the system functions that work on values alone (`$Piece`, `$List`, `$ZConvert`, ...);
//! * [`preproc`]: the macro preprocessor (`#define`, `#def1arg`, `#if`, `$$$`, `Include`), with the
//!   system include files of `inc/` written from the documentation;
//! * [`front`]: class definitions parsed with the UDL grammar into the compiled tree of [`ast`];
//!   the compile pass;
//! * [`store`]: globals with IRIS collation, locks and transactions, in memory or in SQLite shared
//!   by the job processes of a Production;
//! * [`zf`]: the strict `$ZF` host that loads the built cdylib as IRIS does;
//! * [`interp`]: the evaluator, objects, system classes;
//! * [`clock`]: the clock the tests control (`$Horolog`, `$ZHorolog`, `$ZTimeStamp`, Hang).

pub mod ast;
pub mod clock;
pub mod error;
pub mod front;
pub mod func;
pub mod interp;
pub mod number;
pub mod object;
pub mod pattern;
pub mod preproc;
pub mod store;
pub mod value;
pub mod zf;
