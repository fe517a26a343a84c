"""Pose metrics against a float64 loop reference of VideoPose3D's numpy code, invariances, masks, tables."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.eval import metrics as M

J = 17


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


# ---------------------------------------------------------------------------------------------
# Independent float64 reference: VideoPose3D's common/loss.py, one pose and one joint at a time.


def ref_p_mpjpe_joints(pred, gt):
    """Per-joint errors of VideoPose3D's p_mpjpe for one pose (j, 3), written as plain loops."""
    pred, gt = np.array(pred, dtype=np.float64), np.array(gt, dtype=np.float64)
    n = len(gt)
    mu_x = sum(gt[i] for i in range(n)) / n
    mu_y = sum(pred[i] for i in range(n)) / n
    x0, y0 = gt - mu_x, pred - mu_y
    norm_x = math.sqrt(sum(float(x0[i] @ x0[i]) for i in range(n)))
    norm_y = math.sqrt(sum(float(y0[i] @ y0[i]) for i in range(n)))
    x0, y0 = x0 / norm_x, y0 / norm_y
    h = np.zeros((3, 3))
    for i in range(n):
        h += np.outer(x0[i], y0[i])
    u, s, vt = np.linalg.svd(h)
    v = vt.T.copy()
    r = v @ u.T
    if np.linalg.det(r) < 0:  # improper rotation: flip the last singular vector and value
        v[:, -1] *= -1
        s[-1] *= -1
        r = v @ u.T
    a = s.sum() * norm_x / norm_y
    t = mu_x - a * (mu_y @ r)
    return np.array([math.dist(a * (pred[i] @ r) + t, gt[i]) for i in range(n)])


def ref_mpjpe_joints(pred, gt):
    """VideoPose3D's mpjpe per joint (no alignment; its data are already root-relative)."""
    return np.array([math.dist(p, g) for p, g in zip(pred, gt, strict=True)])


def ref_n_mpjpe_joints(pred, gt):
    """VideoPose3D's n_mpjpe per joint on root-relative poses."""
    num = sum(float(p @ g) for p, g in zip(pred, gt, strict=True))
    den = sum(float(p @ p) for p in pred)
    return ref_mpjpe_joints(num / den * pred, gt)


def random_rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def random_poses(rng, n, noise=40.0):
    """gt (n, j, 3) mm, pred = similarity-transformed gt + noise; every third pred mirrored in x."""
    gt = rng.normal(size=(n, J, 3)) * np.array([250.0, 450.0, 200.0]) + rng.normal(size=(n, 1, 3)) * 1000
    pred = np.empty_like(gt)
    for i in range(n):
        r = random_rotation(rng)
        pred[i] = (
            rng.uniform(0.7, 1.4) * gt[i] @ r.T + rng.normal(size=3) * 500 + rng.normal(size=(J, 3)) * noise
        )
        if i % 3 == 0:
            pred[i, :, 0] *= -1
    return pred, gt


def root_relative(x, root=0):
    return x - x[..., root : root + 1, :]


# ---------------------------------------------------------------------------------------------
# (1) Agreement with the reference


def test_against_videopose3d_reference():
    rng = np.random.default_rng(0)
    pred, gt = random_poses(rng, 12)
    p2 = np.stack([ref_p_mpjpe_joints(p, g) for p, g in zip(pred, gt, strict=True)])
    np.testing.assert_allclose(M.p_mpjpe(pred, gt, reduce=False), p2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(M.p_mpjpe(pred, gt), p2.mean(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(M.joint_errors(pred, gt, align="procrustes"), p2, rtol=0, atol=1e-9)

    p1 = np.stack(
        [ref_mpjpe_joints(root_relative(p), root_relative(g)) for p, g in zip(pred, gt, strict=True)]
    )
    np.testing.assert_allclose(M.mpjpe(pred, gt, reduce=False), p1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(M.mpjpe(pred, gt), p1.mean(), rtol=0, atol=1e-9)
    pa = np.stack([ref_mpjpe_joints(p, g) for p, g in zip(pred, gt, strict=True)])
    np.testing.assert_allclose(M.absolute_mpjpe(pred, gt), pa.mean(), rtol=0, atol=1e-9)
    pn = np.stack(
        [ref_n_mpjpe_joints(root_relative(p), root_relative(g)) for p, g in zip(pred, gt, strict=True)]
    )
    np.testing.assert_allclose(M.n_mpjpe(pred, gt), pn.mean(), rtol=0, atol=1e-9)

    # Another root index is honoured.
    root = H36M_17.index("thorax")
    p1r = [
        ref_mpjpe_joints(root_relative(p, root), root_relative(g, root))
        for p, g in zip(pred, gt, strict=True)
    ]
    np.testing.assert_allclose(M.mpjpe(pred, gt, root=root), np.mean(p1r), rtol=0, atol=1e-9)
    np.testing.assert_allclose(M.mpjpe(pred, gt, root=-1), M.mpjpe(pred, gt, root=J - 1), rtol=1e-12)


def test_procrustes_align_matches_reference_errors_and_is_proper():
    rng = np.random.default_rng(1)
    pred, gt = random_poses(rng, 6)
    aligned = np.asarray(M.procrustes_align(pred, gt))
    expected = np.stack([ref_p_mpjpe_joints(p, g) for p, g in zip(pred, gt, strict=True)])
    np.testing.assert_allclose(np.linalg.norm(aligned - gt, axis=-1), expected, rtol=0, atol=1e-9)
    # The transform is a proper similarity: centred aligned = c * centred pred @ R with det(R) > 0.
    for p, a in zip(pred, aligned, strict=True):
        r, *_ = np.linalg.lstsq(p - p.mean(0), a - a.mean(0), rcond=None)
        assert np.linalg.det(r) > 0


# ---------------------------------------------------------------------------------------------
# (2) Invariances


def test_invariances():
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(5, J, 3)) * 300
    r = np.stack([random_rotation(rng) for _ in range(5)])
    s = rng.uniform(0.5, 2.0, size=(5, 1, 1))
    t = rng.normal(size=(5, 1, 3)) * 1000
    similar = s * np.einsum("bij,bkj->bki", r, gt) + t
    assert float(M.p_mpjpe(similar, gt)) < 1e-9
    assert float(M.n_mpjpe(s * gt + t, gt)) < 1e-9
    assert float(M.n_mpjpe(s * gt, gt)) < 1e-9
    assert float(M.mpjpe(s * gt, gt)) > 1.0  # MPJPE does see scale

    pred = gt + rng.normal(size=gt.shape) * 30
    base = float(M.mpjpe(pred, gt))
    np.testing.assert_allclose(M.mpjpe(pred + t, gt), base, rtol=1e-12)
    np.testing.assert_allclose(M.mpjpe(pred, gt - 2 * t), base, rtol=1e-12)
    np.testing.assert_allclose(M.absolute_mpjpe(gt + t, gt), np.linalg.norm(t, axis=-1).mean(), rtol=1e-12)
    assert float(M.absolute_mpjpe(pred + t, gt)) > base + 100

    # A mirrored pose cannot be undone by a proper similarity transform.
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert float(M.p_mpjpe(mirrored, gt)) > 20.0
    assert float(M.p_mpjpe(mirrored @ np.diag([-1.0, 1.0, 1.0]), gt)) < 1e-9


# ---------------------------------------------------------------------------------------------
# (3) Masking


@pytest.mark.parametrize(
    "metric", [M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.absolute_mpjpe, M.pck3d, M.auc], ids=lambda f: f.__name__
)
def test_masked_joint_equals_removed_joint(metric):
    rng = np.random.default_rng(3)
    pred, gt = random_poses(rng, 4, noise=80.0)
    k = 5
    keep = np.arange(J) != k
    expected = metric(pred[:, keep], gt[:, keep])
    pred_nan = pred.copy()
    pred_nan[:, k] = np.nan
    mask = np.ones((4, J), bool)
    mask[:, k] = False
    np.testing.assert_allclose(metric(pred_nan, gt, mask=mask), expected, rtol=1e-12)
    # Non-finite joints are masked without a mask argument; a false mask on finite joints works too.
    gt_nan = gt.copy()
    gt_nan[:, k] = np.nan
    np.testing.assert_allclose(metric(pred, gt_nan), expected, rtol=1e-12)
    np.testing.assert_allclose(metric(pred, gt, mask=mask), expected, rtol=1e-12)
    per_joint = np.asarray(metric(pred_nan, gt, mask=mask, reduce=False))
    assert np.isnan(per_joint[:, k]).all() and np.isfinite(per_joint[:, keep]).all()


def test_fully_masked_sample_and_missing_root():
    rng = np.random.default_rng(4)
    pred, gt = random_poses(rng, 3)
    pred[1] = np.nan
    for metric in (M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.absolute_mpjpe, M.pck3d, M.auc):
        value = float(metric(pred, gt))
        assert np.isfinite(value), metric.__name__
        np.testing.assert_allclose(value, metric(pred[[0, 2]], gt[[0, 2]]), rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(M.procrustes_align(pred, gt))[:, :, 0], np.isnan(pred[..., 0]))
    assert np.isnan(float(M.mpjpe(pred[1], gt[1])))  # nothing valid at all: NaN, not 0

    # A sample whose root is missing cannot be root-aligned and drops out of P1, not out of P2.
    pred2, gt2 = random_poses(rng, 2)
    gt2[0, 0] = np.nan
    np.testing.assert_allclose(M.mpjpe(pred2, gt2), M.mpjpe(pred2[1:], gt2[1:]), rtol=1e-12)
    assert np.isnan(np.asarray(M.mpjpe(pred2, gt2, reduce=False))[0]).all()
    expected = (M.p_mpjpe(pred2[0, 1:], gt2[0, 1:]) * (J - 1) + M.p_mpjpe(pred2[1], gt2[1]) * J) / (2 * J - 1)
    np.testing.assert_allclose(M.p_mpjpe(pred2, gt2), expected, rtol=1e-12)


def test_gradient_is_finite_with_masked_nan():
    rng = np.random.default_rng(5)
    pred, gt = random_poses(rng, 2)
    gt[0, 3] = np.nan
    pred[1] = gt[1]  # zero errors: the norm's gradient must stay finite too
    for metric in (M.mpjpe, M.n_mpjpe, M.absolute_mpjpe):
        g = jax.grad(lambda p, f=metric: f(p, gt))(jnp.asarray(pred))
        assert np.isfinite(np.asarray(g)).all(), metric.__name__


# ---------------------------------------------------------------------------------------------
# (4) PCK and AUC with known errors


def test_pck_and_auc_with_known_errors():
    errors = np.array([0.0, 3.0, 52.0, 100.0, 149.5, 150.0, 151.0, 200.0])
    directions = np.eye(3)  # axis-aligned offsets on integer coordinates: errors are exact
    gt = np.zeros((1, len(errors) + 1, 3))
    gt[0, 1:] = np.random.default_rng(7).integers(-500, 500, size=(len(errors), 3))
    pred = gt.copy()
    pred[0, 1:] += errors[:, None] * directions[np.arange(len(errors)) % 3]
    np.testing.assert_array_equal(M.mpjpe(pred, gt, reduce=False)[0, 1:], errors)

    n = len(errors) + 1  # root joint, error 0, counts as a valid joint
    assert float(M.pck3d(pred, gt)) == pytest.approx(6 / n)  # 0, 0, 3, 52, 100, 149.5 are < 150
    assert float(M.pck3d(pred, gt, threshold=100.0)) == pytest.approx(4 / n)
    np.testing.assert_array_equal(M.pck3d(pred, gt, reduce=False)[0], [1, 1, 1, 1, 1, 1, 0, 0, 0])
    # thresholds 0, 5, ..., 150: error e passes the thresholds strictly above it
    passed = np.array([sum(e < t for t in range(0, 151, 5)) for e in [0.0, *errors]])
    np.testing.assert_allclose(M.auc(pred, gt, reduce=False)[0], passed / 31, atol=1e-12)
    np.testing.assert_allclose(M.auc(pred, gt), passed.mean() / 31, atol=1e-12)
    np.testing.assert_allclose(M.AUC_THRESHOLDS_MM, np.linspace(0, 150, 31))

    # Perfect prediction: 30 of 31 thresholds (threshold 0 never passes with the strict comparison).
    assert float(M.auc(gt, gt)) == pytest.approx(30 / 31)
    assert float(M.pck3d(gt, gt)) == 1.0
    far = gt + np.array([0.0, 0.0, 200.0])
    assert float(M.auc(far, gt, align="none")) == 0.0
    assert float(M.pck3d(far, gt, align="none")) == 0.0
    assert float(M.pck3d(far, gt)) == 1.0  # root alignment removes the shift


# ---------------------------------------------------------------------------------------------
# (5) jit == eager, leading axes


def test_jit_equals_eager_and_leading_axes():
    rng = np.random.default_rng(8)
    pred, gt = random_poses(rng, 6)
    pred, gt = pred.reshape(2, 3, J, 3), gt.reshape(2, 3, J, 3)
    mask = rng.uniform(size=(2, 3, J)) > 0.2
    for metric in (M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.pck3d, M.auc):
        batched = np.asarray(metric(pred, gt, mask=mask, reduce=False))
        assert batched.shape == (2, 3, J)
        for b in range(2):
            np.testing.assert_allclose(
                metric(pred[b], gt[b], mask=mask[b], reduce=False), batched[b], rtol=1e-12
            )
        assert np.isnan(batched).sum() >= (~mask).sum()
        np.testing.assert_allclose(metric(pred, gt, mask=mask), np.nanmean(batched), rtol=1e-12)
        # Eager dispatch compiles op by op (an eager p_mpjpe alone costs ~6 s); the jitted p_mpjpe is checked
        # against the eager numpy reference above, so eager JAX is compared on the cheaper paths.
        if metric in (M.n_mpjpe, M.auc):
            with jax.disable_jit():
                eager = np.asarray(metric(pred, gt, mask=mask, reduce=False))
            np.testing.assert_allclose(eager, batched, rtol=1e-10, atol=1e-10, err_msg=metric.__name__)


def test_float32_inputs_and_bad_inputs():
    rng = np.random.default_rng(9)
    pred, gt = random_poses(rng, 3)
    p32 = M.p_mpjpe(pred.astype(np.float32), gt.astype(np.float32))
    assert p32.dtype == jnp.float32
    np.testing.assert_allclose(p32, M.p_mpjpe(pred, gt), rtol=1e-4)
    with pytest.raises(ValueError, match="must match"):
        M.mpjpe(pred, gt[:, :-1])
    with pytest.raises(ValueError, match="mask has shape"):
        M.mpjpe(pred, gt, mask=np.ones((3, J - 1), bool))
    with pytest.raises(ValueError, match=r"\(\.\.\., j, 3\)"):
        M.mpjpe(pred[..., :2], gt[..., :2])
    with pytest.raises(ValueError, match="root=17"):
        M.mpjpe(pred, gt, root=17)
    with pytest.raises(ValueError, match="align must be"):
        M.joint_errors(pred, gt, align="rigid")


# ---------------------------------------------------------------------------------------------
# (6) Group tables


def test_group_mean_and_summarize():
    errors = np.array([
        [10.0, 20.0],
        [30.0, np.nan],
        [50.0, 70.0],
        [1.0, 3.0],
    ])  # fmt: skip
    actions = np.array(["walk", "walk", "sit", "sit"])
    subjects = np.array([9, 11, 9, 11])
    assert M.group_mean(errors, actions) == {"sit": pytest.approx(31.0), "walk": pytest.approx(20.0)}
    assert M.group_mean(errors, subjects) == {9: pytest.approx(37.5), 11: pytest.approx(34.0 / 3)}
    mask = np.array([[False, True], [True, True], [True, True], [True, True]])
    assert M.group_mean(errors, actions, mask=mask)["walk"] == pytest.approx(25.0)
    per_joint = M.group_mean(errors, actions, per_joint=True)
    np.testing.assert_allclose(per_joint["walk"], [20.0, 20.0])
    np.testing.assert_allclose(per_joint["sit"], [25.5, 36.5])
    assert np.isnan(M.group_mean(np.array([[np.nan], [1.0]]), ["a", "b"])["a"])

    table = M.summarize(
        errors, groups={"action": actions, "subject": subjects}, joint_names=["pelvis", "head"]
    )
    assert table["count"] == 7
    assert table["mean"] == pytest.approx(184.0 / 7)
    assert table["per_joint"] == {"pelvis": pytest.approx(22.75), "head": pytest.approx(31.0)}
    assert table["per_action"] == {"sit": pytest.approx(31.0), "walk": pytest.approx(20.0)}
    assert table["mean_over_action"] == pytest.approx(25.5)
    assert table["mean_over_subject"] == pytest.approx((37.5 + 34.0 / 3) / 2)
    with pytest.raises(ValueError, match="group_ids"):
        M.group_mean(errors, actions[:3])

    # End to end: per-joint errors from a metric feed the table.
    rng = np.random.default_rng(10)
    pred, gt = random_poses(rng, 4)
    per = np.asarray(M.mpjpe(pred, gt, reduce=False))
    summary = M.summarize(per, groups={"subject": [1, 1, 5, 5]})
    assert summary["mean"] == pytest.approx(float(M.mpjpe(pred, gt)))
    assert summary["per_subject"][5] == pytest.approx(float(M.mpjpe(pred[2:], gt[2:])))
