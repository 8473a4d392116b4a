"""Table of bad specs: each gets exit code 1 and one located, readable message."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radonspec.cli.app import app

HEAD = """\
spec_version: 1
name: t
data:
  dataset: radon
  categorical: [county]
"""


def spec(models: str, head: str = HEAD, tail: str = "") -> str:
    """A study text: HEAD (5 lines), then 'models:' on line 6, then ``models``."""
    return (
        head
        + "models:\n"
        + textwrap.indent(textwrap.dedent(models).strip("\n"), "  ")
        + "\n"
        + tail
    )


OK_MODEL = "m:\n  formula: log_radon ~ floor"
# six levels of ten aliases each: a million values once expanded
LEVELS = zip("abcde", "bcdef", strict=True)
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{new}: &{new} [{', '.join([f'*{old}'] * 10)}]\n" for old, new in LEVELS
)

# (id, text, "LINE:COL", message pattern)
CASES: list[tuple[str, str, str, str]] = [
    (
        "yaml-unclosed-flow",
        HEAD + "models: {m: {formula: y ~ x}\n",
        "7:1",
        r"YAML syntax error: expected ',' or '}'",
    ),
    (
        "yaml-bad-indent",
        HEAD + "models:\n  m:\n    formula: log_radon ~ floor\n   priors: {}\n",
        "9:4",
        r"YAML syntax error",
    ),
    (
        "duplicate-key",
        HEAD + "name: u\nmodels:\n  " + OK_MODEL.replace("\n", "\n  ") + "\n",
        "6:1",
        r"duplicate key 'name'",
    ),
    (
        "duplicate-model",
        spec("m:\n  formula: log_radon ~ floor\nm:\n  formula: log_radon ~ 1"),
        "9:3",
        r"duplicate key 'm'",
    ),
    (
        "unknown-top-key",
        HEAD + "modles:\n  " + OK_MODEL.replace("\n", "\n  ") + "\n",
        "6:1",
        r"unknown key 'modles' in the spec \(did you mean 'models'\?\)",
    ),
    (
        "unknown-model-key",
        spec("m:\n  formual: log_radon ~ floor\n  formula: log_radon ~ floor"),
        "8:5",
        r"unknown key 'formual' in models\.m \(did you mean 'formula'\?\); allowed keys:",
    ),
    (
        "unknown-sampler-key",
        spec(OK_MODEL + "\n  sampler: {draw: 10}"),
        "9:15",
        r"unknown key 'draw' in models\.m\.sampler \(did you mean 'draws'\?\)",
    ),
    (
        "missing-spec-version",
        HEAD.replace("spec_version: 1\n", "")
        + "models:\n  "
        + OK_MODEL.replace("\n", "\n  ")
        + "\n",
        "1:1",
        r"missing required key 'spec_version'",
    ),
    (
        "spec-version-2",
        spec(OK_MODEL, HEAD.replace("spec_version: 1", "spec_version: 2")),
        "1:15",
        r"spec_version: input should be 1 \(got 2\)",
    ),
    (
        "bad-name",
        spec(OK_MODEL, HEAD.replace("name: t", "name: My Study")),
        "2:7",
        r"name: string should match pattern .* \(got 'My Study'\)",
    ),
    ("no-models", HEAD + "models: {}\n", "6:9", r"models: dictionary should have at least 1 item"),
    ("models-missing", HEAD, "1:1", r"missing required key 'models'"),
    (
        "negative-draws",
        spec(OK_MODEL + "\n  sampler: {draws: -5}"),
        "9:22",
        r"models\.m\.sampler\.draws: input should be greater than or equal to 1 \(got -5\)",
    ),
    (
        "chains-text",
        spec(OK_MODEL + "\n  sampler: {chains: four}"),
        "9:23",
        r"models\.m\.sampler\.chains: input should be a valid integer.* \(got 'four'\)",
    ),
    (
        "target-accept-range",
        spec(OK_MODEL + "\n  sampler: {target_accept: 1.5}"),
        "9:30",
        r"target_accept: input should be less than 1 \(got 1\.5\)",
    ),
    (
        "unknown-backend",
        spec(OK_MODEL + "\n  sampler: {backend: stan}"),
        "9:24",
        r"backend: input should be 'nutpie', 'pymc', 'numpyro' or 'blackjax' \(got 'stan'\)",
    ),
    (
        "data-both",
        spec(OK_MODEL, HEAD.replace("  categorical", "  path: x.csv\n  categorical")),
        "4:3",
        r"give exactly one of 'dataset' \(a bundled data set\) or 'path'",
    ),
    (
        "data-neither",
        spec(OK_MODEL, HEAD.replace("  dataset: radon\n", "")),
        "4:3",
        r"give exactly one of 'dataset'",
    ),
    (
        "dataset-typo",
        spec(OK_MODEL, HEAD.replace("dataset: radon", "dataset: radom")),
        "4:12",
        r"no bundled data set 'radom' \(did you mean 'radon'\?\)",
    ),
    (
        "data-file-missing",
        spec(OK_MODEL, HEAD.replace("dataset: radon", "path: nowhere.csv")),
        "4:9",
        r"data file nowhere\.csv not found",
    ),
    (
        "data-file-suffix",
        spec(OK_MODEL, HEAD.replace("dataset: radon", "path: data.txt")),
        "4:9",
        r"'data\.txt' is neither \.csv nor \.parquet",
    ),
    (
        "unknown-column",
        spec("m:\n  formula: log_radon ~ flor"),
        "8:26",
        r"unknown column 'flor'.*\(did you mean 'floor'\?\)",
    ),
    (
        "injection-os-system",
        spec('m:\n  formula: log_radon ~ os.system("touch CANARY")'),
        "8:",
        r"model 'm':",
    ),
    ("injection-import", spec("m:\n  formula: log_radon ~ __import__('os')"), "8:", r"model 'm':"),
    ("injection-attribute", spec("m:\n  formula: log_radon ~ floor.real"), "8:", r"model 'm':"),
    (
        "unknown-function",
        spec("m:\n  formula: log_radon ~ foo(floor)"),
        "8:",
        r"'foo' is not an allowed transform",
    ),
    ("formula-syntax", spec("m:\n  formula: log_radon ~ floor +"), "8:", r"model 'm':"),
    (
        "family-typo",
        spec(OK_MODEL + "\n  family: gausian"),
        "9:13",
        r"model 'm':.*'gausian'.*did you mean 'gaussian'",
    ),
    ("link-unsupported", spec(OK_MODEL + "\n  link: logit"), "9:11", r"model 'm':.*link 'logit'"),
    (
        "prior-unknown-dist",
        spec(OK_MODEL + '\n  priors: {floor: "Normall(0, 1)"}'),
        "9:22",
        r"unknown distribution 'Normall' \(did you mean 'Normal'\?\)",
    ),
    (
        "prior-bad-param",
        spec(OK_MODEL + '\n  priors: {floor: "Normal(0, sd=1)"}'),
        "9:",
        r"unknown parameter 'sd'",
    ),
    (
        "prior-too-many",
        spec(OK_MODEL + "\n  priors: {floor: 'Normal(0, 1, 2)'}"),
        "9:",
        r"at most 2 positional",
    ),
    (
        "prior-unclosed",
        spec(OK_MODEL + "\n  priors: {floor: 'Normal(0, 1'}"),
        "9:",
        r"models\.m\.priors\.floor: .*\)",
    ),
    (
        "prior-no-term",
        spec(OK_MODEL + '\n  priors: {flor: "Normal(0, 1)"}'),
        "9:14",
        r"prior 'flor' names no term of the formula 'log_radon ~ floor' \(did you mean 'floor'\?\)",
    ),
    (
        "prior-negative-scale",
        spec(OK_MODEL + "\n  priors: {sigma: HalfNormal(-1)}"),
        "9:",
        r"models\.m\.priors\.sigma: .*positive",
    ),
    (
        "prior-injection",
        spec(OK_MODEL + "\n  priors: {floor: \"__import__('os')\"}"),
        "9:",
        r"models\.m\.priors\.floor:",
    ),
    (
        "prior-mapping-no-dist",
        spec(OK_MODEL + "\n  priors: {floor: {mu: 0, sigma: 1}}"),
        "9:",
        r"models\.m\.priors\.floor: .*dist",
    ),
    (
        "model-extends-unknown",
        spec(OK_MODEL + "\nn:\n  extends: mm"),
        "10:14",
        r"model 'n' extends 'mm', which is not a model of this study \(did you mean 'm'\?\)",
    ),
    (
        "model-extends-cycle",
        spec("a:\n  extends: b\nb:\n  extends: a"),
        "",
        r"model 'extends' cycle: ",
    ),
    (
        "compare-unknown-model",
        spec(OK_MODEL, tail="compare: {models: [m, q]}\n"),
        "9:",
        r"'q' is not a model of this study",
    ),
    (
        "shrinkage-unknown",
        spec(OK_MODEL, tail="report: {group: county, shrinkage: {from: m, to: h}}\n"),
        "9:",
        r"'h' is not a model of this study",
    ),
    (
        "report-group-not-column",
        spec(OK_MODEL, tail="report: {group: countie}\n"),
        "9:17",
        r"'countie' is not a column of the data \(did you mean 'county'\?\)",
    ),
    (
        "reference-not-categorical",
        spec(OK_MODEL, HEAD + "  reference: {floor: 0}\n"),
        "6:22",
        r"data.reference names a level of 'floor', which is numeric; list 'floor' under"
        r" data.categorical to treat it as levels",
    ),
    (
        "reference-not-level",
        spec(OK_MODEL, HEAD + "  reference: {county: ATKIN}\n"),
        "6:23",
        r"reference level 'ATKIN' is not a level of 'county' \(did you mean 'AITKIN'\?\)",
    ),
    (
        "degenerate-auto-prior",
        spec("m:\n  formula: log_radon ~ 0 + county + county:floor"),
        "8:14",
        r"automatic prior of term 'county:floor' is degenerate.*give 'county:floor' an explicit",
    ),
    (
        "one-group-level",
        spec(
            "m:\n  formula: log_radon ~ floor + (1|county)", HEAD + "  filter: {county: [AITKIN]}\n"
        ),
        "9:14",
        r"grouping factor 'county' has 1 level;",
    ),
    (
        "one-level-predictor",
        spec("m:\n  formula: log_radon ~ floor + county", HEAD + "  filter: {county: [AITKIN]}\n"),
        "9:14",
        r"the categorical predictor 'county' has one level \('AITKIN'\) in the rows the model"
        r" uses after data.filter, so it has no effect to estimate",
    ),
    (
        "binomial-without-trials",
        spec("m:\n  formula: floor ~ log_radon\n  family: binomial"),
        "8:14",
        r"the binomial family counts successes out of trials: write the response as"
        r" p\(successes, trials\), e\.g\. p\(floor, n\)",
    ),
    (
        "trials-without-binomial",
        spec("m:\n  formula: p(floor, floor) ~ log_radon\n  family: poisson"),
        "8:14",
        r"p\(floor, floor\) is a count of successes out of trials, which the poisson family",
    ),
    (
        "categorical-trials",
        spec("m:\n  formula: p(floor, county) ~ log_radon\n  family: binomial"),
        "8:14",
        r"the trials of p\(floor, county\), 'county', are categories, not numbers"
        r" \(data.categorical lists it\)",
    ),
    (
        "group-prior-without-hyperprior",
        spec(
            "m:\n  formula: log_radon ~ floor + (1|county)\n  noncentered: false\n  priors:"
            "\n    1|county: Normal(0, 1)"
        ),
        "11:7",
        r"the prior of '1\|county' fixes the spread of the group-specific effects, and Bambi"
        r" needs it estimated: give the prior a hyperprior",
    ),
    (
        "highlight-not-a-level",
        spec(OK_MODEL, tail="report:\n  group: county\n  highlight: [AITKIN, ANOKAA]\n"),
        "11:23",
        r"report.highlight names 'ANOKAA', which is not a level of 'county' in the data"
        r" \(did you mean 'ANOKA'\?\)",
    ),
    (
        "interval-censoring",
        spec("m:\n  formula: censored(log_radon, floor, county) ~ floor"),
        "8:14",
        r"censored\(log_radon, floor, county\) is interval censoring, which Bambi 0\.21 does"
        r" not fit",
    ),
    (
        "python-tag",
        HEAD + "models: !!python/object/apply:os.system ['touch CANARY']\n",
        "6:",
        r"YAML|unsupported YAML value",
    ),
    (
        "alias-bomb",
        HEAD + ALIAS_BOMB,
        "",
        r"expands to more than 100,000 values",
    ),
    ("empty-file", "", "1:1", r"the spec file is empty"),
    ("not-a-mapping", "- a\n- b\n", "1:1", r"a spec is a mapping of keys"),
]


@pytest.mark.parametrize(
    ("text", "where", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_spec(text: str, where: str, pattern: str, in_tmp: Path) -> None:
    (in_tmp / "study.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.output
    first = lines[0]
    assert "Traceback" not in result.stderr
    assert first.startswith(f"error: study.yaml:{where}"), first
    assert any(re.search(pattern, line) for line in lines), lines
    assert not (in_tmp / "CANARY").exists()


def test_cases_are_many() -> None:
    assert len(CASES) >= 40


def test_extends_cycle_between_files(in_tmp: Path, write_spec) -> None:
    write_spec("spec_version: 1\nextends: b.yaml\n", "a.yaml")
    write_spec("extends: a.yaml\nname: t\n", "b.yaml")
    result = CliRunner().invoke(app, ["validate", "b.yaml"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: a.yaml:2:10: 'extends' cycle: b.yaml -> a.yaml -> b.yaml;"
        " remove one of the 'extends'"
    )


def test_extends_missing_parent(write_spec) -> None:
    path = write_spec("extends: ../base.yaml\nspec_version: 1\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert ":1:10: 'extends' names ../base.yaml, which does not exist" in result.stderr


def test_missing_file(in_tmp: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "nope.yaml"])
    assert result.exit_code == 1
    assert "nope.yaml: file not found; check the path" in result.stderr


def test_non_utf8(in_tmp: Path) -> None:
    (in_tmp / "study.yaml").write_bytes(b"spec_version: 1\nname: caf\xe9\n")
    result = CliRunner().invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 1
    assert "study.yaml:2:10: the file is not UTF-8 (byte 0xe9); save it as UTF-8" in result.stderr


def test_all_errors_of_a_file_are_reported(in_tmp: Path) -> None:
    text = spec("m:\n  formual: x\n  formula: log_radon ~ floor\n  sampler: {drawz: 1, chains: 0}")
    (in_tmp / "study.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 1
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 3


def test_debug_shows_traceback(in_tmp: Path) -> None:
    (in_tmp / "study.yaml").write_text(HEAD + "modles: {}\n")
    result = CliRunner().invoke(app, ["--debug", "validate", "study.yaml"])
    assert result.exit_code != 0
    assert result.exception is not None


def test_inherited_error_points_at_defaults(in_tmp: Path) -> None:
    text = HEAD + (
        "defaults:\n  sampler: {drawz: 5}\n"
        "models:\n  a: {formula: log_radon ~ floor}\n  b: {formula: log_radon ~ 1}\n"
    )
    (in_tmp / "study.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: study.yaml:7:13: unknown key 'drawz'"), errors


def test_a_valid_study_is_counted_in_words(toy: Path) -> None:
    both = CliRunner().invoke(app, ["validate", str(toy)])
    assert both.exit_code == 0, both.output
    assert both.stdout.strip() == f"{toy}: ok (2 models)"
    one = toy.with_name("one.yaml")
    one.write_text(toy.read_text().replace("  varying:\n    formula: y ~ x + (1|g)\n", ""))
    single = CliRunner().invoke(app, ["validate", str(one)])
    assert single.exit_code == 0, single.output
    assert single.stdout.strip() == f"{one}: ok (1 model)"
