//! Static checks of the ObjectScript sources under `cls/`, with InterSystems' own tree-sitter
//! grammars (the `tree-sitter-objectscript` crate for class definitions in UDL, and
//! `tree-sitter-objectscript-routine` for `ROUTINE ... [Type=INC|MAC|INT]` files):
//!
//! * every `.cls` (UDL grammar) and every `.inc`/`.mac`/`.int` (routine grammar) anywhere under
//!   `cls/` parses with no ERROR or MISSING node; each one is listed as `file:line:column`;
//! * every class, Property, Method, ClassMethod, Parameter and XData in a `.cls` has a `///`
//!   doc comment on the line directly above its declaration;
//! * every entry of a `Parameter SETTINGS = "..."` has a category (`Name:Category[:control]`);
//!   entries starting with `-` remove an inherited setting and need none.
//!
//! The files are found by walking `cls/` on every run, so classes added later are checked too.
//! No IRIS instance is needed. The `checker_*` tests at the end prove the checks do fail on
//! broken input, so a grammar or walker that silently accepts everything cannot pass.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tree_sitter::{Language, Node, Parser, Tree};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Grammar {
    /// Class definitions (`.cls`).
    Udl,
    /// Routines and include files (`ROUTINE Name [Type=INC]`).
    Routine,
}

impl Grammar {
    fn for_path(path: &Path) -> Option<Grammar> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "cls" => Some(Grammar::Udl),
            "inc" | "mac" | "int" => Some(Grammar::Routine),
            _ => None,
        }
    }

    fn language(self) -> Language {
        match self {
            Grammar::Udl => tree_sitter_objectscript::LANGUAGE_OBJECTSCRIPT_UDL.into(),
            Grammar::Routine => {
                tree_sitter_objectscript_routine::LANGUAGE_OBJECTSCRIPT_ROUTINE.into()
            }
        }
    }
}

fn parse(grammar: Grammar, src: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&grammar.language())
        .expect("the ObjectScript grammar is incompatible with this tree-sitter version");
    parser
        .parse(src, None)
        .expect("tree-sitter returned no tree")
}

fn cls_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cls")
}

/// Every ObjectScript source under `dir`, recursively, sorted, with the grammar it is parsed with.
fn sources(dir: &Path) -> Vec<(PathBuf, Grammar)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Grammar)>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if let Some(grammar) = Grammar::for_path(&path) {
                out.push((path, grammar));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The path as shown in failures: relative to the crate root.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// 1-based line and 1-based character column of a tree-sitter point (whose column is in bytes).
fn line_col(src: &str, p: tree_sitter::Point) -> (usize, usize) {
    let line = src.lines().nth(p.row).unwrap_or("");
    let col = line
        .get(..p.column.min(line.len()))
        .map_or(p.column, |s| s.chars().count());
    (p.row + 1, col + 1)
}

fn text<'a>(node: Node, src: &'a str) -> &'a str {
    &src[node.byte_range()]
}

fn excerpt(node: Node, src: &str) -> String {
    let first = text(node, src)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut out: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        out.push_str("...");
    }
    out
}

fn preorder<'t>(node: Node<'t>, visit: &mut dyn FnMut(Node<'t>)) {
    visit(node);
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        preorder(child, visit);
    }
}

/// One line (`line:column: ...`) per ERROR or MISSING node of the tree, in source order.
fn syntax_problems(tree: &Tree, src: &str) -> Vec<String> {
    let mut out = Vec::new();
    preorder(tree.root_node(), &mut |node| {
        if !node.is_error() && !node.is_missing() {
            return;
        }
        let (line, col) = line_col(src, node.start_position());
        let parent = node.parent().map_or("(root)", |p| p.kind());
        if node.is_missing() {
            out.push(format!(
                "{line}:{col}: MISSING node `{}` (expected here, inside `{parent}`)",
                node.kind()
            ));
        } else {
            let (end_line, end_col) = line_col(src, node.end_position());
            out.push(format!(
                "{line}:{col}: {} node (inside `{parent}`, up to {end_line}:{end_col}): {}",
                node.kind(),
                excerpt(node, src)
            ));
        }
    });
    out
}

/// The member kinds (grammar node kind, UDL keyword) that need a `///` comment above them.
const DOCUMENTED_MEMBERS: &[(&str, &str)] = &[
    ("property", "Property"),
    ("method", "Method"),
    ("classmethod", "ClassMethod"),
    ("parameter", "Parameter"),
    ("xdata", "XData"),
];

/// `line: ...` per class or member without a `///` line directly above it, and per SETTINGS
/// entry without a category.
fn doc_problems(tree: &Tree, src: &str) -> Vec<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    let mut require_doc = |node: Node, what: &str| {
        let row = node.start_position().row;
        let documented = row > 0
            && lines
                .get(row - 1)
                .is_some_and(|l| l.trim_start().starts_with("///"));
        if !documented {
            // "ClassMethod Path() As %String" -> "Path"
            let decl = lines.get(row).copied().unwrap_or("");
            let name = decl
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .split(['(', ';', '['])
                .next()
                .unwrap_or("?");
            out.push(format!(
                "{}: {what} {name} has no `///` doc comment on the line directly above it",
                row + 1
            ));
        }
    };
    let mut settings = Vec::new();
    preorder(tree.root_node(), &mut |node| match node.kind() {
        "class_definition" => require_doc(node, "Class"),
        "class_statement" => {
            let Some(member) = node.named_child(0) else {
                return;
            };
            if let Some((_, keyword)) = DOCUMENTED_MEMBERS
                .iter()
                .find(|(kind, _)| *kind == member.kind())
            {
                require_doc(member, keyword);
            }
            if member.kind() == "parameter" {
                settings.extend(settings_problems(member, src));
            }
        }
        _ => {}
    });
    out.extend(settings);
    out.sort_by_key(|p| p.split(':').next().and_then(|l| l.parse::<usize>().ok()));
    out
}

fn child_of_kind<'t>(node: Node<'t>, kind: &str) -> Option<Node<'t>> {
    let mut cursor = node.walk();
    let found = node.named_children(&mut cursor).find(|c| c.kind() == kind);
    found
}

/// Problems with the value of `Parameter SETTINGS = "..."` (nothing for other parameters).
fn settings_problems(parameter: Node, src: &str) -> Vec<String> {
    let is_settings = child_of_kind(parameter, "parameter_name")
        .is_some_and(|n| text(n, src).trim() == "SETTINGS");
    let Some(value) = child_of_kind(parameter, "default_argument_value") else {
        return vec![];
    };
    if !is_settings {
        return vec![];
    }
    let line = parameter.start_position().row + 1;
    let Some(literal) = value
        .named_child(0)
        .filter(|n| n.kind() == "string_literal")
    else {
        return vec![format!(
            "{line}: Parameter SETTINGS is not a string literal, so its categories cannot be checked"
        )];
    };
    let raw = text(literal, src);
    let value = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(raw)
        .replace("\"\"", "\"");
    settings_entries(&value)
        .into_iter()
        .filter_map(|entry| {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('-') {
                return None;
            }
            let mut parts = entry.splitn(3, ':');
            let name = parts.next().unwrap_or("").trim();
            let category = parts.next().map(str::trim);
            match category {
                _ if name.is_empty() => {
                    Some(format!("{line}: SETTINGS entry \"{entry}\" has no setting name"))
                }
                None | Some("") => Some(format!(
                    "{line}: SETTINGS entry \"{entry}\" has no category (use Name:Category[:control])"
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// The comma-separated entries of a SETTINGS value. Commas inside `{...}` belong to a control's
/// context (`selector?context={Pkg.Class/Method?a=1,b=2}`), not to the list.
fn settings_entries(value: &str) -> Vec<&str> {
    let mut entries = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                entries.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&value[start..]);
    entries
}

/// Runs `check` on every source under `cls/` that `grammar_filter` accepts and panics with
/// every problem found, prefixed by its file.
fn check_all(what: &str, grammar_filter: &[Grammar], check: fn(&Tree, &str) -> Vec<String>) {
    let files = sources(&cls_dir());
    let checked: Vec<_> = files
        .iter()
        .filter(|(_, g)| grammar_filter.contains(g))
        .collect();
    assert!(
        checked.iter().any(|(_, g)| *g == Grammar::Udl),
        "no .cls file found under {}: the walk is broken or the classes moved",
        cls_dir().display()
    );
    let mut report = String::new();
    let mut count = 0;
    for (path, grammar) in &checked {
        let src = read(path);
        let tree = parse(*grammar, &src);
        for problem in check(&tree, &src) {
            count += 1;
            let _ = writeln!(report, "  {}:{problem}", shown(path));
        }
    }
    assert!(
        count == 0,
        "{count} {what} ({} file(s) checked):\n{report}",
        checked.len()
    );
    eprintln!("{what}: none in {} file(s):", checked.len());
    for (path, grammar) in &checked {
        eprintln!("  {} ({grammar:?} grammar)", shown(path));
    }
}

#[test]
fn every_objectscript_source_parses_without_errors() {
    check_all(
        "ObjectScript syntax error(s)",
        &[Grammar::Udl, Grammar::Routine],
        syntax_problems,
    );
}

#[test]
fn every_class_and_member_is_documented_and_settings_have_categories() {
    check_all("documentation problem(s)", &[Grammar::Udl], doc_problems);
}

// ---- the checks themselves must fail on bad input ----

const GOOD_CLASS: &str = r#"Include Ensemble

/// A minimal, correct class.
Class Test.Good Extends Ens.BusinessOperation
{

/// Settings shown in the production configuration page.
Parameter SETTINGS = "Topic:Basic,Group:Basic:selector?context={Ens.ContextSearch/X?a=1,b=2},-ReplyCodeActions";

/// The topic.
Property Topic As %String(MAXLEN = 249);

/// The group.
Property Group As %String;

/// Sample data.
XData Sample [ MimeType = application/json ]
{
{"a": 1}
}

/// Adds one.
ClassMethod Inc(pValue As %Integer) As %Integer
{
	If pValue > 0 {
		Set pValue = pValue + 1
	}
	Quit pValue
}

}
"#;

#[test]
fn checker_accepts_a_correct_minimal_class() {
    let tree = parse(Grammar::Udl, GOOD_CLASS);
    assert_eq!(syntax_problems(&tree, GOOD_CLASS), Vec::<String>::new());
    assert_eq!(doc_problems(&tree, GOOD_CLASS), Vec::<String>::new());
}

#[test]
fn checker_flags_an_unclosed_brace() {
    // The If block of Inc is never closed.
    let broken = GOOD_CLASS.replacen(
        "\t\tSet pValue = pValue + 1\n\t}\n",
        "\t\tSet pValue = pValue + 1\n",
        1,
    );
    assert_ne!(broken, GOOD_CLASS);
    let problems = syntax_problems(&parse(Grammar::Udl, &broken), &broken);
    assert!(!problems.is_empty(), "an unclosed brace was not reported");
    assert!(
        problems
            .iter()
            .all(|p| p.contains("MISSING") || p.contains("ERROR")),
        "{problems:?}"
    );
}

#[test]
fn checker_flags_a_broken_expression_with_its_position() {
    let broken = GOOD_CLASS.replacen("Set pValue = pValue + 1", "Set pValue = (pValue + 1", 1);
    let problems = syntax_problems(&parse(Grammar::Udl, &broken), &broken);
    assert!(
        !problems.is_empty(),
        "an unclosed parenthesis was not reported"
    );
    assert!(
        problems.iter().all(|p| p.starts_with(char::is_numeric)),
        "{problems:?}"
    );
}

#[test]
fn checker_parses_include_files_and_flags_broken_ones() {
    let good = "ROUTINE Test.Good [Type=INC]\n#; generated\n#define A 1\n#define B(%x) %x+1\n";
    assert_eq!(
        syntax_problems(&parse(Grammar::Routine, good), good),
        Vec::<String>::new()
    );
    let broken = "ROUTINE Test.Bad [Type=INC]\n#define B(%x %x+1\n";
    assert!(
        !syntax_problems(&parse(Grammar::Routine, broken), broken).is_empty(),
        "a broken #define was not reported"
    );
}

#[test]
fn checker_flags_missing_doc_comments_and_uncategorised_settings() {
    let src = GOOD_CLASS
        .replacen("/// A minimal, correct class.\n", "", 1)
        .replacen("/// The group.\n", "\n", 1)
        .replacen("/// Sample data.\n", "", 1)
        .replacen("/// Adds one.\n", "// not a doc comment\n", 1)
        .replacen("Topic:Basic,", "Topic:Basic,Partition,:Basic,", 1);
    let line_of = |needle: &str| src.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let problems = doc_problems(&parse(Grammar::Udl, &src), &src);
    let settings = line_of("Parameter SETTINGS");
    assert_eq!(
        problems,
        vec![
            format!("{}: Class Test.Good has no `///` doc comment on the line directly above it", line_of("Class ")),
            format!("{settings}: SETTINGS entry \"Partition\" has no category (use Name:Category[:control])"),
            format!("{settings}: SETTINGS entry \":Basic\" has no setting name"),
            format!("{}: Property Group has no `///` doc comment on the line directly above it", line_of("Property Group")),
            format!("{}: XData Sample has no `///` doc comment on the line directly above it", line_of("XData ")),
            format!("{}: ClassMethod Inc has no `///` doc comment on the line directly above it", line_of("ClassMethod ")),
        ]
    );
}

#[test]
fn checker_finds_every_source_under_a_directory() {
    let dir = std::env::temp_dir().join(format!("objectscript_parse_walk_{}", std::process::id()));
    let nested = dir.join("A").join("B");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(dir.join("Top.cls"), "").unwrap();
    std::fs::write(nested.join("Deep.cls"), "").unwrap();
    std::fs::write(nested.join("Macros.inc"), "").unwrap();
    std::fs::write(nested.join("notes.txt"), "").unwrap();
    let found: Vec<_> = sources(&dir)
        .into_iter()
        .map(|(p, g)| (p.strip_prefix(&dir).unwrap().to_path_buf(), g))
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        vec![
            (PathBuf::from("A/B/Deep.cls"), Grammar::Udl),
            (PathBuf::from("A/B/Macros.inc"), Grammar::Routine),
            (PathBuf::from("Top.cls"), Grammar::Udl),
        ]
    );
}
