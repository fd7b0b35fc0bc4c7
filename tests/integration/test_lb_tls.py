"""TLS termination: curl verifies the chain, SNI picks the certificate, update() reloads files."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lb_support import Backend, Certificates, backends, config, make_certificates, running

from thecloud.dataplane.lb import LoadBalancerConfig

pytestmark = pytest.mark.integration


def _tls_config(backend: Backend, certs: Certificates, order: tuple[str, ...]) -> dict[str, Any]:
    names = {"alpha": ["alpha.example"], "beta": ["beta.example", "*.beta.example"]}
    certificates = [
        {
            "cert_file": str(certs.leaves[leaf][0]),
            "key_file": str(certs.leaves[leaf][1]),
            "server_names": names[leaf],
        }
        for leaf in order
    ]
    return config([backend], listener={"tls": {"certificates": certificates}})


def _curl(port: int, host: str, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "5",
            "--cacert",
            str(ca),
            "--resolve",
            f"{host}:{port}:127.0.0.1",
            f"https://{host}:{port}/secure",
            "--write-out",
            "\n%{http_code}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )


def _served_subject(port: int, server_name: str | None) -> str:
    """The common name of the certificate openssl s_client is shown for server_name."""
    command = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"]
    command += ["-servername", server_name] if server_name else ["-noservername"]
    done = subprocess.run(
        command, input="", capture_output=True, text=True, check=False, timeout=10
    )
    start = done.stdout.find("-----BEGIN CERTIFICATE-----")
    end = done.stdout.find("-----END CERTIFICATE-----")
    assert start >= 0, done.stdout + done.stderr
    pem = done.stdout[start : end + len("-----END CERTIFICATE-----")].encode()
    certificate = x509.load_pem_x509_certificate(pem)
    return str(certificate.subject.rfc4514_string())


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(
        tmp_path, {"alpha": ["alpha.example"], "beta": ["beta.example", "*.beta.example"]}
    )


def test_curl_gets_through_tls_with_the_ca_and_the_backend_sees_https(certs: Certificates) -> None:
    with (
        backends(1) as (backend,),
        running(_tls_config(backend, certs, ("alpha", "beta"))) as proxy,
    ):
        done = _curl(proxy.port, "alpha.example", certs.ca_file)
        assert done.returncode == 0, done.stderr
        body, status = done.stdout.rsplit("\n", 1)
        assert (status, body) == ("200", "b0")
        assert backend.received[0].header("x-forwarded-proto") == "https"
        # A name no certificate covers gets the default (first) one, which curl rejects.
        assert _curl(proxy.port, "gamma.example", certs.ca_file).returncode != 0


def test_sni_selects_the_certificate_and_no_sni_gets_the_first(certs: Certificates) -> None:
    with (
        backends(1) as (backend,),
        running(_tls_config(backend, certs, ("alpha", "beta"))) as proxy,
    ):
        assert _served_subject(proxy.port, "alpha.example") == "CN=alpha.example"
        assert _served_subject(proxy.port, "beta.example") == "CN=beta.example"
        assert _served_subject(proxy.port, "www.beta.example") == "CN=beta.example"
        assert _served_subject(proxy.port, None) == "CN=alpha.example"


def test_update_reloads_certificates_from_their_files(certs: Certificates, tmp_path: Path) -> None:
    with backends(1) as (backend,):
        document = _tls_config(backend, certs, ("alpha", "beta"))
        with running(document) as proxy:
            assert _served_subject(proxy.port, None) == "CN=alpha.example"
            # New files at the same paths: update() must read them again, not reuse a cache.
            (tmp_path / "renewed").mkdir()
            renewed = make_certificates(tmp_path / "renewed", {"alpha": ["renewed.example"]})
            alpha_cert, alpha_key = certs.leaves["alpha"]
            alpha_cert.write_bytes(renewed.leaves["alpha"][0].read_bytes())
            alpha_key.write_bytes(renewed.leaves["alpha"][1].read_bytes())
            proxy.balancer.update(LoadBalancerConfig.from_dict(document))
            assert _served_subject(proxy.port, None) == "CN=renewed.example"
            assert _served_subject(proxy.port, "beta.example") == "CN=beta.example"


def test_update_with_a_broken_certificate_is_refused_and_changes_nothing(
    certs: Certificates, tmp_path: Path
) -> None:
    with backends(1) as (backend,):
        document = _tls_config(backend, certs, ("alpha", "beta"))
        with running(document) as proxy:
            broken = tmp_path / "broken.pem"
            broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
            bad = _tls_config(backend, certs, ("alpha", "beta"))
            bad["listeners"][0]["tls"]["certificates"][0]["cert_file"] = str(broken)
            with pytest.raises(ValueError, match="cert"):
                proxy.balancer.update(LoadBalancerConfig.from_dict(bad))
            assert _served_subject(proxy.port, "alpha.example") == "CN=alpha.example"
