"""The annotation service (AnnotationEngine): annotation tables of an aligned volume, and the
rows in them. Writes are checked against the table's schema before anything is sent, and a
batch lands whole or the error says which rows did not."""

from __future__ import annotations

import time
from collections.abc import Iterable

from .. import complete, errors, http
from ..base import ServiceClient
from ..http import path_segment
from .stage import StagedAnnotations
from .validate import AnnotationRefusedError, AnnotationValidationError, check_row, refusal

PERMISSIONS = ("PRIVATE", "GROUP", "PUBLIC")


class AnnotationClient(ServiceClient):
    service = "annotation"
    api_version = 2  # the only annotation API this client speaks (caveclient: max({0, 2}))

    @property
    def aligned_volume_name(self) -> str:
        return self.ctx.datastack_info()["aligned_volume"]["name"]

    @property
    def default_url_mapping(self) -> dict:
        return {"ae_server_address": self.server_address,
                "aligned_volume_name": self.aligned_volume_name}

    def _tables_url(self, aligned_volume_name: str | None) -> str:
        volume = path_segment(aligned_volume_name or self.aligned_volume_name,
                              "an aligned volume name")
        return f"{self.server_address}/annotation/api/v2/aligned_volume/{volume}/table"

    def _table_url(self, table_name: str, aligned_volume_name: str | None) -> str:
        return f"{self._tables_url(aligned_volume_name)}/{path_segment(table_name)}"

    # --- tables ------------------------------------------------------------------------------

    def get_tables(self, aligned_volume_name: str | None = None, timestamp=None) -> list[str]:
        if timestamp is not None:
            # As caveclient: the only server that would honour it is unreleased.
            raise errors.ServerIncompatibilityError(
                "get_tables(timestamp=...) needs annotation server 4.33.0 or newer; the "
                "annotation service does not say its version. List the tables of a "
                "materialization version instead (client.materialize.get_tables).")
        return self._get_json(self._tables_url(aligned_volume_name))

    def get_annotation_count(self, table_name: str, aligned_volume_name: str | None = None
                             ) -> int:
        return self._get_json(f"{self._table_url(table_name, aligned_volume_name)}/count",
                              kind="table")

    def get_table_metadata(self, table_name: str, aligned_volume_name: str | None = None
                           ) -> dict:
        meta = dict(self._get_json(self._table_url(table_name, aligned_volume_name),
                                   kind="table"))
        meta["voxel_resolution"] = [meta.pop(f"voxel_resolution_{a}") for a in "xyz"]
        return meta

    def delete_table(self, table_name: str, aligned_volume_name: str | None = None) -> bool:
        return self._request("DELETE", self._table_url(table_name, aligned_volume_name),
                             kind="table", complete=complete.json_document).json()

    def create_table(self, table_name: str, schema_name: str, description: str,
                     voxel_resolution, reference_table: str | None = None,
                     track_target_id_updates: bool | None = None,
                     flat_segmentation_source: str | None = None, user_id: int | None = None,
                     aligned_volume_name: str | None = None, write_permission: str = "PRIVATE",
                     read_permission: str = "PUBLIC", notice_text: str | None = None):
        """Create an annotation table; returns the server's response (its text is the name),
        as caveclient does."""
        for name, value in (("read_permission", read_permission),
                            ("write_permission", write_permission)):
            if value not in PERMISSIONS:
                raise errors.QueryValidationError(
                    f"{name} must be one of {', '.join(PERMISSIONS)}, got {value!r}")
        path_segment(table_name)
        resolution = [float(v) for v in voxel_resolution]
        if len(resolution) != 3 or not all(v > 0 for v in resolution):
            raise errors.QueryValidationError(
                f"voxel_resolution is three positive numbers (nm per voxel), got "
                f"{voxel_resolution!r}")
        metadata = {"description": description,
                    **{f"voxel_resolution_{a}": v for a, v in zip("xyz", resolution)},
                    "read_permission": read_permission, "write_permission": write_permission}
        if user_id is not None:
            # AE's request schema takes the owner's id as text (a number is refused)
            metadata["user_id"] = str(user_id)
        if notice_text is not None:
            metadata["notice_text"] = "" if str(notice_text).lower() == "none" else notice_text
        if reference_table is not None:
            # AE refuses null here (caveclient sends it when the argument is left out):
            # not given means not tracked
            metadata["table_metadata"] = {
                "reference_table": reference_table,
                "track_target_id_updates": bool(track_target_id_updates)}
        if flat_segmentation_source is not None:
            metadata["flat_segmentation_source"] = flat_segmentation_source
        body = {"schema_type": schema_name, "table_name": table_name, "metadata": metadata}
        return self._request("POST", self._tables_url(aligned_volume_name), json=body,
                             kind="table")

    def update_metadata(self, table_name: str, description: str | None = None,
                        flat_segmentation_source: str | None = None,
                        read_permission: str | None = None,
                        write_permission: str | None = None, user_id: int | None = None,
                        notice_text: str | None = None,
                        aligned_volume_name: str | None = None) -> dict:
        given = {"description": description, "flat_segmentation_source": flat_segmentation_source,
                 "read_permission": read_permission, "write_permission": write_permission,
                 "user_id": None if user_id is None else str(user_id),
                 "notice_text": notice_text}
        metadata = {k: v for k, v in given.items() if v is not None}
        if "notice_text" in metadata and str(metadata["notice_text"]).lower() == "none":
            metadata["notice_text"] = ""
        for name in ("read_permission", "write_permission"):
            if name in metadata and metadata[name] not in PERMISSIONS:
                raise errors.QueryValidationError(
                    f"{name} must be one of {', '.join(PERMISSIONS)}, got {metadata[name]!r}")
        return http.json_of(self._request(
            "PUT", self._tables_url(aligned_volume_name), kind="table",
            json={"table_name": table_name, "metadata": metadata},
            complete=complete.json_document))

    # --- annotations -------------------------------------------------------------------------

    def _schema_of(self, table_name: str, aligned_volume_name: str | None) -> dict:
        """The table's schema document (the catalogue knows the standard ones)."""
        meta = self._cached(("meta", aligned_volume_name, table_name),
                            lambda: self.get_table_metadata(table_name, aligned_volume_name))
        schema_name = meta.get("schema_type") or meta.get("schema")
        return self._cached(("schema", schema_name), lambda: self._definition(schema_name))

    def _definition(self, schema_name: str) -> dict:
        from ... import schema_catalogue

        try:
            return schema_catalogue.definition(schema_name)
        except KeyError:
            return self.ctx.service("schema").schema_definition(schema_name)

    def _checked(self, table_name, data, aligned_volume_name, *, update: bool) -> list[dict]:
        rows = [data] if isinstance(data, dict) else list(data)
        schema = self._schema_of(table_name, aligned_volume_name)
        for i, row in enumerate(rows):
            check_row(row, schema, i, with_id=update)
        return rows

    def get_annotation(self, table_name: str, annotation_ids,
                       aligned_volume_name: str | None = None) -> list[dict]:
        ids = _ids(annotation_ids)
        return self._get_json(f"{self._table_url(table_name, aligned_volume_name)}/annotations",
                              params={"annotation_ids": ",".join(map(str, ids))}, kind="table")

    def post_annotation(self, table_name: str, data, aligned_volume_name: str | None = None
                        ) -> list[int]:
        """Add rows (dicts in the schema's nested shape); returns their new ids, in order.
        Every row is checked against the schema first: nothing is sent if one is wrong."""
        rows = self._checked(table_name, data, aligned_volume_name, update=False)
        try:
            return self._post_json(f"{self._table_url(table_name, aligned_volume_name)}"
                                   "/annotations", {"annotations": rows}, kind="table")
        except errors.CAVEHTTPError as exc:
            _raise_refusal(exc, rows, whole=True)
            raise

    def update_annotation(self, table_name: str, data, aligned_volume_name: str | None = None
                          ) -> dict:
        """Replace rows (each with its "id"): the old rows are superseded by new ones;
        returns {old id (text): new id}."""
        rows = self._checked(table_name, data, aligned_volume_name, update=True)
        try:
            return http.json_of(self._request(
                "PUT", f"{self._table_url(table_name, aligned_volume_name)}/annotations",
                json={"annotations": rows}, kind="table", complete=complete.json_document))
        except errors.CAVEHTTPError as exc:
            _raise_refusal(exc, rows, whole=False)
            raise

    def delete_annotation(self, table_name: str, annotation_ids,
                          aligned_volume_name: str | None = None) -> list[int]:
        ids = _ids(annotation_ids)
        try:
            return http.json_of(self._request(
                "DELETE", f"{self._table_url(table_name, aligned_volume_name)}/annotations",
                json={"annotation_ids": ids}, kind="table", complete=complete.json_document))
        except errors.UnknownTableError as exc:
            if not str(exc.server_message).startswith("annotation_id"):
                raise
            # AE's answer when none of the ids is in the table (a JSON string, 404)
            raise errors.NotFoundError(
                f"none of the annotation ids {ids[:10]}{'…' if len(ids) > 10 else ''} is in "
                f"{table_name}: nothing was deleted ({exc.server_message})",
                status=exc.status, url=exc.url, server_message=exc.server_message,
                response=exc.response) from exc

    @staticmethod
    def process_position_columns(df, position_columns=None) -> list[dict]:
        """DataFrame rows as annotations: each position column becomes {point: {"position":
        value}} (columns ending in _position, a list of them, or a dict column → point)."""
        if position_columns is None:
            mapping = {c: c.rsplit("_", 1)[0] for c in df.columns if c.endswith("_position")}
        elif isinstance(position_columns, dict):
            mapping = dict(position_columns)
        elif isinstance(position_columns, (list, tuple)) or hasattr(position_columns, "tolist"):
            mapping = {c: c.rsplit("_", 1)[0] for c in list(position_columns)}
        else:
            raise ValueError("position_columns is None, a list of column names or a dict of "
                             "column → point name")
        rows = []
        for record in df.to_dict(orient="records"):
            for column, point in mapping.items():
                value = record.pop(column)
                record[point] = {"position": value.tolist() if hasattr(value, "tolist")
                                 else value}
            rows.append({k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()})
        return rows

    def post_annotation_df(self, table_name: str, df, position_columns,
                           aligned_volume_name: str | None = None) -> list[int]:
        return self.post_annotation(table_name,
                                    self.process_position_columns(df, position_columns),
                                    aligned_volume_name)

    def update_annotation_df(self, table_name: str, df, position_columns,
                             aligned_volume_name: str | None = None) -> dict:
        return self.update_annotation(table_name,
                                      self.process_position_columns(df, position_columns),
                                      aligned_volume_name)

    # --- staging -------------------------------------------------------------------------------

    def stage_annotations(self, table_name: str | None = None, schema_name: str | None = None,
                          update: bool = False, id_field: bool = False, table_resolution=None,
                          annotation_resolution=None) -> StagedAnnotations:
        if table_name is None and schema_name is None:
            raise ValueError("stage_annotations needs a table_name or a schema_name")
        if table_name is not None:
            meta = self.get_table_metadata(table_name)
            schema_name = meta.get("schema_type") or meta.get("schema")
            table_resolution = meta.get("voxel_resolution")
        return StagedAnnotations(self._definition(schema_name), update=update,
                                 id_field=id_field, table_resolution=table_resolution,
                                 annotation_resolution=annotation_resolution,
                                 table_name=table_name)

    def upload_staged_annotations(self, staged_annos: StagedAnnotations,
                                  aligned_volume_name: str | None = None,
                                  batch_size: int = 10_000, progress: bool = True,
                                  retries: int = 3):
        """Upload the rows not yet uploaded, in batches. Each batch is one request the
        server applies whole; a batch that keeps failing stops the upload with an
        AnnotationUploadError saying which rows landed (with their new ids) and which did
        not, and the stage remembers, so calling again sends only the rest."""
        if staged_annos.table_name is None:
            raise ValueError("the staged annotations name no table: stage them with "
                             "stage_annotations(table_name=...)")
        pending = staged_annos._pending()
        new_ids: list[int] = []
        mapping: dict[str, int] = {}
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]
            result = self._upload_batch(staged_annos, batch, aligned_volume_name, retries)
            if staged_annos.is_update:
                for (i, row) in batch:
                    staged_annos._mark_uploaded(i, result[str(row["id"])])
                mapping.update({str(k): int(v) for k, v in result.items()})
            else:
                if len(result) != len(batch):
                    raise errors.IncompleteResponseError(
                        f"the server answered {len(result)} ids for {len(batch)} rows")
                for (i, _), new in zip(batch, result):
                    staged_annos._mark_uploaded(i, new)
                new_ids.extend(int(v) for v in result)
        return mapping if staged_annos.is_update else new_ids

    def _upload_batch(self, staged, batch, aligned_volume_name, retries):
        rows = [r for _, r in batch]
        send = self.update_annotation if staged.is_update else self.post_annotation
        for attempt in range(max(1, retries)):
            try:
                return send(staged.table_name, rows, aligned_volume_name)
            except (errors.ServerError, errors.ServerUnreachableError) as exc:
                if attempt + 1 >= max(1, retries):
                    self._settle(staged, batch, aligned_volume_name)
                    raise AnnotationUploadError.of(staged, batch, exc) from exc
                time.sleep(min(8, 2 ** attempt))
            except errors.CAVEError as exc:  # refused (400/403): retrying will not help
                self._settle(staged, batch, aligned_volume_name)
                raise AnnotationUploadError.of(staged, batch, exc) from exc
        raise AssertionError("unreachable")

    def _settle(self, staged, batch, aligned_volume_name) -> None:
        """After a failed update batch, mark the rows that did land: AE applies an update
        row by row, so a batch can stop half-way. An old row that has a superseding id now
        was updated (to that id). Posts land whole or not at all: nothing to do."""
        if not staged.is_update:
            return
        try:
            found = self.get_annotation(staged.table_name, [r["id"] for _, r in batch],
                                        aligned_volume_name)
        except errors.CAVEError:
            return  # cannot tell: the rows stay not uploaded, the error says so
        superseded = {int(r["id"]): r.get("superceded_id") for r in found}
        for i, row in batch:
            new = superseded.get(int(row["id"]))
            if new is not None:
                staged._mark_uploaded(i, new)


class AnnotationUploadError(errors.CAVEError):
    """An upload stopped part-way. `uploaded`: the stage's rows (indexes) that are uploaded
    now, `not_uploaded`: those that are not; `row` / `field`: the stage row (and field) the
    server refused, when it said which. Nothing of a failed post batch was written."""

    @classmethod
    def of(cls, staged, batch, cause) -> AnnotationUploadError:
        done = staged._uploaded_indexes()
        left = [i for i in range(len(staged)) if i not in set(done)]
        refused = getattr(cause, "row", None)
        row = batch[refused][0] if refused is not None and 0 <= refused < len(batch) else None
        message = (f"{len(done)} staged rows are uploaded, {len(left)} are not (rows "
                   f"{left[:10]}{'…' if len(left) > 10 else ''})")
        if row is not None:
            message += f"; the server refused staged row {row}"
        error = cls(f"{message}: {cause}")
        error.uploaded, error.not_uploaded = done, left
        error.row, error.field = row, getattr(cause, "field", "")
        error.cause = cause
        error.action = ("Fix what the server refused, then call upload_staged_annotations "
                        "again: it sends only the rows not uploaded yet.")
        return error


def _raise_refusal(exc: errors.CAVEHTTPError, rows: list, *, whole: bool) -> None:
    """Raise the AnnotationRefusedError naming the row and field, if the server's refusal
    says which (the real AE sends these as 500s); return if it does not."""
    refused = refusal(exc, rows, whole=whole)
    if refused is not exc:
        raise refused from exc


def _ids(annotation_ids) -> list[int]:
    from ..materialize.columns import exact_id

    values = [annotation_ids] if not isinstance(annotation_ids, Iterable) or isinstance(
        annotation_ids, (str, bytes)) else list(annotation_ids)
    return [exact_id(v, "annotation_ids") for v in values]


__all__ = ["AnnotationClient", "AnnotationRefusedError", "AnnotationUploadError",
           "AnnotationValidationError", "StagedAnnotations"]
