"""ODEBlock's argument errors: each names the argument, the expectation and the value."""

import keras
import numpy as np
import pytest

from ode_keras import ODEBlock
from tests.ode_keras.odeblock_fields import MLPField


class TakesOneInput(keras.layers.Layer):
    def call(self, y):
        return y


BAD_ARGUMENTS = [
    (dict(odefunc=lambda t, y: -y), TypeError, r"`odefunc`.*keras.layers.Layer.*function"),
    (dict(odefunc=keras.Sequential([keras.layers.Dense(3)])), TypeError,
     r"`odefunc`.*call\(t, y\).*call\(inputs, training, mask\).*wrap"),
    (dict(odefunc=TakesOneInput()), TypeError, r"`odefunc`.*call\(y\)"),
    (dict(t=(0.0,)), ValueError, r"`t`.*at least 2 times.*t=\(0.0,\)"),
    (dict(t=[[0.0, 1.0]]), ValueError, r"`t`.*1-D.*shape \(1, 2\)"),
    (dict(t=(0.0, 1.0, 1.0)), ValueError, r"`t`.*strictly increasing.*\[0.0, 1.0, 1.0\]"),
    (dict(t=(0.0, 2.0, 1.0)), ValueError, r"`t`.*strictly.*decreasing.*\[0.0, 2.0, 1.0\]"),
    (dict(t=(0.0, np.inf)), ValueError, r"`t`.*finite.*inf"),
    (dict(t=("a", "b")), TypeError, r"`t`.*real numbers.*'a'"),
    (dict(t=(0.0, 1j)), TypeError, r"`t`.*real numbers"),
    (dict(method="rk45"), ValueError, r"`method`.*'adaptive_heun'.*'dopri5'.*method='rk45'"),
    (dict(method=None), TypeError, r"`method`.*one of.*method=None"),
    (dict(rtol=0.0), ValueError, r"`rtol`.*positive.*rtol=0.0"),
    (dict(atol=-1e-3), ValueError, r"`atol`.*positive.*atol=-0.001"),
    (dict(atol=float("nan")), ValueError, r"`atol`.*finite.*atol=nan"),
    (dict(rtol="1e-3"), TypeError, r"`rtol`.*number.*rtol='1e-3'.*str"),
    (dict(rtol=True), TypeError, r"`rtol`.*rtol=True"),
    (dict(adjoint="yes"), TypeError, r"`adjoint`.*True or False.*adjoint='yes'"),
    (dict(return_sequences=1), TypeError, r"`return_sequences`.*return_sequences=1"),
    (dict(time_major=None), TypeError, r"`time_major`.*time_major=None"),
    (dict(options=[("first_step", 0.1)]), TypeError, r"`options`.*dict or None.*list"),
    (dict(options={"norm": np.max}), TypeError,
     r"`options\['norm'\]`.*JSON-serialisable.*callable.*seminorm.*odeint"),
    (dict(options={"norm": "seminorm"}), TypeError, r"`options\['norm'\]`.*adjoint_options"),
    (dict(options={"bogus": 1}), ValueError,
     r"`options`.*Unknown options \['bogus'\].*first_step"),
    (dict(options={"first_step": object()}), TypeError, r"`options\['first_step'\]`.*number"),
    (dict(options={"max_num_steps": 2.5}), ValueError, r"`options`.*max_num_steps.*2.5"),
    (dict(method="rk4", options={"step_size": 0.1, "grid": [0.5]}), ValueError,
     r"`options`.*'rk4' takes at most one of.*step_size"),
    (dict(method="rk4", options={"step_size": -0.1}), ValueError, r"`options`.*step_size.*-0.1"),
    (dict(method="rk4", options={"grid": [[0.0, 1.0]]}), ValueError, r"`options\['grid'\]`.*1-D"),
    (dict(adjoint=False, adjoint_options={"norm": "seminorm"}), ValueError,
     r"`adjoint_options`.*gradient='adjoint'.*gradient='backprop'"),
    (dict(adjoint_options={"norm": "l2"}), TypeError, r"`adjoint_options\['norm'\]`.*'l2'"),
    (dict(method="rk4", options={"step_size": 0.1}, adjoint_options={"norm": "seminorm"}),
     ValueError, r"`adjoint_options`.*seminorm needs an adaptive method.*'rk4'"),
    (dict(adjoint_options={"max_step": 0}), ValueError, r"`adjoint_options`.*max_step.*0"),
    (dict(unknown_argument=1), (TypeError, ValueError), r"unknown_argument"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_ARGUMENTS,
                         ids=[str(i) for i in range(len(BAD_ARGUMENTS))])
def test_bad_arguments_name_the_argument_and_the_value(kwargs, error, message):
    kwargs = {"odefunc": MLPField(), **kwargs}
    with pytest.raises(error, match=message):
        ODEBlock(**kwargs)
