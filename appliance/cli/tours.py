"""``kiosk tours``: the guided explanations (讲解) kept with the knowledge base (see appliance/tours.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from appliance.cli.common import (
    JSON_OPTION,
    KB_OPTION,
    fail,
    folded_table,
    out,
    print_json,
    safe_text,
    settings,
    start_body,
    user_errors,
)

app = typer.Typer(
    help="Guided explanations (讲解): list, show, check and rehearse the tours in the knowledge base.",
    no_args_is_help=True,
)

TOUR_ARG_HELP = "a tour id from `kiosk tours list`, or a *.tour.toml file (read directly, not ingested)"


def _open(ctx: typer.Context, kb: Path | None):
    from appliance.bootstrap import load_site_for, make_analyzer
    from appliance.knowledge.store import KnowledgeBase

    s = settings(ctx)
    path = kb or s.kb_file
    if not path.is_file():
        fail(
            f"no knowledge base at {path}: `kiosk kb ingest FOLDER` builds one (tours are *.tour.toml files "
            "beside the guides), and the first `kiosk ask` builds the demo"
        )
    with user_errors():
        return KnowledgeBase.open(path, make_analyzer(s, load_site_for(s)))


def _in_markup(value: object) -> str:
    """A tour's own text for a Rich markup line: control characters escaped (\\x1b, \\u202e), then
    brackets, so a tour file can neither drive the terminal nor inject markup."""
    return escape(safe_text(str(value)))


def _find(ctx: typer.Context, ref: str, kb: Path | None):
    """(tour, where it came from) for an id in the knowledge base or a tour file."""
    from appliance.tours import is_tour_file, load_tour

    path = Path(ref)
    if is_tour_file(path):
        with user_errors():
            return load_tour(path).tour, str(path)
    with _open(ctx, kb) as knowledge:
        tour = knowledge.tour(ref)
        if tour is None:
            known = ", ".join(t.id for t in knowledge.tours()) or "none"
            fail(f"no tour {ref!r} in {knowledge.db.path} (tours there: {known})")
        return tour, knowledge.tour_source(ref) or str(knowledge.db.path)


@app.command("list")
def list_(
    ctx: typer.Context, kb: Annotated[Path | None, KB_OPTION] = None, as_json: Annotated[bool, JSON_OPTION] = False
) -> None:
    """List the tours in the knowledge base: id, title, language, steps.

    JSON: {"id", "title", "lang", "steps", "duration_min", "summary", "source"} per line.
    """
    with _open(ctx, kb) as knowledge:
        tours = [(t, knowledge.tour_source(t.id)) for t in knowledge.tours()]
        version = knowledge.version
    if as_json:
        for t, source in tours:
            print_json(
                {
                    "id": t.id,
                    "title": t.title,
                    "lang": t.lang,
                    "steps": len(t.steps),
                    "duration_min": t.duration_min,
                    "summary": t.summary,
                    "source": source,
                }
            )
        return
    table = folded_table("id", "title", "lang", "steps", "min", title=f"{len(tours)} tour(s) (kb v{version})")
    for t, _ in tours:
        table.add_row(t.id, t.title, t.lang, str(len(t.steps)), f"{t.duration_min:g}" if t.duration_min else "")
    out.print(table)


@app.command()
def show(
    ctx: typer.Context,
    tour_ref: Annotated[str, typer.Argument(metavar="ID|FILE", help=TOUR_ARG_HELP)],
    kb: Annotated[Path | None, KB_OPTION] = None,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """Show a tour step by step: narration, slide, image and robot action. Control characters in
    the tour's text are shown as escapes (\\x1b, \\u202e)."""
    tour, source = _find(ctx, tour_ref, kb)
    if as_json:
        print_json({**tour.model_dump(mode="json", exclude_none=True), "source": source})
        return

    minutes = f", about {tour.duration_min:g} min" if tour.duration_min else ""
    out.print(
        f"[bold]{_in_markup(tour.title)}[/]  ({_in_markup(tour.id)}, {tour.lang}, {len(tour.steps)} steps{minutes})",
        markup=True,
    )
    out.print(safe_text(tour.summary), markup=False)
    out.print(f"[dim]{_in_markup(source)}[/]", markup=True)
    for n, step in enumerate(tour.steps, start=1):
        out.print(f"\n[bold]{n}. {_in_markup(step.title)}[/]", markup=True)
        out.print(safe_text(step.narration), markup=False)
        if step.slide is not None:
            out.print(f"  slide: {safe_text(step.slide.heading)}", markup=False)
            for bullet in step.slide.bullets:
                out.print(f"    • {safe_text(bullet)}", markup=False)
        if step.image:
            out.print(f"  image: {safe_text(step.image)}", markup=False)
        if step.action is not None:
            out.print(f"  action: {safe_text(step.action.describe())}", markup=False)


@app.command()
def check(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILES", help="*.tour.toml files to validate (nothing is stored)")
    ],
) -> None:
    """Validate tour files and their images without ingesting them; exit 1 with the reasons when one fails."""
    from appliance.tours import TOUR_SUFFIX, TourError, is_tour_file, load_tour

    failed = 0
    seen: dict[str, Path] = {}
    for path in files:
        try:
            if not is_tour_file(path):
                raise TourError(path.name, f"not a tour file (tour files are named *{TOUR_SUFFIX})")
            loaded = load_tour(path)
            first = seen.setdefault(loaded.tour.id, path)
            if first != path:
                raise TourError(path.name, f"id {loaded.tour.id!r} is also used by {first}")
        except TourError as exc:
            failed += 1
            out.print(f"FAILED {path}: {exc.detail}", markup=False)
            continue
        t = loaded.tour
        out.print(
            f"ok     {path}: {t.id} “{t.title}”, {len(t.steps)} steps, {len(loaded.media)} image(s)", markup=False
        )
    if failed:
        out.print(f"{failed} of {len(files)} file(s) failed")
        raise typer.Exit(1)


@app.command()
def run(
    ctx: typer.Context,
    tour_ref: Annotated[str, typer.Argument(metavar="ID|FILE", help=TOUR_ARG_HELP)],
    kb: Annotated[Path | None, KB_OPTION] = None,
    robot: Annotated[
        str | None, typer.Option("--robot", help="the body: a port, 'sim' or 'none' (default: [robot] port)")
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", min=0, help="times faster than reading aloud; 0 does not wait")
    ] = 1.0,
) -> None:
    """Rehearse a tour in the terminal: each step's slide and narration, with the robot acting.

    Without a voice the narration is printed and given the time reading it aloud takes. Ctrl-C
    stops the tour.
    """
    from appliance.events import StepStarted, TourFinished
    from appliance.tours import ReadingNarrator, TourRunner

    tour, _ = _find(ctx, tour_ref, kb)

    def on_event(event: object) -> None:
        if isinstance(event, StepStarted):
            out.print(f"\n[bold]── {event.index + 1}/{event.total} {_in_markup(event.step.title)}[/]", markup=True)
            if event.step.slide is not None:
                out.print(f"[cyan]【{_in_markup(event.step.slide.heading)}】[/]", markup=True)
                for bullet in event.step.slide.bullets:
                    out.print(f"  • {safe_text(bullet)}", markup=False)
            if event.step.image:
                out.print(f"[dim]  (image: {_in_markup(event.step.image)})[/]", markup=True)
        elif isinstance(event, TourFinished):
            how = "finished" if event.completed else "stopped"
            out.print(f"\n[bold]{how}[/]: {event.steps_done} of {len(tour.steps)} step(s) told", markup=True)

    with start_body(ctx, robot, tour.lang) as body:
        act = (lambda action: action.perform(body.robot)) if body is not None else None
        narrator = ReadingNarrator(lambda said: out.print(f"  {safe_text(said)}", markup=False), speed)
        runner = TourRunner(tour, narrator, act=act, on_event=on_event)
        runner.start()
        try:
            while not runner.join(0.2):
                pass
        except KeyboardInterrupt:
            runner.stop()
            runner.join(5)
    if not runner.ended or runner.state != "finished":
        raise typer.Exit(1)
