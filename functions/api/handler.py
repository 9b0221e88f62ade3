"""The Lambda entry point: the FastAPI app behind Mangum (lifespan off: clients are built lazily, once per container)."""

from mangum import Mangum

from functions.api.app import create_app
from shared.logs import configure

configure("api")  # JSON lines on stderr, which Lambda sends to the API's log group
lambda_handler = Mangum(create_app(), lifespan="off")
