"""The import direction graphc -> passes/runtime -> ir holds in every file (imports anywhere in a
module count, including those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graphc", "ir", "passes", "runtime")
ALLOWED = {
    "ir": {"ir"},
    "passes": {"passes", "ir"},
    "runtime": {"runtime", "ir"},
    "graphc": set(PACKAGES),
}


def imported_packages(path: Path, package: str) -> set[tuple[str, int]]:
    """(top-level project package, line) for each import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside the file's own package.
            names = [package] if node.level else [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                found.add((top, node.lineno))
    return found


def source_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package):
    files = source_files(package)
    assert files, f"no sources found for {package}"
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in files
        for top, line in sorted(imported_packages(path, package))
        if top not in ALLOWED[package]
    ]
    assert not violations, f"{package} may import only {sorted(ALLOWED[package])}:\n" + "\n".join(
        violations
    )


def test_checker_sees_nested_and_relative_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import runtime.executable\nfrom . import x\nfrom passes import y\n")
    assert imported_packages(source, "ir") == {("runtime", 2), ("ir", 3), ("passes", 4)}
