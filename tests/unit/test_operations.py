"""Operators can see: the template's alarms, metrics and health check, storage that outlives every task, disk for
MaxWorkers jobs, and the API's JSON logs carrying the task id and key name."""

from __future__ import annotations

import io
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from functions.worker.health import is_healthy
from shared import logs, metrics
from shared.config import Settings
from tests.unit.test_template import _resources_of, translated  # noqa: F401  (fixture)


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in _resources_of(template, "AWS::CloudWatch::Alarm").items()}


def test_template_media_files_outlive_the_longest_task(translated):  # noqa: F811
    # GIVEN the largest TaskCleanupTime the template accepts THEN the bucket keeps files longer than that
    most_minutes = int(translated["Parameters"]["TaskCleanupTime"]["MaxValue"])
    bucket = _resources_of(translated, "AWS::S3::Bucket")["MediaBucket"]["Properties"]
    rule = next(r for r in bucket["LifecycleConfiguration"]["Rules"] if r["Id"] == "expire-task-files")
    assert rule["ExpirationInDays"] * 24 * 60 > most_minutes
    assert most_minutes >= 7 * 24 * 60 - 1  # a week of keeping finished tasks stays possible


def test_template_dead_letter_alarm_counts_received_messages_so_draining_cannot_hide_them(translated):  # noqa: F811
    alarm = _alarms(translated)["DeadLetterQueueAlarm"]
    assert alarm["MetricName"] == "NumberOfMessagesReceived" and alarm["Statistic"] == "Sum"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}


def test_template_alarms_on_the_oldest_queued_job_and_on_cleanup_errors(translated):  # noqa: F811
    alarms = _alarms(translated)
    age = alarms["QueuedJobAgeAlarm"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    errors = alarms["CleanupErrorsAlarm"]
    assert errors["Namespace"] == metrics.NAMESPACE and errors["MetricName"] == "CleanupErrors"


def test_template_worker_has_a_health_check_and_disk_for_its_jobs(translated):  # noqa: F811
    task = _resources_of(translated, "AWS::ECS::TaskDefinition")["WorkerTaskDefinition"]["Properties"]
    container = task["ContainerDefinitions"][0]
    assert container["HealthCheck"]["Command"] == ["CMD", "python", "-m", "functions.worker.health"]
    assert task["EphemeralStorage"] == {"SizeInGiB": {"Ref": "WorkerStorageGiB"}}
    params = translated["Parameters"]
    # At the defaults every one of MaxWorkers jobs has room for about 3x the largest output (parts, merge, file).
    per_job = int(params["WorkerStorageGiB"]["Default"]) * 1024**3 / int(params["MaxWorkers"]["Default"])
    assert per_job >= 3 * Settings().max_filesize
    assert int(params["WorkerStorageGiB"]["MaxValue"]) <= 200  # Fargate's limit


def test_template_worker_and_cleanup_may_send_jobs_afresh(translated):  # noqa: F811
    roles = _resources_of(translated, "AWS::IAM::Role")
    for role in ("WorkerTaskRole", "CleanupRole"):
        statements = [s for p in roles[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert any("sqs:SendMessage" in s["Action"] and s["Resource"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]} for s in statements), role


def test_worker_health_check_follows_the_alive_file(tmp_path: Path):
    alive = tmp_path / "alive"
    assert not is_healthy(alive)
    alive.touch()
    assert is_healthy(alive)
    old = time.time() - 600
    os.utime(alive, (old, old))
    assert not is_healthy(alive)


def test_metrics_are_one_embedded_metric_format_line():
    out = io.StringIO()
    metrics.emit({"TasksRemoved": 2, "CleanupErrors": 0}, "prod", out=out)
    record = json.loads(out.getvalue())
    spec = record["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "YtdlpHost" and spec["Dimensions"] == [["Stack"]]
    assert {m["Name"] for m in spec["Metrics"]} == {"TasksRemoved", "CleanupErrors"}
    assert record["Stack"] == "prod" and record["TasksRemoved"] == 2
    metrics.emit({}, "prod", out=out)
    assert out.getvalue().count("\n") == 1


def test_cleanup_pass_emits_its_counts_as_metrics(aws, capsys):
    from functions.cleanup.handler import build_service, run_once

    run_once(build_service(aws.settings, aws.clients), "prod")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert lines and lines[-1]["CleanupErrors"] == 0 and "DeadJobsRedriven" in lines[-1]


def test_api_logs_are_json_lines_with_task_id_and_key_name(aws):
    # GIVEN the API with its JSON log handler, and a job queue that fails
    from tests.support.api import build_api
    from tests.support.faults import Faults, single_attempt_clients

    clients = single_attempt_clients(aws.settings)
    api = build_api(aws, clients=clients)
    key = api.make_key("logger-app", ["get_info"])
    Faults(clients).fail("sqs", "server-error")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("api"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        # WHEN a submission cannot be queued (503)
        answer = api.client.post("/get_info", json={"url": "https://m.example.com/v"}, headers={"X-API-Key": key})
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert answer.status_code == 503
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # THEN every line of that request is JSON naming the task and the key (by name, never the key itself)
    failure = [line for line in lines if line["message"].startswith("dependency failure")]
    assert failure and failure[0]["key_name"] == "logger-app" and len(failure[0]["task_id"]) == 16
    assert all(line["component"] == "api" for line in lines)
    assert all(key not in json.dumps(line) for line in lines)
