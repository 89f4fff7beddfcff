"""ONNX export: the fitted spline through skl2onnx, the closed-form channels appended by hand.

Two pieces, both float64 end to end:

1. ``LogPDFRegressor`` gets a registered skl2onnx converter that evaluates the
   tensor spline *sparsely*: locate the cell on the uniform (logit x, ln Q)
   grid by Floor arithmetic, Gather the cell's 2 × 16 polynomial coefficients
   (``LogPDFRegressor.bicubic_table``), multiply by the 16 monomials
   t_u^a t_v^b and sum. Input "xq" [N, 2] = (x, Q/GeV), output "log_xpdf"
   [N, 2] = (ln x·g, ln x·q_eff).

2. ``surrogate_model`` wraps that graph: features [N, 5] = (√s, x, z, Q, P_T)
   → σ [N, 10] in ``physics.OUTPUTS`` order, pb/GeV⁴. Every channel is
   Σ_j A_j(x, Q, y) · B_j(z, P_T) (``physics.channels``). Both sides are
   sums of positive monomials, so the graph computes all logarithms it needs
   once (one Log over a block), forms the 17 monomials with one Gemm and one
   Exp, combines them linearly into the nine products' two sides with two
   MatMuls, multiplies, and maps the nine products onto the ten outputs with
   a last MatMul. Rewritings used (exact identities, ``physics.md``):

       frag_u ∝ [(1 + z̄²)/den − M² z̄ z²/den²] / z,  den = z² P_T² + M² z̄
       P_T² + z̄² M² (2 − z z̃) = sden + M² z̄⁴,       sden = P_T² + z̄² M²
       z z̃² = z (4 − 4z + z²),  8 z̃ − 2 z z̃² = 16 − 16 z + 8 z² − 2 z³

   P_T enters the logarithms as P_T + 1e-300 so that P_T = 0 gives exact
   zeros, never NaN. Inputs outside the spline box are clamped onto it: the
   model returns finite numbers for any finite physical input.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import DoubleTensorType

from physics.channels import ALPHA_S_PGF, OUTPUTS
from physics.config import LDME
from physics.constants import ALPHA_EM, GEV2_TO_PB, M_JPSI, PT2_WIDTH, Z_WIDTH
from physics.fragmentation import k_norm
from training.splines import LogPDFRegressor

OPSET = 17
INPUT = "features"
OUTPUT = "sigma"
PDF_INPUT = "xq"
PDF_OUTPUT = "log_xpdf"
LOGS = "log_x_1mx_q"
"""Name of the spline's [ln x, ln(1 − x), ln Q] tensor, which the closed form reuses."""
PT_FLOOR = 1e-300
"""Added to P_T before its logarithm: P_T = 0 then gives exp(−1381) = 0 exactly."""


# -- 1. the spline, as a skl2onnx converter ------------------------------------------------

CLIP_HI = 1.0 - 2.0**-40
"""Upper clamp of the normalised grid coordinate: keeps the last cell's index at n − 1."""


def _spline_shape(operator) -> None:
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = DoubleTensorType([n, 2])


def _monomial_selectors(degree: int, m: int):
    """Two [rows, 2m] maps whose images multiply to t_u^a t_v^b for each table column.

    Degree 1 acts on [t_u, t_v, ½]: t_u^a t_v^b = (t_u if a else 1) · (t_v if b else 1).
    Degree 3 acts on [t_u, t_v, ½, t_u², t_v², ¼, t_u³, t_v³, ⅛]. The constant column
    supplies the 1s without a bias.
    """
    k = degree + 1
    rows = 3 * degree
    sel_u, sel_v = np.zeros((rows, 2 * m)), np.zeros((rows, 2 * m))
    for col in range(2 * m):
        a, b = divmod(col % m, k)
        for p, sel, axis in ((a, sel_u, 0), (b, sel_v, 1)):
            if p == 0:
                sel[2, col] = 2.0
            else:
                sel[3 * (p - 1) + axis, col] = 1.0
    return sel_u, sel_v


def _spline_converter(scope, operator, container) -> None:
    model: LogPDFRegressor = operator.raw_operator
    table = model.cell_table()  # [nu, nv, 2, m]
    nu, nv, _, m = table.shape
    degree = model.grid["degree"]
    (u0, u1), (v0, v1) = model.grid["box"]

    def const(name, value, dtype=TensorProto.DOUBLE):
        value = np.asarray(value)
        full = scope.get_unique_variable_name(name)
        container.add_initializer(full, dtype, list(value.shape), value.ravel().tolist())
        return full

    def node(op, inputs, output=None, **attrs):
        out = output or scope.get_unique_variable_name(op.lower())
        container.add_node(op, inputs, [out], name=scope.get_unique_operator_name(op), **attrs)
        return out

    xq = operator.inputs[0].full_name
    # [x, 1 − x, Q] → logs → normalised coordinates [(u − u0)/(u1 − u0), (v − v0)/(v1 − v0), ½]
    w_a = [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]
    a = node("Gemm", [xq, const("w_a", w_a), const("b_a", [0.0, 1.0, 0.0])])
    logs = node("Log", [a], LOGS)
    du, dv = u1 - u0, v1 - v0
    w_s = [[1.0 / du, 0.0, 0.0], [-1.0 / du, 0.0, 0.0], [0.0, 1.0 / dv, 0.0]]
    s = node("Gemm", [logs, const("w_s", w_s), const("b_s", [-u0 / du, -v0 / dv, 0.5])])
    s = node("Clip", [s, const("lo", 0.0), const("hi", CLIP_HI)])
    g = node("MatMul", [s, const("cells", np.diag([float(nu), float(nv), 1.0]))])
    cell = node("Floor", [g])
    t = node("Sub", [g, cell])  # [t_u, t_v, ½]
    flat = node("MatMul", [cell, const("stride", [[float(nv)], [1.0], [0.0]])])
    index = node("Cast", [flat], to=TensorProto.INT64)
    index = node("Reshape", [index, const("flat_shape", [-1], TensorProto.INT64)])
    coef = node("Gather", [const("table", table.reshape(nu * nv, 2 * m)), index], axis=0)
    sel_u, sel_v = _monomial_selectors(degree, m)
    powers = t
    if degree == 3:
        t2 = node("Mul", [t, t])
        powers = node("Concat", [t, t2, node("Mul", [t2, t])], axis=1)
    mono = node("Mul", [node("MatMul", [powers, const("sel_u", sel_u)]),
                        node("MatMul", [powers, const("sel_v", sel_v)])])  # fmt: skip
    terms = node("Mul", [coef, mono])
    summed = np.zeros((2 * m, 2))
    summed[:m, 0] = summed[m:, 1] = 1.0
    node("MatMul", [terms, const("sum", summed)], operator.outputs[0].full_name)


update_registered_converter(
    LogPDFRegressor, "JpsiLogPDFRegressor", _spline_shape, _spline_converter
)


def convert_spline(model: LogPDFRegressor) -> onnx.ModelProto:
    """skl2onnx conversion of the fitted spline: "xq" [N, 2] → "log_xpdf" [N, 2], float64."""
    return convert_sklearn(
        model,
        "jpsi-log-xpdf",
        initial_types=[(PDF_INPUT, DoubleTensorType([None, 2]))],
        final_types=[(PDF_OUTPUT, DoubleTensorType([None, 2]))],
        target_opset=OPSET,
    )


# -- 2. the closed-form channels -----------------------------------------------------------

# Monomials z^i (P_T²)^j of the (z, P_T) side, as columns of the block V built by products:
# level 1 Y1 = [1, z, z², z P_T, p], level 2 Y2 = [1, z, z², z³, z⁴, p, p z²], level 3 V.
Y1_COLUMNS = {(0, 0): 0, (1, 0): 1, (2, 0): 2, (0, 1): 4}
V_ORDER = ((0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (2, 1), (3, 1), (4, 1), (5, 0), (1, 1))
V_COLUMNS = {k: i for i, k in enumerate(V_ORDER)}
N_V = len(V_ORDER)
N_Y1 = 5


class Poly(dict):
    """A polynomial in (z, p = P_T²): {(i, j): coefficient of z^i p^j}."""

    def __add__(self, other):
        out = Poly(self)
        for k, v in other.items():
            out[k] = out.get(k, 0.0) + v
        return out

    def __mul__(self, other):
        if not isinstance(other, Poly):
            return Poly({k: v * other for k, v in self.items()})
        out = Poly()
        for (i, j), a in self.items():
            for (k, m), b in other.items():
                out[(i + k, j + m)] = out.get((i + k, j + m), 0.0) + a * b
        return out

    __rmul__ = __mul__

    def __pow__(self, n: int):
        out = Poly({(0, 0): 1.0})
        for _ in range(n):
            out = out * self
        return out

    def column(self, columns=V_COLUMNS) -> np.ndarray:
        """Coefficients on the columns of V (or of another monomial block)."""
        col = np.zeros(max(columns.values()) + 1)
        for k, v in self.items():
            col[columns[k]] += v
        return col


ONE, Z, P = Poly({(0, 0): 1.0}), Poly({(1, 0): 1.0}), Poly({(0, 1): 1.0})


def _zpt_side(ldme: LDME):
    """Matrices on V of the (z, P_T) side B_j = F2_j / (Da_j Db_j²) of the nine products.

    (The PGF Gaussians sit on the (x, Q) side.)
    """
    M2 = M_JPSI**2
    kk = k_norm(ldme.O3S1_8)
    c_s0 = 32.0 * math.pi**3 * ALPHA_S_PGF * ldme.O1S0_8 / (9.0 * M_JPSI)
    c_p0 = 64.0 * math.pi**3 * ALPHA_S_PGF * ldme.O3P0_8 / (9.0 * M_JPSI**3)
    c_sb = 512.0 * math.pi * ALPHA_S_PGF**2 * ldme.O3S1_1 / (243.0 * M_JPSI)
    zb, zt = ONE + (-1.0) * Z, 2.0 * ONE + (-1.0) * Z
    den = P * Z**2 + M2 * zb
    sden = P + M2 * zb**2
    da = [Z, Z, *[zt] * 5, Z * zt**2, Z * zt**2]  # denominators z den², z̃⁵, z z̃² sden²
    db = [den, den, *[zt**2] * 5, sden, sden]
    f2 = [
        3 * kk * (P * Z**2 * (ONE + zb**2) + 2 * M2 * zb**2),  # 3 D1 (times 1/(z den²))
        6 * kk * M2 * zb**2,  # D1 − D1LL
        c_s0 * Z * zt**2,  # ¹S₀[8] (times G/z̃⁵, the Gaussians sit on the (x, Q) side)
        c_p0 * Z * (3 * Z**2 + (-8.0) * Z + 8 * ONE),  # ³P₀[8] U, y² part
        c_p0 * Z * (8 * zt + (-2.0) * Z * zt**2),  # ³P₀[8] U, (1 − y) part
        c_p0 * Z**3,  # ³P₀[8] L, (2 − y)² part
        -2 * c_p0 * Z**4,  # ³P₀[8] L, (1 − y) part
        c_sb * zb * (sden + M2 * zb**4),  # ³S₁[1] U
        c_sb * zb * P,  # ³S₁[1] L
    ]
    cols = lambda polys: np.column_stack([p.column() for p in polys])  # noqa: E731
    gauss = (-1.0 / PT2_WIDTH) * P + (-1.0 / Z_WIDTH) * zb**2
    return cols(da), cols(db), cols(f2), gauss.column(Y1_COLUMNS)


# Columns of the block the Exp acts on: [ln x·g, ln x·q_eff, ln x, ln(1 − x), ln Q, ln √s, Y1].
LXG, LXQ, LX, L1MX, LQ, LRS = range(6)
N_LOG = 6 + N_Y1


def _xq_side(gauss: np.ndarray):
    """Exponents [17, 9] and log-constants [9] of W = [P_q, P_g, P_g G] × [1, y, y²], and the
    [9, 9] matrix giving the (x, Q, y) side A_j of the nine products from W.

    P_q = 4π C α² q_eff/Q⁴, P_g = C α² g/Q⁶, G = G(z) F(P_T) (the PGF Gaussians).
    """
    c_em2 = GEV2_TO_PB * ALPHA_EM**2
    gauss_norm = 1.0 / (math.pi * PT2_WIDTH * math.sqrt(math.pi * Z_WIDTH))
    exps = np.zeros((N_LOG, 9))
    logc = np.zeros(9)
    bases = [
        ({LXQ: 1, LX: -1, LQ: -4}, 4 * math.pi * c_em2, False),
        ({LXG: 1, LX: -1, LQ: -6}, c_em2, False),
        ({LXG: 1, LX: -1, LQ: -6}, c_em2 * gauss_norm, True),
    ]
    for b, (base, c, with_gauss) in enumerate(bases):
        for p in range(3):
            col = 3 * b + p
            for k, v in {**base}.items():
                exps[k, col] += v
            for k, v in {LQ: 2 * p, LX: -p, LRS: -2 * p}.items():  # y^p = (Q²/(x s))^p
                exps[k, col] += v
            if with_gauss:
                exps[6:, col] += gauss
            logc[col] = math.log(c)
    Y = (1.0, -1.0, 0.5)
    sides = [  # (base, coefficients of 1, y, y²)
        (0, Y), (0, Y),  # oct3s1: P_q Y(y)
        (2, Y),  # oct1s0: P_g G Y(y)
        (2, (0.0, 0.0, 1.0)), (2, (1.0, -1.0, 0.0)),  # oct3p0_U: y², 1 − y
        (2, (4.0, -4.0, 1.0)), (2, (1.0, -1.0, 0.0)),  # oct3p0_L: (2 − y)², 1 − y
        (1, Y), (1, Y),  # sing3s1: P_g Y(y)
    ]  # fmt: skip
    a = np.zeros((9, 9))
    for j, (b, coefs) in enumerate(sides):
        a[3 * b : 3 * b + 3, j] = coefs
    return exps, logc, a


def _to_outputs() -> np.ndarray:
    """[9, 10]: the nine products onto the eight channels and the two totals."""
    to_out = np.zeros((9, len(OUTPUTS)))
    for j, ch in enumerate([0, 1, 2, 4, 4, 5, 5, 6, 7]):
        to_out[j, ch] = 1.0
    to_out[2, 3] = 1.0 / 3.0  # oct1s0_L = oct1s0_U / 3
    to_out[:, 8] = to_out[:, 0:8:2].sum(axis=1)  # total_U
    to_out[:, 9] = to_out[:, 1:8:2].sum(axis=1)  # total_L
    return to_out


def surrogate_model(spline: onnx.ModelProto, ldme: LDME | None = None) -> onnx.ModelProto:
    """The shipped model: "features" [N, 5] → "sigma" [N, 10], embedding ``spline`` verbatim."""
    da, db, f2, gauss = _zpt_side(ldme or LDME())
    exps, logc, a_side = _xq_side(gauss)
    inits = []

    def const(name, value, dtype=np.float64):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def mm(name, inp, matrix):
        return helper.make_node("MatMul", [inp, const("w_" + name, matrix)], [name])

    pdf = onnx.compose.add_prefix(spline, "pdf/")
    inits += list(pdf.graph.initializer)
    # (z, P_T) monomials by three levels of products of two linear maps (no Concat needed)
    y1a, y1b = np.zeros((5, N_Y1)), np.zeros((5, N_Y1))
    for col, (fa, fb) in enumerate([(None, None), (2, None), (2, 2), (2, 4), (4, 4)]):
        for w, f in ((y1a, fa), (y1b, fb)):
            if f is not None:
                w[f, col] = 1.0
    b_y1a, b_y1b = [1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]
    y2 = [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (4, 0), (3, 3)]  # products of Y1 columns
    v = [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (6, 1), (6, 2), (4, 1), (5, 1)]
    pick = lambda pairs, side, n: np.eye(n)[:, [p[side] for p in pairs]]  # noqa: E731
    nodes = [
        mm("pdf/" + PDF_INPUT, INPUT, np.eye(5)[:, [1, 3]]),
        *pdf.graph.node,
        helper.make_node("Gemm", [INPUT, const("w_y1a", y1a), const("b_y1a", b_y1a)], ["y1a"]),
        helper.make_node("Gemm", [INPUT, const("w_y1b", y1b), const("b_y1b", b_y1b)], ["y1b"]),
        helper.make_node("Mul", ["y1a", "y1b"], ["y1"]),  # [1, z, z², z P_T, p]
        mm("y2a", "y1", pick(y2, 0, N_Y1)),
        mm("y2b", "y1", pick(y2, 1, N_Y1)),
        helper.make_node("Mul", ["y2a", "y2b"], ["y2"]),  # [1, z, z², z³, z⁴, p, p z²]
        mm("va", "y2", pick(v, 0, 7)),
        mm("vb", "y2", pick(v, 1, 7)),
        helper.make_node("Mul", ["va", "vb"], ["v"]),  # V_ORDER
        # (z, P_T) side: B = F2 / (Da Db²), all polynomials in V
        mm("da", "v", da),
        mm("db", "v", db),
        helper.make_node("Mul", ["db", "db"], ["db2"]),
        helper.make_node("Mul", ["da", "db2"], ["denominator"]),
        mm("f2", "v", f2),
        helper.make_node("Div", ["f2", "denominator"], ["side_b"]),
        # (x, Q, y) side: W = exp(linear in logs and V); A = W · a_side
        mm("rs", INPUT, np.eye(5)[:, [0]]),
        helper.make_node("Log", ["rs"], ["log_rs"]),
        helper.make_node(
            "Concat", ["pdf/" + PDF_OUTPUT, "pdf/" + LOGS, "log_rs", "y1"], ["logs"], axis=1
        ),
        helper.make_node("Gemm", ["logs", const("w_w", exps), const("b_w", logc)], ["log_w"]),
        helper.make_node("Exp", ["log_w"], ["w"]),
        mm("side_a", "w", a_side),
        helper.make_node("Mul", ["side_a", "side_b"], ["products"]),
        helper.make_node("MatMul", ["products", const("w_out", _to_outputs())], [OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "jpsi-surrogate",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, 5])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, len(OUTPUTS)])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="jpsi-sidis training",
        doc_string="J/psi SIDIS cross sections (pb/GeV^4) from (sqrt_s, x, z, Q, PT)",
    )
    model.ir_version = spline.ir_version
    onnx.checker.check_model(model, full_check=True)
    return model
