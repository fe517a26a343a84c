"""learnable-triangulation's processed layout: the synthetic writer, the loader, bad input, the input pipeline."""

import shutil

import cv2
import jax
import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.datasets import multiview as lt
from lift3d.datasets.h36m import h36m_cameras, load_learnable_triangulation
from lift3d.errors import LTDataError
from lift3d.geometry.camera import crop_camera, project_points, projection_matrix, resize_camera
from lift3d.io import h36m_formats as fmt
from lift3d.synthetic import multiview_render as mr
from lift3d.synthetic.multiview_dataset import make_synthetic_multiview
from lift3d.synthetic.twin import make_dataset

# 48 px crops rendered at round(48 * 1.25) = 60 px, 2 rows x 4 views per call: the compiled renderer of
# tests/synthetic/test_multiview_render.py
S, SEED, STEP = 48, 4, 10
SUBJECTS, ACTIONS = ("S1", "S9"), ("Walking",)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    path = make_synthetic_multiview(
        root, subjects=SUBJECTS, actions=ACTIONS, trials=1, frames_per_action=3, frame_step=STEP, image_size=S,
        seed=SEED, chunk=2,
    )  # fmt: skip
    return path


def dataset(path, **kw):
    kw.setdefault("image_size", S)
    return lt.LTMultiViewDataset(path, train_subjects=("S1",), test_subjects=("S9",), **kw)


def copy_tree(path, tmp_path):
    """A private copy of the synthetic set (labels path in it) for tests that damage it."""
    root = tmp_path / "h36m"
    shutil.copytree(path.parent.parent, root)
    return root / "extra" / path.name


def test_layout(synthetic):
    labels = fmt.read_lt_labels(synthetic)
    assert labels["subject_names"] == list(SUBJECTS) and labels["action_names"] == ["Walking-1"]
    assert len(labels["table"]) == 6 and list(labels["table"]["frame_idx"][:3]) == [0, STEP, 2 * STEP]
    root = synthetic.parent.parent / "processed"
    for s in SUBJECTS:
        for c, name in enumerate(labels["camera_names"]):
            files = sorted((root / s / "Walking-1" / "imageSequence" / name).glob("*.jpg"))
            assert [f.name for f in files] == ["img_000001.jpg", "img_000011.jpg", "img_000021.jpg"]
            w, h = h36m_cameras(s).cameras.image_size[c]
            assert cv2.imread(str(files[0])).shape == (h, w, 3)  # full frames, as the real processed set
    # the project's own reader of the labels sees the synthetic twin's bodies (H36M-17 order, mm)
    ds = make_dataset(
        jax.random.split(jax.random.key(SEED))[0], subjects=SUBJECTS, actions=ACTIONS, trials=1,
        frames_per_sequence=3, fps=50.0 / STEP,
    )  # fmt: skip
    loaded = load_learnable_triangulation(synthetic)
    for a, b in zip(loaded.sequences, ds.sequences, strict=True):
        np.testing.assert_allclose(a.points_3d, b.points_3d, atol=1e-3)
    assert np.all(labels["cameras"]["dist"] == 0)  # rendered with the pinhole model


def test_cameras_and_joints_round_trip(synthetic):
    data = dataset(synthetic, fast_decode=False)
    assert (data.num_train, data.num_test, data.num_views, data.image_size) == (3, 3, 4, (S, S))
    batch = data.get_batch([0, 1, 2], train=False)
    labels = fmt.read_lt_labels(synthetic)
    rows = np.flatnonzero(labels["table"]["subject_idx"] == 1)
    rig = h36m_cameras("S9").cameras
    rig = rig.replace(dist=np.zeros_like(rig.dist))
    for i, r in enumerate(rows):
        box = labels["table"]["bbox_by_camera_tlbr"][r][:, [1, 0, 3, 2]].astype(np.float64)  # ltrb, scale 1
        cam = resize_camera(crop_camera(rig, box), np.array([S, S], np.float64))
        expected = np.asarray(projection_matrix(cam))
        np.testing.assert_allclose(batch["proj"][i], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        # joints: the table's (file order) in H36M-17 order
        np.testing.assert_array_equal(batch["joints_3d"][i], labels["table"]["keypoints"][r][lt.H36M_17_FROM_LT])
        # 2D: the full-frame projection carried through crop and resize by hand (pixel centres at integers)
        uv_full = np.asarray(project_points(rig, batch["joints_3d"][i].astype(np.float64)[None]))
        uv = (uv_full - box[:, None, :2] + 0.5) * (S / (box[:, None, 2:] - box[:, None, :2])) - 0.5
        assert np.max(np.abs(batch["joints_2d"][i] - uv)) < 0.5
        homog = np.einsum("vij,kj->vki", batch["proj"][i], np.c_[batch["joints_3d"][i], np.ones(17)])
        assert np.max(np.abs(homog[..., :2] / homog[..., 2:] - batch["joints_2d"][i])) < 0.05
    np.testing.assert_array_equal(batch["pelvis"], batch["joints_3d"][:, H36M_17.index("pelvis")])
    assert batch["view_mask"].all() and batch["joints_valid"].all() and batch["sample_mask"].all()
    assert batch["images"].shape == (3, 4, S, S, 3) and batch["images"].dtype == np.float32
    assert data.test_keys == [("S9", "Walking-1", f) for f in (0, STEP, 2 * STEP)]


def test_images_show_the_rendered_bodies(synthetic):
    """The loaded crop equals the writer's render carried into it by an independent affine map: the
    crop, resize and camera of the loader agree with the pasted pixels."""
    labels = fmt.read_lt_labels(synthetic)
    table, cams = labels["table"], labels["cameras"]
    rows = np.array([4, 5])  # S9 frames 10 and 20 (test positions 1, 2): 8 views, one render call
    k_render = jax.random.split(jax.random.key(SEED))[1]
    from lift3d.geometry.camera import Camera

    two = lambda x: np.concatenate([x, x]).astype(np.float64)  # noqa: E731  (S9's 4 cameras, twice)
    cam = Camera(K=two(cams["K"][1]), dist=np.zeros((8, 5)), R=two(cams["R"][1]), t=two(cams["t"][1][..., 0]),
                 image_size=np.zeros((8, 2)))  # fmt: skip
    box = table["bbox_by_camera_tlbr"][rows][..., [1, 0, 3, 2]].reshape(-1, 4).astype(np.int64)
    region = lt.scale_bbox(box, 1.25)  # what the writer rendered, at 60 px
    keys = jax.vmap(jax.random.fold_in, (None, 0))(k_render, (rows[:, None] * 4 + np.arange(4)).ravel())
    joints = np.repeat(table["keypoints"][rows][:, lt.H36M_17_FROM_LT], 4, 0)
    render = mr.render_views(keys, cam, joints, region, size=60, distort=False)
    frame_wh = h36m_cameras("S9").cameras.image_size
    for fast in (False, True):
        data = dataset(synthetic, fast_decode=fast)
        f, box_f, _, _ = data._cameras(data._splits[False][[1, 2]])  # the decode scale and crop it chose
        f, box_f = f.reshape(8), box_f.reshape(8, 4)
        batch = data.get_batch([1, 2], train=False)
        loaded = (batch["images"] * lt.IMAGENET_STD + lt.IMAGENET_MEAN).reshape(8, S, S, 3) * 255.0
        shifts = [(dx, dy) for dx in (-1.0, -0.5, 0.0, 0.5, 1.0) for dy in (-1.0, -0.5, 0.0, 0.5, 1.0)]
        errors = []
        for dx, dy in shifts:  # the loaded crops against the renders moved by (dx, dy) px
            err = []
            for k in range(8):
                # loader pixel x' -> decoded pixel -> full frame u -> render pixel (pixel centres at integers)
                w_f, s_ren = box_f[k, 2] - box_f[k, 0], 60 / (region[k, 2] - region[k, 0])
                a = f[k] * w_f / S * s_ren
                b = (f[k] * (0.5 * w_f / S + box_f[k, :2]) - region[k, :2]) * s_ren - 0.5
                m = np.array([[a, 0, b[0] + a * dx], [0, a, b[1] + a * dy]])
                expected = cv2.warpAffine(
                    render.images[k].astype(np.float32), m, (S, S), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
                )
                blur = lambda x: cv2.GaussianBlur(x, (0, 0), 1.0)[4:-4, 4:-4]  # noqa: E731  (resampling filters)
                diff = np.abs(blur(expected) - blur(loaded[k].astype(np.float32)))
                # compare where the crop lies inside the frame (outside, the loader pads with zeros)
                u = f[k] * ((np.arange(4, S - 4) + 0.5) * w_f / S + box_f[k, :2, None]) - 0.5  # (2, S - 8)
                inside = (u > 3) & (u < frame_wh[k % 4, :, None] - 4)
                err.append(diff[np.outer(inside[1], inside[0])].mean())
            errors.append(np.mean(err))
        best = shifts[int(np.argmin(errors))]
        assert best == (0.0, 0.0), f"fast_decode={fast}: the crops fit the renders best moved by {best} px"
        assert min(errors) < 2.0, f"fast_decode={fast}: loaded crops differ from the renders by {min(errors):.1f}"


def test_fast_decode_cameras(synthetic):
    data = dataset(synthetic, fast_decode=True)
    f, box_f, proj, uv = data._cameras(data._splits[False][:2])
    assert np.all(f > 1)  # 48 px from boxes of hundreds of px: decoded at 1/2 .. 1/8
    rig = h36m_cameras("S9").cameras
    for k in range(4):
        cam = rig[k].replace(dist=np.zeros(5))
        cam = resize_camera(cam, np.asarray(cam.image_size) / f[0, k])  # libjpeg's reduced grid
        cam = resize_camera(crop_camera(cam, box_f[0, k].astype(np.float64)), np.array([S, S], np.float64))
        expected = np.asarray(projection_matrix(cam))
        np.testing.assert_allclose(proj[0, k], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_occlusion_sidecar(synthetic):
    flags = np.load(lt.occlusion_path_for(synthetic))["occluded"]
    assert flags.shape == (6, 4, 17) and flags.any() and not flags.all()
    batch = dataset(synthetic).get_batch([0, 1, 2], train=True)
    np.testing.assert_array_equal(batch["occluded"], flags[:3])
    no_flags = dataset(synthetic, occlusion_path=None).get_batch([0], train=True)
    assert not no_flags["occluded"].any()


def test_missing_image(synthetic, tmp_path):
    path = copy_tree(synthetic, tmp_path)
    data = dataset(path)
    victim = data.image_path(data._splits[False][1], 2)
    victim.unlink()
    with pytest.raises(LTDataError) as err:
        data.get_batch([0, 1], train=False)
    msg = str(err.value)
    for part in (str(victim), "S9", "Walking-1", data.camera_names[2], f"frame_idx {STEP}"):
        assert part in msg
    masked = dataset(path, missing_images="mask").get_batch([0, 1], train=False)
    assert masked["view_mask"].tolist() == [[True] * 4, [True, True, False, True]]
    assert np.isnan(masked["joints_2d"][1, 2]).all() and not masked["proj"][1, 2].any()


def rewrite_labels(path, edit):
    labels = fmt.read_lt_labels(path)
    edit(labels["table"])
    fmt.write_lt_labels(path, labels)


def test_missing_view(synthetic, tmp_path):
    path = copy_tree(synthetic, tmp_path)
    rewrite_labels(path, lambda t: t["bbox_by_camera_tlbr"].__setitem__((3, 1), 0))  # S9, frame 0, camera 1
    batch = dataset(path).get_batch([0, 1], train=False)
    assert batch["view_mask"].tolist() == [[True, False, True, True], [True] * 4]
    assert not batch["proj"][0, 1].any() and np.isnan(batch["joints_2d"][0, 1]).all()
    assert not batch["images"][0, 1].any() and not batch["occluded"][0, 1].any()
    assert np.isfinite(batch["joints_2d"][0, [0, 2, 3]]).all()


def test_crop_outside_the_image_is_padded(synthetic, tmp_path):
    path = copy_tree(synthetic, tmp_path)

    def shift_left(table):  # S9 frame 0, camera 0: the box starts 100 px left of the image
        t, left, b, r = table["bbox_by_camera_tlbr"][3, 0].astype(int)
        table["bbox_by_camera_tlbr"][3, 0] = (t, -100, b, r - left - 100)

    rewrite_labels(path, shift_left)
    side = fmt.read_lt_labels(path)["table"]["bbox_by_camera_tlbr"][3, 0]
    batch = dataset(path, fast_decode=False).get_batch([0], train=False)
    outside = int(np.floor(100 / (side[3] - side[1]) * S)) - 1  # output columns entirely left of the image
    pad = (0.0 - lt.IMAGENET_MEAN) / lt.IMAGENET_STD
    np.testing.assert_allclose(batch["images"][0, 0, :, :outside], np.broadcast_to(pad, (S, outside, 3)), atol=1e-6)
    assert np.abs(batch["images"][0, 0, :, outside + 2 :] - pad).max() > 1.0  # the image itself


def test_malformed_labels(synthetic, tmp_path):
    path = copy_tree(synthetic, tmp_path)
    rewrite_labels(path, lambda t: t["bbox_by_camera_tlbr"].__setitem__((4, 2), (10, 500, 300, 400)))
    with pytest.raises(fmt.H36MFormatError, match=r"table row 4.*S9.*Walking-1.*frame_idx 10.*bbox_by_camera_tlbr"):
        dataset(path)
    sidecar = lt.occlusion_path_for(path)
    np.savez(sidecar, occluded=np.zeros((5, 4, 17), bool), subject_idx=0, action_idx=0, frame_idx=0)
    rewrite_labels(path, lambda t: t["bbox_by_camera_tlbr"].__setitem__((4, 2), (10, 300, 300, 500)))
    with pytest.raises(fmt.H36MFormatError, match="occluded"):
        dataset(path)
    with pytest.raises(ValueError, match="no rows"):
        lt.LTMultiViewDataset(path, train_subjects=("S5",), test_subjects=("S11",), occlusion_path=None)


def test_iterate(synthetic):
    data = dataset(synthetic, color_jitter=0.3, every_n_test=2)
    key = jax.random.key(0)
    assert data.num_test == 2 and len(data) == 3
    sync = list(data.iterate(key, 2, train=True, epochs=2, prefetch=0))
    fetched = list(data.iterate(key, 2, train=True, epochs=2, prefetch=2))
    assert len(sync) == len(fetched) == 3
    for a, b in zip(sync, fetched, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    seen = np.concatenate([b["index"][b["sample_mask"]] for b in sync])
    assert sorted(seen[:3]) == [0, 1, 2] and sorted(seen[3:]) == [0, 1, 2]  # each epoch sees every sample once
    # jitter: the same samples without it differ in colour, not in geometry
    plain = dataset(synthetic).get_batch(sync[0]["index"], train=True)
    assert np.abs(plain["images"] - sync[0]["images"]).mean() > 0.01
    np.testing.assert_array_equal(plain["proj"], sync[0]["proj"])
    # an infinite stream, stopped early, stops its thread
    stream = data.iterate(key, 2, train=True)
    first = [next(stream) for _ in range(4)]
    stream.close()
    np.testing.assert_array_equal(first[0]["index"], sync[0]["index"])
    # test split: in order, once, last batch padded
    test = list(data.iterate(None, 4, train=False))
    assert len(test) == 1 and test[0]["sample_mask"].tolist() == [True, True, False, False]
    assert test[0]["index"].tolist() == [0, 1, -1, -1]
    assert data.test_keys == [("S9", "Walking-1", 0), ("S9", "Walking-1", 2 * STEP)]


def test_iterate_errors_reach_the_caller(synthetic, tmp_path):
    path = copy_tree(synthetic, tmp_path)
    data = dataset(path)
    data.image_path(data._splits[True][0], 0).unlink()
    assert len(list(data.iterate(None, 3, train=False))) == 1  # S9: untouched
    with pytest.raises(LTDataError, match="image missing"):
        list(data.iterate(jax.random.key(0), 3, train=True, epochs=1))
