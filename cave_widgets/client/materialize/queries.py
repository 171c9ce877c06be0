"""Queries: query_table, join_query, query_view, live_live_query, live_query, synapse_query.

Each checks its arguments against the table's columns before sending, sends exactly the body
caveclient sends, decodes the Arrow answer, and says loudly when the server's row cap cut the
result short.
"""

from __future__ import annotations

import numbers
import warnings
from datetime import datetime, timezone

from .. import complete
from ..errors import QueryValidationError, RowCapWarning, ServerIncompatibilityError
from ..http import path_segment as _segment
from ..times import to_utc
from . import columns as cols
from . import decode

UTC = timezone.utc
FILTER_ARGS = (
    # (argument name, body key, attrs name)
    ("filter_in_dict", "filter_in_dict", "inclusive"),
    ("filter_out_dict", "filter_notin_dict", "exclusive"),
    ("filter_equal_dict", "filter_equal_dict", "equal"),
    ("filter_greater_dict", "filter_greater_dict", "greater"),
    ("filter_less_dict", "filter_less_dict", "less"),
    ("filter_greater_equal_dict", "filter_greater_equal_dict", "greater_equal"),
    ("filter_less_equal_dict", "filter_less_equal_dict", "less_equal"),
    ("filter_spatial_dict", "filter_spatial_dict", "spatial"),
    ("filter_regex_dict", "filter_regex_dict", "regex"),
)


def _filters_given(arguments: dict) -> dict:
    """The filter arguments of a query method, by name, from its locals()."""
    return {arg: arguments[arg] for arg, _, _ in FILTER_ARGS}


def _positive(name: str, value) -> int | None:
    """limit and random_sample: > 0; offset: >= 0. numpy integers are fine (sent as int)."""
    if value is None:
        return None
    least = 0 if name == "offset" else 1
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        wanted = "a non-negative" if name == "offset" else "a positive"
        raise QueryValidationError(f"{name} must be {wanted} integer, got {value!r}")
    return int(value)


def _resolution(value) -> list[float] | None:
    if value is None:
        return None
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        out = []
    if len(out) != 3 or not all(v > 0 for v in out):
        raise QueryValidationError(
            f"desired_resolution must be three positive numbers (nm per voxel), got {value!r}")
    return out


class QueryMethods:
    """Mixed into MaterializationClient."""

    def _desired(self, desired_resolution):
        # not `a or b`: a numpy array has no truth value
        return self.ctx.desired_resolution if desired_resolution is None else desired_resolution

    # --- building blocks ---------------------------------------------------------------------

    def _query_params(self, return_df: bool, random_sample, get_counts: bool) -> dict:
        params = {"return_pyarrow": return_df, "arrow_format": return_df,
                  "split_positions": True}
        if random_sample is not None:
            params["random_sample"] = _positive("random_sample", random_sample)
        if get_counts:
            params["count"] = True
        params["direct_sql_pandas"] = True
        return params

    def _nested_filters(self, argument_values: dict, columns_of) -> tuple[dict, dict]:
        """Validate filters given per table ({table: {column: value}}); returns the body part
        and the attrs description."""
        body, described = {}, {}
        for arg, key, label in FILTER_ARGS:
            given = argument_values.get(arg)
            if not given:
                continue
            if not isinstance(given, dict):
                raise QueryValidationError(f"{arg} must map table names to column filters")
            body[key] = {t: cols.check_filters(arg, f, columns_of(t)) for t, f in given.items()}
            described[label] = given
        return body, described

    def _post_query(self, url: str, body: dict, params: dict, *, log_warning: bool,
                    return_df: bool):
        headers = {"Accept-Encoding": "zstd" if return_df else "gzip"}
        # a query is a read: an answer that arrives incomplete is asked for again
        response = self._request("POST", url, json=body, params=params, headers=headers,
                                 kind="table", log_warning=log_warning,
                                 complete=complete.query_answer, idempotent=True)
        order = body.get("order_by")
        if order and not params.get("count"):
            said = ", ".join(f"{c} {d}" for c, d in order)
            if response.headers.get("Order-By") != said:
                raise ServerIncompatibilityError(
                    f"{self.server_address} did not sort the result by {said}: sorting on the "
                    "server (order_by) is a cave_widgets extension that this server does not "
                    "offer. Sort the DataFrame instead.")
        return response

    def _finish(self, response, *, split_positions: bool, limit: int | None, count_again,
                desired_resolution, given_resolution, attrs: dict | None):
        """Decode, rescale if the server did not, warn about truncation, attach attrs."""
        table = decode.arrow_table(response)
        served = decode.resolution_header(response)
        if desired_resolution is not None and served is None and given_resolution is not None:
            table = decode.scale_positions(table, given_resolution, desired_resolution)
        df = decode.to_dataframe(table, split_positions=split_positions)
        capped = decode.limited_to(response)
        if capped is not None and len(df) == capped and (limit is None or limit > capped):
            total = count_again()
            warnings.warn(
                f"The server's row cap truncated this result to {capped:,} of {total:,} "
                "matching rows. Narrow the filters, page with offset/limit, or use the "
                "TableBrowser widget to fetch everything in chunks.",
                RowCapWarning, stacklevel=3)
            if attrs is not None:
                attrs["total_rows"] = total
        if attrs is not None:
            attrs["dataframe_resolution"] = served or desired_resolution or given_resolution
            attrs["column_names"] = response.headers.get("column_names")
            df.attrs.update(decode.json_safe(attrs))
        return df

    def _count(self, url: str, body: dict) -> int:
        params = self._query_params(True, None, True)
        counted = {k: v for k, v in body.items() if k not in ("offset", "limit")}
        response = self._post_query(url, counted, params, log_warning=False, return_df=True)
        frame = decode.to_dataframe(decode.arrow_table(response), split_positions=True)
        return int(frame["count"].iloc[0])

    def _paging(self, body: dict, offset, limit, desired_resolution):
        """Check offset, limit and desired_resolution and put the given ones in the body."""
        offset, limit = _positive("offset", offset), _positive("limit", limit)
        desired = _resolution(self._desired(desired_resolution))
        for key, value in (("offset", offset), ("limit", limit), ("desired_resolution", desired)):
            if value is not None:
                body[key] = value
        return offset, limit, desired

    def _base_attrs(self, version: int | None, live: bool, timestamp: datetime | None,
                    join: bool) -> dict:
        return {
            "datastack_name": self.datastack_name,
            "join_query": join,
            "live_query": live,
            "materialization_version": version,
            "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f") if timestamp else None,
        }

    def _reading(self, materialization_version, timestamp) -> tuple[int | None, datetime | None]:
        """(version, None) or (None, live timestamp) for one call. The call's arguments win;
        otherwise the client's snapshot, read once, so a version changed by another thread
        meanwhile cannot mix into this call; otherwise the newest version."""
        if timestamp is not None and materialization_version is not None:
            raise QueryValidationError(
                "pass either materialization_version or timestamp, not both")
        if materialization_version is not None:
            return self._at(materialization_version), None
        if timestamp is not None:
            return None, to_utc(timestamp)
        snap = self.ctx.snapshot
        if snap.version is not None:
            return snap.version, None
        if snap.timestamp is not None:
            return None, snap.timestamp
        return self.most_recent_version(), None

    # --- query_table -------------------------------------------------------------------------

    def query_table(self, table: str, filter_in_dict=None, filter_out_dict=None,
                    filter_equal_dict=None, filter_greater_dict=None, filter_less_dict=None,
                    filter_greater_equal_dict=None, filter_less_equal_dict=None,
                    filter_spatial_dict=None, filter_regex_dict=None, select_columns=None,
                    offset: int | None = None, limit: int | None = None,
                    datastack_name: str | None = None, return_df: bool = True,
                    split_positions: bool = False, materialization_version: int | None = None,
                    timestamp=None, metadata: bool = True, merge_reference: bool = True,
                    desired_resolution=None, get_counts: bool = False, random_sample=None,
                    log_warning: bool = True, *, order_by=None):
        """As caveclient's query_table. One addition: `order_by` ("size", or
        [("size", "desc"), ...]) asks the server to sort the whole result; only servers that
        can (cave_widgets' embedded one) do, and the answer must say so, or
        ServerIncompatibilityError is raised: a result is never silently unsorted."""
        filters = _filters_given(locals())
        version, timestamp = self._reading(materialization_version, timestamp)
        if timestamp is not None and (get_counts or not return_df):
            raise QueryValidationError(
                "get_counts and return_df=False are not available for queries at a timestamp "
                "(live queries); query a materialization version instead")
        if timestamp is not None:
            nested = {k: {table: v} for k, v in filters.items() if v}
            select = ({table: select_columns} if cols.is_listlike(select_columns)
                      else select_columns)
            joins = suffixes = None
            if merge_reference:  # as caveclient's live_query: reference tables are joined
                reference = self.live_table_metadata(table).get("reference_table")
                if reference:
                    joins = [[table, "target_id", reference, "id"]]
                    suffixes = {table: "", reference: "_ref"}
                    if cols.is_listlike(select_columns):
                        # as the server does for a flat list on a join: each name goes to
                        # the first table that has it
                        own = self.live_table_columns(table).kinds
                        select = {table: [c for c in select_columns if c in own],
                                  reference: [c for c in select_columns if c not in own]}
            return self.live_live_query(
                table, timestamp, joins=joins, **nested, select_columns=select, offset=offset,
                limit=limit, datastack_name=datastack_name, split_positions=split_positions,
                metadata=metadata, suffixes=suffixes, desired_resolution=desired_resolution,
                random_sample=random_sample, log_warning=log_warning, order_by=order_by)
        meta = self.get_table_metadata(table, datastack_name, version)
        reference = meta.get("reference_table")
        if merge_reference and reference:
            if order_by is not None:
                raise QueryValidationError(
                    f"order_by is not available when {table} is merged with {reference}; "
                    "pass merge_reference=False")
            suffixes = {table: "", reference: "_ref"}
            nested = {k: {table: v} for k, v in filters.items() if v}
            # a list goes as it is (the server gives each name to the first table with it)
            select = select_columns
            return self.join_query(
                [[table, "target_id"], [reference, "id"]], **nested, select_columns=select,
                offset=offset, limit=limit, suffixes=suffixes, datastack_name=datastack_name,
                return_df=return_df, split_positions=split_positions,
                materialization_version=version, metadata=metadata,
                desired_resolution=desired_resolution, random_sample=random_sample,
                log_warning=log_warning)
        columns = self.table_columns(table, version)
        body, described = self._nested_filters(
            {k: ({table: v} if v else None) for k, v in filters.items()}, lambda t: columns)
        if isinstance(select_columns, dict):
            others = sorted(set(select_columns) - {table})
            if others:
                raise QueryValidationError(
                    f"select_columns names tables {others} that this query of {table} does "
                    "not read")
            body["select_column_map"] = {t: cols.check_select("select_columns", c, columns)
                                         for t, c in select_columns.items()}
        elif select_columns is not None:
            body["select_columns"] = cols.check_select("select_columns", select_columns, columns)
        _put_order(body, order_by, columns)
        offset, limit, desired = self._paging(body, offset, limit, desired_resolution)
        url = self._url(f"/version/{version}/table/{_segment(table)}/query",
                        datastack_name=datastack_name)
        response = self._post_query(url, body, self._query_params(return_df, random_sample,
                                                                   get_counts),
                                    log_warning=log_warning, return_df=return_df)
        if not return_df:
            return response.json()
        attrs = None
        if metadata:
            attrs = {**self._base_attrs(version, False, None, False), **decode.table_attrs(meta),
                     "filters": {label: described.get(label) for _, _, label in FILTER_ARGS},
                     "select_columns": select_columns, "offset": offset, "limit": limit}
        return self._finish(response, split_positions=split_positions, limit=limit,
                            count_again=lambda: self._count(url, body),
                            desired_resolution=desired,
                            given_resolution=meta.get("voxel_resolution"), attrs=attrs)

    # --- join_query --------------------------------------------------------------------------

    def join_query(self, tables, filter_in_dict=None, filter_out_dict=None,
                   filter_equal_dict=None, filter_greater_dict=None, filter_less_dict=None,
                   filter_greater_equal_dict=None, filter_less_equal_dict=None,
                   filter_spatial_dict=None, filter_regex_dict=None, select_columns=None,
                   offset: int | None = None, limit: int | None = None, suffixes=None,
                   datastack_name: str | None = None, return_df: bool = True,
                   split_positions: bool = False, materialization_version: int | None = None,
                   metadata: bool = True, desired_resolution=None, random_sample=None,
                   log_warning: bool = True):
        ok = (isinstance(tables, (list, tuple)) and len(tables) == 2
              and all(isinstance(t, (list, tuple)) and len(t) == 2 for t in tables))
        if not ok:
            raise QueryValidationError(
                f"tables must be [[table_a, column_a], [table_b, column_b]], got {tables!r}")
        version = self._at(materialization_version, datastack_name)
        names = [t[0] for t in tables]
        columns = {n: self.table_columns(n, version) for n in names}
        for name, column in tables:
            columns[name].kind(column, "tables")

        def columns_of(name):
            if name not in columns:
                raise QueryValidationError(f"a filter names table {name!r}, which is not in "
                                           f"this join ({', '.join(names)})")
            return columns[name]

        given = _filters_given(locals())
        body, described = self._nested_filters(given, columns_of)
        body["tables"] = [list(t) for t in tables]
        if isinstance(select_columns, dict):
            body["select_column_map"] = {
                t: cols.check_select("select_columns", c, columns_of(t))
                for t, c in select_columns.items()}
        elif select_columns is not None:
            if isinstance(select_columns, str) or not cols.is_listlike(select_columns):
                raise QueryValidationError(
                    f"select_columns must be a list of column names or a dict of them per "
                    f"table, got {select_columns!r}")
            for name in select_columns:
                if not any(name in columns[n].kinds for n in names):
                    raise QueryValidationError(
                        f"select_columns: no table of this join ({', '.join(names)}) has a "
                        f"column {name!r}")
            body["select_columns"] = list(select_columns)
        if suffixes is not None:
            if isinstance(suffixes, dict):
                body["suffix_map"] = suffixes
            else:
                body["suffix_map"] = dict(zip(names, suffixes))
        offset, limit, desired = self._paging(body, offset, limit, desired_resolution)
        url = self._url(f"/version/{version}/query", datastack_name=datastack_name)
        response = self._post_query(url, body, self._query_params(return_df, random_sample,
                                                                   False),
                                    log_warning=log_warning, return_df=return_df)
        if not return_df:
            return response.json()
        attrs = None
        if metadata:
            metas = {n: self.get_table_metadata(n, version=version) for n in names}
            attrs = {**self._base_attrs(version, False, None, True),
                     "tables": {n: {**decode.table_attrs(metas[n]),
                                    "join_column": c,
                                    "suffix": (body.get("suffix_map") or {}).get(n, "")}
                                for n, c in tables},
                     "filters": {label: described.get(label) for _, _, label in FILTER_ARGS},
                     "select_columns": select_columns, "offset": offset, "limit": limit}
        return self._finish(response, split_positions=split_positions, limit=limit,
                            count_again=lambda: self._count(url, body),
                            desired_resolution=desired, given_resolution=None, attrs=attrs)

    # --- query_view ----------------------------------------------------------------------------

    def query_view(self, view_name: str, filter_in_dict=None, filter_out_dict=None,
                   filter_equal_dict=None, filter_greater_dict=None, filter_less_dict=None,
                   filter_greater_equal_dict=None, filter_less_equal_dict=None,
                   filter_spatial_dict=None, filter_regex_dict=None, select_columns=None,
                   offset: int | None = None, limit: int | None = None,
                   datastack_name: str | None = None, return_df: bool = True,
                   split_positions: bool = False, materialization_version: int | None = None,
                   metadata: bool = True, desired_resolution=None, get_counts: bool = False,
                   random_sample=None, *, order_by=None):
        self._require_api3("query_view")
        version = self._at(materialization_version, datastack_name)
        columns = self.view_columns(view_name, version)
        given = _filters_given(locals())
        body, described = self._nested_filters(
            {k: ({view_name: v} if v else None) for k, v in given.items()}, lambda t: columns)
        if select_columns is not None:
            body["select_columns"] = cols.check_select("select_columns", select_columns, columns)
        _put_order(body, order_by, columns)
        offset, limit, desired = self._paging(body, offset, limit, desired_resolution)
        url = self._url(f"/version/{version}/views/{_segment(view_name)}/query",
                        datastack_name=datastack_name)
        response = self._post_query(url, body, self._query_params(return_df, random_sample,
                                                                   get_counts),
                                    log_warning=True, return_df=return_df)
        if not return_df:
            return response.json()
        attrs = None
        if metadata:
            meta = self.get_view_metadata(view_name, version, datastack_name)
            attrs = {**self._base_attrs(version, False, None, False), **decode.table_attrs(meta),
                     "filters": {label: described.get(label) for _, _, label in FILTER_ARGS},
                     "select_columns": select_columns, "offset": offset, "limit": limit}
        return self._finish(response, split_positions=split_positions, limit=limit,
                            count_again=lambda: self._count(url, body),
                            desired_resolution=desired, given_resolution=None, attrs=attrs)

    # --- live ----------------------------------------------------------------------------------

    def live_live_query(self, table: str, timestamp, joins=None, filter_in_dict=None,
                        filter_out_dict=None, filter_equal_dict=None, filter_greater_dict=None,
                        filter_less_dict=None, filter_greater_equal_dict=None,
                        filter_less_equal_dict=None, filter_spatial_dict=None,
                        filter_regex_dict=None, select_columns=None, offset: int | None = None,
                        limit: int | None = None, datastack_name: str | None = None,
                        split_positions: bool = False, metadata: bool = True, suffixes=None,
                        desired_resolution=None, allow_missing_lookups: bool = False,
                        allow_invalid_root_ids: bool = False, random_sample=None,
                        log_warning: bool = True, *, order_by=None):
        """The table as it was at `timestamp` (rows alive then, root ids as of then), computed
        by the server. Filters are keyed by table, as in join_query."""
        when = to_utc(timestamp)
        names = [table] + ([j[2] for j in joins] if joins else [])
        columns = {n: self.live_table_columns(n) for n in names}

        def columns_of(name):
            if name not in columns:
                raise QueryValidationError(f"a filter names table {name!r}, which this query "
                                           f"does not read ({', '.join(names)})")
            return columns[name]

        given = _filters_given(locals())
        body, described = self._nested_filters(given, columns_of)
        body = {"table": table, "timestamp": when.isoformat(), **body}
        if joins:
            body["join_tables"] = [list(j) for j in joins]
        if select_columns is not None:
            if not isinstance(select_columns, dict):
                raise QueryValidationError(
                    "live_live_query's select_columns maps table names to column lists")
            body["select_columns"] = {t: cols.check_select("select_columns", c, columns_of(t))
                                      for t, c in select_columns.items()}
        offset, limit = _positive("offset", offset), _positive("limit", limit)
        if offset is not None:
            body["offset"] = offset
        if limit is not None:
            body["limit"] = limit
        if suffixes is not None:
            body["suffixes"] = suffixes
        if order_by is not None:
            if joins:
                raise QueryValidationError("order_by is not available with joins")
            _put_order(body, order_by, columns[table])
        desired = _resolution(self._desired(desired_resolution))
        if desired is not None and self.api_version >= 3:
            body["desired_resolution"] = desired
        params = {"return_pyarrow": True, "arrow_format": True, "merge_reference": False,
                  "allow_missing_lookups": allow_missing_lookups,
                  "allow_invalid_root_ids": allow_invalid_root_ids, "direct_sql_pandas": True}
        if random_sample is not None:
            params["random_sample"] = _positive("random_sample", random_sample)
        url = self._url("/query", api=3, datastack_name=datastack_name)
        response = self._post_query(url, body, params, log_warning=log_warning, return_df=True)
        attrs = None
        meta = self.live_table_metadata(table)
        if metadata:
            attrs = {**self._base_attrs(None, True, when, bool(joins)), **decode.table_attrs(meta),
                     "filters": {label: described.get(label) for _, _, label in FILTER_ARGS},
                     "select_columns": select_columns, "offset": offset, "limit": limit}
        return self._finish(
            response, split_positions=split_positions, limit=limit,
            count_again=lambda: self._count_live(url, body, params),
            desired_resolution=desired,
            given_resolution=meta.get("voxel_resolution"),
            attrs=attrs)

    def _count_live(self, url: str, body: dict, params: dict) -> int:
        # live_live_query has no count mode: count by asking for ids only, in capped pages.
        total, offset = 0, 0
        page_body = {**body, "select_columns": {body["table"]: ["id"]}}
        while True:
            page_body["offset"] = offset
            response = self._post_query(url, page_body, params, log_warning=False,
                                        return_df=True)
            n = decode.arrow_table(response).num_rows
            total += n
            if decode.limited_to(response) is None or n == 0:
                return total
            offset += n

    def live_query(self, table: str, timestamp, filter_in_dict=None, filter_out_dict=None,
                   filter_equal_dict=None, filter_greater_dict=None, filter_less_dict=None,
                   filter_greater_equal_dict=None, filter_less_equal_dict=None,
                   filter_spatial_dict=None, filter_regex_dict=None, select_columns=None,
                   offset: int | None = None, limit: int | None = None,
                   datastack_name: str | None = None, split_positions: bool = False,
                   post_filter: bool = True, metadata: bool = True, merge_reference: bool = True,
                   desired_resolution=None, random_sample=None, log_warning: bool = True):
        """query_table at a point in time. caveclient maps root ids client-side through the
        chunkedgraph; here the server answers it (live_live_query), with the same result."""
        return self.query_table(
            table, filter_in_dict=filter_in_dict, filter_out_dict=filter_out_dict,
            filter_equal_dict=filter_equal_dict, filter_greater_dict=filter_greater_dict,
            filter_less_dict=filter_less_dict, filter_greater_equal_dict=filter_greater_equal_dict,
            filter_less_equal_dict=filter_less_equal_dict, filter_spatial_dict=filter_spatial_dict,
            filter_regex_dict=filter_regex_dict, select_columns=select_columns, offset=offset,
            limit=limit, datastack_name=datastack_name, split_positions=split_positions,
            timestamp=timestamp, metadata=metadata, desired_resolution=desired_resolution,
            random_sample=random_sample, log_warning=log_warning)

    def synapse_query(self, pre_ids=None, post_ids=None, bounding_box=None,
                      bounding_box_column: str = "post_pt_position", timestamp=None,
                      remove_autapses: bool = True, include_zeros: bool = True,
                      limit: int | None = None, offset: int | None = None,
                      split_positions: bool = False, desired_resolution=None,
                      materialization_version: int | None = None, synapse_table: str | None = None,
                      datastack_name: str | None = None, metadata: bool = True):
        table = synapse_table or self.synapse_table
        if not table:
            raise QueryValidationError("no synapse table is known: pass synapse_table=...")
        filter_in, filter_equal, filter_out = {}, {}, {}
        for column, ids in (("pre_pt_root_id", pre_ids), ("post_pt_root_id", post_ids)):
            if ids is None:
                continue
            if cols.is_listlike(ids):
                filter_in[column] = ids
            else:
                filter_equal[column] = ids
        if not include_zeros:
            filter_out = {"pre_pt_root_id": [0], "post_pt_root_id": [0]}
        spatial = {bounding_box_column: bounding_box} if bounding_box is not None else None
        df = self.query_table(
            table, filter_in_dict=filter_in or None, filter_equal_dict=filter_equal or None,
            filter_out_dict=filter_out or None, filter_spatial_dict=spatial, limit=limit,
            offset=offset, split_positions=split_positions, desired_resolution=desired_resolution,
            materialization_version=materialization_version, timestamp=timestamp,
            datastack_name=datastack_name, metadata=metadata, merge_reference=False)
        if remove_autapses:
            df = df[df["pre_pt_root_id"] != df["post_pt_root_id"]]
            if metadata:
                df.attrs["remove_autapses"] = True
        return df


def _put_order(body: dict, order_by, columns: cols.TableColumns) -> None:
    """order_by as the server takes it: [[column, "asc" | "desc"], ...]."""
    if order_by is None:
        return
    pairs = [(order_by, "asc")] if isinstance(order_by, str) else order_by
    out = []
    try:
        for column, direction in pairs:
            if direction not in ("asc", "desc") or not isinstance(column, str):
                raise ValueError
            if columns.kind(column, "order_by") == "position":
                raise QueryValidationError(
                    f"order_by: {column!r} is a position; sort by a scalar column")
            out.append([column, direction])
    except (TypeError, ValueError):
        raise QueryValidationError(
            'order_by is a column name or a list of (column, "asc" | "desc") pairs, got '
            f"{order_by!r}") from None
    body["order_by"] = out
