"""Many trials of `lift3d run`: one after another, in local processes (``--jobs N``) or on a Dask cluster
(``--scheduler ADDRESS``). One failing trial never stops the others; each trial's outcome is returned.

Local processes are started with ``spawn`` (a forked JAX process can hang) and set to single-threaded
numerics (BLAS, OpenMP, XLA's CPU thread pool, OpenCV): N trials at once use N cores rather than N times all
of them. Dask (``pip install lift3d[cluster]``) is imported only for ``--scheduler``; the scheduler's workers
must be able to import lift3d and read the trial folders (a shared file system).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lift3d.apps.pipeline_stages import STAGES, TrialResult, run_trial
from lift3d.errors import Lift3DError, PipelineError

__all__ = ["TrialOutcome", "run_batch", "format_batch_table", "single_threaded_env"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "OPENCV_FOR_THREADS_NUM")  # fmt: skip
_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
CONNECT_TIMEOUT_S = 20.0  # how long to wait for a Dask scheduler


@dataclasses.dataclass(frozen=True)
class TrialOutcome:
    """One trial of a batch.

    Attributes:
        trial: The trial folder.
        status: "done" or "failed".
        error: The error's one line ("" when done).
        result: The stages and their times (None when failed).
        seconds: Wall time of the trial, s.
    """

    trial: Path
    status: str
    error: str = ""
    result: TrialResult | None = None
    seconds: float = 0.0


def _run_one(trial: Path, config: Any, out: Path | None, threads: int | None = None,
             quiet: bool = False) -> TrialOutcome:  # fmt: skip
    """One trial, every error caught and kept as its line (runs in a worker; `quiet`: what the stages print is
    dropped, for a worker process whose lines would mix with the others')."""
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            result = run_trial(trial, config, out=out, progress=False, threads=threads, log=None)
    except Exception as err:  # noqa: BLE001 - one trial's failure, whatever it is, must not stop the batch
        line = " ".join(str(err).split()) or type(err).__name__
        if not isinstance(err, Lift3DError | OSError):  # not the user's to fix: say what it was
            line = f"{type(err).__name__}: {line}"
        return TrialOutcome(trial, "failed", line, None, time.perf_counter() - start)
    return TrialOutcome(trial, "done", "", result, result.seconds)


@contextlib.contextmanager
def single_threaded_env() -> Iterator[None]:
    """Within the block, processes started inherit single-threaded numerics (variables the user set are kept)."""
    saved = {name: os.environ.get(name) for name in (*_THREAD_VARS, "XLA_FLAGS")}
    try:
        for name in _THREAD_VARS:
            os.environ.setdefault(name, "1")
        if "intra_op_parallelism_threads" not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_ONE_THREAD}".strip()
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _worker_init(jax_cache: str | None) -> None:
    """A worker process: the parent's compilation cache (so trials do not compile the same programs again)."""
    if jax_cache:
        import jax

        jax.config.update("jax_compilation_cache_dir", jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _jax_cache() -> str | None:
    import sys

    jax = sys.modules.get("jax")  # only if the parent uses JAX already
    return jax.config.jax_compilation_cache_dir if jax is not None else None


def run_batch(
    trials: Sequence[Path],
    config: Any,
    *,
    outs: Sequence[Path | None],
    jobs: int = 1,
    scheduler: str | None = None,
    log: Callable[[str], None] = print,
) -> list[TrialOutcome]:
    """Run every trial, in order, in `jobs` local processes or on a Dask scheduler.

    Args:
        trials: The trial folders.
        config: A `lift3d.apps.pipeline.RunConfig`.
        outs: Output folder of each trial (None: ``TRIAL/lift3d``).
        jobs: Trials at once in local processes (1: in this process, one after another).
        scheduler: Address of a running Dask scheduler (``tcp://HOST:8786``); its workers run the trials.
        log: Called with a line as each trial ends.

    Returns:
        One outcome per trial, in the order of `trials`.

    Raises:
        PipelineError: Dask is not installed, or the scheduler cannot be reached.
    """
    work = list(zip(map(Path, trials), outs, strict=True))
    outcomes: dict[Path, TrialOutcome] = {}

    def done(outcome: TrialOutcome) -> None:
        outcomes[outcome.trial] = outcome
        line = "done" if outcome.status == "done" else f"failed: {outcome.error}"
        log(f"[{len(outcomes)}/{len(work)}] {outcome.trial}: {line} ({outcome.seconds:.1f} s)")

    if scheduler is not None:
        _on_dask(work, config, scheduler, done)
    elif jobs > 1 and len(work) > 1:
        _in_processes(work, config, jobs, done)
    else:
        for trial, out in work:
            done(_run_one(trial, config, out))
    return [outcomes[trial] for trial, _ in work]


def _in_processes(work, config, jobs: int, done: Callable[[TrialOutcome], None]) -> None:
    context = multiprocessing.get_context("spawn")
    with single_threaded_env(), concurrent.futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(work)), mp_context=context, initializer=_worker_init, initargs=(_jax_cache(),)
    ) as pool:  # fmt: skip
        futures = {pool.submit(_run_one, trial, config, out, 1, True): trial for trial, out in work}
        try:
            for future in concurrent.futures.as_completed(futures):
                done(_outcome(future, futures[future]))
        except BaseException:  # Ctrl-C: no new trial starts
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _outcome(future, trial: Path) -> TrialOutcome:
    """The outcome of a finished future; a worker that died is a failed trial."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - the worker process died, or the cluster lost it
        return TrialOutcome(trial, "failed", f"{type(err).__name__}: {' '.join(str(err).split())}")


def _on_dask(work, config, scheduler: str, done: Callable[[TrialOutcome], None]) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise PipelineError("--scheduler needs Dask: pip install 'lift3d[cluster]' (dask[distributed])") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise PipelineError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({err})") from None
    try:
        futures = {client.submit(_run_one, trial, config, out, pure=False, key=f"lift3d-run-{i}-{trial.name}"): trial
                   for i, (trial, out) in enumerate(work)}  # fmt: skip
        for future in as_completed(list(futures)):
            done(_outcome(future, futures[future]))
    finally:
        client.close()


def format_batch_table(outcomes: Sequence[TrialOutcome], root: Path | None = None) -> str:
    """One row per trial (its path in `root`): status, wall time, each stage's time in this run (or its
    status), the error line."""
    names = [os.path.relpath(o.trial, root) if root is not None else str(o.trial) for o in outcomes]
    width = max([len(n) for n in names] + [5])
    lines = [f"{'trial':<{width}} {'status':<7} {'s':>7} " + " ".join(f"{s:>11}" for s in STAGES) + "  error"]
    for name, o in zip(names, outcomes, strict=True):
        cells = []
        for stage in STAGES:
            run = next((s for s in o.result.stages if s.name == stage), None) if o.result else None
            cells.append(f"{'-' if run is None else run.status if run.status != 'ran' else f'{run.seconds:.1f}':>11}")
        lines.append(f"{name:<{width}} {o.status:<7} {o.seconds:>7.1f} " + " ".join(cells) + f"  {o.error}")
    failed = sum(o.status != "done" for o in outcomes)
    lines.append(f"{len(outcomes) - failed} of {len(outcomes)} trials done" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)
