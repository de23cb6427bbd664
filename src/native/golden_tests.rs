//! Offline replays of native samples recorded on this machine's interpreters (registers, a
//! stack copy, module addresses: `tests/fixtures/native/*.json`, written with
//! `PYPROBE_NATIVE_CAPTURE=<dir>`), unwound again against the same module files and compared
//! with the expected frames (`*.expected`). After an intended change, rerun with
//! `PYPROBE_BLESS=1 cargo test --lib native::golden` and review the diff.
use std::fs;
use std::path::PathBuf;

use super::replay::{describe, read};
use super::Ending;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/native")
}

fn check(label: &str, must_have: &[&str]) {
    let capture = read(&fixtures().join(format!("{label}.json"))).unwrap();
    let native = capture
        .replay()
        .unwrap_or_else(|e| panic!("{label}: cannot replay: {e}"));
    let actual = describe(&native);
    let expected_path = fixtures().join(format!("{label}.expected"));
    if std::env::var_os("PYPROBE_BLESS").is_some_and(|v| v == "1") {
        fs::write(&expected_path, &actual).unwrap();
    } else {
        let expected = fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!("{}: {e}; run with PYPROBE_BLESS=1", expected_path.display())
        });
        assert!(
            actual == expected,
            "{label}: replay differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        );
    }
    assert_eq!(native.ending, Ending::Complete, "{label}: {actual}");
    for name in must_have {
        assert!(
            native.frames.iter().any(|f| &*f.label == *name),
            "{label}: no frame {name}: {actual}"
        );
    }
}

#[test]
fn pyenv_3_12_hashlib_through_libcrypto_to_main() {
    check(
        "pyenv-3.12.1",
        &[
            "SHA256_Update",
            "EVP_update",
            "_PyEval_EvalFrameDefault",
            "Py_RunMain",
            "_start",
        ],
    );
}

#[test]
fn pyenv_3_10_zlib_one_eval_call_per_python_frame() {
    check(
        "pyenv-3.10.13",
        &[
            "deflate",
            "zlib_compress",
            "_PyEval_EvalFrameDefault",
            "_start",
        ],
    );
}

#[test]
fn debian_static_3_11_stripped_interpreter() {
    check(
        "debian-static-3.11",
        &["deflate", "_PyEval_EvalFrameDefault", "_start"],
    );
}

#[test]
fn debian_3_14_unnamed_eval_loop() {
    check("debian-3.14", &["deflate", "PyEval_EvalCode", "_start"]);
}

#[test]
fn pyenv_2_7_sha256_module() {
    check(
        "pyenv-2.7.18",
        &["sha_update", "PyEval_EvalFrameEx", "_start"],
    );
}
