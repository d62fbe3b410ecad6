//! Print the bpftrace program tot would run on this machine (`syscalls` as the first
//! argument: the per-call tracepoint form).

use std::path::Path;

use tot_backend_bpftrace::script::{generate, Arch, Failures, Probes, TaskAccess};
use tot_backend_bpftrace::task_layout::KERNEL_BTF;

fn main() {
    let probes = match (std::env::args().nth(1).as_deref(), Arch::current()) {
        (Some("syscalls"), _) | (_, None) => Probes::PerSyscall,
        (_, Some(arch)) => Probes::Raw(arch),
    };
    print!(
        "{}",
        generate(
            probes,
            Failures::Skip,
            TaskAccess::for_kernel(Path::new(KERNEL_BTF)).0,
            |name| {
                Path::new(&format!(
                    "/sys/kernel/tracing/events/syscalls/sys_enter_{name}"
                ))
                .exists()
            }
        )
    );
}
