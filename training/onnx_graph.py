"""ONNX export: the fitted spline through skl2onnx, the closed-form channels appended by hand.

Two pieces, both float64 end to end:

1. ``LogPDFRegressor`` gets a registered skl2onnx converter that evaluates the
   tensor spline *sparsely*: locate the cell on the uniform (logit x, ln Q)
   grid by Floor arithmetic, Gather the cell's 2 × (degree + 1)² polynomial
   coefficients (``LogPDFRegressor.cell_table``), multiply by the monomials
   t_u^a t_v^b and sum. Input "xq" [N, 2] = (x, Q/GeV), output "log_xpdf"
   [N, 2] = (ln x·g, ln x·q_eff).

2. ``surrogate_model`` wraps that graph: features [N, 5] = (√s, x, z, Q, P_T)
   → σ [N, 10] in ``physics.OUTPUTS`` order, pb/GeV⁴. Every channel is a sum
   of products c_j · E_b(j) · Y_c(j) · N_j (``physics.channels``): E_b =
   exp(PDF, Q and x logarithms, PGF Gaussians) over a (z, P_T) denominator,
   Y_c a polynomial in y, N_j a polynomial in (z, P_T²). The closed form runs
   feature-major ([rows, N] after one transposing Gemm), because onnxruntime
   selects whole rows by a memcpy but columns of a row-major tensor only by
   dense matrix products, which cost more than the arithmetic itself. The
   monomials [1, z, …, z⁴, P_T², z² P_T²] come from two levels of row products,
   every polynomial from one Gemm on them, the three exponentials from one Exp
   over three rows; a last Gemm maps the nine products onto the ten outputs and
   transposes back. Rewritings used (exact identities, ``physics.md``):

       3 D1 = 3k z² P_T² (1 + z̄²)/(z den²) + (D1 − D1LL),  den = z² P_T² + M² z̄
       P_T² + z̄² M² (2 − z z̃) = P_T² + M² z̄² (1 + z̄²),   sden = P_T² + z̄² M²
       z/z̃³ = z z̃²/z̃⁵ (¹S₀[8] shares the ³P₀[8] denominator)

   P_T enters only through P_T², so P_T = 0 gives exact zeros, never NaN.
   Inputs outside the spline box are clamped onto it: the model returns finite
   numbers for any finite physical input.
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
from runtime.features import SURROGATE_INPUT, SURROGATE_OUTPUT
from training.splines import LogPDFRegressor

OPSET = 17
INPUT = SURROGATE_INPUT
OUTPUT = SURROGATE_OUTPUT
PDF_INPUT = "xq"
PDF_OUTPUT = "log_xpdf"
LOGS = "log_x_1mx_q"
"""Name of the spline's [ln x, ln(1 − x), ln Q] tensor, which the closed form reuses."""


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
#
# Feature-major: after one transposing Gemm every tensor is [rows, N], so that selecting
# rows (Gather on axis 0) is a memcpy and products are elementwise over whole rows.

L_ROWS = ("one", "z", "PT", "Q", "rs", "x")
"""Rows taken from the features (√s = rs), and a row of ones; S = their squares."""
S_ROWS = ("one", "z2", "p", "Q2", "s", "x2")
V_PAIRS = {  # products of two rows of L ∪ S: the monomials z^i p^j the forms need, and x s
    (0, 0): ("one", "one"), (1, 0): ("z", "one"), (2, 0): ("z2", "one"), (3, 0): ("z2", "z"),
    (4, 0): ("z2", "z2"), (0, 1): ("p", "one"), (2, 1): ("z2", "p"),
    "Q2": ("Q2", "one"), "xs": ("x", "s"),
}  # fmt: skip
V_ROWS = tuple(V_PAIRS)[:-2]
"""The monomials z^i p^j; V_PAIRS also yields Q² and x s, for y."""
FEATURE_INDEX = {"rs": 0, "x": 1, "z": 2, "Q": 3, "PT": 4}

E_ROWS = ("E_q", "E_g", "E_gG")
Y_ROWS = ("Yw", "y2", "1my", "2my2")  # Y(y), y², 1 − y, (2 − y)²
LOG_PART = np.array([[-1.0, 0.0, -4.0], [-1.0, 0.0, -6.0], [-1.0, 0.0, -6.0]])
"""ln E from the spline's [ln x, ln(1 − x), ln Q]: 1/(x Q⁴) and 1/(x Q⁶) (f = x·f / x)."""
PDF_PART = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
"""ln E from [ln x·g, ln x·q_eff]."""


class Poly(dict):
    """A polynomial in (z, p = P_T²): {(i, j): coefficient of z^i p^j}."""

    def __add__(self, other):
        out = Poly(self)
        for k, v in Poly.of(other).items():
            out[k] = out.get(k, 0.0) + v
        return out

    __radd__ = __add__

    def __mul__(self, other):
        out = Poly()
        for (i, j), a in self.items():
            for (k, m), b in Poly.of(other).items():
                out[(i + k, j + m)] = out.get((i + k, j + m), 0.0) + a * b
        return out

    __rmul__ = __mul__

    def __sub__(self, other):
        return self + (-1.0) * Poly.of(other)

    def __rsub__(self, other):
        return Poly.of(other) + (-1.0) * self

    def __pow__(self, n: int):
        out = Poly.of(1.0)
        for _ in range(n):
            out = out * self
        return out

    @staticmethod
    def of(value) -> Poly:
        return value if isinstance(value, Poly) else Poly({(0, 0): float(value)})


Z, P = Poly({(1, 0): 1.0}), Poly({(0, 1): 1.0})
ZB, ZT = 1.0 - Z, 2.0 - Z  # z̄ = 1 − z, z̃ = 2 − z


def _forms_and_products(ldme: LDME):
    """Polynomials in (z, P_T²) and the nine products P_j = c_j E_b Y_c r_j f_j.

    Every channel (``physics.channels``) is a sum of these: E_b carries the PDFs, Q and x
    (exponentials) and its (z, P_T) denominator, E_q = e_q/(z den²), E_g = e_g/(z z̃² sden²),
    E_gG = e_g G/z̃⁵; Y_c is a polynomial in y; r_j f_j is the numerator and c_j a constant
    (folded into the output map). Rewritings: 3 D1 = 3k [z²P_T²(1 + z̄²) + 2M² z̄²]/(z den²) is
    frag_u + frag_l with frag_l = D1 − D1LL = 6k M² z̄²/(z den²) (z² − 2z + 2 = 1 + z̄²);
    ¹S₀[8]: z/z̃³ = z z̃²/z̃⁵; ³S₁[1]: P_T² + z̄² M² (2 − z z̃) = P_T² + M² z̄² (1 + z̄²).
    """
    M2 = M_JPSI**2
    kk = k_norm(ldme.O3S1_8)
    c_s0 = 32.0 * math.pi**3 * ALPHA_S_PGF * ldme.O1S0_8 / (9.0 * M_JPSI)
    c_p0 = 64.0 * math.pi**3 * ALPHA_S_PGF * ldme.O3P0_8 / (9.0 * M_JPSI**3)
    c_sb = 512.0 * math.pi * ALPHA_S_PGF**2 * ldme.O3S1_1 / (243.0 * M_JPSI)
    c_em2 = GEV2_TO_PB * ALPHA_EM**2
    ln_gauss = -math.log(math.pi * PT2_WIDTH * math.sqrt(math.pi * Z_WIDTH))
    one = Poly.of(1.0)
    denominators = {  # [z, z z̃², z̃] · [den, sden, z̃²]² = [z den², z z̃² sden², z̃⁵]
        "den_a": [Z, Z * ZT**2, ZT],
        "den_b": [Z**2 * P + M2 * ZB, P + M2 * ZB**2, ZT**2],
    }
    ln_e = [  # the part of ln E that is not the PDFs' nor the logarithms'
        Poly.of(math.log(4 * math.pi * c_em2)),
        Poly.of(math.log(c_em2)),
        -1.0 / PT2_WIDTH * P - 1.0 / Z_WIDTH * ZB**2 + math.log(c_em2) + ln_gauss,
    ]
    products = (  # E row, Y row, r_j, f_j, c_j, outputs it adds to
        ("E_q", "Yw", Z**2 * P, 1.0 + ZB**2, 3 * kk, {"oct3s1_U": 1.0}),
        ("E_q", "Yw", ZB**2, one, 6 * kk * M2, {"oct3s1_U": 1.0, "oct3s1_L": 1.0}),
        ("E_gG", "Yw", Z * ZT**2, one, c_s0, {"oct1s0_U": 1.0, "oct1s0_L": 1.0 / 3.0}),
        ("E_gG", "y2", Z * (3.0 * Z**2 - 8.0 * Z + 8.0), one, c_p0, {"oct3p0_U": 1.0}),
        ("E_gG", "1my", Z * (8.0 * ZT - 2.0 * Z * ZT**2), one, c_p0, {"oct3p0_U": 1.0}),
        ("E_gG", "2my2", Z**3, one, c_p0, {"oct3p0_L": 1.0}),
        ("E_gG", "1my", Z**4, one, -2 * c_p0, {"oct3p0_L": 1.0}),
        ("E_g", "Yw", ZB, P + M2 * ZB**2 + M2 * ZB**4, c_sb, {"sing3s1_U": 1.0}),
        ("E_g", "Yw", ZB, P, c_sb, {"sing3s1_L": 1.0}),
    )
    blocks = {
        **denominators,
        "ln_e_poly": ln_e,
        "r": [p[2] for p in products],
        "f": [Poly.of(p[3]) for p in products],
    }
    return blocks, products


def _on_v(polys) -> np.ndarray:
    """[len(polys), len(V_ROWS)]: coefficients on the monomial rows V."""
    w = np.zeros((len(polys), len(V_ROWS)))
    for i, poly in enumerate(polys):
        for k, c in poly.items():
            w[i, V_ROWS.index(k)] += c
    return w


def _y_block():
    """Y rows as α + y (β y + γ): Y(y) = 1 − y + y²/2, y², 1 − y, (2 − y)²."""
    abc = np.array([[1.0, 0.5, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, -1.0], [4.0, 1.0, -4.0]])
    return abc[:, :1], abc[:, 1:2], abc[:, 2:3]


def _to_outputs(products) -> np.ndarray:
    """[9, 10]: the products, with their constants, onto the eight channels and the totals."""
    out = np.zeros((len(products), len(OUTPUTS)))
    for j, (*_, c, targets) in enumerate(products):
        for name, weight in targets.items():
            out[j, OUTPUTS.index(name)] = c * weight
    out[:, OUTPUTS.index("total_U")] = out[:, 0:8:2].sum(axis=1)
    out[:, OUTPUTS.index("total_L")] = out[:, 1:8:2].sum(axis=1)
    return out


def _affine_inputs():
    """[6, 5] and [6, 1]: the L rows from the features (√s, x, z, Q, P_T)."""
    w, b = np.zeros((len(L_ROWS), 5)), np.zeros((len(L_ROWS), 1))
    for i, name in enumerate(L_ROWS):
        if name in FEATURE_INDEX:
            w[i, FEATURE_INDEX[name]] = 1.0
    b[L_ROWS.index("one")] = 1.0
    return w, b


def _reading_features(pdf: onnx.ModelProto) -> onnx.ModelProto:
    """The prefixed spline with its first linear map (on "xq" = features[:, [x, Q]]) composed
    with that column selection, so that it reads "features" directly: one node less."""
    readers = [n for n in pdf.graph.node if "pdf/" + PDF_INPUT in n.input]
    first = readers[0] if len(readers) == 1 else None
    if (
        first is None
        or first.op_type != "Gemm"
        or any(a.name.startswith("trans") for a in first.attribute)
    ):
        raise ValueError("the spline must start with one Gemm on its input")
    inits = {t.name: t for t in pdf.graph.initializer}
    weight = numpy_helper.to_array(inits[first.input[1]])
    selection = np.eye(5)[:, [FEATURE_INDEX["x"], FEATURE_INDEX["Q"]]]
    inits[first.input[1]].CopyFrom(numpy_helper.from_array(selection @ weight, first.input[1]))
    first.input[0] = INPUT
    return pdf


def surrogate_model(spline: onnx.ModelProto, ldme: LDME | None = None) -> onnx.ModelProto:
    """The shipped model: "features" [N, 5] → "sigma" [N, 10], embedding ``spline`` verbatim."""
    blocks, products = _forms_and_products(ldme or LDME())
    w_forms = np.vstack([_on_v(polys) for polys in blocks.values()])
    y_alpha, y_beta, y_gamma = _y_block()
    w_l, b_l = _affine_inputs()
    ls_rows = L_ROWS + S_ROWS
    inits = []

    def const(name, value):
        value = np.asarray(value)
        dtype = np.int64 if value.dtype.kind == "i" else np.float64
        inits.append(numpy_helper.from_array(value.astype(dtype), name))
        return name

    def rows(names, table):
        return np.array([table.index(n) for n in names], dtype=np.int64)

    pick_va = rows((a for a, _ in V_PAIRS.values()), ls_rows)
    pick_vb = rows((b for _, b in V_PAIRS.values()), ls_rows)
    pick_e = rows((p[0] for p in products), E_ROWS)
    pick_y = rows((p[1] for p in products), Y_ROWS)
    node = helper.make_node
    pdf = _reading_features(onnx.compose.add_prefix(spline, "pdf/"))
    inits += list(pdf.graph.initializer)
    nodes = [
        *pdf.graph.node,
        # monomials V = [1, z, z², z³, z⁴, p, z² p], Q² and x s: products of rows of L ∪ L²
        node("Gemm", [const("w_l", w_l), INPUT, const("b_l", b_l)], ["l"], transB=1),
        node("Mul", ["l", "l"], ["sq"]),
        node("Concat", ["l", "sq"], ["ls"], axis=0),
        node("Gather", ["ls", const("pick_va", pick_va)], ["v_a"], axis=0),
        node("Gather", ["ls", const("pick_vb", pick_vb)], ["v_b"], axis=0),
        node("Mul", ["v_a", "v_b"], ["v_all"]),
        node("Split", ["v_all", const("v_sizes", [len(V_ROWS), 1, 1])], ["v", "q2", "xs"], axis=0),
        # every polynomial in (z, P_T²) at once, split by reader
        node("Gemm", [const("w_forms", w_forms), "v"], ["forms"]),
        node(
            "Split",
            ["forms", const("form_sizes", [len(b) for b in blocks.values()])],
            list(blocks),
            axis=0,
        ),
        node("Mul", ["r", "f"], ["numerators"]),
        node("Mul", ["den_b", "den_b"], ["den_b2"]),
        node("Mul", ["den_a", "den_b2"], ["denominators"]),
        # E = exp(ln E)/denominators, ln E = polynomial part + PDF part + log part
        node(
            "Gemm",
            [const("w_epdf", PDF_PART), "pdf/" + PDF_OUTPUT, "ln_e_poly"],
            ["ln_e_pdf"],
            transB=1,
        ),
        node("Gemm", [const("w_elog", LOG_PART), "pdf/" + LOGS, "ln_e_pdf"], ["ln_e"], transB=1),
        node("Exp", ["ln_e"], ["e"]),
        node("Div", ["e", "denominators"], ["e_over_d"]),
        # y = Q²/(x s) and its four polynomials
        node("Div", ["q2", "xs"], ["y"]),
        node("Gemm", [const("y_beta", y_beta), "y", const("y_gamma", y_gamma)], ["y_lin"]),
        node("Mul", ["y_lin", "y"], ["y_quad"]),
        node("Add", ["y_quad", const("y_alpha", y_alpha)], ["y_poly"]),
        # P_j = E_b(j) · Y_c(j) · r_j f_j, then onto the outputs (transposed back to [N, 10])
        node("Gather", ["e_over_d", const("pick_e", pick_e)], ["pe"], axis=0),
        node("Gather", ["y_poly", const("pick_y", pick_y)], ["py"], axis=0),
        node("Mul", ["pe", "py"], ["pey"]),
        node("Mul", ["pey", "numerators"], ["products"]),
        node("Gemm", ["products", const("w_out", _to_outputs(products))], [OUTPUT], transA=1),
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
