//! The IPM module definition points at what the repository really has: the class package,
//! the generated include, and the Setup method it invokes.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn attr<'a>(xml: &'a str, tag: &str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for part in xml.split(&format!("<{tag} ")).skip(1) {
        let end = part.find('>').unwrap();
        let el = &part[..end];
        if let Some(i) = el.find(&format!("{name}=\"")) {
            let v = &el[i + name.len() + 2..];
            out.push(&v[..v.find('"').unwrap()]);
        }
    }
    out
}

#[test]
fn module_xml_names_existing_resources() {
    let xml = std::fs::read_to_string(root().join("module.xml")).expect("module.xml at the repository root");
    assert!(xml.contains("<SourcesRoot>cls</SourcesRoot>"));
    for r in attr(&xml, "Resource", "Name") {
        let (name, kind) = r.rsplit_once('.').unwrap();
        let path = match kind {
            "PKG" => root().join("cls").join(name.replace('.', "/")),
            "INC" => root().join("cls").join(format!("{}.inc", name.replace('.', "/"))),
            "CLS" => root().join("cls").join(format!("{}.cls", name.replace('.', "/"))),
            other => panic!("unexpected resource kind {other}"),
        };
        assert!(path.exists(), "module.xml resource {r}: {} is missing", path.display());
    }
    let classes = attr(&xml, "Invoke", "Class");
    let methods = attr(&xml, "Invoke", "Method");
    assert!(!classes.is_empty());
    for (c, m) in classes.iter().zip(&methods) {
        let src = std::fs::read_to_string(root().join("cls").join(format!("{}.cls", c.replace('.', "/")))).unwrap();
        assert!(src.contains(&format!("ClassMethod {m}(")), "{c} has no class method {m}");
    }
}

#[test]
fn the_sample_production_is_there() {
    let src = std::fs::read_to_string(root().join("cls/Kafka/Sample/Production.cls")).unwrap();
    assert!(src.contains("Extends Ens.Production"));
    assert!(src.contains("Kafka.Service.Consumer") && src.contains("Kafka.Operation.Producer"));
}
