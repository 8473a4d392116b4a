"""The prior grammar: the compact ``Normal(0, sigma=HalfNormal(5))`` and mapping forms.

Both forms become one canonical ``PriorNode``: every argument named and in the order
of the PyMC signature, integral numbers as ``int``, so that
``parse_prior(str(node)) == node``. Distribution and parameter names are checked
against PyMC, and PyMC is asked whether it accepts the combination of arguments.

The compact form is read by the tokenizer and recursive-descent parser below. They
are written by hand because the grammar is tiny and the one rule that matters is
that user text is only ever read, never evaluated (no ``eval``, no ``ast``)::

    prior  := call END
    call   := NAME "(" [arg ("," arg)* [","]] ")"
    arg    := NAME "=" value | value
    value  := number | list | call
    list   := "[" number ("," number)* [","] "]"
    number := ["+" | "-"] (DIGITS ["." [DIGITS]] | "." DIGITS) [("e" | "E") ["+" | "-"] DIGITS]
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import math
import re
import reprlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from radonspec.errors import did_you_mean, one_of

if TYPE_CHECKING:
    import bambi

type Number = int | float
type PriorValue = Number | tuple[Number, ...] | PriorNode

#: Longest compact prior accepted, in characters.
MAX_LENGTH = 2000
#: Deepest nesting of distributions accepted (``Normal(0, HalfNormal(5))`` is 2).
MAX_DEPTH = 10

#: Constraint on a parameter, by its name, in every distribution that has it: "positive"
#: (> 0), "nonnegative" (>= 0) or "probability" (0 <= x <= 1). Only names PyMC checks the
#: same way everywhere are listed; a few distributions use a name differently (below).
PARAM_CONSTRAINTS: dict[str, str] = {
    "sigma": "positive",
    "tau": "positive",
    "beta": "positive",
    "lam": "positive",
    "nu": "positive",
    "alpha": "positive",
    "kappa": "positive",
    "b": "positive",
    "a": "positive",
    "s": "positive",
    "m": "positive",
    "h": "positive",
    "phi": "positive",
    "scale": "positive",
    "p": "probability",
}

#: Per distribution, the parameters whose meaning differs from ``PARAM_CONSTRAINTS``
#: (``None``: any real number).
DIST_CONSTRAINTS: dict[str, dict[str, str | None]] = {
    "Cauchy": {"alpha": None},  # location
    "SkewNormal": {"alpha": None},  # skewness
    "Wald": {"alpha": "nonnegative"},  # shift
    "Rice": {"nu": "nonnegative", "b": "nonnegative"},  # noncentrality
    "LKJCorr": {"eta": "positive"},
}

#: The one multivariate distribution a prior may name: the LKJ prior on the correlation
#: matrix of a factor's correlated group-specific effects (key ``cor|factor``). Its size
#: is the number of those effects, so the spec gives ``eta`` only.
CORRELATION_PRIOR = "LKJCorr"

_CONSTRAINT_TEXT = {
    "positive": "positive (> 0)",
    "nonnegative": "nonnegative (>= 0)",
    "probability": "a probability (between 0 and 1)",
}

#: Parameters of an alternative parametrisation, by distribution. The compact form takes
#: them by keyword only, so positional arguments always mean the primary parametrisation:
#: ``Normal(0, 1, 2)`` is an error rather than a silent ``tau=2``.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "AsymmetricLaplace": ("q",),
    "Bernoulli": ("logit_p",),
    "Beta": ("mu", "sigma", "nu"),
    "Binomial": ("logit_p",),
    "Categorical": ("logit_p",),
    "Gamma": ("mu", "sigma"),
    "HalfNormal": ("tau",),
    "HalfStudentT": ("lam",),
    "InverseGamma": ("mu", "sigma"),
    "LogNormal": ("tau",),
    "NegativeBinomial": ("p", "n"),
    "Normal": ("tau",),
    "Rice": ("b",),
    "SkewNormal": ("tau",),
    "Wald": ("phi",),
}

#: PyMC univariate distributions that cannot be a prior here, with the reason.
EXCLUDED: dict[str, str] = {
    "PolyaGamma": "its density needs the 'polyagamma' package, which radonspec does not install",
}

#: Named in the message for an unknown distribution, as examples.
COMMON_DISTRIBUTIONS = ("Normal", "HalfNormal", "StudentT", "HalfCauchy", "Exponential", "Gamma")

#: Parameter names of older PyMC versions, with their current name.
RENAMED: dict[str, str] = {"sd": "sigma"}


class PriorSyntaxError(ValueError):
    """A prior that does not parse or names an unknown distribution or parameter.

    ``offset`` is the 0-based character offset in the compact string where the
    problem starts (0 for mapping forms); ``path`` the keys inside a mapping form
    leading to the problem (a compact string inside a mapping has both).
    """

    def __init__(self, message: str, offset: int = 0, path: tuple[str, ...] = ()) -> None:
        self.message = message
        self.offset = offset
        self.path = path
        super().__init__(message)


def _format_number(value: Number) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def _format_value(value: PriorValue) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_format_number(v) for v in value) + "]"
    if isinstance(value, PriorNode):
        return str(value)
    return _format_number(value)


@dataclass(frozen=True)
class PriorNode:
    """A parsed prior: a PyMC distribution name and its named arguments.

    ``args`` are ``(name, value)`` pairs in PyMC signature order; a value is an
    ``int``, a ``float``, a tuple of those, or a nested ``PriorNode``. Use ``str(node)``
    or ``to_dict()``, not ``hash()``, for content hashes: both are stable across runs.
    """

    dist: str
    args: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={_format_value(v)}" for k, v in self.args)
        return f"{self.dist}({inner})"

    def compact(self) -> str:
        """Return the canonical compact form, e.g. ``Normal(mu=0, sigma=HalfNormal(sigma=5))``."""
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the mapping form as plain JSON-able data (lists, nested dicts)."""
        out: dict[str, Any] = {"dist": self.dist}
        for key, value in self.args:
            if isinstance(value, PriorNode):
                out[key] = value.to_dict()
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class DistInfo:
    """The signature of one PyMC distribution, as the prior grammar uses it."""

    name: str
    positional: tuple[str, ...]
    params: tuple[str, ...]
    required: tuple[str, ...]


@functools.cache
def _pymc_distributions() -> tuple[dict[str, DistInfo], dict[str, str]]:
    """PyMC's univariate distributions and the refused ones, from the registry snapshot.

    Asking PyMC itself takes seconds of import; ``study.registry`` holds what
    ``live_distributions`` found for the pinned version (a test keeps them equal).
    """
    from radonspec.study.registry import DISTRIBUTIONS, REFUSED

    allowed = {
        name: DistInfo(cls, tuple(positional), tuple(params), tuple(required))
        for name, (cls, positional, params, required) in DISTRIBUTIONS.items()
    }
    return allowed, dict(REFUSED)


def live_distributions() -> tuple[dict[str, DistInfo], dict[str, str]]:
    """PyMC's univariate distributions a prior may name, and why the others may not."""
    import pymc as pm
    import pymc.distributions as pmd

    allowed: dict[str, DistInfo] = {}
    refused: dict[str, str] = {}
    for name in sorted(pmd.__all__):
        cls: Any = getattr(pmd, name)
        if not (inspect.isclass(cls) and issubclass(cls, (pm.Continuous, pm.Discrete))):
            continue
        if cls in (pm.Continuous, pm.Discrete):
            continue
        # Distributions are either a RandomVariable (rv_op) or a symbolic one (rv_type).
        op = getattr(cls, "rv_op", None)
        ndim_supp = getattr(op, "ndim_supp", None)
        if ndim_supp is None:
            ndim_supp = getattr(getattr(cls, "rv_type", None), "ndim_supp", None)
        if ndim_supp != 0:
            refused[name] = "it is multivariate; a prior must be a univariate distribution"
            continue
        if name in EXCLUDED:
            refused[name] = EXCLUDED[name]
            continue
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = [
            p
            for p in inspect.signature(getattr(pmd, name).dist).parameters.values()
            if p.kind in kinds
        ]
        alternatives = ALTERNATIVES.get(cls.__name__, ())
        positional: list[str] = []
        for p in params:
            if p.kind != kinds[0] or p.name in alternatives:
                break
            positional.append(p.name)
        allowed[name] = DistInfo(
            name=cls.__name__,  # aliases such as Lognormal print as LogNormal
            positional=tuple(positional),
            params=tuple(p.name for p in params),
            required=tuple(p.name for p in params if p.default is inspect.Parameter.empty),
        )
    refused.pop(CORRELATION_PRIOR, None)
    allowed[CORRELATION_PRIOR] = DistInfo(CORRELATION_PRIOR, ("eta",), ("eta",), ("eta",))
    return allowed, refused


def known_distributions() -> dict[str, DistInfo]:
    """Return the PyMC distributions a prior may name, by name (aliases included)."""
    return dict(_pymc_distributions()[0])


def distribution_names() -> list[str]:
    """Return the sorted names a prior may use as its distribution (aliases included)."""
    return sorted(_pymc_distributions()[0])


class _Where(NamedTuple):
    offset: int
    path: tuple[str, ...]


def _fail(message: str, where: _Where) -> PriorSyntaxError:
    return PriorSyntaxError(message, where.offset, where.path)


def _lookup(name: str, where: _Where) -> DistInfo:
    allowed, refused = _pymc_distributions()
    if name in allowed:
        return allowed[name]
    if name in refused:
        raise _fail(f"'{name}' cannot be a prior: {refused[name]}", where)
    examples = ", ".join(f"'{d}'" for d in COMMON_DISTRIBUTIONS)
    raise _fail(
        f"unknown distribution {name!r}{did_you_mean(name, allowed)}; expected a univariate "
        f"PyMC distribution such as {examples} ({len(allowed)} in all)",
        where,
    )


def _number(value: float, text: str, where: _Where) -> Number:
    if not math.isfinite(value):
        raise _fail(f"{text!r} is not a finite number; prior parameters must be finite", where)
    # Integral values print without ".0", so 100 and 100.0 give the same node and hash.
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class _Arg(NamedTuple):
    name: str
    value: PriorValue
    where: _Where  # of the name for keywords, of the value for positionals
    value_where: _Where


def _check_value(info: DistInfo, arg: _Arg) -> None:
    constraint = DIST_CONSTRAINTS.get(info.name, {}).get(arg.name, PARAM_CONSTRAINTS.get(arg.name))
    if constraint is None or isinstance(arg.value, PriorNode):
        return
    values = arg.value if isinstance(arg.value, tuple) else (arg.value,)
    for v in values:
        ok = {"positive": v > 0, "nonnegative": v >= 0, "probability": 0 <= v <= 1}[constraint]
        if not ok:
            shown = _format_number(v)
            if isinstance(arg.value, tuple):
                shown += f" in {_format_value(arg.value)}"
            raise _fail(
                f"{info.name} parameter '{arg.name}' must be {_CONSTRAINT_TEXT[constraint]}, "
                f"got {shown}",
                arg.value_where,
            )


def _pymc_value(value: PriorValue) -> Any:
    import numpy as np

    if isinstance(value, PriorNode):
        return 1.0  # stands in for the random variable Bambi will create
    if isinstance(value, tuple):
        return np.asarray(value, dtype=float)
    return value


#: While set, parsing leaves PyMC's own verdict on a prior's arguments to ``pymc_verdicts``
#: (importing PyMC takes seconds; a study whose every fit is stored needs no verdict).
_DEFERRED: contextvars.ContextVar[bool] = contextvars.ContextVar("pymc_deferred", default=False)


@contextlib.contextmanager
def pymc_verdicts_deferred() -> Iterator[None]:
    """Parse priors without asking PyMC whether it accepts their arguments."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def pymc_verdicts(node: PriorNode) -> list[str]:
    """PyMC's objections to a prior and to each prior nested in it (empty when accepted)."""
    found = [f"PyMC rejects {node}: {why}" for why in [_pymc_rejects(node)] if why is not None]
    for _, value in node.args:
        if isinstance(value, PriorNode):
            found += pymc_verdicts(value)
    return found


@functools.lru_cache(maxsize=1024)
def _pymc_rejects(node: PriorNode) -> str | None:
    import pymc as pm

    cls = getattr(pm, node.dist)
    kwargs = {k: _pymc_value(v) for k, v in node.args}
    if node.dist == CORRELATION_PRIOR:
        kwargs["n"] = 2  # any size: only eta is the spec's
    try:
        # The graph is discarded; only PyMC's verdict on the arguments matters, so
        # its warnings (if any) are noise here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls.dist(**kwargs)
    except (TypeError, ValueError) as exc:
        return str(exc)
    # PyMC signals some bad combinations with other errors (NotImplementedError,
    # ZeroDivisionError, OverflowError...): any failure to build means a bad prior.
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_top_level(info: DistInfo, depth: int, where: _Where) -> None:
    """The correlation prior is a whole prior of its own, never an argument of another."""
    if info.name == CORRELATION_PRIOR and depth > 1:
        raise _fail(
            f"{CORRELATION_PRIOR} is the prior of a correlation matrix, not of a parameter;"
            f" give it under its own key, e.g. 'cor|county': {CORRELATION_PRIOR}(eta=2)",
            where,
        )


def _make_node(info: DistInfo, args: list[_Arg], where: _Where) -> PriorNode:
    seen: dict[str, _Arg] = {}
    for arg in args:
        if arg.name not in info.params:
            hint = did_you_mean(arg.name, info.params)
            if not hint and RENAMED.get(arg.name) in info.params:
                hint = f" (did you mean '{RENAMED[arg.name]}'?)"
            expected = one_of(info.params) if info.params else "no parameters"
            raise _fail(
                f"unknown parameter {arg.name!r} for {info.name}{hint}; expected {expected}",
                arg.where,
            )
        if arg.name in seen:
            raise _fail(f"{info.name}() got multiple values for '{arg.name}'", arg.where)
        if info.name == CORRELATION_PRIOR and not isinstance(arg.value, int | float):
            raise _fail(
                f"{CORRELATION_PRIOR}'s '{arg.name}' is one number, e.g."
                f" {CORRELATION_PRIOR}(eta=2)",
                arg.value_where,
            )
        _check_value(info, arg)
        seen[arg.name] = arg
    missing = [p for p in info.required if p not in seen]
    if missing:
        s = "s" if len(missing) > 1 else ""
        raise _fail(
            f"{info.name}() is missing required argument{s} {one_of(missing)}; "
            f"its parameters are {', '.join(info.params)}",
            where,
        )
    node = PriorNode(info.name, tuple((p, seen[p].value) for p in info.params if p in seen))
    rejected = None if _DEFERRED.get() else _pymc_rejects(node)
    if rejected is not None:
        raise _fail(f"PyMC rejects {node}: {rejected}", where)
    return node


_TOKEN = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<punct>[()\[\],=+-])"
)
_NUMBER_TAIL = re.compile(r"[\w.+-]*")
_NOT_FINITE = frozenset({"inf", "infinity", "nan"})
_VALUE_HINT = "a number, a list of numbers or a distribution such as 'HalfNormal(5)'"


class _Token(NamedTuple):
    kind: str  # "name", "number", "end", or the punctuation character itself
    text: str
    offset: int


class _RawArg(NamedTuple):
    keyword: _Token | None
    value: PriorValue
    where: _Where


class _Parser:
    """Tokenizer and recursive-descent parser of one compact string, one token ahead.

    ``outer_depth`` is the nesting depth of whatever holds the string (0 at the top,
    the mapping's depth for a string inside a mapping form).
    """

    def __init__(self, text: str, path: tuple[str, ...], outer_depth: int) -> None:
        self.text = text
        self.path = path
        self.outer_depth = outer_depth
        self.pos = 0
        if len(text) > MAX_LENGTH:
            raise _fail(
                f"prior is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
                self.at(0),
            )
        self.tok = self._lex()

    def at(self, offset: int | None = None) -> _Where:
        return _Where(self.tok.offset if offset is None else offset, self.path)

    def _lex(self) -> _Token:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            self.pos = pos
            return _Token("end", "", pos)
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _fail(
                f"unexpected character {text[pos]!r}; a prior holds only distribution names, "
                "numbers, lists and the characters ( ) [ ] , =",
                _Where(pos, self.path),
            )
        self.pos = match.end()
        kind = match.lastgroup or "punct"
        if (
            kind == "number"
            and self.pos < len(text)
            and (text[self.pos].isalnum() or text[self.pos] in "._")
        ):
            bad = match.group() + (_NUMBER_TAIL.match(text, self.pos) or match).group()
            raise _fail(f"malformed number {bad!r}", _Where(pos, self.path))
        return _Token(match.group() if kind == "punct" else kind, match.group(), pos)

    def advance(self) -> _Token:
        tok = self.tok
        self.tok = self._lex()
        return tok

    def describe(self) -> str:
        return "the end of the prior" if self.tok.kind == "end" else repr(self.tok.text)

    def expect_end(self) -> None:
        if self.tok.kind != "end":
            raise _fail(f"unexpected {self.describe()} after the end of the prior", self.at())

    def parse_prior(self) -> PriorNode:
        if self.tok.kind == "end":
            raise _fail("empty prior; write a distribution such as 'Normal(0, 1)'", self.at())
        if self.tok.kind != "name":
            raise _fail(
                f"expected a distribution such as 'Normal(0, 1)', got {self.describe()}",
                self.at(),
            )
        node = self.parse_call(self.advance(), self.outer_depth + 1)
        self.expect_end()
        return node

    def parse_value_text(self) -> PriorValue:
        if self.tok.kind == "end":
            raise _fail(f"empty value; expected {_VALUE_HINT}", self.at())
        value = self.parse_value(self.outer_depth)
        self.expect_end()
        return value

    def parse_call(self, name: _Token, depth: int) -> PriorNode:
        if depth > MAX_DEPTH:
            raise _fail(
                f"prior nested too deeply: at most {MAX_DEPTH} levels of distributions",
                self.at(name.offset),
            )
        info = _lookup(name.text, self.at(name.offset))
        _check_top_level(info, depth, self.at(name.offset))
        if self.tok.kind != "(":
            raise _fail(f"expected '(' after '{name.text}', got {self.describe()}", self.at())
        self.advance()
        raw: list[_RawArg] = []
        while self.tok.kind != ")":
            start = self.tok
            if start.kind == "name":
                self.advance()
                if self.tok.kind == "=":
                    self.advance()
                    where = self.at()
                    raw.append(_RawArg(start, self.parse_value(depth), where))
                else:
                    raw.append(_RawArg(None, self.parse_value(depth, start), self.at(start.offset)))
            else:
                raw.append(_RawArg(None, self.parse_value(depth), self.at(start.offset)))
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                raise _fail(
                    f"expected ',' or ')' in the arguments of {name.text}, got {self.describe()}",
                    self.at(),
                )
        self.advance()
        return _make_node(info, self.name_args(info, raw), self.at(name.offset))

    def name_args(self, info: DistInfo, raw: list[_RawArg]) -> list[_Arg]:
        """Give positional arguments their names from the PyMC signature."""
        n_positional = sum(1 for r in raw if r.keyword is None)
        args: list[_Arg] = []
        keyword_seen = False
        for arg in raw:
            if arg.keyword is not None:
                keyword_at = self.at(arg.keyword.offset)
                args.append(_Arg(arg.keyword.text, arg.value, keyword_at, arg.where))
                keyword_seen = True
                continue
            if keyword_seen:
                raise _fail("positional argument follows keyword argument", arg.where)
            if len(args) >= len(info.positional):
                allowed = len(info.positional)
                most = (
                    f"at most {allowed} positional argument{'' if allowed == 1 else 's'} "
                    f"({', '.join(info.positional)})"
                    if allowed
                    else "no positional arguments"
                )
                raise _fail(f"{info.name}() takes {most}, got {n_positional}", arg.where)
            args.append(_Arg(info.positional[len(args)], arg.value, arg.where, arg.where))
        return args

    def parse_value(self, depth: int, name: _Token | None = None) -> PriorValue:
        """Parse a value inside a call at ``depth``; ``name`` is an already consumed name."""
        if name is None and self.tok.kind == "name":
            name = self.advance()
        if name is not None:
            if self.tok.kind == "(":
                return self.parse_call(name, depth + 1)
            if name.text.lower() in _NOT_FINITE:
                raise _fail(
                    f"'{name.text}' is not a finite number; prior parameters must be finite",
                    self.at(name.offset),
                )
            if name.text in _pymc_distributions()[0]:
                raise _fail(f"expected '(' after '{name.text}', got {self.describe()}", self.at())
            raise _fail(f"expected {_VALUE_HINT}, got name {name.text!r}", self.at(name.offset))
        if self.tok.kind == "[":
            return self.parse_list()
        return self.parse_number(f"expected {_VALUE_HINT}")

    def parse_list(self) -> tuple[Number, ...]:
        opening = self.advance()
        items: list[Number] = []
        while self.tok.kind != "]":
            items.append(self.parse_number("expected a number in the list"))
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != "]":
                raise _fail(f"expected ',' or ']' in a list, got {self.describe()}", self.at())
        self.advance()
        if not items:
            raise _fail("empty list; a list holds one number or more", self.at(opening.offset))
        return tuple(items)

    def parse_number(self, expected: str) -> Number:
        start = self.tok
        sign = self.advance().text if start.kind in ("+", "-") else ""
        if self.tok.kind == "name" and self.tok.text.lower() in _NOT_FINITE:
            text = sign + self.tok.text
            raise _fail(
                f"'{text}' is not a finite number; prior parameters must be finite",
                self.at(start.offset),
            )
        if self.tok.kind != "number":
            expected = f"expected a number after '{sign}'" if sign else expected
            raise _fail(f"{expected}, got {self.describe()}", self.at())
        text = sign + self.advance().text
        return _number(float(text), text, self.at(start.offset))


def _is_bool(value: object) -> bool:
    # ruamel.yaml loads anchored booleans as ScalarBoolean, an int subclass.
    return isinstance(value, bool) or type(value).__name__ == "ScalarBoolean"


def _mapping_number(value: object, path: tuple[str, ...]) -> Number:
    if _is_bool(value) or not isinstance(value, int | float):
        raise _fail(
            f"expected a number, got {type(value).__name__} {reprlib.repr(value)}",
            _Where(0, path),
        )
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    return _number(as_float, str(value), _Where(0, path))


def _mapping_value(value: object, path: tuple[str, ...], depth: int) -> PriorValue:
    """Read one argument of a mapping prior whose own depth is ``depth``."""
    if isinstance(value, PriorNode):
        value = value.to_dict()
    if isinstance(value, str):
        return _Parser(value, path, depth).parse_value_text()
    if isinstance(value, Mapping):
        return _parse_mapping(value, path, depth + 1)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if not value:
            raise _fail("empty list; a list holds one number or more", _Where(0, path))
        return tuple(_mapping_number(v, path) for v in value)
    if _is_bool(value) or not isinstance(value, int | float):
        raise _fail(
            f"expected {_VALUE_HINT}, got {type(value).__name__} {reprlib.repr(value)}",
            _Where(0, path),
        )
    return _mapping_number(value, path)


def _parse_mapping(value: Mapping[Any, Any], path: tuple[str, ...], depth: int) -> PriorNode:
    if depth > MAX_DEPTH:
        raise _fail(
            f"prior nested too deeply: at most {MAX_DEPTH} levels of distributions",
            _Where(0, path),
        )
    if "dist" not in value:
        keys = ", ".join(repr(k) for k in value) or "none"
        raise _fail(
            "a prior mapping needs a 'dist' key naming the distribution, e.g. "
            f"{{dist: Normal, mu: 0, sigma: 1}}; got keys {keys}",
            _Where(0, path),
        )
    dist = value["dist"]
    if not isinstance(dist, str):
        raise _fail(
            f"'dist' must be a distribution name such as 'Normal', got {reprlib.repr(dist)}",
            _Where(0, (*path, "dist")),
        )
    info = _lookup(dist, _Where(0, (*path, "dist")))
    _check_top_level(info, depth, _Where(0, (*path, "dist")))
    args: list[_Arg] = []
    for key, raw in value.items():
        if key == "dist":
            continue
        if not isinstance(key, str):
            raise _fail(f"parameter names must be strings, got {key!r}", _Where(0, path))
        where = _Where(0, (*path, key))
        args.append(_Arg(key, _mapping_value(raw, where.path, depth), where, where))
    return _make_node(info, args, _Where(0, path))


def parse_prior(value: str | Mapping[str, Any] | PriorNode) -> PriorNode:
    """Parse a compact string or a mapping into the canonical ``PriorNode``.

    Parameters
    ----------
    value : str or Mapping or PriorNode
        ``"Normal(0, sigma=HalfNormal(5))"``, or
        ``{"dist": "Normal", "mu": 0, "sigma": {"dist": "HalfNormal", "sigma": 5}}``
        (nested values may also be compact strings). A ``PriorNode`` is checked again
        and returned in canonical form.

    Returns
    -------
    PriorNode
        Arguments named and ordered as in the PyMC signature.

    Raises
    ------
    PriorSyntaxError
        With ``offset`` into the compact string and ``path`` into the mapping.
    """
    if isinstance(value, PriorNode):
        value = value.to_dict()
    if isinstance(value, str):
        return _Parser(value, (), 0).parse_prior()
    if isinstance(value, Mapping):
        return _parse_mapping(value, (), 1)
    raise PriorSyntaxError(
        "a prior must be a string such as 'Normal(0, 1)' or a mapping such as "
        f"{{dist: Normal, mu: 0, sigma: 1}}, got {type(value).__name__} {reprlib.repr(value)}"
    )


def to_bambi(node: PriorNode) -> bambi.Prior:
    """Build the ``bambi.Prior`` for a node; nested nodes become nested priors (hyperpriors).

    Parameters
    ----------
    node : PriorNode
        A node from ``parse_prior``.

    Returns
    -------
    bambi.Prior
        E.g. ``Prior("Normal", mu=0, sigma=Prior("HalfNormal", sigma=5))``.
    """
    import bambi as bmb
    import numpy as np

    kwargs: dict[str, Any] = {}
    for key, value in node.args:
        if isinstance(value, PriorNode):
            kwargs[key] = to_bambi(value)
        elif isinstance(value, tuple):
            kwargs[key] = np.asarray(value, dtype=float)
        else:
            kwargs[key] = value
    return bmb.Prior(node.dist, **kwargs)
