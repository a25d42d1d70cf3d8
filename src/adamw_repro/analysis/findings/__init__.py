"""The findings of docs/paper.md section 4, one judging function each, registered by number with `@finding`
(adamw_repro.analysis.registry). Importing this package imports every module in it, so a new finding is a
function in any module here: nothing else lists them.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
