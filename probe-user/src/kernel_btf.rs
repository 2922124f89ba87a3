//! The running kernel's BTF: struct field offsets and tracepoint prototypes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use btf_rs::{Btf, BtfType, Type};

/// Parsed kernel BTF and where it came from.
pub struct KernelBtf {
    path: PathBuf,
    btf: Btf,
}

impl KernelBtf {
    /// Parses the BTF at `path`, with an error that says what to do when the
    /// kernel has none.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            bail!(
                "kernel BTF not found at {}: this kernel was built without \
                 CONFIG_DEBUG_INFO_BTF=y, which pressure-probe needs (use a kernel with BTF, \
                 as most distributions ship since Linux 5.4)",
                path.display()
            );
        }
        let btf = Btf::from_file(path)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot parse kernel BTF at {}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            btf,
        })
    }

    /// Where the BTF was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Byte offset of `structure.field`, looking through anonymous structs and
    /// unions. Bitfields are refused: the programs read whole fields.
    pub fn field_offset(&self, structure: &str, field: &str) -> Result<u64> {
        let types = self
            .btf
            .resolve_types_by_name(structure)
            .map_err(|_| anyhow!("kernel BTF has no struct {structure}"))?;
        let strukt = types
            .iter()
            .find_map(|t| match t {
                Type::Struct(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| anyhow!("kernel BTF has no struct {structure}"))?;
        let bits = self
            .find_member(strukt, field, 0)?
            .ok_or_else(|| anyhow!("kernel BTF has no field {structure}.{field}"))?;
        if bits % 8 != 0 {
            bail!("{structure}.{field} is not byte-aligned in kernel BTF");
        }
        Ok(u64::from(bits / 8))
    }

    fn find_member(&self, strukt: &btf_rs::Struct, field: &str, base: u32) -> Result<Option<u32>> {
        for member in &strukt.members {
            let name = self.btf.resolve_name(member).unwrap_or_default();
            let offset = base + member.bit_offset();
            if name == field {
                if member.bitfield_size().is_some_and(|size| size != 0) {
                    bail!("field {field} is a bitfield in kernel BTF");
                }
                return Ok(Some(offset));
            }
            if name.is_empty()
                && let Some(inner) = self.aggregate_of(member)
                && let Some(found) = self.find_member(&inner, field, offset)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The struct or union a member's type resolves to, through typedefs and qualifiers.
    fn aggregate_of(&self, member: &dyn BtfType) -> Option<btf_rs::Struct> {
        let mut ty = self.btf.resolve_chained_type(member).ok()?;
        loop {
            match ty {
                Type::Struct(s) | Type::Union(s) => return Some(s),
                Type::Typedef(_) | Type::Const(_) | Type::Volatile(_) | Type::Restrict(_) => {
                    ty = self.btf.resolve_chained_type(ty.as_btf_type()?).ok()?;
                }
                _ => return None,
            }
        }
    }

    /// Number of arguments a BTF-enabled tracepoint passes to a program
    /// (`TP_PROTO`), or `None` when the kernel has no such tracepoint.
    pub fn tracepoint_arity(&self, tracepoint: &str) -> Option<usize> {
        let name = format!("btf_trace_{tracepoint}");
        let types = self.btf.resolve_types_by_name(&name).ok()?;
        let typedef = types.iter().find(|t| matches!(t, Type::Typedef(_)))?;
        let pointer = self.btf.resolve_chained_type(typedef.as_btf_type()?).ok()?;
        match self.btf.resolve_chained_type(pointer.as_btf_type()?).ok()? {
            // The first parameter is the tracepoint's private `void *__data`.
            Type::FuncProto(proto) => Some(proto.parameters.len().saturating_sub(1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DEFAULT_BTF;

    fn kernel() -> KernelBtf {
        KernelBtf::open(Path::new(DEFAULT_BTF)).expect("these tests need the running kernel's BTF")
    }

    #[test]
    fn resolves_known_fields() {
        let btf = kernel();
        let pid = btf.field_offset("task_struct", "pid").unwrap();
        let tgid = btf.field_offset("task_struct", "tgid").unwrap();
        assert!(pid > 0 && tgid > pid, "pid at {pid}, tgid at {tgid}");
        assert!(btf.field_offset("kernfs_node", "id").is_ok());
    }

    #[test]
    fn missing_field_is_an_error_naming_it() {
        let btf = kernel();
        let err = btf
            .field_offset("task_struct", "no_such_field")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "kernel BTF has no field task_struct.no_such_field");
    }

    #[test]
    fn missing_struct_is_an_error_naming_it() {
        let btf = kernel();
        let err = btf
            .field_offset("no_such_struct", "pid")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "kernel BTF has no struct no_such_struct");
    }

    #[test]
    fn missing_btf_says_what_to_do() {
        let err = KernelBtf::open(Path::new("/nonexistent/vmlinux"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }

    #[test]
    fn tracepoint_arity_follows_tp_proto() {
        let btf = kernel();
        assert_eq!(btf.tracepoint_arity("sched_wakeup"), Some(1));
        assert_eq!(btf.tracepoint_arity("sched_switch"), Some(4));
        assert_eq!(btf.tracepoint_arity("no_such_tracepoint"), None);
    }
}
