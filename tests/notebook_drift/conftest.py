"""Keep the drift notebook out of the project's own ``--nbval`` run.

``float-digits.ipynb`` stores a float32 sum "from another CPU": it fails
strict nbval on purpose.  tests/test_notebooks_plugin.py runs it through
``pytest --nbval --mx-cpu``, and the CI browser check renders the HTML
report of ``mxparams notebooks check`` on it.
"""
collect_ignore_glob = ["*.ipynb"]
