"""The local web viewer: a FastAPI app around an injectable :class:`Analyzer`.

Endpoints:

- ``GET /`` the single-page viewer (``static/index.html``);
- ``GET /api/health`` liveness and what is loaded;
- ``POST /api/analyze`` multipart field ``file`` (JPG / PNG / DICOM) -> analysis JSON;
- ``GET /api/studies`` and ``POST /api/studies/{study_id}/analyze`` when a cohort is attached:
  the same JSON plus the radiologist gaze overlay and the reference report.

Every error is a JSON body ``{"error": message}`` with a 4xx status; an unexpected failure is a 500
with a one-line message (the trace goes to the server log, never to the client).

Safety against other origins (:mod:`gazecxr.viewer.security`): requests whose ``Host`` is not
allowed (loopback names plus the ``--host`` given) are refused (DNS rebinding), state-changing
requests from another ``Origin`` are refused (CSRF), every response carries a
Content-Security-Policy, ``nosniff``, ``frame-ancestors 'none'`` and ``Referrer-Policy``, an
optional access token guards everything, and no response holds a server path.
"""

from __future__ import annotations

import logging
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from gazecxr.data.images import ImageReadError
from gazecxr.prediction import Prediction
from gazecxr.report.overlay import GAZE_CMAP, data_url, heatmap_rgba, png_bytes, radiograph_uint8
from gazecxr.report.regions import findings_by_region
from gazecxr.viewer import security
from gazecxr.viewer.analyzer import Analysis, Analyzer
from gazecxr.viewer.cohort import CohortStudy, StudySource
from gazecxr.viewer.uploads import ACCEPTED, BodyLimit, DecodeSlots, UploadError, decode_upload

log = logging.getLogger("gazecxr.viewer")

DEFAULT_MAX_UPLOAD_MB = 32.0
DISPLAY_MAX_SIDE = 768  # the radiograph is sent back downscaled for display only
RESEARCH_NOTE = "Research prototype, not a medical device."
SYNTHETIC_NOTE = (
    f"{RESEARCH_NOTE} This model was trained on the synthetic cohort: it demonstrates the mechanism "
    "only and says nothing about real radiographs."
)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def analysis_json(
    analysis: Analysis, image: np.ndarray, source: str, gaze: np.ndarray | None = None
) -> dict[str, Any]:
    """The API answer for one analysed image (also what the page's JSON download contains)."""
    pred = analysis.prediction
    display = radiograph_uint8(image, DISPLAY_MAX_SIDE)
    size = display.shape
    placed = {
        str(f["name"]): list(f.get("regions", []) or []) for f in analysis.report.get("findings", []) or []
    }
    findings = sorted(
        (
            {
                "label": n,
                "probability": float(p),
                "threshold": float(t),
                "positive": bool(p >= t),
                "regions": placed.get(n, []),  # where the report placed this finding
            }
            for n, p, t in zip(pred.labels, pred.probabilities, pred.thresholds, strict=True)
        ),
        key=lambda f: -f["probability"],
    )
    # One map per label (the default CNN head): each finding's own attention, for the page's toggle.
    per_label = (
        {}
        if pred.class_attention is None
        else {
            n: data_url(png_bytes(heatmap_rgba(np.asarray(m, dtype=np.float64), size)))
            for n, m in zip(pred.labels, pred.class_attention, strict=True)
        }
    )
    attention = np.asarray(pred.attention, dtype=np.float64)
    out = {
        "id": uuid.uuid4().hex,
        "source": source,
        **pred.to_dict(),
        "findings": findings,
        "regions": region_list(pred, analysis.report),
        "report": {"text": analysis.report_text, **analysis.report},
        "attention": {"shape": list(attention.shape), "grid": np.round(attention, 6).tolist()},
        "overlays": {
            "image": data_url(png_bytes(display)),
            "attention": data_url(png_bytes(heatmap_rgba(attention, size))),
            "attention_per_label": per_label,
            "gaze": None
            if gaze is None or not np.any(gaze > 0)
            else data_url(png_bytes(heatmap_rgba(gaze, size, GAZE_CMAP))),
        },
    }
    return out


def region_list(pred: Prediction, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Anatomy boxes with the findings the report placed in each, their attention mass, and where
    each box came from (``source``: "dataset", "model", "lung-anchored", "atlas"; ``confidence``)."""
    placed = findings_by_region(report)
    mass = report.get("region_mass", {}) or {}
    anatomy = pred.anatomy
    return [
        {
            "name": name,
            "box": [float(v) for v in box],
            "findings": placed.get(name, []),
            "attention_mass": None if name not in mass else float(mass[name]),
            "source": anatomy.sources.get(name, anatomy.source),
            "confidence": None
            if name not in anatomy.confidence
            else round(float(anatomy.confidence[name]), 4),
        }
        for name, box in anatomy.boxes.items()
    ]


def create_app(
    analyzer: Analyzer,
    studies: StudySource | None = None,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    note: str = RESEARCH_NOTE,
    allowed_hosts: tuple[str, ...] = security.LOOPBACK_HOSTS,
    token: str | None = None,
    decode_slots: int = 2,
) -> FastAPI:
    """Build the viewer app.

    Args:
        analyzer: what runs on each image (:class:`gazecxr.viewer.analyzer.RunAnalyzer` for a run).
        studies: optional cohort whose studies can be picked in the page (with gaze and reference).
        max_upload_mb: uploads larger than this are refused with 413 before decoding.
        note: disclaimer shown in the page.
        allowed_hosts: host names a request's ``Host`` (and a state-changing request's
            ``Origin``) may name; anything else is refused.
        token: when set, every request needs it (``Authorization: Bearer``, or the cookie the page
            gets from ``/?token=...``).
        decode_slots: uploads decoded at the same time (memory bound under parallel uploads).
    """
    max_bytes = int(max_upload_mb * 1024 * 1024)
    slots = DecodeSlots(decode_slots)
    app = FastAPI(title="GazeCXR viewer", docs_url=None, redoc_url=None, openapi_url=None)
    static = files("gazecxr.viewer") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "request" for e in exc.errors())
        return JSONResponse(
            {
                "error": f"invalid request: missing or malformed {fields} "
                f"(send the image as multipart field 'file')"
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while serving %s", request.url.path, exc_info=exc)
        return JSONResponse(
            {"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500
        )

    guard = security.RequestGuard(allowed_hosts, token)

    @app.middleware("http")
    async def _guard(request: Request, call_next):  # noqa: ANN202 - starlette signature
        refusal = guard.refusal(request)
        if refusal is None:
            # Refuse before the multipart parser spools the body to disk.
            length = request.headers.get("content-length")
            if (
                request.method == "POST"
                and length
                and length.isdigit()
                and int(length) > max_bytes + 64 * 1024
            ):
                refusal = (
                    413,
                    f"upload too large ({int(length) / 2**20:.1f} MiB); the limit is {max_upload_mb:g} MiB",
                )
        if refusal is not None:
            response = JSONResponse({"error": refusal[1]}, status_code=refusal[0])
        else:
            try:
                response = await call_next(request)
            except Exception as exc:  # answered here, inside the guard, so a 500 has the headers too
                response = _unexpected(request, exc)
        guard.decorate(request, response)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "run": analyzer.name,
            "writer": analyzer.writer,
            "studies": 0 if studies is None else len(studies),
            "max_upload_mb": max_upload_mb,
            "accepted": ACCEPTED,
            "note": note,
        }

    @app.post("/api/analyze")
    def analyze(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI idiom
        # A sync endpoint runs in the thread pool: each request has its own locals, so parallel
        # uploads cannot mix; the analyzer serialises whatever shared state it has.
        data = file.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ApiError(413, f"{file.filename}: upload too large; the limit is {max_upload_mb:g} MiB")
        name = Path(file.filename or "upload").name  # the client's name, without any folders
        try:
            radiograph = decode_upload(data, name, analyzer.read, slots)
        except UploadError as exc:
            raise ApiError(exc.status, str(exc)) from None
        result = analyzer.analyze(radiograph)
        return analysis_json(result, radiograph.display, source=name)

    @app.get("/api/studies")
    def list_studies() -> dict[str, Any]:
        return {"studies": [] if studies is None else [s.summary() for s in studies.studies()]}

    @app.post("/api/studies/{study_id}/analyze")
    def analyze_study(study_id: str) -> dict[str, Any]:
        if studies is None:
            raise ApiError(404, "no cohort attached to this viewer (start it with --data ROOT)")
        study: CohortStudy | None = studies.get(study_id)
        if study is None:
            raise ApiError(404, f"unknown study {study_id!r}")
        try:
            with slots:
                radiograph = study.radiograph(analyzer.read)
        except ImageReadError as exc:
            raise ApiError(422, f"study {study_id}: cannot read its image ({exc.reason})") from None
        except UploadError as exc:
            raise ApiError(exc.status, str(exc)) from None
        result = analyzer.analyze(radiograph, anatomy_boxes=study.anatomy_boxes)
        out = analysis_json(result, radiograph.display, source=study.study_id, gaze=study.gaze)
        out["study"] = study.summary() | {"reference_report": study.reference_report}
        return out

    # Outermost of ours: counts every request body as it arrives (declared length or not).
    app.add_middleware(
        BodyLimit,
        max_bytes=max_bytes + 64 * 1024,  # room for the multipart framing around the file
        headers=security.HEADERS,
        message=f"upload too large (refused while it arrived); the limit is {max_upload_mb:g} MiB",
    )
    return app
