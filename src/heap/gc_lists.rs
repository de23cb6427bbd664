//! The collector's lists of tracked containers: where their heads are, and walking them.
//!
//! Every object of a type with `Py_TPFLAGS_HAVE_GC` that is tracked sits on one circular,
//! doubly linked list, through the `PyGC_Head` just before it (`gc_next` first in every version:
//! https://github.com/python/cpython/blob/v3.12.1/Include/internal/pycore_gc.h; in 2.7-3.7 a
//! union whose first struct member is `gc_next`). The heads are the three generations (3.14's
//! default build is back to three; its incremental `young`/`old[2]` are free-threaded only)
//! and, from 3.7, the permanent generation of `gc.freeze()`:
//! 2.7/3.6 a static array reached through the exported `_PyGC_generation0`, 3.7/3.8 in
//! `_PyRuntime.gc`, 3.9+ in `PyInterpreterState.gc`.
use python_versions::Layout;

use crate::process::{u64_at, MemoryReader, ReadExt};
use crate::python::objects::field;

/// Generations in every version (`NUM_GENERATIONS`).
const GENERATIONS: u64 = 3;
/// Most objects believed on one list (a cycle that does not pass the head, or garbage).
pub const MAX_TRACKED: u64 = 200_000_000;

/// Where the list heads are found.
#[derive(Debug, Clone, Copy)]
pub struct Roots {
    /// `PyInterpreterState *`.
    pub interp: u64,
    /// `&_PyRuntime` (3.7+).
    pub runtime: Option<u64>,
    /// The value of `_PyGC_generation0` (2.7/3.6: `&generations[0].head`).
    pub generation0: Option<u64>,
}

/// Addresses of the `PyGC_Head` of each list: the generations, then the permanent one.
pub fn list_heads<R: MemoryReader>(r: &R, l: &Layout, roots: &Roots) -> crate::Result<Vec<u64>> {
    let gc_state = if Layout::has(l.interp_gc) {
        Some(field(roots.interp, l.interp_gc))
    } else if Layout::has(l.runtime_gc) {
        let rt = roots.runtime.ok_or_else(|| {
            crate::Error::invalid("no _PyRuntime symbol: the collector's lists cannot be found")
        })?;
        Some(field(rt, l.runtime_gc))
    } else {
        None
    };
    let (first, permanent) = match gc_state {
        Some(gc) => {
            // `generation0` says where the first head really is; the computed place is the
            // fallback (a torn or implausible pointer).
            let computed = field(gc, l.gc_generations);
            let first = r
                .read_u64(field(gc, l.gc_generation0))
                .ok()
                .filter(|&p| p >= gc && p <= computed + 8 && p.is_multiple_of(4))
                .unwrap_or(computed);
            (first, Some(field(gc, l.gc_permanent)))
        }
        None => {
            let gen0 = roots.generation0.ok_or_else(|| {
                crate::Error::invalid(
                    "no _PyGC_generation0 symbol: the collector's lists cannot be found",
                )
            })?;
            (gen0, None)
        }
    };
    let stride = l.gc_generation_size as u64;
    let mut heads: Vec<u64> = (0..GENERATIONS).map(|i| first + i * stride).collect();
    heads.extend(permanent);
    // A head must be a list: its gc_next readable (an empty list points at itself).
    for &h in &heads {
        r.read_u64(h)?;
    }
    Ok(heads)
}

/// How a walk of one list ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkEnd {
    /// Objects visited.
    pub visited: u64,
    /// The walk came back to the head: the whole list was seen.
    pub complete: bool,
}

/// One object on a list: its address, its type pointer and the words after it.
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    /// The object (just after its `PyGC_Head`).
    pub object: u64,
    /// `ob_type`.
    pub type_ptr: u64,
    /// `ob_size` (meaningful for variable-size types only).
    pub ob_size: u64,
}

/// The object whose `PyGC_Head` is at `node`, and the next node: one read.
pub fn read_node<R: MemoryReader>(r: &R, l: &Layout, node: u64) -> Option<(Tracked, u64)> {
    let gc = l.gc_head_size as u64;
    let mut buf = [0u8; 64];
    let buf = buf.get_mut(..gc as usize + 24)?;
    r.read_into(node, buf).ok()?;
    let next = u64_at(buf, 0).ok()? & !3;
    Some((
        Tracked {
            object: node + gc,
            type_ptr: u64_at(buf, gc as i64 + l.ob_type).ok()?,
            ob_size: u64_at(buf, gc as i64 + l.var_ob_size).ok()?,
        },
        next,
    ))
}

/// Visit every object of the list at `head`, one read per object (the head and the object's
/// header: the next link and the type come together). Ends at the head, at a link that cannot
/// be read or is misaligned (the list changed under the walk), at a loop that does not pass the
/// head (Brent's cycle check), or after [`MAX_TRACKED`] objects.
pub fn walk<R: MemoryReader>(
    r: &R,
    l: &Layout,
    head: u64,
    mut visit: impl FnMut(Tracked),
) -> WalkEnd {
    let gc = l.gc_head_size as u64;
    let len = gc as usize + 24;
    let mut buf = vec![0u8; len];
    let mut end = WalkEnd::default();
    let Ok(first) = r.read_u64(head) else {
        return end;
    };
    let mut at = first & !3;
    // Brent: remember a node at each power of two steps; meeting it again is a loop.
    let (mut mark, mut power, mut since) = (head, 1u64, 0u64);
    while at != head {
        if at == 0 || !at.is_multiple_of(4) || at == mark || end.visited >= MAX_TRACKED {
            return end;
        }
        if r.read_into(at, &mut buf).is_err() {
            return end;
        }
        let next = u64_at(&buf, 0).unwrap_or(0) & !3;
        visit(Tracked {
            object: at + gc,
            type_ptr: u64_at(&buf, gc as i64 + l.ob_type).unwrap_or(0),
            ob_size: u64_at(&buf, gc as i64 + l.var_ob_size).unwrap_or(0),
        });
        end.visited += 1;
        since += 1;
        if since == power {
            mark = at;
            power *= 2;
            since = 0;
        }
        at = next;
    }
    end.complete = true;
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::fake::FakeMemory;

    fn layout() -> &'static Layout {
        python_versions::layout_for(3, 12).unwrap()
    }

    /// A list head at `head` with objects at `nodes` (their GC heads), linked in order.
    fn build(m: &mut FakeMemory, head: u64, nodes: &[u64], type_ptr: u64) {
        let mut prev = head;
        for &n in nodes {
            m.put_u64(prev, n);
            m.put_u64(n + 16 + 8, type_ptr);
            m.put_u64(n + 16 + 16, 0);
            prev = n;
        }
        m.put_u64(prev, head);
    }

    #[test]
    fn walks_a_list_to_its_head() {
        let mut m = FakeMemory::default();
        let nodes: Vec<u64> = (0..10).map(|i| 0x10_0000 + i * 64).collect();
        build(&mut m, 0x5000, &nodes, 0xabc0);
        let mut seen = Vec::new();
        let end = walk(&m, layout(), 0x5000, |t| seen.push((t.object, t.type_ptr)));
        assert!(end.complete);
        assert_eq!(end.visited, 10);
        assert_eq!(seen[0], (0x10_0000 + 16, 0xabc0));
        // An empty list points at itself.
        m.put_u64(0x6000, 0x6000);
        assert_eq!(
            walk(&m, layout(), 0x6000, |_| {}),
            WalkEnd {
                visited: 0,
                complete: true
            }
        );
    }

    #[test]
    fn a_loop_that_misses_the_head_ends_the_walk() {
        let mut m = FakeMemory::default();
        let nodes: Vec<u64> = (0..7).map(|i| 0x10_0000 + i * 64).collect();
        build(&mut m, 0x5000, &nodes, 0xabc0);
        // The last node points back to the third.
        m.put_u64(nodes[6], nodes[2]);
        let end = walk(&m, layout(), 0x5000, |_| {});
        assert!(!end.complete);
        assert!(end.visited < 40, "{end:?}");
    }

    #[test]
    fn a_broken_link_ends_the_walk() {
        let mut m = FakeMemory::default();
        let nodes: Vec<u64> = (0..4).map(|i| 0x10_0000 + i * 64).collect();
        build(&mut m, 0x5000, &nodes, 0xabc0);
        m.put_u64(nodes[1], 0x9999_0000);
        let end = walk(&m, layout(), 0x5000, |_| {});
        assert_eq!(
            end,
            WalkEnd {
                visited: 2,
                complete: false
            }
        );
    }

    #[test]
    fn heads_per_version() {
        let mut m = FakeMemory::default();
        let l = layout();
        let interp = 0x20_0000;
        let gc = interp + l.interp_gc as u64;
        for i in 0..3 {
            m.put_u64(gc + l.gc_generations as u64 + i * 24, 0);
        }
        // A build whose generations start 4 bytes early says so in `generation0`.
        m.put_u64(
            gc + l.gc_generation0 as u64,
            gc + l.gc_generations as u64 - 4,
        );
        m.put_u64(gc + l.gc_permanent as u64, 0);
        let roots = Roots {
            interp,
            runtime: None,
            generation0: None,
        };
        let heads = list_heads(&m, l, &roots).unwrap();
        assert_eq!(heads.len(), 4);
        assert_eq!(heads[0], gc + l.gc_generations as u64 - 4);
        assert_eq!(heads[1] - heads[0], l.gc_generation_size as u64);
        let old = python_versions::layout_for(2, 7).unwrap();
        assert!(list_heads(&m, old, &roots).is_err(), "2.7 needs the symbol");
    }
}
