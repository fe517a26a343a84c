"""Fuzzing the keypoint readers: any bytes give a `Keypoints2D` or a `KeypointFileError` naming the file.

Readers: OpenPose JSON folders, COCO results, DeepLabCut CSV and HDF5 (both pandas layouts), MediaPipe JSON,
npz (compressed as lift3d writes it, and plain `np.savez`), and `read_keypoints`' format guessing. Inputs: random
bytes; damaged copies of real OpenPose files (../shared/data) and of files written here; valid JSON with keys
deleted or values of the wrong type; npz files of object arrays (never unpickled) and text named ``.npz``.
"""

import csv
import io
import json
import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from fuzzing import fuzz_settings, mutated, mutated_tree, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import COCO_17
from lift3d.errors import KeypointFileError
from lift3d.io.keypoints import read_keypoints
from lift3d.io.keypoints_coco import read_coco
from lift3d.io.keypoints_dlc import read_dlc
from lift3d.io.keypoints_mediapipe import read_mediapipe
from lift3d.io.keypoints_npz import read_keypoints_npz, write_keypoints_npz
from lift3d.io.keypoints_openpose import read_openpose

POSE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
RNG = np.random.default_rng(0)


def _openpose_seed() -> bytes:
    """A real OpenPose file with two detections (a BODY_25B file written here without ../shared/data)."""
    real = POSE / "multi_Participants1-2" / "pose" / "cam01_json" / "cam01.0000.json"
    if real.is_file():
        return real.read_bytes()
    people = [{"person_id": [-1], "pose_keypoints_2d": RNG.uniform(0, 900, 75).round(3).tolist()} for _ in range(2)]
    return json.dumps({"version": 1.3, "people": people}).encode()


def _coco_seed() -> bytes:
    xyc = np.concatenate([RNG.uniform(0, 640, (3, 17, 2)), RNG.uniform(0, 1, (3, 17, 1))], -1).round(3)
    dets = [{"image_id": i // 2, "category_id": 1, "keypoints": x.ravel().tolist(), "score": 0.9}
            for i, x in enumerate(xyc)]  # fmt: skip
    dets[2]["image_id"] = "frame_000007.jpg"
    return json.dumps(dets).encode()


def _mediapipe_seed() -> bytes:
    def person():
        return [{"x": round(float(x), 3), "y": round(float(y), 3), "z": 0.0, "visibility": round(float(v), 3)}
                for x, y, v in RNG.uniform(size=(33, 3))]  # fmt: skip

    doc = {"image_width": 640, "image_height": 480, "fps": 30,
           "frames": [{"frame": 0, "landmarks": person()}, {"frame": 1, "landmarks": [person(), person()]},
                      {"frame": 2, "landmarks": []}]}  # fmt: skip
    return json.dumps(doc).encode()


DLC_PARTS = ("snout", "left_ear", "right_ear")


def _dlc_columns(individuals=("m1", "m2")):
    return [("scorer", i, b, c) for i in individuals for b in DLC_PARTS for c in ("x", "y", "likelihood")]


def _dlc_csv_seed() -> bytes:
    columns, values = _dlc_columns(), RNG.uniform(0, 1, (4, 18)).round(4)
    values[1, 0] = np.nan
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for k, name in enumerate(["scorer", "individuals", "bodyparts", "coords"]):
        w.writerow([name] + [c[k] for c in columns])
    for r, row in enumerate(values):
        w.writerow([r] + ["" if np.isnan(v) else repr(float(v)) for v in row])
    return out.getvalue().encode()


def _text(attrs, **values):
    for name, value in values.items():
        attrs.create(name, np.array(value.encode()), dtype=h5py.string_dtype("utf-8", len(value.encode())))


def _dlc_h5_seeds() -> dict[str, bytes]:
    """DeepLabCut's two pandas HDF5 layouts (as in test_keypoints_dlc.py), written with h5py."""
    columns, values = _dlc_columns(), RNG.uniform(0, 1, (4, 18))
    levels = ["scorer", "individuals", "bodyparts", "coords"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        dumps = lambda obj: np.bytes_(pickle.dumps(obj, protocol=0))  # noqa: E731
        rows = np.zeros(len(values), dtype=[("index", "<i8"), ("values_block_0", "<f8", (len(columns),))])
        rows["index"], rows["values_block_0"] = np.arange(len(values)), values
        with h5py.File(Path(tmp) / "table.h5", "w") as f:
            g = f.create_group("df_with_missing")
            _text(g.attrs, pandas_type="frame_table")
            g.attrs.update(non_index_axes=dumps([(1, list(columns))]),
                           info=dumps({1: {"names": levels, "type": "MultiIndex"}}))  # fmt: skip
            t = g.create_dataset("table", data=rows)
            t.attrs.update(values_block_0_kind=dumps(list(columns)))
        with h5py.File(Path(tmp) / "fixed.h5", "w") as f:
            g = f.create_group("df_with_missing")
            _text(g.attrs, pandas_type="frame")
            g.attrs.update(axis0_nlevels=np.int64(len(levels)), nblocks=np.int64(1))
            for prefix in ("axis0", "block0_items"):
                for k, name in enumerate(levels):
                    uniq = sorted({c[k] for c in columns})
                    _text(g.create_dataset(f"{prefix}_level{k}", data=np.array(uniq, dtype="S")).attrs, name=name)
                    g.create_dataset(f"{prefix}_label{k}", data=np.array([uniq.index(c[k]) for c in columns], "i1"))
            g.create_dataset("block0_values", data=values)
            g.create_dataset("axis1", data=np.arange(len(values)))
        for name in ("table", "fixed"):
            out[f"h5_{name}"] = (Path(tmp) / f"{name}.h5").read_bytes()
    return out


def _npz_seeds() -> dict[str, bytes]:
    """What `write_keypoints_npz` writes (compressed), and the same arrays by a plain `np.savez`."""
    xyc = RNG.uniform(0, 1, (3, 2, 17, 3))
    kp = Keypoints2D(points=xyc[..., None, :, :2] * 640, confidence=xyc[..., None, :, 2], views=("a", "b"),
                     skeleton=COCO_17, frame_ids=np.array([4, 5, 7]), fps=25.0)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        compressed = write_keypoints_npz(Path(tmp) / "kp.npz", kp).read_bytes()
    plain = io.BytesIO()
    np.savez(plain, points=kp.points[:, :, 0], confidence=kp.confidence[:, :, 0], views=np.array(kp.views),
             skeleton=np.array("coco"), frame_ids=kp.frame_ids, fps=np.array(25.0))  # fmt: skip
    return {"npz_compressed": compressed, "npz_plain": plain.getvalue()}


SEEDS = {"openpose": _openpose_seed(), "coco": _coco_seed(), "mediapipe": _mediapipe_seed(),
         "dlc_csv": _dlc_csv_seed(), **_dlc_h5_seeds(), **_npz_seeds()}  # fmt: skip


def _openpose_folder(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "cam01_json"
    folder.mkdir(exist_ok=True)
    (folder / "cam01.0000.json").write_bytes(SEEDS["openpose"])
    (folder / "cam01.0001.json").write_bytes(data)
    return folder


READERS = {  # seed -> (file name, reader)
    "openpose": ("cam01_json", lambda p: read_openpose(p, skeleton="body_25b")),
    "coco": ("cam1.json", read_coco),
    "mediapipe": ("cam1.json", read_mediapipe),
    "dlc_csv": ("cam1.csv", read_dlc),
    "h5_table": ("cam1.h5", read_dlc),
    "h5_fixed": ("cam1.h5", read_dlc),
    "npz_compressed": ("kp.npz", read_keypoints_npz),
    "npz_plain": ("kp.npz", read_keypoints_npz),
}


def _read(tmp_path: Path, seed: str, data: bytes, read=None):
    name, reader = READERS[seed]
    path = _openpose_folder(tmp_path, data) if seed == "openpose" else tmp_path / name
    if seed != "openpose":
        path.write_bytes(data)
    kp = read_or_error(read or reader, path, KeypointFileError)
    if kp is not None:
        assert isinstance(kp, Keypoints2D)
        assert not np.isinf(kp.points).any() and np.all(np.isfinite(kp.confidence) & (kp.confidence >= 0))
        assert np.array_equal(np.isnan(kp.points).any(-1), kp.confidence == 0)
    return kp


@pytest.mark.parametrize("seed", sorted(READERS))
def test_seeds_are_valid(tmp_path, seed):
    assert _read(tmp_path, seed, SEEDS[seed]) is not None


@fuzz_settings(100)
@given(data=random_bytes)
@pytest.mark.parametrize("seed", sorted(READERS))
def test_random_bytes(tmp_path, seed, data):
    _read(tmp_path, seed, data)


@fuzz_settings(100)
@given(name=st.sampled_from(["kp.json", "kp.npz", "kp.csv", "kp.h5", "kp.txt"]), data=random_bytes)
def test_format_guessing_on_random_bytes(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    read_or_error(read_keypoints, tmp_path / name, KeypointFileError)


@fuzz_settings(150)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(READERS))
def test_damaged_files(tmp_path, seed, data):
    _read(tmp_path, seed, data.draw(mutated(SEEDS[seed])))


@fuzz_settings(200)
@given(data=st.data())
@pytest.mark.parametrize("seed", ["openpose", "coco", "mediapipe"])
def test_wrong_types_in_json(tmp_path, seed, data):
    tree = data.draw(mutated_tree(json.loads(SEEDS[seed])))
    _read(tmp_path, seed, json.dumps(tree).encode())


def test_npz_of_object_arrays_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "kp.npz"
    np.savez(path, points=np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(KeypointFileError, match=r"kp\.npz: array 'points'.*Python objects"):
        read_keypoints_npz(path)


def test_text_named_npz(tmp_path):
    (tmp_path / "kp.npz").write_text("points,confidence\n1,2\n")
    with pytest.raises(KeypointFileError, match=r"kp\.npz: not a readable \.npz file"):
        read_keypoints(tmp_path / "kp.npz")


def test_openpose_error_names_file_person_and_field(tmp_path):
    doc = json.loads(SEEDS["openpose"])
    doc["people"][1]["pose_keypoints_2d"] = doc["people"][1]["pose_keypoints_2d"][:12]
    folder = _openpose_folder(tmp_path, json.dumps(doc).encode())
    with pytest.raises(KeypointFileError, match=r"cam01_json/cam01\.0001\.json: people\[1\]\.pose_keypoints_2d: "
                                                r"expected 75 numbers .*got 12"):  # fmt: skip
        read_openpose(folder, skeleton="body_25b")
