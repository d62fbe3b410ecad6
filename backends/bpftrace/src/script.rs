//! The bpftrace program: generated from a table of system calls, so the script only names
//! tracepoints that this kernel has (arm64 has no `open` or `rename`, for example).

use std::fmt::Write as _;

use crate::task_layout::TaskLayout;

/// bpftrace's longest string (`BPFTRACE_STRLEN`): its maximum, since strings live on the
/// 512-byte BPF stack. Longer paths are cut; the backend warns when a path reaches it.
pub const STRING_LIMIT: usize = 200;

/// The most exec arguments printed; more set the exec's `truncated` field.
pub const MAX_ARGS: usize = 64;

/// What the tracepoint gives for one argument of a system call.
#[derive(Debug, Clone, Copy)]
enum Arg {
    /// An integer field, printed in decimal.
    Int(&'static str),
    /// A user-space string pointer, printed raw.
    Str(&'static str),
    /// A pointer to two `int`s (pipe), printed as two decimal fields.
    FdPair(&'static str),
    /// A pointer to a `u64` in user memory (`struct open_how`'s flags), printed in hex.
    UserU64(&'static str),
}

/// One system call the script traces, and how its arguments are printed.
struct Call {
    name: &'static str,
    args: &'static [Arg],
}

use Arg::{FdPair, Int, Str, UserU64};

/// The file-family calls, in the order of the line format's table.
const CALLS: &[Call] = &[
    Call {
        name: "open",
        args: &[Str("filename"), Int("flags")],
    },
    Call {
        name: "creat",
        args: &[Str("pathname")],
    },
    Call {
        name: "openat",
        args: &[Int("dfd"), Str("filename"), Int("flags")],
    },
    Call {
        name: "openat2",
        args: &[Int("dfd"), Str("filename"), UserU64("how")],
    },
    Call {
        name: "close",
        args: &[Int("fd")],
    },
    Call {
        name: "dup",
        args: &[Int("fildes")],
    },
    Call {
        name: "dup2",
        args: &[Int("oldfd"), Int("newfd")],
    },
    Call {
        name: "dup3",
        args: &[Int("oldfd"), Int("newfd"), Int("flags")],
    },
    Call {
        name: "pipe",
        args: &[FdPair("fildes")],
    },
    Call {
        name: "pipe2",
        args: &[FdPair("fildes"), Int("flags")],
    },
    Call {
        name: "chdir",
        args: &[Str("filename")],
    },
    Call {
        name: "fchdir",
        args: &[Int("fd")],
    },
    Call {
        name: "rename",
        args: &[Str("oldname"), Str("newname")],
    },
    Call {
        name: "renameat",
        args: &[Int("olddfd"), Str("oldname"), Int("newdfd"), Str("newname")],
    },
    Call {
        name: "renameat2",
        args: &[
            Int("olddfd"),
            Str("oldname"),
            Int("newdfd"),
            Str("newname"),
            Int("flags"),
        ],
    },
    Call {
        name: "link",
        args: &[Str("oldname"), Str("newname")],
    },
    Call {
        name: "linkat",
        args: &[Int("olddfd"), Str("oldname"), Int("newdfd"), Str("newname")],
    },
    Call {
        name: "symlink",
        args: &[Str("oldname"), Str("newname")],
    },
    Call {
        name: "symlinkat",
        args: &[Str("oldname"), Int("newdfd"), Str("newname")],
    },
    Call {
        name: "unlink",
        args: &[Str("pathname")],
    },
    Call {
        name: "unlinkat",
        args: &[Int("dfd"), Str("pathname"), Int("flag")],
    },
    Call {
        name: "mkdir",
        args: &[Str("pathname")],
    },
    Call {
        name: "mkdirat",
        args: &[Int("dfd"), Str("pathname")],
    },
    Call {
        name: "rmdir",
        args: &[Str("pathname")],
    },
    Call {
        name: "truncate",
        args: &[Str("path")],
    },
    Call {
        name: "ftruncate",
        args: &[Int("fd")],
    },
];

/// The names of the system calls the script can trace, when the kernel has them.
pub fn traced_calls() -> impl Iterator<Item = &'static str> {
    CALLS.iter().map(|call| call.name)
}

/// The tracepoints every script needs, whatever the kernel: without them nothing works.
pub const REQUIRED_TRACEPOINTS: &[&str] = &[
    "sched:sched_process_fork",
    "sched:sched_process_exec",
    "sched:sched_process_exit",
];

/// How the script hooks system calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probes {
    /// Two tracepoints, `raw_syscalls:sys_enter` and `raw_syscalls:sys_exit`, dispatching
    /// on the syscall number of this architecture. The default: bpftrace 0.17 spends about
    /// 0.3 s attaching and detaching each tracepoint (it re-reads tracefs per probe and the
    /// kernel waits for an RCU grace period per detach), so the 52 per-call tracepoints
    /// cost some 18 s per run, and these two cost under 2 s.
    Raw(Arch),
    /// One `syscalls:sys_enter_NAME` / `sys_exit_NAME` pair per call.
    PerSyscall,
}

/// An architecture whose syscall numbers the script knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64.
    X86_64,
    /// 64-bit Arm (the generic syscall table).
    Aarch64,
}

impl Arch {
    /// The architecture tot was built for, if the script knows its numbers.
    pub fn current() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// The number of syscall `name`, if this architecture has it.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let table: &[(&str, u32)] = match self {
            Arch::X86_64 => &[
                ("open", 2),
                ("close", 3),
                ("pipe", 22),
                ("dup", 32),
                ("dup2", 33),
                ("clone", 56),
                ("fork", 57),
                ("vfork", 58),
                ("truncate", 76),
                ("ftruncate", 77),
                ("chdir", 80),
                ("fchdir", 81),
                ("rename", 82),
                ("mkdir", 83),
                ("rmdir", 84),
                ("creat", 85),
                ("link", 86),
                ("unlink", 87),
                ("symlink", 88),
                ("openat", 257),
                ("mkdirat", 258),
                ("unlinkat", 263),
                ("renameat", 264),
                ("linkat", 265),
                ("symlinkat", 266),
                ("dup3", 292),
                ("pipe2", 293),
                ("renameat2", 316),
                ("clone3", 435),
                ("openat2", 437),
            ],
            Arch::Aarch64 => &[
                ("dup", 23),
                ("dup3", 24),
                ("mkdirat", 34),
                ("unlinkat", 35),
                ("symlinkat", 36),
                ("linkat", 37),
                ("renameat", 38),
                ("truncate", 45),
                ("ftruncate", 46),
                ("chdir", 49),
                ("fchdir", 50),
                ("openat", 56),
                ("close", 57),
                ("pipe2", 59),
                ("clone", 220),
                ("renameat2", 276),
                ("clone3", 435),
                ("openat2", 437),
            ],
        };
        table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, number)| *number)
    }
}

/// How the exec and exit probes reach the task's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAccess {
    /// By byte offsets from the kernel's BTF: bpftrace needs no kernel types (fast start).
    Offsets(TaskLayout),
    /// By name (`curtask->mm->start_stack`): bpftrace first turns the kernel's types into C
    /// and parses them with clang, about 0.3 s. For kernels whose BTF tot cannot read.
    Typed,
}

impl TaskAccess {
    /// Offsets from the kernel BTF file `btf` (usually [`KERNEL_BTF`](crate::task_layout::KERNEL_BTF))
    /// when it can be read; otherwise access by name, with the reason.
    pub fn for_kernel(btf: &std::path::Path) -> (TaskAccess, Option<String>) {
        match TaskLayout::from_btf(btf) {
            Ok(layout) => (TaskAccess::Offsets(layout), None),
            Err(why) => (TaskAccess::Typed, Some(why)),
        }
    }
}

/// The system call whose entry, made by tot itself (`$2`) with a magic third argument,
/// prints a flush marker (see [`FLUSH_MARKER`]).
pub const FLUSH_SYSCALL: &str = "getcpu";

/// `getcpu`'s third argument (an unused cache pointer) that marks tot's own calls.
pub const FLUSH_MAGIC: u64 = 0x746f_7466_6c75_7368;

/// The start of a flush marker line, followed by the CPU number: a comment to the line
/// format's parser. bpftrace's per-CPU buffers are each read in order, so once the marker
/// of every CPU is read, every event recorded before the markers were made has been read.
pub const FLUSH_MARKER: &str = "#flush\t";

/// The bpftrace program that follows `$1` (the command's pid) and its descendants, and
/// prints a flush marker when process `$2` (tot) asks for one.
///
/// `has_syscall` says whether this kernel has a `syscalls:sys_enter_NAME` tracepoint; with
/// [`Probes::Raw`] a call is traced when the architecture has its number.
///
/// Every task is keyed by its thread id in `@traced`; a thread's arguments are saved at
/// syscall entry and printed at exit, when the kernel has copied the strings in, so they
/// are resident and readable. Per-task entries are deleted when the task exits, so the
/// maps stay small on long builds.
pub fn generate(
    probes: Probes,
    failures: Failures,
    task: TaskAccess,
    mut has_syscall: impl FnMut(&str) -> bool,
) -> String {
    let mut out = String::new();
    let header = tot_script_format::header_line(
        tot_script_format::Os::Linux,
        tot_script_format::StringMode::Raw,
        "bpftrace",
    );
    let _ = writeln!(
        out,
        "// Generated by tot-backend-bpftrace: prints tot's script line format.\n\
         BEGIN {{ printf(\"{}\\n\"); @traced[$1] = 1; }}\n\
         // bpftrace prints every map at exit; tot wants only the records.\n\
         END {{ clear(@traced); clear(@cf); clear(@a0); clear(@a1); clear(@a2); clear(@a3); clear(@a4); }}",
        header.replace('\t', "\\t")
    );
    write_process_probes(&mut out, task);
    if has_syscall(FLUSH_SYSCALL) {
        let _ = writeln!(
            out,
            "\ntracepoint:syscalls:sys_enter_{FLUSH_SYSCALL} /pid == $2 && (uint64)args->unused == {FLUSH_MAGIC:#x}/ {{ printf(\"{}%d\\n\", cpu); }}",
            FLUSH_MARKER.replace('\t', "\\t")
        );
    }
    // Clone flags tell a thread from a process; fork and vfork take none.
    let clone_flags = [
        ("clone", "args->clone_flags", "$x0"),
        (
            "clone3",
            "*(uint64 *)uptr(args->uargs)",
            "*(uint64 *)uptr($x0)",
        ),
        ("fork", "0", "0"),
        ("vfork", "0x4100", "0x4100"),
    ];
    match probes {
        Probes::PerSyscall => {
            for (name, flags, _) in clone_flags {
                if has_syscall(name) {
                    let _ = writeln!(
                        out,
                        "\ntracepoint:syscalls:sys_enter_{name} /@traced[tid]/ {{ @cf[tid] = (uint64){flags}; }}"
                    );
                }
            }
            for call in CALLS.iter().filter(|call| has_syscall(call.name)) {
                let saves = saves(call, |_, field| format!("args->{field}"));
                let _ = writeln!(
                    out,
                    "\ntracepoint:syscalls:sys_enter_{} /@traced[tid]/ {{ {saves} }}",
                    call.name
                );
                let _ = writeln!(
                    out,
                    "tracepoint:syscalls:sys_exit_{} /@traced[tid]/ {{\n  $r = (int64)args->ret;\n  {}\n}}",
                    call.name,
                    guarded(failures, print_statements(call)).join("\n  ")
                );
            }
        }
        Probes::Raw(arch) => {
            let mut enter = Vec::new();
            for (name, _, flags) in clone_flags {
                if let Some(number) = arch.syscall_number(name) {
                    enter.push(format!(
                        "if ($id == {number}) {{ @cf[tid] = (uint64){flags}; }}"
                    ));
                }
            }
            let mut exit = Vec::new();
            for call in CALLS {
                let Some(number) = arch.syscall_number(call.name) else {
                    continue;
                };
                let saves = saves(call, |slot, _| format!("$x{slot}"));
                enter.push(format!("if ($id == {number}) {{ {saves} }}"));
                exit.push(format!(
                    "if ($id == {number}) {{\n    {}\n  }}",
                    guarded(failures, print_statements(call)).join("\n    ")
                ));
            }
            let _ = writeln!(
                out,
                // bpftrace 0.17 re-reads tracefs for every `args->`: read each field once.
                "\ntracepoint:raw_syscalls:sys_enter /@traced[tid]/ {{\n  $id = args->id;\n  \
                 $x0 = args->args[0]; $x1 = args->args[1]; $x2 = args->args[2]; $x3 = args->args[3]; $x4 = args->args[4];\n  {}\n}}",
                enter.join("\n  else ")
            );
            let _ = writeln!(
                out,
                "\ntracepoint:raw_syscalls:sys_exit /@traced[tid]/ {{\n  $id = args->id;\n  $r = (int64)args->ret;\n  {}\n}}",
                exit.join("\n  else ")
            );
        }
    }
    out
}

/// Whether failed calls are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failures {
    /// Only calls that succeeded: the default. The provenance builder ignores failed calls,
    /// and on a C build most opens are failed header lookups (ENOENT): skipping them in the
    /// kernel halves the events to carry.
    #[default]
    Skip,
    /// Every call, with its errno.
    Keep,
}

/// The print statements, run only for successful calls unless failures are kept.
fn guarded(failures: Failures, statements: Vec<String>) -> Vec<String> {
    match failures {
        Failures::Keep => statements,
        Failures::Skip => vec![format!("if ($r >= 0) {{ {} }}", statements.join(" "))],
    }
}

fn field_name(arg: Arg) -> Option<&'static str> {
    match arg {
        Int(f) | Str(f) | FdPair(f) | UserU64(f) => Some(f),
    }
}

fn saves(call: &Call, source: impl Fn(usize, &'static str) -> String) -> String {
    call.args
        .iter()
        .enumerate()
        .map(|(slot, arg)| {
            let field = field_name(*arg).unwrap_or_default();
            format!("@a{slot}[tid] = (uint64){};", source(slot, field))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_process_probes(out: &mut String, task: TaskAccess) {
    let max_args = MAX_ARGS;
    let (start_stack, exit_code) = match task {
        TaskAccess::Offsets(layout) => (
            format!(
                "$task = (uint64)curtask; $sp = *(uint64 *)(*(uint64 *)($task + {}) + {});",
                layout.mm, layout.start_stack
            ),
            // Through a variable: bpftrace 0.17 miscompiles `curtask + N` used directly.
            format!("*(int32 *)((uint64)curtask + {})", layout.exit_code),
        ),
        TaskAccess::Typed => (
            "$sp = (uint64)curtask->mm->start_stack;".to_string(),
            "curtask->exit_code".to_string(),
        ),
    };
    let _ = write!(
        out,
        r#"
tracepoint:sched:sched_process_fork /@traced[args->parent_pid]/ {{
  @traced[args->child_pid] = 1;
  printf("F\t%llu\t%d\t%d\t%d\t0x%llx\t.\n", nsecs, pid, tid, args->child_pid, @cf[tid]);
}}

tracepoint:sched:sched_process_exec /@traced[tid]/ {{
  // The new image's argv, as the kernel laid it on the new stack: resident, complete.
  {start_stack}
  $argc = *(uint64 *)uptr($sp);
  $n = $argc > {max_args} ? (uint64){max_args} : $argc;
  printf("E\t%llu\t%d\t%d\t%s\t%llu\t%d\t.\n", nsecs, pid, tid, str(args->filename), $n, $argc > {max_args} ? 1 : 0);
  $i = (uint64)0;
  while ($i < $n) {{
    printf("A\t%llu\t%d\t%d\t%llu\t%s\t.\n", nsecs, pid, tid, $i, str(uptr(*(uint64 *)uptr($sp + 8 + $i * 8))));
    $i++;
  }}
}}

tracepoint:sched:sched_process_exit /@traced[tid]/ {{
  printf("X\t%llu\t%d\t%d\t%d\t.\n", nsecs, pid, tid, {exit_code});
  delete(@traced[tid]); delete(@cf[tid]);
  delete(@a0[tid]); delete(@a1[tid]); delete(@a2[tid]); delete(@a3[tid]); delete(@a4[tid]);
}}
"#
    );
}

/// The `printf`s of one call's record, given `$r`. A `printf` may carry only one string
/// (the BPF stack holds one 200-byte string and the rest), so a record with two paths is
/// printed by two `printf`s; only the second ends the line.
fn print_statements(call: &Call) -> Vec<String> {
    let name = call.name;
    let mut statements = Vec::new();
    let mut format = format!("S\\t%llu\\t%d\\t%d\\t{name}\\t%lld\\t%lld");
    let mut values = vec![
        "nsecs".to_string(),
        "pid".into(),
        "tid".into(),
        "$r".into(),
        "$r < 0 ? -$r : 0".into(),
    ];
    let mut has_string = false;
    for (slot, arg) in call.args.iter().enumerate() {
        if matches!(arg, Str(_)) && has_string {
            statements.push(printf(&format, &values));
            format.clear();
            values.clear();
            has_string = false;
        }
        match arg {
            Int(_) => {
                // Every such argument is a C int: as saved (64 bits) AT_FDCWD is 4294967196.
                format.push_str("\\t%d");
                values.push(format!("(int32)@a{slot}[tid]"));
            }
            Str(_) => {
                format.push_str("\\t%s");
                values.push(format!("str(uptr(@a{slot}[tid]))"));
                has_string = true;
            }
            FdPair(_) => {
                format.push_str("\\t%d\\t%d");
                values.push(format!("$r == 0 ? *(int32 *)uptr(@a{slot}[tid]) : -1"));
                values.push(format!("$r == 0 ? *(int32 *)uptr(@a{slot}[tid] + 4) : -1"));
            }
            UserU64(_) => {
                format.push_str("\\t0x%llx");
                values.push(format!("*(uint64 *)uptr(@a{slot}[tid])"));
            }
        }
    }
    format.push_str("\\t.\\n");
    statements.push(printf(&format, &values));
    statements
}

fn printf(format: &str, values: &[String]) -> String {
    if values.is_empty() {
        format!("printf(\"{format}\");")
    } else {
        format!("printf(\"{format}\", {});", values.join(", "))
    }
}

/// Every `printf` format string in `script`, without its quotes, as written in the source
/// (escapes not expanded).
pub fn printf_formats(script: &str) -> Vec<&str> {
    script
        .match_indices("printf(\"")
        .filter_map(|(start, found)| {
            let rest = &script[start + found.len()..];
            let end = rest.find('"')?;
            Some(&rest[..end])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSETS: TaskAccess = TaskAccess::Offsets(TaskLayout {
        mm: 1136,
        exit_code: 1164,
        start_stack: 472,
    });

    #[test]
    fn offsets_replace_kernel_types() {
        let script = generate(Probes::Raw(Arch::X86_64), Failures::Skip, OFFSETS, |_| true);
        assert!(!script.contains("curtask->"), "{script}");
        assert!(script.contains("*(uint64 *)($task + 1136) + 472)"));
        assert!(script.contains("*(int32 *)((uint64)curtask + 1164)"));
        let typed = generate(
            Probes::Raw(Arch::X86_64),
            Failures::Skip,
            TaskAccess::Typed,
            |_| true,
        );
        assert!(typed.contains("curtask->mm->start_stack"));
    }

    #[test]
    fn the_flush_marker_is_asked_for_by_tot_only() {
        let script = generate(Probes::Raw(Arch::X86_64), Failures::Skip, OFFSETS, |_| true);
        assert!(script.contains(
            "tracepoint:syscalls:sys_enter_getcpu /pid == $2 && (uint64)args->unused == 0x746f74666c757368/ { printf(\"#flush\\t%d\\n\", cpu); }"
        ), "{script}");
        let without = generate(Probes::Raw(Arch::X86_64), Failures::Skip, OFFSETS, |name| {
            name != FLUSH_SYSCALL
        });
        assert!(!without.contains("getcpu"));
    }

    #[test]
    fn only_existing_tracepoints_are_named() {
        let script = generate(
            Probes::PerSyscall,
            Failures::Keep,
            TaskAccess::Typed,
            |name| name != "open" && name != "rename",
        );
        assert!(script.contains("sys_exit_openat "));
        assert!(!script.contains("sys_enter_open "));
        assert!(!script.contains("sys_exit_rename "));
        assert!(script.contains("sys_exit_renameat2 "));
        for tracepoint in REQUIRED_TRACEPOINTS {
            assert!(
                script.contains(&format!("tracepoint:{tracepoint} ")),
                "{tracepoint}"
            );
        }
    }

    #[test]
    fn raw_probes_know_every_x86_64_call() {
        for name in traced_calls() {
            assert!(Arch::X86_64.syscall_number(name).is_some(), "{name}");
        }
        let script = generate(
            Probes::Raw(Arch::Aarch64),
            Failures::Skip,
            TaskAccess::Typed,
            |_| true,
        );
        assert!(
            script.contains("if ($id == 56) { @a0[tid]"),
            "openat is 56 on arm64"
        );
        // Only the flush marker has a per-call tracepoint.
        assert_eq!(script.matches("tracepoint:syscalls:").count(), 1);
        assert!(script.contains("tracepoint:syscalls:sys_enter_getcpu "));
    }

    #[test]
    fn each_printf_carries_at_most_one_string() {
        let script = generate(
            Probes::PerSyscall,
            Failures::Skip,
            TaskAccess::Typed,
            |_| true,
        ) + &generate(Probes::Raw(Arch::X86_64), Failures::Keep, OFFSETS, |_| true);
        for format in printf_formats(&script) {
            assert!(format.matches("%s").count() <= 1, "{format}");
        }
    }

    #[test]
    fn every_call_is_one_the_line_format_knows() {
        for name in traced_calls() {
            let arity = tot_script_format::syscall_arity(name)
                .unwrap_or_else(|| panic!("{name} is not in the line format"));
            let call = CALLS.iter().find(|c| c.name == name).expect("listed");
            let printed: usize = call
                .args
                .iter()
                .map(|a| if matches!(a, FdPair(_)) { 2 } else { 1 })
                .sum();
            assert_eq!(printed, arity, "{name}");
            for (index, arg) in call.args.iter().enumerate() {
                // Pipes print two fields for one argument; they have no strings.
                if !matches!(arg, FdPair(_)) {
                    assert_eq!(
                        matches!(arg, Str(_)),
                        tot_script_format::is_string_argument(name, index),
                        "{name} argument {index}"
                    );
                }
            }
        }
    }
}
