"""`python -m functions.api`: serve the API with uvicorn on PORT (default 5000).

With API_REUSE_PORT the socket is bound with SO_REUSEPORT, so several such processes (the local stack starts
API_PROCESSES of them) share the port and the kernel spreads the connections between them.
"""

import socket

import uvicorn

from shared import logs
from shared.config import get_settings


def main() -> None:
    settings = get_settings()
    logs.configure("api")  # JSON lines like the worker's; uvicorn's own loggers pass through the same handler
    options = {"factory": True, "log_config": None, "access_log": False}
    if not settings.api_reuse_port:
        uvicorn.run("functions.api.app:create_app", host="127.0.0.1", port=settings.port, **options)
        return
    # IPPROTO_TCP given explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # reply on a kept-alive connection waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", settings.port))
    sock.listen(2048)
    server = uvicorn.Server(uvicorn.Config("functions.api.app:create_app", **options))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
