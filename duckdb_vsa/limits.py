"""The limits of one document, which every layer enforces the same way.

A document beyond them is refused with a :class:`~duckdb_vsa.errors.DocumentError`
for its row (a NULL vector under ``on_error="null"``), never a crash or an
unbounded amount of memory; see docs/design.md, "Limits".
"""

#: Documents nested deeper than this are refused.
MAX_DEPTH = 10_000

#: Documents with more leaves than this are refused (``binding="haar"`` allows fewer
#: at large dimensions: see ``RoleFamily.leaf_limit``).
MAX_LEAVES = 1 << 21

#: How a refused document is described, nested too deep.
DEPTH_MESSAGE = (
    f"The document is nested deeper than {MAX_DEPTH} levels (or, for a Python value, "
    "contains itself); flatten it or encode a part of it."
)
