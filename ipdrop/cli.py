"""Command line: ``ipdrop train``, ``ipdrop plot`` and ``ipdrop sweep``.

Examples
--------
::

    ipdrop train --model fc --dataset mnist --dropout gaussian --variance 0.2 --epochs 20 --out runs/fc-0.2
    ipdrop plot runs/fc-0.2 --out fc-0.2.png
    ipdrop sweep train --grid seed=0..2 variance=0.2,0.4 --set epochs=5 --out sweeps/variance

Bad input (unknown model or dataset, a variance <= 0, beta < 0, missing data, an out folder holding
another run) prints one ``ipdrop <command>: error: ...`` line on stderr and returns exit status 2;
nothing is written in that case.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from . import _io

__all__ = ["main", "build_parser"]

# TrainConfig fields -> (argparse type, nargs, help)
_FLOAT = ("variance", "drop_rate", "max_alpha", "beta", "width", "lr", "momentum", "weight_decay", "gamma")
_INT = (
    "kl_dataset_size",
    "epochs",
    "batch_size",
    "n_train",
    "ip_n_train",
    "ip_n_test",
    "n_noise",
    "mc_samples",
    "eval_batch_size",
    "seed",
    "num_threads",
)
_INT_LIST = ("milestones", "n_bins")
_STR_LIST = ("estimators",)
_HELP = {
    "model": "network",
    "dataset": "data set",
    "dropout": "kind of the tracked dropout layer ('none': no dropout)",
    "variance": "Var(D) of Gaussian dropout D ~ N(1, variance) (> 0)",
    "drop_rate": "Bernoulli dropout: probability of dropping a unit, 0 <= p < 1 (required for --dropout bernoulli)",
    "max_alpha": "information dropout: largest noise scale alpha",
    "beta": "information dropout: KL weight in the paper's convention, loss = CE + beta * KL / kl_dataset_size (>= 0)",
    "kl_dataset_size": "information dropout: the N_train dividing the KL term (default: the training images used)",
    "save_representations": "keep the IP subsets' representations in RUN/reps/ for 'ipdrop estimate'",
    "width": "width multiplier of the network (default: 1, the paper's width)",
    "epochs": "training epochs",
    "batch_size": "mini-batch size of SGD",
    "lr": "initial learning rate of SGD",
    "momentum": "SGD momentum, in [0, 1)",
    "weight_decay": "SGD weight decay (L2)",
    "schedule": "learning-rate schedule: cosine to 0, step (x gamma at milestones) or constant",
    "milestones": "epochs at which the step schedule multiplies the learning rate by gamma",
    "gamma": "factor of the step schedule",
    "subset": "embedded (small subset shipped with ipdrop) or full ($IPDROP_DATA)",
    "n_train": "train on a seeded random subset of this many images (default: all)",
    "augment": "random crop + flip",
    "ip_epochs": "epochs with IP estimation: all, none, last, every:K or a comma list such as 0,1,5",
    "ip_n_train": "size of the fixed training subset used for the IP",
    "ip_n_test": "size of the fixed test subset used for the IP",
    "estimators": "IP estimators: mixture[-<view>], binning[-<n>], binning-ref[-<n>], edge, knn, variational, kl "
    "(default: those that apply to the dropout)",
    "n_noise": "noise draws per input of the mixture estimator",
    "n_bins": "bin counts of the binning estimators",
    "mc_samples": "Monte-Carlo dropout passes at evaluation",
    "eval_batch_size": "batch size of evaluation passes",
    "seed": "seeds weights, data order, dropout noise and estimators",
    "device": "auto (CUDA when available), cpu, cuda, cuda:N",
    "num_threads": "torch CPU threads (default: the sweep's share inside a sweep, else min(cores, torch's default))",
}
_CHOICES = {
    "model": ("lenet", "fc", "resnet18", "fullcnn"),
    "dataset": ("mnist", "cifar10"),
    "dropout": ("gaussian", "information", "bernoulli", "none"),
    "schedule": ("cosine", "step", "constant"),
    "subset": ("embedded", "full"),
}


def _train_parser(subparsers) -> argparse.ArgumentParser:
    from .training import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train one network and track its information plane",
        description="Train one configuration and write config.json, results.csv (tidy), checkpoint.pt and "
        "run.json into --out. A killed run resumes from its checkpoint when started again.",
        epilog="examples:\n  ipdrop train --model fc --dataset mnist --dropout gaussian --variance 0.2 --epochs 20 "
        "--out runs/fc-0.2\n  ipdrop train --model lenet --dropout information --beta 3 --subset full "
        "--save-representations --out runs/lenet-info",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="run folder (new, empty, or this run's)")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON file of parameters; options given here override it")
    for f in dataclasses.fields(TrainConfig):
        opt = "--" + f.name.replace("_", "-")
        default = f.default
        h = _HELP[f.name]
        if default is not None and "(default:" not in h:  # a None default is explained in the text itself
            h = f"{h} (default: {default if not isinstance(default, tuple) else ' '.join(map(str, default))})"
        if f.name == "augment":
            p.add_argument(opt, action=argparse.BooleanOptionalAction, help="random crop + flip (default: CIFAR only)")
        elif f.name == "save_representations":
            p.add_argument(opt, action=argparse.BooleanOptionalAction, help=h)
        elif f.name in _FLOAT:
            p.add_argument(opt, type=float, metavar="X", help=h)
        elif f.name in _INT:
            p.add_argument(opt, type=int, metavar="N", help=h)
        elif f.name in _INT_LIST:
            p.add_argument(opt, type=int, nargs="+", metavar="N", help=h)
        elif f.name in _STR_LIST:
            p.add_argument(opt, nargs="+", metavar="NAME", help=h)
        elif f.name in _CHOICES:  # checked by TrainConfig, so that a bad value is one clear error line
            p.add_argument(opt, metavar="{" + ",".join(_CHOICES[f.name]) + "}", help=h)
        else:
            p.add_argument(opt, metavar="VALUE", help=h)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-resume", action="store_true", help="restart this run from scratch instead of resuming")
    p.set_defaults(func=_cmd_train)
    return p


def _plot_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plot",
        help="draw the information planes of a run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Draw the information planes of a run folder (or of a results.csv): one panel per (I(X;Z) estimator, "
            "I(Y;Z) estimator) pair and split, one point per tracked epoch, coloured by epoch (MI in nats). The "
            "title names the run's network, dropout (Var(D), beta or drop rate) and the N of the IP subsets, read "
            "from the run's config.json.",
            88,
        ),
        epilog="examples:\n"
        "  ipdrop plot runs/fc-0.2                         # writes runs/fc-0.2/information_planes.png\n"
        "  ipdrop plot runs/fc-0.2 --out fc.pdf --splits train\n"
        "  ipdrop plot runs/fc-0.2 --pairs mixture-dataset:edge binning-30:binning-30 --dpi 200",
    )
    p.add_argument("run", metavar="RUN", help="a run folder (written by 'ipdrop train') or its results.csv")
    p.add_argument(
        "--out",
        "-o",
        metavar="FILE",
        default=None,
        help="image file; the format follows the suffix (.png, .pdf, .svg) "
        "(default: information_planes.png next to the results)",
    )
    p.add_argument(
        "--pairs",
        nargs="+",
        metavar="X:Y",
        default=None,
        help="estimator pairs X:Y, X giving I(X;Z) and Y giving I(Y;Z), e.g. mixture-dataset:edge "
        "binning-30:binning-30 (default: every pair the table supports)",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        default=["train", "test"],
        choices=["train", "test"],
        help="rows of the figure: the IP subsets of the training and/or test set (default: train test)",
    )
    p.add_argument("--dpi", type=int, default=120, help="resolution of raster images in dots per inch (default: 120)")
    p.set_defaults(func=_cmd_plot)
    return p


def _estimate_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "estimate",
        help="estimate (or re-estimate) a run's information plane from its stored representations",
        description="Recompute or add estimator rows of a run trained with --save-representations, without "
        "retraining. Writes RUN/estimates.csv and RUN/estimates.json; epochs already estimated with the "
        "same settings are skipped.",
        epilog="example: ipdrop estimate runs/fc-0.2 --estimators mixture binning edge knn --n-bins 3 10 30 100",
    )
    p.add_argument("run", metavar="RUN", help="run folder holding reps/epoch-XXXX.npz")
    p.add_argument(
        "--estimators",
        nargs="+",
        metavar="NAME",
        default=None,
        help="tracker estimator names (default: every estimator that applies to the run's dropout)",
    )
    p.add_argument(
        "--n-noise",
        type=int,
        default=10,
        metavar="N",
        help="noise draws per input of the mixture estimator (default: 10)",
    )
    p.add_argument(
        "--n-bins",
        type=int,
        nargs="+",
        default=[3, 10, 30, 100],
        metavar="N",
        help="bin counts of the binning estimators (default: 3 10 30 100)",
    )
    p.add_argument(
        "--epochs", type=int, nargs="+", default=None, metavar="E", help="only these stored epochs (default: all)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_estimate)
    return p


def _reproduce_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "reproduce",
        help="train, estimate and store the runs of a paper experiment (params/paper_runs/*.yaml)",
        description="For every run of PARAMS_FILE: train (resuming from checkpoints), estimate from the stored "
        "representations, and copy the small result files with their provenance into --out. "
        "Finished steps are skipped, so the same command resumes an interrupted experiment.",
        epilog="example: ipdrop reproduce params/paper_runs/fc_mnist.yaml --out results/fc_mnist "
        "--work /var/tmp/ipdrop-runs/fc_mnist",
    )
    p.add_argument("params_file", metavar="PARAMS_FILE", help="experiment params file (base, runs, estimate)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="results store folder of the experiment")
    p.add_argument(
        "--work",
        metavar="DIR",
        default=None,
        help="run folders with checkpoints and representations (default: runs/paper/<experiment>)",
    )
    p.add_argument("--runs", nargs="+", metavar="NAME", default=None, help="only these runs (default: all)")
    p.add_argument(
        "--stages",
        nargs="+",
        choices=["train", "estimate", "export"],
        default=["train", "estimate", "export"],
        help="steps to run (default: all three)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_reproduce)
    return p


def _cmd_estimate(args) -> int:
    from .runstore import estimate_run

    try:
        df = estimate_run(
            args.run,
            args.estimators,
            n_noise=args.n_noise,
            n_bins=args.n_bins,
            epochs=args.epochs,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as exc:
        return _fail("estimate", exc)
    except KeyboardInterrupt:
        print("ipdrop estimate: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    print(f"ipdrop estimate: done, {len(df)} rows in {Path(args.run) / 'estimates.csv'}")
    return 0


def _cmd_reproduce(args) -> int:
    from .runstore import reproduce
    from .training import RunConflictError

    try:
        status = reproduce(
            args.params_file,
            args.out,
            work=args.work,
            runs=args.runs,
            stages=args.stages,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError, RunConflictError) as exc:
        return _fail("reproduce", exc)
    except KeyboardInterrupt:
        print("ipdrop reproduce: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    print(f"ipdrop reproduce: {len(status)} runs done, stored in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``ipdrop`` argument parser (subcommands train, plot and, when available, sweep)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ipdrop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill(
            "Information-plane analysis for dropout neural networks (Adilova, Geiger & Fischer, ICLR 2023): train a "
            "network while estimating I(X;Z) and I(Y;Z) (nats) every epoch, draw its information planes, "
            "re-estimate stored runs, reproduce the paper's runs and run sweeps. 'ipdrop COMMAND --help' describes "
            "each command.",
            88,
        ),
        epilog="examples:\n"
        "  ipdrop train --model fc --dataset mnist --dropout gaussian --variance 0.2 --epochs 20 --out runs/fc\n"
        "  ipdrop train --model lenet --dropout information --beta 3 --kl-dataset-size 60000 --out runs/info\n"
        "  ipdrop plot runs/fc --out fc.png\n"
        "  ipdrop sweep train --grid seed=0..2 variance=0.2,0.4 --set epochs=5 --out sweeps/variance\n"
        "\n"
        "Bad input prints one 'ipdrop COMMAND: error: ...' line and exits with status 2.",
    )
    parser.add_argument("--version", action="version", version=f"ipdrop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(sub)
    _plot_parser(sub)
    _estimate_parser(sub)
    _reproduce_parser(sub)
    from . import sweep

    sweep.add_cli(sub)
    return parser


def _load_param_file(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"config file {path} not found")
    text = p.read_text()
    if p.suffix.lower() == ".json":
        params = json.loads(text)
    else:
        import yaml

        params = yaml.safe_load(text)
    if isinstance(params, dict) and "config" in params and isinstance(params["config"], dict):
        params = params["config"]  # a run's config.json
    if not isinstance(params, dict):
        raise ValueError(f"config file {path} must hold a mapping of parameters")
    return params


def _cmd_train(args) -> int:
    from .training import RunConflictError, TrainConfig, train

    opts = vars(args).copy()
    out = opts.pop("out")
    config_file = opts.pop("config", None)
    progress = not opts.pop("no_progress", False)
    resume = not opts.pop("no_resume", False)
    for k in ("func", "command"):
        opts.pop(k, None)
    try:
        params = _load_param_file(config_file) if config_file else {}
        params.update(opts)
        config = TrainConfig.from_dict(params)
    except Exception as exc:  # bad file (missing, YAML/JSON syntax) or bad values
        return _fail("train", exc)
    try:
        df = train(config, out, progress=progress, resume=resume)
    except (RunConflictError, OSError, ValueError) as exc:  # OSError: FileNotFoundError, NotADirectoryError, ...
        return _fail("train", exc)
    except KeyboardInterrupt:
        print(
            f"ipdrop train: interrupted; run the same command again to resume from {out}/checkpoint.pt", file=sys.stderr
        )
        return 130
    acc = df[(df["estimator"] == "eval") & (df["quantity"] == "accuracy") & (df["split"] == "test")]
    last = f"; test accuracy {acc['value'].iloc[-1]:.4f}" if len(acc) else ""
    print(f"ipdrop train: done, results in {out}{last}")
    return 0


def _cmd_plot(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from . import _rundir
    from .plotting import plot_planes_grid, run_title

    src = Path(args.run)
    try:
        if src.is_dir():
            if not (src / _rundir.RESULTS_FILE).exists():
                raise ValueError(
                    f"{src} holds no {_rundir.RESULTS_FILE} (not a run folder, or the run has not finished an epoch)"
                )
            run_dir = src
            out = Path(args.out) if args.out else src / "information_planes.png"
        elif src.is_file():
            run_dir = src.parent
            out = Path(args.out) if args.out else src.with_name("information_planes.png")
        else:
            raise ValueError(f"{src} does not exist")
        df = _rundir.read_results(src)
        pairs = None
        if args.pairs:
            pairs = []
            for item in args.pairs:
                if item.count(":") != 1:
                    raise ValueError(f"--pairs entries look like X_ESTIMATOR:Y_ESTIMATOR; got {item!r}")
                pairs.append(tuple(item.split(":")))
        config = _rundir.read_config(run_dir)
        title = run_title(config) if config else str(src)
        fig = plot_planes_grid(df, pairs=pairs, splits=args.splits, suptitle=title)
        from ._io import atomic_path

        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=args.dpi, format=out.suffix.lstrip(".") or "png")
    except (ValueError, OSError) as exc:
        return _fail("plot", exc)
    print(f"ipdrop plot: wrote {out}")
    return 0


def _fail(command: str, exc: BaseException) -> int:
    print(f"ipdrop {command}: error: {exc}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ipdrop`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse errors (status 2) and --help/--version (0)
        return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    status = int(args.func(args) or 0)
    if status == 130 and argv is None:
        _io.exit_now(status)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
