//! The compiled tree: what the front end (`front/`) makes of a class definition and of its
//! method bodies after macro expansion, and what the evaluator (`interp/`) runs.
//!
//! Every command carries its source line, so that errors, `<UNIMPLEMENTED>` and line coverage
//! name the `.cls` file and line. Names of system functions, variables and commands are
//! resolved here (abbreviations included: `$P` is `$Piece`, `S` is Set), so the evaluator
//! never looks at spelling. Anything the front end does not lower becomes
//! [`Cmd::Unimplemented`] / [`Expr::Unimplemented`], which stops the run when executed (and
//! the compile pass reports it): never silent.
//!
//! Contract between the front-end helper and the evaluator helper: add variants freely (both
//! sides then handle them), do not change the meaning of existing ones without telling.

use std::rc::Rc;

use crate::value::{IStr, Value};

/// A source file, shared by every node that came from it.
pub type FileName = Rc<str>;

/// Where a command stands: file and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    /// The `.cls`/`.inc`/test file.
    pub file: FileName,
    /// 1-based line in that file.
    pub line: u32,
}

/// A name as written (case matters for variables, methods, properties, classes).
pub type Name = Rc<str>;

/// A block of commands: a method body, or what stands between `{` and `}`.
pub type Block = Vec<Stmt>;

/// One command with its postconditional.
#[derive(Clone, Debug)]
pub struct Stmt {
    /// Where it is.
    pub loc: Loc,
    /// `Cmd:cond`: the command runs only when `cond` is true.
    pub postcond: Option<Expr>,
    /// The command.
    pub cmd: Cmd,
}

/// A local variable or array node, a global node, or a property: what can be Set, Killed,
/// passed by reference, `$Data`'d, `$Order`'d, Merged.
#[derive(Clone, Debug)]
pub enum Ref {
    /// `x` or `x(s1, s2, ...)`; `%`-names included.
    Local {
        /// The variable.
        name: Name,
        /// Subscripts (empty: the variable itself).
        subs: Vec<Expr>,
    },
    /// `^x(...)`, `^||x(...)` (process-private), `^[ns]x(...)` is not supported.
    Global {
        /// Name without `^` (and without `||`).
        name: Name,
        /// `^||name`.
        process_private: bool,
        /// Subscripts.
        subs: Vec<Expr>,
    },
    /// `..Prop` or `..Prop(subs)` (a multidimensional property), `obj.Prop`, `obj.Prop(subs)`.
    Property {
        /// The object: `None` for `..Prop` (the current instance).
        target: Option<Box<Expr>>,
        /// The property name.
        name: Name,
        /// Subscripts of a MultiDimensional property.
        subs: Vec<Expr>,
    },
    /// `@expr` name indirection.
    Indirect(Box<Expr>),
}

/// An argument of a call.
#[derive(Clone, Debug)]
pub enum Arg {
    /// By value.
    Val(Expr),
    /// `.x` by reference (the variable or array as a whole; `.x(1)` is not ObjectScript).
    ByRef(Name),
    /// An omitted argument (`f(a,,c)`): the formal takes its default or stays undefined.
    Omitted,
    /// `args...` passing a variadic array on.
    Spread(Name),
}

/// A system function (`$Name`), resolved from any of its spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum SysFunc {
    Ascii, Bit, BitCount, BitFind, BitLogic, Case, Char, ClassMethod, ClassName, Data, Decimal, Double,
    Extract, Factor, Find, FNumber, Get, Increment, InNumber, IsObject, IsValidNum, Justify,
    Length, List, ListBuild, ListData, ListFind, ListFromString, ListGet, ListLength, ListNext,
    ListSame, ListToString, ListValid, Method, Name, Normalize, Now, Number, Order, Parameter, Piece,
    Property, QLength, QSubscript, Query, Random, Replace, Reverse, Select, Sequence, SortBegin,
    SortEnd, Stack, Text, Translate, View, ZAbs, ZBoolean, ZConvert, ZCrc, ZDate, ZDateH,
    ZDateTime, ZDateTimeH, ZF, ZHex, ZLAscii, ZLChar, ZName, ZPosition, ZSearch, ZStrip, ZTime,
    ZTimeH, ZWAscii, ZWChar, ZWidth, ZWPack, ZWBPack, ZWUnpack, ZWBUnpack,
}

/// A system variable (`$Name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum SysVar {
    Device, ECode, EStack, ETrap, Horolog, IO, Job, Key, Namespace, Principal, Quit, Roles,
    Stack, Storage, System, Test, This, TLevel, Username, X, Y, ZA, ZB, ZChild, ZEof, ZError,
    ZHorolog, ZIo, ZJob, ZName, ZParent, ZPi, ZReference, ZStorage, ZTimeStamp, ZTimeZone,
    ZTrap, ZVersion,
}

/// Binary operators. ObjectScript evaluates strictly left to right with no precedence:
/// `2+3*4` is 20. The front end builds left-nested chains; parentheses nest explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinOp {
    Add, Sub, Mul, Div, IntDiv, Mod, Pow, Concat,
    /// `=` (string equality).
    Eq,
    /// `'=`.
    Ne,
    Lt, Gt, Le, Ge,
    /// `[` contains.
    Contains,
    /// `]` follows (code-unit order).
    Follows,
    /// `]]` sorts after (subscript collation).
    SortsAfter,
    /// `'[`, `']`, `']]`.
    NotContains, NotFollows, NotSortsAfter,
    /// `&` and `!`: both operands are always evaluated.
    And, Or,
    /// `&&` and `||`: short-circuit.
    AndAlso, OrElse,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `+x`: numeric interpretation.
    Plus,
    /// `-x`.
    Minus,
    /// `'x`: logical not.
    Not,
}

/// A pattern (`?` operator): a sequence of atoms.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The atoms, matched in order.
    pub atoms: Vec<PatAtom>,
}

/// One pattern atom: a repeat count and what repeats.
#[derive(Clone, Debug)]
pub struct PatAtom {
    /// Minimum repeats.
    pub min: u32,
    /// Maximum repeats (`None`: unbounded).
    pub max: Option<u32>,
    /// What is matched.
    pub elem: PatElem,
}

/// What a pattern atom matches.
#[derive(Clone, Debug)]
pub enum PatElem {
    /// Pattern codes, any of which matches one character: A C E L N P U (and ANP etc.).
    Codes(String),
    /// A literal string.
    Literal(IStr),
    /// Alternation `(p1,p2,...)`.
    Alt(Vec<Pattern>),
}

/// A JSON literal of ObjectScript (`{...}`, `[...]`): values are ObjectScript expressions
/// or JSON literals.
#[derive(Clone, Debug)]
pub enum Json {
    /// `{"a":1, "b":(expr)}`.
    Object(Vec<(IStr, Json)>),
    /// `[1, "x", (expr)]`.
    Array(Vec<Json>),
    /// A JSON string literal.
    Str(IStr),
    /// A JSON number literal (kept as written).
    Number(IStr),
    /// `true`/`false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `(expr)`: an ObjectScript expression.
    Expr(Box<Expr>),
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A string or numeric literal, already in its value form (a numeric literal is its
    /// canonical number: `007` is 7).
    Lit(Value),
    /// Read a variable, array node, global node or property (`<UNDEFINED>` when it has none).
    Ref(Ref),
    /// `+x`, `-x`, `'x`.
    Unary(UnOp, Box<Expr>),
    /// `a op b`.
    Binary(Box<Expr>, BinOp, Box<Expr>),
    /// `x?pattern` or `x'?pattern`.
    Match {
        /// The value tested.
        value: Box<Expr>,
        /// `'?`.
        negated: bool,
        /// The pattern.
        pattern: Pattern,
    },
    /// `x?@expr`: a pattern given at run time.
    MatchIndirect {
        /// The value tested.
        value: Box<Expr>,
        /// `'?@`.
        negated: bool,
        /// The pattern text.
        pattern: Box<Expr>,
    },
    /// `$Function(args)`. `$Select`, `$Case`, `$Get`, `$Data`, `$Order`, `$Increment`,
    /// `$Name`, `$Query` and `$ListData` need their first argument as a [`Ref`]: the front
    /// end passes it as `Arg::Val(Expr::Ref(..))` and the evaluator reads it as a reference.
    /// `$Select(c1:v1, c2:v2)` is lowered as alternating condition/value arguments; `$Case(x,
    /// v1:r1, :default)` as x, then value/result pairs with `Arg::Omitted` for the default's value.
    Func(SysFunc, Vec<Arg>),
    /// `$Variable`.
    Var(SysVar),
    /// `$$label(args)`, `$$label^routine(args)`, `$$^routine(args)` (extrinsic function).
    Extrinsic {
        /// The label ("" for `$$^routine`).
        label: Name,
        /// The routine, if named.
        routine: Option<Name>,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `##class(Pkg.Class).Method(args)`; the class name is normalised (`%String` is
    /// `%Library.String`... resolved by the evaluator: kept as written here).
    ClassMethod {
        /// The class as written.
        class: Name,
        /// The method.
        method: Name,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `##class(Pkg.Class).#PARAM`.
    ClassParam {
        /// The class as written.
        class: Name,
        /// The parameter.
        name: Name,
    },
    /// `..Method(args)` (instance or class method of the current class).
    SelfMethod {
        /// The method.
        method: Name,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `..#PARAM`.
    SelfParam(Name),
    /// `##super(args)`: the same method of the superclass.
    Super(Vec<Arg>),
    /// `obj.Method(args)`.
    Method {
        /// The object.
        target: Box<Expr>,
        /// The method.
        method: Name,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `$this` (also `..%This`... as written: `$this`).
    This,
    /// `{...}` or `[...]`: a new %DynamicObject / %DynamicArray.
    Json(Json),
    /// `@expr` in expression position (indirection).
    Indirect(Box<Expr>),
    /// `*` or `*-n` as a position argument of `$Extract`, `$Piece`, `$List`, `$ListGet`,
    /// `$ListUpdate` (and their Set forms): the last position, minus the offset when given.
    /// The evaluator resolves it against the length of the string, piece count or list.
    Star(Option<Box<Expr>>),
    /// Not lowered: stops the run with `<UNIMPLEMENTED>` naming the construct.
    Unimplemented(String),
}

/// One parameter of a `For`: `start`, `start:step`, `start:step:end`.
#[derive(Clone, Debug)]
pub enum ForParam {
    /// `For x=v` (one pass with x = v).
    Single(Expr),
    /// `For x=start:step` (no end: until Quit).
    Open(Expr, Expr),
    /// `For x=start:step:end`.
    Range(Expr, Expr, Expr),
}

/// One item of `Write`.
#[derive(Clone, Debug)]
pub enum WriteItem {
    /// An expression.
    Expr(Expr),
    /// `!` new line.
    NewLine,
    /// `#` form feed.
    FormFeed,
    /// `?n` tab to column n.
    Tab(Expr),
    /// `*n` the character with code n.
    Char(Expr),
}

/// One argument of `Do`.
#[derive(Clone, Debug)]
pub struct DoArg {
    /// The call (a method call, `##class(..).M()`, `..M()`, `##super()`, a label).
    pub call: Expr,
    /// `Do call:cond`.
    pub postcond: Option<Expr>,
}

/// One argument of `Lock`.
#[derive(Clone, Debug)]
pub struct LockArg {
    /// `+` (add) or `-` (remove); neither: release all, then lock these.
    pub op: Option<char>,
    /// The names locked (several in parentheses).
    pub names: Vec<Ref>,
    /// `#"S"`, `#"E"`, `#"I"`, `#"D"`, combined.
    pub lock_type: Option<Expr>,
    /// `:timeout` in seconds.
    pub timeout: Option<Expr>,
}

/// A command.
#[derive(Clone, Debug)]
pub enum Cmd {
    /// `Set a = x, (b, c) = y, $Piece(d, ",", 2) = z`.
    Set(Vec<(Vec<SetTarget>, Expr)>),
    /// `Kill` with no argument: every local variable.
    KillAll,
    /// `Kill a, ^b(1), (c, d)` (exclusive kill `Kill (a)` is [`Cmd::KillExcept`]).
    Kill(Vec<Ref>),
    /// `Kill (a, b)`: all locals except these.
    KillExcept(Vec<Name>),
    /// `Merge a = b, ...`.
    Merge(Vec<(Ref, Ref)>),
    /// `Do a.M(), ##class(X).N():cond`.
    Do(Vec<DoArg>),
    /// `If c1, c2 { } ElseIf c { } Else { }`.
    If {
        /// The conditions (all must be true).
        conds: Vec<Expr>,
        /// Then block.
        then: Block,
        /// `ElseIf` clauses.
        elseifs: Vec<(Vec<Expr>, Block)>,
        /// `Else` block.
        otherwise: Option<Block>,
    },
    /// `For var = params { }` or `For { }` (no var: until Quit).
    For {
        /// The control variable.
        var: Option<Ref>,
        /// Its parameters, in order.
        params: Vec<ForParam>,
        /// The body.
        body: Block,
    },
    /// `While cond { }`.
    While {
        /// The conditions (all must be true).
        conds: Vec<Expr>,
        /// The body.
        body: Block,
    },
    /// `Do { } While cond`.
    DoWhile {
        /// The body.
        body: Block,
        /// The conditions.
        conds: Vec<Expr>,
    },
    /// `Quit` / `Quit expr`: see the evaluator for IRIS's rules inside loops and Try.
    Quit(Option<Expr>),
    /// `Return` / `Return expr`: always leaves the method.
    Return(Option<Expr>),
    /// `Continue`.
    Continue,
    /// `Try { } Catch var { }`.
    Try {
        /// The protected block.
        body: Block,
        /// The exception variable, if named.
        catch_var: Option<Name>,
        /// The Catch block.
        catch: Block,
    },
    /// `Throw expr`.
    Throw(Expr),
    /// `Write items` (`Write` alone lists locals: not supported).
    Write(Vec<WriteItem>),
    /// `Lock` with no argument: release every lock of the job.
    UnlockAll,
    /// `Lock args`.
    Lock(Vec<LockArg>),
    /// `TStart`.
    TStart,
    /// `TCommit`.
    TCommit,
    /// `TRollback` (all levels) or `TRollback 1`.
    TRollback(Option<Expr>),
    /// `Hang seconds`.
    Hang(Expr),
    /// `Halt`.
    Halt,
    /// `New a, b` / `New` all.
    New(Vec<Name>),
    /// `Xecute expr`.
    Xecute(Vec<Expr>),
    /// `Goto label`.
    Goto(Name),
    /// `#dim x As Class = expr`: only the `= expr` part runs.
    Dim {
        /// The variables declared.
        names: Vec<Name>,
        /// The initial value, if given.
        init: Option<Expr>,
    },
    /// A label line inside a method (`label` at the start of a line): nothing to run.
    Label(Name),
    /// Not lowered: stops the run with `<UNIMPLEMENTED>` naming the construct.
    Unimplemented(String),
}

/// A target of Set.
#[derive(Clone, Debug)]
pub enum SetTarget {
    /// A variable, array node, global node or property.
    Ref(Ref),
    /// `$Piece(var, delim[, from[, to]]) = value`.
    Piece {
        /// The variable changed.
        var: Ref,
        /// The delimiter.
        delim: Expr,
        /// First piece (default 1).
        from: Option<Expr>,
        /// Last piece (default from).
        to: Option<Expr>,
    },
    /// `$Extract(var[, from[, to]]) = value`.
    Extract {
        /// The variable changed.
        var: Ref,
        /// From (default 1; `*` forms as expressions on `$Length`: see `star`).
        from: Option<Expr>,
        /// To.
        to: Option<Expr>,
    },
    /// `$List(var[, from[, to]]) = value`.
    List {
        /// The variable changed.
        var: Ref,
        /// From.
        from: Option<Expr>,
        /// To.
        to: Option<Expr>,
    },
}

/// How a formal argument is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passing {
    /// By value (the default).
    Value,
    /// `ByRef`.
    ByRef,
    /// `Output`.
    Output,
}

/// A type reference with its parameters: `%String(MAXLEN = 200)`, `list Of Kafka.Header`.
#[derive(Clone, Debug, Default)]
pub struct TypeRef {
    /// The class as written (`%String`, `EnsLib.Kafka.Message`).
    pub class: Name,
    /// `list Of` / `array Of`.
    pub collection: Option<Collection>,
    /// Datatype parameters (`MAXLEN` → `200`), values as written with quotes removed.
    pub params: Vec<(Name, IStr)>,
}

/// A collection property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// `list Of`.
    List,
    /// `array Of`.
    Array,
}

/// A formal argument of a method.
#[derive(Clone, Debug)]
pub struct Formal {
    /// Its name.
    pub name: Name,
    /// Value, ByRef or Output.
    pub passing: Passing,
    /// `As Type`.
    pub ty: Option<TypeRef>,
    /// `= default`.
    pub default: Option<Expr>,
    /// `args...`.
    pub variadic: bool,
}

/// A method or class method.
#[derive(Clone, Debug)]
pub struct MethodDef {
    /// Its name.
    pub name: Name,
    /// `ClassMethod`.
    pub class_method: bool,
    /// `[ Private ]`.
    pub private: bool,
    /// `[ Abstract ]`.
    pub is_abstract: bool,
    /// `[ Final ]`.
    pub is_final: bool,
    /// The formal arguments.
    pub formals: Vec<Formal>,
    /// `As Type` of the result.
    pub ret: Option<TypeRef>,
    /// `[ CodeMode = expression ]`: the body is one expression.
    pub expression: Option<Expr>,
    /// `[ PublicList = ... ]` (a procedure block method sees only its own variables, `%`
    /// variables and these).
    pub public_list: Vec<Name>,
    /// `[ ProcedureBlock = 0 ]` on the method (or inherited from the class).
    pub procedure_block: bool,
    /// `[ Language = python ]` etc.: anything but objectscript is not runnable.
    pub language: Name,
    /// Every keyword as written (`Private`, `CodeMode`, `ServerOnly`, ...), for the compile pass.
    pub keywords: Vec<(Name, Option<IStr>)>,
    /// The body.
    pub body: Block,
    /// Where the declaration is.
    pub loc: Loc,
}

/// A property.
#[derive(Clone, Debug)]
pub struct PropertyDef {
    /// Its name (may start with `%`).
    pub name: Name,
    /// `As Type` (with datatype parameters).
    pub ty: Option<TypeRef>,
    /// `[ InitialExpression = expr ]`, lowered.
    pub initial: Option<Expr>,
    /// `[ MultiDimensional ]`.
    pub multidimensional: bool,
    /// `[ Private ]`.
    pub private: bool,
    /// `[ Calculated ]`.
    pub calculated: bool,
    /// `[ Transient ]`.
    pub transient: bool,
    /// `[ Required ]`.
    pub required: bool,
    /// Every keyword as written.
    pub keywords: Vec<(Name, Option<IStr>)>,
    /// Where the declaration is.
    pub loc: Loc,
}

/// A class parameter.
#[derive(Clone, Debug)]
pub struct ParameterDef {
    /// Its name.
    pub name: Name,
    /// Its value, as written (quotes removed; `{expr}` COSEXPRESSION values kept as written).
    pub value: Option<IStr>,
    /// Every keyword as written.
    pub keywords: Vec<(Name, Option<IStr>)>,
    /// Where the declaration is.
    pub loc: Loc,
}

/// An XData block.
#[derive(Clone, Debug)]
pub struct XDataDef {
    /// Its name.
    pub name: Name,
    /// Its text, as written between the braces.
    pub text: String,
    /// Where the declaration is.
    pub loc: Loc,
}

/// A class definition, after macro expansion of its methods.
#[derive(Clone, Debug)]
pub struct ClassDef {
    /// The full class name (`Kafka.Adapter.Inbound`).
    pub name: Name,
    /// `Extends (A, B)`, in order (left wins).
    pub supers: Vec<Name>,
    /// `Include (A, B)`.
    pub includes: Vec<Name>,
    /// `[ Abstract ]`.
    pub is_abstract: bool,
    /// `[ ProcedureBlock = 0 ]` (default 1).
    pub procedure_block: bool,
    /// Every class keyword as written.
    pub keywords: Vec<(Name, Option<IStr>)>,
    /// Parameters.
    pub parameters: Vec<ParameterDef>,
    /// Properties.
    pub properties: Vec<PropertyDef>,
    /// Methods and class methods.
    pub methods: Vec<MethodDef>,
    /// XData blocks.
    pub xdata: Vec<XDataDef>,
    /// Where the class is.
    pub loc: Loc,
}
