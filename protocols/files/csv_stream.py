"""A streaming CSV reader for result files: bytes in, board records out.

The file is decoded incrementally and split into lines; a line that leaves a quoted field open
(an odd number of quote characters) continues on the next, so a logical row is handed to the
``csv`` module only once it is whole. The first row names the columns. Consecutive rows with the
same board barcode are one board; a row adds a defect when its defect-code column has a value,
and a measurement when its measurement-name column has one (a row may carry both, or neither:
a board that passed). Only the board being read is held.
"""

from __future__ import annotations

import codecs
import csv

from protocols.files import build
from protocols.files.records import BoardRecord, MalformedResultFile, UnitRecord
from protocols.files.resultmap import ResultMap

#: Longest logical row accepted, in characters: a quoted field never closed would otherwise
#: swallow the rest of the file into one row.
MAX_ROW = 1 << 20


class CsvResultParser:
    """Feeds a CSV result file chunk by chunk and returns the boards it completes.

    Args:
        result_map: the map (column names of each field).
        name: the file's name, for errors.
    """

    def __init__(self, result_map: ResultMap, *, name: str | None = None) -> None:
        self.map = result_map
        self.name = name
        self.boards = 0
        self._decoder = codecs.getincrementaldecoder(result_map.encoding)(errors="strict")
        self._partial = ""  # text after the last newline
        self._row: list[str] = []  # lines of a logical row whose quoted field is still open
        self._open_quote = False
        self._line = 0  # physical lines read
        self._row_line = 1  # line where the current logical row starts
        self._offset = 0  # bytes fed
        self._columns: dict[str, int] | None = None
        self._board: BoardRecord | None = None
        self._board_key: str | None = None
        self._units: dict[int, UnitRecord] = {}
        self._out: list[BoardRecord] = []
        m = result_map
        self._board_col = m.board_fields.get("barcode")
        self._defect_col = m.defect_fields.get("code")
        self._measure_col = m.measurement_fields.get("name")

    def feed(self, data: bytes) -> list[BoardRecord]:
        """Parse the next chunk; returns the boards completed by it.

        Raises:
            MalformedResultFile: undecodable text, a wrong row, or a wrong value.
        """
        try:
            text = self._decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise self._error(
                f"not {self.map.encoding} text: {exc.reason}", self._offset + exc.start
            ) from None
        self._offset += len(data)
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._physical(line + "\n")
        if len(self._partial) > MAX_ROW:
            raise self._error(f"a line longer than {MAX_ROW} characters")
        return self._take()

    def close(self) -> list[BoardRecord]:
        """End of file: the last board.

        Raises:
            MalformedResultFile: a truncated row (an open quote), or no board at all.
        """
        try:
            rest = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise self._error(f"truncated {self.map.encoding} text: {exc.reason}", self._offset) from None
        if self._partial or rest:
            self._physical(self._partial + rest)
            self._partial = ""
        if self._open_quote:
            raise self._error("file ends inside a quoted field (truncated)", line=self._row_line)
        self._flush_board()
        out = self._take()
        if self.boards == 0:
            raise self._error("no board rows in the file")
        return out

    def _take(self) -> list[BoardRecord]:
        out, self._out = self._out, []
        self.boards += len(out)
        return out

    def _error(
        self, reason: str, offset: int | None = None, *, line: int | None = None
    ) -> MalformedResultFile:
        return MalformedResultFile(reason, name=self.name, line=line or self._line, offset=offset)

    # --- rows ----------------------------------------------------------------------------------

    def _physical(self, line: str) -> None:
        self._line += 1
        if not self._row:
            self._row_line = self._line
        self._row.append(line)
        if line.count(self.map.quotechar) % 2:
            self._open_quote = not self._open_quote
        if self._open_quote:
            if sum(map(len, self._row)) > MAX_ROW:
                raise self._error(f"a quoted field runs over {MAX_ROW} characters", line=self._row_line)
            return
        text, self._row = "".join(self._row), []
        if not text.strip():
            return  # blank line
        try:
            row = next(
                csv.reader([text], delimiter=self.map.delimiter, quotechar=self.map.quotechar, strict=True)
            )
        except csv.Error as exc:
            raise self._error(str(exc), line=self._row_line) from None
        try:
            self._logical(row)
        except MalformedResultFile as exc:
            raise self._error(exc.reason, line=self._row_line) from None

    def _logical(self, row: list[str]) -> None:
        if self._columns is None:
            self._header(row)
            return
        columns = self._columns
        if len(row) != len(columns):
            raise MalformedResultFile(f"row has {len(row)} fields, the header {len(columns)}")

        def get(source: str) -> str | None:
            index = columns.get(source)
            return row[index] if index is not None else None

        key = get(self._board_col) if self._board_col else None
        if self._board is None or key != self._board_key:
            self._flush_board()
            self._board, self._board_key = build.board(self.map, get), key
        m = self.map
        unit = build.unit(m, get, default_position=1)
        known = self._units.get(unit.position)
        if known is None:
            self._units[unit.position] = known = unit
        elif known.outcome is None:
            known.outcome = unit.outcome
        if self._defect_col and (get(self._defect_col) or "").strip():
            if sum(len(u.defects) for u in self._units.values()) >= m.max_defects:
                raise MalformedResultFile(f"more than {m.max_defects} defects on one board (max_defects)")
            known.defects.append(build.defect(m, get))
        if self._measure_col and (get(self._measure_col) or "").strip():
            known.measurements.append(build.measurement(m, get))

    def _header(self, row: list[str]) -> None:
        names = [name.strip() for name in row]
        columns = {name: index for index, name in enumerate(names)}
        m = self.map
        for fields in (m.board_fields, m.unit_fields, m.defect_fields, m.measurement_fields):
            for source in fields.values():
                if source not in columns:
                    raise MalformedResultFile(f"column {source!r} is not in the header ({', '.join(names)})")
        self._columns = columns

    def _flush_board(self) -> None:
        if self._board is None:
            return
        board = self._board
        board.units = [self._units[p] for p in sorted(self._units)]
        self._out.append(build.finish(board))
        self._board, self._units = None, {}
