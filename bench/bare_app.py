"""The framework's floor for bench/floor.py: a bare FastAPI endpoint taking the same one-point
body as /v1/predict (a pydantic model of points, √s), with no middleware, no state, no
computation, answering a small JSON object. Served by bench/floor.py under uvicorn with the
options jpsi-serve uses (uvloop, httptools, no access log, one worker)."""

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
    return {"n": len(body.points), "sqrt_s": body.sqrt_s}
