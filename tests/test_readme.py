"""README.md opens with the two commands, and CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    return [
        line
        for block in blocks[:2]
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_readme_opens_with_train_and_test_commands():
    text = (ROOT / "README.md").read_text()
    first_fence = text.index("```bash")
    assert text[:first_fence].strip() == "# graphc"
    train, test = _readme_commands()
    assert train.startswith("python3 -m venv .venv && ") and train.endswith("&& graphc train")
    assert test.startswith("python3 -m venv .venv && ") and test.endswith("&& pytest -q")


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in ci
    assert "pip install torch==2.13.0" in ci
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-1] == test  # the last command: its status is the run's status
