"""The :class:`Encoder`: JSON documents to unit vectors, and back to their fields.

:class:`Encoder` is the facade over the engine (:mod:`duckdb_vsa.engine`): it
holds a configuration and its caches, parses JSON text, reports errors with
the row they come from, and answers probes and explanations. Encoders pickle
as their configuration, and :func:`shared_encoder` keeps one per configuration
in a process so that its caches are shared.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from duckdb_vsa.arrays import combine, vectors_from_arrow, vectors_to_arrow
from duckdb_vsa.atoms import AtomSource
from duckdb_vsa.basis import Basis
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.dispatch import MIN_POOL_ROWS, check_workers
from duckdb_vsa.dispatch import encode_arrow as dispatch_arrow
from duckdb_vsa.engine import Engine
from duckdb_vsa.errors import DocumentError, InvalidArgumentError, WrongTypeError
from duckdb_vsa.explain import explain
from duckdb_vsa.leaves import LeafEncoder
from duckdb_vsa.parse import parse_json
from duckdb_vsa.probe import Prober
from duckdb_vsa.roles import RoleFamily
from duckdb_vsa.tree import encode_tree

__all__ = ["DEFAULT_CACHE_BYTES", "ON_ERROR", "Encoder", "shared_encoder"]

ON_ERROR = ("raise", "null")

DEFAULT_CACHE_BYTES = 256 * 2**20
#: With ``binding="haar"`` and the default ``cache_bytes``, the role cache holds at
#: least this many D x D matrices (roles and chains): a nested schema needs ~100.
HAAR_DEFAULT_MATRICES = 128


#: Encoders shared in this process, by configuration and cache budget, least recently
#: used first. Each may hold a few times its ``cache_bytes`` in caches, so only the
#: most recently used are kept; one evicted is rebuilt on its next use (its vectors
#: are the same: an encoder is a function of its configuration).
_SHARED: dict[tuple[EncoderConfig, int | None], Encoder] = {}
#: Encoders :func:`shared_encoder` keeps alive at once.
SHARED_ENCODERS = 4
_SHARED_LOCK = threading.Lock()


def shared_encoder(config: EncoderConfig, cache_bytes: int | None = None) -> Encoder:
    """The process's encoder of ``config`` (one set of caches per configuration).

    Parameters
    ----------
    config : EncoderConfig
        The configuration.
    cache_bytes : int, optional
        The cache budget (see :class:`Encoder`); None for the default.

    Returns
    -------
    Encoder
        The same object for the same arguments as long as it is among the
        :data:`SHARED_ENCODERS` most recently used.
    """
    key = (config, None if cache_bytes is None else int(cache_bytes))
    with _SHARED_LOCK:
        encoder = _SHARED.pop(key, None)
        if encoder is None:
            encoder = Encoder.from_config(config, cache_bytes=cache_bytes, workers=0)
        while len(_SHARED) >= SHARED_ENCODERS:
            del _SHARED[next(iter(_SHARED))]
        _SHARED[key] = encoder
        return encoder


def forget_shared_encoders() -> None:
    """Drop every encoder :func:`shared_encoder` keeps, so that the next ones start cold."""
    with _SHARED_LOCK:
        _SHARED.clear()


def _texts(array: pa.Array) -> list[Any]:
    """The strings of an Arrow string array; a value that is not UTF-8 comes back as bytes."""
    try:
        return array.to_pylist()
    except UnicodeDecodeError:
        raw = array.cast(pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary())
        out: list[Any] = []
        for value in raw.to_pylist():
            try:
                out.append(None if value is None else value.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(value)
        return out


def _not_utf8(value: bytes) -> str:
    """What an invalid UTF-8 value is, for its error."""
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as err:
        return (
            f"The document is not valid UTF-8 ({err.reason} at byte {err.start}): "
            f"{value[:60]!r}{'...' if len(value) > 60 else ''}."
        )
    return "The document is not valid UTF-8."


def _unpickle_encoder(options: dict[str, Any], cache_bytes: int | None) -> Encoder:
    """The process's encoder of this configuration (see :meth:`Encoder.__reduce__`)."""
    return shared_encoder(EncoderConfig(**options), cache_bytes)


class Encoder:
    """Encodes JSON documents into unit float32 vectors with MBAT.

    Parameters
    ----------
    dim : int, default 1024
        Vector dimension.
    seed : int, default 0
        Seed of every atom and role matrix.
    binding : {"perm", "haar"}, default "perm"
        Role family (see :mod:`duckdb_vsa.roles`).
    cache_bytes : int, default 256 MiB
        Budget of all the encoder's caches together: half for string leaves and
        atoms, three eighths for role and chain matrices, an eighth for key bags.
        Not part of the configuration: it changes speed only. Left at its
        default with ``binding="haar"``, the role cache gets at least
        ``HAAR_DEFAULT_MATRICES`` dense matrices (512 MiB at D = 1024) beside it.
    workers : int or "auto", optional
        Worker processes for large calls of :meth:`encode_arrow` and
        :meth:`encode_batch` (of JSON text): 0 (the default, None) encodes in
        this process; ``"auto"`` uses the usable cores when there are two or
        more. Calls under ``duckdb_vsa.dispatch.MIN_POOL_ROWS`` rows, and calls
        made while the workers are starting, are encoded in this process; the
        vectors are the same either way. The workers are shared by every
        encoder of the same configuration, ``cache_bytes`` and ``workers`` in
        the process (see :mod:`duckdb_vsa.dispatch`); each holds its own
        caches of ``cache_bytes``. Not part of the configuration.
    **options
        Any other field of :class:`~duckdb_vsa.config.EncoderConfig`
        (``alpha``, ``beta``, ``number_bandwidth``...).

    Raises
    ------
    ValueError, TypeError
        For an invalid or unknown option.

    Examples
    --------
    >>> enc = Encoder(dim=256)
    >>> a = enc.encode({"name": "red shoe", "price": 40})
    >>> b = enc.encode('{"price": 40, "name": "red shoe"}')
    >>> a.shape, a.dtype, round(float(a @ b), 6)
    ((256,), dtype('float32'), 1.0)
    """

    def __init__(
        self,
        dim: int = 1024,
        seed: int = 0,
        binding: str = "perm",
        *,
        cache_bytes: int | None = None,
        workers: int | str | None = None,
        **options: Any,
    ) -> None:
        self.config = EncoderConfig.from_options(dim=dim, seed=seed, binding=binding, **options)
        #: Worker processes for large calls (0: this process only).
        self.workers = check_workers(workers)
        self._cache_option = None if cache_bytes is None else int(cache_bytes)
        self.cache_bytes = DEFAULT_CACHE_BYTES if cache_bytes is None else int(cache_bytes)
        # One budget for the whole encoder: maps keyed by identifiers fill the role
        # and key-bag caches, long texts the leaf caches, and neither may take the other's.
        role_bytes = self.cache_bytes * 3 // 8
        if cache_bytes is None and self.config.binding == "haar":
            # Dense roles are 4 D^2 bytes each: size the default by D, not in bytes.
            role_bytes = max(role_bytes, HAAR_DEFAULT_MATRICES * 4 * self.config.dim**2)
        self.basis = Basis(
            self.config, self.cache_bytes // 2, role_bytes, bag_bytes=self.cache_bytes // 8
        )
        self.engine = Engine(self.basis)
        self.prober = Prober(self.engine)

    @classmethod
    def from_config(
        cls,
        config: EncoderConfig,
        *,
        cache_bytes: int | None = None,
        workers: int | str | None = None,
    ) -> Encoder:
        """The encoder of a configuration (``cache_bytes`` and ``workers`` as for the class).

        Examples
        --------
        >>> Encoder.from_config(EncoderConfig(dim=64)).dim
        64
        """
        options = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        return cls(cache_bytes=cache_bytes, workers=workers, **options)

    # -- identity ------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def binding(self) -> str:
        return self.config.binding

    @property
    def atoms(self) -> AtomSource:
        """The atom source (random unit vectors by namespace and name)."""
        return self.basis.atoms

    @property
    def roles(self) -> RoleFamily:
        """The role family (the orthogonal matrices that bind keys and positions)."""
        return self.basis.roles

    @property
    def leaves(self) -> LeafEncoder:
        """The leaf encoder (vectors of numbers, strings and literals)."""
        return self.basis.leaves

    @property
    def fingerprint(self) -> str:
        """Digest of the configuration; vectors of different fingerprints don't compare."""
        return self.config.fingerprint

    def info(self) -> dict[str, Any]:
        """Version, dim, seed, binding and fingerprint (what ``vsa_info()`` returns)."""
        return {
            "version": ENCODER_VERSION,
            "dim": self.dim,
            "seed": self.seed,
            "binding": self.binding,
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        return (
            f"Encoder(dim={self.dim}, seed={self.seed}, binding={self.binding!r}, "
            f"fingerprint={self.fingerprint!r})"
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the configuration only; the receiving process rebuilds its own caches.

        So an encoder travels cheaply to a worker process (Dask, Ray, Spark,
        multiprocessing): a few hundred bytes, whatever its caches hold. In the
        receiving process, equal configurations unpickle to one shared encoder,
        so the caches stay warm from one task to the next. ``workers`` does not
        travel: the receiving process encodes in itself (``workers=0``).
        """
        options = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}
        return (_unpickle_encoder, (options, self._cache_option))

    def clear_caches(self, *, structure: bool = True) -> None:
        """Empty the caches, so that the next documents are encoded from scratch.

        Vectors do not change; only speed does. Benchmarks use it to measure
        documents whose values were never seen.

        Parameters
        ----------
        structure : bool, default True
            Also forget role and chain matrices and key bags, which depend on the
            documents' keys rather than their values. With False, only caches
            keyed by values (strings, tokens, trigrams, number levels) are emptied.
        """
        self.basis.clear_caches(structure=structure)

    # -- public encoding -----------------------------------------------------------
    def encode(self, doc: Any) -> np.ndarray:
        """Encode one document.

        Parameters
        ----------
        doc : str or object
            JSON text, or a Python value made of dict, list, str, int, float,
            bool and None (``None`` is JSON ``null``).

        Returns
        -------
        ndarray of float32, shape (dim,)
            A unit vector.

        Raises
        ------
        DocumentError
            For empty or invalid JSON text, or nesting beyond 10,000 levels.
        """
        return self.encode_batch([doc])[0]

    def encode_batch(self, docs: Iterable[Any]) -> np.ndarray:
        """Encode many documents (see :meth:`encode`).

        With :attr:`workers`, a large batch of JSON text is encoded by worker
        processes (see :meth:`encode_arrow`); other batches, in this process.

        Returns
        -------
        ndarray of float32, shape (n, dim)
        """
        if not self.workers:
            return self._encode_batch_here(docs)
        docs = docs if isinstance(docs, Sequence) and not isinstance(docs, str) else list(docs)
        array = None
        if len(docs) >= MIN_POOL_ROWS and all(isinstance(doc, str) for doc in docs):
            try:
                array = pa.array(docs, type=pa.string())
            except (pa.ArrowException, UnicodeError):
                array = None  # text Arrow cannot hold (lone surrogates): this process reads it
        if array is None:
            return self._encode_batch_here(docs)
        try:
            vectors = self._dispatch(array, "raise")
        except DocumentError as err:
            if err.row is None:
                raise
            # The wording of this method's own error, for the same document.
            try:
                self._encode_batch_here([docs[err.row]])
            except DocumentError as here:
                raise DocumentError(str(here), row=err.row) from None
            raise
        rows, _ = vectors_from_arrow(vectors, self.dim)
        return rows if rows.flags.writeable else rows.copy()

    def _encode_batch_here(self, docs: Iterable[Any]) -> np.ndarray:
        values = []
        for row, doc in enumerate(docs):
            if isinstance(doc, str):
                try:
                    doc = parse_json(doc)
                except DocumentError as err:
                    raise DocumentError(str(err), row=row) from None
            values.append(doc)
        return self.engine.encode_values(values)

    def encode_arrow(
        self, array: pa.Array | pa.ChunkedArray, on_error: str = "raise"
    ) -> pa.FixedSizeListArray:
        """Encode an Arrow array of JSON text; the form DuckDB's UDF calls.

        Parameters
        ----------
        array : pyarrow.Array or pyarrow.ChunkedArray of string
            JSON documents; nulls stay null.
        on_error : {"raise", "null"}, default "raise"
            What an empty or invalid document gives: an error naming the problem
            and showing the start of the value, or a null vector.

        Returns
        -------
        pyarrow.FixedSizeListArray of float32, list size ``dim``

        Raises
        ------
        DocumentError
            For an empty, invalid or non-UTF-8 document, or one beyond the limits
            of docs/design.md, "Limits", with ``on_error="raise"``; ``.row`` is
            its position in ``array``.
        WorkerError
            If a worker process died during the call (it is replaced for the next one).

        Notes
        -----
        With :attr:`workers`, an array of at least ``duckdb_vsa.dispatch.MIN_POOL_ROWS``
        rows is cut into slices encoded by worker processes; the first such
        call starts them in the background and is encoded here until they are
        ready. The vectors are bit-identical to those of this process.
        """
        if on_error not in ON_ERROR:
            raise InvalidArgumentError(f"on_error must be 'raise' or 'null', got {on_error!r}.")
        if self.workers and len(array) >= MIN_POOL_ROWS:
            return self._dispatch(array, on_error)
        return self._encode_arrow_here(array, on_error)

    def _dispatch(self, array: pa.Array | pa.ChunkedArray, on_error: str) -> pa.Array:
        """Encode on this encoder's workers, or here while they start."""
        return dispatch_arrow(
            array,
            on_error,
            config=self.config,
            cache_bytes=self._cache_option,
            workers=self.workers,
            local=self._encode_arrow_here,
        )

    def _encode_arrow_here(
        self, array: pa.Array | pa.ChunkedArray, on_error: str
    ) -> pa.FixedSizeListArray:
        """:meth:`encode_arrow` in this process."""
        array = combine(array)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            if not pa.types.is_null(array.type):
                raise WrongTypeError(
                    f"encode_arrow expects an Arrow string array, got {array.type}."
                )
            array = array.cast(pa.string())
        texts = _texts(array)
        valid = np.ones(len(texts), dtype=bool)
        values: list[Any] = []
        for i, text in enumerate(texts):
            if text is None:
                valid[i] = False
                continue
            try:
                if isinstance(text, bytes):
                    raise DocumentError(_not_utf8(text))
                values.append(parse_json(text))
            except DocumentError as err:
                if on_error == "raise":
                    raise DocumentError(f"Cannot encode document: {err}", row=i) from None
                valid[i] = False
        positions = np.flatnonzero(valid)
        vectors, encoded = self._encode_rows(values, positions, on_error)
        valid[positions[~encoded]] = False
        if valid.all():
            return vectors_to_arrow(vectors)
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows[positions[encoded]] = vectors[encoded]
        return vectors_to_arrow(rows, valid)

    def _encode_rows(
        self, values: list[Any], positions: np.ndarray, on_error: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of parsed documents, and which could be encoded.

        A document the engine refuses (too deep, too many leaves) raises with
        its position in the caller's array, or with ``on_error="null"`` is left
        out: the documents after it are encoded on, those before it again.
        """
        out = np.zeros((len(values), self.dim), dtype=np.float32)
        encoded = np.ones(len(values), dtype=bool)
        start = 0
        while start < len(values):
            try:
                out[start:] = self.engine.encode_values(values[start:])
                break
            except DocumentError as err:
                if err.row is None:
                    raise
                bad = start + err.row
                if on_error == "raise":
                    raise DocumentError(
                        f"Cannot encode document: {err}", row=int(positions[bad])
                    ) from None
                encoded[bad] = False
                if bad > start:
                    out[start:bad] = self.engine.encode_values(values[start:bad])
                start = bad + 1
        return out, encoded

    def encode_tree(self, doc: Any) -> np.ndarray:
        """Encode one document by the node-by-node tree evaluator (the reference path).

        Agrees with :meth:`encode` to float32 rounding; used for documents the
        batch engine does not expand, and by tests.
        """
        value = parse_json(doc) if isinstance(doc, str) else doc
        return encode_tree(self.basis, value).astype(np.float32)

    # -- probing and explaining ----------------------------------------------------
    def probe(self, vector: np.ndarray, path: str) -> np.ndarray:
        """Unbind a field's content from a document vector.

        Parameters
        ----------
        vector : ndarray, shape (dim,)
            A document vector of this encoder.
        path : str
            ``$.a.b``, ``$.items[2]``, or ``$.items[*]`` for the bag part of an array.

        Returns
        -------
        ndarray of float32, shape (dim,)
            ``R(chain)^T vector``: the field's structure vector (scaled) plus noise.

        Examples
        --------
        >>> enc = Encoder(dim=1024)
        >>> v = enc.encode({"color": "red", "size": 42, "name": "trail shoe"})
        >>> p = enc.probe(v, "$.color")
        >>> red, blue = enc.field_vector("$.color", "red"), enc.field_vector("$.color", "blue")
        >>> bool(p @ red > 0.3 > p @ blue)
        True
        """
        rows = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if rows.shape[1] != self.dim:
            raise InvalidArgumentError(
                f"Expected a vector of length {self.dim}, got {rows.shape[1]}."
            )
        return self.prober.probe(rows, [path])[0]

    def probe_many(self, vectors: np.ndarray, paths: Sequence[str]) -> np.ndarray:
        """:meth:`probe` for many vectors (n x dim), each along its own path; float32 (n x dim)."""
        return self.prober.probe(vectors, paths)

    def field_vectors(self, paths: Sequence[str], values: Sequence[Any]) -> np.ndarray:
        """:meth:`field_vector` for many (path, parsed value) pairs; float32 (n x dim)."""
        return self.prober.values(paths, values)

    def field_vector(self, path: str, value: Any) -> np.ndarray:
        """The unit structure vector of ``value`` (a Python value) as the field at ``path``.

        ``value`` is a Python value (a ``str`` is a string here, not JSON text).
        """
        return self.prober.values([path], [value])[0]

    def field_similarity(self, vector: np.ndarray, path: str, value: Any) -> float:
        """Cosine of ``probe(vector, path)`` and ``field_vector(path, value)``.

        How well ``value`` fits the field at ``path`` of the encoded document:
        about ``1 / sqrt(fields)`` for the true value, about 0 (± 1/sqrt(D)) otherwise.
        """
        probed = self.probe(vector, path).astype(np.float64)
        candidate = self.field_vector(path, value).astype(np.float64)
        norm = np.linalg.norm(probed) * np.linalg.norm(candidate)
        return float(probed @ candidate / norm) if norm > 0 else 0.0

    def decode(
        self, vector: np.ndarray, path: str, candidates: Sequence[Any], k: int = 5
    ) -> list[tuple[Any, float]]:
        """The ``k`` candidates (Python values) that best fit the field at ``path``.

        Returns
        -------
        list of (candidate, score)
            Best first; ties keep the candidates' order.
        """
        probed = self.probe(vector, path).astype(np.float64)
        vectors = self.prober.values([path] * len(candidates), list(candidates))
        scores = vectors.astype(np.float64) @ probed / max(np.linalg.norm(probed), 1e-30)
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))[:k]
        return [(candidates[i], float(scores[i])) for i in order]

    def explain(
        self, doc_a: Any, doc_b: Any, *, positions: bool = False
    ) -> list[tuple[str, float]]:
        """Which fields make two documents similar.

        Parameters
        ----------
        doc_a, doc_b : str or object
            JSON text or Python values, as for :meth:`encode`.
        positions : bool, default False
            Name array elements by position (``$.items[2].sku``) instead of
            gathering them under ``[*]``.

        Returns
        -------
        list of (str, float)
            ``(path, contribution)``, largest first, adding up to the cosine of
            the two vectors: one entry per leaf path the documents share,
            ``(keys)`` for the key-name bags and ``(other)`` for the rest
            (cross terms between different paths).

        Examples
        --------
        >>> enc = Encoder(dim=1024)
        >>> parts = enc.explain({"name": "red shoe", "size": 42}, {"name": "red shoe", "size": 9})
        >>> parts[0][0]
        '$.name'
        >>> bool(abs(sum(c for _, c in parts) - enc.encode('{"name": "red shoe", "size": 42}')
        ...     @ enc.encode('{"name": "red shoe", "size": 9}')) < 1e-5)
        True
        """
        a = parse_json(doc_a) if isinstance(doc_a, str) else doc_a
        b = parse_json(doc_b) if isinstance(doc_b, str) else doc_b
        return explain(self.engine, a, b, positions=positions)
