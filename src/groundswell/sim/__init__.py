"""A crowd simulator that drives real jobs: simulated annotators (confusion matrices) answer through the
same routing and submit code as people, so cost and accuracy of a job's settings can be measured before
anyone is paid. :func:`load_pool` reads a pool file; :func:`simulate_job` runs a job to the end."""

from groundswell.sim.driver import SimReport, measure_job, simulate_job
from groundswell.sim.pool import (
    SENTIMENT_ORDER,
    Pool,
    SimWorker,
    SystematicConfusion,
    load_pool,
    parametric_pool,
    parse_pool,
)

__all__ = [
    "SENTIMENT_ORDER",
    "Pool",
    "SimReport",
    "SimWorker",
    "SystematicConfusion",
    "load_pool",
    "measure_job",
    "parametric_pool",
    "parse_pool",
    "simulate_job",
]
