"""The gate's totals on record before a request leaves: a killed driver's invocation counts what
it paid (recycle.pipeline.resume.InvocationJournal is what persists them).

A request is counted by the gate when it leaves (`hold` or `reserve`); with a `WriteAhead` the
gate answers that call only once a write of totals that include it has finished. Writes are
grouped: one is in flight at a time, and the next covers every request counted meanwhile, so a
slow store (an S3 PUT) adds about one write's latency to a request, never a write per request to
the job. A SIGKILL of the driver (and with it the gate) then leaves every request that left on
record; before, the journal was written every 5 s by the driver and a killed run's last seconds
of requests (24 in the chaos benchmark) were paid and counted nowhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Persist = Callable[[dict[str, Any]], None]  # writes the gate's totals (InvocationJournal.update)


class WriteAhead:
    """Group commits of `totals()` through `persist`, inside one event loop (the gate actor's).

    `covered()` waits until the totals as they are now are on record; `changed()` asks for a
    write without waiting. A write that fails is logged and counts as done: the run goes on, the
    next write may succeed.
    """

    def __init__(self, persist: Persist, totals: Callable[[], dict[str, Any]]):
        self.persist, self.totals = persist, totals
        self.asked = 0  # changes asked to be on record
        self.written = 0  # changes a finished write covered
        self.sealed = False
        self._done = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._warned = False

    async def covered(self) -> None:
        """Return once a write that began after this call has finished."""
        target = self.changed()
        while self.written < target and not self.sealed:
            self._done.clear()
            await self._done.wait()

    def changed(self) -> int:
        """Ask for a write of the totals as they are now; returns its ticket."""
        self.asked += 1
        if not self.sealed and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(self._write_until_current())
        return self.asked

    async def seal(self) -> None:
        """Finish the write in flight and write no more (the driver writes the last record)."""
        self.sealed = True
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        self._done.set()

    async def _write_until_current(self) -> None:
        while self.written < self.asked and not self.sealed:
            target, snapshot = self.asked, self.totals()
            try:
                await asyncio.to_thread(self.persist, snapshot)
            except Exception as err:  # the store refused: say so once, keep sending
                if not self._warned:
                    log.warning("could not persist the teacher totals: %s", err)
                    self._warned = True
            self.written = target
            self._done.set()
