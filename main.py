"""Synthesize one Terraform stack per environment config, all in one process.

    python main.py                          # every config/*.yaml
    python main.py --env dev --env prod     # some of them
    python main.py --config path/to/x.yaml  # any config file
    python main.py --check                  # validate configs only, no synthesis

Configs are loaded and validated before cdktf or the AWS provider is imported, so a bad config
fails in well under a second with every problem listed, and never with a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from config import ConfigError, EnvironmentConfig, Problem, config_path, load_config, shipped_environments

#: cdktf's CLI tells the app where to write through this variable.
OUTDIR_ENV = "CDKTF_OUTDIR"
#: Lets `cdktf deploy`/`diff` (which run `python main.py` without arguments) synthesize one environment.
ENV_SELECTOR = "BLUEGREEN_ENV"
#: Set (by `make bootstrap`) to synthesize the accounts' state-bucket stacks instead.
BOOTSTRAP_SELECTOR = "BLUEGREEN_BOOTSTRAP"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME", help="environment in config/ (repeatable)"
    )
    parser.add_argument(
        "--config", action="append", default=[], metavar="FILE", type=Path, help="config file (repeatable)"
    )
    parser.add_argument(
        "--outdir", default=os.environ.get(OUTDIR_ENV, "cdktf.out"), help="output folder (default: cdktf.out)"
    )
    parser.add_argument("--check", action="store_true", help="validate the configs and stop")
    parser.add_argument(
        "--bootstrap",
        action="store_true",
        default=bool(os.environ.get(BOOTSTRAP_SELECTOR)),
        help="synthesize the state-bucket stack of each selected environment's account instead",
    )
    parser.add_argument(
        "--list-stacks", action="store_true", help="print each selected environment's stack name and stop"
    )
    return parser.parse_args(argv)


def selected_paths(args: argparse.Namespace) -> list[Path]:
    envs = list(args.env)
    if not envs and not args.config and os.environ.get(ENV_SELECTOR):
        envs = [e.strip() for e in os.environ[ENV_SELECTOR].split(",") if e.strip()]
    if not envs and not args.config:
        envs = shipped_environments()
    return [config_path(env) for env in envs] + list(args.config)


def load_all(paths: Sequence[Path]) -> list[EnvironmentConfig]:
    """Load every config; report the problems of all files together."""
    configs: list[EnvironmentConfig] = []
    errors: list[ConfigError] = []
    for path in paths:
        try:
            config = load_config(path)
        except ConfigError as error:
            errors.append(error)
            continue
        except Exception as error:  # a bug in a rule must still end in a message, not a traceback
            errors.append(
                ConfigError(
                    str(path),
                    [
                        Problem(
                            (),
                            f"could not be validated: the generator failed ({type(error).__name__}: {error})",
                            "this is a bug in bluegreen's rules: report it with the file",
                        )
                    ],
                )
            )
            continue
        clash = next((c for c in configs if c.names.prefix == config.names.prefix), None)
        if clash is not None:
            errors.append(
                ConfigError(
                    str(path),
                    [
                        Problem(
                            ("environment",),
                            f"gives stack name {config.names.prefix!r} twice (two files, or one file named twice)",
                            "give each environment its own project/environment pair",
                            config.environment,
                        )
                    ],
                )
            )
            continue
        configs.append(config)
    if errors:
        raise ConfigError.merge(errors)
    return configs


def prepare_outdir(outdir: str) -> Path:
    """The output folder, created with its parents when missing; refused clearly when it cannot be one."""
    path = Path(outdir)
    problem = None
    if not outdir.strip():
        problem = ("is empty", "name a folder, e.g. --outdir cdktf.out")
    elif path.exists() and not path.is_dir():
        problem = ("is a file, not a folder", "name a folder, or move the file away")
    else:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            problem = (f"is inside {blocker}, which is a file", "choose a folder whose parents are folders")
    if problem is None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = (f"cannot be created ({error.strerror or error})", "choose a folder you can write to")
    if problem is not None:
        raise ConfigError("--outdir", [Problem((), problem[0], problem[1], outdir)])
    return path


def synthesize(configs: Sequence[EnvironmentConfig], outdir: str, *, bootstrap: bool = False) -> list[str]:
    """Synthesize the stacks into ``outdir``; return their names."""
    # Imported here, after validation: loading cdktf and the provider is the slow part.
    # (modules first: it silences jsii's Node banner before cdktf starts the jsii runtime.)
    from modules.bootstrap import StateBucketStack, bootstrap_stack_name  # isort: skip
    from modules.stack import BlueGreenStack  # isort: skip
    from cdktf import App  # isort: skip

    app = App(outdir=outdir)
    names = []
    for config in configs:
        if not bootstrap:
            names.append(BlueGreenStack(app, config).node.id)
        elif config.state is not None and bootstrap_stack_name(config) not in names:
            names.append(StateBucketStack(app, config).node.id)  # one per account
    app.synth()
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        configs = load_all(selected_paths(args))
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        print(f"{len(error.entries)} problem(s); nothing was synthesized.", file=sys.stderr)
        return 2
    if args.list_stacks:
        for config in configs:
            print(f"{config.project}-state-{config.account_id}" if args.bootstrap else config.names.prefix)
        return 0
    if args.check:
        for config in configs:
            print(f"ok: {config.names.prefix}")
        return 0
    try:
        outdir = prepare_outdir(args.outdir)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        print("nothing was synthesized.", file=sys.stderr)
        return 2
    for name in synthesize(configs, str(outdir), bootstrap=args.bootstrap):
        print(f"synthesized {name} -> {args.outdir}/stacks/{name}/cdk.tf.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
