"""The ``mxparams`` command line (also ``python -m mxparams``)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

from ._table import Tabular, printable

EPILOG = """\
examples:
  mxparams summary resnet18_v1 --depth 2
  mxparams tree vgg16 --depth 1
  mxparams summary alexnet --no-forward      # shapes before the first forward pass
  mxparams demo resnet18_v1
  mxparams summary mypackage.nets:build --kwargs '{"classes": 10}' --input-shape 1,3,32,32
  mxparams tree nets.py:build                # a factory in a file
  mxparams summary model-symbol.json         # an export with model-NNNN.params beside it
  mxparams summary model.params --depth 1    # a checkpoint alone: its arrays
  mxparams inspect model.params              # arrays of a checkpoint file
  mxparams diff old.params new.params        # exit 0 if equal, 1 if different
  mxparams convert exported-0000.params portable.params
  mxparams convert model.params model.safetensors   # for other frameworks
  mxparams convert model.safetensors model.params   # for MXNet's load_parameters
"""

MODEL_FORMS = """

MODEL is one of:
  resnet18_v1                 a model-zoo network (pretrained=False)
  package.module:function     a factory, called with --kwargs; the current
  path/to/file.py:function    folder (for a module) or the file's folder
                              comes first on the import path
  NAME-symbol.json            an exported network with NAME-NNNN.params
                              beside it (--epoch N, or --params-file
                              FILE); its inputs are the variables the
                              parameter file lacks (or --input-name)
  FILE.params, .npz, .safetensors
                              a checkpoint alone: its arrays as parameters
                              under the file's keys
"""

#: Files larger than this get a progress bar (on a terminal only).
PROGRESS_MIN_BYTES = 100 << 20


def _mxnet_logs_to_devnull() -> Callable[[], None]:
    """Point OS file descriptor 2 at /dev/null; keep sys.stderr on the real
    one.  Returns the function that puts both back.

    MXNet writes its C++ log lines to fd 2, not to ``sys.stderr``: 2.x's
    "Using Pooled (Naive) StorageManager for CPU", "Storage type fallback
    detected" for every operator when oneDNN is disabled, "MXNet
    start using engine: NaiveEngine" (COMPAT §1, §17), and no setting
    silences them all.  The command's output must not depend on them, so
    while it runs fd 2 goes to /dev/null, and ``sys.stderr`` writes to a
    duplicate of the original fd 2: the command's own error messages,
    progress bars, Python warnings and tracebacks still reach the real
    stderr.  This is the program's choice; the library never redirects
    the process's streams.
    """
    try:
        real_fd = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to keep apart
        return lambda: None
    old_stderr = sys.stderr
    real = None
    try:
        old_stderr.flush()
        if old_stderr.fileno() == 2:  # else it is not fd 2 (a capture): keep it
            real = os.fdopen(os.dup(real_fd), "w", buffering=1,
                             encoding=old_stderr.encoding or "utf-8",
                             errors="backslashreplace")
    except (AttributeError, OSError, ValueError):
        pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    if real is not None:
        sys.stderr = real

    def restore() -> None:
        if real is not None:
            real.flush()
            sys.stderr = old_stderr
            real.close()
        os.dup2(real_fd, 2)
        os.close(real_fd)
    return restore


def _error(message: str) -> str:
    """The one-line error of the command, its text made safe to print."""
    return f"mxparams: error: {printable(' '.join(message.split()))}"


def _shape(text: str) -> tuple[int, ...]:
    """--input-shape: '1,3,224,224' (or 1x3x224x224) as a tuple of ints."""
    parts = text.replace("x", ",").split(",")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shape; write positive sizes separated by "
            "commas, e.g. 1,3,224,224")
    return tuple(int(p) for p in parts)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line on bad input (argparse would print the usage first).
        self.exit(2, f"{_error(message)} (see mxparams --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mxparams",
        description="Version-stable parameter tables and checkpoints for MXNet "
                    "Gluon networks "
                    "(same output on MXNet 1.6 to 2.0).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)
    sub.required = True

    def model_command(name: str, help: str,
                      params_options: tuple[str, ...] = ("--params", "--params-file")
                      ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help + MODEL_FORMS,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("model", help="a model-zoo name, package.module:function, "
                                     "file.py:function, NAME-symbol.json or a "
                                     "checkpoint file (see above)")
        p.add_argument("--input-shape", action="append", type=_shape,
                       metavar="N,N,...",
                       help="run one forward pass on ones of this shape (once "
                            "per input, in order); a zoo network's default is "
                            "the input it was designed for")
        p.add_argument("--dtype", action="append", metavar="DTYPE",
                       help="the inputs' dtype (once, or once per input; "
                            "default float32)")
        p.add_argument("--no-forward", action="store_true",
                       help="no forward pass, even for a zoo network "
                            "(unknown shapes then show as ?)")
        p.add_argument("--kwargs", metavar="JSON",
                       help="a factory's keyword arguments, a JSON object")
        p.add_argument(*params_options, dest="params_file", metavar="FILE",
                       help="an export's parameter file (default: the "
                            "NAME-NNNN.params beside NAME-symbol.json)")
        p.add_argument("--epoch", type=int, metavar="N",
                       help="which NAME-NNNN.params beside the symbol file")
        p.add_argument("--input-name", action="append", metavar="NAME",
                       help="an export's data input (repeatable; default: the "
                            "symbol's variables the parameter file lacks)")
        p.add_argument("--html", action="store_true",
                       help="print the HTML table instead of text")
        return p

    p = model_command("summary", "parameter table of a network")
    p.add_argument("--depth", type=int, default=None,
                   help="merge rows below this many block levels")
    p.add_argument("--select", default=None,
                   help="regular expression matched at the start of paths")
    # tree's --params lists each block's parameters (since 0.1), so an
    # export's parameter file is --params-file there.
    p = model_command("tree", "block hierarchy with parameter counts",
                      ("--params-file",))
    p.add_argument("--depth", type=int, default=None,
                   help="show this many levels below the network")
    p.add_argument("--params", action="store_true",
                   help="also list each block's own parameters")
    model_command("demo", "tree (3 levels) and full summary of a network")

    def file_command(name: str, help: str, *files: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        for file in files:
            p.add_argument(file, help="a parameter file (mp.save, "
                                      "save_parameters or export of any "
                                      "MXNet, or safetensors)")
        p.add_argument("--json", action="store_true",
                       help="print JSON instead of text")
        return p

    p = file_command("inspect", "arrays of a checkpoint file with statistics",
                     "file")
    p.add_argument("--html", action="store_true",
                   help="print the HTML table instead of text")
    file_command("diff", "differences between two checkpoint files (exit 0 "
                         "when equal, 1 when different)", "a", "b")
    p = file_command("convert", "re-write a checkpoint in the portable format "
                                "that MXNet 1.x and 2.x both load, or as "
                                "safetensors", "input")
    p.add_argument("output", help="the file to write (replaced atomically); "
                                  "a name ending in .safetensors gets "
                                  "safetensors")
    p.add_argument("--format", choices=["mxnet", "safetensors"], default=None,
                   help="the output format, whatever the output's name "
                        "(default: safetensors for *.safetensors, else mxnet)")
    nb = sub.add_parser("notebooks", help="check that notebooks' stored "
                                          "outputs hold across MXNet versions "
                                          "and CPUs",
                        description="Notebook validation for CI (docs/notebooks.md).")
    actions = nb.add_subparsers(dest="action", metavar="ACTION",
                                parser_class=_Parser)
    actions.required = True
    check_p = actions.add_parser(
        "check", help="run notebooks under every configuration and say, cell "
                      "by cell, what drifts and why (exit 0: every stored output "
                      "holds; 1: something drifts; 2: bad input)",
        description="Each notebook runs in a fresh kernel on each interpreter, "
                    "under each simulated CPU (the default one twice), compared "
                    "with nbval's strict comparison.")
    store_p = actions.add_parser(
        "store", help="run notebooks under every configuration and write the "
                      "outputs back only if they agree in all (exit 0: stored; "
                      "1: some cells disagree, nothing written for them; 2: bad "
                      "input)",
        description="The outputs that hold on readers' machines: a notebook is "
                    "rewritten (atomically, metadata and cell ids kept) only "
                    "when every cell agrees in every configuration.")
    for p in (check_p, store_p):
        p.add_argument("paths", nargs="+", metavar="PATH",
                       help="a notebook (.ipynb) or a folder of them")
        p.add_argument("--python", action="append", default=[], metavar="PY",
                       help="an interpreter with MXNet and ipykernel (repeatable; "
                            "default: this one)")
        p.add_argument("--mxnet", action="append", default=[], metavar="VERSION",
                       help="an MXNet version (1.6.0, 1.7.0.post2, 1.8.0.post0, "
                            "1.9.1, 2.0.0b1) in an environment made on first use "
                            "and cached (repeatable)")
        p.add_argument("--cpu", action="append", default=[], metavar="NAME",
                       help="a simulated CPU: default, sse41, avx2, no-onednn, "
                            "1-thread, all, or NAME=VAR=VALUE,... (repeatable)")
        p.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                       help="per cell (default 600); a cell that takes longer is "
                            "reported and the run goes on")
        p.add_argument("--jobs", type=int, default=None, metavar="N",
                       help="configurations run at once (default: the cores)")
        p.add_argument("--nbval-sanitize-with", default=None, metavar="FILE",
                       help="nbval's sanitize file (regex:/replace: pairs)")
        p.add_argument("--json", action="store_true",
                       help="print JSON (schema in docs/notebooks.md)")
    check_p.add_argument("--html", default=None, metavar="FILE",
                         help="also write a self-contained HTML report: each "
                              "drifting cell's stored and new outputs side by "
                              "side, the differences marked")
    return parser


def _notebooks_command(args) -> int:
    from .notebooks import NotebookCheck, check, store
    from .notebooks._envs import EnvironmentNotMade
    from .notebooks._run import ProbeError

    html = getattr(args, "html", None)
    if html and not os.path.isdir(os.path.dirname(os.path.abspath(html))):
        print(_error(f"--html {html!r}: no such folder to write it in"),
              file=sys.stderr)
        return 2
    terminal = sys.stderr.isatty()
    bar = _CellsBar(sys.stderr) if terminal else None
    options = dict(pythons=args.python, mxnet=args.mxnet, cpus=args.cpu,
                   timeout=args.timeout, jobs=args.jobs,
                   sanitize=args.nbval_sanitize_with,
                   progress=bar.say if bar else None,
                   cells_done=bar.update if bar else None)
    try:
        report = (store(args.paths, **options) if args.action == "store"
                  else check(args.paths, **options))
    except (ValueError, OSError, ProbeError, EnvironmentNotMade) as err:
        if bar:
            bar.close()
        print(_error(str(err)), file=sys.stderr)
        return 2
    if bar:
        bar.close()
    if html and isinstance(report, NotebookCheck):
        from .notebooks._html import write
        write(report, html)
    print(_json(report.to_dict()) if args.json else report)
    return 1 if report else 0


class _CellsBar:
    """The terminal's progress display of ``notebooks check``: messages as
    lines, and a bar of the cells run over every configuration."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.bar: Any = None

    def say(self, text: str) -> None:
        line = f"mxparams: {printable(text)}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = _bar(total=total, unit="cell", desc="cells run",
                            file=self.stream, mininterval=0.2)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _progress(*paths: str, stream=None):
    """A tqdm bar over the data of big files when stderr is a terminal."""
    stream = sys.stderr if stream is None else stream
    size = 0
    for path in paths:
        try:
            size += os.stat(path).st_size
        except OSError:
            pass
    if size <= PROGRESS_MIN_BYTES or not stream.isatty():
        yield None
        return
    with _bar(total=size, unit="B", unit_scale=True, unit_divisor=1024,
              desc=printable(" ".join(os.path.basename(p) for p in paths)),
              file=stream) as bar:
        yield bar.update


def _bar(**options):
    """A tqdm bar that goes away when done, sized for any terminal."""
    from tqdm import tqdm

    # A terminal that reports no size (a pty nobody sized, as CI runners
    # give) makes tqdm draw nothing at all: 80 x 24 then.
    size = shutil.get_terminal_size((80, 24))
    return tqdm(leave=False, ncols=size.columns or 80, nrows=size.lines or 24,
                **options)


def _json(data) -> str:
    # RFC 8259 has no NaN or Infinity: the data carry them as strings, and
    # allow_nan=False makes sure no bare NaN slips through.
    return json.dumps(data, indent=2, allow_nan=False)


def _checkpoint_command(args) -> int:
    from . import checkpoint

    if args.command == "inspect":
        with _progress(args.file) as progress:
            found = checkpoint.inspect_checkpoint(args.file, progress=progress)
        print(_json(found.to_dict()) if args.json else
              found.table().to_html() if args.html else found)
        return 0
    if args.command == "diff":
        with _progress(args.a, args.b) as progress:
            result = checkpoint.diff(args.a, args.b, progress=progress)
        print(_json(result.to_dict()) if args.json else result)
        return 0 if result.equal else 1
    with _progress(args.input) as progress:
        done = checkpoint.convert(args.input, args.output, format=args.format,
                                  progress=progress)
    raw, n = done.source, done.arrays
    if args.json:
        print(_json({"input": raw.path, "input_format": raw.format,
                     "output": args.output, "output_format": done.format,
                     "arrays": n}))
    else:
        # File names are any bytes, and formats name what a file claims.
        print(f"wrote {printable(args.output)}: {n} "
              f"array{'s' if n != 1 else ''}, {printable(done.format)}\n"
              f"read {printable(raw.path)}: {printable(raw.format)}")
    return 0


def main(argv: list[str] | None = None, *, until_exit: bool = False) -> int:
    """Run one command (``argv``, else ``sys.argv[1:]``); returns its exit
    code.  MXNet's log lines are kept out of stderr while it runs, and
    ``until_exit=True`` keeps them out until the process ends (run())."""
    args = _parser().parse_args(argv)
    restore = _mxnet_logs_to_devnull()
    try:
        return _run(args)
    finally:
        if not until_exit:
            restore()


def run() -> None:
    """The ``mxparams`` script and ``python -m mxparams``.

    fd 2 stays on /dev/null until the process exits: MXNet 1.x starts its
    engine, and with MXNET_ENGINE_TYPE set logs "MXNet start using engine",
    as late as its exit handler (``mxnet.base._notify_shutdown``) when the
    command did no array operation (``inspect`` of a damaged file, ``diff``).
    """
    sys.exit(main(until_exit=True))


def _run(args) -> int:
    from .errors import CheckpointError

    if args.command == "notebooks":
        return _notebooks_command(args)
    if args.command in ("inspect", "diff", "convert"):
        try:
            return _checkpoint_command(args)
        except CheckpointError as err:
            print(_error(str(err)), file=sys.stderr)
            return 2
    try:
        return _model_command(args)
    except (ValueError, TypeError, CheckpointError) as err:
        print(_error(str(err)), file=sys.stderr)
        return 2


#: The options of one kind of MODEL only (models.KINDS).
_OPTION_KINDS = {"--kwargs": ("factory",), "--params": ("export",),
                 "--params-file": ("export",),
                 "--epoch": ("export",), "--input-name": ("export",),
                 "--input-shape": ("zoo", "factory", "export"),
                 "--dtype": ("zoo", "factory", "export"),
                 "--no-forward": ("zoo", "factory", "export")}


def _model_command(args) -> int:
    import mxnet as mx

    from . import _zoo, models
    from .summaries import summary
    from .trees import tree

    kind = models.kind_of(args.model)
    params_option = "--params-file" if args.command == "tree" else "--params"
    given = {"--kwargs": args.kwargs, params_option: args.params_file,
             "--epoch": args.epoch, "--input-name": args.input_name,
             "--input-shape": args.input_shape, "--dtype": args.dtype,
             "--no-forward": args.no_forward or None}
    for option, value in given.items():
        if value is not None and kind not in _OPTION_KINDS[option]:
            raise ValueError(f"{option} does not apply to {args.model!r}, "
                             f"{models.KINDS[kind]}")
    if args.no_forward and args.input_shape:
        raise ValueError("--no-forward and --input-shape contradict each other")
    kwargs = None
    if args.kwargs is not None:
        try:
            kwargs = json.loads(args.kwargs)
        except ValueError as err:
            raise ValueError(f"--kwargs is not JSON: {err}") from None
        if not isinstance(kwargs, dict):
            raise ValueError("--kwargs must be a JSON object, e.g. "
                             "'{\"classes\": 10}'")
    shapes = args.input_shape
    if kind == "zoo" and not shapes and not args.no_forward:
        shapes = [_zoo.input_shape(args.model)]
    if args.dtype and not shapes:
        raise ValueError("--dtype is the dtype of the forward pass's inputs; "
                         "give --input-shape too")
    if kind == "factory" and not args.model.rpartition(":")[0].endswith(".py"):
        # As `python -m` does: the modules of the current folder import.
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
    loaded = models.load_any_mode(
        args.model, params=args.params_file, epoch=args.epoch,
        input_names=args.input_name, input_shapes=shapes,
        dtype=args.dtype and (args.dtype[0] if len(args.dtype) == 1 else args.dtype),
        kwargs=kwargs,
        # Zeros: the tables need shapes, not values, and drawing random
        # numbers for VGG's 138M parameters takes seconds.
        init=mx.init.Zero())
    net = loaded.block
    tables: list[Tabular]
    if args.command == "summary":
        tables = [summary(net, depth=args.depth, select=args.select)]
    elif args.command == "tree":
        tables = [tree(net, depth=args.depth, params=args.params)]
    else:
        tables = [tree(net, depth=3), summary(net)]
    header = loaded.title
    if kind != "checkpoint":
        header += (", after one forward pass on "
                   + models.inputs_text(loaded.shapes, loaded.dtypes)
                   if loaded.shapes else ", before the first forward pass")
    print(printable(header) + "\n")
    print("\n\n".join(t.table().to_html() if args.html else str(t)
                      for t in tables))
    return 0


if __name__ == "__main__":
    run()
