"""The default layer on keras.applications architectures (weights=None, built offline): the
last spatial feature map that feeds the head, pinned per family.

Each model is built once for the module. VGG is built without its 120M-parameter dense head
(``include_top=False``, ending at block5_pool): the rule stops at the pooling either way.
"""

import json

import keras
import pytest

from gradcam_keras.layer_paths import default_layer

EXPECTED = {
    "VGG16": "block5_conv3",                      # activation fused into the convolution
    "VGG19": "block5_conv4",
    "ResNet50": "conv5_block3_out",               # conv -> BN -> Add -> ReLU
    "ResNet50V2": "post_relu",                    # pre-activation: the head's BN + ReLU
    "MobileNetV2": "out_relu",                    # Conv_1 -> Conv_1_bn -> ReLU6
    "EfficientNetB0": "top_activation",           # top_conv -> top_bn -> swish
    "DenseNet121": "relu",                        # concat -> bn -> relu
}


@pytest.fixture(scope="module", params=[*EXPECTED, "ConvNeXtTiny"])
def application(request):
    top = not request.param.startswith("VGG")
    return request.param, getattr(keras.applications, request.param)(weights=None,
                                                                       include_top=top)


def test_default_layer_per_family(application):
    name, model = application
    if name != "ConvNeXtTiny":
        assert default_layer(model) == EXPECTED[name]
        return
    # A ConvNeXt block ends with `inputs + x`, an unnamed Add operation (not a layer): the
    # default is that sum, the map the head's global pooling reads.
    chosen = default_layer(model)
    gap = model.get_layer("convnext_tiny_head_gap")
    operation = next(op for op in model.operations if op.name == chosen)
    assert type(operation).__name__ == "Add"
    assert gap.input is operation.output


def test_list_layers_marks_the_default(model_file, capsys):
    from gradcam_keras.cli.main import main

    assert main(["--model", "efficientnet_lite0", "--list-layers", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["default_layer"] == "top_activation"
    assert main(["--model", str(model_file), "--list-layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("* ")] == ["conv2"]
    assert lines[-1].startswith("default layer (*): conv2 (the last feature map that feeds")
