"""``promptc serve --replicas 2`` joining a Ray cluster that runs in its own process (``RAY_ADDRESS``), through
the real blocking CLI path (promptc.deploy.ray.run): a request over HTTP, then SIGINT shuts Ray Serve down
and the command exits 0, while the cluster it joined keeps running with no Serve actor left on it.

The cluster is a Ray head started by ``ray.init`` in a helper process that stays alive until told to quit
(cheaper than ``ray start``, and its shutdown stops only the processes it started). The helper also
answers, from the cluster's side, which Serve actors are alive.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]

HEAD = r"""
import json, sys
import ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
print(json.dumps({"address": ray.get_runtime_context().gcs_address}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
        break
    alive = {}
    for name in cmd[1:]:  # named actors in Serve's namespace
        try:
            ray.get_actor(name, namespace="serve")
            alive[name] = True
        except ValueError:
            alive[name] = False
    print(json.dumps(alive), flush=True)
ray.shutdown()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_replicas_joins_ray_address_and_stops_cleanly_on_sigint(tmp_path):
    # the cluster's own token (Ray 2.60 turns token authentication on for a new local cluster; a driver that
    # joins it needs RAY_AUTH_MODE=token and the token), never the machine's ~/.ray/auth_token
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen([sys.executable, "-c", HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path)
    cli = None
    try:
        address = json.loads(head.stdout.readline())["address"]
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps({"keys": {"key-acme": "acme"}}))
        port = free_port()
        log = tmp_path / "serve.log"
        with log.open("w") as out:
            cli = subprocess.Popen(
                [sys.executable, "-m", "promptc", "serve", "--replicas", "2", "--port", str(port), "--dtype",
                 "float32", "--budget", "256MiB", "--keys", str(keys)],
                stdout=out, stderr=subprocess.STDOUT, text=True, cwd=REPO, env={**env, "RAY_ADDRESS": address})
        auth = {"authorization": "Bearer key-acme"}
        deadline = time.monotonic() + 240
        ready = f"serving 2 engine replicas at http://127.0.0.1:{port}"
        while ready not in log.read_text():  # the command says when the fleet is up (and Ctrl-C stops it)
            assert cli.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the fleet did not come up"
            time.sleep(0.5)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            assert client.get("/v1/models", headers=auth).status_code == 200
            seg = {"id": "rules", "role": "system", "content": "You review pull requests."}
            from promptc.core.hashing import segment_hash

            seg["hash"] = segment_hash("system", seg["content"])
            r = client.post("/v1/chat/completions", headers=auth, json={
                "segments": [seg], "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2})
            assert r.status_code == 200, r.text
            assert r.json()["usage"]["prompt_tokens"] > 0
            replica = r.headers["x-promptc-replica"]
        actors = ["SERVE_CONTROLLER_ACTOR", f"SERVE_REPLICA::promptc#EngineReplica#{replica}"]
        head.stdin.write("alive " + " ".join(actors) + "\n")
        head.stdin.flush()
        assert json.loads(head.stdout.readline()) == {a: True for a in actors}  # deployed on the joined cluster
        cli.send_signal(signal.SIGINT)
        assert cli.wait(120) == 0, log.read_text()
        # Serve is gone from the cluster (controller, replicas), and the cluster itself still answers
        head.stdin.write("alive " + " ".join(actors) + "\n")
        head.stdin.flush()
        assert json.loads(head.stdout.readline()) == {a: False for a in actors}
        with socket.socket() as s:  # nothing listens on the fleet's port any more
            assert s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
            cli.wait(30)
        if head.poll() is None:
            head.stdin.write("quit\n")
            head.stdin.flush()
            try:
                head.wait(60)
            except subprocess.TimeoutExpired:
                head.kill()
                head.wait(30)
