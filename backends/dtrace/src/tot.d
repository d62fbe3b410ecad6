/*
 * tot's D script (macOS): follows the command started by `dtrace -c` and its descendants,
 * and prints tot's script line format (crate tot-script-format), version 1, with macOS
 * numbers and escaped strings (%S).
 *
 * Strings are copied at return, when the kernel has already faulted the pages in, which
 * avoids "invalid user access" probe errors. Every record ends with a "." field.
 */

#pragma D option quiet
#pragma D option switchrate=20hz
#pragma D option bufsize=32m
#pragma D option dynvarsize=32m
#pragma D option strsize=1024

inline int CLD_EXITED = 1;

dtrace:::BEGIN
{
	printf("#tot-script\t1\tdarwin\tescaped\tdtrace\n");
}

proc:::create
/progenyof($target)/
{
	printf("F\t%d\t%d\t%d\t%d\t0\t.\n", timestamp, pid, tid, args[0]->pr_pid);
}

/* exec: the path and up to 8 arguments, copied while the old image still exists. */
syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target)/
{
	self->exec_path = copyinstr(arg0);
	self->argv = arg1;
	self->argc = 0;
	self->more = 0;
	self->p = *(uint64_t *)copyin(self->argv, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 0/
{
	self->a0 = copyinstr(self->p);
	self->argc = 1;
	self->p = *(uint64_t *)copyin(self->argv + 8, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 1/
{
	self->a1 = copyinstr(self->p);
	self->argc = 2;
	self->p = *(uint64_t *)copyin(self->argv + 16, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 2/
{
	self->a2 = copyinstr(self->p);
	self->argc = 3;
	self->p = *(uint64_t *)copyin(self->argv + 24, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 3/
{
	self->a3 = copyinstr(self->p);
	self->argc = 4;
	self->p = *(uint64_t *)copyin(self->argv + 32, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 4/
{
	self->a4 = copyinstr(self->p);
	self->argc = 5;
	self->p = *(uint64_t *)copyin(self->argv + 40, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 5/
{
	self->a5 = copyinstr(self->p);
	self->argc = 6;
	self->p = *(uint64_t *)copyin(self->argv + 48, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 6/
{
	self->a6 = copyinstr(self->p);
	self->argc = 7;
	self->p = *(uint64_t *)copyin(self->argv + 56, 8);
}

syscall::execve:entry, syscall::__mac_execve:entry
/progenyof($target) && self->p != 0 && self->argc == 7/
{
	self->a7 = copyinstr(self->p);
	self->argc = 8;
	self->p = *(uint64_t *)copyin(self->argv + 64, 8);
	self->more = self->p != 0;
}

proc:::exec-success
/progenyof($target) && self->argv != 0/
{
	printf("E\t%d\t%d\t%d\t%S\t%d\t%d\t.\n", timestamp, pid, tid, self->exec_path, self->argc, self->more);
}

proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 0/ { printf("A\t%d\t%d\t%d\t0\t%S\t.\n", timestamp, pid, tid, self->a0); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 1/ { printf("A\t%d\t%d\t%d\t1\t%S\t.\n", timestamp, pid, tid, self->a1); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 2/ { printf("A\t%d\t%d\t%d\t2\t%S\t.\n", timestamp, pid, tid, self->a2); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 3/ { printf("A\t%d\t%d\t%d\t3\t%S\t.\n", timestamp, pid, tid, self->a3); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 4/ { printf("A\t%d\t%d\t%d\t4\t%S\t.\n", timestamp, pid, tid, self->a4); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 5/ { printf("A\t%d\t%d\t%d\t5\t%S\t.\n", timestamp, pid, tid, self->a5); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 6/ { printf("A\t%d\t%d\t%d\t6\t%S\t.\n", timestamp, pid, tid, self->a6); }
proc:::exec-success /progenyof($target) && self->argv != 0 && self->argc > 7/ { printf("A\t%d\t%d\t%d\t7\t%S\t.\n", timestamp, pid, tid, self->a7); }

/* A posix_spawn child (or the command itself, exec'd by dtrace): the path only. */
syscall::posix_spawn:entry
/progenyof($target)/
{
	spawn_path[pid] = copyinstr(arg1);
	spawning_child[pid] = 1;
}

proc:::exec-success
/progenyof($target) && self->argv == 0 && spawning_child[curpsinfo->pr_ppid]/
{
	printf("E\t%d\t%d\t%d\t%S\t0\t1\t.\n", timestamp, pid, tid, spawn_path[curpsinfo->pr_ppid]);
}

/* The command itself, started by dtrace -c: only its name is known here. */
proc:::exec-success
/progenyof($target) && self->argv == 0 && !spawning_child[curpsinfo->pr_ppid]/
{
	printf("E\t%d\t%d\t%d\t%S\t0\t1\t.\n", timestamp, pid, tid, execname);
}

proc:::exec-success
/progenyof($target)/
{
	self->argv = 0;
	self->argc = 0;
	self->exec_path = 0;
}

syscall::exit:entry
/progenyof($target)/
{
	exit_code[pid] = arg0;
}

proc:::exit
/progenyof($target)/
{
	printf("X\t%d\t%d\t%d\t%s\t.\n", timestamp, pid, tid, args[0] == CLD_EXITED ? lltostr(exit_code[pid] << 8) : "-");
	exit_code[pid] = 0;
}

/* File-family calls: arguments saved at entry, printed at return with errno. */
syscall::open:entry, syscall::open_nocancel:entry
/progenyof($target)/
{
	self->path0 = arg0;
	self->n1 = arg1;
}

syscall::open:return, syscall::open_nocancel:return
/self->path0/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%S\t0x%x\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, copyinstr(self->path0), self->n1);
	self->path0 = 0;
}

syscall::openat:entry, syscall::openat_nocancel:entry
/progenyof($target)/
{
	self->n0 = arg0;
	self->path1 = arg1;
	self->n2 = arg2;
}

syscall::openat:return, syscall::openat_nocancel:return
/self->path1/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%S\t0x%x\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, (int)self->n0, copyinstr(self->path1), self->n2);
	self->path1 = 0;
}

syscall::close:entry, syscall::close_nocancel:entry, syscall::dup:entry, syscall::fchdir:entry
/progenyof($target)/
{
	self->fd0 = arg0 + 1;
}

syscall::close:return, syscall::close_nocancel:return, syscall::dup:return, syscall::fchdir:return
/self->fd0/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, (int)(self->fd0 - 1));
	self->fd0 = 0;
}

syscall::dup2:entry
/progenyof($target)/
{
	self->fd0 = arg0 + 1;
	self->n1 = arg1;
}

syscall::dup2:return
/self->fd0/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, (int)(self->fd0 - 1), (int)self->n1);
	self->fd0 = 0;
}

syscall::chdir:entry, syscall::unlink:entry, syscall::mkdir:entry
/progenyof($target)/
{
	self->path0 = arg0;
}

syscall::chdir:return, syscall::unlink:return, syscall::mkdir:return
/self->path0/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%S\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, copyinstr(self->path0));
	self->path0 = 0;
}

syscall::rename:entry, syscall::link:entry, syscall::symlink:entry
/progenyof($target)/
{
	self->path0 = arg0;
	self->path1 = arg1;
}

syscall::rename:return, syscall::link:return, syscall::symlink:return
/self->path0/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%S\t%S\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, copyinstr(self->path0), copyinstr(self->path1));
	self->path0 = 0;
	self->path1 = 0;
}

syscall::renameat:entry
/progenyof($target)/
{
	self->n0 = arg0;
	self->path1 = arg1;
	self->n2 = arg2;
	self->path3 = arg3;
}

syscall::renameat:return
/self->path1/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%S\t%d\t%S\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, (int)self->n0, copyinstr(self->path1), (int)self->n2, copyinstr(self->path3));
	self->path1 = 0;
	self->path3 = 0;
}

syscall::unlinkat:entry
/progenyof($target)/
{
	self->n0 = arg0;
	self->path1 = arg1;
	self->n2 = arg2;
}

syscall::unlinkat:return
/self->path1/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%S\t0x%x\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno, (int)self->n0, copyinstr(self->path1), self->n2);
	self->path1 = 0;
}

/* Processes come from proc:::create; these records keep the calls' results and errnos. */
syscall::fork:entry, syscall::vfork:entry, syscall::posix_spawn:entry
/progenyof($target)/
{
	self->spawning = 1;
}

syscall::fork:return, syscall::vfork:return, syscall::posix_spawn:return
/self->spawning/
{
	printf("S\t%d\t%d\t%d\t%s\t%d\t%d\t.\n", timestamp, pid, tid, probefunc, (int)arg0, errno);
	self->spawning = 0;
	spawning_child[pid] = 0;
}
