"""Grade a batch on a Dask cluster: ``vae-course grade ... --scheduler tcp://HOST:8786``.

Each submission is ONE Dask task, :func:`grade_task`, that runs on a worker exactly what
local grading runs on this machine: :func:`~vae_course.grading.runner.run_supervisor`, the
per-submission supervisor process (a fresh limited kernel runs the notebook, a separate
fresh checker process checks the exercises, everything it started is killed and its files
removed afterwards). Everything the task needs travels with it: the notebook's text (read
here before anything ran), the extracted exercise code, and the ``--checks`` files' sources
(written to a private folder on the worker). So the rows are built here, by the same
:meth:`~vae_course.grading.runner.Batch.start` and :meth:`~vae_course.grading.runner.Batch.finish`
as local grading, and the gradebook is the same. :func:`grade_on_cluster` is an executor
(:mod:`~vae_course.grading.runner`): the batch is handed it and never imported from here.

Failures:

* a worker that dies mid-task (killed, out of memory, its machine lost): the scheduler
  runs the task again on another worker; each submission gives exactly one row, whatever
  happened to the workers; the task's folder goes with the worker's directory;
* a submission that kills every worker it runs on: after ``allowed-failures + 1`` workers
  died *running* it (``distributed.scheduler.allowed-failures``: :data:`ALLOWED_FAILURES`
  for ``--scheduler local``; a scheduler you start yourself reads it from its own config)
  the submission's run is ``died``, its exercises ``error`` - never an endless retry; a
  task that only waited on a worker another submission killed is sent again;
* a supervisor that gives no result although its worker lived is run once more, as
  locally.

A supervisor dies with its worker (``PR_SET_PDEATHSIG``) and then kills what it started.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .options import GradingError
from .protocol import Graded, RunReport, RunStatus, SubmissionOutcome, SupervisorJob, first_line
from .runner import Batch, run_supervisor
from .sandbox import remove_tree
from .submissions import Submission

#: ``distributed.scheduler.allowed-failures`` of the ``--scheduler local`` cluster: a task may kill
#: this many workers and still be retried; one more and the submission is reported as ``died``.
ALLOWED_FAILURES = 2

#: The scheduler's settings for ``--scheduler local`` (set them in the config of a scheduler you start yourself):
#: ``worker-saturation`` 1.0 sends a worker no more tasks than it has threads, so a worker that dies takes
#: down only the submission it was grading. (Dask holds tasks back only in a batch larger than twice the
#: cluster's threads; in a smaller one a task may wait on a busy worker, and :func:`grade_on_cluster` does
#: not count that worker's death against it.)
LOCAL_CONFIG = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                "distributed.scheduler.worker-saturation": 1.0}

#: A submission is sent at most this many times, whatever happened to its tasks: never an endless retry.
MAX_TRIES = 3 * (ALLOWED_FAILURES + 1)

#: The topic of the scheduler's events by which a task says that it started running on a worker.
STARTED = "vae-course-grading-started"

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


def _current_worker():
    """The Dask worker running this task, or None outside a Dask task."""
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def grade_task(job_json: dict, checks: list) -> dict | None:
    """Grade one submission on a Dask worker: the supervisor's result as JSON, or None if it gave none.

    ``checks`` is ``[[file name, source], ...]`` of the teacher's ``--checks`` files, written to a
    private folder (the worker need not share the teacher's disk); the folder goes afterwards.

    The folder lies inside the worker's own directory: the supervisor removes it even when the worker
    is killed, but a worker killed while the task starts (before its supervisor took over) would leave
    it behind; Dask's nanny removes a dead worker's directory, and all in it, as the worker stops.
    The task first logs :data:`STARTED` with its key on the scheduler (see :func:`grade_on_cluster`).
    """
    worker = _current_worker()
    parent = worker.local_directory if worker is not None else tempfile.gettempdir()
    if worker is not None:
        worker.log_event(STARTED, {"key": str(worker.get_current_task())})
    workdir = Path(tempfile.mkdtemp(prefix="vae-grade-task-", dir=parent))
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


@dataclass
class _InFlight:
    """One submission on its way through the cluster: its row, its job, and what happened to its tasks."""

    sub: Submission
    row: Graded
    job_json: dict
    index: int
    tries: int = 0      # tasks submitted so far
    deaths: int = 0     # workers that died while one of its tasks ran there
    empty: bool = False  # a supervisor already gave no result once


def _submit(client, item: _InFlight, checks: list):
    item.tries += 1
    key = f"vae-grade-{item.index}-{item.sub.student}" + (f"-try{item.tries}" if item.tries > 1 else "")
    return client.submit(grade_task, item.job_json, checks, pure=False, key=key)


def _started(client, key: str) -> int:
    """How many times the task ``key`` started on a worker (its :data:`STARTED` events on the scheduler)."""
    return sum(1 for _, message in client.get_events(STARTED) if message.get("key") == key)


def grade_on_cluster(batch: Batch, subs: list, scheduler: str, progress: bool = False) -> list:
    """Grade ``subs`` as one Dask task each; one :class:`~vae_course.grading.protocol.Graded` per submission.

    When a task is lost with its workers (``KilledWorker``), only the deaths of workers that were
    *running* it count against the submission (each run logs :data:`STARTED`): the scheduler also
    gives up on a task that merely waited on a worker that another submission took down. A
    submission is ``died`` once more workers died running it than the scheduler's
    ``allowed-failures``, or after :data:`MAX_TRIES` tasks; otherwise it is sent again.
    """
    import sys

    from distributed import as_completed
    from tqdm.auto import tqdm

    checks = [[Path(p).name, Path(p).read_text(encoding="utf-8")] for p in batch.options.checks_files]
    client, cluster = connect(scheduler, batch.options.n_workers)
    bar = tqdm(total=len(subs), desc="grading", unit="submission", disable=None if progress else True,
               file=sys.stderr)
    graded, tasks = [], {}
    try:
        allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        queue = as_completed()
        for index, sub in enumerate(subs):
            row, job = batch.start(sub)
            if job is None:
                graded.append(row)
                bar.update(1)
                continue
            item = _InFlight(sub, row, job.to_json(), index)
            future = _submit(client, item, checks)
            tasks[future] = item
            queue.add(future)
        for future in queue:
            item = tasks.pop(future)
            outcome, failure = _outcome(future)
            again = False
            if failure is not None and failure.status is RunStatus.DIED:
                item.deaths += _started(client, future.key)
                again = item.deaths <= allowed and item.tries < MAX_TRIES  # it waited where others killed
            elif outcome is None and failure is None:
                again, item.empty = not item.empty, True  # no result although the worker lived: once more
            if again:
                future = _submit(client, item, checks)
                tasks[future] = item
                queue.add(future)
                continue
            graded.append(batch.finish(item.sub, item.row, outcome, failure))
            bar.update(1)
    except BaseException:
        client.cancel(list(tasks))
        raise
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return graded
