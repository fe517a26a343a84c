"""OnnxPoseDetector on tiny ONNX graphs built here: a bright dot drawn at a known pixel comes back at that pixel."""

import cv2
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lift3d.errors import DetectorError  # noqa: E402
from lift3d.predict.detectors import make_detector  # noqa: E402
from lift3d.predict.detectors.onnx_pose import OnnxPoseDetector, crop_transform  # noqa: E402

K = 17  # coco


def _red_channel(nodes: list, height: int, width: int) -> str:
    """Nodes taking the input's channel 0 (R after the detector's BGR -> RGB) to (1, K, H, W); the output name."""
    nodes += [
        helper.make_node("Slice", ["input", "c0", "c1", "axis1"], ["red"]),
        helper.make_node("Tile", ["red", "repeats"], ["tiled"]),
    ]
    return "tiled"


def _constants(extra: dict) -> list:
    base = {"c0": np.array([0], np.int64), "c1": np.array([1], np.int64), "axis1": np.array([1], np.int64),
            "repeats": np.array([1, K, 1, 1], np.int64)}  # fmt: skip
    return [numpy_helper.from_array(v, name) for name, v in {**base, **extra}.items()]


def _upsample(n: int, s: int) -> np.ndarray:
    """(n, n*s) 0/1 matrix: bin i*s + r <- element i."""
    m = np.zeros((n, n * s), np.float32)
    for i in range(n):
        m[i, i * s : (i + 1) * s] = 1
    return m


def simcc_model(path, height=64, width=48, s=2, input_shape=None):
    """SimCC outputs from the red channel: x = column maxima upsampled s times, y = row maxima."""
    nodes: list = []
    tiled = _red_channel(nodes, height, width)
    nodes += [
        helper.make_node("ReduceMax", [tiled], ["cols"], axes=[2], keepdims=0),  # (1, K, W)
        helper.make_node("MatMul", ["cols", "ux"], ["simcc_x"]),
        helper.make_node("ReduceMax", [tiled], ["rows"], axes=[3], keepdims=0),  # (1, K, H)
        helper.make_node("MatMul", ["rows", "uy"], ["simcc_y"]),
    ]
    shape = input_shape or [1, 3, height, width]
    graph = helper.make_graph(
        nodes, "simcc", [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, K, width * s]),
         helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, K, height * s])],
        _constants({"ux": _upsample(width, s), "uy": _upsample(height, s)}),
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def heatmap_model(path, height=64, width=48):
    """Heatmaps (1, K, H/2, W/2): the red channel max-pooled 2x2."""
    nodes: list = []
    tiled = _red_channel(nodes, height, width)
    nodes.append(helper.make_node("MaxPool", [tiled], ["heatmaps"], kernel_shape=[2, 2], strides=[2, 2]))
    graph = helper.make_graph(
        nodes, "heatmaps", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, K, height // 2, width // 2])],
        _constants({}),
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def _dot(width, height, x, y, radius=0):
    image = np.zeros((height, width, 3), np.uint8)
    image[y - radius : y + radius + 1, x - radius : x + radius + 1] = (0, 0, 255)  # red in BGR
    return image


def test_crop_transform_maps_the_whole_image_box_onto_the_input_with_pixel_centres_at_integers():
    m = crop_transform((-0.5, -0.5, 95.5, 127.5), (48, 64))
    u = m @ np.array([10.0, 20.0, 1.0])
    np.testing.assert_allclose(u, [(10 + 0.5) / 2 - 0.5, (20 + 0.5) / 2 - 0.5])


@pytest.mark.parametrize("kind", ["simcc", "heatmaps"])
def test_a_dot_comes_back_at_its_pixel(tmp_path, kind):
    model = (simcc_model if kind == "simcc" else heatmap_model)(tmp_path / f"{kind}.onnx")
    det = make_detector(str(model), skeleton="coco", track=False)
    assert isinstance(det, OnnxPoseDetector) and det.input_size == (48, 64) and det.skeleton.num_joints == K
    found = det.detect(_dot(48, 64, 17, 40))
    assert found.points.shape == (1, K, 2) and found.score.shape == (1,)
    tol = 0.01 if kind == "simcc" else 1.0
    np.testing.assert_allclose(found.points[0], np.tile([17.0, 40.0], (K, 1)), atol=tol)
    assert np.all(found.confidence == 1.0)  # the max (2.25 after normalising) clipped to 1


@pytest.mark.parametrize("kind", ["simcc", "heatmaps"])
def test_a_larger_image_is_scaled_into_the_input_and_mapped_back_then_tracked(tmp_path, kind):
    model = (simcc_model if kind == "simcc" else heatmap_model)(tmp_path / f"{kind}.onnx")
    det = OnnxPoseDetector(model, "coco")
    image = _dot(96, 128, 35, 81, radius=1)
    first = det.detect(image)
    np.testing.assert_allclose(first.points[0], np.tile([35.0, 81.0], (K, 1)), atol=1.0)
    second = det.detect(image)  # cropped around the first frame's keypoints, magnified
    np.testing.assert_allclose(second.points[0], np.tile([35.0, 81.0], (K, 1)), atol=1.0)
    det.reset()
    assert det._previous is None


def test_no_dot_means_no_person_above_min_score(tmp_path):
    det = OnnxPoseDetector(simcc_model(tmp_path / "m.onnx"), "coco", min_score=0.5)
    found = det.detect(np.zeros((64, 48, 3), np.uint8))
    assert found.points.shape == (0, K, 2)


def test_a_file_that_is_not_a_model_is_named(tmp_path):
    bad = tmp_path / "pose.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(DetectorError, match=r"pose\.onnx: not an ONNX model"):
        make_detector(str(bad))
    with pytest.raises(DetectorError, match="no such ONNX model file"):
        make_detector(str(tmp_path / "missing.onnx"))


def test_a_model_without_an_image_input_is_refused(tmp_path):
    model = tmp_path / "rank3.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["out"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 64])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(model))
    with pytest.raises(DetectorError, match=r"rank3\.onnx: input shape \[1, 3, 64\]; a top-down pose model takes"):
        OnnxPoseDetector(model)


def test_outputs_of_another_skeleton_are_named(tmp_path):
    det = OnnxPoseDetector(simcc_model(tmp_path / "m.onnx"), "halpe_26")
    with pytest.raises(DetectorError, match="expected SimCC .* for skeleton 'halpe_26' \\(26 joints\\)"):
        det.detect(np.zeros((64, 48, 3), np.uint8))


def test_an_open_input_size_must_be_given(tmp_path):
    model = simcc_model(tmp_path / "open.onnx", input_shape=[1, 3, "h", "w"])
    with pytest.raises(DetectorError, match="input size is open"):
        OnnxPoseDetector(model)
    det = OnnxPoseDetector(model, input_size=(48, 64), track=False)
    found = det.detect(cv2.resize(_dot(48, 64, 10, 12), (48, 64)))
    np.testing.assert_allclose(found.points[0, 0], [10.0, 12.0], atol=0.01)
