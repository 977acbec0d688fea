from __future__ import annotations

import numpy as np
import pytest

from tests.hostile import (
    corrupted_npz,
    cr_only_csv,
    decompression_bomb,
    huge_cell_csv,
    npz_bytes,
    npz_declaring,
    numeric_csv,
    wide_header_csv,
)
from tfcore.data import (
    DataLimits,
    load_builtin,
    load_csv,
    load_file,
    load_npz,
    make_tf_dataset,
    split,
    synthetic_regression,
)
from tfcore.errors import DataError


def test_builtins_come_from_installed_packages():
    diabetes = load_builtin("diabetes")
    assert (diabetes.rows, diabetes.features, diabetes.task) == (442, 10, "regression")
    cancer = load_builtin("breast_cancer")
    assert (cancer.rows, cancer.features, cancer.task) == (569, 30, "binary")
    assert diabetes.x.dtype == np.float32 and diabetes.y.shape == (442, 1)
    with pytest.raises(DataError, match="unknown dataset 'mnist'"):
        load_builtin("mnist")


def test_synthetic_is_seeded():
    a, b = synthetic_regression(seed=5), synthetic_regression(seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, synthetic_regression(seed=6).x)


def test_csv_with_header_and_target():
    data = load_csv(b"a,b,price\n1,2,3\n" + b"4,5,6\n" * 20, target="price")
    assert data.feature_names == ("a", "b") and data.target == "price"
    assert data.x.shape == (21, 2) and data.y[0, 0] == 3.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"a,b,y\n", "no data rows"),
        (b"a,b\n1,2\n", "no target column 'y'"),
        (b"a,b,y\n1,2,3\n1,2\n", "line 3 has 2 cells but the header has 3"),
        (b"a,b,y\n1,x,3\n", "column 'b' is not numeric (line 2"),
        (b"a,b,y\n1,,3\n", "column 'b' is not numeric"),
        (b"a,b,y\n" + b"1,nan,3\n" * 12, "NaN cell in column 'b'"),
        (b"a,a,y\n1,2,3\n", "names a column twice"),
        (b"\xff\xfe,y\n", "not UTF-8"),
        (b"a,y\n1,2\n", "too few"),
    ],
)
def test_bad_csv_says_what_to_fix(content, message):
    with pytest.raises(DataError, match=None) as info:
        load_csv(content, target="y")
    assert message in str(info.value)


def test_limits_apply():
    rows = b"a,b,y\n" + b"1,2,3\n" * 30
    with pytest.raises(DataError, match="limit of 20 rows"):
        load_csv(rows, target="y", limits=DataLimits(max_rows=20))
    with pytest.raises(DataError, match="limit of 1"):
        load_csv(rows, target="y", limits=DataLimits(max_features=1))


def test_npz_round_trip_and_errors():
    x = np.random.default_rng(0).normal(size=(20, 3))
    data = load_npz(npz_bytes(x=x, y=(x[:, 0] > 0).astype(float)))
    assert data.task == "binary" and data.features == 3
    with pytest.raises(DataError, match=r"missing array 'y'.*it has \['x'\]"):
        load_npz(npz_bytes(x=x))
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_npz(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="one value per row, or one-hot rows"):
        load_npz(npz_bytes(x=x, y=np.zeros((20, 2))))
    with pytest.raises(DataError, match="one value per row, or one-hot rows"):
        load_npz(npz_bytes(x=x, y=np.zeros((20, 3, 2))))


def test_npz_images_and_sequences_with_class_labels():
    rng = np.random.default_rng(0)
    images = load_npz(npz_bytes(x=rng.integers(0, 255, (40, 8, 8, 1), dtype=np.uint8), y=np.arange(40) % 4))
    assert (images.task, images.classes, images.feature_shape, images.features) == (
        "multiclass",
        4,
        (8, 8, 1),
        64,
    )
    assert images.describe()["shape"] == [8, 8, 1] and images.describe()["classes"] == 4
    one_hot = load_npz(npz_bytes(x=rng.normal(size=(30, 12, 3)), y=np.eye(3)[np.arange(30) % 3]))
    assert (one_hot.task, one_hot.classes, one_hot.feature_shape) == ("multiclass", 3, (12, 3))
    as_floats = load_npz(npz_bytes(x=rng.normal(size=(30, 2)), y=(np.arange(30) % 4).astype(float)))
    assert as_floats.task == "regression"  # float labels say nothing about classes


def test_npz_never_unpickles():
    objects = np.array([{"a": 1}] * 20, dtype=object)
    with pytest.raises(DataError, match="Python objects; arrays must be real numbers"):
        load_npz(npz_bytes(x=objects, y=np.zeros(20)))


def test_load_file_sniffs_content_not_name(tmp_path):
    path = tmp_path / "data.csv"  # really an NPZ
    path.write_bytes(npz_bytes(x=np.ones((12, 2)), y=np.arange(12.0)))
    assert load_file(path).features == 2
    csv_path = tmp_path / "data.bin"
    csv_path.write_bytes(b"a,y\n" + b"1,2\n" * 12)
    with pytest.raises(DataError, match="needs the name of its target"):
        load_file(csv_path)
    assert load_file(csv_path, target="y").rows == 12


def test_split_is_seeded_and_disjoint():
    data = synthetic_regression(rows=100, seed=1)
    train, val = split(data, validation_split=0.2, seed=3)
    assert (train.rows, val.rows) == (80, 20)
    rows = {tuple(r) for r in np.concatenate([train.x, val.x])}
    assert len(rows) == 100
    again, _ = split(data, validation_split=0.2, seed=3)
    np.testing.assert_array_equal(train.x, again.x)


def test_pipeline_shuffles_with_the_seed_and_batches():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    first = [b[0].numpy().ravel().tolist() for b in make_tf_dataset(x, x, batch_size=4, seed=7)]
    second = [b[0].numpy().ravel().tolist() for b in make_tf_dataset(x, x, batch_size=4, seed=7)]
    assert first == second and [len(b) for b in first] == [4, 4, 2]
    flat = [v for batch in first for v in batch]
    assert sorted(flat) == list(range(10)) and flat != list(range(10))


# --- hostile files: each once gave a 500 or gigabytes of memory --------------------


def test_a_decompression_bomb_is_refused_by_its_declared_size_before_decompressing():
    bomb = decompression_bomb()
    assert len(bomb) < 5 << 20
    with pytest.raises(DataError, match=r"would take 1,909 MB in memory, more than the limit of 1,024 MB"):
        load_npz(bomb)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((10**12, 10), "1000000000000 rows is more than the limit"),
        ((100, 10**6), "features is more than the limit"),
    ],
)
def test_absurd_declared_shapes_are_refused_from_the_header(shape, message):
    with pytest.raises(DataError, match=message):
        load_npz(npz_declaring(shape))


@pytest.mark.parametrize("dtype", ["complex128", "timedelta64[s]", "datetime64[s]", "U3"])
def test_arrays_that_are_not_real_numbers_are_refused(dtype):
    x = np.ones((20, 2)).astype(dtype) if dtype != "U3" else np.full((20, 2), "abc")
    with pytest.raises(DataError, match=r"'x' has dtype .*; arrays must hold real numbers"):
        load_npz(npz_bytes(x=x, y=np.zeros(20)))


def test_a_corrupted_deflate_stream_is_a_data_error():
    with pytest.raises(DataError, match=r"not a readable \.npz archive"):
        load_npz(corrupted_npz())


def test_csv_with_cr_only_line_endings_says_so():
    with pytest.raises(DataError, match="CR only"):
        load_csv(cr_only_csv(), target="y")


def test_csv_with_a_huge_cell_is_a_data_error():
    with pytest.raises(DataError, match="not a well-formed CSV"):
        load_csv(huge_cell_csv(), target="y")


def test_errors_never_echo_a_whole_huge_header():
    with pytest.raises(DataError) as refused:
        load_csv(wide_header_csv(100_000), target="y", limits=DataLimits(max_features=200_000))
    assert "no target column 'y'" in str(refused.value) and "(100000 columns)" in str(refused.value)
    assert len(str(refused.value)) < 400


def test_a_large_csv_is_parsed_in_bounded_memory():
    """The table, not Python objects per cell: peak allocation stays near the file's size."""
    import tracemalloc

    data = numeric_csv(8)
    tracemalloc.start()
    dataset = load_csv(data, target="y")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert dataset.rows > 60_000
    assert peak < 2 * len(data), f"peak {peak / 2**20:.1f} MB for a {len(data) / 2**20:.1f} MB CSV"
