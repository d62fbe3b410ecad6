//! The numbers a producer prints that differ between operating systems: errno values,
//! signal numbers and `open(2)` flags.

use tot_api::OpenFlags;

/// The operating system whose numbers a stream carries, from its header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Os {
    /// Linux (bpftrace).
    #[default]
    Linux,
    /// macOS (DTrace).
    Darwin,
}

impl Os {
    /// The name used in the header line: `linux` or `darwin`.
    pub fn name(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Darwin => "darwin",
        }
    }

    /// The OS named `name` in a header line.
    pub fn from_name(name: &[u8]) -> Option<Os> {
        match name {
            b"linux" => Some(Os::Linux),
            b"darwin" | b"macos" => Some(Os::Darwin),
            _ => None,
        }
    }

    /// The value of `AT_FDCWD`, which means "relative to the current directory".
    pub fn at_fdcwd(self) -> i64 {
        match self {
            Os::Linux => -100,
            Os::Darwin => -2,
        }
    }

    /// The `AT_REMOVEDIR` flag of `unlinkat`.
    pub fn at_removedir(self) -> u64 {
        match self {
            Os::Linux => 0x200,
            Os::Darwin => 0x80,
        }
    }

    /// The symbolic name of errno `number`, such as `ENOENT`.
    pub fn errno_name(self, number: u64) -> String {
        let table: &[(u64, &str)] = match self {
            Os::Linux => LINUX_ERRNO,
            Os::Darwin => DARWIN_ERRNO,
        };
        match table.iter().find(|(n, _)| *n == number) {
            Some((_, name)) => (*name).to_string(),
            None => format!("ERRNO_{number}"),
        }
    }

    /// The name of signal `number`, such as `SIGKILL`.
    pub fn signal_name(self, number: u64) -> String {
        let table: &[&str] = match self {
            Os::Linux => LINUX_SIGNALS,
            Os::Darwin => DARWIN_SIGNALS,
        };
        match usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| table.get(i))
        {
            Some(name) => (*name).to_string(),
            None => format!("SIG{number}"),
        }
    }

    /// Decode `open(2)` flags.
    pub fn open_flags(self, flags: u64) -> OpenFlags {
        let bits = match self {
            Os::Linux => &LINUX_OPEN,
            Os::Darwin => &DARWIN_OPEN,
        };
        let path = bits.path != 0 && flags & bits.path != 0;
        let access = match (path, flags & 3) {
            (true, _) => tot_api::Access::Path,
            (false, 0) => tot_api::Access::Read,
            (false, 1) => tot_api::Access::Write,
            _ => tot_api::Access::ReadWrite,
        };
        let tmpfile = bits.tmpfile != 0 && flags & bits.tmpfile == bits.tmpfile;
        OpenFlags {
            access,
            create: flags & bits.create != 0,
            excl: flags & bits.excl != 0,
            trunc: flags & bits.trunc != 0,
            append: flags & bits.append != 0,
            cloexec: flags & bits.cloexec != 0,
            directory: flags & bits.directory != 0 && !tmpfile,
            tmpfile,
        }
    }

    /// The flags `creat(2)` implies: write-only, create, truncate.
    pub fn creat_flags(self) -> u64 {
        let bits = match self {
            Os::Linux => &LINUX_OPEN,
            Os::Darwin => &DARWIN_OPEN,
        };
        1 | bits.create | bits.trunc
    }

    /// The close-on-exec bit of `dup3`/`pipe2` flags (`O_CLOEXEC`).
    pub fn o_cloexec(self) -> u64 {
        match self {
            Os::Linux => LINUX_OPEN.cloexec,
            Os::Darwin => DARWIN_OPEN.cloexec,
        }
    }
}

struct OpenBits {
    create: u64,
    excl: u64,
    trunc: u64,
    append: u64,
    directory: u64,
    cloexec: u64,
    path: u64,
    tmpfile: u64,
}

const LINUX_OPEN: OpenBits = OpenBits {
    create: 0o100,
    excl: 0o200,
    trunc: 0o1000,
    append: 0o2000,
    directory: 0o200000,
    cloexec: 0o2000000,
    path: 0o10000000,
    tmpfile: 0o20000000 | 0o200000,
};

const DARWIN_OPEN: OpenBits = OpenBits {
    create: 0x200,
    excl: 0x800,
    trunc: 0x400,
    append: 0x8,
    directory: 0x100000,
    cloexec: 0x1000000,
    path: 0,
    tmpfile: 0,
};

const LINUX_SIGNALS: &[&str] = &[
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

const DARWIN_SIGNALS: &[&str] = &[
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGEMT",
    "SIGFPE",
    "SIGKILL",
    "SIGBUS",
    "SIGSEGV",
    "SIGSYS",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGURG",
    "SIGSTOP",
    "SIGTSTP",
    "SIGCONT",
    "SIGCHLD",
    "SIGTTIN",
    "SIGTTOU",
    "SIGIO",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGINFO",
    "SIGUSR1",
    "SIGUSR2",
];

/// errno values 1 to 34 are the same on Linux and macOS, except 11.
const COMMON_ERRNO: &[(u64, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (15, "ENOTBLK"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (33, "EDOM"),
    (34, "ERANGE"),
];

const LINUX_ERRNO: &[(u64, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (15, "ENOTBLK"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (33, "EDOM"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (37, "ENOLCK"),
    (38, "ENOSYS"),
    (39, "ENOTEMPTY"),
    (40, "ELOOP"),
    (61, "ENODATA"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
    (122, "EDQUOT"),
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (516, "ERESTART_RESTARTBLOCK"),
];

const DARWIN_ERRNO_EXTRA: &[(u64, &str)] = &[
    (11, "EDEADLK"),
    (35, "EAGAIN"),
    (36, "EINPROGRESS"),
    (37, "EALREADY"),
    (38, "ENOTSOCK"),
    (45, "ENOTSUP"),
    (60, "ETIMEDOUT"),
    (62, "ELOOP"),
    (63, "ENAMETOOLONG"),
    (66, "ENOTEMPTY"),
    (69, "EDQUOT"),
    (77, "ENOLCK"),
    (78, "ENOSYS"),
    (84, "EOVERFLOW"),
    (93, "ENOATTR"),
    (102, "EOPNOTSUPP"),
];

const DARWIN_ERRNO: &[(u64, &str)] = &DARWIN_ERRNO_TABLE;

const DARWIN_ERRNO_TABLE: [(u64, &str); COMMON_ERRNO.len() + DARWIN_ERRNO_EXTRA.len()] = {
    let mut table = [(0u64, ""); COMMON_ERRNO.len() + DARWIN_ERRNO_EXTRA.len()];
    let mut i = 0;
    while i < COMMON_ERRNO.len() {
        table[i] = COMMON_ERRNO[i];
        i += 1;
    }
    let mut j = 0;
    while j < DARWIN_ERRNO_EXTRA.len() {
        table[i + j] = DARWIN_ERRNO_EXTRA[j];
        j += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use tot_api::Access;

    #[test]
    fn numbers_differ_between_systems() {
        assert_eq!(Os::Linux.errno_name(2), "ENOENT");
        assert_eq!(Os::Linux.errno_name(11), "EAGAIN");
        assert_eq!(Os::Darwin.errno_name(11), "EDEADLK");
        assert_eq!(Os::Darwin.errno_name(35), "EAGAIN");
        assert_eq!(Os::Linux.errno_name(9999), "ERRNO_9999");
        assert_eq!(Os::Linux.signal_name(9), "SIGKILL");
        assert_eq!(Os::Linux.signal_name(10), "SIGUSR1");
        assert_eq!(Os::Darwin.signal_name(10), "SIGBUS");
        assert_eq!(Os::Darwin.signal_name(0), "SIG0");
    }

    #[test]
    fn open_flags_decode_per_system() {
        // O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC on Linux.
        let linux = Os::Linux.open_flags(0o1 | 0o100 | 0o1000 | 0o2000000);
        assert_eq!(linux.access, Access::Write);
        assert!(linux.create && linux.trunc && linux.cloexec && !linux.append);
        // O_RDWR|O_CREAT|O_APPEND on macOS.
        let darwin = Os::Darwin.open_flags(0x2 | 0x200 | 0x8);
        assert_eq!(darwin.access, Access::ReadWrite);
        assert!(darwin.create && darwin.append && !darwin.trunc);
        assert_eq!(Os::Linux.open_flags(0o10000000).access, Access::Path);
        assert!(Os::Linux.open_flags(0o20200002).tmpfile);
    }
}
