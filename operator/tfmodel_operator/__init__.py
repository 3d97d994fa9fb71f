"""tfmodel-operator: TensorFlow Serving on Kubernetes from TFModel resources.

controller/ is the operator (it runs in the operator's pod); model/ holds the model tools (the
exporter in export Jobs, the predict client on a laptop); vocabulary.py names what they share.
"""

from importlib.metadata import version

__version__ = version("tfmodel-operator")  # one source: pyproject.toml
