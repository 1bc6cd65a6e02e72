"""`heron import`, `heron export` and `heron series`: data tools over HTTP, built on heron-client.

They talk to any heron (or Braze) URL with a REST API key, so they need no database access:
`--url` (env `HERON_URL`, default `http://127.0.0.1:8080`) and `--api-key` (env
`HERON_API_KEY`). `register(main)` adds them to the `heron` command.
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import click

from heron.runtime import tune_gc

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])
EXPORTS = ("events", "campaigns", "segments")


def _connection(function: F) -> F:
    """The `--url` and `--api-key` options."""
    function = click.option(
        "--api-key",
        envvar="HERON_API_KEY",
        required=True,
        help="REST API key (env HERON_API_KEY).",
    )(function)
    return click.option(
        "--url",
        envvar="HERON_URL",
        default="http://127.0.0.1:8080",
        show_default=True,
        help="heron's URL or a Braze REST endpoint (env HERON_URL).",
    )(function)


def _require_client() -> None:
    """Fail with an install hint when heron-client (its own distribution) is missing."""
    if importlib.util.find_spec("heron_client") is None:
        raise click.ClickException(
            "this command needs heron-client: pip install -e clients/python (see docs/client.md)"
        )


def _run(coroutine: Any) -> Any:
    """Run a coroutine on uvloop when it is installed (faster), else on asyncio's loop.

    The cyclic GC is tuned as the server's is (`heron.runtime.tune_gc`): with CPython's
    default thresholds it took about a quarter of `heron import`'s CPU (docs/performance.md).
    """
    tune_gc()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_connection
@click.option(
    "--kind",
    type=click.Choice(["auto", "events", "purchases", "attributes"]),
    default="auto",
    show_default=True,
    help="What each record is; auto: product_id -> purchase, name+time -> event, else attributes.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "ndjson", "csv"]),
    default="auto",
    show_default=True,
    help="auto: csv for *.csv, NDJSON otherwise.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=32, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 75), default=75, show_default=True)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Checkpoint file [default: FILE.heron-import].",
)
@click.option("--restart", is_flag=True, help="Ignore the checkpoint and import from the start.")
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every refused record (line, array, reason) to this NDJSON file.",
)
@click.option("--max-retries", type=click.IntRange(0, 100), default=8, show_default=True)
@click.option(
    "--httpx-transport",
    is_flag=True,
    help="Send through httpx's own transport (honours HTTP(S)_PROXY; uses more CPU).",
)
def import_command(
    file: Path,
    url: str,
    api_key: str,
    kind: str,
    file_format: str,
    concurrency: int,
    batch_size: int,
    checkpoint_path: Path | None,
    restart: bool,
    errors_path: Path | None,
    max_retries: int,
    httpx_transport: bool,
) -> None:
    """Import events, purchases or attributes from an NDJSON or CSV FILE through /users/track.

    Resumable: a re-run continues after the last acknowledged batch, and batches that were in
    flight are re-sent with the same Idempotency-Key, which heron never stores twice.
    """
    from heron.tools import readers
    from heron.tools.checkpoint import CheckpointMismatch
    from heron.tools.importer import ImportFailed, ImportOptions, ImportResult, run_import

    _require_client()
    from heron_client import RetryPolicy

    fmt = readers.detect_format(file) if file_format == "auto" else file_format
    options = ImportOptions(
        path=file,
        base_url=url,
        api_key=api_key,
        file_format="csv" if fmt == "csv" else "ndjson",
        kind=cast(readers.Kind, kind),
        batch_size=batch_size,
        concurrency=concurrency,
        checkpoint_path=checkpoint_path,
        restart=restart,
        retry=RetryPolicy(max_retries=max_retries),
        lean_transport=not httpx_transport,
    )
    started = time.monotonic()
    size = file.stat().st_size
    failed: ImportFailed | None = None
    with click.progressbar(
        length=size, label=f"importing {file.name}", file=sys.stderr, show_pos=False
    ) as bar:

        def progress(moved: int, counts: dict[str, int]) -> None:
            """Advance the bar by the bytes of the acknowledged batch."""
            bar.update(moved)

        try:
            result: ImportResult = _run(run_import(options, progress))
        except CheckpointMismatch as exc:
            raise click.ClickException(str(exc)) from None
        except ImportFailed as exc:
            failed, result = exc, exc.result
        except KeyboardInterrupt:
            raise click.ClickException(
                "interrupted; the checkpoint is saved: re-run the same command to resume"
            ) from None
    elapsed = max(time.monotonic() - started, 1e-9)
    sent = result.counted_now
    click.echo(
        f"processed {result.counts['events']} events, {result.counts['purchases']} purchases,"
        f" {result.counts['attributes']} attributes objects; {len(result.errors)} refused"
        f" ({result.sent_batches} requests in {elapsed:.1f} s,"
        f" {sent / elapsed if result.sent_batches else 0:,.0f} objects/s"
        + (f"; resumed at record {result.resumed_from}" if result.resumed_from else "")
        + ")",
        err=True,
    )
    for error in result.errors[:10]:
        click.echo(f"  line {error.line} ({error.input_array or '-'}): {error.message}", err=True)
    if errors_path is not None:
        with errors_path.open("w") as stream:
            for error in result.errors:
                stream.write(
                    json.dumps(
                        {
                            "line": error.line,
                            "input_array": error.input_array,
                            "error": error.message,
                        }
                    )
                    + "\n"
                )
    if failed is not None:
        raise click.ClickException(f"{failed}; re-run the same command to resume")


@click.command("export")
@click.argument("what", type=click.Choice(EXPORTS))
@_connection
@click.option("--format", "out_format", type=click.Choice(["json", "csv"]), default="json")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout."
)
def export_command(what: str, url: str, api_key: str, out_format: str, output: Path | None) -> None:
    """Export every custom event, campaign or segment (all pages) as JSON or CSV."""
    _require_client()
    from heron_client import Braze, HeronClientError

    with Braze(api_key, url) as braze:
        source: Iterator[Any]
        if what == "events":
            source = braze.iter_events()
        elif what == "campaigns":
            source = braze.iter_campaigns()
        else:
            source = braze.iter_segments()
        stream = output.open("w", newline="") if output else sys.stdout
        try:
            with click.progressbar(
                source, label=f"exporting {what}", file=sys.stderr, length=None
            ) as items:
                count = _write(items, stream, out_format)
        except HeronClientError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            if output:
                stream.close()
    click.echo(f"exported {count} {what}", err=True)


def _write(items: Iterator[Any], stream: IO[str], out_format: str) -> int:
    """Write items as a JSON array or as CSV (lists and objects as JSON cells); the count."""
    count = 0
    if out_format == "json":
        stream.write("[")
        for item in items:
            stream.write(("," if count else "") + "\n" + json.dumps(item, ensure_ascii=False))
            count += 1
        stream.write("\n]\n" if count else "]\n")
        return count
    writer: Any = None
    for item in items:
        if writer is None:
            writer = csv.DictWriter(stream, fieldnames=list(item), extrasaction="ignore")
            writer.writeheader()
        writer.writerow({k: _csv_cell(v) for k, v in item.items()})
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    """A CSV cell: lists and objects as JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


@click.command("series")
@click.argument("event")
@_connection
@click.option("--length", type=click.IntRange(1, 100), default=30, show_default=True)
@click.option("--unit", type=click.Choice(["day", "hour"]), default="day", show_default=True)
@click.option("--ending-at", help="ISO 8601 date-time of the last point (default: now).")
@click.option("--app-id", help="Only this app's occurrences.")
@click.option("--width", type=click.IntRange(10, 400), default=50, show_default=True)
def series_command(
    event: str,
    url: str,
    api_key: str,
    length: int,
    unit: str,
    ending_at: str | None,
    app_id: str | None,
    width: int,
) -> None:
    """Chart the /events/data_series of EVENT in the terminal."""
    _require_client()
    from heron_client import Braze, HeronClientError

    with Braze(api_key, url) as braze:
        try:
            points = braze.events_data_series(
                event,
                length,
                unit="hour" if unit == "hour" else "day",
                ending_at=ending_at,
                app_id=app_id,
            )
        except HeronClientError as exc:
            raise click.ClickException(str(exc)) from None
    for line in chart([(p["time"], p["count"]) for p in points], width):
        click.echo(line)


def chart(points: list[tuple[str, int]], width: int) -> list[str]:
    """Horizontal bars, one line per point: label, bar scaled to the largest count, count."""
    if not points:
        return ["(no data)"]
    top = max(count for _, count in points)
    label_width = max(len(label) for label, _ in points)
    lines = []
    for label, count in points:
        eighths = round(count / top * width * 8) if top else 0
        bar = "█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")
        lines.append(f"{label.ljust(label_width)} │{click.style(bar, fg='cyan')} {count:,}")
    total = sum(count for _, count in points)
    lines.append(f"{'total'.ljust(label_width)} │ {total:,} (max {top:,})")
    return lines


def register(main: click.Group) -> None:
    """Add the data tools to the `heron` command."""
    for command in (import_command, export_command, series_command):
        main.add_command(command)
