"""Issue 19's attacks on the grader, as one small class graded once (2 workers): each cheat scores 0, each attack
on others leaves their scores unchanged, the course files are unchanged, the table is complete and nothing a
kernel started is alive afterwards. These start kernels (slow); the attacks on other kernels need the isolation of
a Linux machine where the tests run as root with bubblewrap (they are skipped elsewhere: there they would reach
the test runner itself).
"""

import csv
import hashlib
import json
import os

import pytest

from reglab.course import grading
from reglab.course.grading import Limits, sandbox
from tests.course.grading._notebooks import LAB, ROOT, SOLUTION, load
from tests.course.grading.test_batch import after_setup, stub, trimmed, with_function

ISOLATION = sandbox.detect()
pytestmark = pytest.mark.skipif(not (ISOLATION.root and ISOLATION.bwrap),
                                reason="needs root and a working bubblewrap (the attacks would reach the runner)")
LIMITS = Limits(cell=20, notebook=120, memory=3072, output=1, disk=64, processes=64, shm=16)
REAL_FILES = [ROOT / "reglab" / "course" / "checks" / "core.py", ROOT / "reglab" / "course" / "checks" / "lab01.py",
              ROOT / "instructor" / "hidden" / "lab01.py"]

EXERCISES = grading.lab_exercises(load(LAB))
ALL_STUBS = [e.function for e in EXERCISES]


def stubbed(*sources):
    """The lab with every exercise left as the stub, then ``sources`` as cells after the setup."""
    notebook = trimmed(SOLUTION)
    for name in ALL_STUBS:
        with_function(notebook, name, stub(name))
    return after_setup(notebook, *sources)


FORGE_RESULT = """
import json
from IPython.display import display
fake = {"passed": 5, "total": 5, "implemented": True, "messages": ["✓"]}
"""

ATTACKS = {
    # full marks without solving (each from the stub: an honest 0)
    "c1_fake_checker_module": stubbed(
        "import sys, types\n"
        "from reglab.course.checks import core\n"
        "fake = types.ModuleType('reglab.course.checks.core')\n"
        "fake.__dict__.update(core.__dict__)\n"
        "fake.run_check = lambda exercise, student, cases, **k: \\\n"
        "    core.Result(exercise, len(cases), len(cases), True, [])\n"
        "sys.modules['reglab.course.checks.core'] = sys.modules['reglab.checks.core'] = fake\n"
        "core.run_check = fake.run_check"),
    "c2_patched_torch_and_builtins": stubbed(
        "import torch, builtins\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda *a, **k: True\n"
        "int = lambda x: 1\nbool = lambda x: True\nlen = lambda x: 0"),
    "c3_lying_tensor": stubbed(
        "import torch\n"
        "class Liar(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        return True if 'close' in func.__name__ or 'equal' in func.__name__ else \\\n"
        "            super().__torch_function__(func, types, args, kwargs or {})\n"
        "def _liar(*args, **kwargs):\n"
        "    return torch.zeros(1).as_subclass(Liar)\n"
        "identity_grid = warp = affine_displacement = compose = index_to_physical = _liar"),
    "c4_forged_display_and_hook": stubbed(
        FORGE_RESULT
        + "import IPython.display as d\n"
        "real = d.display\n"
        "def forged(*objects, **kwargs):\n"
        "    for o in objects:\n"
        "        if isinstance(o, dict):\n"
        "            for mime, r in o.items():\n"
        "                if isinstance(r, dict):\n"
        "                    r.update(status='answered', visible=fake, hidden=fake, answers=[])\n"
        "    return real(*objects, **kwargs)\n"
        "d.display = forged\n"
        "def hook(result):\n"
        "    real({'application/vnd.reglab.grade+json': {'status': 'checked', 'visible': fake, 'hidden': fake}},"
        " raw=True)\n"
        "get_ipython().events.register('post_run_cell', hook)"),
    "c5_runs_the_solutions": stubbed(
        "import json\n"
        f"path = {str(SOLUTION)!r}\n"
        "try:\n"
        "    for cell in json.load(open(path))['cells']:\n"
        "        if cell.get('metadata', {}).get('nbgrader', {}).get('solution'):\n"
        "            exec(''.join(cell['source']))\n"
        "except OSError as error:\n"
        "    print('no solutions:', error)"),
    "c6_steals_a_classmate": stubbed(
        "import gc, json, os, sys\n"
        "stolen = None\n"
        "for folder in [os.getcwd(), os.path.dirname(os.getcwd()), SUBMISSIONS]:\n"
        "    try:\n"
        "        fd = os.open(folder, os.O_RDONLY)\n"
        "        stolen = os.read(os.open('a_correct.ipynb', os.O_RDONLY, dir_fd=fd), 10 ** 7)\n"
        "        break\n"
        "    except OSError:\n"
        "        pass\n"
        "try:\n"
        "    os.link(os.path.join(SUBMISSIONS, 'a_correct.ipynb'), 'copy.ipynb')\n"
        "    stolen = open('copy.ipynb', 'rb').read()\n"
        "except OSError:\n"
        "    pass\n"
        "if stolen:\n"
        "    for cell in json.loads(stolen)['cells']:\n"
        "        if cell.get('metadata', {}).get('nbgrader', {}).get('solution'):\n"
        "            exec(''.join(cell['source']))"),
    # breaking grading for others (each from the solution: an honest 5)
    "d1_daemon_and_plants": after_setup(trimmed(SOLUTION),
        "import glob, os, signal, time\n"
        "kernel = os.getpid()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        end = time.time() + 40\n"
        "        while time.time() < end:\n"
        "            for pid in os.listdir('/proc'):\n"
        "                if pid.isdigit() and int(pid) not in (os.getpid(), kernel):\n"
        "                    try:\n"
        "                        os.kill(int(pid), signal.SIGKILL)\n"
        "                    except OSError:\n"
        "                        pass\n"
        "            for folder in glob.glob('/tmp/reglab-grade-*/*') + glob.glob('/tmp/reglab-grade-*/*/*'):\n"
        "                try:\n"
        "                    os.makedirs(folder + '/ipython/profile_default/startup', exist_ok=True)\n"
        "                    open(folder + '/ipython/profile_default/startup/00.py', 'w').write('raise SystemExit')\n"
        "                except OSError:\n"
        "                    pass\n"
        "            time.sleep(0.2)\n"
        "    os._exit(0)\n"
        "time.sleep(1)"),
    "d2_course_and_out": after_setup(trimmed(SOLUTION),
        "import os\n"
        "for path in COURSE_FILES:\n"
        "    try:\n"
        "        fd = os.open(os.path.dirname(path), os.O_RDONLY)\n"
        "        os.write(os.open(os.path.basename(path), os.O_WRONLY | os.O_APPEND, dir_fd=fd), b'\\nFORGED = 1\\n')\n"
        "    except OSError as error:\n"
        "        print('blocked:', error)\n"
        "for attack in (lambda: os.makedirs(OUT + '/executed/a_correct.ipynb'),\n"
        "               lambda: os.symlink('/etc/passwd', OUT + '/scores.md'),\n"
        "               lambda: os.mkfifo(OUT + '/scores.csv')):\n"
        "    try:\n"
        "        attack()\n"
        "    except OSError as error:\n"
        "        print('blocked:', error)"),
    "d3_kills_its_parent": after_setup(trimmed(SOLUTION),
        "import os, signal\n"
        "try:\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "except OSError as error:\n"
        "    print('blocked:', error)"),
    "d4_resources": after_setup(trimmed(SOLUTION),
        "import os, signal, time\n"
        "children = []\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "print('forked', len(children))\n"
        "for pid in children[:-10]:      # room for the kernel's own threads; 10 stay behind\n"
        "    os.kill(pid, signal.SIGKILL)\n"
        "    os.waitpid(pid, 0)\n"
        "for folder in ('.', '/dev/shm'):\n"
        "    try:\n"
        "        with open(folder + '/big', 'wb') as stream:\n"
        "            for _ in range(200):\n"
        "                stream.write(b'x' * 1024 ** 2)\n"
        "    except OSError as error:\n"
        "        print('full:', error)\n"
        "    try:\n"
        "        os.remove(folder + '/big')\n"
        "    except OSError:\n"
        "        pass"),
    "d5_calls_reglab": with_function(trimmed(SOLUTION), "warp",
                                     "import reglab\ndef warp(moving, displacement):\n"
                                     "    return reglab.warp(moving, displacement)"),
}

ALL = set(ALL_STUBS)
EXPECTED = {   # student: the functions whose exercise fails (each cheat: all; each attack on others: none)
    "a_correct": set(), "z_correct": set(),
    "c1_fake_checker_module": ALL, "c2_patched_torch_and_builtins": ALL, "c3_lying_tensor": ALL,
    "c4_forged_display_and_hook": ALL, "c5_runs_the_solutions": ALL, "c6_steals_a_classmate": ALL,
    "d1_daemon_and_plants": set(), "d2_course_and_out": set(), "d3_kills_its_parent": set(),
    "d4_resources": set(), "d5_calls_reglab": {"warp"},
}
NAMES = {   # file name -> (student, status): every file gets a row, names cannot forge rows or formulas
    "..%2F..%2Fescape.ipynb": ("..%2F..%2Fescape", "skipped"),
    "w\n| 5 | forged |.ipynb": ("w\n| 5 | forged |", "invalid JSON"),
    "=HYPERLINK(1).ipynb": ("=HYPERLINK(1)", "invalid JSON"),
    "a~b.ipynb": ("a~b", "invalid JSON"), "a_b.ipynb": ("a_b", "invalid JSON"),
    "n" * 248 + ".ipynb": ("n" * 248, "invalid JSON"),
    "link.ipynb": ("link", "skipped"),
}


def _digest(files):
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("grades") / "out"
    snapshot = tmp_path_factory.mktemp("course")              # other work may edit the checkout's checkers meanwhile
    files = [snapshot / path.parent.name / path.name for path in REAL_FILES]      # checks/, hidden/
    for path, copy in zip(REAL_FILES, files):
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
    constants = (f"SUBMISSIONS = {str(folder)!r}\nOUT = {str(out)!r}\n"
                 f"COURSE_FILES = {[str(p) for p in files + REAL_FILES]!r}")
    notebooks = dict(ATTACKS, a_correct=trimmed(SOLUTION), z_correct=trimmed(SOLUTION))
    for name, notebook in notebooks.items():
        notebook["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source": constants, "outputs": [],
                                     "execution_count": None})
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    for name in NAMES:
        if name != "link.ipynb":
            (folder / name).write_text("{", encoding="utf-8")
    os.symlink("/etc/passwd", folder / "link.ipynb")
    before = _digest(files)
    reports = grading.grade(folder, lab=1, out=out, workers=2, limits=LIMITS, progress=False, isolation=ISOLATION,
                            checks=snapshot / "checks", hidden=snapshot / "hidden")
    with open(out / "scores.csv", encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    alive = [pid for pid in os.listdir("/proc") if pid.isdigit() and _kernel_like(pid)]
    return dict(reports={r.student: r for r in reports}, rows=rows, out=out, before=before, after=_digest(files),
                alive=alive)


def _kernel_like(pid):
    try:
        with open(f"/proc/{pid}/status") as stream:
            uid = next(int(line.split()[1]) for line in stream if line.startswith("Uid:"))
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            command = stream.read()
    except (OSError, StopIteration):
        return False
    return uid >= 1_400_000_000 or b"_kernel_main" in command or b"bwrap" in command


def test_every_cheat_scores_zero_and_every_other_score_is_what_it_earned(attacked):
    table = {}
    for student in EXPECTED:
        report = attacked["reports"][student]
        table[student] = (report.status, report.total, {e.function for e in EXERCISES
                                                        if not report.scores[e.key].passed})
    assert table == {student: ("graded", len(EXERCISES) - len(fails), fails) for student, fails in EXPECTED.items()}


def test_calling_reglab_is_named_in_the_reason(attacked):
    score = attacked["reports"]["d5_calls_reglab"].scores[next(e.key for e in EXERCISES if e.function == "warp")]
    assert score.reason == "calls reglab.warp: the exercise asks you to write it"


def test_course_files_are_unchanged(attacked):
    assert attacked["after"] == attacked["before"]


def test_nothing_a_kernel_started_is_alive_afterwards(attacked):
    assert attacked["alive"] == []
    assert attacked["reports"]["d4_resources"].notes, "the grader says what it had to kill or limit"
    assert any("process" in note for note in attacked["reports"]["d4_resources"].notes)


def test_the_table_is_complete_safe_and_the_outputs_are_the_graders(attacked):
    out, rows = attacked["out"], attacked["rows"]
    students = {row["student"].lstrip("'") if row["student"].startswith("'=") else row["student"]: row for row in rows}
    assert set(students) == set(EXPECTED) | {student for student, _ in NAMES.values()}
    for name, (student, status) in NAMES.items():
        assert students[student]["status"] == status, name
    assert students["=HYPERLINK(1)"]["student"] == "'=HYPERLINK(1)"
    table = (out / "scores.md").read_text(encoding="utf-8")
    assert "| w \\| 5 \\| forged \\| |" in table and "\n| 5 | forged" not in table
    assert oct(os.stat(out).st_mode & 0o777) == "0o700"
    for path in [out / "scores.csv", out / "scores.md", *(out / "feedback").iterdir(), *(out / "executed").iterdir()]:
        assert path.is_file() and not path.is_symlink(), path
        assert len(path.name) <= 75
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == len(rows) == len(set(feedback))
    assert len(list((out / "executed").iterdir())) == len(EXPECTED)
