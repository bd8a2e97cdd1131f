"""The IDX parser against hand-made bytes, and the MNIST / Fashion-MNIST entries on the shared files.

References: the IDX layout as LeCun's MNIST page describes it, written out byte by
byte here (not with the module's own writer); the MNIST test set's published facts
(its first labels, its per-digit counts as tabulated on the MNIST page and by
every loader); the published checksums of the original files.
"""
import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest

from rnnkit.cli import main as cli
from rnnkit.datasets import in_cache, info, load
from rnnkit.datasets.idx import parse_idx, read_idx, write_idx
from rnnkit.errors import ConfigError, DatasetError

# per-digit counts of MNIST's 10,000 test and 60,000 training labels (the MNIST page, torchvision's docs ...)
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ---------------------------------------------------------------- the IDX parser, on bytes written by hand
def test_unsigned_byte_images_parse_row_major():
    # magic 0x00000803: ubyte, 3 dims; sizes 2, 2, 3 (big-endian); then 12 pixels
    data = bytes([0, 0, 0x08, 3]) + bytes([0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(250, 256)) + bytes(range(6))
    x = parse_idx(data)
    assert x.dtype == np.uint8 and x.shape == (2, 2, 3)
    assert x[0].tolist() == [[250, 251, 252], [253, 254, 255]] and x[1].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_labels_parse_and_the_array_is_writable():
    y = parse_idx(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x04" + b"\x07\x02\x01\x00")
    assert y.tolist() == [7, 2, 1, 0]
    y[0] = 9  # its own memory, not a view of the bytes
    assert y[0] == 9


@pytest.mark.parametrize("code,values,packed,dtype", [
    (0x09, [-1, 127, -128], b"\xff\x7f\x80", np.int8),
    (0x0B, [-2, 258], b"\xff\xfe\x01\x02", np.int16),
    (0x0C, [-1, 16909060], b"\xff\xff\xff\xff\x01\x02\x03\x04", np.int32),
    (0x0D, [1.5, -2.0], struct.pack(">ff", 1.5, -2.0), np.float32),
    (0x0E, [0.1], struct.pack(">d", 0.1), np.float64),
])
def test_every_type_code_is_big_endian_and_comes_out_native(code, values, packed, dtype):
    data = bytes([0, 0, code, 1]) + struct.pack(">I", len(values)) + packed
    out = parse_idx(data)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.tolist() == values


def test_a_zero_dimensional_file_holds_one_value():
    assert parse_idx(bytes([0, 0, 0x08, 0, 42])).tolist() == 42


@pytest.mark.parametrize("data,message", [
    (b"\x00\x00", "too short"),
    (b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", "magic number 0x00010801"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "header needs 12 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05\x06", "promises 3 values .* holds 2 bytes .* truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "promises 1 values .* holds 2 bytes"),
    (b"\x00\x00\x0b\x01\x00\x00\x00\x02\x00\x01\x00", "promises 2 values \\(4 bytes"),
])
def test_malformed_bytes_are_one_line_errors(data, message):
    with pytest.raises(DatasetError, match=message) as err:
        parse_idx(data, "x.idx")
    assert str(err.value).startswith("x.idx: ") and "\n" not in str(err.value)


def test_read_idx_reads_plain_and_gzip_files_and_refuses_a_damaged_gzip(tmp_path):
    data = b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04"
    (tmp_path / "a.idx").write_bytes(data)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(data))
    assert read_idx(tmp_path / "a.idx").tolist() == read_idx(tmp_path / "a.idx.gz").tolist() == [[1, 2], [3, 4]]
    (tmp_path / "cut.idx.gz").write_bytes(gzip.compress(data)[:-6])
    with pytest.raises(DatasetError, match="cut.idx.gz is not a whole gzip file"):
        read_idx(tmp_path / "cut.idx.gz")
    with pytest.raises(DatasetError, match="no such file"):
        read_idx(tmp_path / "missing.idx")


def test_write_idx_writes_the_layout_by_hand():
    assert write_idx(np.array([[1, 2, 3]], dtype=np.uint8)) == b"\x00\x00\x08\x02\x00\x00\x00\x01\x00\x00\x00\x03\x01\x02\x03"
    assert write_idx(np.array([-2], dtype="<i2")) == b"\x00\x00\x0b\x01\x00\x00\x00\x01\xff\xfe"
    with pytest.raises(DatasetError, match="no type for dtype int64"):
        write_idx(np.array([1]))


# ---------------------------------------------------------------- the registry entries
def test_entries_name_their_sources_and_splits():
    mnist, fashion = info("mnist"), info("fashion-mnist")
    assert mnist.splits == fashion.splits == ("train", "test")
    assert {f.name for f in mnist.files} == {f.name for f in fashion.files} == {
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    published = {  # the SHA-256 of the original .gz files as TensorFlow Datasets and torchvision publish them
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    }
    for f in mnist.files:
        assert f.url.startswith("https://") and f.url.endswith("/" + f.name) and f.content_sha256
        assert f.sha256 == published.get(f.name, f.sha256)
    assert all(f.url.startswith("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/") for f in fashion.files)
    assert cli(["datasets", "info", "mnist"]) == 0


def _copy(shared, tmp_path, *names, dataset="mnist"):
    (tmp_path / dataset).mkdir(exist_ok=True)
    for name in names:
        shutil.copy(shared / "mnist" / name, tmp_path / dataset / name)
        (tmp_path / dataset / name).chmod(0o644)
    return tmp_path / dataset


def _shared_mnist(shared_data, *names):
    root = shared_data("mnist")
    missing = [n for n in names if not (root / "mnist" / n).is_file()]
    if missing:
        pytest.skip(f"{root / 'mnist'} lacks {', '.join(missing)}")
    return root


def test_real_mnist_test_split_loads_offline(shared_data):
    _shared_mnist(shared_data, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    x, y = load("mnist", "test", download=False)
    assert x.shape == (10_000, 28, 28) and x.dtype == np.uint8 and y.shape == (10_000,) and y.dtype == np.uint8
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y, minlength=10).tolist() == TEST_COUNTS
    assert x.min() == 0 and x.max() == 255
    assert x.mean() / 255 == pytest.approx(0.1325, abs=5e-4)  # the test set's published mean pixel
    assert (x[:, 0, :] == 0).mean() > 0.99  # the digits are centred: the top row is background
    assert in_cache("mnist", "test")


def test_real_mnist_train_labels_match_the_published_counts(shared_data):
    root = _shared_mnist(shared_data, "train-labels-idx1-ubyte.gz")
    y = read_idx(root / "mnist" / "train-labels-idx1-ubyte.gz")
    assert y.shape == (60_000,) and np.bincount(y, minlength=10).tolist() == TRAIN_COUNTS


def test_the_test_split_loads_without_the_train_files_whose_absence_is_named(shared_data, tmp_path, monkeypatch):
    root = _shared_mnist(shared_data, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    _copy(root, tmp_path, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    assert len(load("mnist", "test", download=False)[0]) == 10_000
    assert in_cache("mnist", "test") and not in_cache("mnist", "train")
    with pytest.raises(DatasetError, match=r"mnist: train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz not in the "
                                           r"cache .*rnnkit datasets fetch mnist"):
        load("mnist", "train", download=False)
    with pytest.raises(ConfigError, match="unknown split 'valid'; expected one of train, test"):
        load("mnist", "valid")


def test_a_recompressed_copy_is_accepted_by_its_content_and_a_corrupted_one_refused(shared_data, tmp_path, monkeypatch):
    root = _shared_mnist(shared_data, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    folder = _copy(root, tmp_path, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(labels.read_bytes())
    original_sha = hashlib.sha256(labels.read_bytes()).hexdigest()
    labels.write_bytes(gzip.compress(content, compresslevel=1, mtime=0))  # other gzip bytes, the same content
    assert hashlib.sha256(labels.read_bytes()).hexdigest() != original_sha
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    assert load("mnist", "test", download=False)[1][:3].tolist() == [7, 2, 1]

    changed = bytearray(content)
    changed[8] = (changed[8] + 1) % 10  # one label changed: a valid IDX file, but not MNIST's
    labels.write_bytes(gzip.compress(bytes(changed), mtime=0))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz does not match the registered checksum of "
                                           "mnist/t10k-labels-idx1-ubyte.gz; delete it"):
        load("mnist", "test", download=False)
    labels.write_bytes(gzip.compress(content, mtime=0)[:-10])  # truncated
    with pytest.raises(DatasetError, match="does not match the registered checksum"):
        load("mnist", "test", download=False)
