//! Checks on the built kernel object that neither the compiler nor the
//! verifier makes: every reference to a load-time global is a load.
//!
//! The agent rewrites the read-only globals of `.rodata` before load (struct
//! offsets, masks, the syscall table). Code that takes such a global's
//! address for anything but reading it (a map insert's initial value, a
//! helper argument, a store) gets whatever the loader wrote there: once,
//! LLVM merged a `&0` into a zero offset global and every preemption count
//! started at 312. This check follows each reference to a global in the
//! kernel programs through the registers that hold it, along every branch,
//! and fails on any use other than a load or pointer arithmetic.

use std::{collections::HashSet, ops::Range, path::Path};

use anyhow::{Context, Result, bail};
use object::{
    Object, ObjectSection, ObjectSymbol, RelocationTarget, SectionIndex, SectionKind, SymbolKind,
};

/// A reference to a load-time global used as something other than a load.
#[derive(Debug, PartialEq, Eq)]
pub struct Misuse {
    /// Program section.
    pub section: String,
    /// Instruction index of the reference.
    pub at: usize,
    /// The global.
    pub global: String,
    /// What happened to its address.
    pub what: String,
}

/// Checks the object at `path`; the error lists every misuse.
pub fn check_object(path: &Path) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let misuses = misuses(&data).with_context(|| format!("cannot inspect {}", path.display()))?;
    if misuses.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = misuses
        .iter()
        .map(|m| {
            format!(
                "  {} instruction {}: the address of {} {}",
                m.section, m.at, m.global, m.what
            )
        })
        .collect();
    bail!(
        "{}: load-time globals used other than by loading them (their value is rewritten \
         at load time, so such code sees the agent's value, not the compiled-in one):\n{}",
        path.display(),
        lines.join("\n")
    )
}

/// A global of `.rodata`: its name and byte range.
struct Global {
    name: String,
    section: SectionIndex,
    range: Range<u64>,
}

/// Every misuse in the ELF object `data`.
pub fn misuses(data: &[u8]) -> Result<Vec<Misuse>> {
    let file = object::File::parse(data)?;
    let globals: Vec<Global> = file
        .symbols()
        .filter(|s| s.is_global() && s.kind() == SymbolKind::Data && s.size() > 0)
        .filter_map(|s| {
            let section = file.section_by_index(s.section_index()?).ok()?;
            (section.name().ok()? == ".rodata").then(|| Global {
                name: s.name().unwrap_or("?").to_string(),
                section: section.index(),
                range: s.address()..s.address() + s.size(),
            })
        })
        .collect();
    let mut found = Vec::new();
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let code = section.data()?;
        let program = Program::new(code);
        for (offset, relocation) in section.relocations() {
            let RelocationTarget::Symbol(index) = relocation.target() else {
                continue;
            };
            let symbol = file.symbol_by_index(index)?;
            let at = (offset / 8) as usize;
            let Some(insn) = program.insn(at) else {
                continue;
            };
            if insn.opcode != LDDW {
                continue;
            }
            // REL relocations: the addend is the instruction's immediate.
            let target = symbol.address().wrapping_add(insn.imm as i64 as u64);
            let Some(global) = globals
                .iter()
                .find(|g| Some(g.section) == symbol.section_index() && g.range.contains(&target))
            else {
                continue;
            };
            if let Some(what) = program.first_misuse(at, insn.dst) {
                found.push(Misuse {
                    section: section.name()?.to_string(),
                    at,
                    global: global.name.clone(),
                    what,
                });
            }
        }
    }
    Ok(found)
}

/// `lddw`: load a 64-bit immediate (two instruction slots).
const LDDW: u8 = 0x18;

/// One decoded BPF instruction.
#[derive(Clone, Copy)]
struct Insn {
    opcode: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

/// The instructions of one program section.
struct Program<'a> {
    code: &'a [u8],
}

/// Registers that hold a global's address (a bit per register).
type Held = u16;

impl<'a> Program<'a> {
    fn new(code: &'a [u8]) -> Self {
        Self { code }
    }

    fn insn(&self, at: usize) -> Option<Insn> {
        let b = self.code.get(at * 8..at * 8 + 8)?;
        Some(Insn {
            opcode: b[0],
            dst: b[1] & 0xf,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
    }

    /// Follows the address loaded into `reg` by the `lddw` at `at` along
    /// every path until no register holds it; the first use that is not a
    /// load through it or arithmetic on it.
    fn first_misuse(&self, at: usize, reg: u8) -> Option<String> {
        let mut pending = vec![(at + 2, 1u16 << reg)];
        let mut seen: HashSet<(usize, Held)> = HashSet::new();
        while let Some((pc, held)) = pending.pop() {
            if held == 0 || !seen.insert((pc, held)) {
                continue;
            }
            let Some(insn) = self.insn(pc) else {
                continue;
            };
            match step(&insn, held) {
                Step::Misuse(what) => return Some(what),
                Step::Next(held) => {
                    let width = if insn.opcode == LDDW { 2 } else { 1 };
                    pending.push((pc + width, held));
                }
                Step::Branch(held) => {
                    pending.push((pc + 1, held));
                    pending.push(((pc as i64 + 1 + i64::from(insn.off)) as usize, held));
                }
                Step::Jump(held) => {
                    pending.push(((pc as i64 + 1 + i64::from(insn.off)) as usize, held));
                }
                Step::End => {}
            }
        }
        None
    }
}

/// What one instruction does to the registers holding the address.
enum Step {
    Misuse(String),
    Next(Held),
    Branch(Held),
    Jump(Held),
    End,
}

fn holds(held: Held, reg: u8) -> bool {
    held & (1 << reg) != 0
}

fn step(insn: &Insn, held: Held) -> Step {
    let class = insn.opcode & 0x07;
    let uses_src_reg = insn.opcode & 0x08 != 0;
    let op = insn.opcode & 0xf0;
    let cleared = held & !(1 << insn.dst);
    match class {
        // LD: lddw overwrites dst.
        0x00 => Step::Next(if insn.opcode == LDDW { cleared } else { held }),
        // LDX: a load through the address is the intended use.
        0x01 => Step::Next(cleared),
        // ST, STX: storing to it, or storing it somewhere.
        0x02 | 0x03 => {
            if holds(held, insn.dst) {
                Step::Misuse("is written through".into())
            } else if class == 0x03 && holds(held, insn.src) {
                Step::Misuse("is stored to memory".into())
            } else {
                Step::Next(held)
            }
        }
        // ALU, ALU64: moves copy the address, arithmetic keeps it a pointer.
        0x04 | 0x07 => {
            let from_held = uses_src_reg && holds(held, insn.src);
            if op == 0xb0 {
                Step::Next(if from_held {
                    held | (1 << insn.dst)
                } else {
                    cleared
                })
            } else if from_held {
                Step::Next(held | (1 << insn.dst))
            } else {
                Step::Next(held)
            }
        }
        // JMP, JMP32.
        _ => match op {
            0x80 => {
                if held & 0b11_1110 != 0 {
                    Step::Misuse("is passed to a call".into())
                } else {
                    Step::Next(held & !0b11_1111)
                }
            }
            0x90 => {
                if holds(held, 0) {
                    Step::Misuse("is returned".into())
                } else {
                    Step::End
                }
            }
            0x00 if class == 0x05 => Step::Jump(held),
            _ => {
                if holds(held, insn.dst) || (uses_src_reg && holds(held, insn.src)) {
                    Step::Misuse("is compared".into())
                } else {
                    Step::Branch(held)
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = opcode;
        b[1] = dst | (src << 4);
        b[2..4].copy_from_slice(&off.to_le_bytes());
        b[4..].copy_from_slice(&imm.to_le_bytes());
        b
    }

    fn program(insns: &[[u8; 8]]) -> Vec<u8> {
        insns.concat()
    }

    const LDDW_R3: [u8; 8] = [LDDW, 3, 0, 0, 0, 0, 0, 0];
    const LDDW_HI: [u8; 8] = [0; 8];
    const EXIT: [u8; 8] = [0x95, 0, 0, 0, 0, 0, 0, 0];

    #[test]
    fn a_load_through_the_address_is_fine() {
        // r3 = G ll; r3 = *(u64 *)(r3 + 0); call 2; exit
        let code = program(&[
            LDDW_R3,
            LDDW_HI,
            insn(0x79, 3, 3, 0, 0),
            insn(0x85, 0, 0, 0, 2),
            EXIT,
        ]);
        assert_eq!(Program::new(&code).first_misuse(0, 3), None);
    }

    #[test]
    fn indexing_then_loading_is_fine() {
        // r1 = G ll; r1 += r2; r0 = *(u8 *)(r1 + 0); exit
        let code = program(&[
            [LDDW, 1, 0, 0, 0, 0, 0, 0],
            LDDW_HI,
            insn(0x0f, 1, 2, 0, 0),
            insn(0x71, 0, 1, 0, 0),
            EXIT,
        ]);
        assert_eq!(Program::new(&code).first_misuse(0, 1), None);
    }

    #[test]
    fn the_312_bug_is_caught() {
        // r3 = G ll; r4 = 1; call 2 (map_update_elem with value = &G)
        let code = program(&[
            LDDW_R3,
            LDDW_HI,
            insn(0xb7, 4, 0, 0, 1),
            insn(0x85, 0, 0, 0, 2),
            EXIT,
        ]);
        assert_eq!(
            Program::new(&code).first_misuse(0, 3).as_deref(),
            Some("is passed to a call")
        );
    }

    #[test]
    fn a_copy_on_a_branch_is_followed() {
        // r3 = G ll; if r5 == 0 goto +1; r4 = 0; r2 = r3; call 1
        let code = program(&[
            LDDW_R3,
            LDDW_HI,
            insn(0x15, 5, 0, 1, 0),
            insn(0xb7, 4, 0, 0, 0),
            insn(0xbf, 2, 3, 0, 0),
            insn(0x85, 0, 0, 0, 1),
            EXIT,
        ]);
        assert_eq!(
            Program::new(&code).first_misuse(0, 3).as_deref(),
            Some("is passed to a call")
        );
    }

    #[test]
    fn storing_the_address_is_caught() {
        // r3 = G ll; *(u64 *)(r10 - 8) = r3
        let code = program(&[LDDW_R3, LDDW_HI, insn(0x7b, 10, 3, -8, 0), EXIT]);
        assert_eq!(
            Program::new(&code).first_misuse(0, 3).as_deref(),
            Some("is stored to memory")
        );
    }
}
