"""Fixtures of the viz tests."""

import pytest


@pytest.fixture(scope="module")
def offscreen():
    """Skip only where Open3D truly cannot open an offscreen context (no EGL driver)."""
    import open3d as o3d

    vis = o3d.visualization.Visualizer()
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        ok = vis.create_window(visible=False, width=32, height=32)
    if not ok:
        pytest.skip("Open3D cannot open an EGL offscreen context: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri")
    vis.destroy_window()
