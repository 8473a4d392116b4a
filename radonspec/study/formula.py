"""Static checks of model formulas, families and links, made before Bambi sees a model.

formulae resolves the functions a formula calls, ``a.b`` attribute chains included,
against the frame that builds the design matrices (``bambi.Model.__init__``: its
locals, then ``bambi.models``' globals, ``__builtins__`` among them, then the extra
namespace). A spec is untrusted input, so ``y ~ os.system(...)`` must never get that
far. A formula is read in four steps, and refused at the first problem with the
character offset where it starts:

1. ``_scan``: a strict scanner (ours, because formulae's keeps no positions) accepts
   only plain ASCII names, numbers and the formula operators: no quotes, no attribute
   access (a dotted name that is called), no dunder names, no line breaks.
2. formulae's own scanner must produce exactly the same tokens.
3. formulae's parser builds the syntax tree; ``_Walker`` allows calls only to
   ``ALLOWED_TRANSFORMS`` (with arguments checked against their signatures), names
   only of data columns, and inside calls only numbers, names and arithmetic.
4. formulae's model description (which evaluates nothing) gives the names Bambi uses
   for the terms, and so for the keys of ``priors:``.

Column names are data. formulae looks a name up in the data first and never evaluates
it, so any column may be named as Bambi allows: a Python keyword (``yield``), R's dotted
names (``Solar.R``: one name to formulae, never an attribute chain unless called), or
any name in backquotes (```Solar R```). Such a name must be a column of the data; until
the columns are known (a spec loaded, no data read) it is left for that check, which
always comes before Bambi. The one subscript allowed is the response's level,
``use[Y] ~ x``: the event a binary model models, a word or quoted text, never code.

lme4's ``(x || g)`` (independent intercept and slopes) is read before step 1:
``expand_double_bars`` writes each ``||`` as ``| `` (same length, so every offset
still points into the text the user wrote). Bambi's ``(x | g)`` already means
independent terms, so that is the whole expansion; ``FormulaInfo.independent_factors``
remembers which factors were written with ``||``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import keyword
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radonspec.errors import did_you_mean, one_of
from radonspec.study.family import ORDINAL_FAMILIES, FamilyError, family_params

#: Longest formula accepted, in characters.
MAX_LENGTH = 2000
#: Deepest nesting of parentheses and braces accepted.
MAX_DEPTH = 20

#: Names formulae resolves itself before any namespace (``formulae.transforms.TRANSFORMS``
#: and the contrast encodings ``formulae.categorical.ENCODINGS``).
_FORMULAE_NAMES = tuple(
    "C I S T Sum Treatment binary bs center offset p poly prop proportion scale standardize".split()
)
#: Names from ``bambi.transformations.transformations_namespace``.
_BAMBI_NAMES = tuple(
    "abs c censored constrained counts exp exp2 log log10 log2 truncated weighted".split()
)
#: NumPy functions radonspec adds.
_NUMPY_NAMES = ("log1p", "sqrt")
#: Encodings, passed by name to ``C``: ``C(g, Sum)``.
_ENCODINGS = frozenset({"Sum", "Treatment"})
#: Families whose intercept Bambi replaces by thresholds.

_PYTHON_LITERALS = {"True": True, "False": False, "None": None}
# Token kinds as formulae's scanner names them.
_TWO_CHAR_OPERATORS = dict(
    zip(
        ["**", "==", "!=", "<=", ">="],
        "STAR_STAR EQUAL_EQUAL BANG_EQUAL LESS_EQUAL GREATER_EQUAL".split(),
        strict=True,
    )
)
_ONE_CHAR_OPERATORS = dict(
    zip(
        "(){},+-*/=<>~:|",
        "LEFT_PAREN RIGHT_PAREN LEFT_BRACE RIGHT_BRACE COMMA PLUS MINUS STAR SLASH EQUAL LESS"
        " GREATER TILDE COLON PIPE".split(),
        strict=True,
    )
)
_COMPARISONS = frozenset(
    {"EQUAL_EQUAL", "BANG_EQUAL", "LESS_EQUAL", "LESS", "GREATER_EQUAL", "GREATER"}
)
_ARITHMETIC = frozenset({"PLUS", "MINUS", "STAR", "SLASH", "STAR_STAR"}) | _COMPARISONS
_TERM_OPERATORS = frozenset({"PLUS", "MINUS", "STAR", "SLASH", "STAR_STAR", "COLON", "PIPE"})
_PARSER_PRODUCTIONS = (
    "expression assignment tilde random_effect comparison addition multiplication interaction"
    " multiple_interaction unary call primary"
).split()


@functools.cache
def _resolve_transforms() -> dict[str, Callable[..., Any]]:
    from bambi.transformations import transformations_namespace
    from formulae.categorical import ENCODINGS
    from formulae.transforms import TRANSFORMS

    formulae_own = {**TRANSFORMS, **ENCODINGS}
    resolved = {name: formulae_own[name] for name in _FORMULAE_NAMES}
    resolved |= {name: transformations_namespace[name] for name in _BAMBI_NAMES}
    resolved |= {name: getattr(np, name) for name in _NUMPY_NAMES}
    return resolved


class _Transforms(Mapping[str, Callable[..., Any]]):
    """The allow-list; values are imported on first access (Bambi imports PyMC)."""

    def __init__(self, names: Collection[str]) -> None:
        self._names = tuple(sorted(names))

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name not in self._names:
            raise KeyError(name)
        return _resolve_transforms()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"ALLOWED_TRANSFORMS({', '.join(self._names)})"


#: Every function a formula may call, by name, mapped to the object formulae calls for
#: it: formulae's own for the names formulae resolves first (``C``, ``center``, ``bs``,
#: ...), Bambi's for its transformations, NumPy's ufuncs for ``log1p`` and ``sqrt``.
ALLOWED_TRANSFORMS: Mapping[str, Callable[..., Any]] = _Transforms(
    _FORMULAE_NAMES + _BAMBI_NAMES + _NUMPY_NAMES
)


class FormulaError(ValueError):
    """A formula that is refused; ``offset`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, offset: int = 0) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message)


@dataclass(frozen=True)
class FormulaInfo:
    """What a checked formula uses and the names Bambi gives its terms.

    ``response`` is the response term as Bambi names it (``"log_radon"``,
    ``"log(y)"``, ``"p(s, n)"``) for the main formula and ``None`` for a distributional
    formula, whose left side is ``target``, the parameter it models (``"sigma"``).
    ``common_terms`` includes ``"Intercept"`` when the formula has one and leaves out
    offsets (they take no prior); ``columns`` holds every data column the formula reads.
    ``response_level`` is the level a binary response names as its event (``use[Y] ~ x``).
    """

    formula: str
    response: str | None
    target: str | None
    columns: frozenset[str]
    common_terms: tuple[str, ...]
    group_terms: tuple[str, ...]
    group_factors: tuple[str, ...]
    transforms: frozenset[str]
    response_level: str | None = None
    independent_factors: tuple[str, ...] = ()
    offsets: tuple[str, ...] = ()  # the offset terms left out of ``common_terms``


def response_call(response: str | None) -> tuple[str, tuple[str, ...]] | None:
    """A response written as a call, split: ``"p(s, n)"`` -> ``("p", ("s", "n"))``.

    The arguments are split at their top-level commas (``censored(log(t), s)`` has two);
    ``None`` for a response that is not ``name(...)``.
    """
    text = (response or "").strip()
    found = re.fullmatch(r"([A-Za-z_]\w*)\((.*)\)", text, flags=re.S)
    if found is None:
        return None
    args, depth, start = [], 0, 0
    inner = found[2]
    for index, char in enumerate(inner):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 0:
            args.append(inner[start:index].strip())
            start = index + 1
    args.append(inner[start:].strip())
    return found[1], tuple(a for a in args if a)


def expand_double_bars(formula: str) -> str:
    """The formula as formulae and Bambi read it: lme4's ``(x || g)`` becomes ``(x | g)``.

    In lme4 ``(x || g)`` means an intercept and slopes with no correlation between them,
    which is what Bambi's ``(x | g)`` always means. Each ``||`` is written ``| `` so the
    text keeps its length. Only the characters ``||`` change; anything else, ``|||``
    included, is left for ``check_formula`` to refuse.
    """
    return formula.replace("||", "| ")


def describe(formula: str) -> Any:
    """Formulae's ``model_description`` of a formula (or its right side) as Bambi reads it.

    Every reading of a spec's formula outside the checks goes through here, so lme4's
    ``(x || g)`` is never handed to formulae raw (it cannot parse ``||``).
    """
    from formulae import model_description

    return model_description(expand_double_bars(formula))


def formula_namespace() -> dict[str, Any]:
    """A fresh copy of ``ALLOWED_TRANSFORMS``, for ``bmb.Model(..., extra_namespace=...)``."""
    return dict(ALLOWED_TRANSFORMS.items())


def check_formula(
    formula: str,
    columns: Collection[str] | None = None,
    *,
    main: bool = True,
    family: str | None = None,
) -> FormulaInfo:
    """Check a formula statically and describe its terms; nothing in it is evaluated.

    Parameters
    ----------
    formula
        The main formula ``y ~ x + (1|g)``, or with ``main=False`` a distributional
        formula ``sigma ~ x``.
    columns
        The data's columns. When given, every name must be one of them; when ``None``,
        names are not checked (call again with the columns before building the model).
    main
        Whether this is the main formula (its left side is the response) or a
        distributional one (its left side names a parameter of the family).
    family
        When given with ``main=False``, the target must be an auxiliary parameter of
        this family. An unknown family is left to ``check_family_link``.

    Raises
    ------
    FormulaError
        With the message and the offset of the first problem.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula is a string, not {type(formula).__name__}")
    known = None if columns is None else frozenset(columns)
    text = expand_double_bars(formula)
    try:
        tokens, offsets = _scan(text, known)
        _cross_check(text, tokens)
        tree = _parse(text, tokens, offsets)
        walker = _Walker(tree.starts, known)
        target = walker.formula(tree.root, main=main)
    except FormulaError as exc:
        raise _unquoted_column(formula, known) or exc from None
    if target is not None and family is not None:
        _check_target(target, family, walker.offset(tree.root))
    rhs = text if main else text[text.find("~") + 1 :]
    info = _describe(formula, rhs, target, walker)
    doubles = [i for i in range(len(formula) - 1) if formula[i : i + 2] == "||"]
    if not doubles:
        return info
    bars = [offset for token, offset in zip(tokens, offsets, strict=True) if token.kind == "PIPE"]
    independent = _double_bar_factors(walker, bars, set(doubles))
    return dataclasses.replace(info, independent_factors=independent)


def bare(name: str) -> bool:
    """Whether column ``name`` can stand unquoted in a formula (``Solar.R``, ``yield``)."""
    return (
        re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", name) is not None
        and not name.endswith(".")
        and "__" not in name
        and name not in _PYTHON_LITERALS
    )


def usable(name: str) -> bool:
    """Whether column ``name`` can be named in a formula at all, bare or in backquotes."""
    return (
        bool(name.strip())
        and name.isascii()
        and name.isprintable()
        and "`" not in name
        and not name.startswith("_")
        and "__" not in name
    )


def quote(name: str) -> str:
    """``name`` as a formula writes it: as it is, or in backquotes (```Solar R```)."""
    return name if bare(name) else f"`{name}`"


def _unquoted_column(formula: str, columns: frozenset[str] | None) -> FormulaError | None:
    """A refused formula that names a column whose name needs backquotes, written bare."""
    quoted = [(m.start(), m.end()) for m in re.finditer(r"`[^`]*`", formula)]
    for name in sorted(columns or (), key=len, reverse=True):
        if bare(name) or not name.isprintable() or not name.isascii():
            continue
        at = formula.find(name)
        while at >= 0 and any(a <= at < b for a, b in quoted):
            at = formula.find(name, at + 1)
        if at < 0:
            continue
        if "`" in name:
            return FormulaError(
                f"column '{name}' has a '`' in its name and cannot be used in a formula; rename it",
                at,
            )
        return FormulaError(
            f"column '{name}' must be written in backquotes in a formula: `{name}`", at
        )
    return None


# Scanning ----------------------------------------------------------------------------


def _scan(formula: str, columns: frozenset[str] | None = None) -> tuple[list[Any], list[int]]:
    """Tokens as formulae's scanner makes them, and the offset where each starts.

    ``columns`` decides the names that can only be columns: a Python keyword is one
    when it is a column (or the columns are not known yet, when nothing is built).
    """
    from formulae.token import Token

    if len(formula) > MAX_LENGTH:
        raise FormulaError(
            f"formula is {len(formula)} characters long; the limit is {MAX_LENGTH}", MAX_LENGTH
        )
    if not formula.strip():
        raise FormulaError(
            "formula is empty; write it as 'response ~ predictors', e.g. 'log_radon ~ floor'"
        )
    _check_characters(formula)
    tokens: list[Any] = []
    offsets: list[int] = []
    opened: list[int] = []
    tildes = 0
    i, n = 0, len(formula)
    while i < n:
        char = formula[i]
        start = i
        if char in " \t":
            i += 1
            continue
        if char.isalpha() or char == "_":
            i = _name_end(formula, i, columns)
            name = formula[start:i]
            if name in _PYTHON_LITERALS:
                tokens.append(Token("PYTHON_LITERAL", name, _PYTHON_LITERALS[name]))
            else:
                tokens.append(Token("IDENTIFIER", name))
        elif char == "`":
            i = _quoted_end(formula, i)
            tokens.append(Token("BQNAME", formula[start:i]))
        elif char == "[" and tildes == 0 and tokens and tokens[-1].kind == "IDENTIFIER":
            i = _subscript(formula, i, tokens, offsets)
            continue
        elif char.isdigit() or (char == "." and formula[i + 1 : i + 2].isdigit()):
            i = _number_end(formula, i)
            text = formula[start:i]
            tokens.append(Token("NUMBER", text, float(text) if "." in text else int(text)))
        elif formula[i : i + 2] in _TWO_CHAR_OPERATORS:
            i += 2
            tokens.append(Token(_TWO_CHAR_OPERATORS[formula[start:i]], formula[start:i]))
        elif char in _ONE_CHAR_OPERATORS and formula[i : i + 2] != "//":
            i += 1
            tokens.append(Token(_ONE_CHAR_OPERATORS[char], char))
            if char in "({":
                opened.append(start)
                if len(opened) > MAX_DEPTH:
                    raise FormulaError(f"parentheses are nested more than {MAX_DEPTH} deep", start)
            elif char in ")}":
                _close(formula, opened, start)
            elif char == "~":
                tildes += 1
                if tildes > 1:
                    raise FormulaError(
                        "more than one '~' in the formula; model another parameter of the"
                        " family with a formula of its own in the list: [y ~ x, sigma ~ z]",
                        start,
                    )
        else:
            raise FormulaError(_refused_character(formula, i), i)
        offsets.append(start)
    if opened:
        raise FormulaError(f"'{formula[opened[-1]]}' is never closed", opened[-1])
    tokens.append(Token("EOF", ""))
    offsets.append(n)
    return tokens, offsets


def _check_characters(formula: str) -> None:
    for i, char in enumerate(formula):
        if not char.isascii():
            raise FormulaError(
                f"character {char!r} (U+{ord(char):04X}) is not allowed: formulas are plain"
                " ASCII; retype it, or rename the column to ASCII letters, digits and '_'",
                i,
            )
        if char in "\r\n":
            raise FormulaError(
                "a formula is one line: it has a line break; in YAML write it on one line"
                " or as a folded block ('>-')",
                i,
            )
        if not char.isprintable() and char != "\t":
            raise FormulaError(f"control character {char!r} is not allowed in a formula", i)


def _name_end(formula: str, start: int, columns: frozenset[str] | None = None) -> int:
    # formulae's identifiers: a letter, then letters, digits, '_' and '.' (R's 'Solar.R')
    end = start
    while end < len(formula) and (formula[end].isalnum() or formula[end] in "_."):
        end += 1
    name = formula[start:end]
    called = formula[end:].lstrip(" \t").startswith("(")
    if "." in name and (called or name.endswith(".") or "__" in name):
        last = name.rstrip(".").rsplit(".", 1)[-1]
        hint = f"; write '{last}(...)'" if last in ALLOWED_TRANSFORMS else ""
        raise FormulaError(
            f"'{name}': attribute access ('.') is not allowed in a formula;"
            f" use column names and allowed transforms only{hint}",
            start + name.index("."),
        )
    if name.startswith("_") or "__" in name:
        raise FormulaError(
            f"name '{name}' is not allowed: names that start with '_' or contain '__' are"
            " never columns or transforms in a formula",
            start,
        )
    if keyword.iskeyword(name) and name not in _PYTHON_LITERALS:
        # a keyword is data to formulae (it never evaluates names as Python), so a column
        # may be called 'yield'; anything else spelled as a keyword is refused
        if called or (columns is not None and name not in columns):
            raise FormulaError(
                f"'{name}' is a Python keyword and is not allowed in a formula"
                + (": it is not a transform" if called else ": it is not a column of the data"),
                start,
            )
    return end


def _quoted_end(formula: str, start: int) -> int:
    """End of a backquoted column name such as `Solar R` (formulae's BQNAME)."""
    close = formula.find("`", start + 1)
    if close < 0:
        raise FormulaError("'`' is never closed; a backquoted column name ends with '`'", start)
    name = formula[start + 1 : close]
    if not name.strip():
        raise FormulaError("empty backquoted name; write a column's name between '`'", start)
    if name.startswith("_") or "__" in name:
        raise FormulaError(
            f"name '{name}' is not allowed: names that start with '_' or contain '__' are"
            " never columns in a formula",
            start,
        )
    return close + 1


#: ``[level]``: a word as formulae scans it, or text in single or double quotes.
_LEVEL = r"\[\s*(?:([A-Za-z][A-Za-z0-9_.]*)|'([^'\"\\]*)'|\"([^'\"\\]*)\")\s*\]"


def _subscript(formula: str, start: int, tokens: list[Any], offsets: list[int]) -> int:
    """``y[level]`` after the response's name: the level of a binary response to model.

    The level is data, not code: a plain word, or any text in quotes (``y["Y es"]``).
    """
    from formulae.token import Token

    match = re.match(_LEVEL, formula[start:])
    if match is None:
        raise FormulaError(
            "subscripts ('[') are not allowed in a formula except on the response, where"
            " they name the level to model: y[level] or y['level with spaces']",
            start,
        )
    tokens.append(Token("LEFT_BRACKET", "["))
    offsets.append(start)
    group = next(g for g in (1, 2, 3) if match.group(g) is not None)
    if group == 1:
        tokens.append(Token("IDENTIFIER", match.group(1)))
        offsets.append(start + match.start(1))
    else:  # the quotes are part of formulae's lexeme
        quoted = formula[start + match.start(group) - 1 : start + match.end(group) + 1]
        tokens.append(Token("STRING", quoted, match.group(group)))
        offsets.append(start + match.start(group) - 1)
    tokens.append(Token("RIGHT_BRACKET", "]"))
    offsets.append(start + match.end() - 1)
    return start + match.end()


def _number_end(formula: str, start: int) -> int:
    end = start
    while end < len(formula) and formula[end].isdigit():
        end += 1
    if formula[end : end + 1] == "." and formula[end + 1 : end + 2].isdigit():
        end += 1
        while end < len(formula) and formula[end].isdigit():
            end += 1
    following = formula[end : end + 1]
    if following == ".":
        raise FormulaError("'.' is only allowed inside a number such as 0.5", end)
    if following.isalpha() or following == "_":
        raise FormulaError(
            f"number '{formula[start:end]}' runs into a name; put an operator between them,"
            " e.g. I(2 * x)",
            start,
        )
    return end


def _close(formula: str, opened: list[int], at: int) -> None:
    closing = formula[at]
    if not opened:
        raise FormulaError(f"unmatched '{closing}'", at)
    opening = formula[opened.pop()]
    if {"(": ")", "{": "}"}[opening] != closing:
        raise FormulaError(f"'{closing}' does not match the '{opening}' it closes", at)


def _refused_character(formula: str, i: int) -> str:
    char = formula[i]
    if char in "'\"":
        return (
            "string literals are not allowed in a formula; a formula holds column names,"
            " numbers and allowed transforms only"
        )
    if char in "[]":
        return (
            "subscripts ('[') are not allowed in a formula except on the response, where"
            " they name the level to model: y[level] or y['level with spaces']"
        )
    if char == ".":
        return "'.' is only allowed inside a number such as 0.5"
    if formula[i : i + 2] == "//":
        return "'//' is not an operator of the formula language; use '/' inside I(...)"
    return f"character '{char}' is not allowed in a formula"


def _cross_check(formula: str, tokens: list[Any]) -> None:
    """Refuse a formula formulae would read differently from ``_scan``."""
    from formulae.scanner import Scanner

    try:
        theirs = Scanner(formula).scan(add_intercept=False)
    except Exception as exc:  # ScanError, or anything formulae trips on
        raise FormulaError(f"formulae cannot read the formula: {exc}") from None
    if theirs != tokens:
        raise FormulaError("formulae reads this formula differently; simplify it")


# Parsing -----------------------------------------------------------------------------


@dataclass
class _Tree:
    root: Any
    starts: dict[int, int]  # id(node) -> offset of its first token
    nodes: list[Any]  # keeps every node alive so that ids stay unique


def _parse(formula: str, tokens: list[Any], offsets: list[int]) -> _Tree:
    from formulae.parser import Parser

    parser = Parser(tokens)
    tree = _Tree(None, {}, [])

    # formulae's nodes carry no positions: record where each production started by
    # wrapping the parser's methods on this instance.
    def record(method: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any) -> Any:
            start = offsets[parser.current]
            node = method(*args)
            tree.starts.setdefault(id(node), start)
            tree.nodes.append(node)
            return node

        return recorded

    for name in _PARSER_PRODUCTIONS:
        setattr(parser, name, record(getattr(parser, name)))
    try:
        tree.root = parser.parse()
    except RecursionError:
        raise FormulaError("the formula is nested too deeply", offsets[parser.current]) from None
    except Exception as exc:  # ParseError, or anything formulae trips on
        message = _parse_message(str(exc), tokens, parser.current)
        raise FormulaError(message, _parse_offset(exc, tokens, offsets, parser.current)) from None
    if not parser.at_end():
        token = tokens[parser.current]
        before = tokens[parser.current - 1] if parser.current > 0 else None
        raise FormulaError(_trailing_message(token, before), offsets[parser.current])
    return tree


def _parse_offset(exc: Exception, tokens: list[Any], offsets: list[int], current: int) -> int:
    if "assignment" in str(exc):
        equals = [i for i in range(current) if tokens[i].kind == "EQUAL"]
        if equals:
            return offsets[equals[-1]]
    return offsets[min(current, len(offsets) - 1)]


def _parse_message(reason: str, tokens: list[Any], current: int) -> str:
    if "assignment" in reason:
        return "'=' is only allowed for keyword arguments of a transform, e.g. bs(x, df=4)"
    token = tokens[min(current, len(tokens) - 1)]
    if token.kind == "TILDE" and current == 0:
        return "the formula has no response before '~'; write it as 'y ~ x'"
    found = "the end of the formula" if token.kind == "EOF" else f"'{token.lexeme}'"
    reason = reason.rstrip(".").replace("Expect ", "expected ")
    if reason.startswith("Don't know how to parse"):
        reason = "expected a name, a number or '('"
    return f"cannot parse the formula: {reason}, found {found}"


def _trailing_message(token: Any, before: Any = None) -> str:
    if token.kind == "PIPE":
        return "'|' outside parentheses; write a group-specific term in parentheses, e.g. (1|g)"
    if token.kind in _COMPARISONS:
        return f"comparison '{token.lexeme}' is only allowed inside I(...), e.g. I(x > 0)"
    if token.kind == "EQUAL":
        return "'=' is only allowed for keyword arguments of a transform, e.g. bs(x, df=4)"
    if token.kind == "IDENTIFIER" and getattr(before, "kind", None) == "IDENTIFIER":
        # two names side by side: most often one column whose name has a space
        name = f"{before.lexeme} {token.lexeme}"
        return (
            f"unexpected '{token.lexeme}' after a complete formula; if '{name}' is one column,"
            f" write it in backquotes: `{name}`"
        )
    return f"unexpected '{token.lexeme}' after a complete formula"


class _Walker:
    """Checks a parsed formula and collects the columns and transforms it uses."""

    def __init__(self, starts: dict[int, int], columns: Collection[str] | None) -> None:
        self.starts = starts
        self.columns = None if columns is None else frozenset(columns)
        self.used: set[str] = set()
        self.transforms: set[str] = set()
        self.response_level: str | None = None
        self.bars: list[Any] = []  # the (expr | factor) nodes, in order

    def offset(self, node: Any) -> int:
        return self.starts.get(id(node), 0)

    def formula(self, root: Any, *, main: bool) -> str | None:
        """Check the whole formula; return the target of a distributional one."""
        from formulae.expr import Binary, Call, QuotedName, Variable

        if not (isinstance(root, Binary) and root.operator.kind == "TILDE"):
            if main:
                raise FormulaError(
                    "the formula has no response; write it as 'response ~ predictors',"
                    " e.g. 'log_radon ~ floor'",
                    self.offset(root),
                )
            raise FormulaError(
                "a distributional formula names the parameter it models, e.g. 'sigma ~ x'",
                self.offset(root),
            )
        left = root.left
        target = None
        if not main:
            if not isinstance(left, Variable) or left.level is not None:
                raise FormulaError(
                    "the left side of a distributional formula is the name of a parameter of"
                    " the family, e.g. 'sigma ~ x'",
                    self.offset(left),
                )
            target = left.name.lexeme
        elif isinstance(left, Variable | QuotedName):
            self.name(left, response=True)
        elif isinstance(left, Call):
            self.call(left)
        else:
            raise FormulaError(
                "the response must be a column or a transform of columns, e.g. 'log(y) ~ x'",
                self.offset(left),
            )
        self.term(root.right)
        return target

    def term(self, node: Any) -> None:
        """A node at the level of terms: ``a + b:c + (1|g)``."""
        from formulae.expr import (
            Assign,
            Binary,
            Call,
            Grouping,
            Literal,
            QuotedName,
            Unary,
            Variable,
        )

        if isinstance(node, Grouping):
            self.term(node.expression)
        elif isinstance(node, Binary):
            kind = node.operator.kind
            if kind in _COMPARISONS:
                raise FormulaError(
                    f"comparison '{node.operator.lexeme}' is only allowed inside I(...),"
                    " e.g. I(x > 0)",
                    self.offset(node),
                )
            if kind not in _TERM_OPERATORS:
                raise FormulaError(
                    f"'{node.operator.lexeme}' is not allowed here", self.offset(node)
                )
            if kind == "PIPE":
                self.bars.append(node)
            self.term(node.left)
            if kind == "STAR_STAR":
                right = node.right
                if not (_is_int(right) and right.value >= 1):
                    raise FormulaError(
                        "'**' between terms takes a whole number, e.g. (x + z)**2",
                        self.offset(right),
                    )
            else:
                self.term(node.right)
        elif isinstance(node, Unary):
            if not (_is_int(node.right) and node.right.value in (0, 1)):
                raise FormulaError(
                    "a sign only goes before 0 or 1 (to remove or add the intercept);"
                    " to negate a column write I(-x)",
                    self.offset(node),
                )
        elif isinstance(node, Literal):
            if not (_is_int(node) and node.value in (0, 1)):
                raise FormulaError(
                    f"{node.value!r} is not a term: only 1 (intercept) and 0 (no intercept)"
                    " stand alone; put numbers inside I(...)",
                    self.offset(node),
                )
        elif isinstance(node, Variable | QuotedName):
            self.name(node)
        elif isinstance(node, Call):
            self.call(node)
        elif isinstance(node, Assign):
            raise FormulaError(
                "'=' is only allowed for keyword arguments of a transform, e.g. bs(x, df=4)",
                self.offset(node),
            )
        else:
            raise FormulaError("this is not allowed in a formula", self.offset(node))

    def argument(self, node: Any, callee: str) -> None:
        """A node inside a call's arguments: names, numbers and arithmetic only."""
        from formulae.expr import Binary, Call, Grouping, Literal, QuotedName, Unary, Variable

        if isinstance(node, Grouping):
            self.argument(node.expression, callee)
        elif isinstance(node, Binary):
            if node.operator.kind not in _ARITHMETIC:
                raise FormulaError(
                    f"'{node.operator.lexeme}' is not allowed inside the arguments of"
                    f" {callee}(); only arithmetic (+ - * / **) and comparisons are",
                    self.offset(node),
                )
            self.argument(node.left, callee)
            self.argument(node.right, callee)
        elif isinstance(node, Unary):
            self.argument(node.right, callee)
        elif isinstance(node, Literal):
            if isinstance(node.value, str):
                raise FormulaError(
                    "string literals are not allowed in a formula", self.offset(node)
                )
        elif isinstance(node, Variable):
            name = node.name.lexeme
            if name in _ENCODINGS and (self.columns is None or name not in self.columns):
                return
            self.name(node)
        elif isinstance(node, QuotedName):
            self.name(node)
        elif isinstance(node, Call):
            self.call(node)
        else:
            raise FormulaError(
                f"only names, numbers and arithmetic are allowed inside {callee}()",
                self.offset(node),
            )

    def call(self, node: Any) -> None:
        from formulae.expr import Assign, Variable

        callee = node.callee
        if not isinstance(callee, Variable) or callee.level is not None:
            raise FormulaError(
                "only allowed transforms can be called, by their name, e.g. log(x)",
                self.offset(node),
            )
        name = callee.name.lexeme
        if name not in ALLOWED_TRANSFORMS:
            what = "a column, not a transform" if name in (self.columns or ()) else None
            hint = did_you_mean(name, ALLOWED_TRANSFORMS)
            allowed = ", ".join(f"'{n}'" for n in ALLOWED_TRANSFORMS)
            lead = f"'{name}' is {what}" if what else f"'{name}' is not an allowed transform{hint}"
            raise FormulaError(f"{lead}; allowed transforms are {allowed}", self.offset(node))
        self.transforms.add(name)
        positional = 0
        keywords: list[str] = []
        for arg in node.args:
            if isinstance(arg, Assign):
                keywords.append(arg.name.name.lexeme)
                self.argument(arg.value, name)
            else:
                positional += 1
                self.argument(arg, name)
        problem = _arguments_problem(name, positional, keywords) or _size_problem(name, node.args)
        if problem:
            raise FormulaError(problem, self.offset(node))

    def name(self, node: Any, *, response: bool = False) -> None:
        """A column: a plain name (``Solar.R``, ``yield``) or a backquoted one (```a b```).

        Only the response may name a level, ``y[level]``: the event a binary model models.
        """
        from formulae.expr import QuotedName

        quoted = isinstance(node, QuotedName)
        name = node.expression.lexeme[1:-1] if quoted else node.name.lexeme
        level = None if quoted else node.level
        if level is not None:
            if not response:
                raise FormulaError(
                    "subscripts ('[') are not allowed in a formula except on the response,"
                    " where they name the level to model: y[level] or y['level with spaces']",
                    self.offset(node),
                )
            self.response_level = str(level.value)
        if self.columns is not None and name not in self.columns:
            hint = did_you_mean(name, self.columns)
            if not hint and name in ALLOWED_TRANSFORMS:
                hint = f" ('{name}' is a transform: call it, e.g. {name}(x))"
            raise FormulaError(
                f"unknown column '{name}' in formula{hint}; columns are {one_of(self.columns)}",
                self.offset(node),
            )
        self.used.add(name)


def _is_int(node: Any) -> bool:
    from formulae.expr import Literal

    return isinstance(node, Literal) and type(node.value) is int


@functools.cache
def _signature(name: str) -> inspect.Signature | None:
    """The signature formulae calls ``name`` with; ``None`` for a NumPy ufunc."""
    function = ALLOWED_TRANSFORMS[name]
    if isinstance(function, np.ufunc):
        return None
    if getattr(function, "__stateful_transform__", False):
        # formulae instantiates a stateful transform without arguments, then calls it.
        signature = inspect.signature(function.__call__)  # type: ignore[operator]
        return signature.replace(parameters=list(signature.parameters.values())[1:])
    return inspect.signature(function)


def _arguments_problem(name: str, positional: int, keywords: list[str]) -> str | None:
    signature = _signature(name)
    if signature is None:
        nin = ALLOWED_TRANSFORMS[name].nin  # type: ignore[attr-defined]
        if keywords or positional != nin:
            return f"{name}() takes {nin} argument(s) and no keywords, e.g. {name}(x)"
        return None
    duplicates = sorted({k for k in keywords if keywords.count(k) > 1})
    if duplicates:
        return f"{name}() gets keyword '{duplicates[0]}' twice"
    try:
        signature.bind(*range(positional), **dict.fromkeys(keywords))
    except TypeError as exc:
        hint = ""
        names = list(signature.parameters)
        for word in keywords:
            if word not in names:
                hint = did_you_mean(word, names)
                break
        return f"wrong arguments for {name}(): {exc}{hint}; it takes {name}{signature}"
    return None


#: Largest value of an argument that sets how many columns a transform makes: the design
#: matrix has one column per degree of freedom, and bs(x, df=100000) took minutes and 1 GB
#: to build before anything was refused.
MAX_TRANSFORM_SIZE = {("bs", "df"): 100, ("bs", "degree"): 10, ("poly", "degree"): 10}


def _size_problem(name: str, args: list[Any]) -> str | None:
    """Refuse a size argument of a transform that is not a whole number within its bound."""
    from formulae.expr import Assign, Literal

    signature = _signature(name)
    if signature is None:
        return None
    names = [p for p in signature.parameters if p != "self"]
    given: list[tuple[str, Any]] = []
    for index, arg in enumerate(args):
        if isinstance(arg, Assign):
            given.append((arg.name.name.lexeme, arg.value))
        elif index < len(names):
            given.append((names[index], arg))
    for parameter, value in given:
        limit = MAX_TRANSFORM_SIZE.get((name, parameter))
        if limit is None:
            continue
        number = value.value if isinstance(value, Literal) else None
        if type(number) is not int or not 0 <= number <= limit:
            return (
                f"{name}(): {parameter} takes a whole number from 0 to {limit}, written out"
                f" (e.g. {name}(x, {parameter}=4)); it sets how many columns the term has"
            )
    return None


# Terms -------------------------------------------------------------------------------


def _describe(formula: str, rhs: str, target: str | None, walker: _Walker) -> FormulaInfo:
    from formulae import model_description

    try:
        description = model_description(rhs)
    except Exception as exc:  # formulae's errors have several types and no position
        raise FormulaError(f"formulae cannot build the terms of the formula: {exc}") from None
    common = tuple(term.name for term in description.common_terms if not _is_offset(term))
    groups = tuple(term.name for term in description.group_terms)
    factors = tuple(dict.fromkeys(term.factor.name for term in description.group_terms))
    response = description.response.term.name if target is None else None
    return FormulaInfo(
        formula=formula,
        response=response,
        target=target,
        columns=frozenset(walker.used),
        common_terms=common,
        group_terms=groups,
        group_factors=factors,
        transforms=frozenset(walker.transforms),
        response_level=walker.response_level,
        offsets=tuple(term.name for term in description.common_terms if _is_offset(term)),
    )


def _double_bar_factors(walker: _Walker, bars: list[int], doubles: set[int]) -> tuple[str, ...]:
    """Grouping factors of the ``(expr || factor)`` terms, named as formulae names them.

    A bar belongs to the group term whose factor starts right after it: the last bar
    before the start of the node's right operand.
    """
    from formulae.resolver import Resolver

    factors: dict[str, None] = {}
    for node in walker.bars:
        start = walker.offset(node.right)
        bar = max((b for b in bars if b < start), default=-1)
        if bar not in doubles:
            continue
        try:
            resolved = Resolver(node).resolve()  # a Model, or one GroupSpecificTerm
        except Exception as exc:  # formulae's resolver errors have several types
            raise FormulaError(
                f"formulae cannot build the terms of the formula: {exc}", bar
            ) from None
        for term in getattr(resolved, "terms", [resolved]):
            factor = getattr(term, "factor", None)
            if factor is not None:
                factors[str(factor.name)] = None
    return tuple(factors)


def _is_offset(term: Any) -> bool:
    components: list[Any] = list(getattr(term, "components", []))
    call = getattr(components[0], "call", None) if len(components) == 1 else None
    return call is not None and call.callee == "offset"


def _check_target(target: str, family: str, offset: int) -> None:
    try:
        _, auxiliary = family_params(family)
    except FamilyError:
        return  # reported by check_family_link
    if family in ORDINAL_FAMILIES:
        raise FormulaError(
            f"family '{family}' takes one formula only: Bambi cannot model its thresholds",
            offset,
        )
    if not auxiliary:
        raise FormulaError(
            f"family '{family}' has no auxiliary parameter to model; remove this formula",
            offset,
        )
    if target not in auxiliary:
        raise FormulaError(
            f"'{target}' is not an auxiliary parameter of family '{family}'"
            f"{did_you_mean(target, auxiliary)}; a distributional formula models"
            f" {one_of(auxiliary)}",
            offset,
        )
