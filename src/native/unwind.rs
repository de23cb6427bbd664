//! The unwind loop (x86_64): from a thread's rip, rsp and rbp and a copy of its stack, each
//! caller's in turn, by the CFI rules of the module each address is in. Nothing is read from
//! the target: every load comes from the copy, so a stack that moved on since does not matter.
use gimli::{Evaluation, EvaluationResult, LittleEndian, Location, UnwindContext, Value};

use super::cfi::{Cfa, Row, Saved, REG_RBP, REG_RSP};
use super::module::Modules;

/// Most frames unwound per stack.
pub const MAX_NATIVE_FRAMES: usize = 1024;
/// Most steps of one DWARF expression (PLT rules take ~10).
const MAX_EXPRESSION_STEPS: u32 = 256;

/// The registers an unwind starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Registers {
    /// Instruction pointer.
    pub ip: u64,
    /// Stack pointer.
    pub sp: u64,
    /// Frame pointer (or whatever rbp holds).
    pub bp: u64,
}

/// A copy of user stack memory: `bytes[0]` was at address `start`.
#[derive(Debug, Clone, Copy)]
pub struct StackCopy<'a> {
    /// Address of the first byte.
    pub start: u64,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl StackCopy<'_> {
    /// The u64 at `addr`, if the copy holds it.
    pub fn u64_at(&self, addr: u64) -> Option<u64> {
        let at = usize::try_from(addr.checked_sub(self.start)?).ok()?;
        let bytes = self.bytes.get(at..at.checked_add(8)?)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

/// Why an unwind ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ending {
    /// At the outermost frame (no return address): the whole stack.
    Complete,
    /// An address in no mapped file (JIT code, a module gone, a corrupt return address).
    UnknownModule,
    /// A module without a rule for the address (no CFI there).
    NoUnwindInfo,
    /// A rule needed memory beyond the stack copy.
    StackCopyEnd,
    /// A rule the unwinder does not follow, or that gave a stack going backwards.
    BadRule,
    /// [`MAX_NATIVE_FRAMES`] reached.
    TooDeep,
}

/// One unwound frame: the address (a return address minus one for callers, so it is inside
/// the call instruction) and the stack pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawNativeFrame {
    /// The address to symbolise.
    pub addr: u64,
    /// The frame's rsp: its stack span runs from here to the next frame's.
    pub sp: u64,
}

/// Most rules kept by a [`RowCache`] before it starts afresh.
const MAX_CACHED_ROWS: usize = 1 << 16;

/// Rules already worked out, by address. Finding a rule runs the FDE's CFI program from the
/// function's start up to the address: for the eval loop, a function of tens of kilobytes,
/// that is thousands of instructions per frame per sample. The return addresses of a stack
/// repeat from sample to sample, so each is worked out once.
#[derive(Debug, Default)]
pub struct RowCache {
    ctx: UnwindContext<usize>,
    rows: crate::fast_hash::FastMap<u64, Option<Row>>,
}

impl RowCache {
    /// Forget every rule (the modules changed).
    pub fn clear(&mut self) {
        self.rows.clear();
    }
}

/// Unwind from `regs` through `stack`; frames innermost first.
pub fn unwind(
    modules: &Modules,
    cache: &mut RowCache,
    regs: Registers,
    stack: StackCopy<'_>,
    out: &mut Vec<RawNativeFrame>,
) -> Ending {
    let (mut ip, mut sp, mut bp) = (regs.ip, regs.sp, Some(regs.bp));
    for depth in 0..MAX_NATIVE_FRAMES {
        // A return address points after its call; the call itself is one byte before.
        let addr = if depth == 0 { ip } else { ip.wrapping_sub(1) };
        out.push(RawNativeFrame { addr, sp });
        let Some(module) = modules.find(addr) else {
            return Ending::UnknownModule;
        };
        if cache.rows.len() >= MAX_CACHED_ROWS {
            cache.rows.clear();
        }
        let row = cache.rows.entry(addr).or_insert_with(|| {
            module
                .data
                .row(&mut cache.ctx, addr.wrapping_sub(module.bias))
        });
        let Some(row) = row else {
            return Ending::NoUnwindInfo;
        };
        let step = match step(row, ip, sp, bp, stack) {
            Ok(step) => step,
            Err(ending) => return ending,
        };
        let Some((next_ip, next_sp, next_bp)) = step else {
            return Ending::Complete;
        };
        // The stack grows down: a caller's frame is above its callee's.
        if next_sp <= sp || next_ip == 0 {
            return if next_ip == 0 {
                Ending::Complete
            } else {
                Ending::BadRule
            };
        }
        (ip, sp, bp) = (next_ip, next_sp, next_bp);
    }
    Ending::TooDeep
}

type Step = Option<(u64, u64, Option<u64>)>;

/// The caller's (rip, rsp, rbp) by `row`; `None` at the outermost frame.
fn step(
    row: &Row,
    ip: u64,
    sp: u64,
    bp: Option<u64>,
    stack: StackCopy<'_>,
) -> Result<Step, Ending> {
    let register = |n: u16| match n {
        REG_RSP => Some(sp),
        REG_RBP => bp,
        16 => Some(ip),
        _ => None,
    };
    let cfa = match &row.cfa {
        Cfa::RegisterOffset(reg, offset) => register(*reg)
            .ok_or(Ending::BadRule)?
            .wrapping_add_signed(*offset),
        Cfa::Expression(bytes) => evaluate(bytes, &register, stack, None)?,
    };
    let restore = |rule: &Saved, current: Option<u64>| -> Result<Option<u64>, Ending> {
        Ok(match rule {
            Saved::Same => current,
            Saved::Undefined => None,
            Saved::At(n) => Some(
                stack
                    .u64_at(cfa.wrapping_add_signed(*n))
                    .ok_or(Ending::StackCopyEnd)?,
            ),
            Saved::Value(n) => Some(cfa.wrapping_add_signed(*n)),
            Saved::AtExpression(bytes) => {
                let at = evaluate(bytes, &register, stack, Some(cfa))?;
                Some(stack.u64_at(at).ok_or(Ending::StackCopyEnd)?)
            }
            Saved::Unsupported => return Err(Ending::BadRule),
        })
    };
    let Some(ra) = restore(&row.ra, None)? else {
        return Ok(None);
    };
    // An rbp the unwinder cannot restore is unknown, not fatal: few rules need it.
    let next_bp = restore(&row.rbp, bp).unwrap_or(None);
    Ok(Some((ra, cfa, next_bp)))
}

/// Evaluate a DWARF expression over the known registers and the stack copy; `cfa` is pushed
/// first for register-rule expressions (DWARF 5, 6.4.2.3).
fn evaluate(
    bytes: &[u8],
    register: &dyn Fn(u16) -> Option<u64>,
    stack: StackCopy<'_>,
    cfa: Option<u64>,
) -> Result<u64, Ending> {
    let encoding = gimli::Encoding {
        format: gimli::Format::Dwarf64,
        version: 4,
        address_size: 8,
    };
    let expression = gimli::Expression(gimli::EndianSlice::new(bytes, LittleEndian));
    let mut eval: Evaluation<_> = expression.evaluation(encoding);
    if let Some(cfa) = cfa {
        eval.set_initial_value(cfa);
    }
    let mut result = eval.evaluate().map_err(|_| Ending::BadRule)?;
    for _ in 0..MAX_EXPRESSION_STEPS {
        result = match result {
            EvaluationResult::Complete => {
                let pieces = eval.as_result();
                return match pieces.first().map(|p| &p.location) {
                    Some(Location::Address { address }) => Ok(*address),
                    _ => Err(Ending::BadRule),
                };
            }
            EvaluationResult::RequiresRegister { register: r, .. } => {
                let value = register(r.0).ok_or(Ending::BadRule)?;
                eval.resume_with_register(Value::Generic(value))
            }
            EvaluationResult::RequiresMemory {
                address, size: 8, ..
            } => {
                let value = stack.u64_at(address).ok_or(Ending::StackCopyEnd)?;
                eval.resume_with_memory(Value::Generic(value))
            }
            _ => return Err(Ending::BadRule),
        }
        .map_err(|_| Ending::BadRule)?;
    }
    Err(Ending::BadRule)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The PLT rule of x86_64 binaries: CFA = rsp + 8 + ((rip & 15) >= 11 ? 8 : 0).
    #[test]
    fn plt_expression_is_evaluated() {
        // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge;
        // DW_OP_lit3; DW_OP_shl; DW_OP_plus
        let bytes = [0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22];
        let stack = StackCopy {
            start: 0,
            bytes: &[],
        };
        let regs = |rip: u64| {
            move |n: u16| match n {
                7 => Some(0x1000),
                16 => Some(rip),
                _ => None,
            }
        };
        assert_eq!(evaluate(&bytes, &regs(0x4010), stack, None), Ok(0x1008));
        assert_eq!(evaluate(&bytes, &regs(0x401c), stack, None), Ok(0x1010));
        // Garbage is an error, not a panic.
        assert!(evaluate(&[0xff, 0x00], &regs(0), stack, None).is_err());
    }

    #[test]
    fn reads_stay_inside_the_copy() {
        let bytes = [1u8, 0, 0, 0, 0, 0, 0, 0, 2];
        let stack = StackCopy {
            start: 100,
            bytes: &bytes,
        };
        assert_eq!(stack.u64_at(100), Some(1));
        assert_eq!(stack.u64_at(101), Some(2 << 56));
        assert_eq!(stack.u64_at(102), None);
        assert_eq!(stack.u64_at(99), None);
        assert_eq!(stack.u64_at(u64::MAX - 3), None);
    }
}
