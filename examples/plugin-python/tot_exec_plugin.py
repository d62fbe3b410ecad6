#!/usr/bin/env python3
"""An out-of-process tot backend in plain Python (standard library only).

It runs the traced command itself and reports what it can observe without a tracer:
the command's exec (path, argv, working directory, optionally its environment) and its
exit. That is a real, if coarse, trace: tot records the process, and `tot show` knows the
command ran. A richer plugin would wrap a tracer and translate its output the same way.

tot runs a plugin by this calling convention (see docs/writing-a-backend.md):

    PLUGIN --availability
        print one JSON object: {"available": {"detail": "..."}}
        or {"unavailable": {"reason": "...", "fix": "..."}}

    PLUGIN --output PATH [--option KEY=VALUE]... -- COMMAND [ARGS...]
        run COMMAND; write tot's event stream (JSON Lines) into PATH, a FIFO tot reads
        while the command runs: first the hello line, then one event per line.
        Leave stdin, stdout, stderr and the environment to the command, and exit with
        the command's status.

Options (from [backends.NAME] in tot's config): env = true also records the command's
environment in its exec event.
"""

import base64
import json
import os
import shutil
import signal
import sys
import time

PROTOCOL = "tot-events"
VERSION = "1.0"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def wire_bytes(raw):
    """A path or argument as the event stream carries it: a string when it is UTF-8,
    else {"b64": ...}, so non-UTF-8 bytes survive."""
    if isinstance(raw, str):
        raw = os.fsencode(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode("ascii")}


def exit_status(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "SIG%d" % number
        return {"signal": {"name": name, "core_dumped": bool(os.WCOREDUMP(status))}}
    return {"code": os.WEXITSTATUS(status)}


def parse_arguments(argv):
    output, options, command = None, {}, []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            command = argv[i + 1:]
            break
        if arg == "--output" and i + 1 < len(argv):
            output = argv[i + 1]
            i += 2
        elif arg == "--option" and i + 1 < len(argv):
            key, _, value = argv[i + 1].partition("=")
            options[key] = value
            i += 2
        else:
            sys.exit("tot_exec_plugin: unexpected argument %r" % arg)
    if output is None or not command:
        sys.exit("usage: tot_exec_plugin.py --output PATH [--option K=V]... -- COMMAND...")
    return output, options, command


def resolve(program):
    if "/" in program:
        return program
    return shutil.which(program) or program


def trace(output, options, command):
    # Opened without O_CLOEXEC being needed: Python's files are not inherited (PEP 446),
    # so the traced command never sees the stream.
    stream = open(output, "w", encoding="utf-8")

    def emit(record):
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        stream.flush()

    emit({"hello": {"protocol": PROTOCOL, "v": VERSION, "producer": "tot_exec_plugin.py"}})
    path = resolve(command[0])
    # A close-on-exec pipe tells the parent whether exec succeeded: it reads end-of-file
    # when it did, the errno when it did not.
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.execv(path, command)
        except OSError as error:
            os.write(write_end, str(error.errno).encode())
        os._exit(127)
    os.close(write_end)
    for number in FORWARDED:
        signal.signal(number, lambda received, _frame: os.kill(pid, received))
    failure = os.read(read_end, 64)
    os.close(read_end)
    if not failure:
        exec_event = {
            "path": wire_bytes(path),
            "argv": [wire_bytes(arg) for arg in command],
            "cwd": wire_bytes(os.getcwd()),
        }
        if options.get("env") == "true":
            exec_event["env"] = [wire_bytes(k + b"=" + v) for k, v in os.environb.items()]
        emit({"tid": pid, "ts": time.time_ns(), "ev": {"exec": exec_event}})
    else:
        print("tot_exec_plugin: cannot run %s: %s" % (command[0], os.strerror(int(failure))), file=sys.stderr)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    emit({"tid": pid, "ts": time.time_ns(), "ev": {"exit": {"status": exit_status(status)}}})
    stream.close()
    return status


def main(argv):
    if argv[:1] == ["--availability"]:
        if hasattr(os, "fork"):
            answer = {"available": {"detail": "Python %d.%d at %s" % (sys.version_info[0], sys.version_info[1], sys.executable)}}
        else:
            answer = {"unavailable": {"reason": "this Python cannot fork", "fix": "use a POSIX system"}}
        print(json.dumps(answer))
        return 0
    output, options, command = parse_arguments(argv)
    status = trace(output, options, command)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
