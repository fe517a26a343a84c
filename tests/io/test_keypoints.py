"""2D keypoint readers: real OpenPose files, frame alignment, malformed files, COCO, DLC, MediaPipe, npz."""

import csv
import json
import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from lift3d.core.skeleton import BLAZEPOSE_33, BODY_25B, COCO_17
from lift3d.io.keypoints import (
    OPENPOSE_COCO_18,
    KeypointFileError,
    KeypointFileWarning,
    Keypoints2D,
    read_coco,
    read_dlc,
    read_keypoints,
    read_keypoints_npz,
    read_mediapipe,
    read_openpose,
    write_keypoints_npz,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
BALANCING = SHARED / "single_BalancingTrial" / "pose"
MULTI = SHARED / "multi_Participants1-2" / "pose"


def _reference(pose_dir: Path):
    """Independent float64 reading of an OpenPose trial: {(camera, frame): [(25, 3) array per person]}."""
    out = {}
    for cam_dir in sorted(pose_dir.iterdir()):
        for f in sorted(cam_dir.glob("*.json")):
            people = json.loads(f.read_text())["people"]
            out[cam_dir.name.removesuffix("_json"), int(f.stem.split(".")[-1])] = [
                np.array(p["pose_keypoints_2d"], float).reshape(-1, 3) for p in people
            ]
    return out


def _copy_trial(src: Path, dst: Path, frames: int = 6) -> Path:
    """The first `frames` files of each camera folder of `src` (plus any .json.old) copied under `dst`."""
    for cam_dir in sorted(src.iterdir()):
        (dst / cam_dir.name).mkdir(parents=True)
        for f in sorted(cam_dir.glob("*.json"))[:frames]:
            shutil.copy(f, dst / cam_dir.name / f.name)
    return dst


# ------------------------------------------------------------------------------------------------ OpenPose


@needs_shared
def test_openpose_balancing_trial_matches_the_json():
    kp = read_openpose(BALANCING, skeleton="body_25b", dtype=np.float64)
    assert kp.views == ("cam01", "cam02", "cam03", "cam04") and kp.skeleton is BODY_25B
    np.testing.assert_array_equal(kp.frame_ids, np.arange(100))
    assert kp.points.shape == (100, 4, 3, 25, 2) and kp.confidence.shape == (100, 4, 3, 25)  # cam01: 3 once
    assert kp.notes == () and kp.fps is None and kp.person_score is None
    ref = _reference(BALANCING)
    counts = np.zeros((4, 4), int)  # view x number of people
    for (cam, frame), people in ref.items():
        v = kp.views.index(cam)
        counts[v, len(people)] += 1
        for i in range(3):
            xyc = people[i] if i < len(people) else np.zeros((25, 3))
            ok = xyc[:, 2] > 0
            np.testing.assert_array_equal(kp.confidence[frame, v, i], np.where(ok, xyc[:, 2], 0))
            np.testing.assert_array_equal(kp.points[frame, v, i][ok], xyc[ok, :2])
            assert np.isnan(kp.points[frame, v, i][~ok]).all()
    # 4 cameras x 100 frames; cam01 and cam02 also see the bystander, cam01 once a third detection
    np.testing.assert_array_equal(counts, [[0, 0, 99, 1], [0, 0, 100, 0], [0, 100, 0, 0], [0, 100, 0, 0]])
    assert kp.points[0, 0, 0, 0].tolist() == [505.232, 431.63]
    # default float32 arrays hold the same values to float32 precision
    kp32 = read_openpose(BALANCING, skeleton="body_25b")
    assert kp32.points.dtype == np.float32
    np.testing.assert_allclose(kp32.points, kp.points, rtol=1e-7)


@needs_shared
def test_openpose_multi_participants_pads_people_and_keeps_empty_detections():
    kp = read_openpose(MULTI, skeleton="BODY_25B")
    assert kp.points.shape == (100, 4, 4, 25, 2)
    detected = kp.valid.any(axis=-1)  # (t, v, p)
    per_view = detected.sum(axis=2)
    assert per_view.min() >= 1 and per_view.max() == 4
    # cam01 frame 1 lists an empty pose_keypoints_2d first: its slot stays, all missing; the others follow it
    ref = _reference(MULTI)[("cam01", 1)]
    assert len(ref[0]) == 0 and not detected[1, 0, 0] and detected[1, 0, 1]
    np.testing.assert_allclose(kp.points[1, 0, 1, 0], ref[1][0, :2], rtol=1e-6)


@needs_shared
def test_openpose_folder_list_names_and_skeleton_errors():
    dirs = [BALANCING / "cam03_json", BALANCING / "cam01_json"]
    kp = read_openpose(dirs, skeleton="body_25b", views=["c", "a"])
    assert kp.views == ("c", "a") and kp.source == tuple(str(d) for d in dirs)
    both = read_openpose(BALANCING, skeleton="body_25b").select_views(["cam03", "cam01"])
    np.testing.assert_array_equal(kp.points, both.points[:, :, : kp.num_people])
    with pytest.raises(KeypointFileError, match=r"cam01\.0000\.json: person 0, .*75 numbers; pass skeleton="):
        read_openpose(dirs[1])  # 25 joints: BODY_25 or BODY_25B must be named
    with pytest.raises(KeypointFileError, match=r"cam01\.0000\.json: person 0, field 'pose_keypoints_2d': "
                                                r"expected 51 numbers .* 'coco', got 75"):  # fmt: skip
        read_openpose(dirs[1], skeleton="coco")


def _write_openpose(folder: Path, frame: int, people: list, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{folder.name.removesuffix('_json')}.{frame:04d}.json")
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": p} for p in people]}))
    return path


def test_openpose_wrong_joint_count_names_file_person_and_field(tmp_path):
    good = list(np.arange(75.0) + 1)
    _write_openpose(tmp_path / "cam1_json", 0, [good])
    bad = _write_openpose(tmp_path / "cam1_json", 1, [good, good[:-3]])
    with pytest.raises(KeypointFileError) as e:
        read_openpose(tmp_path / "cam1_json", skeleton="body_25")
    msg = str(e.value)
    assert str(bad) in msg and "person 1" in msg and "'pose_keypoints_2d'" in msg and "got 72" in msg
    with pytest.warns(KeypointFileWarning), pytest.raises(KeypointFileError, match="every file failed"):
        read_openpose(tmp_path / "cam1_json", skeleton="coco", on_error="skip")
    _write_openpose(tmp_path / "cam1_json", 1, [good, ["x"] * 75])
    with pytest.raises(KeypointFileError, match=r"person 1, field 'pose_keypoints_2d': expected a flat list"):
        read_openpose(tmp_path / "cam1_json", skeleton="body_25")


def test_openpose_frame_number_from_file_name_and_coco18(tmp_path):
    folder = tmp_path / "front"
    person = [v for j in range(18) for v in (10.0 + j, 20.0 + j, 0.0 if j == 1 else 0.9)]  # neck undetected
    for frame in (12, 3):
        _write_openpose(folder, 0, [person], name=f"video_{frame:012d}_keypoints.json")
    (folder / "video_000000000003_keypoints.json.old").write_text("not json")
    kp = read_openpose(folder)  # 18 joints: OpenPose COCO inferred
    assert kp.skeleton is OPENPOSE_COCO_18 and kp.views == ("front",)
    np.testing.assert_array_equal(kp.frame_ids, [3, 12])
    assert np.isnan(kp.points[0, 0, 0, 1]).all() and kp.confidence[0, 0, 0, 1] == 0
    coco = kp.remap(COCO_17)  # MS-COCO-17: neck dropped, joints reordered by name
    assert coco.skeleton is COCO_17 and coco.points.shape[-2] == 17
    for j, name in enumerate(COCO_17.joints):
        np.testing.assert_array_equal(coco.points[..., j, :], kp.points[..., OPENPOSE_COCO_18.index(name), :])
    _write_openpose(folder, 0, [person], name="video_000000000012.json")  # frame 12 twice
    with pytest.raises(KeypointFileError, match="frame 12 already read"):
        read_openpose(folder)


@needs_shared
def test_openpose_mismatched_frame_counts_are_aligned_and_reported(tmp_path):
    pose = _copy_trial(BALANCING, tmp_path / "pose")
    (pose / "cam02_json" / "cam02.0003.json").unlink()
    shutil.copy(BALANCING / "cam01_json" / "cam01.0000.json", pose / "cam01_json" / "cam01.0000.json.old")
    with pytest.warns(KeypointFileWarning, match=r"camera 'cam02' .* lacks 1 of 6 frames: 3"):
        kp = read_openpose(pose, skeleton="body_25b")
    full = read_openpose(BALANCING, skeleton="body_25b")
    np.testing.assert_array_equal(kp.frame_ids, np.arange(6))
    assert len(kp.notes) == 1 and "cam02" in kp.notes[0]
    assert not kp.valid[3, 1].any() and kp.valid[3, [0, 2, 3]].any(axis=(-1, -2)).all()
    keep = np.ones(6, bool)
    keep[3] = False
    p = kp.num_people
    np.testing.assert_array_equal(kp.points[keep], full.points[:6][keep][:, :, :p])
    np.testing.assert_array_equal(kp.points[3, [0, 2, 3]], full.points[3, [0, 2, 3], :p])


@needs_shared
def test_openpose_truncated_json_raises_or_is_skipped(tmp_path):
    pose = _copy_trial(BALANCING, tmp_path / "pose", frames=4)
    broken = pose / "cam03_json" / "cam03.0002.json"
    broken.write_text(broken.read_text()[:300])
    with pytest.raises(KeypointFileError) as e:
        read_openpose(pose, skeleton="body_25b")
    assert str(broken) in str(e.value) and "invalid JSON at line 1 column" in str(e.value)
    with pytest.warns(KeypointFileWarning, match=r"skipped \(camera 'cam03', frame 2\).*cam03\.0002\.json"):
        kp = read_openpose(pose, skeleton="body_25b", on_error="skip")
    assert kp.points.shape[:2] == (4, 4) and len(kp.notes) == 1
    assert np.isnan(kp.points[2, 2]).all() and (kp.confidence[2, 2] == 0).all()
    assert kp.valid[[0, 1, 3], 2].any() and kp.valid[2, [0, 1, 3]].any()  # the other frames and cameras stay
    with pytest.raises(ValueError, match="on_error"):
        read_openpose(pose, skeleton="body_25b", on_error="ignore")


# ------------------------------------------------------------------------------------------------ COCO


def _coco_det(image_id, xyc, score=0.9, category_id=1):
    return {
        "image_id": image_id,
        "category_id": category_id,
        "keypoints": xyc.ravel().tolist(),
        "score": score,
    }


def test_coco_results_per_camera(tmp_path):
    rng = np.random.default_rng(0)
    xyc = np.concatenate([rng.uniform(0, 640, (4, 17, 2)), rng.uniform(0.1, 1, (4, 17, 1))], axis=-1)
    xyc[1, 5, 2] = 0  # a joint not detected
    a = [
        _coco_det(0, xyc[0]),
        _coco_det(1, xyc[1], 0.8),
        _coco_det(1, xyc[2], 0.5),
        _coco_det(1, xyc[3], 1, 2),
    ]
    b = [_coco_det("frame_000002.jpg", xyc[3], 0.7)]
    (tmp_path / "left.json").write_text(json.dumps(a))
    (tmp_path / "right.json").write_text(json.dumps(b))
    with pytest.warns(KeypointFileWarning) as caught:
        kp = read_coco([tmp_path / "left.json", tmp_path / "right.json"], fps=25, dtype=np.float64)
    assert [str(w.message).split(" (")[0] for w in caught] == ["camera 'left'", "camera 'right'"]
    assert kp.notes[1].endswith("lacks 2 of 3 frames: 0-1") and kp.notes[0].endswith("lacks 1 of 3 frames: 2")
    assert kp.views == ("left", "right") and kp.skeleton is COCO_17 and kp.fps == 25.0
    np.testing.assert_array_equal(kp.frame_ids, [0, 1, 2])
    assert kp.points.shape == (3, 2, 2, 17, 2)  # the category-2 detection is dropped
    np.testing.assert_array_equal(kp.points[1, 0, 1], xyc[2, :, :2])
    assert np.isnan(kp.points[1, 0, 0, 5]).all() and kp.confidence[1, 0, 0, 5] == 0
    np.testing.assert_array_equal(kp.person_score[1, 0], [0.8, 0.5])
    np.testing.assert_array_equal(kp.points[2, 1, 0], xyc[3, :, :2])
    assert np.isnan(kp.person_score[0, 1]).all() and not kp.valid[:2, 1].any()
    mapped = read_coco(tmp_path / "left.json", image_to_frame={0: 10, 1: 11})
    np.testing.assert_array_equal(mapped.frame_ids, [10, 11])
    a[2]["keypoints"] = a[2]["keypoints"][:-1]
    (tmp_path / "left.json").write_text(json.dumps(a))
    with pytest.raises(
        KeypointFileError, match=r"left\.json: entry 2, field 'keypoints': expected 51 numbers"
    ):
        read_coco(tmp_path / "left.json")


# ------------------------------------------------------------------------------------------------ DeepLabCut

SCORER = "DLC_resnet50_testMar1shuffle1_1000"


def _dlc_columns(parts, individuals=None):
    inds = individuals or [None]
    return [
        (SCORER, *([i] if i else []), b, c) for i in inds for b in parts for c in ("x", "y", "likelihood")
    ]


def _write_dlc_csv(path, columns, values, index=None):
    """A CSV laid out exactly as `DataFrame.to_csv` writes DeepLabCut's MultiIndex frames."""
    levels = ["scorer", "individuals", "bodyparts", "coords"]
    if len(columns[0]) == 3:
        levels.remove("individuals")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for k, name in enumerate(levels):
            w.writerow([name] + [c[k] for c in columns])
        for r, row in enumerate(values):
            w.writerow(
                [r if index is None else index[r]] + ["" if np.isnan(v) else repr(float(v)) for v in row]
            )


def _text(attrs, **values):
    """String attributes as PyTables writes them (fixed-length UTF-8 scalars)."""
    for name, value in values.items():
        attrs.create(name, np.array(value.encode()), dtype=h5py.string_dtype("utf-8", len(value.encode())))


def _write_dlc_h5_table(path, columns, values, levels):
    """``DataFrame.to_hdf(key="df_with_missing", format="table")`` as DeepLabCut writes its predictions.

    The layout of pandas 3.1 / PyTables 3.11; pandas reads these files back (checked when written)."""
    dumps = lambda obj: np.bytes_(pickle.dumps(obj, protocol=0))  # noqa: E731  (PyTables pickles attributes)
    rows = np.zeros(len(values), dtype=[("index", "<i8"), ("values_block_0", "<f8", (len(columns),))])
    rows["index"], rows["values_block_0"] = np.arange(len(values)), values
    with h5py.File(path, "w") as f:
        g = f.create_group("df_with_missing")
        _text(g.attrs, CLASS="GROUP", VERSION="1.0", pandas_type="frame_table", table_type="appendable_frame",
              encoding="UTF-8", errors="strict")  # fmt: skip
        info = {1: {"names": levels, "type": "MultiIndex"}, "index": {}, "values_block_0": {}}
        g.attrs.update(non_index_axes=dumps([(1, list(columns))]), values_cols=dumps(["values_block_0"]),
                       info=dumps(info),
                       index_cols=dumps([(0, "index")]), data_columns=dumps([]), levels=np.int64(1),
                       nan_rep=dumps(None), metadata=dumps([]))  # fmt: skip
        t = g.create_dataset("table", data=rows)
        _text(t.attrs, CLASS="TABLE", VERSION="2.7", index_kind="integer", values_block_0_dtype="float64",
              FIELD_0_NAME="index", FIELD_1_NAME="values_block_0")  # fmt: skip
        t.attrs.update(values_block_0_kind=dumps(list(columns)), NROWS=np.int64(len(values)),
                       values_block_0_meta=dumps(None))  # fmt: skip


def _write_dlc_h5_fixed(path, columns, values, levels):
    """``DataFrame.to_hdf(key="df_with_missing")``, pandas' default fixed format (DeepLabCut labels)."""
    with h5py.File(path, "w") as f:
        g = f.create_group("df_with_missing")
        _text(g.attrs, CLASS="GROUP", VERSION="1.0", pandas_type="frame", encoding="UTF-8", errors="strict",
              axis0_variety="multi", axis1_variety="regular", block0_items_variety="multi")  # fmt: skip
        g.attrs.update(axis0_nlevels=np.int64(len(levels)), block0_items_nlevels=np.int64(len(levels)),
                       nblocks=np.int64(1), ndim=np.int64(2))  # fmt: skip
        arrays = []
        for prefix in ("axis0", "block0_items"):
            for k, name in enumerate(levels):
                uniq = sorted({c[k] for c in columns})
                level = g.create_dataset(f"{prefix}_level{k}", data=np.array(uniq, dtype="S"))
                _text(level.attrs, kind="string", name=name)
                codes = np.array([uniq.index(c[k]) for c in columns], "i1")
                arrays += [level, g.create_dataset(f"{prefix}_label{k}", data=codes)]
        block = g.create_dataset("block0_values", data=values)  # (rows, columns), flagged transposed
        block.attrs["transposed"] = np.uint8(1)
        index = g.create_dataset("axis1", data=np.arange(len(values)))
        _text(index.attrs, kind="integer")
        for d in (*arrays, block, index):
            _text(d.attrs, CLASS="ARRAY", VERSION="2.4", FLAVOR="numpy")


def _dlc_values(rng, n, n_cols):
    values = rng.uniform(0, 500, (n, n_cols))
    values[:, 2::3] = rng.uniform(0, 1, (n, n_cols // 3))
    values[1, 0] = np.nan  # DeepLabCut leaves a coordinate empty when a part is lost
    return values


@pytest.mark.parametrize("layout", ["csv", "h5_table", "h5_fixed"])
def test_dlc_single_and_multi_animal(tmp_path, layout):
    rng = np.random.default_rng(1)
    parts = ["snout", "left_ear", "right_ear"]
    single, multi = _dlc_columns(parts), _dlc_columns(parts, ["mouse1", "mouse2"])
    v1, v2 = _dlc_values(rng, 5, len(single)), _dlc_values(rng, 5, len(multi))
    writers = {"csv": lambda p, c, v, lv: _write_dlc_csv(p, c, v), "h5_table": _write_dlc_h5_table,
               "h5_fixed": _write_dlc_h5_fixed}  # fmt: skip
    ext = ".csv" if layout == "csv" else ".h5"
    writers[layout](tmp_path / f"cam1{ext}", single, v1, ["scorer", "bodyparts", "coords"])
    writers[layout](tmp_path / f"cam2{ext}", multi, v2, ["scorer", "individuals", "bodyparts", "coords"])
    kp = read_dlc([tmp_path / f"cam1{ext}", tmp_path / f"cam2{ext}"], dtype=np.float64)
    assert kp.skeleton.name == "dlc" and kp.skeleton.joints == tuple(parts)
    assert kp.skeleton.left_right == ((1, 2),)
    assert kp.views == ("cam1", "cam2") and kp.points.shape == (5, 2, 2, 3, 2)
    np.testing.assert_array_equal(kp.frame_ids, np.arange(5))
    xyc1 = v1.reshape(5, 3, 3)
    np.testing.assert_array_equal(kp.points[2:, 0, 0], xyc1[2:, :, :2])
    np.testing.assert_array_equal(kp.confidence[:, 0, 0, 1:], xyc1[:, 1:, 2])
    assert np.isnan(kp.points[1, 0, 0, 0]).all() and kp.confidence[1, 0, 0, 0] == 0  # x empty: joint missing
    assert np.isnan(kp.points[:, 0, 1]).all()  # single animal: no second individual
    xyc2 = v2.reshape(5, 2, 3, 3)
    np.testing.assert_array_equal(kp.points[2:, 1], xyc2[2:, :, :, :2])


def test_dlc_named_skeleton_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    parts = list(COCO_17.joints[::-1])  # COCO names in another order: mapped to COCO_17
    cols = _dlc_columns(parts)
    values = _dlc_values(rng, 3, len(cols))
    _write_dlc_csv(tmp_path / "a.csv", cols, values)
    kp = read_dlc(tmp_path / "a.csv", dtype=np.float64)
    assert kp.skeleton is COCO_17
    np.testing.assert_array_equal(kp.points[2, 0, 0, COCO_17.index("nose")], values[2, 3 * 16 : 3 * 16 + 2])
    with pytest.raises(
        KeypointFileError, match=r"no body part\(s\) \['neck'\] for skeleton 'openpose_coco_18'"
    ):
        read_dlc(tmp_path / "a.csv", skeleton="coco_18")
    (tmp_path / "bad.csv").write_text("scorer,s,s,s\nbodyparts,a,a,a\ncoords,x,y,likelihood\n0,1,2,zz\n")
    with pytest.raises(
        KeypointFileError, match=r"bad\.csv: line 4, column 4 \('s', 'a', 'likelihood'\): not a "
    ):
        read_dlc(tmp_path / "bad.csv")
    (tmp_path / "nohead.csv").write_text("scorer,s\nfoo,a\n")
    with pytest.raises(KeypointFileError, match=r"nohead\.csv: line 2: expected DeepLabCut header rows"):
        read_dlc(tmp_path / "nohead.csv")


def test_dlc_h5_pickled_labels_cannot_run_code(tmp_path):
    cols = _dlc_columns(["a"])
    _write_dlc_h5_table(tmp_path / "evil.h5", cols, np.ones((2, 3)), ["scorer", "bodyparts", "coords"])
    with h5py.File(tmp_path / "evil.h5", "a") as f:
        f["df_with_missing"].attrs["non_index_axes"] = np.bytes_(pickle.dumps(os.getcwd, protocol=0))
    with pytest.raises(KeypointFileError, match=r"evil\.h5: unsupported pandas table layout \(refusing"):
        read_dlc(tmp_path / "evil.h5")


def test_dlc_h5_written_by_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("tables")
    cols = pd.MultiIndex.from_tuples(_dlc_columns(["nose", "tail"], ["m1", "m2"]),
                                     names=["scorer", "individuals", "bodyparts", "coords"])  # fmt: skip
    values = _dlc_values(np.random.default_rng(3), 4, len(cols))
    pd.DataFrame(values, columns=cols).to_hdf(
        tmp_path / "t.h5", key="df_with_missing", format="table", mode="w"
    )
    pd.DataFrame(values, columns=cols).to_hdf(tmp_path / "f.h5", key="df_with_missing", mode="w")
    for name in ("t.h5", "f.h5"):
        kp = read_dlc(tmp_path / name, dtype=np.float64)
        np.testing.assert_array_equal(kp.points[2:, 0], values.reshape(4, 2, 2, 3)[2:, :, :, :2])


# ------------------------------------------------------------------------------------------------ MediaPipe


def _landmarks(rng):
    return [
        {"x": float(x), "y": float(y), "z": 0.0, "visibility": float(v)}
        for x, y, v in rng.uniform(size=(33, 3))
    ]


def test_mediapipe_layout(tmp_path):
    rng = np.random.default_rng(4)
    p0, p1, p2 = _landmarks(rng), _landmarks(rng), _landmarks(rng)
    doc = {"image_width": 1920, "image_height": 1080, "fps": 30,
           "frames": [{"frame": 1, "landmarks": [p1, p2]}, {"frame": 0, "landmarks": p0},
                      {"frame": 2, "landmarks": []}]}  # fmt: skip
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    kp = read_mediapipe(tmp_path / "cam.json", dtype=np.float64)
    assert kp.skeleton is BLAZEPOSE_33 and kp.fps == 30.0 and kp.points.shape == (3, 1, 2, 33, 2)
    np.testing.assert_array_equal(kp.frame_ids, [0, 1, 2])
    np.testing.assert_allclose(kp.points[1, 0, 1, 7], [p2[7]["x"] * 1920 - 0.5, p2[7]["y"] * 1080 - 0.5])
    np.testing.assert_allclose(kp.confidence[0, 0, 0], [lm["visibility"] for lm in p0])
    assert not kp.valid[0, 0, 1].any() and not kp.valid[2].any()
    del doc["image_width"]
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    with pytest.raises(KeypointFileError, match="image_width.*pass image_size="):
        read_mediapipe(tmp_path / "cam.json")
    assert read_mediapipe(tmp_path / "cam.json", image_size=(100, 50)).points.shape == (3, 1, 2, 33, 2)
    doc["frames"][0]["landmarks"][1] = p1[:32]
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    with pytest.raises(
        KeypointFileError, match=r"cam\.json: frame 1, person 1, field 'landmarks': expected 33"
    ):
        read_mediapipe(tmp_path / "cam.json", image_size=(100, 50))


# --------------------------------------------------------------------------------------------- npz, dispatch


def test_npz_round_trip_and_single_person(tmp_path):
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 100, (4, 2, 3, 17, 2))
    conf = rng.uniform(0, 1, (4, 2, 3, 17))
    conf[0, 0, 0, :3] = 0
    pts[1, 1, 2] = np.nan
    kp = Keypoints2D(pts, conf, ("a", "b"), COCO_17, np.arange(4) + 7, fps=50.0)
    write_keypoints_npz(tmp_path / "k.npz", kp)
    back = read_keypoints(tmp_path / "k.npz", dtype=np.float64)
    assert back.views == ("a", "b") and back.skeleton is COCO_17 and back.fps == 50.0
    np.testing.assert_array_equal(back.frame_ids, kp.frame_ids)
    valid = (conf > 0) & ~np.isnan(pts).any(-1)
    np.testing.assert_array_equal(back.valid, valid)
    np.testing.assert_array_equal(back.points[valid], pts[valid])
    np.savez(tmp_path / "s.npz", points=pts[:, :, 0])  # (t, v, j, 2), no confidence: finite points count
    single = read_keypoints_npz(tmp_path / "s.npz", views=["x", "y"])
    assert single.points.shape == (4, 2, 1, 17, 2) and single.views == ("x", "y")
    assert single.valid.all()
    np.savez(tmp_path / "w.npz", points=pts[:, :, 0], confidence=conf[:, :, :2])
    with pytest.raises(KeypointFileError, match=r"w\.npz: array 'confidence' must have shape"):
        read_keypoints_npz(tmp_path / "w.npz")


@needs_shared
def test_read_keypoints_dispatches(tmp_path):
    kp = read_keypoints(BALANCING, skeleton="body_25b")
    assert kp.points.shape[:2] == (100, 4)
    (tmp_path / "c.json").write_text(json.dumps([_coco_det(3, np.ones((17, 3)))]))
    assert read_keypoints([tmp_path / "c.json"]).frame_ids.tolist() == [3]
    (tmp_path / "m.json").write_text(json.dumps({"image_width": 2, "image_height": 2, "frames": []}))
    assert read_keypoints(tmp_path / "m.json").skeleton is BLAZEPOSE_33
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(KeypointFileError, match="pass format="):
        read_keypoints(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="unknown keypoint format"):
        read_keypoints(tmp_path / "x.txt", format="vicon")
