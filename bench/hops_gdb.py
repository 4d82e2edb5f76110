# gdb's side of bench/hops.py (`gdb -batch -x bench/hops_gdb.py`, the program in $HOPS_ARGV).
# Every process of the login stays under gdb (forks followed, the helper's exec too); no
# breakpoint stops it: each one records and lets it run on. What it records, as JSON lines
# in $HOPS_OUT:
#   grant   the stack where a "granted" log line is written (cshim_pam_syslog in the module,
#           cshim_syslog in the helper): the login's grant
#   spawn   the stack where the module starts a child (cshim_spawn): the call of the helper
#   count   per process, the calls of each function named in $HOPS_COUNT (linkage names,
#           comma-separated; gdb also breaks where such a function was inlined)
import json
import os
import shlex

import gdb

OUT = os.environ["HOPS_OUT"]
COUNTED = [name for name in os.environ.get("HOPS_COUNT", "").split(",") if name]
counts = {}


def record(**entry):
    with open(OUT, "a") as out:
        out.write(json.dumps(entry) + "\n")


def stack():
    frames = []
    frame = gdb.newest_frame()
    while frame is not None:
        function = frame.function()
        name = None
        if function is not None:
            name = getattr(function, "linkage_name", None) or function.name
        name = name or frame.name() or "??"
        sal = frame.find_sal()
        where = "%s:%d" % (os.path.basename(sal.symtab.filename), sal.line) if sal.symtab else ""
        frames.append({"name": name, "inline": frame.type() == gdb.INLINE_FRAME,
                       "object": gdb.solib_name(frame.pc()) or gdb.current_progspace().filename,
                       "where": where})
        frame = frame.older()
    return frames


def message(register):
    try:
        return gdb.parse_and_eval("(const char *)$%s" % register).string(errors="replace")
    except gdb.error:
        return ""


class LogLine(gdb.Breakpoint):
    def __init__(self, spec, register):
        super().__init__(spec, internal=True)
        self.register = register

    def stop(self):
        text = message(self.register)
        if "granted" in text and "not granted" not in text:
            record(kind="grant", pid=gdb.selected_inferior().pid, message=text, frames=stack())
        return False


class Spawn(gdb.Breakpoint):
    def stop(self):
        record(kind="spawn", pid=gdb.selected_inferior().pid, frames=stack())
        return False


class Count(gdb.Breakpoint):
    def __init__(self, name):
        super().__init__(function=name, internal=True)  # an explicit location: a "$s" name is no variable
        self.spec = name

    def stop(self):
        pid = gdb.selected_inferior().pid
        key = (pid, program_of(pid), self.spec)
        counts[key] = counts.get(key, 0) + 1
        return False


def program_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return "?"


for command in ["set pagination off", "set confirm off", "set breakpoint pending on",
                "set detach-on-fork off", "set follow-fork-mode parent", "set follow-exec-mode same",
                "set schedule-multiple on", "set print inferior-events off", "set print thread-events off"]:
    gdb.execute(command)

LogLine("cshim_pam_syslog", "rdx")  # (pamh, priority, message)
LogLine("cshim_syslog", "rsi")      # (priority, message)
Spawn("cshim_spawn", internal=True)
for name in COUNTED:
    Count(name)

# the program and its arguments ($HOPS_ARGV, JSON); its stdin the FIFO where the code is written
# when its mail came
ARGV = json.loads(os.environ["HOPS_ARGV"])
gdb.execute("file %s" % ARGV[0], to_string=True)
gdb.execute("run %s < %s" % (" ".join(shlex.quote(a) for a in ARGV[1:]), shlex.quote(os.environ["HOPS_STDIN"])))
while any(inferior.pid > 0 for inferior in gdb.inferiors()):
    for inferior in gdb.inferiors():
        if inferior.pid > 0:
            gdb.execute("inferior %d" % inferior.num, to_string=True)
            break
    try:
        gdb.execute("continue")
    except gdb.error as error:
        record(kind="error", text=str(error))
        break
for (pid, program, spec), n in counts.items():
    record(kind="count", pid=pid, program=program, function=spec, calls=n)
