//! The running kernel's BTF: struct field offsets and tracepoint prototypes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use btf_rs::{Backend, Btf, BtfType, Type};

/// Where the running kernel publishes its BTF.
pub const DEFAULT_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Where a field sits in a kernel struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the struct.
    pub offset: u64,
    /// Size in bytes, when the type has one.
    pub size: Option<usize>,
}

impl Field {
    /// The offset, after checking that the field is `size` bytes wide (the
    /// width the programs read).
    pub fn with_size(self, name: &str, size: usize) -> Result<u64> {
        match self.size {
            Some(found) if found == size => Ok(self.offset),
            found => bail!("kernel field {name} is {found:?} bytes wide, expected {size}"),
        }
    }
}

/// Parsed kernel BTF and where it came from.
pub struct KernelBtf {
    path: PathBuf,
    btf: Btf,
}

impl KernelBtf {
    /// Reads the BTF at `path`, with an error that says what to do when the
    /// kernel has none. Only a regular file is opened (a FIFO or a device
    /// could block forever). The file is mapped, not copied and parsed
    /// whole: types are decoded as they are looked up, which keeps the
    /// agent's start-up memory small (the kernel's BTF is megabytes).
    pub fn open(path: &Path) -> Result<Self> {
        let meta = match std::fs::metadata(path) {
            Err(err)
                if err.kind() == std::io::ErrorKind::NotFound && path == Path::new(DEFAULT_BTF) =>
            {
                bail!(
                    "kernel BTF not found at {}: this kernel was built without \
                 CONFIG_DEBUG_INFO_BTF=y, which pressure-probe needs (use a kernel with BTF, \
                 as most distributions ship since Linux 5.4)",
                    path.display()
                )
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read the BTF file {}", path.display()));
            }
            Ok(meta) => meta,
        };
        if !meta.is_file() {
            bail!(
                "{} is not a regular file: --btf takes a BTF file, such as {DEFAULT_BTF}",
                path.display()
            );
        }
        let btf = Btf::from_file_with_backend(path, Backend::Mmap)
            .or_else(|_| Btf::from_file(path))
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

    /// Offset and size of `structure.path`, where `path` names a field, or a
    /// field of a field with dots (`se.cfs_rq`); anonymous structs and unions
    /// are looked through. Bitfields are refused: the programs read whole
    /// fields.
    pub fn field(&self, structure: &str, path: &str) -> Result<Field> {
        let types = self
            .btf
            .resolve_types_by_name(structure)
            .map_err(|_| anyhow!("kernel BTF has no struct {structure}"))?;
        let mut strukt = types
            .iter()
            .find_map(|t| match t {
                Type::Struct(s) => Some(s.clone()),
                _ => None,
            })
            .ok_or_else(|| anyhow!("kernel BTF has no struct {structure}"))?;
        let mut bits = 0;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let (offset, member) = self
                .find_member(&strukt, part, bits)?
                .ok_or_else(|| anyhow!("kernel BTF has no field {structure}.{path}"))?;
            bits = offset;
            if parts.peek().is_none() {
                if bits % 8 != 0 {
                    bail!("{structure}.{path} is not byte-aligned in kernel BTF");
                }
                return Ok(Field {
                    offset: u64::from(bits / 8),
                    size: self.size_of(&member),
                });
            }
            strukt = self.aggregate_of(&member).ok_or_else(|| {
                anyhow!("{structure}.{path}: {part} is not a struct in kernel BTF")
            })?;
        }
        bail!("empty field path for struct {structure}")
    }

    fn find_member(
        &self,
        strukt: &btf_rs::Struct,
        field: &str,
        base: u32,
    ) -> Result<Option<(u32, btf_rs::Member)>> {
        for member in &strukt.members {
            let name = self.btf.resolve_name(member).unwrap_or_default();
            let offset = base + member.bit_offset();
            if name == field {
                if member.bitfield_size().is_some_and(|size| size != 0) {
                    bail!("field {field} is a bitfield in kernel BTF");
                }
                return Ok(Some((offset, member.clone())));
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

    /// A member's type, through typedefs and qualifiers.
    fn underlying(&self, member: &dyn BtfType) -> Option<Type> {
        let mut ty = self.btf.resolve_chained_type(member).ok()?;
        while let Type::Typedef(_) | Type::Const(_) | Type::Volatile(_) | Type::Restrict(_) = ty {
            ty = self.btf.resolve_chained_type(ty.as_btf_type()?).ok()?;
        }
        Some(ty)
    }

    /// Size in bytes of a member's type (`None` for types without a fixed size).
    fn size_of(&self, member: &dyn BtfType) -> Option<usize> {
        match self.underlying(member)? {
            Type::Int(i) => Some(i.size()),
            Type::Ptr(_) => Some(8),
            Type::Enum(e) => Some(e.size()),
            Type::Struct(s) | Type::Union(s) => Some(s.size()),
            _ => None,
        }
    }

    /// The struct or union a member's type resolves to.
    fn aggregate_of(&self, member: &dyn BtfType) -> Option<btf_rs::Struct> {
        match self.underlying(member)? {
            Type::Struct(s) | Type::Union(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the kernel has a type called `name` that `kind` accepts.
    fn has_type(&self, name: &str, kind: fn(&Type) -> bool) -> bool {
        self.btf
            .resolve_types_by_name(name)
            .is_ok_and(|types| types.iter().any(kind))
    }

    /// Whether the kernel has a function called `name` (such as a BPF helper's
    /// implementation, which tells whether the helper exists).
    pub fn has_function(&self, name: &str) -> bool {
        self.has_type(name, |t| matches!(t, Type::Func(_)))
    }

    /// The value of `member` of the enum called `name`.
    pub fn enum_value(&self, name: &str, member: &str) -> Result<u32> {
        let types = self
            .btf
            .resolve_types_by_name(name)
            .map_err(|_| anyhow!("kernel BTF has no enum {name}"))?;
        types
            .iter()
            .find_map(|t| match t {
                Type::Enum(e) => e
                    .members
                    .iter()
                    .find_map(|m| (self.btf.resolve_name(m).ok()? == member).then(|| m.val())),
                _ => None,
            })
            .ok_or_else(|| anyhow!("kernel BTF has no {member} in enum {name}"))
    }

    /// Whether the kernel has a struct called `name`.
    pub fn has_struct(&self, name: &str) -> bool {
        self.has_type(name, |t| matches!(t, Type::Struct(_)))
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

    fn kernel() -> KernelBtf {
        KernelBtf::open(Path::new(DEFAULT_BTF)).expect("these tests need the running kernel's BTF")
    }

    #[test]
    fn resolves_known_fields() {
        let btf = kernel();
        let pid = btf.field("task_struct", "pid").unwrap().offset;
        let tgid = btf.field("task_struct", "tgid").unwrap().offset;
        assert!(pid > 0 && tgid > pid, "pid at {pid}, tgid at {tgid}");
        assert!(btf.field("kernfs_node", "id").is_ok());
    }

    #[test]
    fn resolves_nested_paths_and_sizes() {
        let btf = kernel();
        let se = btf.field("task_struct", "se").unwrap().offset;
        let cfs_rq = btf.field("sched_entity", "cfs_rq").unwrap().offset;
        assert_eq!(
            btf.field("task_struct", "se.cfs_rq").unwrap().offset,
            se + cfs_rq
        );
        let state = btf.field("sock", "__sk_common.skc_state").unwrap();
        assert_eq!(state.size, Some(1));
        assert_eq!(btf.field("sock", "sk_ack_backlog").unwrap().size, Some(4));
        assert!(
            btf.field("sock", "sk_ack_backlog")
                .unwrap()
                .with_size("x", 8)
                .is_err()
        );
        let err = btf
            .field("task_struct", "se.no_such")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "kernel BTF has no field task_struct.se.no_such");
    }

    #[test]
    fn missing_field_is_an_error_naming_it() {
        let btf = kernel();
        let err = btf
            .field("task_struct", "no_such_field")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "kernel BTF has no field task_struct.no_such_field");
    }

    #[test]
    fn missing_struct_is_an_error_naming_it() {
        let btf = kernel();
        let err = btf.field("no_such_struct", "pid").unwrap_err().to_string();
        assert_eq!(err, "kernel BTF has no struct no_such_struct");
    }

    #[test]
    fn missing_btf_file_is_named_not_blamed_on_the_kernel() {
        let err = format!(
            "{:#}",
            KernelBtf::open(Path::new("/nonexistent/vmlinux"))
                .err()
                .unwrap()
        );
        assert!(
            err.contains("cannot read the BTF file /nonexistent/vmlinux"),
            "{err}"
        );
        assert!(!err.contains("CONFIG_DEBUG_INFO_BTF"), "{err}");
    }

    #[test]
    fn only_regular_files_are_opened() {
        let err = KernelBtf::open(Path::new("/dev/null"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn helpers_are_functions_in_btf() {
        let btf = kernel();
        assert!(btf.has_function("bpf_cgrp_storage_get"));
        assert!(!btf.has_function("no_such_function"));
    }

    #[test]
    fn tracepoint_arity_follows_tp_proto() {
        let btf = kernel();
        assert_eq!(btf.tracepoint_arity("sched_wakeup"), Some(1));
        assert_eq!(btf.tracepoint_arity("sched_switch"), Some(4));
        assert_eq!(btf.tracepoint_arity("no_such_tracepoint"), None);
    }
}
