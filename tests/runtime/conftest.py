from tests.providers.conftest import LOW_MIN, low_min_config, ntok, sim, support, team  # noqa: F401
