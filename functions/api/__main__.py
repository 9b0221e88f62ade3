"""`python -m functions.api`: serve the API with uvicorn on PORT (default 5000), in API_PROCESSES processes."""

import uvicorn

from shared.config import get_settings


def main() -> None:
    settings = get_settings()
    # API_PROCESSES > 1: uvicorn's supervisor shares the one listening socket between that many processes.
    uvicorn.run(
        "functions.api.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=settings.port,
        workers=settings.api_processes,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
