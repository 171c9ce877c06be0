"""The annotation service client (AnnotationEngine) and staged annotations."""

from .client import AnnotationClient, AnnotationUploadError  # noqa: F401
from .stage import StagedAnnotations  # noqa: F401
from .validate import AnnotationRefusedError, AnnotationValidationError  # noqa: F401
