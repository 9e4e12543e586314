"""A pytest plugin that runs kazoo's own test suite (kazoo/tests, shipped in its package)
against zk-testing's embedded server binary instead of the ZooKeeper JVMs kazoo's harness
starts: `kazoo.testing.harness.get_global_cluster` returns a cluster of one `zk-testing-server`
process, with the interface of kazoo's `ZookeeperCluster` (`address`, `run`, `stop`,
`reset`, `destroy`, `running`).

The binary is `$ZK_TESTING_SERVER` (built with the `cli` and `tls` features); the port is
`$ZK_SUITE_PORT` (default 20000), and the TLS port the next one, serving the certificates
kazoo's harness makes (`ZookeeperCluster.perform_ssl_certs_generation`) without asking for
client certificates. A stop is a SIGTERM (the binary saves its tree and sessions to the snapshot
file) and a run starts it again from that file, as a real server restarts from its data
directory. Used by scripts/kazoo-suite.sh.
"""

import atexit
import os
import signal
import socket
import subprocess
import tempfile
import time

import OpenSSL

import kazoo.testing.harness as harness
from kazoo.testing.common import ZookeeperCluster

BINARY = os.environ["ZK_TESTING_SERVER"]
PORT = int(os.environ.get("ZK_SUITE_PORT", "20000"))
START_LIMIT_S = 30.0


def v3_server_cert(tls):
    """The harness's server certificate again, as X.509 v3 with the loopback names: it makes a
    v1 certificate, which the JVM accepts and rustls (the binary's TLS) refuses."""
    cert = OpenSSL.crypto.X509()
    cert.set_version(2)
    cert.set_serial_number(4)
    cert.get_subject().CN = "localhost"
    cert.gmtime_adj_notBefore(0)
    cert.gmtime_adj_notAfter(24 * 60 * 60)
    cert.set_issuer(tls["ca_cert"].get_subject())
    cert.set_pubkey(tls["server_key"])
    san = OpenSSL.crypto.X509Extension(b"subjectAltName", False, b"DNS:localhost,IP:127.0.0.1")
    cert.add_extensions([san])
    cert.sign(tls["ca_key"], "sha256")
    return cert


class EmbeddedServer:
    def __init__(self, port, tls):
        self.host = "127.0.0.1"
        self.client_port = port
        self.secure_client_port = port + 1
        self.working_path = tempfile.mkdtemp(prefix="kazoo-suite-")
        self.snapshot = os.path.join(self.working_path, "snapshot")
        self.process = None
        self.tls = []
        if tls:
            cert = os.path.join(self.working_path, "server.pem")
            key = os.path.join(self.working_path, "server.key")
            with open(cert, "wb") as f:
                f.write(OpenSSL.crypto.dump_certificate(OpenSSL.crypto.FILETYPE_PEM, v3_server_cert(tls)))
                f.write(tls["ca_cert_pem"])
            with open(key, "wb") as f:
                f.write(OpenSSL.crypto.dump_privatekey(OpenSSL.crypto.FILETYPE_PEM, tls["server_key"]))
            self.tls = ["--tls-port", str(self.secure_client_port), "--tls-cert", cert, "--tls-key", key]

    @property
    def address(self):
        return "%s:%d" % (self.host, self.client_port)

    @property
    def secure_address(self):
        return "%s:%d" % (self.host, self.secure_client_port)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def run(self):
        if self.running:
            return
        log = open(os.path.join(self.working_path, "server.log"), "ab")
        self.process = subprocess.Popen(
            [BINARY, "--port", str(self.client_port), "--addr", self.host, "--snapshot", self.snapshot]
            + self.tls,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + START_LIMIT_S
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.client_port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("zk-testing-server exited: see " + self.working_path)
                time.sleep(0.05)
        raise RuntimeError("zk-testing-server did not listen within %ss" % START_LIMIT_S)

    def stop(self):
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def reset(self):
        self.stop()
        if os.path.exists(self.snapshot):
            os.remove(self.snapshot)

    def destroy(self):
        self.stop()

    def get_logs(self, num_lines=100):
        path = os.path.join(self.working_path, "server.log")
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            return f.readlines()[-num_lines:]


class EmbeddedCluster:
    def __init__(self):
        self._ssl_configuration = {}
        # kazoo's own certificate maker, on this object (it fills _ssl_configuration).
        ZookeeperCluster.perform_ssl_certs_generation(self)
        self._servers = [EmbeddedServer(PORT, self._ssl_configuration)]

    def get_ssl_client_configuration(self):
        return ZookeeperCluster.get_ssl_client_configuration(self)

    def __getitem__(self, k):
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self):
        return len(self._servers)

    def start(self):
        for s in self._servers:
            s.run()

    def stop(self):
        for s in self._servers:
            s.stop()

    def terminate(self):
        for s in self._servers:
            s.destroy()

    def reset(self):
        for s in self._servers:
            s.reset()

    def get_logs(self):
        return [line for s in self._servers for line in s.get_logs()]


CLUSTER = EmbeddedCluster()
atexit.register(CLUSTER.terminate)
harness.get_global_cluster = lambda: CLUSTER
