//! Print the bpftrace program tot would run on this machine (`syscalls` as the first
//! argument: the per-call tracepoint form).

use tot_backend_bpftrace::script::{generate, Arch, Failures, Probes, TaskAccess};

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
            TaskAccess::for_running_kernel().0,
            |name| {
                std::path::Path::new(&format!(
                    "/sys/kernel/tracing/events/syscalls/sys_enter_{name}"
                ))
                .exists()
            }
        )
    );
}
