"""The distribution's metadata stays consistent with its single sources of truth."""

import configparser
import pathlib
import subprocess
import sys

import gradcam_keras
import ode_keras

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _setup_cfg():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def test_install_requires_is_read_from_requirements_txt():
    assert _setup_cfg()["options"]["install_requires"].strip() == "file: requirements.txt"


def test_requirements_txt_names_the_design_card_packages():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    names = {line.split(">")[0].split("=")[0].split("<")[0].strip()
             for line in lines if line.strip() and not line.startswith("#")}
    assert names == {"tensorflow", "keras", "numpy", "scipy", "matplotlib", "pillow"}


def test_both_packages_report_the_setup_cfg_version():
    version = _setup_cfg()["metadata"]["version"]
    assert ode_keras.__version__ == version
    assert gradcam_keras.__version__ == version


def test_bench_peers_are_not_runtime_dependencies():
    runtime = (ROOT / "requirements.txt").read_text()
    for peer in ("torch", "torchdiffeq", "tensorflow-probability", "tf-keras-vis"):
        assert peer not in runtime


def test_cli_help_prints_usage():
    result = subprocess.run([sys.executable, "-m", "gradcam_keras", "--help"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert "usage: gradcam-keras" in result.stdout
