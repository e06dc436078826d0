"""The package version (one place; ``minimal.__version__`` and run manifests read it)."""

__version__ = "0.2.0"
