//! Run-time errors as IRIS raises them: `<UNDEFINED>`, `<FUNCTION>`, ... Each becomes a
//! `%Exception.SystemException` in ObjectScript (its `Name` is the bracketed name, its
//! `Location` the label+offset^routine, its `Data` the detail, such as the undefined variable).
//! `<UNIMPLEMENTED>` is this runtime's own: a construct it does not implement stops the run.

use std::fmt;

/// Which error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrKind {
    /// `<UNDEFINED>`: a variable (or array node) with no value.
    Undefined,
    /// `<SUBSCRIPT>`: an invalid subscript ("" or too long).
    Subscript,
    /// `<FUNCTION>`: a function called with an invalid argument, or a `$ZF` entry that
    /// returned non-zero.
    Function,
    /// `<SYNTAX>`.
    Syntax,
    /// `<DIVIDE>`.
    Divide,
    /// `<MAXNUMBER>`.
    MaxNumber,
    /// `<ILLEGAL VALUE>`.
    IllegalValue,
    /// `<MAXSTRING>`: a string over 3,641,144 characters.
    MaxString,
    /// `<WIDE CHAR>`: a character over 255 where only 8-bit characters are allowed.
    WideChar,
    /// `<METHOD DOES NOT EXIST>`.
    MethodDoesNotExist,
    /// `<PROPERTY DOES NOT EXIST>`.
    PropertyDoesNotExist,
    /// `<PARAMETER>`: more actual arguments than formal ones.
    Parameter,
    /// `<CLASS DOES NOT EXIST>`.
    ClassDoesNotExist,
    /// `<INVALID OREF>`: an object operation on something that is not an object.
    InvalidOref,
    /// `<COMMAND>`: a command not allowed where it stands (an argumented QUIT where IRIS forbids it).
    Command,
    /// `<DYNAMIC LIBRARY LOAD>`.
    DynamicLibraryLoad,
    /// `<LIST>`: a $List function given a string that is not a list.
    List,
    /// `<NOLINE>`.
    NoLine,
    /// `<LOCK TIMEOUT>` is not an error in IRIS ($Test is set); kept for completeness of `<...>` names.
    Protect,
    /// `<STORE>`: out of memory for local variables.
    Store,
    /// `<INTERRUPT>`: the job was asked to stop.
    Interrupt,
    /// `<THROW>`: a THROW of a non-exception (not in IRIS: THROW needs an OREF).
    Throw,
    /// Any other bracketed IRIS error name, e.g. `<ZSOAP>`.
    Other(String),
    /// This runtime does not implement the construct: never silent.
    Unimplemented,
}

impl ErrKind {
    /// The name as IRIS writes it, with angle brackets.
    pub fn name(&self) -> String {
        let s = match self {
            ErrKind::Undefined => "UNDEFINED",
            ErrKind::Subscript => "SUBSCRIPT",
            ErrKind::Function => "FUNCTION",
            ErrKind::Syntax => "SYNTAX",
            ErrKind::Divide => "DIVIDE",
            ErrKind::MaxNumber => "MAXNUMBER",
            ErrKind::IllegalValue => "ILLEGAL VALUE",
            ErrKind::MaxString => "MAXSTRING",
            ErrKind::WideChar => "WIDE CHAR",
            ErrKind::MethodDoesNotExist => "METHOD DOES NOT EXIST",
            ErrKind::PropertyDoesNotExist => "PROPERTY DOES NOT EXIST",
            ErrKind::Parameter => "PARAMETER",
            ErrKind::ClassDoesNotExist => "CLASS DOES NOT EXIST",
            ErrKind::InvalidOref => "INVALID OREF",
            ErrKind::Command => "COMMAND",
            ErrKind::DynamicLibraryLoad => "DYNAMIC LIBRARY LOAD",
            ErrKind::List => "LIST",
            ErrKind::NoLine => "NOLINE",
            ErrKind::Protect => "PROTECT",
            ErrKind::Store => "STORE",
            ErrKind::Interrupt => "INTERRUPT",
            ErrKind::Throw => "THROW",
            ErrKind::Other(s) => s.as_str(),
            ErrKind::Unimplemented => "UNIMPLEMENTED",
        };
        format!("<{s}>")
    }
}

/// A run-time error: its kind, where it happened (filled in by the interpreter as the error
/// leaves a line), and the detail IRIS gives (`*x` for an undefined x, the class and method
/// for `<METHOD DOES NOT EXIST>`, the construct for `<UNIMPLEMENTED>`).
#[derive(Clone, Debug, PartialEq)]
pub struct RtError {
    /// Which error.
    pub kind: ErrKind,
    /// The detail (IRIS's `Data` of the SystemException), may be empty.
    pub detail: String,
    /// Where: `Method+offset^Class.1` style location, or file:line for `<UNIMPLEMENTED>`; empty
    /// until the interpreter fills it in.
    pub location: String,
}

impl RtError {
    /// An error with a detail.
    pub fn new(kind: ErrKind, detail: impl Into<String>) -> RtError {
        RtError { kind, detail: detail.into(), location: String::new() }
    }

    /// `<UNIMPLEMENTED>` naming the construct (the interpreter adds the file and line).
    pub fn unimplemented(what: impl Into<String>) -> RtError {
        RtError::new(ErrKind::Unimplemented, what)
    }

    /// `<FUNCTION>` with a detail.
    pub fn function(detail: impl Into<String>) -> RtError {
        RtError::new(ErrKind::Function, detail)
    }
}

impl fmt::Display for RtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // IRIS's form: <NAME>location *detail
        write!(f, "{}", self.kind.name())?;
        if !self.location.is_empty() {
            write!(f, "{}", self.location)?;
        }
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for RtError {}

impl From<crate::number::NumError> for RtError {
    fn from(e: crate::number::NumError) -> RtError {
        match e {
            crate::number::NumError::Divide => RtError::new(ErrKind::Divide, ""),
            crate::number::NumError::MaxNumber => RtError::new(ErrKind::MaxNumber, ""),
            crate::number::NumError::IllegalValue => RtError::new(ErrKind::IllegalValue, ""),
        }
    }
}

/// Result of run-time operations.
pub type RtResult<T> = Result<T, RtError>;
