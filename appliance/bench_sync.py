"""``kiosk bench sync``: publishing and syncing a 2,000-guide bundle, and an emergency alert end to end.

Everything runs on this machine: the repository is served by a static HTTP server on 127.0.0.1,
and the duty group is a stand-in WeCom robot on 127.0.0.1 answering ``{"errcode": 0}``. Figures:

* time to publish (validate, bundle, sign) and to sync (download, verify, build, check, swap)
  the Guangdong guides as a street channel, one file per guide;
* bytes downloaded after a one-guide change (a channel's bundle is downloaded whole);
* retrieval latency while a sync rebuilds, against idle;
* an emergency: from the resident's words to the message accepted by the stand-in WeCom robot.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from appliance.bench import percentile

__all__ = ["run"]


def _serve(handler) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _WeCom(BaseHTTPRequestHandler):
    """Answers every POST like WeCom's robot accepting a message, and notes when it arrived."""

    arrivals: list[float] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"errcode":0,"errmsg":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        _WeCom.arrivals.append(time.time())


def _split_guides(jsonl: Path, out: Path, limit: int) -> int:
    out.mkdir(parents=True)
    n = 0
    with jsonl.open(encoding="utf-8") as f:
        for line in f:
            if n >= limit:
                break
            if line.strip():
                n += 1
                (out / f"g{n:05d}.jsonl").write_text(line, encoding="utf-8")
    return n


def run(guides_jsonl: Path, workdir: Path, say: Callable[[str], None], *, guides: int = 2000, alerts: int = 5) -> None:
    """Run the benchmark in ``workdir`` and ``say`` each figure.

    Raises:
        FileNotFoundError: ``guides_jsonl`` is missing.
    """
    from appliance.config import Settings, SyncSettings
    from appliance.knowledge.retrieval import Retriever
    from appliance.sync import publish as pub
    from appliance.sync.build import make_bundle
    from appliance.sync.client import SyncClient

    if not guides_jsonl.is_file():
        raise FileNotFoundError(guides_jsonl)
    src = workdir / "street"
    n = _split_guides(guides_jsonl, src, guides)
    repo, keys = workdir / "repo", workdir / "keys"
    root = pub.init_repository(repo, keys)
    office = Settings(data_dir=workdir / "office")

    def publish(version: int) -> tuple[float, int]:
        t = time.perf_counter()
        work = workdir / f"pub{version}"
        work.mkdir()
        manifest = make_bundle(src, work / "b.tar.gz", channel="street", version=version, settings=office, workdir=work)
        info = pub.publish_bundle(repo, keys, work / "b.tar.gz", manifest)
        return time.perf_counter() - t, info.length

    seconds, size = publish(1)
    say(f"publish {n} guides (validate, bundle, sign): {seconds:.1f} s, bundle {size / 1e6:.2f} MB")
    server, url = _serve(partial(_Quiet, directory=str(repo)))
    try:
        s = Settings(data_dir=workdir / "kiosk", sync=SyncSettings(url=url, channels=["street"], root=root))
        t = time.perf_counter()
        first = SyncClient(s).sync()
        say(f"first sync: {time.perf_counter() - t:.1f} s, {first.downloaded_bytes / 1e6:.2f} MB downloaded")
        # One guide changes.
        one = src / "g00001.jsonl"
        data = json.loads(one.read_text(encoding="utf-8"))
        data["handle_time"] = "15(工作日)"
        one.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
        seconds, _ = publish(2)
        t = time.perf_counter()
        change = SyncClient(s).sync()
        say(
            f"one-guide change: publish {seconds:.1f} s; sync {time.perf_counter() - t:.1f} s, "
            f"{change.downloaded_bytes / 1e6:.2f} MB downloaded (the channel's whole bundle)"
        )
        # Query latency, idle and while a sync rebuilds.
        from appliance.bootstrap import build_appliance

        with build_appliance(s, use_llm=False, journal=False) as app:
            retriever: Retriever = app.engine.retriever
            titles = [d.title for d in app.kb.documents()][:200]
            queries = [f"{title}需要什么材料" for title in titles]

            def latencies(stop: Callable[[], bool] | None = None) -> list[float]:
                out: list[float] = []
                i = 0
                while (stop is None and i < len(queries)) or (stop is not None and not stop()):
                    t0 = time.perf_counter()
                    retriever.search(queries[i % len(queries)])
                    out.append((time.perf_counter() - t0) * 1e3)
                    i += 1
                return out

            idle = latencies()
            done = threading.Event()
            worker = threading.Thread(target=lambda: (SyncClient(s).sync(force=True), done.set()))
            worker.start()
            busy = latencies(done.is_set)
            worker.join()
        say(
            f"query latency idle: p50 {percentile(idle, 50):.1f} ms, p95 {percentile(idle, 95):.1f} ms; "
            f"during a sync: p50 {percentile(busy, 50):.1f} ms, p95 {percentile(busy, 95):.1f} ms ({len(busy)} queries)"
        )
    finally:
        server.shutdown()
        server.server_close()
    _alert(workdir, say, alerts)


def _alert(workdir: Path, say: Callable[[str], None], alerts: int) -> None:
    from appliance.bootstrap import build_appliance, start_sender
    from appliance.config import NotifyChannelSettings, NotifySettings, Settings

    server, url = _serve(_WeCom)
    secret = workdir / "wecom.toml"
    secret.write_text('key = "bench"\n')
    secret.chmod(0o600)
    s = Settings(
        data_dir=workdir / "alert",
        notify=NotifySettings(channels=[NotifyChannelSettings(name="duty", kind="wecom", url=url, secret_file=secret)]),
    )
    times = []
    try:
        with build_appliance(s, use_llm=False) as app:
            sender, _ = start_sender(s, app.site, app.journal)
            assert sender is not None
            sender.sending.wait(10)
            for i in range(alerts):
                before = len(_WeCom.arrivals)
                t = time.time()
                app.engine.ask(f"救命，{i + 2}号楼电梯里有人被困住了")
                deadline = time.time() + 10
                while len(_WeCom.arrivals) == before and time.time() < deadline:
                    time.sleep(0.005)
                if len(_WeCom.arrivals) > before:
                    times.append((_WeCom.arrivals[before] - t) * 1e3)
                time.sleep(3.2)  # the robots allow 20 a minute: keep under it
            sender.stop()
    finally:
        server.shutdown()
        server.server_close()
    if times:
        say(
            f"emergency alert end to end (words -> accepted by the stand-in WeCom robot), {len(times)} of {alerts}: "
            f"p50 {percentile(times, 50):.0f} ms, max {max(times):.0f} ms (target <= 2000 ms)"
        )
    else:
        say("emergency alert end to end: no message arrived within 10 s")
    shutil.rmtree(workdir / "alert", ignore_errors=True)
