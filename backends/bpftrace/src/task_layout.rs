//! Where this kernel keeps the three task fields the script reads, found in its BTF.
//!
//! Reading `curtask->mm->start_stack` by name makes bpftrace 0.17 turn the kernel's types
//! into C and parse them with clang, about 0.3 s of every run. With the offsets written into
//! the script as numbers it needs no kernel types at all.

use std::path::Path;

use btf_rs::{Backend, Btf, Type};

/// Where the kernel publishes its own BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Byte offsets of the fields the exec and exit probes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLayout {
    /// `task_struct.mm`: the task's address space.
    pub mm: u32,
    /// `task_struct.exit_code`: the wait status at exit.
    pub exit_code: u32,
    /// `mm_struct.start_stack`: where argc and argv start on the new image's stack.
    pub start_stack: u32,
}

impl TaskLayout {
    /// The offsets in the BTF file at `path`, or why they could not be found.
    pub fn from_btf(path: &Path) -> Result<TaskLayout, String> {
        // Mmap parses lazily: a few milliseconds instead of ~150 ms for the whole kernel.
        let btf = Btf::from_file_with_backend(path, Backend::Mmap)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(TaskLayout {
            mm: field_offset(&btf, "task_struct", "mm")?,
            exit_code: field_offset(&btf, "task_struct", "exit_code")?,
            start_stack: field_offset(&btf, "mm_struct", "start_stack")?,
        })
    }
}

/// The byte offset of `field` in struct `name`, looking inside anonymous members.
fn field_offset(btf: &Btf, name: &str, field: &str) -> Result<u32, String> {
    let missing = || format!("the kernel's BTF has no {name}.{field}");
    let types = btf
        .resolve_types_by_name(name)
        .map_err(|_| format!("the kernel's BTF has no struct {name}"))?;
    let bits = types
        .iter()
        .find_map(|ty| bit_offset(btf, ty, field))
        .ok_or_else(missing)?;
    if bits % 8 != 0 {
        return Err(format!("{name}.{field} is a bit field"));
    }
    Ok(bits / 8)
}

fn bit_offset(btf: &Btf, ty: &Type, field: &str) -> Option<u32> {
    let (Type::Struct(record) | Type::Union(record)) = ty else {
        return None;
    };
    record.members.iter().find_map(|member| {
        let name = btf.resolve_name(member).unwrap_or_default();
        if name == field {
            Some(member.bit_offset())
        } else if name.is_empty() {
            // An anonymous struct or union: its fields belong to the outer one.
            let inner = btf.resolve_chained_type(member).ok()?;
            Some(member.bit_offset() + bit_offset(btf, &inner, field)?)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_has_the_fields() {
        let layout = TaskLayout::from_btf(Path::new(KERNEL_BTF)).expect("kernel BTF");
        assert!(layout.mm > 0 && layout.exit_code > 0 && layout.start_stack > 0);
        assert_ne!(layout.mm, layout.exit_code);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = TaskLayout::from_btf(Path::new("/nonexistent/btf")).unwrap_err();
        assert!(error.contains("/nonexistent/btf"), "{error}");
    }
}
