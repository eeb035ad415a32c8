"""The floor: the least a FastAPI app can do per request on this machine, one route
answering a constant. `bench.compare` serves it beside the API and reports ratios."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "hello"}
