"""PositionArray: one (n, 3) block that behaves like caveclient's column of row arrays."""

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa

from cave_widgets.client.materialize.positions import PositionArray


def frame():
    return pd.DataFrame({"id": [1, 2, 3, 4],
                         "pt_position": PositionArray(np.arange(12).reshape(4, 3))})


def test_rows_are_arrays_and_stack_back():
    df = frame()
    row = df.pt_position.iloc[1]
    assert isinstance(row, np.ndarray) and row.tolist() == [3, 4, 5]
    assert np.vstack(df.pt_position.values).tolist() == np.arange(12).reshape(4, 3).tolist()
    assert np.stack(df.pt_position.to_numpy()).shape == (4, 3)
    assert df.pt_position.to_numpy().dtype == object
    assert [r.tolist() for r in df.pt_position.tolist()] == [[0, 1, 2], [3, 4, 5], [6, 7, 8],
                                                             [9, 10, 11]]


def test_frame_operations_keep_rows_aligned():
    df = frame()
    assert df[df.id > 2].pt_position.iloc[0].tolist() == [6, 7, 8]
    assert df.sort_values("id", ascending=False).pt_position.iloc[0].tolist() == [9, 10, 11]
    both = pd.concat([df, df])
    assert len(both) == 8 and both.pt_position.iloc[5].tolist() == [3, 4, 5]
    again = pickle.loads(pickle.dumps(df))
    assert again.pt_position.iloc[3].tolist() == [9, 10, 11]
    assert df.pt_position.apply(lambda p: int(p[0])).tolist() == [0, 3, 6, 9]


def test_left_join_misses_are_missing():
    df = frame()
    merged = df.merge(df.iloc[:2], on="id", how="left")
    assert merged.pt_position_y.isna().tolist() == [False, False, True, True]


def test_arrow_and_display():
    df = frame()
    assert pa.Table.from_pandas(df).schema.field("pt_position").type == pa.list_(pa.int64(), 3)
    assert "[9, 10, 11]" in repr(df)
