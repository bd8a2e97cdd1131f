"""Datasets whose source is an archive or many files: zip extraction, the IMDB packer, parallel downloads."""
import csv
import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.datasets import cache, load, registry
from rnnkit.datasets._archives import Archive, extract_members, imdb_csv_from_tarball
from rnnkit.datasets.cache import RemoteFile
from rnnkit.errors import DatasetError

from test_cache_and_registry import _remote, server  # noqa: F401  (fixture)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _register(monkeypatch, entry):
    monkeypatch.setitem(registry._REGISTRY, entry.name, entry)


def test_zip_archive_is_downloaded_extracted_verified_and_dropped(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    pairs = "Go.\tVa !\nHi.\tSalut !\n".encode()
    archive = _remote(base, "pairs.zip", _zip({"p/fra.txt": pairs, "__MACOSX/._fra.txt": b"junk"}), files)
    entry = registry.DatasetInfo("toyzip", "toy", "none", ("all",), (RemoteFile("fra.txt", "", _sha(pairs), len(pairs)),),
                                 registry._tatoeba("fra.txt"), Archive(archive, extract_members({"p/fra.txt": "fra.txt"})))
    _register(monkeypatch, entry)
    assert load("toyzip", "all") == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert sorted(p.name for p in (tmp_path / "toyzip").iterdir()) == ["fra.txt"]  # archive gone, no temp files
    files.clear()  # offline now: the cache answers
    assert load("toyzip", "all", download=False)[1] == ("Hi.", "Salut !")


def test_archive_whose_contents_do_not_match_keeps_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    archive = _remote(base, "bad.zip", _zip({"p/fra.txt": b"changed upstream\n"}), files)
    entry = registry.DatasetInfo("badzip", "toy", "none", ("all",), (RemoteFile("fra.txt", "", "0" * 64, 17),),
                                 registry._tatoeba("fra.txt"), Archive(archive, extract_members({"p/fra.txt": "fra.txt"})))
    _register(monkeypatch, entry)
    with pytest.raises(DatasetError, match="fra.txt built from bad.zip does not match .*nothing was kept"):
        load("badzip", "all")
    assert not (tmp_path / "badzip" / "fra.txt").exists()
    with pytest.raises(DatasetError, match="no member 'q/x.txt'"):
        extract_members({"q/x.txt": "x.txt"})(tmp_path / "badzip" / "bad.zip", tmp_path)


def _imdb_tarball(path: Path, reviews: list[tuple[str, str, int, int, str]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for split, label, rid, rating, text in reviews:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{rid}_{rating}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("aclImdb/imdb.vocab")  # other members are ignored
        info.size = 3
        tar.addfile(info, io.BytesIO(b"the"))


def test_imdb_packer_writes_the_documented_csv_layout(tmp_path):
    reviews = [
        ("train", "pos", 10, 9, 'Great, "really" great.<br />Two lines\nhere'),
        ("train", "neg", 2, 1, "Bad\tfilm — très mauvais"),
        ("train", "pos", 9, 7, "ok"),
        ("test", "neg", 0, 3, "meh"),
        ("test", "pos", 1, 8, "fine"),
    ]
    _imdb_tarball(tmp_path / "a.tar.gz", reviews)
    imdb_csv_from_tarball(tmp_path / "a.tar.gz", tmp_path)
    # expected bytes written out by hand: neg before pos, then numeric id; RFC-4180 quoting; LF ends
    expected_train = (
        'label,id,rating,text\n'
        'neg,2,1,Bad\tfilm — très mauvais\n'
        'pos,9,7,ok\n'
        'pos,10,9,"Great, ""really"" great.<br />Two lines\nhere"\n'
    )
    raw = (tmp_path / "train.csv.gz").read_bytes()
    assert gzip.decompress(raw).decode("utf-8") == expected_train
    assert raw[4:8] == b"\0\0\0\0" and raw[3] & 0x08 == 0  # mtime 0, no stored file name
    texts, labels = registry._parse_imdb({"test.csv.gz": tmp_path / "test.csv.gz"}, "test")
    assert texts == ["meh", "fine"] and labels.tolist() == [0, 1]
    # movie groups: blocks of consecutive ids of one label, in the same row order as the texts
    assert registry._imdb_groups(tmp_path / "train.csv.gz", 100) == ["neg:0", "pos:0", "pos:0"]
    assert registry._imdb_groups(tmp_path / "train.csv.gz", 5) == ["neg:0", "pos:1", "pos:2"]


def test_imdb_packer_rejects_a_foreign_archive(tmp_path):
    _imdb_tarball(tmp_path / "a.tar.gz", [("train", "pos", 1, 9, "x")])  # no test reviews
    with pytest.raises(DatasetError, match="holds no test reviews"):
        imdb_csv_from_tarball(tmp_path / "a.tar.gz", tmp_path)
    (tmp_path / "b.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DatasetError, match="not a readable .tar.gz"):
        imdb_csv_from_tarball(tmp_path / "b.tar.gz", tmp_path)
    assert not list(tmp_path.glob("*.csv.gz"))


def test_rebuilt_gzip_is_accepted_by_its_content_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    content = b"label,id,rating,text\npos,1,9,x\n"
    registered = gzip.compress(content, compresslevel=9, mtime=0)
    (tmp_path / "toy").mkdir()
    other_bytes = gzip.compress(content, compresslevel=1, mtime=12345)  # same content, other bytes
    (tmp_path / "toy" / "t.csv.gz").write_bytes(other_bytes)
    remote = RemoteFile("t.csv.gz", "", _sha(registered), len(registered), content_sha256=_sha(content))
    assert cache.local_file("toy", remote) == tmp_path / "toy" / "t.csv.gz"
    (tmp_path / "toy" / "t.csv.gz").write_bytes(gzip.compress(content + b"neg,2,1,y\n"))
    with pytest.raises(DatasetError, match="does not match the registered checksum"):
        cache.local_file("toy", remote)
    (tmp_path / "toy" / "t.csv.gz").write_bytes(other_bytes[:20])  # truncated gzip: not a match, not a crash
    with pytest.raises(DatasetError, match="does not match the registered checksum"):
        cache.local_file("toy", remote)


def test_many_files_download_in_parallel_and_a_failure_keeps_the_good_ones(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    good = [_remote(base, f"rec/{i}.wav", bytes([i]) * (1000 + i), files) for i in range(20)]
    paths = cache.download_many("toy", good)
    assert [p.read_bytes() for p in paths] == [bytes([i]) * (1000 + i) for i in range(20)]
    cut = _remote(base, "rec/cut.wav", b"z" * 100_000, files, mode="drop")
    more = [_remote(base, f"rec/m{i}.wav", b"m" * 500, files) for i in range(5)]
    with pytest.raises(DatasetError, match="cut.wav"):
        cache.download_many("toy", [cut, *more])
    names = sorted(p.name for p in (tmp_path / "toy" / "rec").iterdir())
    assert "cut.wav" not in names and not [n for n in names if n.endswith(".part")]
    # one worker: the files after the failed one are still queued and get cancelled, which
    # must still end in the failed file's DatasetError (not concurrent.futures' CancelledError)
    later = [_remote(base, f"rec/q{i}.wav", b"q" * 500, files) for i in range(3)]
    with pytest.raises(DatasetError, match="cut.wav"):
        cache.download_many("toy", [cut, *later], workers=1)


def test_fsdd_manifest_matches_the_dataset_layout():
    files = registry.info("fsdd").files
    assert len(files) == 3_000 and len({f.name for f in files}) == 3_000
    stems = [Path(f.name).stem.split("_") for f in files]
    assert {int(d) for d, _, _ in stems} == set(range(10)) and {int(i) for _, _, i in stems} == set(range(50))
    assert len({s for _, s, _ in stems}) == 6
    assert all(f.url.endswith(f.name) and len(f.sha256) == 64 for f in files)


def test_wav_reader_against_hand_made_samples(tmp_path):
    import wave

    samples = np.array([0, 16384, -32768, 32767, -1], dtype="<i2")
    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(samples.tobytes())
    audio, rate = registry._read_wav(tmp_path / "a.wav")
    assert rate == 8000 and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, [0.0, 0.5, -1.0, 32767 / 32768, -1 / 32768])
    with wave.open(str(tmp_path / "s.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0" * 8)
    with pytest.raises(DatasetError, match="2-channel 16-bit audio; expected mono"):
        registry._read_wav(tmp_path / "s.wav")


@pytest.mark.slow  # parses three real archives (about 2 s)
def test_real_imdb_fsdd_and_fra_eng_counts(shared_data):
    shared_data("imdb", "fsdd", "tatoeba-fra-eng")
    first = {"train": "Story of a man who has unnatural feelings for a pig.", "test": "Once again Mr. Costner has dragged out"}
    for split in ("train", "test"):
        texts, labels = load("imdb", split, download=False)
        assert len(texts) == 25_000 and labels.sum() == 12_500
        assert texts[0].startswith(first[split]) and labels[0] == 0, texts[0][:80]  # the packer's order: neg, id 0 first
    fsdd = load("fsdd", "all", download=False)
    assert len(fsdd["audio"]) == 3_000 and fsdd["sample_rate"] == 8000
    assert np.bincount(fsdd["label"]).tolist() == [300] * 10 and len(set(fsdd["speaker"])) == 6
    assert all(a.dtype == np.float32 and np.abs(a).max() <= 1.0 for a in fsdd["audio"])
    test = load("fsdd", "test", download=False)
    assert len(test["audio"]) == 300 and all(int(f.split("_")[2][:-4]) < 5 for f in test["file"])
    assert len(load("fsdd", "train", download=False)["label"]) == 2_700
    pairs = load("tatoeba-fra-eng", "all", download=False)
    assert len(pairs) == 167_130 and pairs[:2] == [("Go.", "Va !"), ("Hi.", "Salut !")]


@pytest.mark.slow
def test_imdb_packer_reproduces_the_registered_content(tmp_path, shared_data):
    """Unpack the shared CSVs into an aclImdb-shaped tarball, pack it again, compare to the registered content hashes."""
    shared = shared_data("imdb")
    reviews = []
    for split in ("train", "test"):
        with gzip.open(shared / "imdb" / f"{split}.csv.gz", "rt", encoding="utf-8", newline="") as f:
            rows = csv.reader(f)
            next(rows)
            reviews += [(split, label, int(rid), int(rating), text) for label, rid, rating, text in rows]
    reviews.reverse()  # the packer must sort
    _imdb_tarball(tmp_path / "aclImdb_v1.tar.gz", reviews)
    imdb_csv_from_tarball(tmp_path / "aclImdb_v1.tar.gz", tmp_path)
    for remote in registry.info("imdb").files:
        assert cache.sha256_of(tmp_path / remote.name, gunzip=True) == remote.content_sha256
