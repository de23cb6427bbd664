//! Random bytes through CFI parsing, symbol tables, the unwinder and the sample decoder: errors
//! and partial stacks, never a panic, never an endless loop.
use std::path::Path;
use std::sync::Arc;

use gimli::UnwindContext;
use proptest::prelude::*;

use super::cfi::{CfiIndex, CfiSections, SectionSpan};
use super::module::{MappedModule, ModuleData, Modules};
use super::{Registers, StackCopy, Unwinder};
use crate::process::ElfFile;

fn sections(len: usize) -> CfiSections {
    let span = SectionSpan {
        file_start: 0,
        len,
        addr: 0x1000,
    };
    CfiSections {
        eh_frame: Some(span),
        debug_frame: Some(span),
        text_addr: 0x2000,
        eh_frame_hdr_addr: 0x800,
    }
}

/// This test binary's own module, at bias 0: a real module to unwind garbage stacks through.
fn own_module() -> Modules {
    let exe = std::fs::read("/proc/self/exe").unwrap();
    let elf = ElfFile::parse(Path::new("self"), exe).unwrap();
    let data = Arc::new(ModuleData::from_elf(elf, false));
    Modules::from_list(vec![MappedModule {
        start: 0,
        end: u64::MAX / 2,
        bias: 0,
        data,
    }])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_cfi_sections_give_errors_not_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        addrs in proptest::collection::vec(any::<u64>(), 1..16),
    ) {
        let index = CfiIndex::build(&bytes, sections(bytes.len()));
        let mut ctx = UnwindContext::new();
        for addr in addrs {
            let _ = index.row(&bytes, &mut ctx, addr);
            let _ = index.row(&bytes, &mut ctx, 0x1000 + addr % 0x2000);
        }
    }

    #[test]
    fn cfi_with_valid_headers_and_random_instructions(
        instructions in proptest::collection::vec(any::<u8>(), 0..64),
        pc in 0u64..0x200,
    ) {
        // A CIE (version 1, "zR", code 1, data -8, RA 16, pcrel sdata4) and one FDE whose
        // instructions are random.
        let mut cie = vec![0, 0, 0, 0, 1, b'z', b'R', 0, 1, 0x78, 16, 1, 0x1b];
        cie.extend(&instructions);
        while !(cie.len() + 4).is_multiple_of(4) { cie.push(0); }
        let mut bytes = (cie.len() as u32).to_le_bytes().to_vec();
        bytes.extend(&cie);
        let fde_at = bytes.len();
        let mut fde = ((fde_at + 4) as u32).to_le_bytes().to_vec();
        // pc_begin relative to its own address (0x1000 + fde_at + 8): function at 0x100.
        let begin = 0x100i64 - (0x1000 + fde_at as i64 + 8);
        fde.extend((begin as i32).to_le_bytes());
        fde.extend(0x100u32.to_le_bytes());
        fde.push(0);
        fde.extend(&instructions);
        while !(fde.len() + 4).is_multiple_of(4) { fde.push(0); }
        bytes.extend((fde.len() as u32).to_le_bytes());
        bytes.extend(&fde);
        bytes.extend([0; 4]);
        let mut s = sections(bytes.len());
        s.debug_frame = None;
        let index = CfiIndex::build(&bytes, s);
        let mut ctx = UnwindContext::new();
        let _ = index.row(&bytes, &mut ctx, 0x100 + pc);
    }

    #[test]
    fn random_stacks_unwind_to_an_ending(
        stack in proptest::collection::vec(any::<u8>(), 0..8192),
        ip_choice in 0usize..4,
        sp in any::<u64>(),
        bp in any::<u64>(),
    ) {
        thread_local!(static MODULES: Modules = own_module());
        let ip = [main as *const () as u64, random_cfi_sections_give_errors_not_panics as *const () as u64, 0, u64::MAX][ip_choice];
        MODULES.with(|m| {
            let mut unwinder = Unwinder::new(Modules::from_list(m.list().to_vec()), false);
            let native = unwinder.unwind(Registers { ip, sp, bp }, StackCopy { start: sp, bytes: &stack });
            prop_assert!(native.frames.len() <= super::unwind::MAX_NATIVE_FRAMES);
            Ok(())
        })?;
    }

    #[test]
    fn random_files_as_modules(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        // Mostly not ELF; an ELF header prefix makes some parse further.
        let mut with_header = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        with_header.extend(&bytes);
        for candidate in [bytes.clone(), with_header] {
            if let Ok(elf) = ElfFile::parse(Path::new("random"), candidate) {
                let data = ModuleData::from_elf(elf, false);
                let _ = data.symbol(0x1000);
                let _ = data.row(&mut UnwindContext::new(), 0x1000);
            }
        }
    }

    #[test]
    fn random_perf_records_decode_or_refuse(record in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut sample = crate::perf::stacks::StackSample::default();
        let _ = crate::perf::stacks::decode(&record, &mut sample);
    }
}

fn main() {}
