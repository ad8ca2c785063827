"""A real ``redis-server`` for tests: started on a free loopback port in a temp dir, with append-only
persistence (so a restart keeps the data, as a production server configured for it does). Needs the
``redis-server`` binary (Debian's package; scripts/test.sh installs it when missing)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, root: Path, *, fsync: str = "always"):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install -y redis-server; scripts/test.sh "
                               "does it)")
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.fsync = fsync  # appendfsync: "always" in the tests (a restart loses nothing); Redis's default is everysec
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "", "--daemonize", "no",
             "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.root / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING in 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis flushes the AOF and exits
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


# -- multiprocessing workers (spawned children import them by name) --------------------------------------
def redis_worker(url: str, namespace: str, root: str, threads: int, go, results) -> None:
    """One process: ``threads`` threads acquire KEY at once through a RedisBackend; each puts
    (remote id, created) on ``results``."""
    import threading

    from promptc.runtime.registry import CacheRegistry
    from promptc.runtime.registry_redis import RedisBackend
    from tests.runtime.fake_cache_provider import KEY, FileProvider, creator_for

    reg = CacheRegistry(RedisBackend(url, namespace=namespace), poll_s=0.01)
    provider = FileProvider(root)
    reg.set_deleter("fake", lambda e: provider.delete_remote(e.remote_id))
    barrier = threading.Barrier(threads)
    out: list = []

    def one() -> None:
        barrier.wait()
        entry, created = reg.acquire(KEY, creator_for(reg, provider, KEY, delay_s=0.2))
        out.append((entry.remote_id, created))

    go.wait()
    ts = [threading.Thread(target=one) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for item in out:
        results.put(item)


def redis_dying_worker(url: str, namespace: str, root: str, die: str, lease_s: float) -> None:
    """A process that claims KEY in Redis and is SIGKILLed before or after its remote create."""
    from promptc.runtime.registry import CacheRegistry
    from promptc.runtime.registry_redis import RedisBackend
    from tests.runtime.fake_cache_provider import KEY, FileProvider, creator_for

    reg = CacheRegistry(RedisBackend(url, namespace=namespace), lease_s=lease_s)
    reg.acquire(KEY, creator_for(reg, FileProvider(root), KEY, die=die))
