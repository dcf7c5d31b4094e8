"""Isolating one grading kernel as far as the platform allows, and making sure nothing it started outlives it.

What is used, each only where it works (:func:`detect` tries them once per run; the report says which held):

* **a private user** (when the grader runs as root): every submission's kernel runs as its own throw-away uid
  and gid (``setpriv``), so it cannot signal the grader or another kernel, nor read the grader's private files;
  ``RLIMIT_NPROC`` then bounds its processes and threads;
* **bubblewrap** (``bwrap``, Linux): private PID, network, IPC and UTS namespaces (no network at all; the grader
  talks to the kernel over Unix sockets), a private ``/dev/shm`` and one size-limited ``tmpfs`` as the only
  writable folder; the file system it sees holds the system, Python and a private read-only copy of reglab, not
  the checkout, the submissions or the output folder; killing the sandbox kills every process in it;
* **cgroups** (v1 or v2, when writable): a memory and a process-count limit for the whole process tree, and a
  list of every process in it to kill afterwards;
* always: a new session (process group) per kernel, ``RLIMIT_AS``/``RLIMIT_CPU``/``RLIMIT_FSIZE`` per process,
  the audit hook of :mod:`~reglab.course.grading.guard`, and a kill of the whole group, the cgroup and every
  process of the private uid after the notebook.

This file is also the launcher the kernelspec runs (``python sandbox.py CONFIG -- COMMAND...``): as the grader's
user it sets the limits, joins the cgroup and hands the connection file to the private user, then ``exec`` s the
command (``bwrap``/``setpriv`` and the kernel). It imports nothing but the standard library.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Isolation:
    """The mechanisms that work on this machine for this run.

    Attributes:
        root: the grader runs as root (kernels get private uids).
        bwrap: the path of a working ``bwrap``, else "".
        cgroup: ``{"memory": dir, "pids": dir}`` parent folders where a cgroup can be made (v1), or
            ``{"unified": dir}`` (v2); empty when none is writable.
        base_uid: the first private uid of this run.
    """

    root: bool
    bwrap: str = ""
    cgroup: dict = field(default_factory=dict)
    base_uid: int = 0

    def describe(self):
        """One line per mechanism: what holds and what does not."""
        lines = []
        lines.append("private user per kernel (setpriv): yes" if self.root else
                     "private user per kernel: no (the grader is not root, or without bubblewrap a private user "
                     "cannot run this Python; kernels run as the grader's user)")
        if self.bwrap:
            lines.append("bubblewrap: yes (own PID/network/IPC namespaces, no network, only a size-limited tmpfs "
                         "writable, no view of the checkout, submissions or output, private /dev/shm)")
        else:
            lines.append("bubblewrap: no (kernels see the file system as their user may; network is blocked only "
                         "by the audit hook; disk use is limited per file only)")
        if self.cgroup:
            lines.append(f"cgroup ({'v2' if 'unified' in self.cgroup else 'v1'}): memory and process-count "
                         f"limits for the whole kernel process tree")
        else:
            lines.append("cgroup: no (memory limited per process by RLIMIT_AS"
                         + (", processes by RLIMIT_NPROC of the private uid)" if self.root else ")"))
        return lines


def _bwrap_works(path):
    try:
        done = subprocess.run([path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20, check=False)
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _cgroup_parents():
    """Writable parent cgroup folders of this process: v2 unified, else v1 memory and pids."""
    try:
        lines = open("/proc/self/cgroup", encoding="utf-8").read().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else ["unified"]:
            if name in ("memory", "pids"):
                found[name] = os.path.join("/sys/fs/cgroup", name, path.lstrip("/"))
            elif name == "unified" and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
                found["unified"] = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
    if "memory" in found and "pids" in found:
        parents = {k: found[k] for k in ("memory", "pids")}
    elif "unified" in found:
        parents = {"unified": found["unified"]}
    else:
        return {}
    probe = f"reglab-probe-{os.getpid()}"
    try:
        for parent in parents.values():
            os.mkdir(os.path.join(parent, probe))
            os.rmdir(os.path.join(parent, probe))
        if "unified" in parents:
            wanted = {"memory", "pids"}
            have = set(open(os.path.join(parents["unified"], "cgroup.subtree_control")).read().split())
            if not wanted <= have:
                return {}
    except OSError:
        return {}
    return parents


def _private_user_runs_python(uid):
    """True when a process of ``uid`` can start this Python and import the kernel from its site-packages (not so
    when either lives in a 0700 folder: a home such as /root, or a ``mktemp -d`` checkout holding the venv)."""
    try:
        done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                               "--bounding-set=-all", "--no-new-privs", sys.executable, "-c",
                               "import encodings, json, ipykernel"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20, check=False, cwd="/",
                              env={"PATH": "/usr/bin:/bin"})
        return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect(*, use_bwrap=True, use_cgroup=True):
    """The :class:`Isolation` this machine offers (tries each mechanism once).

    Without bubblewrap a private user must be able to read this Python and its site-packages where they are
    installed; when it cannot (a Python under ``/root``, a venv in a 0700 folder), kernels run as the grader's user
    instead.
    """
    root = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv") is not None
    bwrap = shutil.which("bwrap") if use_bwrap and sys.platform.startswith("linux") else None
    bwrap = bwrap if bwrap and _bwrap_works(bwrap) else ""
    base = 1_400_000_000 + (os.getpid() % 10_000) * 10_000      # far above any real account
    if root and not bwrap and not _private_user_runs_python(base + 9_999):
        root = False
    cgroup = _cgroup_parents() if use_cgroup and sys.platform.startswith("linux") else {}
    return Isolation(root, bwrap, cgroup, base)


class Cgroup:
    """One kernel's cgroup: made with limits, read for what hit a limit, emptied and removed."""

    def __init__(self, parents, name, *, memory, pids):
        self.folders = {}
        for kind, parent in parents.items():
            folder = os.path.join(parent, name)
            os.mkdir(folder)
            self.folders[kind] = folder
        if "unified" in self.folders:
            self._write("unified", "memory.max", str(memory))
            self._write("unified", "memory.swap.max", "0", required=False)
            self._write("unified", "pids.max", str(pids))
        else:
            self._write("memory", "memory.limit_in_bytes", str(memory))
            self._write("memory", "memory.memsw.limit_in_bytes", str(memory), required=False)
            self._write("pids", "pids.max", str(pids))

    def _write(self, kind, name, value, required=True):
        try:
            with open(os.path.join(self.folders[kind], name), "w") as stream:
                stream.write(value)
        except OSError:
            if required:
                raise

    def _read(self, kind, name):
        try:
            with open(os.path.join(self.folders[kind], name)) as stream:
                return stream.read()
        except (OSError, KeyError):
            return ""

    def procs_files(self):
        return [os.path.join(folder, "cgroup.procs") for folder in self.folders.values()]

    def pids(self):
        found = set()
        for kind in self.folders:
            found |= {int(p) for p in self._read(kind, "cgroup.procs").split()}
        return found

    def events(self):
        """What hit a limit: ``{"memory": bool, "pids": bool}``."""
        if "unified" in self.folders:
            memory = self._read("unified", "memory.events")
            pids = self._read("unified", "pids.events")
            oom = any(line.split()[0] in ("oom", "max") and int(line.split()[1]) > 0
                      for line in memory.splitlines() if len(line.split()) == 2)
            return {"memory": oom, "pids": any(int(l.split()[1]) > 0 for l in pids.splitlines() if l.startswith("max"))}
        failcnt = self._read("memory", "memory.failcnt").strip()
        pids = self._read("pids", "pids.events")
        return {"memory": bool(failcnt) and int(failcnt) > 0,
                "pids": any(int(l.split()[1]) > 0 for l in pids.splitlines() if l.startswith("max"))}

    def destroy(self):
        """Kill every process in it, wait until it is empty, remove it."""
        if "unified" in self.folders:
            self._write("unified", "cgroup.kill", "1", required=False)
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.05)
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    os.rmdir(folder)
                    break
                except OSError:
                    time.sleep(0.05)


def uid_processes(uid):
    """Pids of the processes whose real uid is ``uid`` (Linux ``/proc``)."""
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as stream:
                for line in stream:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(name))
                        break
        except (OSError, ValueError):
            continue
    return found


def kill_uid(uid, rounds=100):
    """SIGKILL every process of ``uid`` until none is left (a fork loop is outrun by repeating)."""
    for _ in range(rounds):
        pids = uid_processes(uid)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    return not uid_processes(uid)


def reap(pid):
    """Collect the grader's child ``pid`` (a kernel's launcher) if it has ended, so that no zombie stays.

    Only that pid: other workers' kernels are children of the grader too, and their managers wait for them.
    """
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _launch(config, command):
    """In the launched process, before ``exec``: limits, cgroup, the connection file for the private user."""
    import resource

    for procs in config.get("cgroup", []):
        with open(procs, "w") as stream:
            stream.write(str(os.getpid()))
    uid = config.get("uid")
    for limit, value in (("RLIMIT_NPROC", config.get("nproc")), ("RLIMIT_FSIZE", config.get("fsize")),
                         ("RLIMIT_CORE", 0)):
        if value is not None and hasattr(resource, limit) and (limit != "RLIMIT_NPROC" or uid is not None):
            try:
                resource.setrlimit(getattr(resource, limit), (value, value))
            except (ValueError, OSError):
                pass
    if uid is not None and "-f" in command:
        connection = command[command.index("-f") + 1]
        os.chown(connection, uid, uid)
        os.chmod(connection, 0o600)
    for name, target in config.get("files", []):           # bubblewrap copies these into the tmpfs
        fd = os.open(name, os.O_RDONLY)
        os.set_inheritable(fd, True)
        at = command.index("@FILES@")
        command[at:at] = ["--perms", "0666", "--file", str(fd), target]
    command = [part for part in command if part != "@FILES@"]
    if config.get("env") is not None:                       # the kernel's whole environment, nothing of the grader's
        os.execvpe(command[0], command, dict(config["env"]))
    os.execvp(command[0], command)


if __name__ == "__main__":
    split = sys.argv.index("--")
    _launch(json.loads(sys.argv[1]), sys.argv[split + 1:])
