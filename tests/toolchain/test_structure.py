"""buildenv's shape: one job per module, no module using another's private helpers, each
helper defined in one place, and the library free of terminal output (that is ui's, for tasks)."""

from __future__ import annotations

import ast

from buildenv.config import REPO_ROOT

MODULES = {p.stem: ast.parse(p.read_text()) for p in sorted((REPO_ROOT / "buildenv").glob("*.py"))}


def test_no_module_reaches_into_another_modules_private_names():
    leaks = []
    for name, tree in MODULES.items():
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                leaks += [f"{name}: from .{node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
                if node.module is None:
                    imported |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in imported and node.attr.startswith("_"):
                leaks.append(f"{name}: {node.value.id}.{node.attr}")
    assert leaks == []


def test_each_public_function_is_defined_once():
    where: dict[str, list[str]] = {}
    for name, tree in MODULES.items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(name)
    # render/write/drifted: each generator module has its own (devcontainer, families; doctor's render).
    allowed = {"render", "write", "drifted"}
    assert {f: m for f, m in where.items() if len(m) > 1 and f not in allowed} == {}
    assert where["sha256_file"] == ["files"]


def test_only_the_cli_prints_through_ui():
    users = [name for name, tree in MODULES.items() for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module == "ui" or any(
                 a.name == "ui" for a in node.names))]
    assert users == []
