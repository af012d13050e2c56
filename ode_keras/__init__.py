"""Neural ordinary differential equations for Keras 3 on TensorFlow 2.

Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018.
"""

from ode_keras._version import __version__

__all__ = ["__version__"]
