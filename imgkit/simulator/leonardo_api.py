"""The Leonardo.Ai side of the simulator: create a generation, then poll it.

- ``POST /api/rest/v1/generations`` with ``prompt``, ``modelId``, ``width``, ``height``,
  ``num_images``, ``seed``, ``enhancePrompt`` answers ``{"sdGenerationJob": {"generationId",
  "apiCreditCost", "cost": {"amount", "unit"}}}``.
- ``POST /api/rest/v2/generations`` with ``{"model", "parameters": {"prompt", "width", "height",
  "quantity", "seed", "prompt_enhance"}}`` answers ``{"generate": {"generationId", "cost"}}``.
- ``GET /api/rest/v1/generations/{id}`` answers ``{"generations_by_pk": {"status": "PENDING" |
  "COMPLETE" | "FAILED", "generated_images": [{"id", "url", "nsfw"}], ...}}``; the job
  completes once the configured latency has passed since it started (latency 0: at once).
  Unknown ids give ``{"generations_by_pk": null}``, as the service's GraphQL layer does.

The model is named by its catalog name or Leonardo's model id; v2 also takes the partner models
it exists for (:data:`PARTNER_MODELS`, e.g. ``gpt-image-1.5`` per Leonardo's guide). Images are
JPEGs served from the simulator's temporary URLs. Errors are ``{"error", "path", "code"}``.

What can go wrong, as on the service: a blocked prompt (or the ``policy`` fault) is a 400 at
create time, from Leonardo's moderation filter; ``image_safety`` finishes the job with its
images flagged ``nsfw``; ``job_failed`` ends it ``FAILED``. Beyond a model's images per minute
(``rate_limits``) Leonardo queues rather than refusing: the job is accepted and stays PENDING
until its turn. A ``seed`` gives near-identical images (the seeded picture moved a very little
per call), not byte-identical ones: a simulator assumption about a diffusion service's seeds.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imgkit.catalog.models import ModelSpec, default_catalog
from imgkit.errors import ValidationError
from imgkit.simulator import drawing
from imgkit.simulator.pipeline import Refusal, VendorErrors, admit, in_thread
from imgkit.simulator.rewriting import revise_prompt
from imgkit.simulator.state import LeonardoJob, SimState

__all__ = ["PARTNER_MODELS", "create_v1", "create_v2", "poll"]

PROVIDER = "leonardo"
_DEFAULT_MODEL = "leonardo-phoenix"
# Simulator assumption: API credits per image, reported beside the dollar cost.
_CREDITS_PER_IMAGE = 8
#: Partner models the v2 endpoint serves: Leonardo's name -> the catalog model drawn and priced
#: (docs.leonardo.ai, "GPT Image-1.5" guide: ``"model": "gpt-image-1.5"`` on /v2/generations).
PARTNER_MODELS = {"gpt-image-1.5": "gpt-image-1.5"}


def error(
    status: int, message: str, *, code: str = "unexpected", headers: dict[str, str] | None = None
) -> JSONResponse:
    """A Leonardo-shaped error body."""
    return JSONResponse(
        {"error": f"{message} (imgkit simulator)", "path": "$", "code": code},
        status_code=status,
        headers=headers,
    )


def _rate_limited(retry_after: float, model: str, headers: dict[str, str]) -> Response:
    return error(
        429, f"Too many requests for {model}; slow down.", code="rate-limited", headers=headers
    )


def _server_error(status: int) -> Response:
    return error(status, "Internal server error" if status == 500 else "Service unavailable")


def _policy(reason: str) -> Response:
    return error(
        400,
        f"content moderation filter: the prompt was flagged ({reason})",
        code="content_moderation",
    )


def _gateway_timeout() -> Response:
    return error(504, "Gateway timeout")


ERRORS = VendorErrors(
    rate_limited=_rate_limited,
    server_error=_server_error,
    gateway_timeout=_gateway_timeout,
)


def check_auth(request: Request, state: SimState) -> Response | None:
    """401 unless ``Authorization: Bearer <anything>`` is sent."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    state.count_unauthorized()
    return error(
        401,
        "Invalid or missing API key: send Authorization: Bearer KEY (any value works here)",
        code="invalid-jwt",
    )


def _model_spec(name: Any) -> ModelSpec:
    catalog = default_catalog()
    name = name or _DEFAULT_MODEL
    for spec in catalog.values():
        if spec.provider == PROVIDER and name in (spec.name, spec.vendor_model_id):
            return spec
    leonardo = [s.name for s in catalog.values() if s.provider == PROVIDER]
    raise ValidationError("modelId", name, leonardo)


def _per_image_usd(spec: ModelSpec) -> float:
    table = spec.price.table
    for row in table.values():
        if "*" in row:
            return float(row["*"])
    return 0.0


async def _create(
    request: Request,
    *,
    model: Any,
    prompt: Any,
    width: Any,
    height: Any,
    count: Any,
    seed: Any,
    enhance: bool,
    names: dict[str, str],
    quality: Any = None,
    partners: bool = False,
) -> tuple[LeonardoJob, ModelSpec, int] | Response:
    """Validate, run the pipeline, draw the images; (job, model, images asked) or the error.

    ``partners``: the v2 endpoint, which also takes :data:`PARTNER_MODELS`.
    """
    from imgkit.catalog.validation import validate_request

    state: SimState = request.app.state.sim
    partner = PARTNER_MODELS.get(str(model)) if partners else None
    try:
        spec = default_catalog().get_model(partner) if partner else _model_spec(model)
        default_w, default_h = (int(x) for x in spec.default_size.split("x"))
        w = default_w if width is None else width
        h = default_h if height is None else height
        if not isinstance(w, int) or not isinstance(h, int) or isinstance(w, bool):
            raise ValidationError(names["size"], f"{w}x{h}", "integer width and height")
        req = validate_request(
            spec.name,
            prompt,
            backend="sim",
            size=f"{w}x{h}",
            n=1 if count is None else count,
            # A partner model takes the partner's quality and no seed of its own.
            quality=str(quality).lower() if partner and quality else None,
            seed=None if partner else seed,
        )
    except ValidationError as exc:
        state.count_invalid(PROVIDER, str(model or _DEFAULT_MODEL))
        param = names.get(exc.param, exc.param)
        return error(400, f"Invalid value for {param}: {exc}", code="invalid-params")
    outcome = await admit(
        request,
        state,
        provider=PROVIDER,
        model=spec.name,
        prompt=req.prompt,
        images=req.n,
        errors=ERRORS,
        apply_latency=False,
        rate_limit=False,  # Leonardo queues instead (below)
    )
    if isinstance(outcome, Response):
        return outcome
    if isinstance(outcome, Refusal) and outcome.kind in ("policy", "decline"):
        return _policy(outcome.reason)
    failed = isinstance(outcome, Refusal) and outcome.kind == "job_failed"
    # With a seed, image i is near-identical to any other image of (prompt, seed + i).
    variations = [
        state.variation(
            PROVIDER, spec.name, req.prompt, seed=None if req.seed is None else req.seed + i
        )
        for i in range(req.n)
    ]
    jitters = [
        None if req.seed is None else state.variation(PROVIDER, spec.name, req.prompt)
        for _ in range(req.n)
    ]
    used = revise_prompt(req.prompt, random.Random(variations[0])) if enhance else req.prompt
    width_px, height_px = req.width_height or (1024, 1024)
    image_ids: list[str] = []
    if not failed:
        images = await in_thread(
            _draw_many, used, width_px, height_px, variations, jitters, req.prompt
        )
        state.count_images(PROVIDER, spec.name, len(images))
        image_ids = [state.store_image(data, drawing.MIME_TYPES["jpeg"]) for data in images]
    queued = state.queue_delay(spec.name, req.n)
    job = LeonardoJob(
        generation_id=str(uuid.uuid4()),
        model=spec.name,
        prompt=req.prompt if not enhance else used,
        width=width_px,
        height=height_px,
        seed=req.seed if req.seed is not None else variations[0] % (2**31),
        ready_at=time.monotonic() + queued + state.draw_latency(),
        image_ids=image_ids,
        failed=failed,
        nsfw=isinstance(outcome, Refusal) and outcome.output_stage,
    )
    state.jobs[job.generation_id] = job
    return job, spec, req.n


def _draw_many(
    prompt: str,
    width: int,
    height: int,
    variations: list[int],
    jitters: list[int | None],
    subject: str,
) -> list[bytes]:
    return [
        drawing.render(prompt, width, height, fmt="jpeg", variation=v, jitter=j, subject=subject)
        for v, j in zip(variations, jitters, strict=True)
    ]


def _cost_usd(spec: ModelSpec, n: int, quality: Any = None) -> float:
    if spec.provider == PROVIDER:
        return _per_image_usd(spec) * n
    # A partner model: what its own catalog price says (a simulator assumption).
    from imgkit.catalog.costs import estimate_cost
    from imgkit.catalog.validation import validate_request

    request = validate_request(spec.name, "x", quality=str(quality).lower() if quality else None)
    return (estimate_cost(request).per_image or 0.0) * n


def _cost(spec: ModelSpec, n: int, quality: Any = None) -> dict[str, Any]:
    return {"amount": round(_cost_usd(spec, n, quality), 6), "unit": "USD"}


async def _json(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return error(400, "Malformed JSON body", code="parse-failed")
    if not isinstance(body, dict):
        return error(400, "The body must be a JSON object", code="parse-failed")
    return body


async def create_v1(request: Request) -> Response:
    """POST /api/rest/v1/generations."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await _json(request)
    if isinstance(body, Response):
        return body
    made = await _create(
        request,
        model=body.get("modelId"),
        prompt=body.get("prompt"),
        width=body.get("width"),
        height=body.get("height"),
        count=body.get("num_images"),
        seed=body.get("seed"),
        enhance=bool(body.get("enhancePrompt")),
        names={"size": "width/height", "n": "num_images", "model": "modelId"},
    )
    if isinstance(made, Response):
        return made
    job, spec, n = made
    return JSONResponse(
        {
            "sdGenerationJob": {
                "generationId": job.generation_id,
                "apiCreditCost": _CREDITS_PER_IMAGE * n,
                "cost": _cost(spec, n),
            }
        }
    )


async def create_v2(request: Request) -> Response:
    """POST /api/rest/v2/generations (the partner-model shape)."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    body = await _json(request)
    if isinstance(body, Response):
        return body
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    made = await _create(
        request,
        model=body.get("model"),
        prompt=params.get("prompt"),
        width=params.get("width"),
        height=params.get("height"),
        count=params.get("quantity"),
        seed=params.get("seed"),
        enhance=str(params.get("prompt_enhance", "OFF")).upper() == "ON",
        names={
            "size": "parameters.width/height",
            "n": "parameters.quantity",
            "prompt": "parameters.prompt",
            "seed": "parameters.seed",
            "modelId": "model",
        },
        quality=params.get("quality"),
        partners=True,
    )
    if isinstance(made, Response):
        return made
    job, spec, n = made
    return JSONResponse(
        {
            "generate": {
                "generationId": job.generation_id,
                "apiCreditCost": _CREDITS_PER_IMAGE * n,
                "cost": _cost(spec, n, params.get("quality")),
            }
        }
    )


async def poll(request: Request) -> Response:
    """GET /api/rest/v1/generations/{id}."""
    state: SimState = request.app.state.sim
    if (denied := check_auth(request, state)) is not None:
        return denied
    state.count_poll()
    job = state.jobs.get(request.path_params["generation_id"])
    if job is None:
        return JSONResponse({"generations_by_pk": None})
    complete = time.monotonic() >= job.ready_at
    base = str(request.base_url).rstrip("/")
    images = (
        [
            {
                "id": image_id,
                "url": f"{base}/_sim/files/{image_id}.jpg",
                "nsfw": job.nsfw,
                "likeCount": 0,
            }
            for image_id in job.image_ids
        ]
        if complete
        else []
    )
    status = "PENDING" if not complete else ("FAILED" if job.failed else "COMPLETE")
    return JSONResponse(
        {
            "generations_by_pk": {
                "id": job.generation_id,
                "status": status,
                "prompt": job.prompt,
                "modelId": default_catalog().get_model(job.model).vendor_model_id or job.model,
                "imageWidth": job.width,
                "imageHeight": job.height,
                "seed": job.seed,
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job.created_at)),
                "generated_images": images,
                "simulated": True,
            }
        }
    )
