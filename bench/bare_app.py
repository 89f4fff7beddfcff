"""The framework's floor for bench/floor.py: a bare FastAPI endpoint taking the same one-point
body as /v1/predict (a pydantic model of points, √s), with no middleware, no state, no
computation, answering a small JSON object; as ``async def`` (the floor) and as ``def``.
Served by bench/floor.py under uvicorn with the options jpsi-serve uses (uvloop, httptools,
no access log, one worker)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


class Point(BaseModel):
    x: float
    z: float
    Q: float
    PT: float


class Body(BaseModel):
    points: list[Point]
    sqrt_s: float = 63.0


app = FastAPI()


@app.post("/bare")
async def bare(body: Body) -> dict:
    """The floor: validated on the event loop, no thread-pool hop."""
    return {"n": len(body.points), "sqrt_s": body.sqrt_s}


@app.post("/bare-sync")
def bare_sync(body: Body) -> dict:
    """A plain ``def`` endpoint, as most FastAPI code is written: one thread-pool hop."""
    return {"n": len(body.points), "sqrt_s": body.sqrt_s}
