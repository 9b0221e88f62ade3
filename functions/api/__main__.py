"""`python -m functions.api`: serve the API with uvicorn on PORT (default 5000)."""

import uvicorn

from shared.config import get_settings
from shared.logs import configure


def main() -> None:
    settings = get_settings()
    configure("api")  # JSON lines, as the worker writes them (uvicorn keeps its own for start and stop)
    uvicorn.run("functions.api.app:create_app", factory=True, host="127.0.0.1", port=settings.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
