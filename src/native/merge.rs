//! Native and Python frames as one stack: each eval-loop frame of the native stack is replaced
//! by the Python frames that call of the eval loop was running.
//!
//! ≤ 3.10 one eval call runs one Python frame; 3.11+ one eval call runs several (a Python-to-
//! Python call stays in the same C call), and the walker tells where each C call's frames begin
//! (`calls`: Python frames per eval call, innermost first; see
//! [`crate::python::Walker::eval_calls`]). Matched innermost first.
//! https://github.com/python/cpython/blob/v3.11.7/Include/internal/pycore_frame.h (`is_entry`)
use crate::stack::Frame;

use super::{FrameKind, NativeStack};

/// How the two stacks fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// One eval-loop frame per Python call: merged.
    Merged,
    /// The native unwind stopped early (fewer eval frames than Python calls): merged as far
    /// as it went, the rest of the Python frames after a marker.
    Partial,
    /// As many eval frames as calls cannot be matched: the Python stack is of another moment
    /// than the native one. The Python frames alone are given.
    Mismatch,
}

/// Merge `native` with the Python `frames` (innermost first; `calls` as above) into `out`.
pub fn merge(native: &NativeStack, frames: &[Frame], calls: &[u32], out: &mut Vec<Frame>) -> Fit {
    out.clear();
    let evals: Vec<usize> = native
        .frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FrameKind::EvalLoop)
        .map(|(i, _)| i)
        .collect();
    let python_total: usize = calls.iter().map(|&n| n as usize).sum();
    let fits = python_total == frames.len()
        && (evals.len() == calls.len() || (native.partial() && evals.len() < calls.len()));
    if !fits {
        out.extend_from_slice(frames);
        return Fit::Mismatch;
    }
    let (mut next_native, mut next_python) = (0, 0);
    for (&eval, &count) in evals.iter().zip(calls) {
        push_shown(native, next_native..eval, out);
        out.extend_from_slice(&frames[next_python..next_python + count as usize]);
        next_native = eval + 1;
        next_python += count as usize;
    }
    if evals.len() == calls.len() && !calls.is_empty() {
        // Under the outermost eval call: the interpreter starting up (main, Py_RunMain, or a
        // thread's bootstrap); not shown.
        return Fit::Merged;
    }
    // No Python frames at all (a thread outside Python code), or an unwind that stopped early.
    push_shown(native, next_native..native.frames.len(), out);
    if native.partial() {
        out.push(Frame {
            name: format!("[native unwind stopped: {:?}]", native.ending).into(),
            filename: "".into(),
            line: 0,
        });
    }
    out.extend_from_slice(&frames[next_python..]);
    if evals.len() == calls.len() {
        Fit::Merged
    } else {
        Fit::Partial
    }
}

fn push_shown(native: &NativeStack, range: std::ops::Range<usize>, out: &mut Vec<Frame>) {
    for f in &native.frames[range] {
        if f.kind == FrameKind::Shown {
            out.push(Frame {
                name: crate::name::Name::from(&*f.label),
                filename: crate::name::Name::from(&*f.module),
                line: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{Ending, NativeFrame};

    fn native(frames: &[(&str, FrameKind)], ending: Ending) -> NativeStack {
        NativeStack {
            frames: frames
                .iter()
                .map(|&(label, kind)| NativeFrame {
                    addr: 0,
                    kind,
                    label: label.into(),
                    module: "m".into(),
                })
                .collect(),
            ending,
        }
    }

    fn py(names: &[&str]) -> Vec<Frame> {
        names
            .iter()
            .map(|n| Frame {
                name: (*n).into(),
                filename: "app.py".into(),
                line: 1,
            })
            .collect()
    }

    fn names(frames: &[Frame]) -> Vec<String> {
        frames.iter().map(|f| f.name.to_string()).collect()
    }

    use FrameKind::*;

    #[test]
    fn eval_calls_are_replaced_by_their_python_frames() {
        // 3.11+: the inner eval call runs squeeze and helper; the outer one runs main.
        let n = native(
            &[
                ("longest_match", Shown),
                ("deflate", Shown),
                ("zlib_compress", Shown),
                ("cfunction_vectorcall_O", Plumbing),
                ("_PyEval_EvalFrameDefault", EvalLoop),
                ("builtin_map", Shown),
                ("_PyEval_EvalFrameDefault", EvalLoop),
                ("Py_RunMain", Plumbing),
                ("main", Shown),
            ],
            Ending::Complete,
        );
        let mut out = Vec::new();
        let fit = merge(&n, &py(&["squeeze", "helper", "main"]), &[2, 1], &mut out);
        assert_eq!(fit, Fit::Merged);
        assert_eq!(
            names(&out),
            [
                "longest_match",
                "deflate",
                "zlib_compress",
                "squeeze",
                "helper",
                "builtin_map",
                "main"
            ]
        );
    }

    #[test]
    fn counts_that_differ_give_the_python_frames_alone() {
        let n = native(
            &[("f", Shown), ("_PyEval_EvalFrameDefault", EvalLoop)],
            Ending::Complete,
        );
        let mut out = Vec::new();
        assert_eq!(
            merge(&n, &py(&["a", "b"]), &[1, 1], &mut out),
            Fit::Mismatch
        );
        assert_eq!(names(&out), ["a", "b"]);
    }

    #[test]
    fn an_early_stop_is_marked_and_the_python_frames_follow() {
        let n = native(
            &[
                ("jit", Shown),
                ("_PyEval_EvalFrameDefault", EvalLoop),
                ("x", Shown),
            ],
            Ending::NoUnwindInfo,
        );
        let mut out = Vec::new();
        assert_eq!(merge(&n, &py(&["a", "b"]), &[1, 1], &mut out), Fit::Partial);
        assert_eq!(
            names(&out),
            [
                "jit",
                "a",
                "x",
                "[native unwind stopped: NoUnwindInfo]",
                "b"
            ]
        );
    }
}
