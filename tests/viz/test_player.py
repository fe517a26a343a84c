"""The interactive player: its frame clock, and a window under xvfb."""

import os
import shutil
import subprocess
import sys

import pytest

from lift3d.viz import player


def test_playback_clock():
    play = player.Playback(10, fps=10)
    assert not play.tick(now=5.0) and play.frame == 0
    play.toggle(now=0.0)
    assert play.tick(now=0.35) and play.frame == 3
    assert play.tick(now=1.25) and play.frame == 2  # wrapped
    play.step(-1)
    assert not play.playing and play.frame == 1
    play.step(-3)
    assert play.frame == 8


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (interactive window test)")
def test_interactive_window_under_xvfb(tmp_path):
    code = (
        "import numpy as np; from lift3d.viz import player; from lift3d.viz.scene import Track, build_scene;"
        "s = build_scene([Track(np.random.default_rng(0).normal(size=(4, 5, 3)))], labels=True);"
        "player.show(s, close_after_s=0.5, window_size=(320, 240)); print('closed')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "closed" in out.stdout
