"""The sub-commands: encode, search, dedup, explain and info.

Each takes the parsed arguments, prints its results on stdout (notes and the
summary on stderr), and returns the exit code; expected failures raise
:class:`~duckdb_vsa.cli.common.CLIError`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import vectors_from_arrow, vectors_to_arrow
from duckdb_vsa.cli.common import (
    PROG,
    CLIError,
    make_config,
    make_encoder,
    parse_doc,
    read_arg,
    read_text_file,
    requested_options,
    split_names,
)
from duckdb_vsa.cli.inputs import Chunk, check_readable, detect_format, open_source
from duckdb_vsa.cli.output import Progress, note, print_rows, progress_enabled
from duckdb_vsa.cli.stores import (
    DUCKDB_SUFFIXES,
    DuckDBSink,
    ParquetSink,
    Store,
    encoding_metadata,
    table_parts,
)
from duckdb_vsa.config import EncoderConfig
from duckdb_vsa.dispatch import AUTO, check_workers, find_pool
from duckdb_vsa.encoder import Encoder
from duckdb_vsa.errors import ConfigMismatchError, DocumentError, VectorShapeError, VsaError
from duckdb_vsa.index import ExactIndex
from duckdb_vsa.marker import check_vectors
from duckdb_vsa.sqltext import quote_ident

# -- encode ----------------------------------------------------------------------------


def _encode_chunk(
    encoder: Encoder,
    chunk: Chunk,
    on_error: str,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pa.Table, pa.Array, int]:
    """The chunk's kept columns, its vectors, and how many documents failed.

    ``known``: which documents already have a vector, and those vectors (see
    :meth:`~duckdb_vsa.cli.stores.DuckDBSink.known`); only the others are encoded.
    """
    todo = np.arange(len(chunk.docs)) if known is None else np.flatnonzero(~known[0])
    docs = chunk.docs if known is None else chunk.docs.take(pa.array(todo, pa.int64()))
    try:
        vectors = encoder.encode_arrow(docs, on_error="raise" if on_error == "raise" else "null")
    except DocumentError as err:
        if err.row is None:
            raise
        row = int(todo[err.row])
        text = chunk.docs[row].as_py()
        hint = chunk.hint(text) if chunk.hint else ""
        raise CLIError(
            f"{chunk.where(row)}: {err}{hint} Fix the document, or pass --on-error null "
            "(keep the row with a NULL vector) or --on-error skip (drop the row)."
        ) from None
    if known is not None and known[0].any():
        encoded, valid = vectors_from_arrow(vectors, encoder.dim)
        rows = np.zeros((len(chunk.docs), encoder.dim), np.float32)
        rows[todo], rows[known[0]] = encoded, known[1]
        present = np.ones(len(chunk.docs), dtype=bool)
        present[todo] = valid
        vectors = vectors_to_arrow(rows, present)
    failed = np.asarray(vectors.is_null().to_numpy(zero_copy_only=False), dtype=bool) & ~np.asarray(
        chunk.docs.is_null().to_numpy(zero_copy_only=False), dtype=bool
    )
    if chunk.unreadable is not None:
        failed |= chunk.unreadable
    n_failed = int(failed.sum())
    columns = chunk.columns
    if n_failed and on_error == "skip":
        keep = pa.array(~failed)
        columns, vectors = columns.filter(keep), vectors.filter(keep)
    return columns, vectors, n_failed


def _workers(given: str | None) -> int:
    """The number of worker processes ``--workers`` asks for (by default, the usable cores).

    A command-line run is one job over a whole input, so the workers' start-up is
    paid once and overlaps the first chunks; inputs under a few hundred rows never
    start them.
    """
    if given is None or given == AUTO:
        return check_workers(AUTO)
    try:
        return check_workers(int(given))
    except (ValueError, VsaError):
        raise CLIError(
            f"--workers must be a number of worker processes >= 0 (0: encode in this "
            f"process) or 'auto' (the usable cores), got {given!r}."
        ) from None


def cmd_encode(args: argparse.Namespace) -> int:
    """``encode INPUT -o OUTPUT``: write the rows of INPUT with a vector column."""
    config = make_config(requested_options(args))
    if args.cache_mb < 0:
        raise CLIError(f"--cache-mb must be a number of megabytes >= 0, got {args.cache_mb}.")
    encoder = make_encoder(config, args.cache_mb << 20, _workers(args.workers))
    check_readable(args.input)
    if args.chunk_size < 1:
        raise CLIError(f"--chunk-size must be a positive number of rows, got {args.chunk_size}.")
    to_duckdb = args.output.lower().endswith(DUCKDB_SUFFIXES)
    if args.table is not None and not to_duckdb:
        raise CLIError(
            "--table applies to a DuckDB database output: name the output file with the "
            f"suffix {', '.join(DUCKDB_SUFFIXES)}."
        )
    if args.only_missing and not to_duckdb:
        raise CLIError(
            "--only-missing applies to a DuckDB database output: name the output file with "
            f"the suffix {', '.join(DUCKDB_SUFFIXES)}."
        )
    if args.table is not None:
        table_parts(args.table)  # a name that cannot be read fails before any work
    fmt = detect_format(args.input, args.format)
    source = open_source(args.input, fmt, args.json_column, args.chunk_size, args.on_error)
    vcol = args.vector_column
    if vcol in source.schema.names:
        raise CLIError(
            f"The input already has a column {vcol!r}; name the vector column with --vector-column."
        )
    vector_type = pa.list_(pa.float32(), config.dim)
    schema = source.schema.append(pa.field(vcol, vector_type))
    show = progress_enabled(args)
    total = source.count() if show else None
    if to_duckdb:
        sink: Any = DuckDBSink(
            args.output,
            args.table or "docs",
            schema,
            config,
            source.source_column,
            vcol,
            args.overwrite,
            args.only_missing,
        )
    else:
        metadata = encoding_metadata(config, vcol, source.source_column)
        sink = ParquetSink(args.output, schema, metadata, args.overwrite)
    done = failed = reused = 0
    try:
        progress = Progress("encode", total, show)
        for chunk in source.chunks():
            known = sink.known(chunk.docs) if to_duckdb else None
            reused += 0 if known is None else int(known[0].sum())
            columns, vectors, n_failed = _encode_chunk(encoder, chunk, args.on_error, known)
            sink.write(columns.append_column(vcol, vectors))
            done += len(chunk.docs)
            failed += n_failed
            progress.update(done)
        sink.commit(done - (failed if args.on_error == "skip" else 0))
    finally:
        # Whatever stopped the run (an error, Ctrl-C, SIGTERM), nothing half-written stays.
        sink.close()
    progress.finish(done)
    elapsed = time.perf_counter() - progress.start
    if not args.quiet:
        notes = f"; {reused:,} vectors kept from the table" if args.only_missing else ""
        if failed:
            what = "skipped" if args.on_error == "skip" else "kept with a NULL vector"
            notes += f"; {failed:,} invalid documents {what}"
        pool = find_pool(config, args.cache_mb << 20, encoder.workers) if encoder.workers else None
        if pool is not None:
            notes += f"; {pool.rows_encoded:,} by {encoder.workers} worker processes"
        print(
            f"{PROG}: encoded {done:,} record{'s' * (done != 1)} into {sink.where} in "
            f"{elapsed:.1f} s "
            f"({done / max(elapsed, 1e-9):,.0f} records/s), {config.describe()}{notes}",
            file=sys.stderr,
        )
    return 0


# -- reading stores --------------------------------------------------------------------


def _store_encoder(store: Store, args: argparse.Namespace) -> Encoder:
    """The encoder that made the store's vectors; options may only agree with it.

    A store without a recorded configuration takes the options given (or the
    defaults), with a note on stderr saying so.
    """
    requested = requested_options(args)
    if store.config is not None:
        recorded = make_config(store.config, store.label)
        if requested:
            wanted = make_config(requested)
            if wanted.fingerprint != recorded.fingerprint:
                raise CLIError(
                    f"{store.label} was encoded with {recorded.describe()}, but the options ask "
                    f"for {wanted.describe()}. Vectors of different configurations are not "
                    "comparable: drop the encoder options, or re-encode the data with them."
                )
        if store.dim is not None and store.dim != recorded.dim:
            raise CLIError(
                f"Column {store.vector_column!r} of {store.label} holds vectors of length "
                f"{store.dim}, but the configuration recorded with them makes {recorded.dim}; "
                "re-encode the data."
            )
        return make_encoder(recorded)
    config = make_config(requested)
    if store.dim is not None and store.dim != config.dim:
        raise CLIError(
            f"Column {store.vector_column!r} of {store.label} holds vectors of length "
            f"{store.dim}, but the encoder makes {config.dim}; no configuration is recorded "
            "with them, so pass the options they were encoded with (--dim, --seed, ...)."
        )
    given = "the options given" if requested else "the default options"
    note(
        f"no encoder configuration is recorded with {store.label}; using {given} "
        f"({config.describe()}), which must be the ones the vectors were encoded with"
    )
    return make_encoder(config)


def _store_vectors(
    store: Store, batch: pa.RecordBatch, config: EncoderConfig, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """The vectors of a batch of ``store`` as a matrix, and the mask of rows that hold one.

    ``offset`` is the row number of the batch's first row. A vector that
    carries another configuration's marker than ``config``'s is refused.
    """
    try:
        vectors, valid = vectors_from_arrow(batch.column(store.vector_column), config.dim)
    except VectorShapeError as err:
        raise CLIError(
            f"Column {store.vector_column!r} of {store.label} cannot be searched: {err}"
        ) from None
    try:
        check_vectors(
            vectors,
            config,
            f"Column {store.vector_column!r} of {store.label}",
            offset,
            whose="this command's",
            remedy="re-encode them with these options, or pass the options they were encoded "
            "with (--dim, --seed, --config ...).",
        )
    except ConfigMismatchError as err:
        raise CLIError(str(err)) from None
    return vectors, valid


def _shown_columns(store: Store, given: list[str] | None) -> list[str]:
    """The columns ``--columns`` names (each value a comma-separated list), or all."""
    if not given:
        return store.columns
    names = [name for value in given for name in split_names(value, "--columns")]
    missing = [c for c in names if c not in store.columns]
    if missing:
        whole = [value for value in given if value in store.columns and "," in value]
        hint = (
            f" To name the column {whole[0]!r}, put it in double quotes: "
            f"--columns {shlex.quote(quote_ident(whole[0]))}."
            if whole
            else ""
        )
        raise CLIError(
            f"{store.label} has no column {missing[0]!r}; choose among "
            f"{', '.join(store.columns)}.{hint}"
        )
    return names


# -- search ----------------------------------------------------------------------------


def _query_text(args: argparse.Namespace) -> str:
    if (args.query is None) == (args.query_file is None):
        raise CLIError("Give the query document with --query JSON or --query-file FILE.")
    if args.query is not None:
        return read_arg(args.query, "the query")
    return read_text_file(args.query_file, "the query")


def cmd_search(args: argparse.Namespace) -> int:
    """``search STORE --query DOC``: the k rows most similar to a document."""
    if args.k < 1:
        raise CLIError(f"-k must be a positive integer, got {args.k}.")
    text = _query_text(args)
    store = Store(args.store, args.table, args.vector_column)
    try:
        encoder = _store_encoder(store, args)
        query = encoder.encode(parse_doc(text, "query"))
        shown = _shown_columns(store, args.columns)
        best = _top_k(store, query, encoder.config, args.k, shown, args.chunk_size)
    finally:
        store.close()
    rows = [{"rank": r, "score": s, **row} for r, (s, row) in enumerate(best, start=1)]
    print_rows(rows, ["rank", "score", *shown], args.format, args.max_width)
    return 0


def _top_k(
    store: Store,
    query: np.ndarray,
    config: EncoderConfig,
    k: int,
    shown: list[str],
    chunk_size: int,
) -> list[tuple[float, dict[str, Any]]]:
    """The ``k`` rows of ``store`` most similar to ``query``: ``(score, shown columns)``.

    Each chunk of the store is searched by an exact index of its own, and its
    winners are merged with those of the chunks before, so memory is bounded
    by the chunk size whatever the number of rows.
    """
    ids = np.zeros(0, dtype=np.int64)
    scores = np.zeros(0, dtype=np.float32)
    rows: dict[int, dict[str, Any]] = {}
    offset = 0
    for batch in store.batches([*shown, store.vector_column], chunk_size):
        vectors, valid = _store_vectors(store, batch, config, offset)
        positions = np.flatnonzero(valid)
        if len(positions):
            index = _exact_index(store, vectors[valid], offset + positions)
            found, found_scores = index.search(query, k)
            ids, scores = _merge_hits(ids, scores, found[0], found_scores[0], k)
            new = ids[ids >= offset]
            taken = batch.select(shown).take(pa.array(new - offset)).to_pylist()
            rows = {i: rows[i] for i in ids.tolist() if i < offset}
            rows.update(zip(new.tolist(), taken))
        offset += len(batch)
    return [(float(s), rows[i]) for i, s in zip(ids.tolist(), scores.tolist())]


def _merge_hits(
    ids: np.ndarray, scores: np.ndarray, more_ids: np.ndarray, more_scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of two sets of hits, in the order of ``VectorIndex.search``.

    Best first, equal scores by the smaller id (the earlier row).
    """
    ids = np.concatenate((ids, more_ids))
    scores = np.concatenate((scores, more_scores))
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


def _exact_index(store: Store, vectors: np.ndarray, ids: np.ndarray) -> ExactIndex:
    """An exact index over ``vectors`` (taken over, not copied) of ``store``."""
    try:
        return ExactIndex(vectors, ids, copy=False)
    except ValueError as err:
        # ExactIndex refuses vectors that are not finite with a plain ValueError.
        raise CLIError(f"Column {store.vector_column!r} of {store.label}: {err}") from None


# -- dedup -----------------------------------------------------------------------------


def cmd_dedup(args: argparse.Namespace) -> int:
    """``dedup STORE``: the pairs of rows whose vectors score at least --threshold."""
    if args.k < 1:
        raise CLIError(f"-k must be a positive integer, got {args.k}.")
    if not -1.0 <= args.threshold <= 1.0:
        raise CLIError(f"--threshold is a cosine between -1 and 1, got {args.threshold}.")
    store = Store(args.store, args.table, args.vector_column)
    try:
        encoder = _store_encoder(store, args)
        dim = encoder.dim
        matrix = np.empty((store.rows, dim), dtype=np.float32)
        ids = np.empty(store.rows, dtype=np.int64)
        n = offset = 0
        for batch in store.batches([store.vector_column], args.chunk_size):
            vectors, valid = _store_vectors(store, batch, encoder.config, offset)
            m = int(valid.sum())
            matrix[n : n + m] = vectors[valid]
            ids[n : n + m] = offset + np.flatnonzero(valid)
            n += m
            offset += len(batch)
        index = _exact_index(store, matrix[:n], ids[:n])
        pairs: dict[tuple[int, int], float] = {}
        for lo in range(0, n, 2048):
            block = slice(lo, min(lo + 2048, n))
            hits = index.search_ragged(matrix[block], args.k, exclude=ids[block])
            queries = np.repeat(ids[block], hits.counts)
            keep = hits.scores >= np.float32(args.threshold)
            for a, b, s in zip(queries[keep], hits.ids[keep], hits.scores[keep]):
                key = (int(min(a, b)), int(max(a, b)))
                pairs[key] = max(pairs.get(key, -2.0), float(s))
        del index, matrix
        ordered = sorted(pairs.items(), key=lambda p: (-p[1], p[0]))
        if args.limit is not None:
            ordered = ordered[: args.limit]
        shown = _shown_columns(store, args.columns)
        found = _rows_at(store, shown, {i for (a, b), _ in ordered for i in (a, b)}, args)
    finally:
        store.close()
    columns = ["score"] + [f"{side}.{c}" for side in ("l", "r") for c in shown]
    rows = []
    for (a, b), score in ordered:
        row: dict[str, Any] = {"score": score}
        for side, i in (("l", a), ("r", b)):
            for c in shown:
                row[f"{side}.{c}"] = found.get(i, {}).get(c)
        rows.append(row)
    print_rows(rows, columns, args.format, args.max_width)
    if not args.quiet:
        print(
            f"{PROG}: {len(pairs):,} pairs with score >= {args.threshold} among {n:,} vectors"
            + (f" (showing {len(rows):,})" if len(rows) < len(pairs) else ""),
            file=sys.stderr,
        )
    return 0


def _rows_at(
    store: Store, shown: list[str], positions: set[int], args: argparse.Namespace
) -> dict[int, dict[str, Any]]:
    """The ``shown`` columns of the rows at ``positions``, read in one pass over the store."""
    wanted = np.array(sorted(positions), dtype=np.int64)
    found: dict[int, dict[str, Any]] = {}
    offset = 0
    if len(wanted) and shown:
        for batch in store.batches(shown, args.chunk_size):
            lo, hi = np.searchsorted(wanted, [offset, offset + len(batch)])
            if hi > lo:
                local = wanted[lo:hi] - offset
                for i, row in zip(wanted[lo:hi], batch.take(pa.array(local)).to_pylist()):
                    found[int(i)] = row
            offset += len(batch)
    return found


# -- explain and info ------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    """``explain DOC_A DOC_B``: the per-field contributions to their similarity."""
    if args.like:
        store = Store(args.like, args.table, args.vector_column)
        try:
            encoder = _store_encoder(store, args)
        finally:
            store.close()
    else:
        encoder = make_encoder(make_config(requested_options(args)))
    a = parse_doc(read_arg(args.doc_a, "DOC_A"), "first document")
    b = parse_doc(read_arg(args.doc_b, "DOC_B"), "second document")
    parts = encoder.explain(a, b, positions=args.positions)
    similarity = float(encoder.encode(a).astype(np.float64) @ encoder.encode(b).astype(np.float64))
    rows = [{"path": p, "contribution": float(c)} for p, c in parts]
    if args.format == "table":
        rows.append({"path": "similarity", "contribution": similarity})
        print_rows(rows[:-1], ["path", "contribution"], "table", args.max_width)
        print(f"similarity {similarity:.4f} ({encoder.config.describe()})")
    else:
        print_rows(rows, ["path", "contribution"], args.format, args.max_width)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``info [STORE]``: a configuration, or the one recorded for a store."""
    info: dict[str, Any]
    if args.store is None:
        config = make_config(requested_options(args))
        info = {
            "fingerprint": config.fingerprint,
            "configuration": config.describe(),
            "config": config.as_dict(),
        }
    else:
        store = Store(args.store, args.table, args.vector_column)
        try:
            info = _store_info(store, args)
        finally:
            store.close()
    if args.format == "json":
        print(json.dumps(info, indent=2, default=str))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key == "config":
                text = ", ".join(f"{k}={json.dumps(v)}" for k, v in value.items())
            elif isinstance(value, list):
                text = ", ".join(value)
            else:
                text = "-" if value is None else str(value)
            print(f"{key.ljust(width)}  {text}")
    return 0


def _store_info(store: Store, args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "store": store.path,
        "kind": store.kind,
        **({"table": store.table} if store.kind == "duckdb" else {}),
        "rows": store.rows,
        "vector_column": store.vector_column,
        "dim": store.dim,
        "columns": store.columns,
    }
    if store.config is None:
        info["configuration"] = None
        info["note"] = (
            "no encoder configuration is recorded with these vectors; search and dedup "
            "need the options they were encoded with"
        )
    else:
        config = make_config(store.config, store.label)
        info["fingerprint"] = config.fingerprint
        info["configuration"] = config.describe()
        info["config"] = config.as_dict()
        requested = requested_options(args)
        if requested:
            wanted = make_config(requested)
            info["comparable"] = wanted.fingerprint == config.fingerprint
    return info


#: The function of each sub-command.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "encode": cmd_encode,
    "search": cmd_search,
    "dedup": cmd_dedup,
    "explain": cmd_explain,
    "info": cmd_info,
}
