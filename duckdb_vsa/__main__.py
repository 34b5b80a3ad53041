"""``python -m duckdb_vsa``: the ``duckdb-vsa`` command line."""

import sys

from duckdb_vsa.cli import main

if __name__ == "__main__":
    sys.exit(main())
