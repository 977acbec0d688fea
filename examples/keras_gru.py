"""Train your own Keras model on tfjobs: a GRU on generated sequences (regression).

.venv/bin/python examples/keras_gru.py            # against TFJOBS_URL or 127.0.0.1:8000
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np

from tfcore.data import running_sums  # generated sequences and a target that weighs them
from tfjobs import Client, JobFailed


def main() -> None:
    x, y = running_sums()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)  # x of shape (rows, 12, 2); y one float per row
    path = Path("sums.npz")
    path.write_bytes(buffer.getvalue())

    inputs = keras.Input((12, 2))
    hidden = keras.layers.GRU(16)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    with Client() as client:
        dataset = client.datasets.upload(path)
        print(f"dataset {dataset['id']}: {dataset['rows']} sequences of shape {dataset['shape']}")
        job = client.submit(model=model, loss="mse", dataset=dataset["id"], epochs=8, learning_rate=0.01)
        print(f"submitted {job.id}")
        try:
            job.wait()
        except JobFailed as err:
            raise SystemExit(f"training failed: {err}") from None
        print(
            f"val_loss {job.data['summary']['val_loss']:.4f} (the targets' variance: {float(np.var(y)):.2f})"
        )
        trained = job.load_model()
    print("predicted:", np.round(trained.predict(x[:4], verbose=0)[:, 0], 1).tolist())
    print("true:     ", np.round(y[:4], 1).tolist())


if __name__ == "__main__":
    main()
