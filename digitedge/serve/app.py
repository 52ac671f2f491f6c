"""The FastAPI app of one worker: the API, the camera page, and JSON errors for everything that goes wrong.

    POST /v1/classify   image (raw body or multipart 'file') -> the record of `classify --format json` + width,
                        height, timing
    GET  /v1/model      the model's file, sha256, labels and metadata
    GET  /healthz       liveness and this worker's queue
    GET  /              the camera page;  /docs: the API reference, from /openapi.json
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from importlib import resources

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from .. import __version__
from .config import ServeConfig
from .inference import ApiError, Engine
from .middleware import BodyLimit, BodyTooLarge, SecurityHeaders

STATIC = resources.files("digitedge.serve") / "static"
RAW_TYPES = ("image/", "application/octet-stream")
FILE_FIELDS = ("file", "image")


# ------------------------------------------------------------ documented shapes (OpenAPI only, not validated)
class DigitOut(BaseModel):
    label: int
    confidence: float
    box: list[int]  # x, y, w, h in the image
    line: int  # reading line, 0 = top
    top_k: list[list[float]]


class RecordOut(BaseModel):
    """`Result.record()` (runtime/pipeline.py), described for OpenAPI; a test checks the two keep the same fields."""
    path: str  # the multipart part's file name; "" for a raw body
    frame: int  # 0: an upload is a still image
    time: float  # 0.0, likewise
    text: str  # digits in reading order, lines joined by "\n"
    raw: str  # the same as text for a still image
    digits: list[DigitOut]


class Timing(BaseModel):
    queue_ms: float
    decode_ms: float
    classify_ms: float


class ReadingOut(RecordOut):
    width: int
    height: int
    timing: Timing


class ErrorOut(BaseModel):
    error: str


def errors(*codes: int) -> dict:
    why = {400: "empty, truncated or not an image; malformed form", 401: "missing or wrong bearer token",
           408: "the body did not arrive within --timeout", 413: "body over --max-body-mb or image over --max-pixels",
           415: "a Content-Type other than image/*, application/octet-stream or multipart/form-data",
           422: "an image the digit finder cannot read", 503: "queue full or --timeout passed; see Retry-After"}
    return {c: {"model": ErrorOut, "description": why[c]} for c in codes}


BINARY = {"schema": {"type": "string", "format": "binary"}}
CLASSIFY_BODY = {"requestBody": {"required": True, "content": {
    "image/jpeg": BINARY, "image/png": BINARY, "application/octet-stream": BINARY,
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


# ------------------------------------------------------------ the app
def create_app(cfg: ServeConfig, engine: Engine) -> FastAPI:
    app = FastAPI(title="digitedge", version=__version__, docs_url=None, redoc_url=None,
                  description="Read handwritten digits off images. Errors are `{\"error\": \"...\"}` with a 4xx "
                              "status, or 503 with Retry-After when busy.")
    app.add_middleware(BodyLimit, limit=cfg.max_body)
    app.add_middleware(SecurityHeaders)  # added last = outermost: the 413s above get the headers too
    add_error_handlers(app)
    guard = [Depends(bearer_check(cfg.token))] if cfg.token else []

    @app.post("/v1/classify", dependencies=guard, openapi_extra=CLASSIFY_BODY,
              responses={200: {"model": ReadingOut}, **errors(400, 401, 408, 413, 415, 422, 503)},
              summary="Read the digits on one image")
    async def classify(request: Request):
        """The image as the raw body (`Content-Type: image/jpeg`, `image/png`, … or `application/octet-stream`)
        or as a multipart form field `file`. The answer is the record of `digitedge classify --format json`
        (`path`: the uploaded file's name, `frame`, `time`, `text`, `raw`, `digits`) with the image size and
        server timings."""
        deadline = asyncio.get_running_loop().time() + cfg.timeout
        engine.admit()
        try:
            data, name = await receive_image(request, deadline, cfg.timeout)
            return JSONResponse(await engine.read(data, name, deadline))
        finally:
            engine.release()

    @app.get("/v1/model", dependencies=guard, responses=errors(401), summary="The model being served")
    async def model():
        return engine.model_info

    @app.get("/healthz", summary="Liveness, and this worker's queue")
    async def healthz():
        return {"status": "ok", "queue": engine.admitted, "queue_limit": cfg.queue}

    app.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)  # for probes that use HEAD

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def bearer_check(token: str):
    # Digests of equal length, compared in constant time: neither the token's content nor its length leaks.
    expected = hashlib.sha256(token.encode()).digest()
    scheme = HTTPBearer(auto_error=False, description="the --token given to `digitedge serve`")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(scheme)):
        given = credentials.credentials.encode("latin-1") if credentials else b""
        if not hmac.compare_digest(hashlib.sha256(given).digest(), expected):
            raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                           {"WWW-Authenticate": "Bearer"})

    return check


async def receive_image(request: Request, deadline: float, timeout: float) -> tuple[bytes, str]:
    """The image bytes of a raw or multipart body and its name (the part's file name, "" for a raw body); 408 if the
    body is slower than the deadline."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = media == "multipart/form-data"
    if not multipart and not media.startswith(RAW_TYPES):
        raise ApiError(415, f"Content-Type {media or '(none)'} is not accepted: send the image with "
                            "Content-Type image/jpeg, image/png, ... or application/octet-stream, "
                            "or as a multipart/form-data field 'file'")
    loop = asyncio.get_running_loop()
    try:
        body = await asyncio.wait_for(request.body(), max(0.0, deadline - loop.time()))
    except TimeoutError:
        raise ApiError(408, f"request body not received within --timeout {timeout:g} s") from None
    name = ""
    if multipart and body:
        body, name = await form_file(request)
    if not body:
        raise ApiError(400, "empty body: send the image bytes")
    return body, name


async def form_file(request: Request) -> tuple[bytes, str]:
    """The one file of a multipart form (field 'file' or 'image', else the only file part), and its file name."""
    form = await request.form(max_files=1, max_fields=16)  # the body is already in memory and within the limit
    try:
        files = {k: v for k, v in form.multi_items() if isinstance(v, UploadFile)}
        part = next((files[k] for k in FILE_FIELDS if k in files), None) or next(iter(files.values()), None)
        if part is None:
            raise ApiError(400, "multipart form without a file: send the image in a field named 'file'")
        return await part.read(), part.filename or ""
    finally:
        await form.close()


def error_response(request: Request, status: int, message: str, headers: dict | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if request.method == "POST":  # the body may be unread: close rather than parse its rest as a new request
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return error_response(request, e.status, e.message, e.headers)

    @app.exception_handler(ClientDisconnect)  # the client left mid-upload: nobody to answer, nothing to log
    async def gone(request: Request, e: ClientDisconnect):
        return error_response(request, 400, "the client disconnected before sending the whole body")

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, e: BodyTooLarge):
        return error_response(request, 413, str(e))

    @app.exception_handler(HTTPException)  # 404, 405, and Starlette's 400 for a malformed multipart body
    async def http_error(request: Request, e: HTTPException):
        message = e.detail if e.status_code != 404 else f"no such path: {request.url.path}"
        return error_response(request, e.status_code, str(message), getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = (e.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(request, 422, f"{where}: {first.get('msg', 'invalid request')}")
