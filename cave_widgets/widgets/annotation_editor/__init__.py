"""AnnotationEditor: create annotation tables and write rows to them from a notebook (the
form built from the schema in form.py, the staged rows' grid in grid.py, from grid text to
uploads and undo in upload.py, the widget in widget.py)."""

from .widget import AnnotationEditor

__all__ = ["AnnotationEditor"]
