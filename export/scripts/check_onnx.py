"""Independent check of an exported blankspot model with runtimes other than ONNX Runtime.

usage: check_onnx.py MODEL.onnx INPUTS.f32 EXPECTED.f32 [TOLERANCE]

INPUTS.f32 holds N*S*S little-endian float32 values (the model contract's [N,1,S,S], S the side the
model's graph input declares: 64, or a manifest entry's inputSize),
EXPECTED.f32 the N*2 probabilities blankspot computed, followed for localisers by the N*H*W
heatmap. The model must pass onnx.checker, and OpenCV's DNN module must load it and give the same
outputs within TOLERANCE (default 1e-4). OpenCV 4.6 (Debian 12's) reads Clip only in its old form, with
min and max as attributes; a ReLU6 (Clip between constants 0 and 6, as opset 13 writes it) is given to it
as relu(x) - relu(relu(x) - 6), the same function. Nor does it read float16 tensors: weights stored as
float16 and cast to float32 in the graph are given to it as the float32 weights the cast makes (what
ONNX Runtime folds them into when it loads the file), the same values.
Prints one JSON line; exits 1 on any disagreement.
"""
import json
import sys

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper


def fold_float16_casts(model):
    """Each Cast of a float16 initializer to float32 replaced by the float32 initializer it makes."""
    halves = {t.name: t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16}
    nodes = []
    for node in model.graph.node:
        if node.op_type == "Cast" and node.input[0] in halves:
            values = numpy_helper.to_array(halves[node.input[0]]).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
        else:
            nodes.append(node)
    kept = [t for t in model.graph.initializer if t.name not in halves]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def opencv_readable(model):
    """The model with float16 weights folded to float32 and each Clip(x, 0, 6) written as Relu and Sub
    nodes, which OpenCV 4.6 reads."""
    model = fold_float16_casts(model)
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "Clip":
            nodes.append(node)
            continue
        low, high = (float(consts[name]) for name in node.input[1:3])
        if low != 0:
            raise ValueError(f"Clip with minimum {low}: only ReLU6-like clips are rewritten")
        x, y = node.input[0], node.output[0]
        high_name = f"{y}__max"
        model.graph.initializer.append(numpy_helper.from_array(np.array([high], dtype=np.float32), high_name))
        nodes += [
            helper.make_node("Relu", [x], [f"{y}__r"]),
            helper.make_node("Sub", [f"{y}__r", high_name], [f"{y}__over"]),
            helper.make_node("Relu", [f"{y}__over"], [f"{y}__excess"]),
            helper.make_node("Sub", [f"{y}__r", f"{y}__excess"], [y]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model

model_path, inputs_path, expected_path = sys.argv[1:4]
tolerance = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-4

model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
side = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
inputs = np.fromfile(inputs_path, dtype="<f4").reshape(-1, 1, side, side)
expected = np.fromfile(expected_path, dtype="<f4")
n = inputs.shape[0]
outputs = [o.name for o in model.graph.output]

net = cv2.dnn.readNetFromONNX(np.frombuffer(opencv_readable(model).SerializeToString(), dtype=np.uint8))
net.setInput(inputs, "image")
got = net.forward(outputs)
diff = float(np.max(np.abs(got[0].reshape(-1) - expected[: n * 2])))
if "heatmap" in outputs:
    heat = got[outputs.index("heatmap")].reshape(-1)
    diff = max(diff, float(np.max(np.abs(heat - expected[n * 2 :]))))
elif expected.size != n * 2:
    diff = float("inf")
report = {
    "checker": "ok",
    "opset": model.opset_import[0].version,
    "ir_version": model.ir_version,
    "metadata": {p.key: p.value for p in model.metadata_props},
    "opencv": cv2.__version__,
    "count": int(n),
    "outputs": outputs,
    "opencv_max_abs_diff": diff,
}
print(json.dumps(report))
sys.exit(0 if diff <= tolerance else 1)
