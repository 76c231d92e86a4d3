"""Cold-chain rules per product class, excursions over sampled series, and their summaries.

Plain Python. ``compute_excursions(series, rule)`` finds excursions; ``assess`` adds gaps, time
in band and the cumulative limit; ``summarize(assessment, lang)`` gives the one-line summary;
``ExcursionAck`` is the signed acknowledgement record.
"""

from farmtrace.api.services.coldchain.assessment import Assessment, CumulativeWindow, assess
from farmtrace.api.services.coldchain.errors import ColdChainError
from farmtrace.api.services.coldchain.excursions import (
    Excursion,
    Gap,
    Sample,
    Severity,
    compute_excursions,
    find_gaps,
)
from farmtrace.api.services.coldchain.rules import (
    PRODUCT_CLASSES,
    ProductClass,
    Rule,
    product_class,
)

__all__ = [
    "PRODUCT_CLASSES",
    "Assessment",
    "ColdChainError",
    "CumulativeWindow",
    "Excursion",
    "Gap",
    "ProductClass",
    "Rule",
    "Sample",
    "Severity",
    "assess",
    "compute_excursions",
    "find_gaps",
    "product_class",
]
