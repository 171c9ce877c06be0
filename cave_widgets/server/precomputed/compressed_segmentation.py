"""Neuroglancer's `compressed_segmentation` chunk encoding, for uint64 labels.

A chunk is cut into blocks (8 x 8 x 8 voxels here). Each block stores a lookup table of the
labels it holds and, per voxel, the index of its label in that table, packed with as few bits
as the table needs (0, 1, 2, 4, 8, 16 or 32). Most blocks of the demo volume hold one label
(0, no cell), so they cost a header and a shared one-entry table.

Layout, all little-endian uint32 words: one word per channel giving where the channel's data
starts (one channel: 1); then, from there, a two-word header per block (blocks x fastest):
``table offset | bits << 24`` and ``values offset`` (both in words, from the channel's start);
then the packed values and the tables (uint64 entries as low word, high word).

The encoding remembers where its table entries are (``Encoded.table_words``) so the labels
can be swapped for others without encoding again: the mirror stores supervoxel labels once
and writes the roots of any moment into a copy (two labels may then share a root: a table
may hold a value twice, which decoders accept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = (8, 8, 8)  # x, y, z
_BITS = (0, 1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Encoded:
    words: np.ndarray  # uint32, the whole chunk
    table_words: np.ndarray  # index (in words) of the low word of each table entry
    table_values: np.ndarray  # uint64 label of each table entry

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.table_words.nbytes + self.table_values.nbytes

    def relabelled(self, values: np.ndarray) -> bytes:
        """The chunk's bytes with table entry i holding values[i] instead."""
        values = np.asarray(values, dtype=np.uint64)
        words = self.words.copy()
        words[self.table_words] = (values & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        words[self.table_words + 1] = (values >> np.uint64(32)).astype(np.uint32)
        return words.astype("<u4").tobytes()

    def tobytes(self) -> bytes:
        return self.words.astype("<u4").tobytes()


def bits_for(n_labels: np.ndarray) -> np.ndarray:
    """Bits per voxel index for blocks holding n_labels distinct labels."""
    n = np.asarray(n_labels)
    out = np.full(n.shape, 32, dtype=np.int64)
    for bits in reversed(_BITS[:-1]):
        out[n <= (1 << bits)] = bits
    return out


def _blocks(labels_zyx: np.ndarray, block) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(number of blocks, voxels per block) in block order (x fastest) and voxel order
    within a block (x fastest), padded by repeating edge voxels (padding is never read, and
    a repeated label adds no table entry)."""
    bx, by, bz = block
    sz, sy, sx = labels_zyx.shape
    gx, gy, gz = -(-sx // bx), -(-sy // by), -(-sz // bz)
    padded = np.pad(labels_zyx, ((0, gz * bz - sz), (0, gy * by - sy), (0, gx * bx - sx)),
                    mode="edge")
    blocks = padded.reshape(gz, bz, gy, by, gx, bx).transpose(0, 2, 4, 1, 3, 5)
    return blocks.reshape(gz * gy * gx, bz * by * bx), (gx, gy, gz)


def encode(labels_zyx: np.ndarray, block=BLOCK) -> Encoded:
    """Encode one channel of uint64 labels shaped (z, y, x)."""
    labels = np.ascontiguousarray(labels_zyx, dtype=np.uint64)
    if labels.ndim != 3 or 0 in labels.shape:
        raise ValueError(f"labels must be a non-empty (z, y, x) array, got {labels.shape}")
    voxels, _ = _blocks(labels, block)
    n_blocks, per_block = voxels.shape
    order = np.argsort(voxels, axis=1, kind="stable")
    ordered = np.take_along_axis(voxels, order, axis=1)
    new = np.ones_like(ordered, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank = np.cumsum(new, axis=1) - 1
    index = np.empty_like(rank)
    np.put_along_axis(index, order, rank, axis=1)
    n_labels = rank[:, -1] + 1
    bits = bits_for(n_labels)

    headers = np.zeros((n_blocks, 2), dtype=np.uint32)
    chunks: list[np.ndarray] = []
    position = 2 * n_blocks  # words from the channel's start
    tables: dict[bytes, int] = {}
    table_at: list[int] = []
    table_values: list[np.ndarray] = []
    for b in range(n_blocks):
        nbits = int(bits[b])
        headers[b, 1] = position
        if nbits:
            per_word = 32 // nbits
            packed = index[b].astype(np.uint64).reshape(-1, per_word) << (
                np.arange(per_word, dtype=np.uint64) * np.uint64(nbits))
            words = np.bitwise_or.reduce(packed, axis=1).astype(np.uint32)
            chunks.append(words)
            position += len(words)
        table = ordered[b][new[b]]
        key = table.tobytes()
        offset = tables.get(key)
        if offset is None:
            offset = tables[key] = position
            chunks.append(np.stack([table & np.uint64(0xFFFFFFFF), table >> np.uint64(32)],
                                   axis=1).astype(np.uint32).ravel())  # low word first
            table_at.append(offset + 2 * np.arange(len(table)))
            table_values.append(table)
            position += 2 * len(table)
        if offset >= 1 << 24:
            raise ValueError("chunk too large for compressed_segmentation table offsets")
        headers[b, 0] = offset | (nbits << 24)
    channel = np.concatenate([headers.ravel(), *chunks]) if chunks else headers.ravel()
    words = np.concatenate([np.array([1], dtype=np.uint32), channel])
    return Encoded(words=words,
                   table_words=np.concatenate(table_at).astype(np.int64) + 1,
                   table_values=np.concatenate(table_values))
