"""DeepLabCut reader: CSV and both pandas HDF5 layouts, multi-animal, named skeletons, no code from pickles."""

import csv
import os
import pickle

import h5py
import numpy as np
import pytest

from lift3d.core.skeleton import COCO_17
from lift3d.errors import KeypointFileError
from lift3d.io.keypoints_dlc import read_dlc

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
