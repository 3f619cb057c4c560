"""The ``mxparams`` command line (also ``python -m mxparams``)."""
from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  mxparams summary resnet18_v1 --depth 2
  mxparams tree vgg16 --depth 1
  mxparams summary alexnet --no-forward      # shapes before the first forward pass
  mxparams demo resnet18_v1
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line on bad input (argparse would print the usage first).
        self.exit(2, f"mxparams: error: {message} (see mxparams --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mxparams",
        description="Version-stable parameter tables for MXNet Gluon networks "
                    "(same output on MXNet 1.9.1 and 2.0).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)
    sub.required = True

    def model_command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("model", help="a model-zoo network, e.g. resnet18_v1 "
                                     "(built with pretrained=False)")
        p.add_argument("--no-forward", action="store_true",
                       help="do not initialize and run a forward pass "
                            "(unknown shapes then show as ?)")
        p.add_argument("--html", action="store_true",
                       help="print the HTML table instead of text")
        return p

    p = model_command("summary", "parameter table of a model-zoo network")
    p.add_argument("--depth", type=int, default=None,
                   help="merge rows below this many block levels")
    p.add_argument("--select", default=None,
                   help="regular expression matched at the start of paths")
    p = model_command("tree", "block hierarchy with parameter counts")
    p.add_argument("--depth", type=int, default=None,
                   help="show this many levels below the network")
    p.add_argument("--params", action="store_true",
                   help="also list each block's own parameters")
    model_command("demo", "tree (3 levels) and full summary of a network")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import _compat, _zoo
    from .summary import summary
    from .tree import tree

    _compat.quiet_storage_log()
    try:
        net, _mode = _zoo.build_any_mode(args.model,
                                         forward=not args.no_forward)
        if args.command == "summary":
            tables = [summary(net, depth=args.depth, select=args.select)]
        elif args.command == "tree":
            tables = [tree(net, depth=args.depth, params=args.params)]
        else:
            tables = [tree(net, depth=3), summary(net)]
    except (ValueError, TypeError) as err:
        print(f"mxparams: error: {err}", file=sys.stderr)
        return 2
    state = ("before the first forward pass" if args.no_forward else
             "after one forward pass on an input of shape "
             + "x".join(map(str, _zoo.input_shape(args.model))))
    print(f"{args.model} (model zoo, pretrained=False), {state}\n")
    print("\n\n".join(t.table().to_html() if args.html else str(t)
                      for t in tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
