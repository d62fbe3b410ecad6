//! From a complete syscall (name, argument text, result) to tot events.
//!
//! Only the calls that provenance needs have their arguments decoded; every other call
//! becomes [`EventKind::Other`] from its name and result alone, without looking at its
//! arguments.

use tot_api::{Access, Bytes, EventKind, OpenFlags, Outcome, PathAt};

use super::grammar::{
    cloexec_arg, clone_flags, comma, dirfd_arg, fd_arg, fd_pair, find_field, flags_arg, int_arg,
    path_arg, skip_arg, skip_ws, string_list, FlagTerm, In, Res, RetValue, StringList,
    O_CLOEXEC_BIT,
};

/// The syscalls whose arguments tot decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sys {
    Execve,
    Execveat,
    Clone,
    Clone3,
    Fork,
    Vfork,
    Open,
    Openat,
    Openat2,
    Creat,
    Close,
    CloseRange,
    Dup,
    Dup2,
    Dup3,
    Fcntl,
    Ioctl,
    Pipe,
    Pipe2,
    Socket,
    Socketpair,
    Accept,
    Accept4,
    Eventfd,
    Eventfd2,
    EpollCreate,
    EpollCreate1,
    MemfdCreate,
    Signalfd,
    Signalfd4,
    TimerfdCreate,
    InotifyInit,
    InotifyInit1,
    PidfdOpen,
    Chdir,
    Fchdir,
    Rename,
    Renameat,
    Renameat2,
    Link,
    Linkat,
    Symlink,
    Symlinkat,
    Unlink,
    Unlinkat,
    Mkdir,
    Mkdirat,
    Rmdir,
    Truncate,
    Ftruncate,
    /// write, pwrite64, writev, pwritev, pwritev2, sendfile: the fd is the first argument.
    WriteFirst,
    /// copy_file_range, splice: the fd written is the third argument.
    WriteThird,
    /// Anything else: only its name and result matter.
    Other,
}

impl Sys {
    /// Whether the call creates a task (so its child may print before it returns).
    pub(crate) fn is_spawn(self) -> bool {
        matches!(self, Sys::Clone | Sys::Clone3 | Sys::Fork | Sys::Vfork)
    }
}

/// Which syscall a name is. A `match` on byte strings: the compiler dispatches on length
/// first, which is as fast as a perfect hash for this many names.
pub(crate) fn classify(name: &[u8]) -> Sys {
    match name {
        b"execve" => Sys::Execve,
        b"execveat" => Sys::Execveat,
        b"clone" | b"clone2" => Sys::Clone,
        b"clone3" => Sys::Clone3,
        b"fork" => Sys::Fork,
        b"vfork" => Sys::Vfork,
        b"open" => Sys::Open,
        b"openat" => Sys::Openat,
        b"openat2" => Sys::Openat2,
        b"creat" => Sys::Creat,
        b"close" => Sys::Close,
        b"close_range" => Sys::CloseRange,
        b"dup" => Sys::Dup,
        b"dup2" => Sys::Dup2,
        b"dup3" => Sys::Dup3,
        b"fcntl" | b"fcntl64" => Sys::Fcntl,
        b"ioctl" => Sys::Ioctl,
        b"pipe" => Sys::Pipe,
        b"pipe2" => Sys::Pipe2,
        b"socket" => Sys::Socket,
        b"socketpair" => Sys::Socketpair,
        b"accept" => Sys::Accept,
        b"accept4" => Sys::Accept4,
        b"eventfd" => Sys::Eventfd,
        b"eventfd2" => Sys::Eventfd2,
        b"epoll_create" => Sys::EpollCreate,
        b"epoll_create1" => Sys::EpollCreate1,
        b"memfd_create" => Sys::MemfdCreate,
        b"signalfd" => Sys::Signalfd,
        b"signalfd4" => Sys::Signalfd4,
        b"timerfd_create" => Sys::TimerfdCreate,
        b"inotify_init" => Sys::InotifyInit,
        b"inotify_init1" => Sys::InotifyInit1,
        b"pidfd_open" => Sys::PidfdOpen,
        b"chdir" => Sys::Chdir,
        b"fchdir" => Sys::Fchdir,
        b"rename" => Sys::Rename,
        b"renameat" => Sys::Renameat,
        b"renameat2" => Sys::Renameat2,
        b"link" => Sys::Link,
        b"linkat" => Sys::Linkat,
        b"symlink" => Sys::Symlink,
        b"symlinkat" => Sys::Symlinkat,
        b"unlink" => Sys::Unlink,
        b"unlinkat" => Sys::Unlinkat,
        b"mkdir" => Sys::Mkdir,
        b"mkdirat" => Sys::Mkdirat,
        b"rmdir" => Sys::Rmdir,
        b"truncate" | b"truncate64" => Sys::Truncate,
        b"ftruncate" | b"ftruncate64" => Sys::Ftruncate,
        b"write" | b"pwrite" | b"pwrite64" | b"writev" | b"pwritev" | b"pwritev2" | b"sendfile"
        | b"sendfile64" => Sys::WriteFirst,
        b"copy_file_range" | b"splice" => Sys::WriteThird,
        _ => Sys::Other,
    }
}

/// The outcome of a result.
pub(crate) fn outcome(ret: RetValue<'_>) -> Outcome {
    match ret {
        RetValue::Value(v) => Outcome::Ok(v),
        RetValue::Error(e) => Outcome::Err(String::from_utf8_lossy(e).into_owned()),
        RetValue::Unknown => Outcome::Unknown,
    }
}

/// `Other { name, outcome }`.
pub(crate) fn other(name: &[u8], ret: RetValue<'_>) -> EventKind {
    EventKind::Other {
        name: String::from_utf8_lossy(name).into_owned(),
        outcome: outcome(ret),
    }
}

/// The arguments did not have the form this call's decoder expects.
#[derive(Debug)]
pub(crate) struct ArgsMismatch;

fn ok_value(ret: RetValue<'_>) -> Option<i64> {
    match ret {
        RetValue::Value(v) => Some(v),
        _ => None,
    }
}

/// Decode a complete call into events, passing each to `emit`. A call that failed, or
/// whose result is unknown, becomes `Other` (except opens, reported either way).
/// `Err(ArgsMismatch)` when the arguments could not be decoded; the caller decides
/// whether that is an error or an unusual but valid form.
pub(crate) fn decode(
    sys: Sys,
    name: &[u8],
    args: In<'_>,
    ret: RetValue<'_>,
    emit: &mut dyn FnMut(EventKind),
) -> Result<(), ArgsMismatch> {
    let args = skip_ws(args);
    // Opens are reported whatever their result.
    if matches!(sys, Sys::Open | Sys::Openat | Sys::Openat2 | Sys::Creat) {
        let (dirfd, path, flags) = open_args(sys, args).map_err(|_| ArgsMismatch)?.1;
        emit(EventKind::Open {
            dirfd,
            path: Bytes(path),
            flags,
            outcome: outcome(ret),
        });
        return Ok(());
    }
    let Some(value) = ok_value(ret) else {
        emit(other(name, ret));
        return Ok(());
    };
    let event = match sys {
        Sys::Other | Sys::Open | Sys::Openat | Sys::Openat2 | Sys::Creat => None,
        Sys::Execve | Sys::Execveat => {
            if value != 0 {
                None
            } else {
                Some(exec_args(sys, args).map_err(|_| ArgsMismatch)?.1)
            }
        }
        Sys::Clone | Sys::Clone3 | Sys::Fork | Sys::Vfork => {
            if value <= 0 || value > i64::from(u32::MAX) {
                None
            } else {
                let bits = match sys {
                    Sys::Clone | Sys::Clone3 => spawn_flags(args),
                    Sys::Vfork => 0x4100,
                    _ => 0,
                };
                let thread = bits & 0x10000 != 0;
                Some(EventKind::Spawn {
                    child: value as u32,
                    thread,
                    shares_files: thread || bits & 0x400 != 0,
                    shares_fs: thread || bits & 0x200 != 0,
                })
            }
        }
        Sys::Close => Some(EventKind::Close {
            fd: first_fd(args)?,
        }),
        Sys::CloseRange => {
            let (rest, first) = int_arg(args).map_err(|_| ArgsMismatch)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (rest, last) = close_range_end(rest).map_err(|_| ArgsMismatch)?;
            let cloexec = match comma(rest) {
                Ok((rest, _)) => {
                    flags_arg(rest, false, |acc, t| {
                        acc || match t {
                            FlagTerm::Sym(s) => s == b"CLOSE_RANGE_CLOEXEC",
                            FlagTerm::Num(n) => n & 4 != 0,
                        }
                    })
                    .map_err(|_| ArgsMismatch)?
                    .1
                }
                Err(_) => false,
            };
            Some(EventKind::CloseRange {
                first: first as u32,
                last,
                cloexec,
            })
        }
        Sys::Dup => Some(EventKind::Dup {
            fd: first_fd(args)?,
            new_fd: value as i32,
            cloexec: false,
        }),
        Sys::Dup2 => Some(EventKind::Dup {
            fd: first_fd(args)?,
            new_fd: value as i32,
            cloexec: false,
        }),
        Sys::Dup3 => {
            let (rest, fd) = fd_arg(args).map_err(|_| ArgsMismatch)?;
            let (rest, _) = skip_next(rest)?;
            let cloexec = match comma(rest) {
                Ok((rest, _)) => {
                    cloexec_arg(rest, O_CLOEXEC_BIT)
                        .map_err(|_| ArgsMismatch)?
                        .1
                }
                Err(_) => false,
            };
            Some(EventKind::Dup {
                fd,
                new_fd: value as i32,
                cloexec,
            })
        }
        Sys::Fcntl => fcntl(args, value)?,
        Sys::Ioctl => {
            let (rest, fd) = fd_arg(args).map_err(|_| ArgsMismatch)?;
            let (_, request) = match comma(rest) {
                Ok((rest, _)) => skip_arg(rest).map_err(|_| ArgsMismatch)?,
                Err(_) => return Err(ArgsMismatch),
            };
            match request {
                b"FIOCLEX" | b"0x5451" => Some(EventKind::SetCloexec { fd, cloexec: true }),
                b"FIONCLEX" | b"0x5450" => Some(EventKind::SetCloexec { fd, cloexec: false }),
                _ => None,
            }
        }
        Sys::Pipe | Sys::Pipe2 => {
            let (rest, (read_fd, write_fd)) = fd_pair(args).map_err(|_| ArgsMismatch)?;
            let cloexec = match (sys, comma(rest)) {
                (Sys::Pipe2, Ok((rest, _))) => {
                    cloexec_arg(rest, O_CLOEXEC_BIT)
                        .map_err(|_| ArgsMismatch)?
                        .1
                }
                _ => false,
            };
            Some(EventKind::Pipe {
                read_fd,
                write_fd,
                cloexec,
            })
        }
        Sys::Socketpair => {
            let (rest, _) = skip_arg(args).map_err(|_| ArgsMismatch)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (rest, cloexec) = cloexec_arg(rest, O_CLOEXEC_BIT).map_err(|_| ArgsMismatch)?;
            let (rest, _) = skip_next(rest)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (_, (a, b)) = fd_pair(rest).map_err(|_| ArgsMismatch)?;
            for fd in [a, b] {
                emit(EventKind::OpenOther {
                    fd,
                    what: "socket".into(),
                    cloexec,
                });
            }
            return Ok(());
        }
        Sys::Socket => new_fd(value, "socket", nth_cloexec(args, 1, O_CLOEXEC_BIT)?),
        Sys::Accept => new_fd(value, "socket", false),
        Sys::Accept4 => new_fd(value, "socket", nth_cloexec(args, 3, O_CLOEXEC_BIT)?),
        Sys::Eventfd => new_fd(value, "eventfd", false),
        Sys::Eventfd2 => new_fd(value, "eventfd", nth_cloexec(args, 1, O_CLOEXEC_BIT)?),
        Sys::EpollCreate => new_fd(value, "epoll", false),
        Sys::EpollCreate1 => new_fd(value, "epoll", nth_cloexec(args, 0, O_CLOEXEC_BIT)?),
        Sys::MemfdCreate => new_fd(value, "memfd", nth_cloexec(args, 1, 1)?),
        Sys::Signalfd | Sys::Signalfd4 => {
            // With an existing fd it only changes that fd's mask.
            if first_fd(args)? != -1 {
                None
            } else {
                let cloexec = sys == Sys::Signalfd4 && nth_cloexec(args, 3, O_CLOEXEC_BIT)?;
                new_fd(value, "signalfd", cloexec)
            }
        }
        Sys::TimerfdCreate => new_fd(value, "timerfd", nth_cloexec(args, 1, O_CLOEXEC_BIT)?),
        Sys::InotifyInit => new_fd(value, "inotify", false),
        Sys::InotifyInit1 => new_fd(value, "inotify", nth_cloexec(args, 0, O_CLOEXEC_BIT)?),
        // pidfds are always close-on-exec.
        Sys::PidfdOpen => new_fd(value, "pidfd", true),
        Sys::Chdir => Some(EventKind::Chdir {
            path: Bytes(path_arg(args).map_err(|_| ArgsMismatch)?.1),
        }),
        Sys::Fchdir => Some(EventKind::Fchdir {
            fd: first_fd(args)?,
        }),
        Sys::Rename | Sys::Link => {
            let (from, to) = two_paths(args)?;
            Some(if sys == Sys::Rename {
                EventKind::Rename { from, to }
            } else {
                EventKind::Link { from, to }
            })
        }
        Sys::Renameat | Sys::Renameat2 | Sys::Linkat => {
            let (rest, from) = path_at(args)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (rest, to) = path_at(rest)?;
            let exchange = sys == Sys::Renameat2
                && match comma(rest) {
                    Ok((rest, _)) => {
                        flags_arg(rest, false, |acc, t| {
                            acc || match t {
                                FlagTerm::Sym(s) => s == b"RENAME_EXCHANGE",
                                FlagTerm::Num(n) => n & 2 != 0,
                            }
                        })
                        .map_err(|_| ArgsMismatch)?
                        .1
                    }
                    Err(_) => false,
                };
            if exchange {
                // Both names now hold what the other held: not a rename from one to the
                // other, so it is reported as a plain call.
                None
            } else if sys == Sys::Linkat {
                Some(EventKind::Link { from, to })
            } else {
                Some(EventKind::Rename { from, to })
            }
        }
        Sys::Symlink => {
            let (rest, target) = path_arg(args).map_err(|_| ArgsMismatch)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (_, link) = path_arg(rest).map_err(|_| ArgsMismatch)?;
            Some(EventKind::Symlink {
                target: Bytes(target),
                link: PathAt::cwd(link),
            })
        }
        Sys::Symlinkat => {
            let (rest, target) = path_arg(args).map_err(|_| ArgsMismatch)?;
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (_, link) = path_at(rest)?;
            Some(EventKind::Symlink {
                target: Bytes(target),
                link,
            })
        }
        Sys::Unlink => Some(EventKind::Unlink {
            path: PathAt::cwd(path_arg(args).map_err(|_| ArgsMismatch)?.1),
        }),
        Sys::Rmdir => Some(EventKind::Rmdir {
            path: PathAt::cwd(path_arg(args).map_err(|_| ArgsMismatch)?.1),
        }),
        Sys::Unlinkat => {
            let (rest, path) = path_at(args)?;
            let removedir = match comma(rest) {
                Ok((rest, _)) => {
                    flags_arg(rest, false, |acc, t| {
                        acc || match t {
                            FlagTerm::Sym(s) => s == b"AT_REMOVEDIR",
                            FlagTerm::Num(n) => n & 0x200 != 0,
                        }
                    })
                    .map_err(|_| ArgsMismatch)?
                    .1
                }
                Err(_) => false,
            };
            Some(if removedir {
                EventKind::Rmdir { path }
            } else {
                EventKind::Unlink { path }
            })
        }
        Sys::Mkdir => Some(EventKind::Mkdir {
            path: PathAt::cwd(path_arg(args).map_err(|_| ArgsMismatch)?.1),
        }),
        Sys::Mkdirat => Some(EventKind::Mkdir {
            path: path_at(args)?.1,
        }),
        Sys::Truncate => Some(EventKind::Truncate {
            path: PathAt::cwd(path_arg(args).map_err(|_| ArgsMismatch)?.1),
        }),
        Sys::Ftruncate => Some(EventKind::Ftruncate {
            fd: first_fd(args)?,
        }),
        Sys::WriteFirst => {
            if value > 0 {
                Some(EventKind::Write {
                    fd: first_fd(args)?,
                })
            } else {
                None
            }
        }
        Sys::WriteThird => {
            if value > 0 {
                let (rest, _) = skip_arg(args).map_err(|_| ArgsMismatch)?;
                let (rest, _) = skip_next(rest)?;
                let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
                Some(EventKind::Write {
                    fd: fd_arg(rest).map_err(|_| ArgsMismatch)?.1,
                })
            } else {
                None
            }
        }
    };
    emit(event.unwrap_or_else(|| other(name, ret)));
    Ok(())
}

fn new_fd(value: i64, what: &str, cloexec: bool) -> Option<EventKind> {
    Some(EventKind::OpenOther {
        fd: value as i32,
        what: what.to_string(),
        cloexec,
    })
}

fn first_fd(args: In<'_>) -> Result<i32, ArgsMismatch> {
    fd_arg(args).map(|(_, fd)| fd).map_err(|_| ArgsMismatch)
}

/// `, <one argument>`: skip it.
fn skip_next(input: In<'_>) -> Result<(In<'_>, In<'_>), ArgsMismatch> {
    let (rest, _) = comma(input).map_err(|_| ArgsMismatch)?;
    skip_arg(rest).map_err(|_| ArgsMismatch)
}

/// Whether the `n`th (0-based) argument, a flag set, holds close-on-exec. A missing
/// argument means no.
fn nth_cloexec(args: In<'_>, n: usize, numeric_bit: u64) -> Result<bool, ArgsMismatch> {
    let mut rest = args;
    for _ in 0..n {
        let (after, _) = skip_arg(rest).map_err(|_| ArgsMismatch)?;
        match comma(after) {
            Ok((after, _)) => rest = after,
            Err(_) => return Ok(false),
        }
    }
    if rest.is_empty() {
        return Ok(false);
    }
    Ok(cloexec_arg(rest, numeric_bit).map_err(|_| ArgsMismatch)?.1)
}

/// The last fd of close_range: a number (`4294967295`), or `~0U`.
fn close_range_end(input: In<'_>) -> Res<'_, u32> {
    if let Some(rest) = input.strip_prefix(b"~0U") {
        return Ok((rest, u32::MAX));
    }
    let (rest, v) = int_arg(input)?;
    Ok((rest, v as u32))
}

/// `dirfd, "path"` of the *at calls.
fn path_at(input: In<'_>) -> Result<(In<'_>, PathAt), ArgsMismatch> {
    let (rest, dirfd) = dirfd_arg(input).map_err(|_| ArgsMismatch)?;
    let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
    let (rest, path) = path_arg(rest).map_err(|_| ArgsMismatch)?;
    Ok((
        rest,
        PathAt {
            dirfd,
            path: Bytes(path),
        },
    ))
}

fn two_paths(args: In<'_>) -> Result<(PathAt, PathAt), ArgsMismatch> {
    let (rest, from) = path_arg(args).map_err(|_| ArgsMismatch)?;
    let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
    let (_, to) = path_arg(rest).map_err(|_| ArgsMismatch)?;
    Ok((PathAt::cwd(from), PathAt::cwd(to)))
}

/// The flags of clone (`flags=...`, or the first argument in raw mode) and clone3
/// (`{flags=..., ...}`). Unknown means none of the sharing flags.
fn spawn_flags(args: In<'_>) -> u64 {
    if let Some(at) = find_field(args, b"flags=") {
        return clone_flags(at).unwrap_or(0);
    }
    // Raw mode prints clone's flags as its first argument.
    if args.first().is_some_and(|b| b.is_ascii_digit()) {
        return clone_flags(args).unwrap_or(0);
    }
    0
}

fn fcntl(args: In<'_>, value: i64) -> Result<Option<EventKind>, ArgsMismatch> {
    let (rest, fd) = fd_arg(args).map_err(|_| ArgsMismatch)?;
    let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
    let (rest, cmd) = skip_arg(rest).map_err(|_| ArgsMismatch)?;
    let cmd = super::grammar::trim_end(cmd);
    // Raw values on Linux: F_DUPFD 0, F_SETFD 2, F_DUPFD_CLOEXEC 1030.
    let cmd_word = cmd.split(|b| *b == b' ').next().unwrap_or(cmd);
    Ok(match cmd_word {
        b"F_DUPFD" | b"0" | b"0x0" => Some(EventKind::Dup {
            fd,
            new_fd: value as i32,
            cloexec: false,
        }),
        b"F_DUPFD_CLOEXEC" | b"1030" | b"0x406" => Some(EventKind::Dup {
            fd,
            new_fd: value as i32,
            cloexec: true,
        }),
        b"F_SETFD" | b"2" | b"0x2" => {
            let (rest, _) = comma(rest).map_err(|_| ArgsMismatch)?;
            let (_, cloexec) = flags_arg(rest, false, |acc, t| {
                acc || match t {
                    FlagTerm::Sym(s) => s == b"FD_CLOEXEC",
                    FlagTerm::Num(n) => n & 1 != 0,
                }
            })
            .map_err(|_| ArgsMismatch)?;
            Some(EventKind::SetCloexec { fd, cloexec })
        }
        _ => None,
    })
}

/// Open flags as provenance sees them, from symbols (any architecture) or numbers
/// (Linux x86_64 values; also those of arm64 and riscv except O_DIRECTORY).
#[derive(Default, Clone, Copy)]
struct OpenBits {
    access: u8,
    path: bool,
    flags: OpenFlags,
}

fn open_term(mut bits: OpenBits, term: FlagTerm<'_>) -> OpenBits {
    match term {
        FlagTerm::Sym(s) => match s {
            b"O_RDONLY" => {}
            b"O_WRONLY" => bits.access |= 1,
            b"O_RDWR" => bits.access |= 2,
            b"O_PATH" => bits.path = true,
            b"O_CREAT" => bits.flags.create = true,
            b"O_EXCL" => bits.flags.excl = true,
            b"O_TRUNC" => bits.flags.trunc = true,
            b"O_APPEND" => bits.flags.append = true,
            b"O_CLOEXEC" => bits.flags.cloexec = true,
            b"O_DIRECTORY" => bits.flags.directory = true,
            b"O_TMPFILE" => {
                bits.flags.tmpfile = true;
                bits.flags.directory = true;
            }
            _ => {}
        },
        FlagTerm::Num(n) => {
            bits.access |= (n & 3) as u8;
            bits.flags.create |= n & 0o100 != 0;
            bits.flags.excl |= n & 0o200 != 0;
            bits.flags.trunc |= n & 0o1000 != 0;
            bits.flags.append |= n & 0o2000 != 0;
            bits.flags.directory |= n & 0o200_000 != 0;
            bits.flags.cloexec |= n & 0o2_000_000 != 0;
            bits.path |= n & 0o10_000_000 != 0;
            bits.flags.tmpfile |= n & 0o20_000_000 != 0;
        }
    }
    bits
}

fn finish_open_bits(bits: OpenBits) -> OpenFlags {
    let mut flags = bits.flags;
    flags.access = if bits.path {
        Access::Path
    } else {
        match bits.access {
            0 => Access::Read,
            1 => Access::Write,
            _ => Access::ReadWrite,
        }
    };
    flags
}

type OpenArgs = (Option<i32>, Vec<u8>, OpenFlags);

fn open_args(sys: Sys, args: In<'_>) -> Res<'_, OpenArgs> {
    let (rest, dirfd) = match sys {
        Sys::Openat | Sys::Openat2 => {
            let (rest, dirfd) = dirfd_arg(args)?;
            let (rest, _) = comma(rest)?;
            (rest, dirfd)
        }
        _ => (args, None),
    };
    let (rest, path) = path_arg(rest)?;
    if sys == Sys::Creat {
        let flags = OpenFlags {
            access: Access::Write,
            create: true,
            trunc: true,
            ..OpenFlags::default()
        };
        return Ok((rest, (dirfd, path, flags)));
    }
    let (rest, _) = comma(rest)?;
    let rest = if sys == Sys::Openat2 {
        // `{flags=O_RDONLY|O_CLOEXEC, resolve=..., mode=...}`, or a pointer when strace
        // could not read the struct.
        match find_field(rest, b"flags=") {
            Some(at) if rest.starts_with(b"{") => at,
            _ => return super::grammar::fail(rest),
        }
    } else {
        rest
    };
    let (rest, bits) = flags_arg(rest, OpenBits::default(), open_term)?;
    Ok((rest, (dirfd, path, finish_open_bits(bits))))
}

fn exec_args(sys: Sys, args: In<'_>) -> Res<'_, EventKind> {
    let (rest, dirfd) = if sys == Sys::Execveat {
        let (rest, dirfd) = dirfd_arg(args)?;
        let (rest, _) = comma(rest)?;
        (rest, dirfd)
    } else {
        (args, None)
    };
    let (rest, path) = path_arg(rest)?;
    let (rest, _) = comma(rest)?;
    let (rest, argv_list) = string_list(rest)?;
    let (argv, argv_truncated) = match argv_list {
        StringList::Strings(items, cut) => (items, cut),
        StringList::Null => (Vec::new(), false),
        // The vector was not shown (strace could not read it).
        StringList::Hidden => (Vec::new(), true),
    };
    let (rest, env) = match comma(rest) {
        Ok((rest, _)) => {
            let (rest, env) = string_list(rest)?;
            let env = match env {
                StringList::Strings(items, _) => Some(items.into_iter().map(Bytes).collect()),
                StringList::Null => Some(Vec::new()),
                StringList::Hidden => None,
            };
            (rest, env)
        }
        Err(_) => (rest, None),
    };
    Ok((
        rest,
        EventKind::Exec {
            dirfd,
            path: Bytes(path),
            argv: argv.into_iter().map(Bytes).collect(),
            env,
            cwd: None,
            argv_truncated,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, args: &str, ret: RetValue<'_>) -> Vec<EventKind> {
        let mut out = Vec::new();
        decode(
            classify(name.as_bytes()),
            name.as_bytes(),
            args.as_bytes(),
            ret,
            &mut |e| out.push(e),
        )
        .expect("decodes");
        out
    }

    #[test]
    fn open_flags_symbolic_and_raw_agree() {
        let symbolic = one(
            "openat",
            r#"AT_FDCWD, "x", O_WRONLY|O_CREAT|O_TRUNC, 0666"#,
            RetValue::Value(3),
        );
        let raw = one("openat", r#"-100, "x", 0x241, 0666"#, RetValue::Value(3));
        assert_eq!(symbolic, raw);
        let EventKind::Open { dirfd, flags, .. } = &symbolic[0] else {
            panic!("{symbolic:?}")
        };
        assert_eq!(*dirfd, None);
        assert_eq!(flags.access, Access::Write);
        assert!(flags.create && flags.trunc && !flags.append);
        let path = one(
            "openat",
            r#"3</d>, "x", O_PATH|O_DIRECTORY"#,
            RetValue::Value(4),
        );
        let EventKind::Open { dirfd, flags, .. } = &path[0] else {
            panic!()
        };
        assert_eq!(*dirfd, Some(3));
        assert_eq!(flags.access, Access::Path);
        assert!(flags.directory);
    }

    #[test]
    fn failed_calls_are_other_except_opens() {
        let ev = one("open", r#""/x", O_RDONLY"#, RetValue::Error(b"ENOENT"));
        assert!(
            matches!(&ev[0], EventKind::Open { outcome: Outcome::Err(e), .. } if e == "ENOENT")
        );
        let ev = one("close", "3", RetValue::Error(b"EBADF"));
        assert!(matches!(&ev[0], EventKind::Other { name, .. } if name == "close"));
    }
}
