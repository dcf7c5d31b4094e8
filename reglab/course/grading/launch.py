"""Starting and stopping one submission's kernel inside the isolation that works here.

:func:`_launcher` is the kernelspec's argv: the launcher (:mod:`~reglab.course.grading.sandbox` run as a script:
cgroup, limits, files to copy in), then bubblewrap (:func:`_bwrap_command`: a private mount, PID, network, IPC and
UTS namespace with the Python environment read-only) and/or ``setpriv`` to the submission's private user, then the
guarded kernel. The kernel's environment (:func:`_environment`) holds nothing of the grader's. :func:`_shutdown`
stops everything the kernel started. :func:`reglab.course.grading.execute._execute` uses all three.
"""

import json
import os
import sys
from pathlib import Path

from reglab.course.grading import sandbox


def _environment(home, lib, config):
    """The kernel's whole environment (nothing of the grader's): CPU only, one thread, caches in ``home``."""
    return {
        "REGLAB_GRADE": json.dumps(config), "CUDA_VISIBLE_DEVICES": "", "REGLAB_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
        "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(lib), "MPLBACKEND": "agg",
        "HOME": str(home), "TMPDIR": str(home), "XDG_CACHE_HOME": f"{home}/.cache",
        "MPLCONFIGDIR": f"{home}/.matplotlib", "IPYTHONDIR": f"{home}/.ipython", "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8", "JPY_SESSION_NAME": "",
    }


def _python_paths():
    """Folders the kernel's Python needs to see (read-only): the environment and the interpreter it is built on."""
    paths = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    for entry in sys.path:                               # site-packages outside the prefixes (user site, ...)
        if entry and "site-packages" in entry and os.path.isdir(entry):
            paths.add(entry)
    paths = {os.path.realpath(p) for p in paths} | {p for p in paths}
    return sorted(p for p in paths if p and p != "/" and os.path.isdir(p))


def _bwrap_command(isolation, *, channel, lib, home, env, warm, limits):
    command = [isolation.bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    if isolation.root:
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]      # for setpriv, which drops them
    else:
        command += ["--unshare-user"]
    for folder in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/sbin", "/etc"):
        command += ["--ro-bind-try", folder, folder]
    mounts = [(folder, "--ro-bind") for folder in _python_paths()] + [(str(lib), "--ro-bind"),
                                                                        (str(channel), "--bind")]
    parents = []                  # bubblewrap would make missing parents 0700: make them 0755 (nothing in them)
    for folder, _ in mounts:
        for parent in reversed(Path(folder).parents[:-1]):
            if str(parent) not in parents and not any(str(parent) == f or str(parent).startswith(f + "/")
                                                      for f in ("/usr", "/bin", "/lib", "/lib64", "/etc")):
                parents.append(str(parent))
    for parent in parents:
        command += ["--perms", "0755", "--dir", parent]
    for folder, kind in mounts:
        command += [kind, folder, folder]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(limits.shm * 1024 ** 2), "--tmpfs", "/dev/shm",
                "--perms", "0777", "--size", str(limits.disk * 1024 ** 2), "--tmpfs", str(home),
                "--perms", "0777", "--dir", f"{home}/.matplotlib", "@FILES@", "--chdir", str(home)]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return command


def _launcher(isolation, *, uid, channel, lib, home, env, warm, limits, cgroup):
    """The kernelspec's argv: the launcher, then bubblewrap and/or setpriv, then the kernel."""
    kernel = [sys.executable, "-c", "from reglab.course.grading.guard import _kernel_main; _kernel_main()",
              "-f", "{connection_file}"]
    drop = []
    if isolation.root:
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs"]
    if isolation.bwrap:
        command = _bwrap_command(isolation, channel=channel, lib=lib, home=home, env=env, warm=warm,
                                 limits=limits) + drop + kernel
        files = [(str(f), f"{home}/.matplotlib/{f.name}") for f in sorted(Path(warm).glob("*.json"))]
    else:
        command = drop + kernel
        files = []
    config = {"cgroup": cgroup.procs_files() if cgroup is not None else [], "uid": uid if isolation.root else None,
              "nproc": limits.processes, "fsize": limits.disk * 1024 ** 2, "files": files,
              "env": None if isolation.bwrap else env}
    return [sys.executable, "-S", sandbox.__file__, json.dumps(config), "--"] + command


def _shutdown(client, km, cgroup, uid, isolation):
    """Stop everything the kernel started: the kernel, its process group, its cgroup, its private user."""
    from nbclient.util import run_sync

    left = []
    if isolation.root:
        left = sandbox.uid_processes(uid)
    pid = getattr(getattr(km, "provisioner", None), "pid", None)
    try:
        if getattr(client, "kc", None) is not None:
            client.kc.stop_channels()
    except Exception:  # channels already closed
        pass
    try:
        run_sync(km.shutdown_kernel)(now=True)
    except Exception:  # a kernel that is already gone
        pass
    if pid:
        try:
            os.killpg(pid, 9)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    limits_hit = cgroup.events() if cgroup is not None else {}
    if cgroup is not None:
        cgroup.destroy()
    if isolation.root:
        sandbox.kill_uid(uid)
    try:
        run_sync(km.cleanup_resources)()
    except Exception:  # nothing left to clean
        pass
    if pid:
        sandbox.reap(pid)
    return max(0, len(left) - 1), limits_hit
