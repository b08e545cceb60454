"""Online/offline: a TCP probe against a real local listener, or the routing table and operstate."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from appliance.config import NetworkSettings
from appliance.network import NetworkProbe, NetworkState, parse_probe

HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def route(iface: str, dest: str = "00000000", flags: str = "0003", metric: int = 100, mask: str = "00000000") -> str:
    return f"{iface}\t{dest}\t0100000A\t{flags}\t0\t0\t{metric}\t{mask}\t0\t0\t0\n"


@pytest.fixture
def netdir(tmp_path: Path):
    """Writes a fake /proc/net/route and /sys/class/net; returns a probe factory over them."""

    def make(routes: list[str], states: dict[str, str], **settings) -> NetworkProbe:
        route_file = tmp_path / "route"
        route_file.write_text(HEADER + "".join(routes), encoding="ascii")
        for iface, state in states.items():
            (tmp_path / "net" / iface).mkdir(parents=True, exist_ok=True)
            (tmp_path / "net" / iface / "operstate").write_text(state + "\n", encoding="ascii")
        return NetworkProbe(
            NetworkSettings(**settings), route_file=route_file, sys_net=tmp_path / "net", clock=lambda: 42.0
        )

    return make


# Probe address --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ("10.0.0.5:443", ("10.0.0.5", 443)),
        ("sync.example.cn:8443", ("sync.example.cn", 8443)),
        ("[::1]:80", ("::1", 80)),
    ],
)
def test_parse_probe(probe: str, expected: tuple[str, int]) -> None:
    assert parse_probe(probe) == expected


@pytest.mark.parametrize(
    "probe", ["10.0.0.5", ":443", "host:", "host:0", "host:65536", "host:https", "::1:443", "[::1]443", "a b:80"]
)
def test_a_malformed_probe_is_refused_at_construction(probe: str) -> None:
    with pytest.raises(ValueError, match="network probe"):
        NetworkProbe(NetworkSettings(probe=probe))


# TCP probe ------------------------------------------------------------------------------------
def test_tcp_probe_online_against_a_real_listener(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(5)
        port = server.getsockname()[1]
        probe = NetworkProbe(NetworkSettings(probe=f"127.0.0.1:{port}"), route_file=tmp_path / "absent")
        state = probe.check()
        assert state.online and state.how == f"tcp 127.0.0.1:{port}"
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5)
            assert conn.recv(1) == b""  # connected, sent nothing, closed


def test_tcp_probe_offline_on_a_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    state = NetworkProbe(NetworkSettings(probe=f"127.0.0.1:{port}")).check()
    assert not state.online
    assert state.how.startswith(f"tcp 127.0.0.1:{port}: ") and "refused" in state.how.lower()


def test_tcp_probe_timeout_uses_the_configured_seconds() -> None:
    seen = []

    def slow(address, timeout):
        seen.append((address, timeout))
        raise TimeoutError("timed out")

    probe = NetworkProbe(NetworkSettings(probe="10.0.0.5:443", probe_timeout_s=0.5), connect=slow, clock=lambda: 7.0)
    assert probe.check() == NetworkState(online=False, how="tcp 10.0.0.5:443: timed out", checked_at=7.0)
    assert seen == [(("10.0.0.5", 443), 0.5)]


def test_tcp_probe_names_an_unknown_host_and_survives_any_error() -> None:
    def unknown(address, timeout):
        raise socket.gaierror(-2, "Name or service not known")

    state = NetworkProbe(NetworkSettings(probe="sync.invalid:443"), connect=unknown).check()
    assert not state.online and state.how == "tcp sync.invalid:443: Name or service not known"

    def broken(address, timeout):
        raise RuntimeError("boom")

    state = NetworkProbe(NetworkSettings(probe="10.0.0.5:443"), connect=broken).check()
    assert not state.online and "boom" in state.how


# Default route --------------------------------------------------------------------------------
def test_default_route_on_an_interface_that_is_up(netdir) -> None:
    state = netdir([route("eth0", dest="0000A8C0", mask="00FFFFFF"), route("eth0")], {"eth0": "up"}).check()
    assert state == NetworkState(online=True, how="default route via eth0", checked_at=42.0)


def test_default_route_on_a_down_interface_is_offline(netdir) -> None:
    state = netdir([route("eth0")], {"eth0": "down"}).check()
    assert not state.online and "eth0 down" in state.how


def test_the_usable_default_route_with_the_lowest_metric(netdir) -> None:
    routes = [route("eth0", metric=600), route("wlan0", metric=100)]
    assert netdir(routes, {"eth0": "up", "wlan0": "up"}).check().how == "default route via wlan0"
    assert netdir(routes, {"eth0": "up", "wlan0": "dormant"}).check().how == "default route via eth0"
    assert netdir(routes, {"eth0": "up", "wlan0": "lowerlayerdown"}).check().how == "default route via eth0"


def test_unknown_operstate_counts_as_usable(netdir) -> None:
    assert netdir([route("tun0")], {"tun0": "unknown"}).check().online
    assert netdir([route("ppp0")], {}).check().online  # no sysfs entry at all


def test_no_default_route(netdir) -> None:
    routes = [route("eth0", dest="0000A8C0", mask="00FFFFFF"), route("eth1", flags="0002"), "garbage line\n"]
    state = netdir(routes, {"eth0": "up", "eth1": "up"}).check()
    assert state == NetworkState(online=False, how="no default route", checked_at=42.0)


def test_an_unreadable_route_table_is_offline_with_the_reason(tmp_path: Path) -> None:
    state = NetworkProbe(NetworkSettings(), route_file=tmp_path / "no-such-route").check()
    assert not state.online and "cannot read" in state.how and "no-such-route" in state.how


def test_the_probe_is_used_instead_of_the_route_table(netdir) -> None:
    calls = []
    probe = netdir([route("eth0")], {"eth0": "up"}, probe="10.0.0.5:443")
    probe.connect = lambda address, timeout: calls.append(address) or socket.socket()
    assert probe.check().how == "tcp 10.0.0.5:443" and calls == [("10.0.0.5", 443)]
