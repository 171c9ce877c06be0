"""The precomputed mirror's formats, written by the server and read back with independent
readers (helpers/precomputed.py): compressed_segmentation chunks (every bit width, edge
blocks, shared tables, relabelling), legacy mesh fragments (closed, outward tubes and
spheres), the volume info and its levels, the segment-properties document."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.precomputed import decode_compressed_segmentation, parse_legacy_mesh

from cave_widgets.server.demo.segmentation import VOLUME_MAX, VOLUME_MIN, VOXEL_NM
from cave_widgets.server.precomputed import compressed_segmentation as cseg
from cave_widgets.server.precomputed import meshes, properties, volume

BIG = np.uint64(2**64 - 5)


def roundtrip(labels: np.ndarray) -> np.ndarray:
    encoded = cseg.encode(labels)
    z, y, x = labels.shape
    return decode_compressed_segmentation(encoded.tobytes(), (x, y, z), cseg.BLOCK)


@pytest.mark.parametrize("n_labels", [1, 2, 3, 4, 5, 16, 17, 256, 257, 512])
def test_every_bit_width_decodes_to_the_labels(n_labels):
    rng = np.random.default_rng(n_labels)
    values = np.concatenate([[0, BIG], rng.integers(1, 2**63, n_labels, dtype=np.uint64)])
    values = np.unique(values)[:n_labels]
    labels = rng.choice(values, size=(8, 8, 8))
    labels.flat[: len(values)] = values  # every value present
    bits = int(cseg.bits_for(np.array([len(np.unique(labels))]))[0])
    assert bits == {1: 0, 2: 1, 3: 2, 4: 2, 5: 4, 16: 4, 17: 8, 256: 8, 257: 16,
                    512: 16}[n_labels]
    encoded = cseg.encode(labels)
    header = encoded.words[1]
    assert header >> 24 == bits
    assert np.array_equal(roundtrip(labels), labels)


@pytest.mark.parametrize("shape", [(64, 64, 64), (13, 21, 5), (1, 1, 1), (9, 8, 17)])
def test_chunks_of_any_shape_decode(shape):
    rng = np.random.default_rng(sum(shape))
    labels = np.zeros(shape, np.uint64)
    labels[rng.random(shape) < 0.1] = BIG
    labels[rng.random(shape) < 0.05] = np.uint64(12345678901234567)
    assert np.array_equal(roundtrip(labels), labels)


def test_blocks_with_the_same_labels_share_one_table():
    labels = np.zeros((64, 64, 64), np.uint64)
    labels[:8, :8, :8] = 7
    encoded = cseg.encode(labels)
    # 511 empty blocks and one block of 7s: two tables of one entry each
    assert sorted(encoded.table_values.tolist()) == [0, 7]
    assert encoded.words.nbytes == 4 * (1 + 2 * 512 + 2 * 2)


def test_relabelling_writes_other_values_into_the_tables():
    rng = np.random.default_rng(3)
    labels = rng.integers(1, 6, size=(16, 16, 16)).astype(np.uint64) * np.uint64(10**15)
    labels[0, 0, :4] = 0
    encoded = cseg.encode(labels)
    mapping = {0: 0, **{int(v): int(BIG) - int(v) // 10**15 for v in np.unique(labels) if v}}
    data = encoded.relabelled([mapping[int(v)] for v in encoded.table_values])
    expected = np.vectorize(lambda v: mapping[int(v)], otypes=[np.uint64])(labels)
    assert np.array_equal(decode_compressed_segmentation(data, (16, 16, 16), cseg.BLOCK),
                          expected)
    # two labels that become one root: the table holds it twice, the chunk still decodes
    merged = encoded.relabelled([5 if v else 0 for v in encoded.table_values])
    assert np.array_equal(decode_compressed_segmentation(merged, (16, 16, 16), cseg.BLOCK),
                          np.where(labels != 0, 5, 0).astype(np.uint64))
    assert encoded.tobytes() != data  # the cached encoding itself is untouched


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        cseg.encode(np.zeros((0, 4, 4), np.uint64))
    with pytest.raises(ValueError):
        cseg.encode(np.zeros((4, 4), np.uint64))


# --- meshes ----------------------------------------------------------------------------------


def edges_of(triangles: np.ndarray) -> dict:
    """Directed edge → count. A closed, consistently wound surface has every directed edge
    once and its reverse once."""
    directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    keys, counts = np.unique(directed, axis=0, return_counts=True)
    return {tuple(k): c for k, c in zip(keys.tolist(), counts.tolist())}


def signed_volume(vertices, triangles) -> float:
    a, b, c = (vertices[triangles[:, i]].astype(float) for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def check_closed_and_outward(vertices, triangles, expected_volume, tolerance):
    counted = edges_of(triangles)
    assert set(counted.values()) == {1}
    assert all((b, a) in counted for a, b in counted)
    volume_found = signed_volume(vertices, triangles)
    assert volume_found > 0  # outward faces: the divergence theorem gives a positive volume
    assert volume_found == pytest.approx(expected_volume, rel=tolerance)


def test_a_tube_is_closed_wound_outwards_and_has_the_volume_of_its_cylinder():
    start, end, r = np.array([[0.0, 0, 0]]), np.array([[1000.0, 2000, 500]]), np.array([300.0])
    vertices, triangles = meshes.tubes(start, end, r)
    length = np.linalg.norm(end - start) + 2 * meshes.JOINT_OVERLAP * r[0]
    octagon = 0.5 * meshes.SIDES * r[0] ** 2 * np.sin(2 * np.pi / meshes.SIDES)
    check_closed_and_outward(vertices, triangles, octagon * length, 1e-6)
    # the surface stays within the radius of the segment (plus the joint overlap)
    assert np.linalg.norm(vertices - start, axis=1).max() <= length + r[0]


def test_a_sphere_is_closed_wound_outwards_and_close_to_the_ball():
    vertices, triangles = meshes.spheres(np.array([[5e5, 4e5, 6e5]]), np.array([4000.0]))
    check_closed_and_outward(vertices, triangles, 4 / 3 * np.pi * 4000.0**3, 0.15)
    assert np.allclose(np.linalg.norm(vertices - [5e5, 4e5, 6e5], axis=1), 4000.0)


def test_a_fragment_reads_back_as_written():
    vertices, triangles = meshes.tubes(np.array([[0.0, 0, 0], [5, 5, 5]]),
                                       np.array([[10.0, 0, 0], [5, 5, 5]]), np.array([1.0, 2]))
    assert len(vertices) == 2 * meshes.SIDES + 2  # the zero-length tube is left out
    data = meshes.encode_fragment(vertices, triangles)
    assert len(data) == 4 + 12 * len(vertices) + 12 * len(triangles)
    got_v, got_t = parse_legacy_mesh(data)
    assert np.array_equal(got_v, vertices.astype(np.float32))
    assert np.array_equal(got_t, triangles)
    assert got_t.max() < len(got_v)
    assert meshes.manifest(864691135000000001) == {
        "fragments": ["864691135000000001:0:all"]}


# --- the volume's info -----------------------------------------------------------------------


def test_volume_info_is_a_segmentation_volume_covering_the_demo_volume():
    info = json.loads(json.dumps(volume.volume_info()))
    assert info["@type"] == "neuroglancer_multiscale_volume"
    assert (info["type"], info["data_type"], info["num_channels"]) == ("segmentation",
                                                                        "uint64", 1)
    assert (info["mesh"], info["skeletons"], info["segment_properties"]) == (
        "mesh", "skeletons", "props")
    lo_nm, hi_nm = VOLUME_MIN * VOXEL_NM, VOLUME_MAX * VOXEL_NM
    previous = 0.0
    for scale in info["scales"]:
        res = np.array(scale["resolution"])
        assert res.min() >= previous  # fine to coarse
        previous = res.max()
        assert scale["encoding"] == "compressed_segmentation"
        assert scale["compressed_segmentation_block_size"] == [8, 8, 8]
        assert scale["chunk_sizes"] == [[64, 64, 64]]
        start = np.array(scale["voxel_offset"]) * res
        end = (np.array(scale["voxel_offset"]) + scale["size"]) * res
        assert (start <= lo_nm).all() and (end >= hi_nm).all()
        assert ((end - start) - (hi_nm - lo_nm) < 2 * res).all()
    assert max(info["scales"][-1]["size"]) <= volume.COARSEST_MAX_SIZE
    assert len({s["key"] for s in info["scales"]}) == len(info["scales"])


def test_chunk_names_off_the_grid_or_outside_are_refused():
    level = volume.LEVELS[0]
    x, y, z = level.voxel_offset
    with pytest.raises(ValueError):
        level.chunk_bounds(f"{x + 1}-{x + 65}_{y}-{y + 64}_{z}-{z + 64}")
    with pytest.raises(LookupError):
        level.chunk_bounds(f"{x - 64}-{x}_{y}-{y + 64}_{z}-{z + 64}")
    with pytest.raises(LookupError):
        volume.level_of("3nm")


# --- segment properties ----------------------------------------------------------------------


def test_segment_properties_document():
    doc = properties.document({
        864691135000000002: ({"BC"}, {"inhibitory neuron"}),
        864691135000000001: ({"5P-IT", "23P"}, {"excitatory_neuron"}),
        864691135000000003: ({"4P"}, set()),
    })
    assert doc["@type"] == "neuroglancer_segment_properties"
    inline = doc["inline"]
    assert inline["ids"] == ["864691135000000001", "864691135000000002", "864691135000000003"]
    label, tags = inline["properties"]
    assert label == {"id": "cell_type", "type": "label", "values": ["23P / 5P-IT", "BC", "4P"]}
    assert tags["type"] == "tags" and tags["tags"] == ["excitatory_neuron", "inhibitory_neuron"]
    assert tags["values"] == [[0], [1], []]
    assert all(" " not in t and not t.startswith("#") for t in tags["tags"])
