"""lift3d.viz and lift3d.apps.view import no OpenCV, Open3D or matplotlib until a function needs it."""

import subprocess
import sys


def test_viz_imports_stay_light():
    code = (
        "import sys, lift3d.apps.view, lift3d.viz.scene, lift3d.viz.render, lift3d.viz.plots, lift3d.viz.overlay,"
        " lift3d.viz.offscreen, lift3d.viz.player, lift3d.viz.viewpoints;"
        "heavy = [m for m in ('cv2', 'open3d', 'matplotlib') if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
