"""Submit a job, watch it train, download the verified model and predict with it.

.venv/bin/python examples/train_and_predict.py            # against TFJOBS_URL or 127.0.0.1:8000
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tfjobs import Client, JobFailed

SPEC = Path(__file__).with_name("minimal.json")


def main() -> None:
    with Client() as client:
        job = client.submit(SPEC, epochs=10)
        print(f"submitted {job.id}")
        for point in job.stream():  # live; reconnects on its own
            if point["kind"] == "epoch":
                v = point["values"]
                print(f"epoch {point['epoch']:>3}  loss {v['loss']:.3f}  val_loss {v['val_loss']:.3f}")
        try:
            job.wait()
        except JobFailed as err:
            raise SystemExit(f"training failed: {err}") from None
        folder = job.download(Path("downloads") / job.id[:8])  # each file checked against sha256
        manifest = json.loads((folder / "manifest.json").read_text())
        model = job.load_model()
        rows = np.array(manifest["examples"]["inputs"], dtype="float32")
        predictions = model.predict(rows, verbose=0).ravel()
        print("predictions:", [round(float(v), 2) for v in predictions])
        print("manifest:   ", [round(float(v), 2) for v in np.ravel(manifest["examples"]["outputs"])])


if __name__ == "__main__":
    main()
