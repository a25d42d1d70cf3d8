"""Three findings made since the paper, judged on this project's tables (docs/paper.md section 5), and the report's
paragraph on weight decay as a timescale. Never imports torch.

- finding 11, the EMA timescale (Wang & Aitchison, ICML 2025): `claim_11`, from the `timescale` runs;
- finding 12, rotational equilibrium (Kosson, Messmer & Jaggi, ICML 2024): `claim_12`, from the `rotation` runs'
  telemetry (results.read_telemetry);
- finding 13, decay helps through a large learning rate (D'Angelo et al., NeurIPS 2024): `claim_13`, from the
  cosine grids of Fig. 1/2;
- `tau_paragraph`: the paper's findings and these three side by side in tau terms.

Each `claim_N(runs, history, value, *, telemetry=None) -> ClaimResult` takes its conf/claims.yaml value (a number or
a mapping of numbers) and returns the same ClaimResult as the paper's findings.
"""

from .decay_gain import claim_13, gain_by_alpha, gain_slope, gains, smallest_alpha_gain  # noqa: F401
from .rotation import claim_12, equilibrium, predicted_angle, rotation_parts, spread  # noqa: F401
from .tau import best_cells, tau_paragraph  # noqa: F401
from .timescale import best_lambdas, claim_11, excluded_text, timescale_fit  # noqa: F401

CLAIMS = {11: claim_11, 12: claim_12, 13: claim_13}
