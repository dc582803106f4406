"""Grade a batch on a Dask cluster: ``vae-course grade ... --scheduler tcp://HOST:8786``.

Each submission is ONE Dask task, :func:`grade_task`, that runs on a worker exactly what
local grading runs on this machine: :func:`~vae_course.grading.batch.run_supervisor`, the
per-submission supervisor process (a fresh limited kernel runs the notebook, a separate
fresh checker process checks the exercises, everything it started is killed and its files
removed afterwards). Everything the task needs travels with it: the notebook's text (read
here before anything ran), the extracted exercise code, and the ``--checks`` files' sources
(written to a private folder on the worker). So the rows are built here, by the same
:meth:`~vae_course.grading.batch.Batch.start` and :meth:`~vae_course.grading.batch.Batch.finish`
as local grading, and the gradebook is the same.

Failures:

* a worker that dies mid-task (killed, out of memory, its machine lost): the scheduler
  runs the task again on another worker; each submission gives exactly one row, whatever
  happened to the workers;
* a submission that kills every worker it runs on: the scheduler gives up after its
  ``distributed.scheduler.allowed-failures`` (:data:`ALLOWED_FAILURES` for ``--scheduler
  local``; a scheduler you start yourself reads it from its own config) and the
  submission's run is ``died``, its exercises ``error`` - never an endless retry;
* a supervisor that gives no result although its worker lived is run once more, as
  locally.

A supervisor dies with its worker (``PR_SET_PDEATHSIG``) and then kills what it started.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .batch import Batch, run_supervisor
from .options import GradingError
from .protocol import RunReport, RunStatus, SubmissionOutcome, SupervisorJob, first_line
from .sandbox import remove_tree

#: ``distributed.scheduler.allowed-failures`` of the ``--scheduler local`` cluster: a task may kill
#: this many workers and still be retried; one more and the submission is reported as ``died``.
ALLOWED_FAILURES = 2

#: The scheduler's settings for ``--scheduler local`` (set them in the config of a scheduler you start yourself):
#: ``worker-saturation`` 1.0 sends a worker no more tasks than it has threads, so a worker that dies takes
#: down only the submission it was grading - a task merely queued there would count that death as its own.
LOCAL_CONFIG = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                "distributed.scheduler.worker-saturation": 1.0}

_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def check_scheduler(value: str) -> str:
    """``value`` if it names a scheduler: ``local``, an address ``tcp://HOST:PORT``, or an existing scheduler file.

    Raises :class:`GradingError` (one line) otherwise; checked before anything runs.
    """
    if value == "local" or value.startswith(_SCHEMES):
        return value
    if Path(value).is_file():
        return value
    raise GradingError(f"--scheduler must be 'local', a Dask scheduler address such as tcp://HOST:8786, or an "
                       f"existing scheduler file (got {value!r}).")


def connect(scheduler: str, n_workers: int):
    """A ``distributed.Client`` for ``scheduler`` (and the LocalCluster it owns, or None)."""
    import dask
    from distributed import Client, LocalCluster

    check_scheduler(scheduler)
    if scheduler == "local":
        with dask.config.set(LOCAL_CONFIG):
            # one task per worker process: each task already runs a kernel and a checker process
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, memory_limit=0,
                                   dashboard_address=None)
        return Client(cluster), cluster
    try:
        if scheduler.startswith(_SCHEMES):
            return Client(scheduler, timeout="30s"), None
        return Client(scheduler_file=scheduler, timeout="30s"), None
    except (OSError, TimeoutError, ValueError) as err:
        raise GradingError(f"cannot connect to the Dask scheduler {scheduler} ({type(err).__name__}: "
                           f"{first_line(err) or 'no answer'}).") from None


def grade_task(job_json: dict, checks: list) -> dict | None:
    """Grade one submission on a Dask worker: the supervisor's result as JSON, or None if it gave none.

    ``checks`` is ``[[file name, source], ...]`` of the teacher's ``--checks`` files, written to a
    private folder (the worker need not share the teacher's disk); the folder goes afterwards.
    """
    workdir = Path(tempfile.mkdtemp(prefix="vae-grade-task-"))
    try:
        paths = []
        for index, (name, source) in enumerate(checks):
            folder = workdir / "checks" / str(index)
            folder.mkdir(parents=True)
            (folder / name).write_text(source, encoding="utf-8")
            paths.append(str(folder / name))
        job = SupervisorJob.from_json(job_json)
        job.workdir, job.checks_files = str(workdir), paths
        outcome = run_supervisor(job, own_workdir=True)  # the folder goes even if this worker is killed
        return outcome.to_json() if outcome is not None else None
    finally:
        remove_tree(workdir)


def _outcome(future) -> tuple[SubmissionOutcome | None, RunReport | None]:
    """The supervisor's outcome of a finished task, or (None, why not)."""
    from distributed import KilledWorker

    try:
        result = future.result()
    except KilledWorker:
        return None, RunReport(RunStatus.DIED, "the grading process died each time this submission was graded (it "
                                              "took its Dask worker down with it), so the cluster gave up on it.")
    except Exception as err:  # noqa: BLE001 - e.g. a worker without the course package
        return None, RunReport(RunStatus.FAILED, f"the grader's task for this submission failed on the cluster "
                                                 f"({type(err).__name__}: {first_line(err)}).")
    if result is None:
        return None, None
    try:
        return SubmissionOutcome.from_json(result), None
    except (ValueError, TypeError, KeyError):
        return None, None


def grade_on_cluster(batch: Batch, subs: list, scheduler: str, progress: bool = False) -> list:
    """Grade ``subs`` as one Dask task each; one :class:`~vae_course.grading.protocol.Graded` per submission."""
    import sys

    from distributed import as_completed
    from tqdm.auto import tqdm

    checks = [[Path(p).name, Path(p).read_text(encoding="utf-8")] for p in batch.options.checks_files]
    client, cluster = connect(scheduler, batch.options.n_workers)
    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=None if progress else True,
               file=sys.stderr)
    graded, futures = [], {}
    try:
        for index, sub in enumerate(subs):
            row, job = batch.start(sub)
            if job is None:
                graded.append(row)
                bar.update(1)
                continue
            job_json = job.to_json()
            future = client.submit(grade_task, job_json, checks, pure=False, key=f"vae-grade-{index}-{sub.student}")
            futures[future] = (sub, row, job_json)
        retry = []
        for future in as_completed(list(futures)):
            sub, row, job_json = futures[future]
            outcome, failure = _outcome(future)
            if outcome is None and failure is None:
                retry.append((sub, row, job_json))  # no result although the worker lived: once more, as locally
            else:
                graded.append(batch.finish(sub, row, outcome, failure))
            bar.update(1)
        for sub, row, job_json in retry:
            future = client.submit(grade_task, job_json, checks, pure=False)
            outcome, failure = _outcome(future)
            graded.append(batch.finish(sub, row, outcome, failure))
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return graded
