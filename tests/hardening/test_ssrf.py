"""Server-side request forgery: URL jobs reach public http(s) addresses and nothing else.

Two layers, two kinds of test:

* the API refuses a URL whose host is not public before a job exists (``strict`` server,
  ``ALLOW_PRIVATE_URLS=false``);
* the job process checks every connection it makes. That is tested by running the real
  job code (``run_job``) on the pretend internet of :mod:`tests.hardening.fake_internet`,
  where a "public" host can redirect to a forbidden one.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
import soundfile as sf

from audio_service import netguard
from audio_service.errors import InvalidURL
from tests.hardening.hostile_http import Hostile, serve_hostile
from tests.support.isolated import run_python
from tests.support.server import ServiceProcess
from tests.support.signals import SR, music

REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0/",
    "http://localhost:8000/a.mp3",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://evil.example@127.0.0.1/",
    "file:///etc/passwd",
    "ftp://example.com/a.mp3",
    "gopher://127.0.0.1:6379/_INFO",
    "javascript:alert(1)",
    "http:///nohost",
]


@pytest.mark.parametrize("field", ["url", "youtube_url"])
async def test_api_refuses_urls_that_are_not_public_http(
    strict: ServiceProcess, field: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in REFUSED_URLS:
            response = await http.post(strict.url + "/api/analyze", json={field: url})
            assert response.status_code == 400, (url, response.text)
            assert response.json()["code"] == "INVALID_URL", (url, response.json())


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("2002:7f00:1::1", True),  # 6to4 wrapping 127.0.0.1
        ("2002:a9fe:a9fe::1", True),  # 6to4 wrapping the metadata address
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("64:ff9b::808:808", False),  # NAT64 of a public address: it *is* that address
        ("::ffff:8.8.8.8", False),
        ("fec0::1", True),  # site-local
        ("ff02::1", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_guard_sees_through_ipv6_wrappings(address: str, forbidden: bool) -> None:
    assert netguard.forbidden_address(address) is forbidden


def test_checks_outside_the_guard_keep_no_record() -> None:
    """The API process checks URLs all its life: only the job process's guard records."""
    before = len(netguard.REFUSED)
    with pytest.raises(InvalidURL):
        netguard.check_addresses(socket.getaddrinfo("127.0.0.1", 80))
    assert len(netguard.REFUSED) == before


def _hls(tmp: Path) -> dict[str, bytes]:
    """A 6 s HLS stream (playlist and MPEG-TS segments) made by ffmpeg."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=6",
            "-c:a",
            "aac",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "0",
            "-hls_segment_filename",
            str(tmp / "seg%d.ts"),
            str(tmp / "list.m3u8"),
        ],
        check=True,
        timeout=60,
    )
    return {p.name: p.read_bytes() for p in tmp.iterdir()}


#: Case name -> (path on the "public" host, expected end of the job).
CASES = {
    "public file": ("/song.mp3", "complete"),
    "public embed": ("/embed-public.html", "complete"),
    "page holding a playlist of two (only the first is fetched)": ("/two.html", "complete"),
    "public HLS (native, every fragment guarded)": ("/list.m3u8", "complete"),
    "redirect to loopback": ("/to-loopback", "INVALID_URL"),
    "redirect to cloud metadata": ("/to-metadata", "INVALID_URL"),
    "redirect to IPv4-mapped IPv6 loopback": ("/to-mapped", "INVALID_URL"),
    "redirect to decimal loopback": ("/to-decimal", "INVALID_URL"),
    "redirect to private network": ("/to-private", "INVALID_URL"),
    "page embedding a loopback media URL": ("/embed-loopback.html", "INVALID_URL"),
    "HLS with loopback fragments": ("/evil.m3u8", "INVALID_URL"),
    "redirect to file://": ("/to-file", "DOWNLOAD_ERROR"),
    "redirect to ftp://": ("/to-ftp", "DOWNLOAD_ERROR"),
    "DNS rebinding to loopback": ("rebind", "INVALID_URL"),
    "server trickling bytes past the download deadline": ("/trickle.mp3", "DOWNLOAD_ERROR"),
}
#: Download deadline of each case (seconds): short where the deadline is what is tested.
DEADLINES = {"server trickling bytes past the download deadline": 2.0}


@pytest.fixture(scope="module")
def internet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hostile, dict[str, Any]]]:
    buffer = io.BytesIO()
    sf.write(buffer, music(6.0, seed=12), SR, format="MP3")
    hls = _hls(tmp_path_factory.mktemp("hls"))
    with serve_hostile() as server:
        public = f"media.public.test:{server.port}"
        local = f"127.0.0.1:{server.port}"
        server.files["/song.mp3"] = ("audio/mpeg", buffer.getvalue())
        server.files["/trickle.mp3"] = ("audio/mpeg", buffer.getvalue())
        server.trickle["/trickle.mp3"] = 0.1  # 1 KiB every 0.1 s: about 10 s in all
        for name, data in hls.items():
            server.files["/" + name] = ("video/mp2t", data)
        playlist = hls["list.m3u8"].decode()
        server.files["/list.m3u8"] = ("application/vnd.apple.mpegurl", playlist.encode())
        evil = playlist.replace("seg", f"http://{local}/seg")
        server.files["/evil.m3u8"] = ("application/vnd.apple.mpegurl", evil.encode())
        server.files["/second.mp3"] = ("audio/mpeg", buffer.getvalue())
        two = "".join(f'<audio src="http://{public}/{n}.mp3"></audio>' for n in ("song", "second"))
        server.files["/two.html"] = ("text/html", f"<html><body>{two}</body></html>".encode())
        for page, host in (("/embed-public.html", public), ("/embed-loopback.html", local)):
            html = f'<html><body><audio src="http://{host}/song.mp3"></audio></body></html>'
            server.files[page] = ("text/html", html.encode())
        server.redirects |= {
            "/to-loopback": f"http://{local}/song.mp3",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-mapped": f"http://[::ffff:127.0.0.1]:{server.port}/song.mp3",
            "/to-decimal": f"http://2130706433:{server.port}/song.mp3",
            "/to-private": "http://10.1.2.3/song.mp3",
            "/to-file": "file:///etc/passwd",
            "/to-ftp": f"ftp://{local}/song.mp3",
        }
        jobs = [
            [
                f"http://rebind.test:{server.port}/song.mp3"
                if path == "rebind"
                else f"http://{public}{path}",
                DEADLINES.get(case, 10.0),
            ]
            for case, (path, _) in CASES.items()
        ]
        stdout = run_python(
            "-m",
            "tests.hardening.fake_internet",
            str(server.port),
            stdin=json.dumps(jobs),
            timeout=120,
        )
        results = [json.loads(line) for line in stdout.splitlines()]
        yield server, dict(zip(CASES, results, strict=True))


@pytest.mark.parametrize("case", list(CASES))
def test_job_process_guards_every_hop(internet: tuple[Hostile, dict[str, Any]], case: str) -> None:
    server, results = internet
    result = results[case]
    expected = CASES[case][1]
    if expected == "complete":
        assert result["type"] == "complete" and result["chunks"] >= 6, result
        # The download gets a neutral name: no server-chosen extension reaches the decoder.
        assert result["files"] == ["media.download"], result
    else:
        assert (result["type"], result["code"]) == ("error", expected), result
        assert result["chunks"] == 0
    if case in DEADLINES:
        assert f"longer than {DEADLINES[case]:g}s" in result["message"], result
    # Playlists are off: a page's second media file is never fetched.
    assert "/second.mp3" not in server.paths("media.public.test")
    # Nothing ever reached the server through a loopback address: the pretend public
    # host is the only way in.
    assert server.paths("127.0.0.1") == []
    assert server.paths("[::ffff") == [] and server.paths("2130706433") == []


_CONNECT_GUARD = """
import asyncio, json, socket, sys
from audio_service.errors import InvalidURL
from audio_service.errors import InvalidURL
from audio_service import netguard
netguard.install()
port = int(sys.argv[1])
outcomes = {}
async def via_asyncio():
    # asyncio connects to a numeric host without calling getaddrinfo.
    await asyncio.open_connection("127.0.0.1", port)
attempts = {
    "socket.connect": lambda: socket.socket().connect(("127.0.0.1", port)),
    "connect_ex": lambda: socket.socket().connect_ex(("127.0.0.1", port)),
    "IPv6 loopback": lambda: socket.socket(socket.AF_INET6).connect(("::1", port)),
    "by name": lambda: socket.socket().connect(("localhost", port)),
    "create_connection": lambda: socket.create_connection(("127.0.0.1", port)),
    "asyncio": lambda: asyncio.run(via_asyncio()),
}
for name, attempt in attempts.items():
    try:
        attempt()
        outcomes[name] = "connected"
    except InvalidURL:
        outcomes[name] = "refused"
print(json.dumps(outcomes))
"""


def test_guard_refuses_at_connect_time_even_without_name_resolution() -> None:
    with serve_hostile() as server:
        stdout = run_python("-c", textwrap.dedent(_CONNECT_GUARD), str(server.port), timeout=60)
        outcomes = json.loads(stdout)
        assert set(outcomes.values()) == {"refused"}, outcomes
        assert server.requests == []
