"""Scalar reference twins of the channel formulas, written straight from
``docs/physics.md`` ("Constants", "The eight channels") with the
``math`` module and no shared code with ``physics.channels``: the vectorised
engine is tested against these at random points.
"""

import math

N_C = 3
M = 3.1
ALPHA_EM = 1 / 137.036
C = 1 / 2.568e-9  # GeV^-2 -> pb
PT2_W = 0.25
Z_W = 0.04


def alpha_s(mu, n_f=5, lam=0.2):
    return 2 * math.pi / ((11 - 2 * n_f / 3) * math.log(mu / lam))


def channels(
    x,
    z,
    Q,
    PT,
    sqrt_s,
    g,
    qeff,
    O3S1_8=0.3e-2,
    O3S1_1=1.16,
    O1S0_8=8.9e-2,
    O3P0_8=(3.1 / 2) ** 2 * 0.56e-2,
):
    """The eight channels in pb/GeV^4 at one point; g and qeff are number densities."""
    S = sqrt_s**2
    y = Q**2 / (x * S)
    Y = 1 - y + y**2 / 2
    zt = 2 - z
    zb = 1 - z
    a_m = alpha_s(M)
    a_30 = alpha_s(30.0)
    F = math.exp(-(PT**2) / PT2_W) / (math.pi * PT2_W)
    G = math.exp(-((1 - z) ** 2) / Z_W) / math.sqrt(math.pi * Z_W)

    K = 2 * a_m**2 * O3S1_8 / (9 * math.pi * N_C * M**3 * z)
    den = (z**2 * PT**2 + M**2 * (1 - z)) ** 2
    D1 = K * (PT**2 * z**2 * (z**2 - 2 * z + 2) + 2 * M**2 * (z - 1) ** 2) / den
    D1LL = K * (PT**2 * z**2 * (z**2 - 2 * z + 2) - 4 * M**2 * (z - 1) ** 2) / den
    frag = C * 4 * math.pi * ALPHA_EM**2 / Q**4 * Y * qeff

    s0_u = (
        C
        * Y
        * 32
        * math.pi**3
        * z
        * ALPHA_EM**2
        * a_30
        / (9 * M * Q**6 * zt**3)
        * g
        * G
        * F
        * O1S0_8
    )
    P_U = y**2 * (8 + z * (3 * z - 8)) + 8 * (1 - y) * zt - 2 * (1 - y) * z * zt**2
    P_L = (2 - y) ** 2 - 2 * z * (1 - y)
    p0_u = (
        C
        * 64
        * math.pi**3
        * z
        * ALPHA_EM**2
        * a_30
        / (9 * M**3 * Q**6 * zt**5)
        * P_U
        * g
        * G
        * F
        * O3P0_8
    )
    p0_l = (
        C
        * 64
        * math.pi**3
        * z**3
        * ALPHA_EM**2
        * a_30
        / (9 * M**3 * Q**6 * zt**5)
        * P_L
        * g
        * G
        * F
        * O3P0_8
    )
    B = (
        C
        * 512
        * math.pi
        * zb
        * ALPHA_EM**2
        * a_30**2
        / (243 * M * Q**6 * z * zt**2)
        * Y
        * g
        * O3S1_1
    )
    return {
        "oct3s1_U": frag * 3 * D1,
        "oct3s1_L": frag * (D1 - D1LL),
        "oct1s0_U": s0_u,
        "oct1s0_L": s0_u / 3,
        "oct3p0_U": p0_u,
        "oct3p0_L": p0_l,
        "sing3s1_U": B * (PT**2 + zb**2 * M**2 * (2 - z * zt)) / (PT**2 + zb**2 * M**2) ** 2,
        "sing3s1_L": B * PT**2 / (PT**2 + zb**2 * M**2) ** 2,
    }
