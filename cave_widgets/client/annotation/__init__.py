"""The annotation service client (AnnotationEngine) and staged annotations."""

from .client import AnnotationClient, AnnotationUploadError  # noqa: F401
from .stage import StagedAnnotations  # noqa: F401
from .validate import AnnotationValidationError  # noqa: F401
