"""The own-architecture tests' shared model: the CNN the examples train, on the quadrant
images of ``tfcore.data.quadrant_images``."""

from __future__ import annotations

import json

import keras


def cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )


def cnn_config() -> dict:
    return json.loads(cnn().to_json())
