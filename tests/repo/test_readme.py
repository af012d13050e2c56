"""README stays true: CI runs its test command; its metrics example prints what it says."""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert "\n" not in command.strip(), "each Quick start command is one line to copy"


def test_ci_runs_the_readme_test_command():
    setup_and_test = _quick_start_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r'pip install (?:--quiet )?(-e "\.\[test\]")', ci).group(1)
    assert f"pip install {install}" in setup_and_test
    test_command = setup_and_test.rsplit("&&", 1)[1].strip()
    assert test_command in ci.splitlines()


def test_main_job_command_is_the_offline_demo():
    assert _quick_start_commands()[0].endswith("python -m gradcam_keras --demo")


def test_the_metrics_example_runs_and_prints_what_its_comments_say(capsys):
    # The "Beyond Grad-CAM" example: run it as written, then check each commented number
    # against the expression on its line (to 0.02: a different CPU may flip one image).
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Beyond Grad-CAM", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)\n```", section, flags=re.S)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    checked = 0
    for line in code.splitlines():
        found = re.match(r"(metrics\.\w+\(.*\))\s+# ([\d.]+)", line)
        if found:
            expression, documented = found.groups()
            assert abs(eval(expression, namespace) - float(documented)) < 0.02, line
            checked += 1
    assert checked == 6
    printed = dict(line.split() for line in capsys.readouterr().out.splitlines())
    assert abs(float(printed["logits"]) - 0.38) < 0.02
    assert abs(float(printed["conv1"]) - 0.02) < 0.02


def _key_paths(value, prefix=""):
    """Every key path in a JSON value (list items share the path of the list)."""
    if isinstance(value, dict):
        return {path for key, item in value.items()
                for path in {f"{prefix}.{key}"} | _key_paths(item, f"{prefix}.{key}")}
    if isinstance(value, list):
        return set().union(*(_key_paths(item, prefix + "[]") for item in value))
    return set()


def test_the_documented_json_schema_is_what_the_tool_writes(tmp_path, capsys):
    from gradcam_keras.cli.main import JSON_VERSION, main

    readme = (ROOT / "README.md").read_text()
    section = readme.split("#### `--json`", 1)[1].split("\n### ", 1)[0]
    (documented,) = re.findall(r"```json\n(.*?)\n```", section, flags=re.S)
    documented = json.loads(documented)
    assert main(["--demo", "--json", "--save-npy", "--output", str(tmp_path)]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["version"] == documented["version"] == JSON_VERSION
    assert _key_paths(written) == _key_paths(documented)


def test_the_layout_section_names_every_module_and_only_modules_that_exist():
    readme = (ROOT / "README.md").read_text()
    (tree,) = re.findall(r"## Layout\n\n```\n(.*?)\n```", readme, flags=re.S)
    named, package = {}, None
    for line in tree.splitlines():
        if not line.startswith(" "):
            package = line.split("/")[0]
            named[package] = set()
            continue
        entries = line.strip().split("  ")[0]
        named[package] |= set(re.findall(r"[\w.]+\.py|\w+/", entries))
    for package in ("ode_keras", "gradcam_keras"):
        folder = ROOT / package
        present = {p.name for p in folder.glob("*.py")} | {
            p.name + "/" for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"}
        assert named[package] == present - {"_version.py"}, package
