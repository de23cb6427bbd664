//! Call frame information of one ELF file (`.eh_frame`, `.debug_frame`) through gimli: an
//! index of its FDEs, built once, and the unwind rule of any address in it (x86_64 only).
//!
//! The bytes come from a file on the target's disk and are hostile like everything else: gimli
//! returns errors rather than panicking, every count is bounded, and a rule we cannot follow is
//! `None` (the caller stops and marks the stack partial).
//! https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/ehframechpt.html
use gimli::{
    BaseAddresses, CfaRule, CieOrFde, DebugFrame, EhFrame, LittleEndian, Register, RegisterRule,
    UnwindContext, UnwindSection,
};

type Slice<'a> = gimli::EndianSlice<'a, LittleEndian>;

/// Most FDEs indexed per section (libpython has ~10,000; a corrupt section could claim more).
const MAX_FDES: usize = 1_000_000;

/// DWARF register numbers of x86_64 (System V psABI, figure 3.36).
pub const REG_RBP: u16 = 6;
/// `%rsp`.
pub const REG_RSP: u16 = 7;
/// The return address column.
pub const REG_RA: u16 = 16;

/// Where one section's bytes are, in the file and in its address space.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionSpan {
    /// Offset of the section in the file bytes.
    pub file_start: usize,
    /// Its size.
    pub len: usize,
    /// Its virtual address (the base of pc-relative pointers in `.eh_frame`).
    pub addr: u64,
}

impl SectionSpan {
    fn bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        file.get(self.file_start..self.file_start.saturating_add(self.len))
            .unwrap_or_default()
    }
}

/// The sections CFI is read from.
#[derive(Debug, Clone, Copy, Default)]
pub struct CfiSections {
    /// `.eh_frame`.
    pub eh_frame: Option<SectionSpan>,
    /// `.debug_frame` (kept by some builds, or found in a separate debug file).
    pub debug_frame: Option<SectionSpan>,
    /// `.text` address (base of `DW_EH_PE_textrel` pointers).
    pub text_addr: u64,
    /// `.eh_frame_hdr` address (base of `DW_EH_PE_datarel` pointers in `.eh_frame`).
    pub eh_frame_hdr_addr: u64,
}

/// Which section an FDE is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eh,
    Debug,
}

/// How to find the caller's value of a register, in the unwinder's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Not changed by this frame.
    Same,
    /// No value in the caller (the outermost frame's return address).
    Undefined,
    /// Stored at CFA + n.
    At(i64),
    /// Is CFA + n.
    Value(i64),
    /// Stored at the address a DWARF expression computes.
    AtExpression(Vec<u8>),
    /// A rule the unwinder does not follow (another register, an architectural rule...).
    Unsupported,
}

/// How the canonical frame address is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cfa {
    /// A register (DWARF number) plus an offset.
    RegisterOffset(u16, i64),
    /// A DWARF expression (PLT entries use one).
    Expression(Vec<u8>),
}

/// The unwind rule at one address: enough to find the caller's rip, rsp and rbp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The CFA: the caller's rsp.
    pub cfa: Cfa,
    /// The return address.
    pub ra: Saved,
    /// The caller's rbp.
    pub rbp: Saved,
}

/// The FDEs of one file, sorted by start address (file virtual addresses).
#[derive(Debug, Default)]
pub struct CfiIndex {
    sections: CfiSections,
    /// (start, end, offset of the FDE in its section, section).
    fdes: Vec<(u64, u64, usize, Kind)>,
}

impl CfiIndex {
    /// Index every FDE of `sections` in `file`. Entries that do not parse are skipped; an
    /// unparsable section leaves what was read before it.
    pub fn build(file: &[u8], sections: CfiSections) -> CfiIndex {
        let mut fdes = Vec::new();
        let bases = bases(&sections);
        if let Some(span) = sections.eh_frame {
            let section = EhFrame::new(span.bytes(file), LittleEndian);
            collect(&section, &bases, Kind::Eh, &mut fdes);
        }
        if let Some(span) = sections.debug_frame {
            let mut section = DebugFrame::new(span.bytes(file), LittleEndian);
            section.set_address_size(8);
            collect(&section, &bases, Kind::Debug, &mut fdes);
        }
        // `.eh_frame` first at equal starts: it is what the runtime itself trusts.
        fdes.sort_by_key(|&(start, _, _, kind)| (start, kind == Kind::Debug));
        CfiIndex { sections, fdes }
    }

    /// FDEs indexed.
    pub fn len(&self) -> usize {
        self.fdes.len()
    }

    /// Whether no FDE was found.
    pub fn is_empty(&self) -> bool {
        self.fdes.is_empty()
    }

    /// The start of the FDE covering `addr`: the function's start, for naming code without a
    /// symbol by its function rather than by each address.
    pub fn function_start(&self, addr: u64) -> Option<u64> {
        let i = self.fdes.partition_point(|&(start, _, _, _)| start <= addr);
        self.fdes[i.saturating_sub(4)..i]
            .iter()
            .rev()
            .find(|&&(start, end, _, _)| start <= addr && addr < end)
            .map(|&(start, _, _, _)| start)
    }

    /// The rule at file virtual address `addr`, or `None` when no FDE covers it or its
    /// instructions do not parse.
    pub fn row(&self, file: &[u8], ctx: &mut UnwindContext<usize>, addr: u64) -> Option<Row> {
        let i = self.fdes.partition_point(|&(start, _, _, _)| start <= addr);
        // Nested or overlapping FDEs are rare; look back a few entries.
        let candidates = self.fdes[i.saturating_sub(4)..i].iter().rev();
        let &(_, _, offset, kind) = candidates
            .into_iter()
            .find(|&&(start, end, _, _)| start <= addr && addr < end)?;
        let bases = bases(&self.sections);
        match kind {
            Kind::Eh => {
                let section = EhFrame::new(self.sections.eh_frame?.bytes(file), LittleEndian);
                row_in(&section, &bases, ctx, offset, addr)
            }
            Kind::Debug => {
                let mut section =
                    DebugFrame::new(self.sections.debug_frame?.bytes(file), LittleEndian);
                section.set_address_size(8);
                row_in(&section, &bases, ctx, offset, addr)
            }
        }
    }
}

fn bases(sections: &CfiSections) -> BaseAddresses {
    let mut bases = BaseAddresses::default()
        .set_text(sections.text_addr)
        .set_eh_frame_hdr(sections.eh_frame_hdr_addr);
    if let Some(eh) = sections.eh_frame {
        bases = bases.set_eh_frame(eh.addr);
    }
    bases
}

fn collect<'a, S>(
    section: &S,
    bases: &BaseAddresses,
    kind: Kind,
    out: &mut Vec<(u64, u64, usize, Kind)>,
) where
    S: UnwindSection<Slice<'a>>,
{
    let mut entries = section.entries(bases);
    let mut seen = 0usize;
    while let Ok(Some(entry)) = entries.next() {
        seen += 1;
        if seen > MAX_FDES {
            break;
        }
        let CieOrFde::Fde(partial) = entry else {
            continue;
        };
        let Ok(fde) = partial.parse(S::cie_from_offset) else {
            continue;
        };
        let start = fde.initial_address();
        let Some(end) = start.checked_add(fde.len()) else {
            continue;
        };
        if end > start {
            out.push((start, end, fde.offset(), kind));
        }
    }
}

fn row_in<'a, S>(
    section: &S,
    bases: &BaseAddresses,
    ctx: &mut UnwindContext<usize>,
    offset: usize,
    addr: u64,
) -> Option<Row>
where
    S: UnwindSection<Slice<'a>>,
{
    let fde = section
        .fde_from_offset(bases, S::Offset::from(offset), S::cie_from_offset)
        .ok()?;
    let row = fde
        .unwind_info_for_address(section, bases, ctx, addr)
        .ok()?;
    let expression = |e: &gimli::UnwindExpression<usize>| -> Option<Vec<u8>> {
        Some(e.get(section).ok()?.0.slice().to_vec())
    };
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => Cfa::RegisterOffset(register.0, *offset),
        CfaRule::Expression(e) => Cfa::Expression(expression(e)?),
    };
    let saved = |register: u16, default: Saved| match row.register(Register(register)) {
        None => default,
        Some(RegisterRule::Undefined) => Saved::Undefined,
        Some(RegisterRule::SameValue) => Saved::Same,
        Some(RegisterRule::Offset(n)) => Saved::At(n),
        Some(RegisterRule::ValOffset(n)) => Saved::Value(n),
        Some(RegisterRule::Expression(e)) => {
            expression(&e).map_or(Saved::Unsupported, Saved::AtExpression)
        }
        Some(_) => Saved::Unsupported,
    };
    Some(Row {
        cfa,
        // A return address column without a rule has no value: the outermost frame.
        ra: saved(REG_RA, Saved::Undefined),
        rbp: saved(REG_RBP, Saved::Same),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary's own `.eh_frame` gives rules for its own functions.
    #[test]
    fn own_executable_has_rules_for_its_functions() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let elf = crate::process::ElfFile::parse(std::path::Path::new("self"), exe).unwrap();
        let sections = super::super::module::cfi_sections(&elf);
        let index = CfiIndex::build(elf.bytes(), sections);
        assert!(index.len() > 1000, "{} FDEs", index.len());
        let addr = elf.find_symbol("main").expect("main");
        let mut ctx = UnwindContext::new();
        let row = index
            .row(elf.bytes(), &mut ctx, addr)
            .expect("a rule at main");
        // On entry: CFA = rsp + 8, return address at CFA - 8.
        assert_eq!(row.cfa, Cfa::RegisterOffset(REG_RSP, 8));
        assert_eq!(row.ra, Saved::At(-8));
        assert!(index.row(elf.bytes(), &mut ctx, 1).is_none());
    }
}
