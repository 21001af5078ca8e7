"""The paper's published numbers (Cai et al., AAAI 2026, §6; ``hcf_paper.md``), as data.

Quoted exactly as printed. The paper's models are MLIC++ (Tables 1–2, Fig. 3) and CompressAI
cheng2020 (Tables 3–4) at full size, evaluated on Kodak / CLIC / CLIC2020-mobile.
"""

from __future__ import annotations

# Table 1 (MLIC++ + HCF, Kodak): (n_q, d, policy) -> (bpp, PSNR, MS-SSIM dB, η_PSNR, η_MS-SSIM)
TABLE1: dict[tuple[int, int, str], tuple[float, float, float, float, float]] = {
    (2, 2, "[1,0,0,0,1]"): (0.1674, 30.264, 13.129, 11.054, 13.573),
    (2, 2, "[0,0,0,1,1]"): (0.1674, 29.768, 12.761, 17.115, 18.070),
    (4, 1, "[1,1,1,0,0,1]"): (0.0981, 28.524, 11.249, 19.057, 22.361),
    (4, 1, "[0,0,1,1,1,1]"): (0.0951, 27.929, 10.819, 27.419, 28.010),
}
TABLE1_SETTING = "MLIC++ (s=6), Kodak"

# Fig. 3 (MLIC++, Kodak, s=4, d=1, n_q=2): policy -> (level of the first quantization,
# jump there, jump at the final quantization), bits
FIG3_JUMPS: dict[str, tuple[int, float, float]] = {
    "[1,0,0,1]": (4, 61.1, 94.1),
    "[0,1,0,1]": (3, 40.6, 96.1),
    "[0,0,1,1]": (2, 71.7, 99.3),
}
FIG3_SETTING = "MLIC++ (M=320), Kodak, s=4 → d=1, n_q=2; y-axis ≈ 280–360 bits"

# Table 2 (relative to HCF π^edge, MLIC++): method -> (Kodak BD-rate %, Kodak BD-PSNR dB,
# CLIC BD-rate %, CLIC BD-PSNR dB)
TABLE2: dict[str, tuple[float, float, float, float]] = {
    "Presta (PCF)": (12.64, -0.46, 9.48, -0.28),
    "Jeon (PCF)": (13.40, -0.51, 8.62, -0.27),
    "Lee / DPICT (PCF)": (43.84, -1.76, 26.39, -0.80),
    "DRF (MLIC++)": (4.87, -0.22, 5.56, -0.23),
}

# Table 3 (HCF vs DRF, per node of a 5-node cascade): arch -> per node
# (FLOPs, params, GPU memory, execution time) reductions in %
TABLE3: dict[str, list[tuple[float, float, float, float]]] = {
    "cheng2020-attn": [
        (97.8, 68.7, 95.5, 90.0),
        (97.8, 68.7, 95.5, 90.0),
        (97.4, 65.8, 95.0, 87.6),
        (97.8, 68.7, 96.5, 83.5),
        (97.8, 68.7, 96.5, 83.5),
    ],
    "cheng2020-anchor": [
        (97.5, 62.7, 95.4, 87.1),
        (97.5, 62.7, 95.4, 87.1),
        (97.1, 60.2, 94.8, 83.9),
        (97.5, 62.7, 96.5, 77.9),
        (97.5, 62.7, 96.5, 77.9),
    ],
}
TABLE3_SETTING = "NVIDIA RTX A6000, 'transform operations' only (φ vs g_s^k + g_a^(k-1))"

# Table 4 (cheng2020-attn, CLIC2020-mobile): (source k, anchor k+1) -> (BD-rate_P, BD-rate_M) %
TABLE4: dict[tuple[int, int], tuple[float, float]] = {
    (5, 6): (-7.13, -7.29),
    (4, 5): (-7.36, -7.02),
    (3, 4): (-10.87, -7.80),
}

# Fig. 6 ablation (CLIC2020-mobile, π^edge): qualitative findings only
FIG6 = (
    "full HCF best; φ^inter-only degrades at low bitrates (insufficient information "
    "preservation); φ^intra-only degrades at high bitrates (poor handling of quantization "
    "artefacts)"
)
