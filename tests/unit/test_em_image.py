"""The demo's synthetic EM image: a precomputed pyramid that covers the demo volume at every
level, chunk names on the grid neuroglancer asks for, deterministic voxels, and a picture
that stays the same grey and keeps its contrast from full resolution to the coarsest level."""

from __future__ import annotations

import numpy as np
import pytest

from cave_widgets.server.demo import em_image
from cave_widgets.server.demo.catalog import VOXEL_RESOLUTION
from cave_widgets.server.demo.segmentation import VOLUME_MAX, VOLUME_MIN

LEVELS = em_image.LEVELS


def chunk_name(start, end) -> str:
    return "_".join(f"{a}-{b}" for a, b in zip(start, end))


def some_chunk(level, cell=(3, 2, 1)):
    start = np.array(level.voxel_offset) + np.array(level.chunk_size) * np.array(cell)
    end = np.minimum(start + level.chunk_size, np.array(level.voxel_offset) + level.size)
    return start, end


def test_the_info_is_a_neuroglancer_image_volume():
    info = em_image.volume_info()
    assert info["@type"] == "neuroglancer_multiscale_volume"
    assert (info["type"], info["data_type"], info["num_channels"]) == ("image", "uint8", 1)
    assert [s["key"] for s in info["scales"]][:2] == ["4_4_40", "8_8_40"]
    for scale in info["scales"]:
        assert scale["encoding"] == "raw"
        assert set(scale) == {"key", "size", "resolution", "voxel_offset", "chunk_sizes",
                              "encoding"}


def test_every_level_covers_the_demo_volume_and_the_last_is_small():
    low_nm, high_nm = VOLUME_MIN * VOXEL_RESOLUTION, VOLUME_MAX * VOXEL_RESOLUTION
    assert LEVELS[0].resolution == VOXEL_RESOLUTION
    previous = None
    for level in LEVELS:
        res = np.array(level.resolution)
        start_nm = np.array(level.voxel_offset) * res
        end_nm = (np.array(level.voxel_offset) + level.size) * res
        assert (start_nm <= low_nm).all() and (end_nm >= high_nm).all(), level.key
        assert (end_nm - start_nm - (high_nm - low_nm) <= 2 * res).all(), level.key
        if previous is not None:  # fine to coarse, never finer
            assert (res >= previous).all() and (res > previous).any()
        previous = res
    assert max(LEVELS[-1].size) <= em_image.COARSEST_MAX_SIZE
    top = LEVELS[-1].resolution
    assert 0.5 <= top[2] / top[0] <= 2  # coarse levels halve z too: about isotropic


def test_chunk_names_must_be_on_the_grid():
    level = LEVELS[0]
    start, end = some_chunk(level)
    assert [list(v) for v in level.chunk_bounds(chunk_name(start, end))] == [
        list(start), list(end)]
    with pytest.raises(ValueError, match="chunk grid"):
        level.chunk_bounds(chunk_name(start + 1, end + 1))
    with pytest.raises(ValueError, match="not a chunk name"):
        level.chunk_bounds("0-64_0-64")
    with pytest.raises(ValueError, match="not a chunk name"):
        level.chunk_bounds("a-b_c-d_e-f")
    with pytest.raises(ValueError, match="not a chunk name"):
        level.chunk_bounds(f"{2**70}-{2**70 + 64}_0-64_0-16")
    with pytest.raises(LookupError, match="outside"):
        level.chunk_bounds(chunk_name([0, 0, 0], level.chunk_size))
    with pytest.raises(LookupError, match="no scale"):
        em_image.chunk_bytes("3_3_3", chunk_name(start, end))


def test_the_last_chunk_of_a_row_is_cut_at_the_volume_edge():
    level = LEVELS[-1]
    offset, size, chunk = (np.array(v) for v in (level.voxel_offset, level.size,
                                                  level.chunk_size))
    last = (size - 1) // chunk
    start = offset + last * chunk
    end = offset + size
    data = em_image.chunk_bytes(level.key, chunk_name(start, end))
    assert len(data) == int(np.prod(end - start))


def test_chunks_are_deterministic_raw_uint8_x_fastest():
    level = LEVELS[0]
    start, end = some_chunk(level)
    voxels = em_image.render_chunk(level, start, end)
    assert voxels.dtype == np.uint8 and voxels.shape == tuple((end - start)[::-1])
    em_image.CACHE._chunks.clear()
    data = em_image.chunk_bytes(level.key, chunk_name(start, end))
    assert data == voxels.tobytes() == em_image.render_chunk(level, start, end).tobytes()
    # Neighbouring chunks join without a seam: the smooth fields continue across the edge.
    right = em_image.render_chunk(level, start + [64, 0, 0], end + [64, 0, 0])
    across = np.abs(voxels[:, :, -1].astype(int) - right[:, :, 0].astype(int)).mean()
    within = np.abs(voxels[:, :, -2].astype(int) - voxels[:, :, -1].astype(int)).mean()
    assert across < 2 * within + 5


@pytest.mark.parametrize("index", [0, 2, 5, len(LEVELS) - 1])
def test_the_picture_keeps_its_grey_and_contrast_at_every_level(index):
    level = LEVELS[index]
    samples = [em_image.render_chunk(level, *some_chunk(level, cell))
               for cell in ((1, 1, 1), (4, 3, 2), (2, 5, 3))]
    voxels = np.concatenate([s.ravel() for s in samples]).astype(float)
    assert 110 < voxels.mean() < 165, voxels.mean()
    assert voxels.std() > 8  # an image, not a flat grey
    assert np.mean((voxels == 0) | (voxels == 255)) < 0.01  # hardly any clipping


def test_the_cache_keeps_a_byte_budget():
    cache = em_image.ChunkCache(budget=100)
    for i in range(5):
        cache.put(("k", str(i)), bytes(30))
    assert cache.get(("k", "0")) is None and cache.get(("k", "4")) == bytes(30)
    assert cache._size <= 100
