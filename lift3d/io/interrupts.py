"""Ctrl-C while a `lift3d` command runs: it stops (exit 130, one line) and no output is touched.

`lift3d.cli.main` holds an `InterruptGuard` while a command runs; the outputs themselves are protected by
`lift3d.io.atomic` (temporary files, sets that commit all or none, commits blocked after Ctrl-C).
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time

from lift3d.io.atomic import block_commits, discard_temporaries

__all__ = ["GRACE_S", "InterruptGuard"]

GRACE_S = 1.0  # after Ctrl-C, how long a command may take to stop by itself before it is stopped


class InterruptGuard:
    """Ctrl-C while a command runs: exit 130 with one line, whatever the command is doing, no output touched.

    Python turns SIGINT into a KeyboardInterrupt at the next bytecode of the main thread, wherever that is, and
    two things used to lose it: JAX registers a garbage-collection callback (``_xla_gc_callback``), and an
    exception raised inside a gc callback is "ignored" (printed, then dropped), so the command carried on and
    exited 0 (while JAX imports and compiles, the interrupt mostly landed there); and a long call into C (an
    XLA compilation) holds it back until the call returns. So here:

    - the handler also stops every `OutputSet` from committing (`lift3d.io.atomic.block_commits`), so
      nothing is written after Ctrl-C even if the KeyboardInterrupt were swallowed;
    - a KeyboardInterrupt dropped as "unraisable" is noted (`sys.unraisablehook`, which also keeps it from
      being printed) and raised again, from the watchdog, a few milliseconds later;
    - a watchdog thread, woken by the signal itself (`signal.set_wakeup_fd`, which works while the main thread
      is inside C), stops the process if it has not stopped by itself within `GRACE_S` seconds: it deletes
      every temporary file (`discard_temporaries`), prints the line and exits 130 without unwinding.
    """

    def __init__(self, label: str):
        """A guard for the command called `label` (not active until `install`)."""
        self.label = label  # "lift3d triangulate": the line is "LABEL: interrupted"
        self.interrupted = False
        self.reported = False
        self._again = False
        self._done = threading.Event()
        self._installed = False

    def install(self) -> None:
        """Take over SIGINT (main thread only; elsewhere Python delivers no signals). A process started with
        SIGINT ignored (a background job of a script) keeps ignoring it."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            return
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._thread = threading.Thread(target=self._watch, name="lift3d-ctrl-c", daemon=True)
        self._hook = sys.unraisablehook
        self._previous = signal.signal(signal.SIGINT, self._on_signal)
        self._installed = True  # from here on, `uninstall` puts everything back
        sys.unraisablehook = self._on_unraisable
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread.start()

    def uninstall(self) -> None:
        """Give SIGINT back (and let `OutputSet`s commit again: `main` may be called again in-process)."""
        self._done.set()
        if not self._installed:
            return
        self._installed = False
        signal.set_wakeup_fd(getattr(self, "_old_fd", -1))
        signal.signal(signal.SIGINT, self._previous)
        sys.unraisablehook = self._hook
        os.close(self._write)  # the watchdog reads end-of-file and returns
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)
        os.close(self._read)
        block_commits(False)

    def _on_signal(self, signum, frame) -> None:
        self.interrupted = True
        block_commits()
        raise KeyboardInterrupt

    def _on_unraisable(self, unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            self._again = True  # dropped (e.g. raised in a gc callback): the watchdog raises it again
            return
        self._hook(unraisable)

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data or self._done.is_set():
                return
            if signal.SIGINT in data:
                break
        block_commits()
        deadline = time.monotonic() + GRACE_S
        while not self._done.wait(0.01):  # until the command stops by itself, or the deadline
            if self._again:
                self._again = False
                _thread.interrupt_main()  # at the main thread's next bytecode (not from a callback, mostly)
            if time.monotonic() > deadline:
                break
        else:
            return
        discard_temporaries(final=True)
        if not self.reported:
            os.write(2, f"{self.label}: interrupted\n".encode())
        os._exit(130)
