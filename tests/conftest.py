"""Test-wide settings: keep the suite hermetic (no XLA programs persisted into the user's cache by `lift3d.cli`)."""

import os

os.environ.setdefault("LIFT3D_JAX_CACHE", "0")
