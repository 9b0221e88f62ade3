"""`python -m functions.api`: serve the API with uvicorn on PORT (default 5000)."""

import uvicorn

from shared import logs
from shared.config import get_settings


def main() -> None:
    settings = get_settings()
    logs.configure("api")  # JSON lines like the worker's; uvicorn's own loggers pass through the same handler
    uvicorn.run("functions.api.app:create_app", factory=True, host="127.0.0.1", port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
