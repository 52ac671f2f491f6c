"""`digitedge serve`: the HTTP API and the camera web page (the `serve` extra: FastAPI, uvicorn, python-multipart).

Runtime side only: onnxruntime, OpenCV and numpy in the workers, never torch.

    supervisor.py   binds the port, starts and watches the worker processes (standard library only)
    worker.py       one process: model + app under uvicorn
    app.py          routes, errors, auth;  inference.py: the bounded queue and the inference thread
    static/         the camera page and the API reference page (plain HTML + JS, nothing from the internet)
"""
