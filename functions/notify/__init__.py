"""Webhook delivery: an SQS-event Lambda in AWS (handler.py), a long-polling process under `make run` (loop.py)."""
