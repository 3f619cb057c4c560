"""Keep the third-party notebook corpus out of the project's own test run.

The notebooks here are test *data* for ``mxparams notebooks check``: their
stored outputs were made on their authors' machines and many cells fail
strict nbval on purpose (see expected.json and LABELS.md).  The project's
pytest options (``--nbval``, ``--doctest-glob=*.md``) would otherwise
collect them; tests that need them copy them to a temporary directory and
run them there (d2l-zh_hybridize.ipynb writes my_mlp-* files next to itself).
"""
collect_ignore_glob = ["*.ipynb", "*.md"]
