"""The anomaly scorer's isolation forest: fit on the training domain, export to one ONNX node.

The forest (scikit-learn's ``IsolationForest``) sees the features of
``runtime.anomaly.ISOLATION_FEATURES``. It is exported as a single ai.onnx.ml
``TreeEnsembleRegressor`` (``isolation_graph``) taking float32, which is what
sklearn's trees compare in, and written only if ONNX and sklearn decisions agree
to ``PARITY_TOL`` (``export_isolation``).
"""

from __future__ import annotations

import numpy as np

from runtime.anomaly import ISOLATION_FEATURES, isolation_features
from runtime.onnx import session
from training.builds import SEED, size
from training.sampling import sample_domain

PARITY_TOL = 1e-5
"""Max |ONNX − sklearn| of the isolation decision function (float32 arithmetic)."""


def fit_isolation(quick: bool, seed: int = SEED):
    """IsolationForest on the isolation features of Sobol' training-domain points."""
    from sklearn.ensemble import IsolationForest

    pts = sample_domain(size("isolation_train_log2", quick), seed + 1)
    X = isolation_features(pts[:, 1:], pts[:, 0])
    model = IsolationForest(
        n_estimators=size("n_estimators", quick), max_samples=256, random_state=seed
    )
    return model.fit(X), X


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): mean path length of an unsuccessful BST search among n points (Liu et al. 2008)."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _floor32(t: np.ndarray) -> np.ndarray:
    """Largest float32 ≤ t: for float32 x, x ≤ t ⟺ x ≤ floor32(t) (sklearn compares in double)."""
    t32 = t.astype(np.float32)
    return np.where(t32.astype(float) > t, np.nextafter(t32, np.float32(-np.inf)), t32)


def isolation_graph(model):
    """The forest's ``decision_function`` as an ONNX graph: one ``TreeEnsembleRegressor``.

    Each leaf carries its depth (in edges) + c(n_leaf), the path length sklearn adds up
    (``IsolationForest._compute_score_samples``); the ensemble sums over
    trees, and score = −2^(−Σ / (T c(ψ))) − offset_. Thresholds are rounded
    down to float32, so routing of float32 inputs is identical to sklearn's.
    skl2onnx's converter emits the same operator once per tree plus ~10
    helper nodes each (≈ 2,000 nodes for 200 trees), which onnxruntime takes
    13–16 s to load here; this graph has 6 nodes and loads in milliseconds.
    Input "features" float32 [N, 6]; output "scores" float32 [N, 1].
    """
    from onnx import TensorProto, helper, numpy_helper

    if model.max_features != 1.0 or model.n_features_in_ != len(ISOLATION_FEATURES):
        raise ValueError("isolation_graph expects every tree to see every feature")
    nodes = {k: [] for k in ("tree", "id", "feature", "value", "mode", "true", "false")}
    targets = {k: [] for k in ("tree", "id", "weight")}
    for t, est in enumerate(model.estimators_):
        tree = est.tree_
        left, right = tree.children_left, tree.children_right
        depth = np.zeros(tree.node_count)
        for k in range(tree.node_count):  # children have larger ids than their parent
            if left[k] >= 0:
                depth[left[k]] = depth[right[k]] = depth[k] + 1
        leaf = left < 0
        value = depth + average_path_length(tree.n_node_samples)  # depth in edges
        nodes["tree"] += [t] * tree.node_count
        nodes["id"] += list(range(tree.node_count))
        nodes["feature"] += np.where(leaf, 0, tree.feature).tolist()
        nodes["value"] += np.where(leaf, 0.0, _floor32(tree.threshold)).tolist()
        nodes["mode"] += ["LEAF" if lf else "BRANCH_LEQ" for lf in leaf]
        nodes["true"] += np.where(leaf, 0, left).tolist()
        nodes["false"] += np.where(leaf, 0, right).tolist()
        ids = np.flatnonzero(leaf)
        targets["tree"] += [t] * ids.size
        targets["id"] += ids.tolist()
        targets["weight"] += value[ids].tolist()
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["path_sum"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=nodes["tree"],
        nodes_nodeids=nodes["id"],
        nodes_featureids=nodes["feature"],
        nodes_values=nodes["value"],
        nodes_modes=nodes["mode"],
        nodes_truenodeids=nodes["true"],
        nodes_falsenodeids=nodes["false"],
        nodes_missing_value_tracks_true=[0] * len(nodes["id"]),
        target_ids=[0] * len(targets["id"]),
        target_nodeids=targets["id"],
        target_treeids=targets["tree"],
        target_weights=targets["weight"],
    )
    scale = -1.0 / (len(model.estimators_) * average_path_length([model.max_samples_])[0])
    consts = {
        "scale": np.array(scale, dtype=np.float32),
        "two": np.array(2.0, dtype=np.float32),
        "offset": np.array(model.offset_, dtype=np.float32),
    }
    graph = helper.make_graph(
        [
            ensemble,
            helper.make_node("Mul", ["path_sum", "scale"], ["exponent"]),
            helper.make_node("Pow", ["two", "exponent"], ["anomaly"]),
            helper.make_node("Neg", ["anomaly"], ["score_samples"]),
            helper.make_node("Sub", ["score_samples", "offset"], ["scores"]),
        ],
        "isolation_forest",
        [
            helper.make_tensor_value_info(
                "features", TensorProto.FLOAT, [None, model.n_features_in_]
            )
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(v, k) for k, v in consts.items()],
    )
    onx = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="training.anomaly",
    )
    onx.ir_version = 8
    return onx


def export_isolation(model, X_check: np.ndarray) -> tuple[bytes, float]:
    """ONNX bytes of the forest and max |ONNX − sklearn| decision on ``X_check`` (≤ PARITY_TOL)."""
    import onnx

    onx = isolation_graph(model)
    onnx.checker.check_model(onx)
    blob = onx.SerializeToString()
    sess = session(blob)
    got = sess.run(["scores"], {"features": X_check})[0].reshape(-1)
    parity = float(np.max(np.abs(got - model.decision_function(X_check))))
    if not parity <= PARITY_TOL:
        raise RuntimeError(f"ONNX/sklearn isolation parity {parity:.3g} > {PARITY_TOL:g}")
    return blob, parity
