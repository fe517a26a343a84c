"""The nouns of lift3d, no I/O: `Rig` (named cameras), `Skeleton` (joint sets and mappings), and the
containers of 2D keypoints and 3D motion that readers fill and writers empty."""
