"""`taskonomy world render` and `taskonomy world preview`: the built-in world from the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from taskonomy.cli.common import handle_errors
from taskonomy.errors import InvalidInputError, NotFoundError
from taskonomy.files import check_writable_dir

MAX_COUNT = 1_000_000


def _check_count(name: str, n: int, *, lo: int) -> None:
    if not lo <= n <= MAX_COUNT:
        raise InvalidInputError(f"{name} must be in {lo}..{MAX_COUNT}, got {n}")


def register(app: typer.Typer) -> None:
    world = typer.Typer(help="The built-in procedural world: render datasets, preview samples.",
                        no_args_is_help=True)
    app.add_typer(world, name="world")

    @world.command("render")
    @handle_errors
    def render(
        n: Annotated[int, typer.Option("--n", help="training samples to render")] = 256,
        size: Annotated[int, typer.Option("--size", help="image side in pixels (16..512)")] = 64,
        out: Annotated[Path, typer.Option("--out", help="artifact store folder")] = Path("runs/world"),
        transfer: Annotated[int, typer.Option("--transfer", help="samples in the transfer split")] = 0,
        test: Annotated[int, typer.Option("--test", help="samples in the test split")] = 0,
        seed: Annotated[int, typer.Option("--seed", help="world seed")] = 0,
        workers: Annotated[int, typer.Option("--workers", help="processes (0: all cores)")] = 0,
        quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    ) -> None:
        """Render N samples (and optional transfer/test splits) into shards under OUT/<world key>/."""
        # the world (scipy) loads when the command runs, not at `taskonomy --help`
        from taskonomy.data import SplitSizes, build_world_dataset
        from taskonomy.world import WorldSpec

        _check_count("--n", n, lo=1)
        _check_count("--transfer", transfer, lo=0)
        _check_count("--test", test, lo=0)
        if not 0 <= workers <= 512:
            raise InvalidInputError(f"--workers must be in 0..512 (0: all cores), got {workers}")
        spec = WorldSpec(seed=seed, size=size)  # validates size and seed before anything is created
        check_writable_dir(out, what="output folder")
        t0 = time.perf_counter()
        ds = build_world_dataset(spec, SplitSizes(n, transfer, test), out, workers=workers or None,
                                 progress=not quiet)
        seconds = time.perf_counter() - t0
        print(json.dumps({"world_key": spec.key(), "folder": str(ds.folder), "train": n, "transfer": transfer,
                          "test": test, "size": size, "shards": len(ds.jobs), "seconds": round(seconds, 3)}))

    @world.command("preview")
    @handle_errors
    def preview(
        index: Annotated[int, typer.Option("--index", help="sample index")] = 0,
        size: Annotated[int, typer.Option("--size", help="image side in pixels (16..512)")] = 128,
        out: Annotated[Path, typer.Option("--out", help="PNG file to write")] = Path("sheet.png"),
        seed: Annotated[int, typer.Option("--seed", help="world seed")] = 0,
        task: Annotated[list[str] | None, typer.Option("--task", help="only this task (repeatable)")] = None,
    ) -> None:
        """Write one picture with the inputs and every task's ground truth of sample INDEX."""
        # the world (scipy, matplotlib) loads when the command runs, not at `taskonomy --help`
        from taskonomy.tasks import BUILTIN_TASKS, get_task
        from taskonomy.world import WorldSpec, preview_sheet, render_sample

        names = None
        if task:
            names = [get_task(t).name for t in task]
            builtin = {t.name for t in BUILTIN_TASKS}
            outside = [n for n in names if n not in builtin]
            if outside:
                raise InvalidInputError(f"task(s) {', '.join(outside)} are not rendered by the built-in world")

        if index < 0:
            raise InvalidInputError(f"--index must be >= 0, got {index}")
        if out.suffix.lower() != ".png":
            raise InvalidInputError(f"--out must name a .png file, got {out}")
        if not out.parent.is_dir():
            raise InvalidInputError(f"folder {out.parent} of --out does not exist or is not a folder")
        if out.is_dir():
            raise InvalidInputError(f"--out {out} is a folder; name a .png file")
        spec = WorldSpec(seed=seed, size=size)
        sample = render_sample(spec, index)
        path = preview_sheet(sample, out, title=f"world seed {seed}, sample {index}, {size}x{size}", tasks=names)
        print(str(path))

    @world.command("inspect")
    @handle_errors
    def inspect(shard: Annotated[Path, typer.Argument(help="a .safetensors world shard")]) -> None:
        """Verify a shard's checksum and list its keys, shapes and dtypes (one JSON line)."""
        from taskonomy.data import read_shard  # the world (scipy): not at `taskonomy --help`

        if not shard.is_file():
            raise NotFoundError(f"shard {shard} does not exist")
        arrays = read_shard(shard)
        print(json.dumps({"shard": str(shard), "verified": True,
                          "keys": {k: [list(v.shape), v.dtype.name] for k, v in sorted(arrays.items())}}))
