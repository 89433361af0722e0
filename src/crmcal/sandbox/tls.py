"""The sandbox's own certificate authority, and the server certificate it signs for 127.0.0.1.

Both emulators are served over https (msal refuses http authorities, api-facts E5; Graph and
Salesforce are https only), so crmcal's production token and API paths are the tested ones. The
clients trust the sandbox through an ordinary CA-bundle setting (`graph.ca_bundle`,
`salesforce.ca_bundle`): the same setting a company behind a TLS-inspecting proxy uses for its own
CA. Nothing in crmcal knows that it talks to an emulator.

Making keys costs tens of milliseconds, so `process_tls()` makes one CA and one server certificate
per process (tests, benchmarks) in a temporary directory and hands out the same paths afterwards.
"""

from __future__ import annotations

import atexit
import ipaddress
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "sandbox-ca.pem"
CERT_FILE = "sandbox-server-cert.pem"
KEY_FILE = "sandbox-server-key.pem"


@dataclass(frozen=True)
class SandboxTls:
    """Paths of the CA certificate (what clients trust) and of the server's chain and key."""

    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts exactly the sandbox CA."""
        return ssl.create_default_context(cafile=str(self.ca))

    def copy_ca(self, path: Path) -> Path:
        """Write the CA certificate to `path` (next to a written config); returns `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.ca, path)
        return path


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "crmcal sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_tls(directory: Path, *, days: int = 30) -> SandboxTls:
    """A new CA and a server certificate for 127.0.0.1, ::1 and localhost, written to `directory`.

    The CA is a real CA (basicConstraints CA:true, keyCertSign) and the server certificate a real
    leaf (CA:false, serverAuth, SAN): Python's ssl module and OpenSSL 3 refuse a self-signed leaf
    used as its own CA in strict mode, and we want nothing a real client would not accept."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("crmcal sandbox CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    out = SandboxTls(directory / CA_FILE, directory / CERT_FILE, directory / KEY_FILE)
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(_pem_key(key))
    out.key.chmod(0o600)
    return out


_lock = threading.Lock()
_process: SandboxTls | None = None


def process_tls() -> SandboxTls:
    """One CA and server certificate for this process (made on first use, removed at exit)."""
    global _process
    with _lock:
        if _process is None or not _process.ca.exists():
            d = Path(tempfile.mkdtemp(prefix="crmcal-sandbox-tls-"))
            atexit.register(shutil.rmtree, d, ignore_errors=True)
            _process = make_tls(d)
        return _process
