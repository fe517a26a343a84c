"""Files only: rigs, 2D keypoint formats, 3D motion formats, the Human3.6M layouts, image / video sources,
and atomic writes. Readers validate every field and name the file, frame and field in their errors."""
