"""Worlds with known answers: H36M-proportioned bodies and motion (the twin), multi-view renders of them,
and calibration boards seen by rings of cameras."""
