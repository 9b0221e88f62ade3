"""Playlist tasks in the tasks table: the entry list on the playlist's own item, one internal item per entry.

The playlist item keeps each entry's public state as `entry_<index>` (JSON), the counters `total`, `ok`,
`failed`, and the string set `done_entries` of the indices that ended. An entry's end is recorded with one
conditional update (the index is added to `done_entries` only if absent), so a redelivered job never counts twice;
the update returns the counters, and whoever sees `remaining == 0` settles the playlist, again with a
conditional write (the local DynamoDB has no transactions). Entry items are ordinary tasks (lease, attempts,
retries) with the id `<playlist id>-<index>`, which /status refuses: they are internal.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from shared.aws import AWS_ERRORS, is_condition_failure
from shared.models import TaskStatus
from shared.stores import applied, unavailable_on_failure

ENTRY_PREFIX = "entry_"
PHASE_ENTRIES = "entries"
PHASE_ZIP = "zip"
ZIP_NAME = "playlist.zip"


def now_iso() -> str:
    """The current time as the original API shows it (ISO 8601)."""
    return datetime.now(timezone.utc).isoformat()


def entry_task_id(playlist_id: str, index: int) -> str:
    return f"{playlist_id}-{index:05d}"


class PlaylistStore:
    """The playlist-specific writes on the tasks table."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self._table = table

    def set_entries(self, playlist_id: str, holder: str, entries: list[dict[str, Any]], truncated: bool, playlist_count: int | None) -> bool:
        """Write the expanded entry list (all waiting) once, while `holder` holds the playlist; False if not."""
        values: dict[str, Any] = {
            ":w": {"S": holder},
            ":phase": {"S": PHASE_ENTRIES},
            ":total": {"N": str(len(entries))},
            ":zero": {"N": "0"},
            ":cut": {"BOOL": truncated},
        }
        sets = ["phase = :phase", "#total = :total", "remaining = :total", "ok = :zero", "failed = :zero", "truncated = :cut"]
        if playlist_count is not None:
            sets.append("playlist_count = :count")
            values[":count"] = {"N": str(int(playlist_count))}
        names = {"#total": "total"}
        for n, entry in enumerate(entries):
            names[f"#e{n}"] = ENTRY_PREFIX + str(entry["index"])
            values[f":e{n}"] = {"S": json.dumps(entry)}
            sets.append(f"#e{n} = :e{n}")
        return self._update(playlist_id, "SET " + ", ".join(sets), "lease_owner = :w AND attribute_not_exists(phase)", values, names)

    def mark_entry(self, playlist_id: str, entry: dict[str, Any]) -> bool:
        """Show an entry's state (processing) unless it has already ended."""
        index = str(entry["index"])
        return self._update(
            playlist_id,
            "SET #e = :e",
            "attribute_exists(task_id) AND (attribute_not_exists(done_entries) OR NOT contains(done_entries, :i))",
            {":e": {"S": json.dumps(entry)}, ":i": {"S": index}},
            {"#e": ENTRY_PREFIX + index},
        )

    def end_entry(self, playlist_id: str, entry: dict[str, Any], ok: bool) -> dict[str, Any] | None:
        """Record an entry's end once; returns the playlist's counters after it, None when it was already recorded."""
        index = str(entry["index"])
        counter = "ok" if ok else "failed"
        with unavailable_on_failure("The task store"):
            try:
                attrs = self._db.update_item(
                    TableName=self._table,
                    Key={"task_id": {"S": playlist_id}},
                    UpdateExpression=f"SET #e = :e ADD {counter} :one, remaining :minus, done_entries :iset",
                    ConditionExpression="attribute_exists(task_id) AND (attribute_not_exists(done_entries) OR NOT contains(done_entries, :i))",
                    ExpressionAttributeNames={"#e": ENTRY_PREFIX + index},
                    ExpressionAttributeValues={":e": {"S": json.dumps(entry)}, ":one": {"N": "1"}, ":minus": {"N": "-1"}, ":iset": {"SS": [index]}, ":i": {"S": index}},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            except AWS_ERRORS as err:
                if is_condition_failure(err):
                    return None
                raise
        return {name: int(attrs[name]["N"]) for name in ("total", "remaining", "ok", "failed") if name in attrs} | {"zip": _wants_zip(attrs)}

    def settle(self, playlist_id: str, ttl_seconds: int) -> str | None:
        """Finish a playlist whose entries have all ended: completed (one succeeded) or error; None when not ready
        or already settled. The playlist is completed without `file` (with zip, see `to_zip_phase`)."""
        now = time.time()
        for status in (TaskStatus.COMPLETED, TaskStatus.ERROR):
            condition = "#s = :processing AND remaining = :zero AND " + ("ok > :zero" if status is TaskStatus.COMPLETED else "ok = :zero")
            values = {
                ":status": {"S": status.value}, ":done": {"S": now_iso()}, ":exp": {"N": str(int(now + ttl_seconds))},
                ":gc": {"S": "1"}, ":processing": {"S": TaskStatus.PROCESSING.value}, ":zero": {"N": "0"},
            }
            update = "SET #s = :status, completed_time = :done, expires_at = :exp, gc = :gc"
            if status is TaskStatus.ERROR:
                update += ", #err = :err"
                values[":err"] = {"S": "every entry of the playlist failed"}
            if self._update(playlist_id, update + " REMOVE lease_owner, lease_until, progress", condition, values,
                            {"#s": "status", **({"#err": "error"} if status is TaskStatus.ERROR else {})}):
                return status.value
        return None

    def to_zip_phase(self, playlist_id: str) -> bool:
        """All entries ended, one at least succeeded, a zip was asked for: the playlist's own job builds it next."""
        return self._update(
            playlist_id,
            "SET phase = :zip, attempts = :zero",  # the archive's job gets its own attempts
            "#s = :processing AND remaining = :zero AND ok > :zero AND phase = :entries",
            {":zip": {"S": PHASE_ZIP}, ":entries": {"S": PHASE_ENTRIES}, ":processing": {"S": TaskStatus.PROCESSING.value}, ":zero": {"N": "0"}},
            {"#s": "status"},
        )

    def detach(self, playlist_id: str, holder: str) -> bool:
        """Drop `holder`'s lease and keep the playlist processing: its entries' jobs carry it on."""
        return self._update(
            playlist_id,
            "REMOVE lease_owner, lease_until, progress",
            "lease_owner = :w AND #s = :processing",
            {":w": {"S": holder}, ":processing": {"S": TaskStatus.PROCESSING.value}},
            {"#s": "status"},
        )

    def create_entry(self, playlist: dict[str, Any], entry: dict[str, Any], task_type: str, url: str, params: dict[str, Any], waiting_seconds: int) -> bool:
        """The entry's own (internal) task, waiting; False when it exists already (a re-run of the expansion)."""
        now = time.time()
        item = {
            "task_id": {"S": entry_task_id(playlist["task_id"], entry["index"])},
            "owner": {"S": playlist["owner"]},
            "status": {"S": TaskStatus.WAITING.value},
            "task_type": {"S": task_type},
            "url": {"S": url},
            "params": {"S": json.dumps(params)},
            "created_at": {"N": repr(now)},
            "attempts": {"N": "0"},
            "playlist_id": {"S": playlist["task_id"]},
            "entry": {"S": json.dumps(entry)},
            "expires_at": {"N": str(int(now + waiting_seconds))},
            "gc": {"S": "1"},
        }
        with unavailable_on_failure("The task store"):
            return applied(lambda: self._db.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(task_id)"))

    def delete_entries(self, playlist_id: str, indices: Iterable[int]) -> None:
        """Remove the entries' internal items (with the playlist itself, by the cleanup)."""
        with unavailable_on_failure("The task store"):
            for index in indices:
                self._db.delete_item(TableName=self._table, Key={"task_id": {"S": entry_task_id(playlist_id, index)}})

    def _update(self, task_id: str, update: str, condition: str, values: dict[str, Any], names: dict[str, str] | None = None) -> bool:
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        with unavailable_on_failure("The task store"):
            return applied(lambda: self._db.update_item(TableName=self._table, Key={"task_id": {"S": task_id}}, UpdateExpression=update,
                                                        ConditionExpression=condition, ExpressionAttributeValues=values, **kwargs))


def _wants_zip(attrs: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(attrs.get("params", {}).get("S", "{}")).get("zip"))
    except ValueError:
        return False


def entries_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The playlist's entries (from its decoded item), in index order."""
    found = [value for name, value in task.items() if name.startswith(ENTRY_PREFIX) and isinstance(value, dict)]
    return sorted(found, key=lambda e: int(e.get("index", 0)))


def playlist_view(task: dict[str, Any]) -> dict[str, Any]:
    """What /status adds for a playlist: entries, progress (total, completed, failed) and the cut, if any."""
    if task.get("task_type") != "get_playlist" or "total" not in task:
        return {}
    entries = [{k: e.get(k) for k in ("index", "title", "status", "file", "error")} for e in entries_of(task)]
    view: dict[str, Any] = {
        "entries": entries,
        "progress": {"total": int(task["total"]), "completed": int(task.get("ok") or 0), "failed": int(task.get("failed") or 0)},
    }
    if task.get("status") == TaskStatus.COMPLETED.value:
        zipped = [ZIP_NAME] if task.get("file_name") == ZIP_NAME else []
        view["files"] = zipped + [name for e in entries_of(task) if e.get("status") == TaskStatus.COMPLETED.value for name in e.get("files") or []]
    if task.get("truncated"):
        view["truncated"] = True
        if task.get("playlist_count") is not None:
            view["playlist_count"] = int(task["playlist_count"])
    return view


def sign_files(view: dict[str, Any], task: dict[str, Any], links: Any) -> None:
    """`files` and each playlist entry's `file` in a task's view as signed links (`links.path`), like `file`."""
    expires = int(task.get("expires_at") or 0)
    if "files" in view:
        view["files"] = [links.path(task["task_id"], name, expires) for name in view["files"]]
    for entry in view.get("entries") or []:
        if entry.get("file"):  # downloadable as soon as the entry is done
            entry["file"] = links.path(task["task_id"], entry["file"], expires)


def on_entry_ended(store: PlaylistStore, queue: Any, entry_task: dict[str, Any], ok: bool, ttl_seconds: int,
                   file_name: str | None = None, files: list[str] | None = None, error: str | None = None) -> str | None:
    """Record an entry's end in its playlist, then settle the playlist if it was the last one: completed, error, or
    (zip asked for) its own job queued again to build the archive. Returns what happened to the playlist, if anything."""
    playlist_id = entry_task["playlist_id"]
    state = {**(entry_task.get("entry") or {}), "status": TaskStatus.COMPLETED.value if ok else TaskStatus.ERROR.value}
    state.update({"file": file_name, "files": files or []} if ok else {"error": error or "failed"})
    counters = store.end_entry(playlist_id, state, ok)
    if counters is None or counters.get("remaining", 1) > 0:
        return None
    return settle_playlist(store, queue, playlist_id, counters, ttl_seconds)


def settle_playlist(store: PlaylistStore, queue: Any, playlist_id: str, counters: dict[str, Any], ttl_seconds: int) -> str | None:
    """Every entry has ended: queue the zip job, or finish the playlist."""
    if counters.get("zip") and counters.get("ok", 0) > 0 and queue is not None:
        if store.to_zip_phase(playlist_id):
            queue.send(playlist_id)
            return PHASE_ZIP
        return None
    return store.settle(playlist_id, ttl_seconds)
