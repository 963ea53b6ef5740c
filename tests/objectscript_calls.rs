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
                    checked += 1;
                }
                "-4" => {}
                other => panic!("{at}: unexpected $ZF({other}, ...): call entries by id with $ZF(-5)"),
            }
        }
    }
    assert!(checked >= 10, "only {checked} calls found");
}
