"""A local certificate authority and the broker's server certificates.

`wastewatch services up` creates the CA once per state dir (key in
``.wastewatch/secrets/ca.key``, mode 600; certificate ``.wastewatch/tls/ca.pem``)
and issues Mosquitto's TLS listener a certificate for 127.0.0.1 and localhost.
`wastewatch tls server-cert` issues one for other names (docker-compose's
``mosquitto``, the municipality's public broker name) from the same CA, so a
device configured by `wastewatch devices provision` (which embeds ``ca.pem``)
trusts either broker.

RSA 2048 and SHA-256: what every TLS stack a bin sensor may run (mbedTLS on
the ESP32, MicroPython's unix port) verifies.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wastewatch.security.errors import BadInputError

CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_BEFORE = timedelta(days=30)
_HOST_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.")


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """Where a server certificate and its key were written."""

    cert: Path
    key: Path
    ca: Path
    hosts: tuple[str, ...]


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_private(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    path.chmod(0o600)


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage extension that allows the usages named (KeyUsage's arguments), no other."""
    unknown = set(allowed) - set(_KEY_USAGES)
    if unknown:
        raise ValueError(f"not key usages: {sorted(unknown)}")
    return x509.KeyUsage(**{usage: usage in allowed for usage in _KEY_USAGES})


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, days: int
) -> x509.CertificateBuilder:
    """A certificate for ``key``, valid from five minutes ago (clock skew) for ``days``."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )


def _write_pair(
    cert: x509.Certificate, cert_path: Path, key: rsa.RSAPrivateKey, key_path: Path
) -> None:
    """The key (mode 600) and the certificate (PEM) to their files."""
    _write_private(key_path, key)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def check_host(host: str) -> str:
    """A DNS name or IP address a certificate may name; BadInputError otherwise."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        name = host.lower()
        labels = name.split(".")
        if not name or not set(name) <= _HOST_CHARS or any(not x or len(x) > 63 for x in labels):
            raise BadInputError(f"{host!r} is not a host name or IP address") from None
        return name
    return host


class LocalCA:
    """The state dir's CA: ``ca_cert`` (public) and ``ca_key`` (secret, mode 600)."""

    def __init__(self, ca_cert: Path, ca_key: Path) -> None:
        self.ca_cert = ca_cert
        self.ca_key = ca_key

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> LocalCA:
        state = state_dir.resolve()
        return cls(state / "tls" / "ca.pem", state / "secrets" / "ca.key")

    def ensure(self) -> bool:
        """Create the CA unless it exists; True when it was created now."""
        if self.ca_cert.exists() and self.ca_key.exists():
            return False
        key = _new_key()
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wastewatch"),
                x509.NameAttribute(NameOID.COMMON_NAME, "wastewatch local CA"),
            ]
        )
        cert = (
            _builder(name, name, key, CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        _write_pair(cert, self.ca_cert, key, self.ca_key)
        return True

    def _load(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - we only make RSA keys
            raise BadInputError(f"{self.ca_key} is not an RSA key")
        return cert, key

    def issue_server(self, hosts: list[str], cert_out: Path, key_out: Path) -> IssuedCert:
        """A server certificate for ``hosts`` (first one is the common name), signed by the CA."""
        self.ensure()
        names = tuple(dict.fromkeys(check_host(h) for h in hosts))
        if not names:
            raise BadInputError("a server certificate needs at least one --host")
        ca_cert, ca_key = self._load()
        key = _new_key()
        sans: list[x509.GeneralName] = []
        for host in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        cert = (
            _builder(subject, ca_cert.subject, key, SERVER_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage("digital_signature", "key_encipherment"), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_pair(cert, cert_out, key, key_out)
        return IssuedCert(cert_out, key_out, self.ca_cert, names)

    def server_cert_current(self, cert_path: Path, hosts: list[str]) -> bool:
        """Whether ``cert_path`` exists, was signed by this CA, names ``hosts`` and is not
        about to expire (so `services up` reissues only when needed)."""
        if not cert_path.exists() or not self.ca_cert.exists():
            return False
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        if cert.issuer != ca_cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        if cert.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        named = {str(v) for v in san.get_values_for_type(x509.IPAddress)}
        named |= set(san.get_values_for_type(x509.DNSName))
        return named == {check_host(h) for h in hosts}
