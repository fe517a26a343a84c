"""lift3d: people filmed by several cameras to 3D joints.

Calibrate cameras, triangulate multi-camera 2D keypoints, lift single-view 2D detections to 3D, learn to
triangulate end to end, evaluate Human3.6M-style and look at the results in Open3D.

`import lift3d` stays light: it never imports OpenCV, Open3D or matplotlib; import the submodules you need,
e.g. `from lift3d.geometry.camera import Camera, project_points`.
"""

__version__ = "0.1.0"
