"""Figures: the shared look (style), row selection (rows), the alpha x lambda heatmap (heatmaps) and curves
over epochs (curves). Figure scripts (scripts/figures/) only select rows and lay out panels through
`from adamw_repro.analysis import plotting`; inputs are the aggregated tables of `adamw_repro.schema` (errors
are fractions, figures show percent).
"""

from .curves import PERCENT, band_kind, curve_stats, error_bars, plot_curve  # noqa: F401
from .heatmaps import (  # noqa: F401
    LAMBDA_AXIS,
    Grid,
    best_cells,
    cell_table,
    color_limits,
    decoupling_annotation,
    edge_note,
    empty_panel,
    heatmap,
    heatmap_figure,
    log2_labels,
)
from .rows import SETTING_COLUMNS, _key, best_setting, decay_rows, keep_one, select  # noqa: F401
from .style import (  # noqa: F401
    DPI,
    HEATMAP_CMAP,
    MISSING_COLOR,
    OPTIMIZER_COLORS,
    RC,
    SCHEDULE_COLORS,
    Figure,
    figure_title,
    integer_epochs,
    join_notes,
    log_axis,
    missing_note,
    n_seeds_text,
    number_text,
    optimizer_color,
    optimizer_label,
    plt,
    run_snakemake,
    save,
    schedule_label,
    styled,
)
