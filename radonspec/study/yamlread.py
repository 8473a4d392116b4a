"""Read one YAML file safely into plain Python values with the position of every value.

ruamel.yaml's round-trip loader keeps line and column of each key and value;
it constructs no Python objects from tags, and we refuse tagged values outright.
Aliases are expanded while converting, under a node budget, so an alias bomb
ends in a clear error instead of exhausting memory.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from radonspec.errors import Location, SpecError

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 64

Key = str | int
Path_ = tuple[Key, ...]


@dataclass
class Document:
    """A YAML document as plain values plus where each value and key stands."""

    file: str
    data: Any
    values: dict[Path_, Location] = field(default_factory=dict)
    keys: dict[Path_, Location] = field(default_factory=dict)
    text: str = ""  # the source, for positions ruamel does not keep (merge keys)


def read_yaml(path: Path, display: str | None = None) -> Document:
    """Read ``path`` into a ``Document``; every problem is a located ``SpecError``."""
    name = display or str(path)
    try:
        # read one byte past the limit, never the whole file: 'extends' may name any file
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{name}: file not found; check the path") from None
    except IsADirectoryError:
        raise SpecError(f"{name}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise SpecError(f"{name}: cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(
            f"spec file is {max(size, len(raw)):,} bytes, more than the {MAX_FILE_BYTES:,}"
            " allowed; a spec should be a short text file",
            Location(name, 1, 1),
        )
    text = _decode(raw, name)
    return parse_yaml(text, name)


#: A spec declares its version at its top level, or extends another spec file that does.
_SPEC_VERSION_LINE = re.compile(
    rb"^(\xef\xbb\xbf)?(spec_version[ \t]*:"
    rb"|extends[ \t]*:[ \t]*[\"']?[^\n]*\.ya?ml[\"']?[ \t]*(#[^\n]*)?$)",
    re.MULTILINE,
)


def is_spec_file(path: Path) -> bool:
    """Whether ``path`` is a regular file with ``spec_version`` or ``extends`` at its top level.

    A spec that extends another (``extends: seed.yaml``) inherits its ``spec_version``;
    the file it names is checked in turn before anything of it is read.

    What ``extends`` may name: another file's contents must never be echoed by the
    errors of reading it as a spec. A file too large or unreadable counts as one here,
    so ``read_yaml`` refuses it with its own message (which quotes nothing of it).
    """
    try:
        with open(path, "rb", opener=_no_block) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return False
            if info.st_size > MAX_FILE_BYTES:
                return True
            head = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return True
    return bool(_SPEC_VERSION_LINE.search(head))


def _no_block(path: str, flags: int) -> int:
    # a FIFO named by a spec must not hang the loader until someone writes to it
    return os.open(path, flags | os.O_NONBLOCK)


def parse_yaml(text: str, name: str) -> Document:
    """Parse YAML text (already decoded) into a ``Document``."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True  # so a quoted value's position can skip its quote mark
    try:
        with warnings.catch_warnings():
            # YAML lets a later anchor of the same name replace an earlier one; ruamel
            # follows the spec and warns on stderr, which would break the one-line errors
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            root = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = _duplicate_key_name(exc)
        where = _mark_location(name, mark)
        _refuse_split_call(key.strip("'"), where)
        raise SpecError(
            f"duplicate key {key}: each key may appear once in a mapping; remove or rename one",
            where,
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise SpecError(f"YAML syntax error: {problem}", _mark_location(name, mark)) from None
    except ReaderError as exc:  # a character YAML forbids anywhere, e.g. a control character
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise SpecError(
            f"character {shown} is not allowed in a YAML file ({exc.reason}); delete it",
            _offset_location(name, text, exc.position),
        ) from None
    except YAMLError as exc:
        problem = (str(exc).strip().splitlines() or ["invalid YAML"])[0]
        raise SpecError(f"YAML syntax error: {problem}", Location(name, 1, 1)) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", Location(name, 1, 1)) from None
    doc = Document(name, None, text=text)
    if root is None:
        raise SpecError(
            "the spec file is empty; start with 'spec_version: 1'", Location(name, 1, 1)
        )
    budget = [MAX_NODES]
    doc.values[()] = Location(name, 1, 1)
    try:
        doc.data = _plain(root, (), doc, budget, 0)
    except (TypeError, AttributeError, ValueError) as exc:  # ruamel oddities on exotic input
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"cannot read this YAML ({exc})", Location(name, 1, 1)) from None
    if not isinstance(doc.data, dict):
        raise SpecError(
            f"a spec is a mapping of keys (spec_version, name, data, models, ...),"
            f" got a {_kind(doc.data)}",
            Location(name, 1, 1),
        )
    return doc


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        raise SpecError(
            "the file contains NUL bytes: it is binary, not a YAML text file",
            Location(name, line, 1),
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
            Location(name, line, column),
        ) from None


def _plain(node: Any, path: Path_, doc: Document, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(
            f"the document expands to more than {MAX_NODES:,} values (an alias bomb?);"
            " write the spec without repeated aliases",
            doc.values.get(path, Location(doc.file, 1, 1)),
        )
    if depth > MAX_DEPTH:
        raise SpecError(
            f"the document nests deeper than {MAX_DEPTH} levels",
            doc.values.get(path, Location(doc.file, 1, 1)),
        )
    tag = getattr(getattr(node, "tag", None), "value", None)
    if isinstance(node, CommentedMap | CommentedSeq) and tag is not None:
        raise SpecError(
            f"YAML tag '{tag.removeprefix('tag:yaml.org,2002:')}' is not allowed: a spec holds"
            " only plain mappings, lists, strings, numbers, booleans and null",
            doc.values.get(path, Location(doc.file, 1, 1)),
        )
    if isinstance(node, CommentedMap):
        if node.merge:
            # ruamel keeps no position for '<<' or the keys it brings in; writing them out is
            # clearer in a spec than the merge, so merge keys are refused, at the '<<'
            raise SpecError(
                "YAML merge keys ('<<') are not supported in a spec; write the keys out, or"
                " share settings with 'defaults', a model's 'extends' or a file 'extends'",
                _merge_location(doc, path),
            )
        out: dict[str, Any] = {}
        for key in node:
            sub = (*path, str(key))
            kline, kcol = node.lc.key(key)
            vline, vcol = node.lc.value(key)
            doc.keys[sub] = Location(doc.file, kline + 1, kcol + 1)
            doc.values[sub] = Location(doc.file, vline + 1, vcol + 1 + _quote(node[key]))
            if node.fa.flow_style():
                _refuse_split_call(key, doc.keys[sub])
                _refuse_split_call(node[key], doc.values[sub])
            if not isinstance(key, str | int | float | bool) or key is None:
                raise SpecError("mapping keys must be plain names", doc.keys[sub])
            out[str(key)] = _plain(node[key], sub, doc, budget, depth + 1)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            sub = (*path, index)
            line, col = node.lc.item(index)
            doc.values[sub] = Location(doc.file, line + 1, col + 1 + _quote(item))
            items.append(_plain(item, sub, doc, budget, depth + 1))
        return items
    if node is None or isinstance(node, bool | int | float | str):
        # ruamel's scalar subclasses (ScalarFloat, LiteralScalarString...) become builtins
        for kind in (bool, int, float, str):
            if isinstance(node, kind):
                return kind(node)
        return None
    raise SpecError(
        f"unsupported YAML value of type {type(node).__name__}: only mappings, lists, strings,"
        " numbers, booleans and null are allowed (no tags such as !!python/...)",
        doc.values.get(path, Location(doc.file, 1, 1)),
    )


def _merge_location(doc: Document, path: Path_) -> Location:
    """Where the first ``<<`` key at or after the mapping at ``path`` is written."""
    start = doc.values.get(path, Location(doc.file, 1, 1))
    lines = doc.text.splitlines()
    for number in range(start.line - 1, len(lines)):
        column = lines[number].find("<<")
        if column >= 0:
            return Location(doc.file, number + 1, column + 1)
    return start


def _refuse_split_call(value: Any, where: Location) -> None:
    """Catch ``{floor: Normal(0, 1)}``: in a flow mapping the comma splits the call in two."""
    if isinstance(value, str) and value.count("(") != value.count(")") and _quote(value) == 0:
        raise SpecError(
            f"'{value}' has unbalanced parentheses: inside {{...}} a comma ends a value, so"
            " 'Normal(0, 1)' is cut in two; quote it (\"Normal(0, 1)\") or write the mapping"
            " one key per line",
            where,
        )


def _quote(node: Any) -> int:
    """1 for a quoted scalar: positions then point at its first character, not the quote."""
    return int(isinstance(node, DoubleQuotedScalarString | SingleQuotedScalarString))


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _offset_location(name: str, text: str, offset: int) -> Location:
    line_start = text.rfind("\n", 0, offset) + 1
    return Location(name, text.count("\n", 0, offset) + 1, offset - line_start + 1)


def _mark_location(name: str, mark: Any) -> Location:
    if mark is None:
        return Location(name, 1, 1)
    return Location(name, mark.line + 1, mark.column + 1)


def _duplicate_key_name(exc: DuplicateKeyError) -> str:
    problem = exc.problem or ""
    # ruamel phrases it as 'found duplicate key "name" with value ...'
    start = problem.find('"')
    end = problem.find('"', start + 1)
    return f"'{problem[start + 1 : end]}'" if start >= 0 and end > start else "(unnamed)"
