"""``gazecxr serve``: the local web viewer and HTTP API."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import click

from gazecxr.anatomy.cli import anatomy_model_option
from gazecxr.errors import InputError
from gazecxr.viewer.app import DEFAULT_MAX_UPLOAD_MB

log = logging.getLogger("gazecxr.viewer")


@click.command("serve")
@click.option(
    "--run",
    "run_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Trained run directory (from `gazecxr train` or `gazecxr demo`).",
)
@click.option(
    "--data",
    "data_root",
    type=click.Path(path_type=Path),
    default=None,
    help="Dataset root whose studies can be picked in the page (with gaze and reference report).",
)
@click.option("--split", default="test", show_default=True, help="Split of --data offered in the page.")
@click.option(
    "--max-studies",
    default=50,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="At most this many studies of --data are listed.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind. The default is local-only; anything else exposes the viewer to the "
    "network (then use --token). Requests must name this host or a loopback name.",
)
@click.option(
    "--token",
    default=None,
    envvar="GAZECXR_VIEWER_TOKEN",
    help="Access token every request must carry (Authorization: Bearer, or open /?token=...). "
    "Default: $GAZECXR_VIEWER_TOKEN; none.",
)
@click.option(
    "--max-pixels",
    default=None,
    type=click.IntRange(1),
    help="Refuse images declaring more pixels, from their header (default: the run's data.max_image_pixels).",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--writer",
    type=click.Choice(["template", "llm"]),
    default=None,
    help="Report writer (default: the run's config; llm needs an OpenAI-compatible server).",
)
@click.option(
    "--max-upload-mb",
    default=DEFAULT_MAX_UPLOAD_MB,
    show_default=True,
    type=click.FloatRange(0.1, 1024),
    help="Uploads larger than this are refused (HTTP 413).",
)
@anatomy_model_option
def serve(
    run_dir: Path,
    data_root: Path | None,
    split: str,
    max_studies: int,
    host: str,
    port: int,
    writer: str | None,
    max_upload_mb: float,
    token: str | None,
    max_pixels: int | None,
    anatomy_model: Path | None,
) -> None:
    """Local web viewer: upload a radiograph or pick a cohort study and see findings, attention,
    gaze, regions and the report. HTTP API: GET /api/health, POST /api/analyze (field `file`)."""
    from gazecxr.openmp import prefer_passive_openmp_wait

    prefer_passive_openmp_wait()
    if token is not None and not token.strip():
        raise InputError("--token (or $GAZECXR_VIEWER_TOKEN) is empty: give a non-empty token, or none")
    sock = bind(host, port)  # first: a busy port is one line before anything is loaded

    from gazecxr.viewer.analyzer import RunAnalyzer
    from gazecxr.viewer.app import RESEARCH_NOTE, SYNTHETIC_NOTE, create_app
    from gazecxr.viewer.cohort import load_cohort
    from gazecxr.viewer.security import is_loopback

    analyzer = RunAnalyzer(run_dir, writer=writer, anatomy_model=anatomy_model)  # one line, exit 2
    if max_pixels is not None:
        analyzer.predictor.max_pixels = max_pixels
    studies = None
    if data_root is not None:
        if not data_root.is_dir():
            raise click.ClickException(f"--data {data_root}: no such directory")
        studies = load_cohort(run_dir, data_root, split=split, limit=max_studies)
        log.info("%d %s studies of %s available in the page", len(studies), split, data_root)
    if not is_loopback(host):
        click.echo(
            f"WARNING: binding {host} exposes the viewer (radiographs you upload, the model) to the "
            "network"
            + (
                "; every request needs the token"
                if token
                else "; anyone who can reach it can use it (set --token)"
            ),
            err=True,
        )
    note = SYNTHETIC_NOTE if analyzer.trained_on_synthetic else RESEARCH_NOTE
    app = create_app(
        analyzer, studies=studies, max_upload_mb=max_upload_mb, note=note, allowed_hosts=(host,), token=token
    )
    query = "?token=<your token>" if token else ""
    bound = sock.getsockname()[1]  # the port asked for, or the one --port 0 was given
    netloc = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
    click.echo(f"GazeCXR viewer for {run_dir} at http://{netloc}/{query} (Ctrl+C to stop)")
    run_server(app, sock)


def run_server(app: object, sock: socket.socket) -> None:
    """Serve ``app`` on the already listening ``sock`` until interrupted."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: any free one), bound before the
    viewer announces its address; InputError naming the address when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT, not a busy one
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InputError(
            f"{host}:{port}: cannot listen there ({exc.strerror or exc}); choose another --port "
            "or stop the program that holds it"
        ) from None
    sock.set_inheritable(True)
    return sock
