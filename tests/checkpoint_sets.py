"""One checkpoint file set per MXNet version, written once per test run.

``python3 tasks.py test`` (noxfile.py, session ``checkpoint-sets``) runs

    <version's python> tests/checkpoint_sets.py FOLDER

in every version's environment before the first test: each writes
FOLDER/<version>/ with MXNet's own writers and mxparams', in every array
mode it has, the values of ``ckpt_common.expected()``.  Each version's
pytest process then loads every version's set
(tests/test_checkpoint_versions.py, test_cli_models.py, test_training.py;
MXPARAMS_CHECKPOINT_SETS): 5 writers x
5 loaders without a process per pair.

A set, per mode ``m`` of the writer (np; nd too on 1.x):

    mp_save-m.params, mp_save-m.safetensors   mp.save
    save_parameters-m.params                  Gluon's save_parameters
    export-m-0000.params                      HybridBlock.export
    (and export-m-symbol.json, its graph)

and, in numpy mode, two exports for ``mxparams summary|demo`` (the tiny
network of ckpt_common, named after its version as in
tests/fixtures/exports/, and mobilenet0.25 of the model zoo), the network
of docs/training.md's fine-tuning recipe (``finetuned.params``, and its
values before and after in ``finetuned.npz``), then ``written.txt``, the
names, written last: a set without it is a writer that failed half-way.
"""
import os
import sys
from importlib.metadata import version
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
KINDS = ("mp_save-{m}.params", "mp_save-{m}.safetensors",
         "save_parameters-{m}.params", "export-{m}-0000.params")
DONE = "written.txt"


def names(modes):
    """The parameter files of a set written in ``modes``."""
    return [kind.format(m=m) for m in modes for kind in KINDS]


def networks(writer):
    """The files of ``writer``'s set that are not ``names``: two exported
    networks and a fine-tuned one."""
    return [f"{writer}-tiny-symbol.json", f"{writer}-tiny-0000.params",
            "mobilenet0.25-symbol.json", "mobilenet0.25-0000.params",
            "finetuned.params", "finetuned.npz"]


def write(folder):
    sys.path.insert(0, HERE)
    import mxnet as mx

    import mxparams as mp
    from mxparams import _compat

    from ckpt_common import compat_net, export_tiny, fill, zoo_export

    out = os.path.join(folder, version("mxnet"))
    os.makedirs(out)  # a set is written once: an old one is an error
    # The exports first: 1.x's global names then start at 0, as in the
    # fixtures (tests/fixtures/make_exports.py).
    _compat.set_mode("np")
    export_tiny(os.path.join(out, f"{version('mxnet')}-tiny"))
    zoo_export(os.path.join(out, "mobilenet0.25"))
    for mode in _compat.MODES:
        _compat.set_mode(mode)
        net = fill(compat_net())
        mp.save(net, os.path.join(out, f"mp_save-{mode}.params"))
        mp.save(net, os.path.join(out, f"mp_save-{mode}.safetensors"))
        net.save_parameters(os.path.join(out, f"save_parameters-{mode}.params"))
        net.hybridize()
        net((mx.np if mode == "np" else mx.nd).ones((1, 3)))
        net.export(os.path.join(out, f"export-{mode}"))
    _compat.set_mode("np")
    import test_training
    test_training.save_finetuned(Path(out), seed=6)
    written = names(_compat.MODES) + networks(version("mxnet"))
    with open(os.path.join(out, DONE), "w") as f:
        f.write("\n".join(written) + "\n")
    print(f"MXNet {version('mxnet')}: {len(written)} files in {out}")


if __name__ == "__main__":
    write(sys.argv[1])
