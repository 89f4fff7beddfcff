"""Input and output files of jpsi-score: read in chunks, written in chunks, never half-written.

Reading: Parquet through ``pyarrow.parquet.ParquetFile.iter_batches`` (only the needed
columns, one chunk in memory at a time), CSV through pyarrow's streaming CSV reader. The
file is opened and its schema checked before anything is written: a file that is not
Parquet/CSV, a missing column or a non-numeric one is a ``ScoreError`` naming it.

Writing: ``AtomicParquetWriter`` appends row groups to a hidden temporary file beside the
output (same directory, so the final ``os.replace`` is atomic on one file system) and
renames it into place only when every chunk is written; on any error the temporary file
is removed and a previous OUTPUT is left untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from jpsi_client.frames import KINEMATICS, SQRT_S


class ScoreError(Exception):
    """A problem with the input or output files, said in words (no traceback needed)."""


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def _check_schema(path: Path, schema: pa.Schema) -> list[str]:
    """The columns to read (x, z, Q, PT and sqrt_s if present); ScoreError otherwise."""
    names = schema.names
    missing = [c for c in KINEMATICS if c not in names]
    if missing:
        raise ScoreError(
            f"{path}: missing column(s) {', '.join(missing)} (the file has: {', '.join(names)})"
        )
    wanted = [*KINEMATICS, *([SQRT_S] if SQRT_S in names else [])]
    for c in wanted:
        t = schema.field(c).type
        if not (_numeric(t) or pa.types.is_null(t)):
            raise ScoreError(f"{path}: column {c!r} is not numeric (type {t})")
    return wanted


class Input:
    """A Parquet or CSV file of points, read ``chunk_rows`` rows at a time.

    ``keep`` lists the input columns copied to the output (x, z, Q, PT, sqrt_s if present);
    ``num_rows`` is known for Parquet (None for CSV until read)."""

    def __init__(self, path: str | os.PathLike, chunk_rows: int):
        self.path = Path(path)
        self.chunk_rows = int(chunk_rows)
        if self.chunk_rows < 1:
            raise ScoreError("--chunk-rows must be >= 1")
        if not self.path.is_file():
            raise ScoreError(f"{self.path}: no such file")
        self.kind = _kind(self.path)
        self.num_rows: int | None = None
        if self.kind == "parquet":
            try:
                # pre_buffer (the default) keeps every row group's bytes it read until the
                # file is closed: memory grew by 32 bytes a row (tests/client/test_score.py)
                self._pf = pq.ParquetFile(self.path, pre_buffer=False)
            except (pa.ArrowException, OSError) as exc:
                raise ScoreError(f"{self.path}: not a readable Parquet file ({exc})") from exc
            self._schema = self._pf.schema_arrow
            self.keep = _check_schema(self.path, self._schema)
            self.num_rows = self._pf.metadata.num_rows
        else:
            try:
                self._csv_first = self._open_csv()
            except (pa.ArrowException, OSError) as exc:
                raise ScoreError(f"{self.path}: not a readable CSV file ({exc})") from exc
            self._schema = self._csv_first.schema
            self.keep = _check_schema(self.path, self._schema)

    def empty(self) -> pa.Table:
        """No rows, the columns and types ``chunks`` gives."""
        return pa.table({c: pa.array([], self._schema.field(c).type) for c in self.keep})

    def _open_csv(self):
        types = {c: pa.float64() for c in (*KINEMATICS, SQRT_S)}
        return pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=max(1 << 16, self.chunk_rows * 64)),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )

    def chunks(self) -> Iterator[pa.Table]:
        """The needed columns, ``chunk_rows`` rows at a time (the last chunk shorter)."""
        try:
            if self.kind == "parquet":
                batches = self._pf.iter_batches(
                    batch_size=self.chunk_rows, columns=self.keep, use_threads=False
                )
            else:
                reader, self._csv_first = self._csv_first or self._open_csv(), None
                batches = (b.select(self.keep) for b in reader)
            pending: list[pa.RecordBatch] = []
            size = 0
            for batch in batches:
                pending.append(batch)
                size += batch.num_rows
                while size >= self.chunk_rows:
                    table = pa.Table.from_batches(pending).combine_chunks()
                    yield table.slice(0, self.chunk_rows)
                    rest = table.slice(self.chunk_rows)
                    pending, size = rest.to_batches(), rest.num_rows
            if size:
                yield pa.Table.from_batches(pending).combine_chunks()
        except pa.ArrowException as exc:
            raise ScoreError(f"{self.path}: cannot read the file ({exc})") from exc


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".csv.bz2")):
        return "csv"
    with path.open("rb") as f:
        magic = f.read(4)
    if name.endswith((".parquet", ".pq")) or magic == b"PAR1":
        return "parquet"
    raise ScoreError(f"{path}: neither Parquet (.parquet) nor CSV (.csv)")


class AtomicParquetWriter:
    """Parquet written beside ``output`` and renamed into place by ``commit()``."""

    def __init__(self, output: str | os.PathLike, compression: str = "snappy"):
        self.output = Path(output)
        if self.output.is_dir():
            raise ScoreError(f"{self.output}: is a directory")
        if not self.output.parent.is_dir():
            raise ScoreError(f"{self.output.parent}: no such directory")
        self.tmp = self.output.parent / f".{self.output.name}.{os.getpid()}.partial"
        self.compression = compression
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        # Dictionary encoding and min/max statistics of every float column cost 3-4x the
        # rest of the write (measured in bench/score.py) and buy nothing for continuous
        # values; statistics are kept for the input columns (row-group pruning on x, Q ...).
        stats = [c for c in (*KINEMATICS, SQRT_S) if c in schema.names]
        return pq.ParquetWriter(
            self.tmp,
            schema,
            compression=self.compression,
            use_dictionary=False,
            write_statistics=stats,
        )

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = self._open(table.schema)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.rows += table.num_rows

    def commit(self, schema: pa.Schema) -> None:
        """Close and move into place (an empty input still gives a file, with ``schema``)."""
        if self._writer is None:
            self._writer = self._open(schema)
        self._writer.close()
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)
