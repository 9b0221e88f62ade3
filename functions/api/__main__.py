"""`python -m functions.api`: the API under uvicorn (local stack and development)."""

import uvicorn

from functions.api.app import create_app
from shared import logs
from shared.config import get_settings


def create_local_app():  # type: ignore[no-untyped-def]
    """The app factory each uvicorn process calls: JSON log lines like the worker's, then the app."""
    logs.configure("api")
    return create_app()


def main() -> None:
    settings = get_settings()
    logs.configure("api")  # the supervisor's own lines; uvicorn's loggers pass through the same handler
    # API_PROCESSES > 1: uvicorn's supervisor shares the one listening socket between that many processes.
    uvicorn.run(
        "functions.api.__main__:create_local_app",
        factory=True,
        host="127.0.0.1",
        port=settings.port,
        workers=settings.api_processes,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
