"""``kiosk models``: what is installed, and installing it (download, or an archive carried in)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Column, Table

from appliance.cli.common import fail, out, settings, user_errors

app = typer.Typer(help="List, download, import, export and verify models.", no_args_is_help=True)


def _store(ctx: typer.Context):
    from models.store import ModelStore

    with user_errors():
        return ModelStore(settings(ctx).models_path)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Show every catalogue model (and models imported from archives): installed or missing."""
    store = _store(ctx)
    s = settings(ctx)
    default = set(store.catalog.defaults.get(s.language, []))
    configured = {s.llm.model: "llm", s.embedding.model: "embedding", s.asr.model: "asr"}
    configured.update({voice: "tts" for voice in s.tts.voices.values()})
    configured.pop(None, None)
    # a default whose role a configured model fills is not asked for (Whisper base configured:
    # no need for the default small); a voice only for the site's own language
    covered = {role for name, role in configured.items() if role != "tts"}
    covered |= {"tts"} if s.tts.voices.get(s.language) else set()
    rows, missing_defaults = [], []
    for name in [*store.catalog.models, *store.local_models()]:
        st = store.status(name)
        entry = store.entry_for(name)
        mark = "configured" if name in configured else ("default" if name in default else "")
        licence = entry.license.split(" (")[0].split(";")[0]  # the licence's name; the details are in the catalogue
        rows.append((name, st.role, _human(entry.size) if entry.size else "", st.state, mark, licence))
        wanted = name in configured or (name in default and st.role not in covered)
        if st.state in ("missing", "incomplete") and wanted:
            missing_defaults.append(name)
    # Every column but the licence as wide as its widest cell: a name cut short is no name.
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
    table = Table(
        *(
            Column(h, no_wrap=True, min_width=w)
            for h, w in zip(("model", "role", "size", "state", ""), widths, strict=True)
        ),
        Column("licence", overflow="ellipsis", no_wrap=True),
        title=f"Models in {store.root}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    for name, role, size, state, mark, licence in rows:
        colour = {"installed": "green", "missing": "red", "incomplete": "yellow"}.get(state, "dim")
        table.add_row(name, role, size, f"[{colour}]{state}[/]", mark, licence)
    out.print(table)
    if missing_defaults:
        out.print(
            "Install the missing ones with: "
            + " ".join(
                f"{n}: `{e.obtain}` then `kiosk models import DIR`"
                if (e := store.entry_for(n)).obtain
                else f"`kiosk models pull {n}`"
                for n in missing_defaults
            )
            + "  (no internet: `kiosk models import ARCHIVE`)"
        )


@app.command()
def pull(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="NAMES", help="catalogue names (default: the site language's default set)"),
    ] = None,
) -> None:
    """Download models from Hugging Face at pinned revisions, verifying checksums.

    Interrupted downloads resume. Without internet use `kiosk models import`.
    """
    from models.store import ModelError
    from models.transfer import pull as do_pull

    store = _store(ctx)
    names = names or [
        n for n in store.catalog.defaults.get(settings(ctx).language, []) if not store.catalog.models[n].package
    ]
    failed = 0
    for name in names:
        with user_errors():
            entry = store.catalog.get(name)
        if store.installed(name) is not None:
            out.print(f"{name}: already installed")
            continue
        out.print(f"{name}: downloading {_human(entry.size)} from {entry.repo}@{(entry.revision or '')[:10]}")
        try:
            do_pull(store, name)
            out.print(f"{name}: [green]installed and verified[/]", markup=True)
        except ModelError as exc:
            failed += 1
            out.print(f"{name}: [red]failed[/]: {exc}", markup=True)
    if failed:
        raise typer.Exit(1)


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE",
            help="a .tar/.tar.gz from `kiosk models export`, or a folder of model files "
            "(as ../shared/models/get-real-models lays them out)",
        ),
    ],
) -> None:
    """Install models from an archive or a folder (for sites without internet).

    A folder installs every catalogue model whose files it holds at the catalogue's paths, and
    every model its manifest.json lists that the catalogue lacks; each is verified (sha256)
    against the catalogue or that manifest, and copied: the folder stays as it was.
    """
    from models.transfer import import_archive, import_folder

    limits = settings(ctx).ingest
    with user_errors():
        if source.is_dir():
            outcomes = import_folder(_store(ctx), source, min_free_bytes=int(limits.min_free_mb * 2**20))
        elif source.is_file():
            outcomes = import_archive(
                _store(ctx),
                source,
                max_bytes=int(limits.max_model_import_gb * 2**30),
                min_free_bytes=int(limits.min_free_mb * 2**20),
                max_ratio=limits.max_model_import_ratio,
            )
        else:
            fail(f"no such archive or folder: {source}")
    for o in outcomes:
        colour = "green" if o.status == "installed" else "red"
        out.print(f"{o.name}: [{colour}]{o.status}[/] {o.detail}", markup=True)
    if any(o.status != "installed" for o in outcomes):
        raise typer.Exit(1)


@app.command()
def export(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="NAMES", help="installed models to pack")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="archive to write (.tar or .tar.gz)")],
) -> None:
    """Pack installed models into an archive to carry to a site without internet."""
    from models.transfer import export_archive

    with user_errors():
        path = export_archive(_store(ctx), names, out_file)
    out.print(f"wrote {path} ({_human(path.stat().st_size)})")


@app.command()
def verify(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAMES", help="models to check (default: all installed)")
    ] = None,
) -> None:
    """Re-hash installed model files and compare them with their install records."""
    store = _store(ctx)
    names = names or [
        n
        for n in [*store.catalog.models, *store.local_models()]
        if store.status(n).state == "installed" and not store.entry_for(n).package
    ]
    bad = 0
    for name in names:
        problems = store.verify(name)
        if problems:
            bad += 1
            out.print(f"{name}: [red]{'; '.join(problems)}[/]", markup=True)
        else:
            out.print(f"{name}: [green]ok[/]", markup=True)
    if bad:
        raise typer.Exit(1)


@app.command()
def tiny(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="archive to write (.tar or .tar.gz)")],
    phrase: Annotated[str | None, typer.Option(help="what the tiny Whisper hears in any audio")] = None,
) -> None:
    """Write an archive of tiny synthetic models (LLM, Whisper, Piper voices) for development machines.

    They exercise every real code path without real weights: the tiny Whisper hears the same
    phrase in any audio, the voices speak tones and the LLM writes gibberish (so answers come
    from the extractive path). Install with `kiosk models import`, then use the settings printed.
    """
    try:
        from models.tiny import DEFAULT_TINY_PHRASE, TINY_SETTINGS_TOML, write_tiny_models_archive
    except ImportError as exc:
        fail(f"the tiny-model builder needs the development packages (pip install -e '.[dev]'): {exc}")
    try:
        path = write_tiny_models_archive(out_file, phrase=phrase or DEFAULT_TINY_PHRASE)
    except ValueError as exc:
        fail(str(exc))
    out.print(f"wrote {path} ({_human(path.stat().st_size)})")
    out.print("install it with `kiosk models import` and put these settings in kiosk.toml:\n")
    out.print(TINY_SETTINGS_TOML, markup=False)
