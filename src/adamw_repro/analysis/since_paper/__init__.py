"""What the three findings made since the paper measure, on this project's tables (docs/paper.md section 5), and the
report's paragraph on weight decay as a timescale. Never imports torch. Their judges (conf/claims.yaml's findings
11-13) are registered in adamw_repro/analysis/findings/since_paper.py:

- finding 11, the EMA timescale (Wang & Aitchison, ICML 2025): `timescale.timescale_fit`, from the `timescale` runs;
- finding 12, rotational equilibrium (Kosson, Messmer & Jaggi, ICML 2024): `rotation.rotation_parts`, from the
  `rotation` runs' telemetry (results.read_telemetry);
- finding 13, decay helps through a large learning rate (D'Angelo et al., NeurIPS 2024): `decay_gain.gains`, from
  the cosine grids of Fig. 1/2;
- `tau_paragraph`: the paper's findings and these three side by side in tau terms.
"""

from .decay_gain import gain_by_alpha, gain_slope, gains, smallest_alpha_gain  # noqa: F401
from .rotation import equilibrium, predicted_angle, rotation_parts, spread  # noqa: F401
from .tau import best_cells, tau_paragraph  # noqa: F401
from .timescale import best_lambdas, excluded_text, timescale_fit  # noqa: F401
