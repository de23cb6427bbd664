//! `pyprobe heap`: a census of the live Python objects of a running process, by type, read from
//! outside through [`MemoryReader`](crate::process::MemoryReader) like the stacks are.
//!
//! Sources, combined without counting an object twice: pymalloc's arenas (every object of at
//! most 512 bytes, tracked by the collector or not, one read per arena: [`pymalloc`]), the
//! collector's lists (tracked containers too big for pymalloc: [`gc_lists`]), and the
//! references the blocks read hold to objects outside the arenas (large str and bytes).
//! Where the allocator's state cannot be found (a stripped binary keeps it in static
//! variables with no symbol) the census says what it cannot count.
mod census;
mod discover;
pub mod during;
#[cfg(test)]
mod fake;
mod gc_lists;
mod pymalloc;
mod report;
mod sizes;
mod types;

use std::io::Write;
use std::time::{Duration, Instant};

use python_versions::Layout;

pub use census::{ArenaSource, Census, CensusInput, Totals, TypeRow};
pub use gc_lists::Roots;
pub use report::{diff_rows, DiffRow, HeapReport};
pub use types::{TypeInfo, TypeTable};

use crate::error::Error;
use crate::process::{ReadExt, Target};
use crate::python::{find_interpreter_or_exit, Interpreter};
use crate::session::PauseMode;

/// What "bytes" means in the census, for the text and the JSON.
pub const BYTES_MEANING: &str = "bytes = the memory each object occupies: its pymalloc block \
    (size class, with the collector's header) for small objects, header + items for larger \
    ones; lists also count their item array";

/// What `heap` does.
#[derive(Debug, Clone)]
pub struct HeapConfig {
    /// The process.
    pub pid: i32,
    /// Types shown (text output).
    pub top: usize,
    /// JSON instead of text.
    pub json: bool,
    /// Take two censuses this far apart and show the growth.
    pub diff: Option<Duration>,
    /// Stop the target for each census.
    pub pause: PauseMode,
}

/// An attached process, ready for censuses.
pub struct HeapTarget {
    target: Target,
    interp: Interpreter,
    arenas: ArenaSource,
    roots: Roots,
}

impl HeapTarget {
    /// Attach to `pid` and find its interpreter, collector lists and allocator state.
    pub fn attach(pid: i32) -> crate::Result<HeapTarget> {
        let target = Target::open(pid)?;
        let interp = find_interpreter_or_exit(&target)?;
        let symbols = BinarySymbols::open(&target, &interp);
        let r = target.reader();
        let l = &interp.layout;
        let generation0 = symbols
            .find("_PyGC_generation0")
            .and_then(|at| r.read_u64(at).ok());
        let arenas = arena_source(r, l, &interp, &symbols);
        let roots = Roots {
            interp: interp.interp_addr,
            runtime: interp.runtime_addr,
            generation0,
        };
        Ok(HeapTarget {
            target,
            interp,
            arenas,
            roots,
        })
    }

    /// The interpreter found.
    pub fn interpreter(&self) -> &Interpreter {
        &self.interp
    }

    /// The process.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// One census; with `pause`, the target is stopped for it and the pause is returned.
    pub fn census(&self, pause: PauseMode) -> crate::Result<(Census, Option<Duration>)> {
        let maps = self.target.maps()?;
        let readable: Vec<(u64, u64)> = maps
            .regions()
            .iter()
            .filter(|m| m.readable)
            .map(|m| (m.start, m.end))
            .collect();
        let anonymous: Vec<(u64, u64)> = maps
            .regions()
            .iter()
            .filter(|m| {
                m.readable
                    && m.writable
                    && m.path
                        .as_deref()
                        .is_none_or(|p| p == std::path::Path::new("[heap]"))
            })
            .map(|m| (m.start, m.end))
            .collect();
        let r = self.target.reader();
        let l = &self.interp.layout;
        let type_type =
            types::find_type_type(r, l, self.interp.interp_addr).map_err(|e| self.gone_or(e))?;
        let input = CensusInput {
            layout: l,
            roots: self.roots,
            arenas: self.arenas.clone(),
            type_type,
            readable,
            anonymous,
        };
        let (census, paused) = match pause {
            PauseMode::Blocking => {
                let guard = self.target.pause()?;
                let start = Instant::now();
                let census = census::take(r, &input);
                let paused = start.elapsed();
                drop(guard);
                (census, Some(paused))
            }
            PauseMode::NonBlocking => (census::take(r, &input), None),
        };
        if !self.target.is_alive() {
            return Err(Error::ProcessExited {
                pid: self.target.pid(),
            });
        }
        Ok((census, paused))
    }

    fn gone_or(&self, e: Error) -> Error {
        if self.target.is_alive() {
            e
        } else {
            Error::ProcessExited {
                pid: self.target.pid(),
            }
        }
    }
}

/// Symbols of the binary that holds the interpreter, with its load bias.
struct BinarySymbols {
    found: Option<(std::sync::Arc<crate::process::ElfFile>, u64)>,
}

impl BinarySymbols {
    fn open(target: &Target, interp: &Interpreter) -> BinarySymbols {
        let found = (|| {
            let maps = target.maps().ok()?;
            let mapped = maps.file(&interp.binary)?;
            let elf = target.open_elf(&mapped.path).ok()?;
            let bias = mapped.load_bias(elf.first_load_vaddr().unwrap_or(0));
            Some((elf, bias))
        })();
        BinarySymbols { found }
    }

    fn find(&self, name: &str) -> Option<u64> {
        let (elf, bias) = self.found.as_ref()?;
        elf.find_symbol(name).map(|a| a.wrapping_add(*bias))
    }
}

/// Where pymalloc's arena vector is: `struct _obmalloc_state` of the main interpreter (3.12:
/// embedded in it; 3.13+: a pointer), or the static `arenas` / `maxarenas` of
/// Objects/obmalloc.c (up to 3.11; only in `.symtab`, so absent from stripped binaries).
fn arena_source(
    r: &crate::process::LiveReader,
    l: &Layout,
    interp: &Interpreter,
    symbols: &BinarySymbols,
) -> ArenaSource {
    let state = if Layout::has(l.interp_obmalloc) {
        Some(interp.interp_addr.wrapping_add(l.interp_obmalloc as u64))
    } else if Layout::has(l.interp_obmalloc_ptr) {
        match r.read_u64(
            interp
                .interp_addr
                .wrapping_add(l.interp_obmalloc_ptr as u64),
        ) {
            Ok(p) if p != 0 => Some(p),
            _ => {
                return ArenaSource::Missing(
                    "the interpreter's obmalloc state pointer is unreadable".into(),
                )
            }
        }
    } else {
        None
    };
    if let Some(state) = state {
        return ArenaSource::At {
            arenas_ptr: state.wrapping_add(l.obmalloc_arenas as u64),
            maxarenas: state.wrapping_add(l.obmalloc_maxarenas as u64),
        };
    }
    match (symbols.find("arenas"), symbols.find("maxarenas")) {
        (Some(arenas_ptr), Some(maxarenas)) => ArenaSource::At {
            arenas_ptr,
            maxarenas,
        },
        _ => ArenaSource::Missing(format!(
            "{} has no `arenas` symbol: the allocator's state is static in Objects/obmalloc.c up \
             to 3.11 and only a .symtab names it (this binary is stripped)",
            interp.binary.display()
        )),
    }
}

/// Run `pyprobe heap` and print to `out`.
pub fn run(config: &HeapConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let heap = HeapTarget::attach(config.pid)?;
    let started = Instant::now();
    let (first, paused) = heap.census(config.pause)?;
    let first_secs = started.elapsed().as_secs_f64();
    let rss = crate::proc::rss_bytes(config.pid);
    let report = HeapReport::new(&heap, first, rss, first_secs, paused);
    match config.diff {
        None => report.write(config, out)?,
        Some(wait) => {
            std::thread::sleep(wait);
            let started = Instant::now();
            let (second, paused) = heap.census(config.pause)?;
            let secs = started.elapsed().as_secs_f64();
            let rss = crate::proc::rss_bytes(config.pid);
            let later = HeapReport::new(&heap, second, rss, secs, paused);
            report::write_diff(&report, &later, wait, config, out)?;
        }
    }
    Ok(())
}
