"""Files and functions stay small enough to read (DESIGN.md, habit 11).

ruff's C901/PLR0912/PLR0915 bound complexity, branches and statements; they cannot bound
lines, so the line limits are kept here. A line of code is a non-blank line outside a
docstring (comments count: a function whose comments need 40 lines needs splitting too).
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("ode_keras", "gradcam_keras", "benchmarks", "tests")
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 40


def _python_files():
    return sorted(path for folder in SOURCE_DIRS for path in (ROOT / folder).rglob("*.py"))


def _docstring_lines(tree):
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _code_lines(source_lines, first, last, docstrings):
    return sum(1 for number in range(first, last + 1)
               if source_lines[number - 1].strip() and number not in docstrings)


def count_code_lines(source):
    """(lines of code in the file, {function name: its lines of code})."""
    tree = ast.parse(source)
    lines = source.splitlines()
    docstrings = _docstring_lines(tree)
    functions = {f"{node.name}:{node.lineno}": _code_lines(lines, node.lineno, node.end_lineno,
                                                          docstrings)
                 for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return _code_lines(lines, 1, len(lines), docstrings), functions


def test_the_counter_counts_code_not_docstrings_or_blank_lines():
    source = 'def f():\n    """Doc\n    string."""\n\n    x = 1  # why\n    return x\n'
    assert count_code_lines(source) == (3, {"f:1": 3})


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_and_functions_stay_small(path):
    total, functions = count_code_lines(path.read_text())
    assert total <= MAX_FILE_LINES, f"{total} lines of code: split the file along a seam"
    too_long = {name: n for name, n in functions.items() if n > MAX_FUNCTION_LINES}
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines of code: {too_long}"
