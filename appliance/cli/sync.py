"""``kiosk publish`` (the street office) and ``kiosk sync`` (a kiosk): the signed knowledge base."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import fail, out, print_json, safe_text, settings

REPO_OPTION = typer.Option("--repo", help="the repository folder (what the web server serves)")
KEYS_OPTION = typer.Option(
    "--keys", help="the signing keys' folder (default: REPO-keys beside the repository; never inside it)"
)


def publish(
    ctx: typer.Context,
    what: Annotated[
        str,
        typer.Argument(
            metavar="SRC|init|refresh|rotate|status",
            help="a folder of reviewed sources to publish, or: init, refresh, rotate, status",
        ),
    ],
    repo: Annotated[Path, REPO_OPTION],
    channel: Annotated[str | None, typer.Option("--channel", help="SRC: the channel to publish into")] = None,
    keys: Annotated[Path | None, KEYS_OPTION] = None,
    role: Annotated[str | None, typer.Option("--role", help="rotate: root, targets, snapshot or timestamp")] = None,
) -> None:
    """Publish reviewed guides to kiosks, signed (TUF).

    \b
    kiosk publish init --repo DIR               create a repository and its keys
    kiosk publish SRC --repo DIR --channel C    validate SRC, bundle it, sign it into channel C
    kiosk publish refresh --repo DIR            re-sign with fresh expiry dates (daily, from cron)
    kiosk publish rotate --repo DIR --role R    replace a role's key (the root key is needed)
    kiosk publish status --repo DIR             the channels and their versions

    A bundle that fails validation (a file that does not ingest, a guide its own sample questions
    do not find, a site.toml that does not parse) is not published. A folder named like a
    subcommand is given as ./init.
    """
    from appliance.sync import publish as pub
    from appliance.sync.bundle import BundleError
    from appliance.sync.publish import PublishError

    keys = keys or pub.default_keys_dir(repo)
    try:
        if what == "init":
            root = pub.init_repository(repo, keys)
            out.print(f"repository {repo.resolve()}: created", markup=False)
            out.print(f"keys        {keys.resolve()}: move root.pem to offline storage now", markup=False)
            out.print(f"trusted root for every kiosk ([sync] root): {root}", markup=False)
        elif what == "refresh":
            for r, expires in pub.refresh(repo, keys).items():
                out.print(f"{r:<10} expires {expires}", markup=False)
        elif what == "rotate":
            if role is None:
                fail("rotate needs --role root|targets|snapshot|timestamp")
            path = pub.rotate_key(repo, keys, role)
            out.print(f"{role} key replaced; new root {path} (kiosks follow it on their next sync)", markup=False)
        elif what == "status":
            state = pub.RepoState.load(repo)
            out.print(f"root v{state.root.signed.version}, expires {state.root.signed.expires:%Y-%m-%d}", markup=False)
            out.print(f"timestamp expires {state.timestamp.signed.expires:%Y-%m-%d %H:%M} UTC", markup=False)
            for name, info in sorted(state.channels().items()):
                out.print(
                    f"channel {safe_text(name)}: v{info.get('version')} of {info.get('created')}, {info['length']} bytes",
                    markup=False,
                )
        else:
            _publish_folder(ctx, Path(what), repo, keys, channel)
    except (PublishError, BundleError) as exc:
        fail(str(exc))


def _publish_folder(ctx: typer.Context, src: Path, repo: Path, keys: Path, channel: str | None) -> None:
    from appliance.sync import publish as pub
    from appliance.sync.build import make_bundle

    if channel is None:
        fail("publishing a folder needs --channel NAME (e.g. street, or the community's own)")
    if not channel or not all(c.isalnum() or c in "-_." for c in channel):
        fail(f"channel {channel!r}: use letters, digits, '-', '_' or '.'")
    if not src.is_dir():
        fail(f"{src}: no such folder (subcommands: init, refresh, rotate, status)")
    state = pub.RepoState.load(repo)
    version = state.channel_version(channel) + 1
    with tempfile.TemporaryDirectory(prefix="kiosk-publish-") as tmp:
        tarball = Path(tmp) / "bundle.tar.gz"
        manifest = make_bundle(
            src, tarball, channel=channel, version=version, settings=settings(ctx), workdir=Path(tmp)
        )
        info = pub.publish_bundle(repo, keys, tarball, manifest)
    out.print(
        f"published {channel} v{version}: {len(manifest.files)} files, {info.length} bytes, "
        f"{len(manifest.questions)} regression questions ({manifest.hit_rate:.0%} found first)",
        markup=False,
    )


def sync(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="rebuild even when every channel is current")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Sync the knowledge base from the street office's repository now ([sync] url, channels,
    root) and print what changed. On any failure the installed knowledge base keeps serving and
    the exit status is 1."""
    from appliance.sync.client import SyncClient, SyncError
    from models.loader import LazyEmbedder
    from models.store import ModelStore

    s = settings(ctx)
    # Loaded only if a guide changed and its vectors cannot be carried over from the installed base.
    embedder = LazyEmbedder(s, ModelStore(s.models_path))
    client = SyncClient(s, embedder=embedder)
    try:
        report = client.sync(force=force)
    except SyncError as exc:
        if as_json:
            print_json({"ok": False, "error": str(exc)})
            raise typer.Exit(1) from None
        out.print(f"sync failed: {safe_text(str(exc))}", markup=False)
        out.print("the installed knowledge base keeps serving", markup=False)
        raise typer.Exit(1) from None
    if as_json:
        print_json(
            {
                "ok": True,
                "offered": report.offered,
                "installed": report.installed.channels if report.installed else None,
                "downloaded_bytes": report.downloaded_bytes,
                "changes": None if report.changes is None else vars(report.changes),
                "notes": report.notes,
            }
        )
        return
    offered = ", ".join(f"{c} v{v}" for c, v in report.offered.items())
    if report.installed is None:
        out.print(f"up to date ({offered})", markup=False)
    else:
        out.print(f"installed {report.installed.describe()}; downloaded {report.downloaded_bytes} bytes", markup=False)
    for n in report.notes:
        out.print(safe_text(n), markup=False)
