"""What models learn from: Human3.6M in memory with its splits and protocols, the multi-view image layout
of learnable-triangulation with its prefetching loader, the fetcher of the real sample capture, DeepMimic's
motion-capture clips (`deepmimic`) and 3D motion to train a lifter on (`motion_dataset`)."""
