"""A pool of long-lived worker processes, one task each at a time.

Starting an interpreter with h5py, numpy, tifffile and rsciio costs 0.3-0.5 s, so
workers live for many tasks and are replaced after ``recycle_after`` of them (a slow
leak in a C library cannot accumulate).  Each worker has its own pipe and runs one task
at a time, so when one dies (a segfault, the memory limit) or overruns the time limit,
the pool knows exactly which file did it: that file fails and is reported, the worker is
replaced, and the other workers' files are not disturbed.  This is the reason for not
using ``ProcessPoolExecutor``, whose ``BrokenProcessPool`` fails every pending task at
once and cannot say which one crashed.

Workers are started with ``spawn`` (a clean interpreter, no inherited locks or HDF5
state) and die with the daemon (``PR_SET_PDEATHSIG``).  Before a worker is killed its
open temp file is noted from ``/proc`` and removed afterwards.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from emdconvert.watch import orphans
from emdconvert.watch.outcomes import Outcome
from emdconvert.watch.worker import READY, Result, Task, serve


@dataclass
class _Slot:
    process: BaseProcess
    conn: Connection
    task: Task | None = None
    ready: bool = False  # the worker said its imports are done
    started: float = 0.0
    tasks_done: int = 0
    temps: set[str] = field(default_factory=set)


class WorkerPool:
    """*size* worker processes with a memory limit (MB) and a per-file time limit (s)."""

    def __init__(
        self,
        size: int,
        *,
        memory_limit_mb: int | None,
        time_limit: float,
        recycle_after: int,
        note: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.size = size
        self.memory_limit_mb = memory_limit_mb
        self.time_limit = time_limit
        self.recycle_after = recycle_after
        self.note = note
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._retired: list[BaseProcess] = []
        self._stopping = False
        self.restarts = 0  # workers replaced after a crash, a timeout or an idle exit

    def start(self) -> None:
        self._slots = [self._new_slot() for _ in range(self.size)]

    def _new_slot(self) -> _Slot:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=serve, args=(child, self.memory_limit_mb), name="emdconvert-worker", daemon=True
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    # -- the daemon's view ---------------------------------------------------------
    def idle(self) -> int:
        """Workers ready for a task (a new worker is not, until its imports are done)."""
        return sum(slot.ready and slot.task is None for slot in self._slots)

    def running(self) -> list[Task]:
        return [slot.task for slot in self._slots if slot.task is not None]

    def submit(self, task: Task) -> None:
        slot = next(slot for slot in self._slots if slot.ready and slot.task is None)
        slot.task, slot.started = task, time.monotonic()
        slot.conn.send(task)

    def collect(self, timeout: float) -> list[Result]:
        """Results that arrived within *timeout*, plus crashed and timed-out tasks."""
        results = self._overdue()
        waitables: dict[Any, _Slot] = {slot.conn: slot for slot in self._slots}
        waitables.update({slot.process.sentinel: slot for slot in self._slots})
        for ready in wait(list(waitables), timeout=0 if results else timeout):
            slot = waitables[ready]
            if slot not in self._slots:
                continue  # replaced already (its pipe and sentinel were both ready)
            result = self._receive(slot)
            if result is not None:
                results.append(result)
        self._reap()
        return results

    def _receive(self, slot: _Slot) -> Result | None:
        try:
            if slot.conn.poll():
                message: Result | str = slot.conn.recv()
                if message == READY:
                    slot.ready = True
                    return None
                assert isinstance(message, Result)
                result = message
                slot.task = None
                slot.tasks_done += 1
                if slot.tasks_done >= self.recycle_after:
                    self._replace(slot, retire=True)
                return result
        except (EOFError, OSError):
            pass
        if slot.process.is_alive():
            return None
        return self._died(slot)

    def _died(self, slot: _Slot) -> Result | None:
        task = slot.task
        slot.process.join()
        code = slot.process.exitcode
        self._replace(slot, retire=False)
        if task is None:
            self.note(f"an idle worker exited (code {code}); replaced it")
            return None
        how = (
            f"killed by signal {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exited with code {code}"
        )
        orphans.sweep(Path(task.target).parent, recursive=False)
        return Result(
            task.row_id,
            Outcome.CRASHED,
            kind="crash",
            exit_code=70,
            exception_class="WorkerCrash",
            detail=f"the conversion process {how} (segfault or memory limit)",
        )

    def _overdue(self) -> list[Result]:
        now = time.monotonic()
        results = []
        for slot in list(self._slots):
            if slot.task is not None and now - slot.started > self.time_limit:
                task = slot.task
                self._kill(slot)
                self._replace(slot, retire=False)
                results.append(
                    Result(
                        task.row_id,
                        Outcome.TIMEOUT,
                        kind="timeout",
                        exit_code=70,
                        exception_class="TimeoutError",
                        detail=f"no result within the time limit of {self.time_limit:g} s",
                    )
                )
        return results

    def _kill(self, slot: _Slot) -> None:
        """SIGKILL the worker and remove the temp file it had open.

        The sweep of the task's output folder also catches a temp the worker created in
        the instant between the look at ``/proc`` and the kill (no process has it open).
        """
        temps = orphans.open_temps([slot.process.pid]) if slot.process.pid else set()
        slot.process.kill()
        slot.process.join()
        orphans.remove(temps)
        if slot.task is not None:
            orphans.sweep(Path(slot.task.target).parent, recursive=False)

    def _replace(self, slot: _Slot, *, retire: bool) -> None:
        index = self._slots.index(slot)
        if retire:
            slot.conn.send(None)
            self._retired.append(slot.process)
        slot.conn.close()
        if self._stopping:
            del self._slots[index]
        else:
            self.restarts += 0 if retire else 1
            self._slots[index] = self._new_slot()

    def _reap(self) -> None:
        self._retired = [p for p in self._retired if p.is_alive()]

    def stop(self, grace: float) -> list[Result]:
        """Let running tasks finish for *grace* seconds, then kill what still runs.

        Returns the results that arrived and an ``interrupted`` result for each task
        that was killed, so the daemon can put those files back in the queue.
        """
        self._stopping = True
        results = []
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline:
            results += self.collect(min(0.1, max(0.0, deadline - time.monotonic())))
        for slot in list(self._slots):  # idle ones too: no need to wait for their imports
            if slot.task is not None:
                results.append(Result(slot.task.row_id, Outcome.INTERRUPTED, detail="stopped"))
            self._kill(slot)
            slot.conn.close()
        for process in self._retired:
            process.join(5)
        self._slots = []
        return results
