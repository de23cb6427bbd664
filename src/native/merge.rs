//! Native and Python frames as one stack: each eval-loop frame of the native stack is replaced
//! by the Python frames that call of the eval loop was running.
//!
//! ≤ 3.10 one eval call runs one Python frame; 3.11+ one eval call runs several (a Python-to-
//! Python call stays in the same C call), and the walker tells where each C call's frames begin
//! (`calls`: Python frames per eval call, innermost first; see
//! [`crate::python::Walker::eval_calls`]). Matched innermost first.
//! https://github.com/python/cpython/blob/v3.11.7/Include/internal/pycore_frame.h (`is_entry`)
use crate::stack::{EvalCall, Frame};

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
pub fn merge(
    native: &NativeStack,
    frames: &[Frame],
    calls: &[EvalCall],
    out: &mut Vec<Frame>,
) -> Fit {
    out.clear();
    let evals = eval_frames(native, calls);
    let python_total: usize = calls.iter().map(|c| c.frames as usize).sum();
    let fits = python_total == frames.len()
        && evals
            .as_ref()
            .is_some_and(|e| e.len() == calls.len() || (native.partial() && e.len() < calls.len()));
    let evals = evals.unwrap_or_default();
    if !fits {
        out.extend_from_slice(frames);
        return Fit::Mismatch;
    }
    let (mut next_native, mut next_python) = (0, 0);
    for (&eval, count) in evals.iter().zip(calls.iter().map(|c| c.frames)) {
        push_shown(native, next_native..eval, next_native == 0, out);
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
    push_shown(
        native,
        next_native..native.frames.len(),
        next_native == 0,
        out,
    );
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

/// The native frames of the eval calls, innermost first; `None` when they cannot be matched.
///
/// 3.12+: each call's entry frame is a local of that C call, so the call is the native frame
/// whose stack span (from its rsp to its caller's) holds the entry frame's address; this needs
/// no symbol (Debian's stripped builds split the eval loop into unnamed parts), and a Python
/// stack of another moment does not fit. Before 3.12: the frames named as the eval loop.
fn eval_frames(native: &NativeStack, calls: &[EvalCall]) -> Option<Vec<usize>> {
    let frames = &native.frames;
    if calls.is_empty() || calls.iter().any(|c| c.entry_frame == 0) {
        return Some(
            (0..frames.len())
                .filter(|&i| frames[i].kind == FrameKind::EvalLoop)
                .collect(),
        );
    }
    let mut evals = Vec::with_capacity(calls.len());
    let mut from = 0;
    for call in calls {
        let holder = (from..frames.len()).find(|&i| {
            let top = frames.get(i + 1).map_or(u64::MAX, |f| f.sp);
            frames[i].sp <= call.entry_frame && call.entry_frame < top
        });
        match holder {
            Some(i) => {
                evals.push(i);
                from = i + 1;
            }
            // Beyond the unwound frames: fine if the unwind stopped early, else no fit.
            None if native.partial() && frames.last().is_some_and(|f| f.sp <= call.entry_frame) => {
                break
            }
            None => return None,
        }
    }
    Some(evals)
}

fn push_shown(
    native: &NativeStack,
    range: std::ops::Range<usize>,
    leaf: bool,
    out: &mut Vec<Frame>,
) {
    for f in &native.frames[range] {
        if f.kind == FrameKind::Shown || (leaf && f.kind == FrameKind::Unnamed) {
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
                    sp: 0,
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

    fn calls(counts: &[u32]) -> Vec<EvalCall> {
        counts
            .iter()
            .map(|&frames| EvalCall {
                frames,
                entry_frame: 0,
            })
            .collect()
    }

    /// 3.12+: the eval calls are the frames holding the entry frames, whatever their names.
    #[test]
    fn entry_frames_find_unnamed_eval_calls() {
        let mut n = native(
            &[
                ("deflate", Shown),
                ("python3.13+0x4fe2c0", Plumbing),
                ("python3.13+0x43d700", Plumbing),
                ("PyEval_EvalCode", Plumbing),
                ("main", Shown),
            ],
            Ending::Complete,
        );
        for (i, f) in n.frames.iter_mut().enumerate() {
            f.sp = 0x1000 * (i as u64 + 1);
        }
        let call = |frames, entry_frame| EvalCall {
            frames,
            entry_frame,
        };
        let mut out = Vec::new();
        let fit = merge(&n, &py(&["squeeze", "main"]), &[call(2, 0x3100)], &mut out);
        assert_eq!(fit, Fit::Merged);
        assert_eq!(names(&out), ["deflate", "squeeze", "main"]);
        // An entry frame no native frame holds: stacks of two moments.
        let fit = merge(&n, &py(&["squeeze", "main"]), &[call(2, 0x500)], &mut out);
        assert_eq!(fit, Fit::Mismatch);
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
        let fit = merge(
            &n,
            &py(&["squeeze", "helper", "main"]),
            &calls(&[2, 1]),
            &mut out,
        );
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
            merge(&n, &py(&["a", "b"]), &calls(&[1, 1]), &mut out),
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
        assert_eq!(
            merge(&n, &py(&["a", "b"]), &calls(&[1, 1]), &mut out),
            Fit::Partial
        );
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
