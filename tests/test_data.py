"""Tests for vae_course.data: the embedded subset, binarization, the torchvision path and IDX files.

The torchvision path is tested on small IDX files these tests write themselves
(MNIST's raw layout); the network is never touched (see ``no_network``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_course import data
from vae_course.data import DataError, load_mnist, load_official_test, read_idx

# Class counts of the official MNIST test split (10,000 images).
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- helpers

def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file (MNIST's format): magic 0 0 8 ndim, big-endian sizes, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write_raw(root: Path, folder: str = "MNIST", n_train: int = 20, n_test: int = 10, gz: bool = True) -> dict:
    """Write ``root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``; return the arrays."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {"train": fake_split(n_train, 1), "t10k": fake_split(n_test, 2)}
    for prefix, (images, labels) in arrays.items():
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            content = idx_bytes(array)
            if gz:
                (raw / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (raw / name).write_bytes(content)
    return arrays


def as_bytes_rows(images: torch.Tensor) -> set[bytes]:
    """Rows as 0-255 byte strings, to compare images exactly across float conversions."""
    return {row.tobytes() for row in (images * 255).round().to(torch.uint8).numpy()}


@pytest.fixture
def small_val(monkeypatch):
    """Our fake training files have 20 images: use the last 5 as validation instead of 5,000."""
    monkeypatch.setattr(data, "FULL_VAL_SIZE", 5)


# --------------------------------------------------------------------------- embedded subset

def test_embedded_split_sizes_and_stratification():
    train = load_mnist("train", verbose=False)
    val = load_mnist("val", verbose=False)
    assert (len(train), len(val)) == (4500, 500)
    assert torch.bincount(train.labels, minlength=10).tolist() == [450] * 10
    assert torch.bincount(val.labels, minlength=10).tolist() == [50] * 10
    assert train.source == val.source == "embedded"


def test_embedded_items_are_float32_pixels_in_unit_range():
    train = load_mnist("train", verbose=False)
    assert train.images.dtype == torch.float32 and train.images.shape == (4500, 784)
    assert train.labels.dtype == torch.int64
    assert float(train.images.min()) == 0.0 and float(train.images.max()) == 1.0
    x, y = train[0]
    assert x.shape == (784,) and x.dtype == torch.float32 and 0 <= int(y) <= 9
    # real grey levels, not already binarized
    assert ((train.images > 0.1) & (train.images < 0.9)).any()


def test_embedded_split_is_deterministic_across_calls(monkeypatch):
    first_train, first_val = data.embedded_split("train"), data.embedded_split("val")
    monkeypatch.setattr(data, "_EMBEDDED_CACHE", {})  # force a fresh read and split
    again_train, again_val = data.embedded_split("train"), data.embedded_split("val")
    assert data._EMBEDDED_CACHE, "the second call should have re-read the data"
    assert torch.equal(first_train[0], again_train[0]) and torch.equal(first_train[1], again_train[1])
    assert torch.equal(first_val[0], again_val[0]) and torch.equal(first_val[1], again_val[1])
    # the digits are mixed, not sorted by label
    assert len(set(first_train[1][:20].tolist())) > 3


def test_embedded_train_and_val_are_disjoint():
    train = load_mnist("train", verbose=False)
    val = load_mnist("val", verbose=False)
    train_rows, val_rows = as_bytes_rows(train.images), as_bytes_rows(val.images)
    assert len(train_rows) + len(val_rows) == 5000, "the subset should hold 5,000 distinct images"
    assert not train_rows & val_rows


def test_load_mnist_prints_exactly_one_line_naming_the_source(capsys):
    load_mnist("val")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "embedded" in lines[0] and "500" in lines[0]
    load_mnist("val", verbose=False)
    assert capsys.readouterr().out == ""


def test_embedded_has_no_test_split():
    with pytest.raises(DataError, match="load_official_test"):
        load_mnist("test", source="embedded", verbose=False)


def test_invalid_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="source must be one of"):
        load_mnist("train", source="internet")
    with pytest.raises(ValueError, match="binarize must be one of"):
        load_mnist("train", binarize="yes")
    with pytest.raises(DataError, match="FashionMNIST"):
        load_mnist("train", source="embedded", dataset="fashion")


def test_make_loader_order_depends_only_on_seed():
    val = load_mnist("val", verbose=False)

    def first_labels(seed):
        return next(iter(data.make_loader(val, batch_size=32, seed=seed)))[1]

    assert torch.equal(first_labels(0), first_labels(0))
    assert not torch.equal(first_labels(0), first_labels(1))


def test_subset_keeps_rows_and_settings():
    val = load_mnist("val", binarize="static", verbose=False)
    small = val.subset(val.labels < 3)
    assert len(small) == 150 and set(small.labels.tolist()) == {0, 1, 2}
    assert small.binarize == "static" and small.source == "embedded"


# --------------------------------------------------------------------------- binarization

def test_binarize_none_keeps_grey_levels():
    grey = load_mnist("val", verbose=False)
    assert grey.binarize == "none"
    assert torch.equal(grey[3][0], grey.images[3])


def test_static_binarization_is_fixed_and_binary():
    grey = load_mnist("val", verbose=False)
    static = load_mnist("val", binarize="static", verbose=False)
    again = load_mnist("val", binarize="static", verbose=False)
    assert set(static.images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(static[7][0], static[7][0])                # same on every read
    assert torch.equal(static.images, again.images)                # and in every load
    assert abs(float(static.images.mean()) - float(grey.images.mean())) < 0.005  # a Bernoulli sample of the grey
    assert torch.all(static.images[grey.images == 0] == 0)        # black stays black
    assert torch.all(static.images[grey.images == 1] == 1)        # white stays white


def test_dynamic_binarization_resamples_on_every_read():
    grey = load_mnist("val", verbose=False)
    dynamic = load_mnist("val", binarize="dynamic", verbose=False)
    torch.manual_seed(0)
    a = dynamic[0][0]
    torch.manual_seed(1)
    b = dynamic[0][0]
    torch.manual_seed(0)
    a_again = dynamic[0][0]
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b), "different seeds should give different samples"
    assert torch.equal(a, a_again), "the same seed should give the same sample"
    # the mean over many reads is the grey level (Bernoulli mean); std per pixel <= 0.5/sqrt(2000) ~ 0.011
    torch.manual_seed(2)
    reads = torch.stack([dynamic[0][0] for _ in range(2000)])
    assert (reads.mean(0) - grey.images[0]).abs().max() < 0.06
    assert torch.equal(dynamic.images, grey.images), "the stored images stay grey"


# --------------------------------------------------------------------------- source="auto" and the data root

def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path / "env"))
    assert data.data_root() == tmp_path / "env"
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("VAE_COURSE_DATA")
    assert data.data_root() == Path.home() / ".cache" / "vae-course" / "data"


def test_auto_uses_embedded_when_no_files(course_dirs, capsys):
    ds = load_mnist("train", source="auto")
    assert ds.source == "embedded" and len(ds) == 4500
    assert "embedded" in capsys.readouterr().out
    assert not data.full_dataset_available("mnist")
    assert "embedded" in data.describe_source()


def test_auto_uses_torchvision_files_under_env_data_root(course_dirs, small_val, no_network, capsys):
    arrays = write_raw(course_dirs.data)  # $VAE_COURSE_DATA points here
    assert data.full_dataset_available("mnist")
    ds = load_mnist("train", source="auto")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "full MNIST" in lines[0] and str(course_dirs.data) in lines[0]
    assert ds.source == "torchvision" and len(ds) == 15
    assert torch.equal(ds.labels, torch.from_numpy(arrays["train"][1][:15].astype(np.int64)))
    assert "full MNIST" in data.describe_source()
    assert not no_network, "nothing should be downloaded when the files are there"


def test_the_default_is_the_embedded_subset_even_when_full_mnist_is_on_disk(course_dirs, small_val, no_network):
    """The notebooks describe the embedded subset; a machine with full MNIST must not change what they show."""
    write_raw(course_dirs.data)
    assert data.full_dataset_available("mnist")
    ds = load_mnist("train", verbose=False)
    assert ds.source == "embedded" and len(ds) == 4500


def test_auto_uses_torchvision_files_under_root_argument(tmp_path, course_dirs, small_val, no_network):
    write_raw(tmp_path / "elsewhere")  # $VAE_COURSE_DATA stays empty: root= must win
    assert load_mnist("val", source="auto", verbose=False).source == "embedded"
    ds = load_mnist("val", source="auto", root=tmp_path / "elsewhere", verbose=False)
    assert ds.source == "torchvision" and len(ds) == 5


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "uncompressed"])
@pytest.mark.parametrize("dataset, folder", [("mnist", "MNIST"), ("fashion", "FashionMNIST")])
def test_torchvision_reads_small_idx_files(tmp_path, small_val, no_network, gz, dataset, folder):
    arrays = write_raw(tmp_path, folder, gz=gz)
    splits = {split: load_mnist(split, source="torchvision", dataset=dataset, root=tmp_path, verbose=False)
              for split in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [15, 5, 10]
    train_images, train_labels = arrays["train"]
    expected = torch.from_numpy(train_images.reshape(20, 784).astype(np.float32)) / 255
    assert torch.allclose(splits["train"].images, expected[:15])
    assert torch.allclose(splits["val"].images, expected[15:])
    assert splits["test"].labels.tolist() == arrays["t10k"][1].tolist()
    for ds in splits.values():
        assert ds.images.dtype == torch.float32 and 0 <= float(ds.images.min()) <= float(ds.images.max()) <= 1
        assert ds.source == "torchvision"
    assert not no_network


def test_auto_picks_fashion_files_without_download(tmp_path, no_network):
    write_raw(tmp_path, "FashionMNIST")
    ds = load_mnist("test", source="auto", dataset="fashion", root=tmp_path, verbose=False)
    assert ds.source == "torchvision" and len(ds) == 10 and ds.name == "fashion-test"
    assert not no_network


# --------------------------------------------------------------------------- no download possible

@pytest.mark.parametrize("dataset", ["mnist", "fashion"])
def test_download_impossible_gives_dataerror_with_instructions(tmp_path, no_network, dataset, capsys):
    with pytest.raises(DataError) as info:
        load_mnist("train", source="torchvision", dataset=dataset, root=tmp_path)
    err = info.value
    folder = data.DATASETS[dataset]
    message = str(err)
    assert no_network, "a download should have been attempted (and blocked)"
    assert "Could not download" in message
    assert str(tmp_path / folder / "raw") in message                  # where to put the files
    assert "t10k-images-idx3-ubyte.gz" in message and "source='embedded'" in message
    assert "Traceback" not in message and "\n" not in message
    # no urllib chain shown under the DataError
    assert err.__cause__ is None and err.__suppress_context__ is True
    assert "Using full" not in capsys.readouterr().out


def test_download_false_says_where_files_go(tmp_path, no_network):
    with pytest.raises(DataError, match="is not under") as info:
        load_mnist("test", source="torchvision", root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    assert not no_network


# --------------------------------------------------------------------------- corrupt IDX files

GOOD_IMAGES = fake_split(4, 3)[0]


def corruptions() -> dict[str, tuple[str, bytes]]:
    """name -> (file name, content) of broken IDX files, with the words the error should contain."""
    good = idx_bytes(GOOD_IMAGES)
    return {
        "bad magic": ("x-idx3-ubyte", b"\x08\x03\x00\x00" + good[4:]),
        "wrong dtype byte": ("x-idx3-ubyte", good[:2] + b"\x0d" + good[3:]),
        "truncated body": ("x-idx3-ubyte", good[:-100]),
        "truncated header": ("x-idx3-ubyte", good[:9]),
        "empty": ("x-idx3-ubyte", b""),
        "truncated gzip": ("x-idx3-ubyte.gz", gzip.compress(good)[:60]),
        "not gzip at all": ("x-idx3-ubyte.gz", good),
        "corrupt gzip stream": ("x-idx3-ubyte.gz", (lambda z: z[:20] + bytes(b ^ 0xFF for b in z[20:40]) + z[40:])(
            gzip.compress(good))),
    }


EXPECTED_WORDS = {
    "bad magic": "bad magic", "wrong dtype byte": "bad magic", "truncated body": "truncated",
    "truncated header": "truncated", "empty": "bad magic", "truncated gzip": "truncated",
    "not gzip at all": "gzip", "corrupt gzip stream": "gzip",
}


def test_read_idx_reads_a_good_file_gz_or_not(tmp_path):
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(GOOD_IMAGES))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(GOOD_IMAGES)))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        out = read_idx(tmp_path / name)
        assert out.shape == (4, 28, 28) and out.dtype == np.uint8
        assert np.array_equal(out, GOOD_IMAGES)


@pytest.mark.parametrize("kind", list(EXPECTED_WORDS))
def test_read_idx_rejects_corrupt_files_clearly(tmp_path, kind):
    name, content = corruptions()[kind]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_idx(path)
    assert EXPECTED_WORDS[kind] in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope-idx3-ubyte.gz")


def test_load_official_test_from_small_folder_and_corrupt_folder(tmp_path):
    images, labels = fake_split(10, 4)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    ds = load_official_test(tmp_path, verbose=False)
    assert len(ds) == 10 and ds.labels.tolist() == labels.tolist() and ds.source == "official-test"

    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images))[:-30])
    with pytest.raises(DataError, match="truncated"):
        load_official_test(tmp_path, verbose=False)

    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images[:9])))
    with pytest.raises(DataError, match="do not match"):
        load_official_test(tmp_path, verbose=False)

    with pytest.raises(DataError, match="has no t10k-images"):
        load_official_test(tmp_path / "empty", verbose=False)


TORCHVISION_CORRUPTIONS = {
    # name -> (file to damage, how), applied after writing good uncompressed (or gz) files
    "bad magic": ("t10k-images-idx3-ubyte", lambda b: b"\x00\x00\x00\x00" + b[4:]),
    "truncated images": ("t10k-images-idx3-ubyte", lambda b: b[:-500]),
    "truncated labels": ("t10k-labels-idx1-ubyte", lambda b: b[:-3]),
    "fewer labels than images": ("t10k-labels-idx1-ubyte", lambda b: idx_bytes(np.zeros(7, np.uint8))),
    "broken gzip": ("t10k-images-idx3-ubyte.gz", lambda b: b[: len(b) // 2]),
    "garbage gzip": ("t10k-images-idx3-ubyte.gz", lambda b: b"\x1f\x8b" + b"\x00" * 50),
}


@pytest.mark.parametrize("kind", list(TORCHVISION_CORRUPTIONS))
def test_torchvision_path_rejects_corrupt_files(tmp_path, no_network, kind):
    name, damage = TORCHVISION_CORRUPTIONS[kind]
    write_raw(tmp_path, gz=name.endswith(".gz"))
    path = tmp_path / "MNIST" / "raw" / name
    path.write_bytes(damage(path.read_bytes()))
    for attempt in range(2):  # the second try must give the same clear error (no half-written leftovers)
        with pytest.raises(DataError) as info:
            load_mnist("test", source="torchvision", root=tmp_path, verbose=False)
        message = str(info.value)
        assert "download again" in message.lower(), message
        assert str(tmp_path / "MNIST" / "raw") in message
        assert info.value.__cause__ is None
        if name.endswith(".gz"):
            assert "not a valid gzip file" in message
            assert not path.with_suffix("").exists(), "a broken .gz must not leave an extracted twin behind"
    assert not no_network


# --------------------------------------------------------------------------- the official MNIST test split

def test_official_test_split(official_test_dir, capsys):
    test = load_official_test(official_test_dir)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "official MNIST test split" in lines[0] and "10000" in lines[0]
    assert len(test) == 10_000 and test.images.shape == (10_000, 784)
    assert test.images.dtype == torch.float32
    assert float(test.images.min()) == 0.0 and float(test.images.max()) == 1.0
    assert sorted(test.labels.unique().tolist()) == list(range(10))
    assert torch.bincount(test.labels, minlength=10).tolist() == MNIST_TEST_COUNTS


def test_official_test_split_is_disjoint_from_embedded_subset(official_test_dir):
    test = load_official_test(official_test_dir, verbose=False)
    embedded = torch.cat([load_mnist(s, verbose=False).images for s in ("train", "val")])
    assert not as_bytes_rows(test.images) & as_bytes_rows(embedded)


def test_official_test_dir_env_override(tmp_path, monkeypatch):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(GOOD_IMAGES))
    monkeypatch.setenv("VAE_COURSE_MNIST_TEST", str(tmp_path))
    assert data.default_official_test_dir() == tmp_path
