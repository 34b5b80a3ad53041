"""The worker process of :class:`duckdb_vsa.pool.WorkerPool`: ``python -m duckdb_vsa.worker``.

It reads one Arrow IPC stream of JSON documents on stdin, whose schema
metadata holds the encoder settings, and writes one stream of vectors on
stdout, one batch per request (see :mod:`duckdb_vsa.pool` for the protocol).
It exits at end of file on stdin, which comes when the parent closes the pipe,
exits or is killed. Nothing else should run it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import IO, Any

import pyarrow as pa

from duckdb_vsa.channel import PROTOCOL, SETTINGS_KEY, VECTOR_FIELD
from duckdb_vsa.config import ENCODER_VERSION, EncoderConfig
from duckdb_vsa.encoder import Encoder
from duckdb_vsa.errors import DocumentError

__all__ = ["build_encoder", "main", "serve"]


def build_encoder(settings: dict[str, Any]) -> Encoder:
    """The encoder the parent asked for.

    Parameters
    ----------
    settings : dict
        ``config`` (``EncoderConfig.as_dict()``), ``cache_bytes`` and
        ``fingerprint``, as the parent wrote them.

    Returns
    -------
    Encoder

    Raises
    ------
    ValueError
        If the configuration is of another encoder version or does not give
        the parent's fingerprint.
    """
    if settings.get("protocol") != PROTOCOL:
        raise ValueError(
            f"the parent speaks protocol {settings.get('protocol')}, this worker {PROTOCOL}"
        )
    options = dict(settings["config"])
    version = options.pop("version", None)
    if version != ENCODER_VERSION:
        raise ValueError(f"the parent encodes version {version}, this worker {ENCODER_VERSION}")
    encoder = Encoder.from_config(
        EncoderConfig.from_options(**options), cache_bytes=settings.get("cache_bytes"), workers=0
    )
    if encoder.fingerprint != settings.get("fingerprint"):
        raise ValueError(
            f"the configuration gives fingerprint {encoder.fingerprint} here, "
            f"{settings.get('fingerprint')} in the parent"
        )
    return encoder


def _answer_schema(dim: int, metadata: dict[str, Any]) -> pa.Schema:
    vector = pa.list_(pa.field("item", pa.float32()), dim)
    return pa.schema(
        [pa.field(VECTOR_FIELD, vector)], metadata={SETTINGS_KEY: json.dumps(metadata)}
    )


def serve(source: IO[bytes], sink: IO[bytes]) -> int:
    """Answer requests from ``source`` on ``sink`` until end of file.

    Parameters
    ----------
    source, sink : binary file objects
        The request and answer streams (buffered: the IPC reader expects whole reads).

    Returns
    -------
    int
        The exit code: 0 at end of file (or when the parent stopped listening),
        1 if the encoder could not be built.
    """
    try:
        reader = pa.ipc.open_stream(source)
    except (OSError, pa.ArrowException):
        return 0  # closed before the first request: nothing to do
    settings = json.loads((reader.schema.metadata or {}).get(SETTINGS_KEY.encode(), b"{}"))
    try:
        encoder = build_encoder(settings)
    except Exception as err:
        schema = _answer_schema(8, {"protocol": PROTOCOL, "error": f"{type(err).__name__}: {err}"})
        with pa.ipc.new_stream(sink, schema):
            pass
        sink.flush()
        return 1
    schema = _answer_schema(
        encoder.dim,
        {"protocol": PROTOCOL, "fingerprint": encoder.fingerprint, "pid": os.getpid()},
    )
    writer = pa.ipc.new_stream(sink, schema)
    empty = pa.record_batch([pa.array([], type=schema.field(0).type)], schema=schema)
    while True:
        try:
            request, meta = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            return 0
        except (OSError, pa.ArrowException):
            return 0  # the parent died while writing
        on_error = (meta or {}).get(b"on_error", b"raise").decode()
        answer, answer_meta = empty, None
        try:
            vectors = encoder.encode_arrow(request.column(0), on_error=on_error)
            answer = pa.record_batch([vectors], schema=schema)
        except DocumentError as err:
            answer_meta = {"error": "document", "message": str(err), "row": str(err.row or 0)}
        except Exception as err:
            # A bug, or memory: the parent reports it and this process keeps serving.
            message = "".join(traceback.format_exception_only(type(err), err)).strip()
            answer_meta = {"error": "failure", "message": message}
        try:
            writer.write_batch(answer, custom_metadata=answer_meta)
            sink.flush()
        except (OSError, pa.ArrowException):
            return 0  # the parent stopped listening


def main() -> int:
    """Run the worker on this process's stdin and stdout.

    Ctrl-C in a terminal reaches the whole process group: the worker ignores
    it and lets the parent decide. Anything printed to stdout by a library
    goes to stderr instead, so the answer stream stays clean.

    Returns
    -------
    int
        The exit code.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    with sink:
        return serve(sys.stdin.buffer, sink)


if __name__ == "__main__":
    sys.exit(main())
