"""The README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in (ROOT / "README.md").read_text()


def test_readme_opens_with_demo_and_tests():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "warmstart demo" in head and "pytest" in head


def test_the_first_warm_start_call_is_on_the_first_screen():
    head = (ROOT / "README.md").read_text().split("\n")[:40]
    assert any("ws.warm_start(" in line for line in head)
