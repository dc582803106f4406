"""Generate the hostile and broken submissions the grading tests grade in one batch.

``write_batch(folder, gradebook=..., victim=..., token=...)`` writes one file per
case into ``folder`` and returns ``EXPECTED``-style data: for each student the
status and points each exercise must get. (Generated rather than stored, because
nbval would run any ``.ipynb`` kept under ``tests/`` as a test.)

Most cases are small notebooks around the real exercise cell of notebook 00;
``correct`` and ``stub`` are the real solution and student notebooks. ``multi_*``
use the two test exercises of ``extra_checks.py`` (notebook ``99_grading_test``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vae_course.checks import exercises_for

ROOT = Path(__file__).resolve().parents[2]
CHECKS_FILE = Path(__file__).with_name("extra_checks.py")

CORRECT = "def average_image(images):\n    return images.mean(dim=0)\n"
WRONG = "def average_image(images):\n    return images.sum(dim=0)\n"
SETUP = "import math\n"  # the small notebooks leave torch out of their kernel: it keeps the suite fast
USE = "print('defined:', average_image.__name__)"
CHECK = "from vae_course import checks\nchecks.average_image(average_image)"


def exercise_cell(source: str, ex_id: str = "0.1"):
    return new_code_cell(source, metadata={"tags": [f"exercise-{ex_id}"]})


def notebook(*cells):
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def small(exercise_source: str, before=(), after=()):
    """A short notebook 00: hostile cells, setup, the exercise cell, a cell using it, more cells."""
    cells = [new_code_cell(c) for c in before]
    cells += [new_markdown_cell("### Exercise 0.1"), new_code_cell(SETUP), exercise_cell(exercise_source),
              new_code_cell(USE)]
    return notebook(*cells, *[new_code_cell(c) for c in after])


def sleeper(seconds: str) -> str:
    """Code that leaves `sleep <seconds>` running three ways: new session, double fork + setsid, empty env."""
    return f"""
import os, subprocess
subprocess.Popen(["sleep", "{seconds}1"], start_new_session=True)
subprocess.Popen(["sleep", "{seconds}2"], env={{}}, start_new_session=True)
_pid = os.fork()
if _pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execve("/bin/sleep", ["sleep", "{seconds}3"], {{}})
    os._exit(0)
os.waitpid(_pid, 0)
"""


def multi(*cells):
    return notebook(new_code_cell("import math"), *cells)


# Delegation to the course's own answers (issue 11): each scores 0 with "you called ... - write it yourself".
SLERP_DELEGATES = "from vae_course import latent\n\ndef slerp(z0, z1, t):\n    return latent.slerp(z0, z1, t)\n"
KL_DELEGATES = ("from vae_course import losses\n\ndef gaussian_kl(mu, logvar):\n"
                "    return losses.gaussian_kl(mu, logvar)\n")
LOGLIK_OWN = ("import torch.nn.functional as F\n\ndef bernoulli_log_likelihood(logits, x):\n"
              "    return -F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum(dim=1)\n")
ELBO_INDIRECT = ("import importlib\n\ndef elbo(logits, x, mu, logvar):\n"
                 "    return getattr(importlib.import_module('vae_course.losses'), 'elbo')(logits, x, mu, logvar)\n")
# Two ways around the delegation rule that scored full points before issue 24: the public escape hatch
# unwatched() (grading.integrity's, later vae_course.references'), and the unmarked original dug out of the
# reference's wrapper. Each falls back to the plain call where its trick no longer exists, so either way it is
# delegation (failed, called-reference).
SLERP_UNWATCHED = ("import contextlib\nfrom vae_course import latent, references\n"
                   "from vae_course.grading import integrity\n\n"
                   "def slerp(z0, z1, t):\n"
                   "    with getattr(integrity, 'unwatched', contextlib.nullcontext)(), \\\n"
                   "            getattr(references, 'unwatched', contextlib.nullcontext)():\n"
                   "        return latent.slerp(z0, z1, t)\n")
SLERP_CLOSURE = ("from vae_course import latent\n\ndef slerp(z0, z1, t):\n"
                 "    originals = [c.cell_contents for c in latent.slerp.__closure__ or () if callable(c.cell_contents)]\n"
                 "    return (originals or [latent.slerp])[0](z0, z1, t)\n")


KILL_WAITING_CHECKER = (
    "import os, signal, time\n"
    "killed = 0\n"
    "for _ in range(100):  # for up to 10 s: the checker may start a moment after this kernel\n"
    "    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "        try:\n"
    "            stat = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()\n"
    "            cmdline = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
    "        except OSError:\n"
    "            continue\n"
    "        if int(stat[1]) == os.getppid() and b'vae_course.grading.checker' in cmdline:\n"
    "            os.kill(int(pid), signal.SIGKILL)\n"
    "            killed += 1\n"
    "    if killed:\n"
    "        break\n"
    "    time.sleep(0.1)\n"
    "assert killed, 'found no waiting checker to kill'\n")


def delegating(*exercises):
    """A notebook whose tagged exercise cells are ``(id, source)``: identified by its tags."""
    return notebook(*[exercise_cell(source, ex_id) for ex_id, source in exercises])


ADD_ONE = "def add_one(x):\n    return x + 1\n"
DOUBLE = "def double(x):\n    return 2 * x\n"


def write_batch(folder: Path, gradebook: Path, victim_name: str = "victim", token: str = "3007") -> dict:
    """Write every case into ``folder``; returns {student: {exercise: (status, points)}, ...}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    victim = folder / f"{victim_name}.ipynb"
    totals = gradebook.with_name(f"{gradebook.stem}_totals.csv")
    vandalism = (f"import os\nopen({str(gradebook)!r}, 'w').write('student,notebook,exercise,points\\nvandal,00_welcome,0.1,100\\n')\n"
                 f"open({str(victim)!r}, 'w').write('overwritten by vandal')\n"
                 f"open({str(totals)!r}, 'w').write('vandal,100,1\\n')\n")
    notebooks = {
        victim_name: small(CORRECT),
        "deleted": notebook(new_code_cell(SETUP), new_code_cell(USE)),
        "renamed": small(CORRECT.replace("def average_image", "def mean_image")),
        "loop_in_exercise": small("def average_image(images):\n    while True:\n        pass\n"),
        "loop_swallowing_timeouts": small("def average_image(images):\n    while True:\n        try:\n"
                                          "            while True:\n                pass\n"
                                          "        except BaseException:  # swallows the check's time limit\n"
                                          "            pass\n"),
        "loop_top_level": small(CORRECT, before=["while True:\n    pass"]),
        "memory_hog": small("import torch\n\ndef average_image(images):\n"
                            "    hoard = torch.empty(2**34, dtype=torch.uint8)  # 16 GiB, more than allowed\n"
                            "    return images.mean(dim=0)\n",
                            before=["import torch\nhoard = torch.empty(2**34, dtype=torch.uint8)"]),
        "sys_exit": small("import sys\n\ndef average_image(images):\n    sys.exit(0)\n",
                          before=["import sys\nsys.exit(3)"]),
        "os_exit": small(CORRECT, before=["import os\nos._exit(1)"]),
        "os_exit_in_function": small("import os\n\ndef average_image(images):\n    os._exit(0)\n"),
        "keyboard_interrupt": small("def average_image(images):\n    raise KeyboardInterrupt\n",
                                    before=["raise KeyboardInterrupt"]),
        "segfault": small(CORRECT, before=["import ctypes\nctypes.string_at(0)"]),
        "segfault_in_function": small("import ctypes\n\ndef average_image(images):\n    ctypes.string_at(0)\n"),
        "monkeypatch_checks": small(WRONG, after=[
            "import vae_course.checks as vc\nfrom vae_course.checks import _run\n"
            "_run.run_check = lambda entry, fn, timeout=None: vc.Result(entry, 'passed')\n"
            "vc.average_image = lambda fn, timeout=None: vc.Result(vc.REGISTRY['0.1'], 'passed')\n"
            "for e in list(vc.REGISTRY.values()):\n    object.__setattr__(e, 'body', lambda fn, t: None)\n"
            + CHECK]),
        "monkeypatch_in_exercise": small("import torch\n_patched = setattr(torch, 'allclose', lambda *a, **k: True)\n"
                                         + WRONG),
        "fake_success": small("import os\n\ndef average_image(images):\n"
                              "    print('✅ Exercise 0.1 (average_image) passed.')\n"
                              "    os.write(1, b'{\"event\": \"result\", \"id\": \"0.1\", \"status\": \"passed\"}\\n')\n"
                              "    return images.sum(dim=0)\n",
                              after=["print('✅ Exercise 0.1 (average_image) passed. Score: 1 / 1')"]),
        "vandal": small("import os\n\ndef average_image(images):\n" + "".join(
                            f"    {line}\n" for line in vandalism.splitlines()[1:])
                        + f"    os.remove({str(victim)!r})\n    return images.sum(dim=0)\n",
                        before=[vandalism]),
        "daemon": small("import os, subprocess\n\ndef average_image(images):\n"
                        f"    subprocess.Popen(['sleep', '{token}4'], start_new_session=True)\n"
                        "    return images.mean(dim=0)\n", before=[sleeper(token)]),
        # No stdin: reading it at top level gets end-of-file or an error at once (never a hang), and so
        # does `input()` inside the exercise function in the checker.
        "reads_stdin": small("def average_image(images):\n    input('Press Enter to continue')\n"
                             "    return images.mean(dim=0)\n",
                             before=["import sys\nprint('read', len(sys.stdin.read()), 'characters')",
                                     "name = input('Your name? ')"]),
        # Kills the checker its supervisor started early (waiting, while this kernel runs): a fresh one grades it.
        "kills_waiting_checker": small(CORRECT, before=[KILL_WAITING_CHECKER]),
        "empty": notebook(),
        "delegates_slerp": delegating(("5.2", SLERP_DELEGATES)),
        "delegates_unwatched": delegating(("5.2", SLERP_UNWATCHED)),
        "delegates_closure": delegating(("5.2", SLERP_CLOSURE)),
        "delegates_losses": delegating(("2.1", KL_DELEGATES), ("2.2", LOGLIK_OWN), ("2.3", ELBO_INDIRECT)),
        "multi_correct": multi(exercise_cell(ADD_ONE, "99.1"), exercise_cell(DOUBLE, "99.2")),
        "multi_reordered": multi(exercise_cell(DOUBLE, "99.2"), new_code_cell("add_one(1)"),
                                 exercise_cell(ADD_ONE, "99.1")),
        "multi_partial": multi(exercise_cell(DOUBLE, "99.2")),
        # No tags (identified by its function names), a helper and a constant from other cells, and an
        # exercise that kills its process before the other one is checked.
        "multi_crash_untagged": multi(new_code_cell("import os\n\ndef add_one(x):\n    os._exit(0)\n"),
                                      new_code_cell("FACTOR = 2\n\ndef scale(x):\n    return FACTOR * x\n"),
                                      new_code_cell("def double(x):\n    return scale(x)\n")),
    }
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    shutil.copy(ROOT / "solutions" / "00_welcome.ipynb", folder / "correct.ipynb")
    shutil.copy(ROOT / "notebooks" / "00_welcome.ipynb", folder / "stub.ipynb")
    (folder / "malformed_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "def average_', "utf-8")
    (folder / "not_a_notebook.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe binary")

    ok, zero = ("passed", 1), lambda status: (status, 0)

    def unanswered(notebook: str) -> dict:  # every exercise of a course notebook that the submission leaves out
        return {entry.id: zero("missing") for entry in exercises_for(notebook)}

    expected = {
        "correct": {"0.1": ok}, "stub": {"0.1": zero("failed")}, victim_name: {"0.1": ok},
        "malformed_json": {"0.1": zero("invalid")}, "not_a_notebook": {"0.1": zero("invalid")},
        "empty": {"0.1": zero("missing")}, "deleted": {"0.1": zero("missing")}, "renamed": {"0.1": zero("missing")},
        "loop_in_exercise": {"0.1": zero("timeout")}, "loop_swallowing_timeouts": {"0.1": zero("timeout")},
        "loop_top_level": {"0.1": ok}, "memory_hog": {"0.1": zero("error")},
        "sys_exit": {"0.1": zero("error")}, "os_exit": {"0.1": ok}, "os_exit_in_function": {"0.1": zero("error")},
        "keyboard_interrupt": {"0.1": zero("error")}, "reads_stdin": {"0.1": zero("error")}, "segfault": {"0.1": ok},
        "segfault_in_function": {"0.1": zero("error")}, "monkeypatch_checks": {"0.1": zero("failed")},
        "monkeypatch_in_exercise": {"0.1": zero("error")}, "fake_success": {"0.1": zero("failed")},
        "vandal": {"0.1": zero("failed")}, "daemon": {"0.1": ok}, "kills_waiting_checker": {"0.1": ok},
        "delegates_slerp": {**unanswered("05_latent_space"), "5.2": zero("failed")},
        "delegates_unwatched": {**unanswered("05_latent_space"), "5.2": zero("failed")},
        "delegates_closure": {**unanswered("05_latent_space"), "5.2": zero("failed")},
        "delegates_losses": {**unanswered("02_elbo"),
                             "2.1": zero("failed"), "2.2": ("passed", 2), "2.3": zero("failed")},
        "multi_correct": {"99.1": ("passed", 2), "99.2": ("passed", 1)},
        "multi_reordered": {"99.1": ("passed", 2), "99.2": ("passed", 1)},
        "multi_partial": {"99.1": zero("missing"), "99.2": ("passed", 1)},
        "multi_crash_untagged": {"99.1": zero("error"), "99.2": ("passed", 1)},
    }
    assert set(expected) == {p.stem for p in folder.glob("*.ipynb")}
    return expected
