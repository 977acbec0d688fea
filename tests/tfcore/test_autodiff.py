"""The seed's autodiff examples, with its numbers."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfcore.activations import naive_softplus, stable_softplus


def f(w1, w2):
    return 3 * w1**2 + 2 * w1 * w2


def test_gradient_tape_gives_36_and_10():
    w1, w2 = tf.Variable(5.0), tf.Variable(3.0)
    with tf.GradientTape() as tape:
        z = f(w1, w2)
    assert [float(g) for g in tape.gradient(z, [w1, w2])] == [36.0, 10.0]


def test_a_tape_is_erased_after_one_call_unless_persistent():
    w1, w2 = tf.Variable(5.0), tf.Variable(3.0)
    with tf.GradientTape() as tape:
        z = f(w1, w2)
    tape.gradient(z, w1)
    with pytest.raises(RuntimeError):
        tape.gradient(z, w2)
    with tf.GradientTape(persistent=True) as tape:
        z = f(w1, w2)
    assert float(tape.gradient(z, w1)) == 36.0
    assert float(tape.gradient(z, w2)) == 10.0
    del tape


def test_constants_need_watch():
    c1, c2 = tf.constant(5.0), tf.constant(3.0)
    with tf.GradientTape() as tape:
        z = f(c1, c2)
    assert tape.gradient(z, [c1, c2]) == [None, None]
    with tf.GradientTape() as tape:
        tape.watch(c1)
        tape.watch(c2)
        z = f(c1, c2)
    assert [float(g) for g in tape.gradient(z, [c1, c2])] == [36.0, 10.0]


def test_stop_gradient_gives_30_and_none():
    w1, w2 = tf.Variable(5.0), tf.Variable(3.0)
    with tf.GradientTape() as tape:
        z = 3 * w1**2 + tf.stop_gradient(2 * w1 * w2)
    assert float(z) == 105.0  # the forward pass is unchanged
    g1, g2 = tape.gradient(z, [w1, w2])
    assert float(g1) == 30.0 and g2 is None


def test_sqrt_gradient_at_1e_50_is_inf_and_epsilon_fixes_it():
    x = tf.Variable(1e-50)
    with tf.GradientTape() as tape:
        z = tf.sqrt(x)
    assert np.isinf(tape.gradient(z, [x])[0].numpy())
    with tf.GradientTape() as tape:
        z = tf.sqrt(x + 1e-6)
    assert np.isfinite(tape.gradient(z, x).numpy())


def test_custom_gradient_softplus_fixes_the_nan():
    x = tf.Variable([100.0])
    for fn, finite in [(naive_softplus, False), (stable_softplus, True)]:
        with tf.GradientTape() as tape:
            z = fn(x)
        assert bool(np.isfinite(tape.gradient(z, x).numpy()).all()) is finite


def test_tf_function_traces_once_per_signature():
    traces = []

    @tf.function
    def tf_cube(x):
        traces.append(1)
        return x**3

    assert float(tf_cube(tf.constant(2.0))) == 8.0
    tf_cube(tf.constant(3.0))
    assert len(traces) == 1  # same dtype and shape: the graph is reused
    assert tf_cube.python_function(2) == 8
