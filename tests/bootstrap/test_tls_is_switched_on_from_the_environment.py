"""TLS_CERT_FILE / TLS_KEY_FILE switch a gRPC server (the shared bootstrap) and the edge to TLS;
TLS_CA_FILE makes clients (`open_channel`, grpcurl -cacert, any HTTPS client) trust it. Shown
with a self-signed certificate made here: TLS callers get answers, plaintext callers do not."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import sys
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fte.identity.v1 import identity_service_pb2 as pb
from fte.identity.v1 import identity_service_pb2_grpc as pb_grpc

from devstack import REPO_ROOT
from services.common.config import Settings
from services.common.grpc_client import open_channel
from services.common.grpc_server import GrpcService, running
from tests.bootstrap.fixture_servicer import build
from tests.polling import until
from tests.ports import free_port
from tests.running_services import grpcurl, rpc_error

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fte test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


async def _get(channel) -> pb.GetCustomerResponse:
    return await pb_grpc.IdentityServiceStub(channel).GetCustomer(pb.GetCustomerRequest(customer_id="c-1"))



async def test_grpc_server_speaks_tls_to_clients_that_trust_its_certificate(
        certificate, monkeypatch, service_auth, admin_key):
    cert_file, key_file = certificate
    settings = Settings(grpc_port=0, tls_cert_file=str(cert_file), tls_key_file=str(key_file),
                        **service_auth("identity"))
    async with running("tls", settings, build) as service:
        address = f"127.0.0.1:{service.port}"

        monkeypatch.setenv("TLS_CA_FILE", str(cert_file))
        async with open_channel(address, timeout_s=5, credential=admin_key) as channel:
            assert (await _get(channel)).customer.customer_id == "c-1"

        monkeypatch.delenv("TLS_CA_FILE")
        async with open_channel(address, timeout_s=2, credential=admin_key) as channel:
            plaintext = await rpc_error(_get(channel))
        assert plaintext.code() == grpc.StatusCode.UNAVAILABLE

        trusted = await grpcurl("-cacert", str(cert_file), address, "list")
        assert trusted.code == 0 and "fte.identity.v1.IdentityService" in trusted.output, str(trusted)
        plaintext = await grpcurl("-plaintext", address, "list")
        assert plaintext.code > 0, str(plaintext)  # refused, not killed


async def test_a_certificate_without_its_key_is_refused_at_start(certificate, service_auth):
    cert_file, _ = certificate
    settings = Settings(grpc_port=0, tls_cert_file=str(cert_file), **service_auth("identity"))
    with pytest.raises(ValueError, match="TLS_CERT_FILE and TLS_KEY_FILE go together"):
        await GrpcService("half-tls", settings).start(build)


async def test_edge_serves_https_when_given_a_certificate(certificate, stack):
    cert_file, key_file = certificate
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}:{REPO_ROOT}/gen/python", "HTTP_PORT": str(port),
           "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers,
           "TLS_CERT_FILE": str(cert_file), "TLS_KEY_FILE": str(key_file)}
    edge = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.edge", cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert_file)),
                                     timeout=5) as https:
            async def answers() -> bool:
                try:
                    return (await https.get(f"https://127.0.0.1:{port}/health")).status_code in (200, 503)
                except httpx.TransportError:
                    return False

            await until(answers, "the edge answers over HTTPS", timeout=60)
        async with httpx.AsyncClient(timeout=5) as plain:
            with pytest.raises(httpx.TransportError):
                await plain.get(f"http://127.0.0.1:{port}/health")
    finally:
        edge.terminate()
        await edge.wait()
