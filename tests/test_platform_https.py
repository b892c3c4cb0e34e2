"""HTTPS: `huxiao serve` with a certificate and key speaks TLS itself (phones need HTTPS for service workers
and geolocation); a certificate without its key, or one that does not load, stops it before it starts."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time

import httpx
import pytest

from tests.test_cli import HUXIAO, run

START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and localhost, made by openssl."""
    assert shutil.which("openssl"), "openssl is needed to make the test certificate"
    where = tmp_path_factory.mktemp("tls")
    cert, key = str(where / "cert.pem"), str(where / "key.pem")
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-subj", "/CN=huxiao test", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                           "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return cert, key


def test_serve_with_a_certificate_answers_over_https(database_url, certificate):
    cert, key = certificate
    port = _free_port()
    server = subprocess.Popen([HUXIAO, "serve", "--no-prepare", "--port", str(port), "--tls-cert", cert,
                               "--tls-key", key], env={**os.environ, "DATABASE_URL": database_url},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        trust = ssl.create_default_context(cafile=cert)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "the HTTPS server did not answer"
                time.sleep(0.2)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert r.http_version == "HTTP/1.1"
        # A client that does not trust the certificate is refused by its own TLS check, as a phone would be.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
        # Plain HTTP on the TLS port gets no answer of the API.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"https://127.0.0.1:{port}" in out


def test_a_certificate_without_its_key_or_a_broken_one_is_refused_plainly(database_url, certificate, tmp_path):
    cert, key = certificate
    r = run(database_url, "serve", "--no-prepare", "--port", str(_free_port()), "--tls-cert", cert)
    assert r.returncode == 1 and "--tls-key" in r.stderr.replace("\n", " ")
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key")
    r = run(database_url, "serve", "--no-prepare", "--port", str(_free_port()), HUXIAO_TLS_CERT=cert,
            HUXIAO_TLS_KEY=str(broken))
    assert r.returncode == 1 and "cannot use the certificate" in r.stderr.replace("\n", " ")
