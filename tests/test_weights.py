"""`aostbench weights list/fetch` against a loopback HTTP server serving stand-in files."""
from __future__ import annotations

import hashlib
import http.server
import threading

import pytest
from typer.testing import CliRunner

from benchmark import weights as W


def _named_for(content: bytes, stem: str) -> str:
    """A torchvision-style file name whose hash prefix is the content's own."""
    return f"{stem}-{hashlib.sha256(content).hexdigest()[:8]}.pth"


class _Server:
    """http.server in a thread; `cut_first` makes the first GET send only part of the body."""

    def __init__(self, files: dict[str, bytes], cut_first: bool = False):
        self.files, self.cut_first, self.requests = files, cut_first, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                outer.requests.append((name, rng))
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                part = body[start:]
                if outer.cut_first and len(outer.requests) == 1:
                    self.wfile.write(part[: len(part) // 3])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _wf(filename: str) -> W.WeightsFile:
    return W.WeightsFile("standin", filename, "https://example.invalid/" + filename, "test")


def test_fetch_accepts_the_right_content_and_refuses_the_wrong(tmp_path):
    good = b"PK weights " * 5000
    name = _named_for(good, "standin")
    dest = tmp_path / "w"
    with _Server({name: b"PK not the file " * 100}) as srv:
        with pytest.raises(W.ChecksumMismatch, match="does not start with"):
            W.fetch(_wf(name), dest, base_url=srv.url, progress=False)
    assert not (dest / name).exists() and not list(dest.glob(".*part"))  # nothing left where loaders look
    with _Server({name: good}) as srv:
        path = W.fetch(_wf(name), dest, base_url=srv.url, progress=False)
    assert path == dest / name and path.read_bytes() == good
    assert W.checksum_status(name, W.sha256_of(path)) == "ok"


def test_fetch_resumes_an_interrupted_transfer(tmp_path):
    good = b"PK" + bytes(range(256)) * 4000
    name = _named_for(good, "standin")
    with _Server({name: good}, cut_first=True) as srv:
        path = W.fetch(_wf(name), tmp_path, base_url=srv.url, progress=False)
    assert path.read_bytes() == good
    (first, r0), (second, r1) = srv.requests
    assert first == second == name and r0 is None
    assert r1 is not None and int(r1.split("=")[1].rstrip("-")) > 0  # asked only for the rest


def test_cli_fetch_and_list_the_official_names(tmp_path, monkeypatch):
    """The CLI fetches by name from a mirror base URL; a wrong file under the official name is refused."""
    from cli.main import app

    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # nothing from this machine's cache
    runner = CliRunner()
    with _Server({W.VGG19.filename: b"PK a stand-in that is not VGG-19"}) as srv:
        res = runner.invoke(app, ["weights", "fetch", "vgg19", "--base-url", srv.url])
    assert res.exit_code == 1 and "does not start with dcbb9e9d" in res.output
    assert not (tmp_path / "w" / W.VGG19.filename).exists()
    res = runner.invoke(app, ["weights", "list"])
    assert res.exit_code == 0, res.output
    assert "vgg19-dcbb9e9d.pth" in res.output and "aostbench weights fetch" in res.output
    # a file placed by hand that does not match its name's hash shows as such
    (tmp_path / "w" / W.VGG19.filename).write_bytes(b"x")
    assert "mismatch" in runner.invoke(app, ["weights", "list"]).output
    assert runner.invoke(app, ["weights", "fetch", "nosuch"]).exit_code == 1


def test_a_page_instead_of_weights_is_refused_even_without_a_hash(tmp_path):
    name = "osnet_x0_25_imagenet.pth"  # torchreid's names carry no hash
    with _Server({name: b"<html>Google Drive - quota exceeded</html>"}) as srv:
        with pytest.raises(W.ChecksumMismatch, match="not a PyTorch weights file"):
            W.fetch(_wf(name), tmp_path, base_url=srv.url, progress=False)
    assert not list(tmp_path.iterdir())


def test_the_table_matches_torchreid():
    from torchreid.reid.models import osnet, osnet_ain, resnet

    for arch, url in resnet.model_urls.items():
        assert W.for_arch(arch).url == url
    for table in (osnet.pretrained_urls, osnet_ain.pretrained_urls):
        for arch, url in table.items():
            assert W.for_arch(arch).url == url and W.for_arch(arch).filename == f"{arch}_imagenet.pth"
    assert W.FID_INCEPTION.hash_prefix == "6726825d" and W.VGG19.hash_prefix == "dcbb9e9d"
    with pytest.raises(ValueError, match="no ImageNet weights"):
        W.for_arch("hacnn")
