//! Every `$ZF(-5, lib, $$$KafkaZF<Name>, args...)` in `cls/` names an entry of the exported
//! table and passes exactly its input arguments (outputs are never passed).

mod support;

use std::path::Path;

use support::zfhost::{cdylib_path, ZfHost};

fn cls_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            cls_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "cls" || x == "inc" || x == "mac") {
            out.push(p);
        }
    }
}

/// The top-level, comma-separated arguments of the call starting after `$ZF(`.
fn call_args(src: &str) -> Vec<String> {
    let mut args = vec![String::new()];
    let (mut depth, mut in_str) = (0, false);
    for ch in src.chars() {
        match ch {
            '"' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str && depth == 0 => break,
            ')' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                args.push(String::new());
                continue;
            }
            _ => {}
        }
        args.last_mut().unwrap().push(ch);
    }
    args.into_iter().map(|a| a.trim().to_owned()).collect()
}

/// The outputs of a call are read as the descriptor says: the result of an entry with one
/// output is that output (its status); with several, `$Piece(r, ",", n)` reads output n, and
/// a binary last output may be split further only when it is last. The status (output 1) is
/// always read.
fn check_outputs(text: &str, line_start: usize, call_at: usize, e: &support::zfhost::HostEntry, at: &str) {
    use support::zfhost::Param;
    let outputs: Vec<Param> = e.params.iter().copied().filter(|p| p.is_output()).collect();
    let binary_last = matches!(outputs.last(), Some(Param::Counted { .. } | Param::Long { .. }));
    let before = text[line_start..call_at].trim_end();
    let Some(var) = before.strip_suffix('=').map(str::trim_end).and_then(|b| b.rsplit([' ', ',']).next()) else {
        // `+$ZF(...)` or `Quit $ZF(...)`: the whole result is used as one value.
        assert!(outputs.len() == 1 || !before.ends_with('+'), "{at}: {} has {} outputs but its result is used as one number", e.name, outputs.len());
        return;
    };
    // The code that uses this result: up to the next assignment of the same variable from
    // $ZF made after this result was read (an If/Else pair of calls shares its reads), or the
    // end of the method.
    let rest = &text[call_at..];
    let pat = format!("$Piece({var}, \",\", ");
    let first_read = rest.find(&pat).unwrap_or(rest.len());
    let next = rest[first_read..].find(&format!("Set {var} = $ZF(")).map_or(rest.len(), |n| n + first_read);
    let end = rest.find("\n}").unwrap_or(rest.len()).min(next);
    let body = &rest[..end];
    let mut read_status = false;
    for (i, _) in body.match_indices(&pat) {
        let tail = &body[i + pat.len()..];
        let n: usize = tail[..tail.find(|c: char| !c.is_ascii_digit()).unwrap()].parse().unwrap_or(0);
        read_status |= n == 1;
        assert!(n >= 1, "{at}: $Piece of output {n}");
        if n > outputs.len() || (n == outputs.len() && tail[1..].starts_with(", ")) {
            assert!(binary_last, "{at}: {} has {} outputs ({}), the code reads piece {n}", e.name, outputs.len(), e.descriptor);
        }
    }
    if !matches!(e.name.as_str(), "Version" | "LastError") {
        assert!(read_status, "{at}: the status (output 1) of {} is never read", e.name);
    }
}

#[test]
fn every_zf_call_matches_the_table() {
    let host = ZfHost::load(&cdylib_path()).unwrap();
    let mut files = Vec::new();
    cls_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("cls"), &mut files);
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("$ZF(") {
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            let before = &text[line_start..i];
            if before.contains("//") || before.contains(';') || before.trim_start().starts_with("#;") {
                continue; // a comment
            }
            let args = call_args(&text[i + 4..]);
            let line = text[..i].lines().count() + 1;
            let at = format!("{}:{line}", f.display());
            match args[0].as_str() {
                "-5" => {
                    let id = args.get(2).unwrap_or_else(|| panic!("{at}: $ZF(-5) without a function id"));
                    let name = id
                        .strip_prefix("$$$KafkaZF")
                        .unwrap_or_else(|| panic!("{at}: function id {id} is not a generated $$$KafkaZF macro"));
                    let e = host.entry(name).unwrap_or_else(|| panic!("{at}: no entry {name}"));
                    assert_eq!(args.len() - 3, e.input_count(), "{at}: {name} takes {} inputs ({})", e.input_count(), e.descriptor);
                    check_outputs(&text, line_start, i, e, &at);
                    checked += 1;
                }
                "-4" => {}
                other => panic!("{at}: unexpected $ZF({other}, ...): call entries by id with $ZF(-5)"),
            }
        }
    }
    assert!(checked >= 10, "only {checked} calls found");
}
