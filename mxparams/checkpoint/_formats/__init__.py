"""The checkpoint file formats, one module each: ``mxnet`` (MXNet's
NDArray list), ``npz`` (NumPy, written by 2.x) and ``safetensors``.

They share ``.._common`` and never import the dispatcher (``.._file``).
"""
