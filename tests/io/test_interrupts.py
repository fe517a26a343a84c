"""`deferred_interrupts`: Ctrl-C held back while a block runs (the CLI imports JAX in one), acted on at its end."""

import os
import signal

import pytest

from lift3d.io.atomic import deferred_interrupts
from lift3d.io.interrupts import InterruptGuard


def test_ctrl_c_inside_a_deferred_block_is_raised_at_its_end():
    guard = InterruptGuard("lift3d test")
    guard.install()
    reached_end_of_block = False
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_interrupts():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # bytecodes run: the guard's own handler would have raised by now
                    pass
                reached_end_of_block = True
        assert reached_end_of_block and guard.interrupted
    finally:
        guard.uninstall()


def test_without_ctrl_c_a_deferred_block_runs_through():
    with deferred_interrupts():
        value = 1
    assert value == 1
