"""Query bodies → validated SQL, with no server: every mistake is a 400 that names it."""

import duckdb
import pyarrow as pa
import pytest

from cave_widgets.server import query as q
from cave_widgets.server.errors import BadRequest
from cave_widgets.server.schemas import table_columns
from cave_widgets.server.store import Relation

COLUMNS = table_columns("cell_type_local")
ROWS = {
    "id": [1, 2, 3, 4],
    "valid": [True] * 4,
    "classification_system": ["exc", "exc", "inh", "inh"],
    "cell_type": ["23P", "4P", "BC", "MC"],
    "pt_position_x": [10, 20, 30, 40],
    "pt_position_y": [10, 20, 30, 40],
    "pt_position_z": [1, 2, 3, 4],
    "pt_supervoxel_id": [2**56 + 1, 2**56 + 2, 2**56 + 3, 0],
    "pt_root_id": [864691135000000001, 864691135000000002, 864691135000000003, 0],
}


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.register("cells", pa.table(ROWS))
    yield c
    c.close()


RELATION = Relation("cells", "SELECT * FROM cells", COLUMNS, (4.0, 4.0, 40.0))


def run(con, body, **kw):
    plan = q.single_table_plan(RELATION, body, 100, count=False, random_sample=None, **kw)
    return con.sql(plan.sql(), params=plan.params).to_arrow_table(), plan


def test_filters_combine(con):
    table, _ = run(con, {
        "filter_in_dict": {"cells": {"cell_type": ["23P", "BC", "MC"]}},
        "filter_notin_dict": {"cells": {"id": [4]}},
        "filter_greater_equal_dict": {"cells": {"pt_root_id": 864691135000000002}},
    })
    assert table.column("id").to_pylist() == [3]


def test_big_ids_stay_exact(con):
    table, _ = run(con, {"filter_equal_dict": {"cells": {"pt_root_id": 864691135000000001}}})
    assert table.column("pt_root_id").to_pylist() == [864691135000000001]


def test_spatial_and_regex(con):
    table, _ = run(con, {
        "filter_spatial_dict": {"cells": {"pt_position": [[15, 15, 0], [35, 35, 5]]}},
        "filter_regex_dict": {"cells": {"cell_type": "^(4P|BC)$"}},
    })
    assert table.column("id").to_pylist() == [2, 3]


def test_select_root_brings_supervoxel_and_position_splits(con):
    table, plan = run(con, {"select_columns": ["pt_root_id", "pt_position"]})
    assert table.column_names == [
        "pt_position_x", "pt_position_y", "pt_position_z", "pt_supervoxel_id", "pt_root_id"]
    assert plan.column_names == {"cells": {
        "pt_position": "pt_position", "pt_supervoxel_id": "pt_supervoxel_id",
        "pt_root_id": "pt_root_id"}}


def test_desired_resolution_scales_positions(con):
    table, plan = run(con, {"desired_resolution": [8, 8, 40], "select_columns": ["pt_position"]})
    assert table.column("pt_position_x").to_pylist() == [5.0, 10.0, 15.0, 20.0]
    assert table.column("pt_position_z").to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert plan.resolution == (8.0, 8.0, 40.0)


def test_paging_is_capped_and_ordered(con):
    table, plan = run(con, {"offset": 1, "limit": 1000})
    assert plan.limit == 100  # the row cap
    assert table.column("id").to_pylist() == [2, 3, 4]


def test_empty_in_list_matches_nothing(con):
    table, _ = run(con, {"filter_in_dict": {"cells": {"id": []}}})
    assert table.num_rows == 0


@pytest.mark.parametrize("body, words", [
    ({"filter_in_dict": {"cells": {"nope": [1]}}}, "no column 'nope'"),
    ({"filter_in_dict": {"other": {"id": [1]}}}, "names table 'other'"),
    ({"filter_in_dict": {"cells": {"id": ["12"]}}}, "holds integers"),
    ({"filter_in_dict": {"cells": {"id": [1.5]}}}, "holds integers"),
    ({"filter_in_dict": {"cells": {"id": [2**64]}}}, "64-bit"),
    ({"filter_in_dict": {"cells": {"id": 3}}}, "expected a list"),
    ({"filter_equal_dict": {"cells": {"pt_position": [1, 2, 3]}}}, "filter_spatial_dict"),
    ({"filter_spatial_dict": {"cells": {"pt_position": [[1, 2], [3, 4]]}}}, "bounding box"),
    ({"filter_spatial_dict": {"cells": {"pt_position": [[5, 0, 0], [1, 9, 9]]}}}, "below its max"),
    ({"filter_regex_dict": {"cells": {"id": "1"}}}, "text columns"),
    ({"filter_greater_dict": {"cells": {"cell_type": "A"}}}, "numeric columns"),
    ({"select_columns": ["id", "missing"]}, "no column 'missing'"),
    ({"limit": 0}, "limit must be a positive integer"),
    ({"offset": -1}, "offset must be"),
    ({"desired_resolution": [4, 4]}, "desired_resolution"),
    ({"filter_in_dict": ["cells"]}, "must map table names"),
])
def test_bad_bodies_name_the_problem(body, words):
    with pytest.raises(BadRequest) as err:
        q.single_table_plan(RELATION, body, 100, count=False, random_sample=None)
    assert words in err.value.message


def test_join_suffixes_only_shared_columns(con):
    other = Relation("types", "SELECT * FROM cells", COLUMNS, (4.0, 4.0, 40.0))
    plan = q.join_plan(
        RELATION, other, "id", "id", {}, 100, count=False,
        suffixes={"cells": "", "types": "_ref"},
        select_map={"cells": ["cell_type"], "types": ["cell_type", "id"]},
    )
    table = con.sql(plan.sql(), params=plan.params).to_arrow_table()
    assert table.column_names == ["cell_type", "id", "cell_type_ref"]
    assert table.column("cell_type").to_pylist() == table.column("cell_type_ref").to_pylist()
