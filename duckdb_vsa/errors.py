"""The errors duckdb_vsa raises on purpose, and the messages more than one layer writes.

Every error the package raises because of what a caller gave it derives from
:class:`VsaError`, so a program (the command line among them) can tell them
from bugs. Each also derives from the built-in type that fits its meaning
(``ValueError`` for a bad value, ``TypeError`` for an unknown option), so code
that catches those keeps working.
"""

from __future__ import annotations


class VsaError(Exception):
    """Base of every error duckdb_vsa raises because of its input."""


class InvalidArgumentError(VsaError, ValueError):
    """An argument or option that is not valid: the message says what to pass instead."""


class WrongTypeError(VsaError, TypeError):
    """An argument of a type the function does not take."""


class UnknownOptionError(InvalidArgumentError, TypeError):
    """An option name the function does not take (a ``TypeError``, as for any unknown keyword)."""


class DocumentError(VsaError, ValueError):
    """A value that is not a JSON document the encoder can read.

    Attributes
    ----------
    row : int or None
        The position of the document in the batch, Arrow array or chunk that
        was being encoded, when the error came from one.
    """

    def __init__(self, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.row = row

    def __reduce__(self) -> tuple[type[DocumentError], tuple[str, int | None]]:
        return (type(self), (str(self), self.row))


class ConfigMismatchError(VsaError, ValueError):
    """Vectors, or a request, made with another encoder configuration than the one in use."""


class CatalogError(VsaError, ValueError):
    """A table, column or index that does not exist or is not of the kind needed."""


class NotRegisteredError(VsaError, ValueError):
    """duckdb_vsa has not been registered on the connection."""


class StaleIndexError(VsaError, ValueError):
    """An index that no longer matches its table."""


class WorkerError(VsaError, RuntimeError):
    """A worker process died, could not start, or failed on something other than a document."""


class VectorShapeError(InvalidArgumentError):
    """Vectors of the wrong length, or with a NULL element.

    Attributes
    ----------
    length : int or None
        The length of the first vector that does not have the expected one;
        None when the problem is a NULL element.
    """

    def __init__(self, message: str, length: int | None = None) -> None:
        super().__init__(message)
        self.length = length


#: Why vectors of two configurations cannot be compared; every mismatch message ends with it.
NOT_COMPARABLE = "Vectors of different configurations are not comparable"


def mismatch_message(subject: str, recorded: str, current: str, remedy: str) -> str:
    """The one wording of a configuration mismatch.

    Parameters
    ----------
    subject : str
        What was encoded, such as ``"column vec of items"``.
    recorded : str
        The configuration it was encoded with (``EncoderConfig.describe()``).
    current : str
        What it is compared with, such as ``"this connection's encoder is dim=256, ..."``.
    remedy : str
        What to do, as a sentence.

    Returns
    -------
    str

    Examples
    --------
    >>> mismatch_message("column v of t", "dim=8", "this connection's encoder is dim=16",
    ...                  "re-encode the column.")
    "column v of t was encoded with dim=8, but this connection's encoder is dim=16. Vectors of \
different configurations are not comparable: re-encode the column."
    """
    return f"{subject} was encoded with {recorded}, but {current}. {NOT_COMPARABLE}: {remedy}"
