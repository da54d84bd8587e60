"""A streaming, hardened XML reader for result files: bytes in, board records out.

Result files are large (an AOI result of 30 MB with 50,000 defects), so the file is fed in
chunks to expat and only the element being read is held: each board record leaves as soon as
its element closes, and nothing of the document tree is kept.

Hardening, as for Hermes (native/hermes_xml): a DOCTYPE is refused as soon as expat reports it,
before its internal subset is read, so there is no DTD, no entity declaration and no external
entity; parameter entities are never parsed; a reference to any entity other than the five
predefined ones is an error (expat's "undefined entity"); nesting is limited. Every problem is a
:class:`MalformedResultFile` with the line, column and byte offset expat reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

from protocols.files import build
from protocols.files.records import (
    BoardRecord,
    DefectRecord,
    MalformedResultFile,
    MeasurementRecord,
    UnitRecord,
)
from protocols.files.resultmap import ResultMap

#: Deepest element nesting accepted. Result files nest 3 to 6 levels; the limit bounds the
#: parser's stack against a file of nested garbage.
MAX_DEPTH = 64


class _Refused(Exception):
    """Raised from an expat handler; carries the reason out of ``Parse``."""


@dataclass(slots=True)
class _Frame:
    kind: str  # board, unit, defect, measurement
    depth: int
    attrs: dict[str, str]
    wanted: frozenset[str]  # child elements whose text this frame's fields read
    line: int  # where the element starts, for errors in its values
    column: int
    texts: dict[str, str] = field(default_factory=dict)
    units: list[UnitRecord] = field(default_factory=list)
    defects: list[DefectRecord] = field(default_factory=list)
    measurements: list[MeasurementRecord] = field(default_factory=list)


def _children(fields: dict[str, str] | object) -> frozenset[str]:
    assert isinstance(fields, dict)
    return frozenset(s for s in fields.values() if not s.startswith(("@", "/@")))


_ROOT, _ATTR, _CHILD = 0, 1, 2


def _plan(source: str) -> tuple[str, int, str]:
    # "/@name": the root element's attribute; "@name": the element's own; "Name": a child's text.
    if source.startswith("/@"):
        return source, _ROOT, source[2:]
    if source.startswith("@"):
        return source, _ATTR, source[1:]
    return source, _CHILD, source


class XmlResultParser:
    """Feeds a result file to expat chunk by chunk and returns the boards it completes.

    Args:
        result_map: the map (element names and field sources).
        name: the file's name, for errors.
    """

    def __init__(self, result_map: ResultMap, *, name: str | None = None) -> None:
        self.map = result_map
        self.name = name
        self.boards = 0
        self._parser = p = expat.ParserCreate()
        p.buffer_text = True
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = self._external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        m = result_map
        self._kinds = {m.board: "board"}
        for kind, element in (("unit", m.unit), ("defect", m.defect), ("measurement", m.measurement)):
            if element is not None:
                self._kinds[element] = kind
        self._plans = {
            kind: [_plan(source) for source in dict(fields).values()]
            for kind, fields in (
                ("board", m.board_fields),
                ("unit", m.unit_fields),
                ("defect", m.defect_fields),
                ("measurement", m.measurement_fields),
            )
        }
        self._wanted = {
            "board": _children(dict(m.board_fields)),
            "unit": _children(dict(m.unit_fields)),
            "defect": _children(dict(m.defect_fields)),
            "measurement": _children(dict(m.measurement_fields)),
        }
        self._root: dict[str, str] | None = None
        self._depth = 0
        self._frames: list[_Frame] = []
        self._capture: tuple[str, int] | None = None  # (child name, depth) whose text is read
        self._chunks: list[str] = []
        self._out: list[BoardRecord] = []
        self._defects = 0  # on the board being read

    # --- feeding -------------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[BoardRecord]:
        """Parse the next chunk; returns the boards whose element closed in it.

        Raises:
            MalformedResultFile: the file is not well-formed, refused, or a value is wrong.
        """
        self._parse(data, final=False)
        return self._take()

    def close(self) -> list[BoardRecord]:
        """End of file: the last boards.

        Raises:
            MalformedResultFile: the file is truncated, or held no board at all.
        """
        self._parse(b"", final=True)
        out = self._take()
        if self.boards == 0:
            raise MalformedResultFile(f"no <{self.map.board}> element in the file", name=self.name)
        return out

    def _take(self) -> list[BoardRecord]:
        out, self._out = self._out, []
        self.boards += len(out)
        return out

    def _parse(self, data: bytes, *, final: bool) -> None:
        p = self._parser
        try:
            p.Parse(data, final)
        except expat.ExpatError as exc:
            raise MalformedResultFile(
                expat.ErrorString(exc.code),
                name=self.name,
                line=exc.lineno,
                column=exc.offset,
                offset=p.ErrorByteIndex,
            ) from None
        except LookupError as exc:  # the XML declaration names an encoding Python does not know
            raise MalformedResultFile(str(exc), name=self.name, line=1, offset=0) from None
        except MalformedResultFile as exc:  # a value: where its element starts
            raise MalformedResultFile(exc.reason, name=self.name, line=exc.line, column=exc.column) from None
        except _Refused as exc:
            raise MalformedResultFile(
                str(exc),
                name=self.name,
                line=p.CurrentLineNumber,
                column=p.CurrentColumnNumber,
                offset=p.CurrentByteIndex,
            ) from None

    # --- refusals ------------------------------------------------------------------------------

    def _doctype(self, *_: object) -> None:
        raise _Refused("DOCTYPE is not allowed (no DTD, no entities)")

    def _entity(self, *_: object) -> None:
        raise _Refused("entity declarations are not allowed")

    def _external(self, *_: object) -> int:
        raise _Refused("external entities are not allowed")

    # --- elements ------------------------------------------------------------------------------

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"elements nested deeper than {MAX_DEPTH}")
        if self._root is None:
            self._root = attrs
        kind = self._kinds.get(name)
        frames = self._frames
        if kind is not None and self._may_open(kind):
            p = self._parser
            frames.append(
                _Frame(
                    kind, self._depth, attrs, self._wanted[kind], p.CurrentLineNumber, p.CurrentColumnNumber
                )
            )
            if kind == "board":
                self._defects = 0
            return
        if frames and self._depth == frames[-1].depth + 1 and name in frames[-1].wanted:
            self._capture = (name, self._depth)
            self._chunks = []

    def _may_open(self, kind: str) -> bool:
        top = self._frames[-1].kind if self._frames else None
        if kind == "board":
            return top is None
        if kind == "unit":
            return top == "board"
        return top in ("board", "unit")  # defects and measurements

    def _text(self, data: str) -> None:
        if self._capture is not None:
            self._chunks.append(data)

    def _end(self, name: str) -> None:
        capture = self._capture
        if capture is not None and capture == (name, self._depth):
            self._frames[-1].texts[name] = "".join(self._chunks)
            self._capture = None
        frames = self._frames
        if frames and frames[-1].depth == self._depth:
            self._close(frames.pop())
        self._depth -= 1

    def _getter(self, frame: _Frame) -> build.Getter:
        # The values of exactly the sources this kind's fields name, looked up once each; the
        # builders then read them from a plain dict (the hot path for 50,000 defects).
        root = self._root or {}
        values: dict[str, str | None] = {}
        for source, where, key in self._plans[frame.kind]:
            values[source] = (root if where == _ROOT else frame.attrs if where == _ATTR else frame.texts).get(
                key
            )
        return values.get

    def _close(self, frame: _Frame) -> None:
        try:
            self._build(frame)
        except MalformedResultFile as exc:
            raise MalformedResultFile(exc.reason, line=frame.line, column=frame.column) from None

    def _build(self, frame: _Frame) -> None:
        m, get = self.map, self._getter(frame)
        parent = self._frames[-1] if self._frames else None
        if frame.kind == "defect":
            assert parent is not None
            self._defects += 1
            if self._defects > m.max_defects:
                raise MalformedResultFile(f"more than {m.max_defects} defects on one board (max_defects)")
            parent.defects.append(build.defect(m, get))
        elif frame.kind == "measurement":
            assert parent is not None
            parent.measurements.append(build.measurement(m, get))
        elif frame.kind == "unit":
            assert parent is not None
            unit = build.unit(m, get, default_position=len(parent.units) + 1)
            unit.defects, unit.measurements = frame.defects, frame.measurements
            parent.units.append(unit)
        else:
            record = build.board(m, get)
            record.units = frame.units
            if frame.defects or frame.measurements or not frame.units:
                # findings outside any unit element belong to the board as position 1
                record.units.insert(
                    0,
                    UnitRecord(
                        position=1,
                        barcode=record.barcode,
                        outcome=record.outcome,
                        defects=frame.defects,
                        measurements=frame.measurements,
                    ),
                )
            self._out.append(record)
