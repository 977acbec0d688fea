"""Train your own Keras model on tfjobs: a small CNN on generated images.

.venv/bin/python examples/keras_cnn.py            # against TFJOBS_URL or 127.0.0.1:8000

The model's architecture travels as data (what `model.to_json()` gives: no weights, no
code); the service checks it against an allowlist, trains it with its own loop, and
sends back a `model.keras` that loads with Keras' safe mode on.
"""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np

from tfcore.data import quadrant_images  # generated images: a bright square, one of four places
from tfjobs import Client, JobFailed


def main() -> None:
    x, y = quadrant_images()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)  # an NPZ: x of shape (rows, 8, 8, 1), integer labels y
    path = Path("quadrants.npz")
    path.write_bytes(buffer.getvalue())

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    with Client() as client:
        dataset = client.datasets.upload(path)
        print(
            f"dataset {dataset['id']}: {dataset['rows']} rows of shape {dataset['shape']}, "
            f"{dataset['classes']} classes"
        )
        job = client.submit(
            model=model, loss="sparse_categorical_crossentropy", dataset=dataset["id"], epochs=8
        )
        print(f"submitted {job.id}")
        try:
            job.wait()
        except JobFailed as err:
            raise SystemExit(f"training failed: {err}") from None
        print(f"val_accuracy {job.data['summary']['val_accuracy']:.3f}")
        trained = job.load_model()  # downloads, checks sha256, loads in safe mode
    print("predicted classes:", trained.predict(x[:8], verbose=0).argmax(axis=1).tolist())
    print("true classes:     ", y[:8].tolist())


if __name__ == "__main__":
    main()
