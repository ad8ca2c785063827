"""Run the engine server as a process (``promptc serve``): bind first, load second, then serve.

Binding the listening socket before the model loads turns a busy port into an immediate usage
error (E707) instead of a 30-second model load followed by uvicorn's own exit status 3.
"""

from __future__ import annotations

import socket

from promptc.core.engine_errors import PortUnavailable


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one); E707 when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PortUnavailable("--host", f"cannot resolve {host!r}: {exc.strerror or exc}",
                              hint="use an IP address such as 127.0.0.1") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        sock.bind(addr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PortUnavailable("--port", f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                              hint="another process is using it? choose another --port, or stop that process") from None
    sock.set_inheritable(True)
    return sock


def run_server(engine, config, sock: socket.socket, names=None) -> None:
    """Serve ``engine`` on an already-bound socket until interrupted (``names``: a shared named-segment
    store, :class:`promptc.engine.named.RedisNames`; None keeps them in this process)."""
    import uvicorn

    from promptc.engine.server import EngineServer, uvicorn_config

    server = uvicorn.Server(uvicorn_config(EngineServer(engine, config, names=names).app, config))
    server.run(sockets=[sock])
    if not server.started:
        raise PortUnavailable("--port", "the server did not start on the bound socket")
