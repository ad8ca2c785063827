"""A provider simulator for tests and offline development: see :mod:`promptc.runtime.sim.server`."""

from promptc.runtime.sim.server import FakeClock, Fault, SimApp, Simulator

__all__ = ["FakeClock", "Fault", "SimApp", "Simulator"]
