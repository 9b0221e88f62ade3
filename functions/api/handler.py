"""The Lambda entry point: the FastAPI app behind Mangum (lifespan off: clients are built lazily, once per container)."""

from mangum import Mangum

from functions.api.app import create_app
from shared import logs

logs.configure("api")  # JSON lines like the worker's; Lambda sends stderr to the function's log group
lambda_handler = Mangum(create_app(), lifespan="off")
