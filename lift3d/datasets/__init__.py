"""What models learn from: Human3.6M in memory with its splits and protocols, the multi-view image layout
of learnable-triangulation with its prefetching loader, and the fetcher of the real sample capture."""
