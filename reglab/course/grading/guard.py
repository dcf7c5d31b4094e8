"""In the grading kernel: resource limits and the audit hook that blocks what a graded notebook must not do.

The kernelspec that :mod:`reglab.course.grading.execute` writes starts the kernel with :func:`_kernel_main`:
it sets the memory, CPU-time and file-size limits, installs :class:`_Guard` (PEP 578) and starts IPython. The
hook blocks (and logs) network access, starting other programs, and deleting or writing files outside the scratch
folder. It is the last layer, not the one to rely on: it sees Python-level operations only (ctypes, native code or
``gc`` get around it) and runs in the student's interpreter, so its log is reported as the kernel's own account.
What holds is the isolation of :mod:`~reglab.course.grading.sandbox` and scoring in the grader.
"""

import json
import os
import sys


ALLOWED_PROGRAMS = frozenset({"uname", "fc-list"})
"""Programs the kernel may start (``platform`` and matplotlib's font search call them); all others are blocked."""


class _Guard:
    """An audit hook (PEP 578) that blocks what a graded notebook must not do, and logs it.

    Not a sandbox: it sees the Python-level operations only.
    """

    def __init__(self, config, log):
        self.home = os.path.realpath(config["home"])
        self.work = os.path.realpath(config["work"])
        self.protected = [os.path.realpath(p) for p in config["protected"]]
        self.readable = [os.path.realpath(p) for p in config.get("readable", ())]   # Python and reglab itself
        self.neighbours = set(config["neighbours"])
        self.log = log
        self.busy = False
        self.handlers = {
            "open": self.open, "os.remove": self.delete, "os.rmdir": self.delete, "shutil.rmtree": self.delete,
            "os.rename": self.rename, "os.truncate": self.delete, "socket.connect": self.connect,
            "socket.sendto": self.connect, "socket.sendmsg": self.connect, "socket.getaddrinfo": self.lookup,
            "socket.gethostbyname": self.lookup, "socket.gethostbyaddr": self.lookup, "subprocess.Popen": self.popen,
            "os.posix_spawn": self.spawn, "os.system": self.program, "os.exec": self.program,
            "os.spawn": self.program, "pty.spawn": self.program,
        }

    def __call__(self, event, args):
        handler = self.handlers.get(event)
        if handler is None or self.busy:
            return
        self.busy = True
        try:
            problem = handler(args)
        finally:
            self.busy = False
        if problem:
            os.write(self.log, (problem.replace("\n", " ") + "\n").encode("utf-8", "replace"))
            raise PermissionError(f"reglab grade: {problem} (blocked while grading)")

    def _inside(self, path, folder):
        return path == folder or path.startswith(folder + os.sep)

    def _path(self, path):
        if isinstance(path, int) or path is None:
            return None
        return os.path.realpath(os.fsdecode(path))

    def open(self, args):
        path, mode, flags = (tuple(args) + (None, None))[:3]
        resolved = self._path(path)
        if resolved is None:
            return None
        if (any(self._inside(resolved, folder) for folder in self.protected)
                and not any(self._inside(resolved, folder) for folder in self.readable)):
            return f"reading {os.path.basename(resolved)} from the submissions or instructor's folders"
        writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                   else bool((flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)))
        if writing and not self._inside(resolved, self.home) and not resolved.startswith("/dev/"):
            return f"writing {resolved} outside its scratch folder"
        if (not writing and self._inside(resolved, self.work) and not os.path.exists(resolved)
                and os.path.basename(resolved) in self.neighbours):
            os.write(self.log, f"note: tried to read {os.path.basename(resolved)} from its folder\n".encode())
        return None

    def delete(self, args):
        resolved = self._path(args[0])
        if resolved is not None and not self._inside(resolved, self.home):
            return f"deleting {resolved}"
        return None

    def rename(self, args):
        return self.delete(args[:1]) or self.delete(args[1:2])

    def connect(self, args):
        return f"network access ({args[-1]})"

    def lookup(self, args):
        return f"network access ({args[0]})"

    def program(self, args):
        return f"running another program ({str(args[0])[:60]})"

    def popen(self, args):
        executable, argv = args[0], args[1]
        if not executable:
            executable = argv[0] if isinstance(argv, (list, tuple)) and argv else str(argv).split(" ")[0]
        return self.spawn((executable,))

    def spawn(self, args):
        name = os.path.basename(os.fsdecode(args[0]))
        return None if name in ALLOWED_PROGRAMS else f"running another program ({name[:60]})"


def _kernel_main():
    """Start an IPython kernel with the limits and the audit hook (the grading kernelspec runs this)."""
    import resource

    config = json.loads(os.environ.pop("REGLAB_GRADE"))
    memory, cpu = int(config["memory"]) * 1024 ** 2, int(config["cpu"])
    for limit, value in ((resource.RLIMIT_AS, (memory, memory)), (resource.RLIMIT_CPU, (cpu, cpu + 5)),
                         (resource.RLIMIT_FSIZE, (1024 ** 3, 1024 ** 3))):
        try:
            resource.setrlimit(limit, value)
        except (ValueError, OSError):     # macOS does not enforce RLIMIT_AS; the other limits still hold
            pass
    log = os.open(config["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    sys.addaudithook(_Guard(config, log))
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
