//! The exported table as IRIS sees it: symbols, order, descriptors, the generated
//! ObjectScript include, and the shared library's dependencies.

mod support;

use support::zfhost::{cdylib_path, parse_descriptor, ZfHost};

/// The published table. Append only: a new entry goes at the end of this list and of
/// `src/boundary/entries.rs`; an existing line never changes.
const PINNED: &[(&str, &str)] = &[
    ("Version", "B"),
    ("LastError", "B"),
    ("ProducerNew", "bP8P"),
    ("Produce", "8ibii8ibbbPP8P"),
    ("ProducerStage", "8iibP"),
    ("ProducerStageLong", "8iijP"),
    ("ProducerClose", "8iiPP"),
    ("ConsumerNew", "bbP8P"),
    ("ConsumerPoll", "8iiPB"),
    ("ConsumerReadField", "8ii8iPB"),
    ("ConsumerReadFieldLong", "8ii8iPJ"),
    ("ConsumerAck", "8ibi8iP"),
    ("ConsumerCommit", "8iPP"),
    ("ConsumerClose", "8iP"),
    ("ConsumerNack", "8ibi8ibPP"),
    ("ConsumerSeek", "8ibii8iP8P"),
    ("ClientLogs", "8iPB"),
    ("ProduceBatch", "8ibPB"),
    ("ProduceBatchLong", "8ijPJ"),
    ("ProducerStageReset", "8iP"),
    ("ProducerNewLong", "jP8P"),
    ("ConsumerNewLong", "jbP8P"),
    ("ConsumerNext", "8iibiPPB"),
    ("ClientStatistics", "8i8iP8PB"),
    ("ConsumerLag", "8iPB"),
    ("ConsumerBatch", "8ibbiiPPPPPB"),
    ("ProduceSend", "8ibP8PP"),
    ("ProduceSendLong", "8ijP8PP"),
    ("ProducerReports", "8iiP8P8PB"),
    ("ProduceLong", "8ibii8ibjbPP8P"),
];

#[test]
fn table_order_is_pinned_and_append_only() {
    let host = ZfHost::load(&cdylib_path()).unwrap();
    let got: Vec<(String, String)> = host.entries().iter().map(|e| (e.name.clone(), e.descriptor.clone())).collect();
    assert!(got.len() >= PINNED.len(), "entries were removed: {got:?}");
    for (i, (name, desc)) in PINNED.iter().enumerate() {
        assert_eq!((got[i].0.as_str(), got[i].1.as_str()), (*name, *desc), "entry #{} changed", i + 1);
    }
    assert_eq!(got.len(), PINNED.len(), "new entries must be pinned here too (appended)");
    // The table the library reports about itself is the one it exports.
    let spec = iriskafka::boundary::table_spec();
    for (s, e) in spec.iter().zip(host.entries()) {
        assert_eq!((s.id, s.name, s.descriptor.as_str()), (e.id, e.name.as_str(), e.descriptor.as_str()));
    }
}

#[test]
fn every_entry_reports_through_a_status_output_and_puts_binary_last() {
    let host = ZfHost::load(&cdylib_path()).unwrap();
    for e in host.entries() {
        let outs: Vec<_> = e.params.iter().filter(|p| p.is_output()).collect();
        assert!(!outs.is_empty(), "{} has no output", e.name);
        let binary = |p: &&support::zfhost::Param| {
            matches!(p, support::zfhost::Param::Counted { .. } | support::zfhost::Param::Long { .. })
        };
        for p in &outs[..outs.len() - 1] {
            assert!(!binary(p), "{}: a binary output must be the last output", e.name);
        }
        if !matches!(e.name.as_str(), "Version" | "LastError") {
            assert_eq!(*outs[0], support::zfhost::Param::I32Ptr { out: true }, "{}: first output is the status", e.name);
        }
        assert!(e.params.len() <= 32);
    }
}

#[test]
fn emulator_rejects_unknown_letters() {
    assert!(parse_descriptor("8ibP").is_ok());
    assert!(parse_descriptor("x").is_err());
    assert!(parse_descriptor("8q").is_err());
    assert!(parse_descriptor("#D").is_ok());
}

#[test]
fn only_the_abi_symbols_are_exported() {
    let path = cdylib_path();
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&path)
        .output()
        .expect("nm (binutils) is needed for this test: apt-get install binutils");
    assert!(out.status.success());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    names.sort();
    assert_eq!(names, ["GetZFTable", "ZFInit", "ZFUnload"], "librdkafka/OpenSSL symbols must stay hidden");
}

#[test]
fn links_only_the_c_runtime() {
    let out = std::process::Command::new("ldd").arg(cdylib_path()).output().expect("ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    let allowed = ["linux-vdso", "libc.so", "libm.so", "libgcc_s.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux"];
    for line in text.lines() {
        let lib = line.trim().split_whitespace().next().unwrap_or("");
        assert!(allowed.iter().any(|a| lib.contains(a)), "unexpected dependency {lib} (README lists the allowed ones)");
    }
}

#[test]
fn committed_objectscript_include_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cls/Kafka/Native.inc");
    let want = iriskafka::boundary::objectscript_include();
    if std::env::var_os("UPDATE_CLS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(have == want, "cls/Kafka/Native.inc is out of date: run `UPDATE_CLS=1 cargo test --test zf_table`");
}

#[test]
fn bad_handles_are_errors_not_crashes() {
    let b = support::bridge();
    for h in [0i64, -1, 1, 12345, i64::MAX, i64::MIN, 1 << 44, (1 << 45) | 1] {
        for (name, extra) in [("ConsumerPoll", 1), ("ConsumerCommit", 0), ("ConsumerClose", 0)] {
            let mut args = vec![support::zfhost::Arg::Int(h)];
            if extra == 1 {
                args.push(0.into());
            }
            let e = b.call(name, &args).unwrap_err();
            assert_eq!(e.name, "BRIDGE_BAD_HANDLE", "{name}({h}): {e}");
        }
        let e = b.producer_close(h, 0).unwrap_err();
        assert_eq!(e.code, -1000);
        assert!(!e.retriable && !e.fatal);
    }
}

#[test]
fn malformed_arguments_are_named() {
    let b = support::bridge();
    let e = b.call("ProducerNew", &[support::zfhost::Arg::Bytes(b"5,1,ab")]).unwrap_err();
    assert_eq!(e.name, "BRIDGE_BAD_ARGUMENT", "{e}");
    let e = b.producer_new(&[("no.such.property", "1")]).unwrap_err();
    assert_eq!(e.name, "BRIDGE_CONFIG");
    assert!(e.message.contains("no.such.property"), "{e}");
    let e = b.producer_new(&[("sasl.password", "s3cr3t-value"), ("acks", "bogus")]).unwrap_err();
    assert!(!e.message.contains("s3cr3t-value"), "{e}");
    let e = b
        .producer_new(&[("sasl.password", "s3cr3t-value"), ("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "NOPE")])
        .unwrap_err();
    assert_eq!(e.name, "BRIDGE_CONFIG");
    assert!(e.message.contains("NOPE") && !e.message.contains("s3cr3t-value"), "{e}");
    let e = b.consumer_new(&[("bootstrap.servers", "127.0.0.1:1")], "t").unwrap_err();
    assert!(e.message.contains("group.id"), "{e}");
}

#[test]
fn version_and_empty_last_error_shapes() {
    let b = support::bridge();
    let v = b.host.call("Version", &[]).unwrap();
    let v = String::from_utf8(v.joined()).unwrap();
    assert!(v.starts_with("iriskafka ") && v.contains("librdkafka 2."), "{v}");
    let features: Vec<&str> = v.split("features=").nth(1).unwrap().split(' ').next().unwrap().split(',').collect();
    let entries: usize = v.split("entries=").nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(entries, PINNED.len());
    for f in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer", "http", "oidc", "gzip", "snappy", "lz4", "zstd"] {
        assert!(features.contains(&f), "librdkafka is built without {f}: {v}");
    }
}
