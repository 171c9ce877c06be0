"""Skeletons of the demo's roots, made from the level-2 graph and the level-2 cache as the
SkeletonService makes them (build.py), written in its output formats (formats.py) and kept
per root in memory until an edit retires the root (cache.py)."""
