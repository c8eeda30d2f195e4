"""Scoring on a Dask distributed cluster: ranges of left rows as tasks.

A :func:`matching.engine.candidates.plan` cuts a comparison into ranges of left rows
(with blocking, each range with the right records of its blocks). The job is
sent once to every worker, then each range is one task; results come back in
range order, so the output is the same, row for row, as a local run. A worker
lost mid-run does not change the result: the scheduler runs its tasks again
elsewhere.

``connect("local:N")`` starts a :class:`distributed.LocalCluster` of N worker
processes on this machine; any other address is an existing scheduler
(``tcp://host:8786``), for example one started by dask-jobqueue or on
Kubernetes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator

import pandas as pd

__all__ = ["connect", "close", "run_plan_dask", "task_ranges", "generate_candidates_dask"]

Progress = Callable[[int, int], None]


def connect(address: str, *, timeout: float = 30.0):
    """A Dask client for ``address``: ``local:N`` or a scheduler address.

    ``local:N`` starts N single-threaded worker processes on this machine and
    closes them with the client. Raises ``ValueError`` on a bad address or a
    scheduler that does not answer within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if address.startswith("local:"):
        count = address.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask {address!r}: expected local:N with N at least 1")
        try:
            cluster = LocalCluster(
                n_workers=int(count),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        except (OSError, RuntimeError) as exc:
            raise ValueError(
                f"--dask {address!r}: the local cluster did not start ({exc})"
            ) from None
        client = Client(cluster)
        client.close_cluster = True  # read by close()
        return client
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
        raise ValueError(f"--dask {address!r}: cannot reach the scheduler ({exc})") from None


def close(client) -> None:
    """Close a client from :func:`connect`, and its local cluster if it started one."""
    cluster = client.cluster if getattr(client, "close_cluster", False) else None
    client.close()
    if cluster is not None:
        cluster.close()


def _run_range(job, start: int, stop: int) -> pd.DataFrame:
    # One thread per task: the cluster's workers are the parallelism.
    return job.run(start, stop, workers=1)


def run_plan_dask(
    job,
    ranges: list[tuple[int, int]],
    client,
    *,
    progress: Progress | None = None,
    retries: int = 2,
) -> Iterator[pd.DataFrame]:
    """Run a plan's ranges as tasks on ``client``'s cluster; frames in range order.

    Parameters
    ----------
    job, ranges
        As :func:`matching.engine.candidates.plan` returns them.
    client : distributed.Client
        Where to run.
    progress : callable(done, total) or None
        Called as tasks finish (in any order) with the left rows done.
    retries : int
        Times a task that raised is tried again; tasks of a lost worker are
        run again by the scheduler whatever this is.

    Yields
    ------
    DataFrame
        One per range, in order; concatenated they equal the local result.
    """
    from distributed import as_completed

    if not ranges:
        yield job.run(0, 0, workers=1)
        return
    shared = client.scatter(job, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    futures = [
        client.submit(
            _run_range, shared, a, b, key=f"matchdesk-{run}-{i}", retries=retries, pure=False
        )
        for i, (a, b) in enumerate(ranges)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    total = ranges[-1][1]
    finished: set[int] = set()
    rows = 0
    following = 0
    try:
        for future in as_completed(futures):
            i = index[future.key]
            finished.add(i)
            rows += ranges[i][1] - ranges[i][0]
            if progress:
                progress(rows, total)
            while following in finished:
                frame = futures[following].result()
                futures[following].release()
                following += 1
                yield frame
    finally:
        client.cancel([*futures[following:], shared])


def task_ranges(job, ranges: list[tuple[int, int]], client) -> list[tuple[int, int]]:
    """The ranges to send as tasks: with blocking, at least four tasks a worker, so
    that every worker has work to the end; a full comparison keeps its slices."""
    from matching.engine.candidates import DEFAULT_CHUNK_ELEMENTS

    if not getattr(job, "blocking", None):
        return ranges
    slices = 4 * max(1, len(client.scheduler_info()["workers"]))
    pairs = sum(c.added for c in job.blocking.count())
    return job.blocking.chunks(min(DEFAULT_CHUNK_ELEMENTS, pairs // slices + 1))


def generate_candidates_dask(
    left: pd.DataFrame,
    right: pd.DataFrame,
    spec,
    *,
    address: str,
    keep: float = 0.5,
    top_k: int | None = 10,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """:func:`matching.engine.candidates.generate_candidates` run on the cluster at ``address``.

    The result is the same, row for row; ``ValueError`` when the cluster
    cannot be reached (see :func:`connect`).
    """
    from matching.engine.candidates import plan

    client = connect(address)
    try:
        slices = 4 * max(1, len(client.scheduler_info()["workers"]))
        job, ranges = plan(left, right, spec, keep=keep, top_k=top_k, slices=slices)
        ranges = task_ranges(job, ranges, client)
        frames = list(run_plan_dask(job, ranges, client, progress=progress))
    finally:
        close(client)
    return pd.concat(frames, ignore_index=True)
