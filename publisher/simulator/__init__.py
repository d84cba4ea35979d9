"""A local stand-in for Meta's Graph API: Instagram content publishing and Page photos.

It plays Meta's side only and imports nothing else from `publisher`.
"""

from publisher.simulator.app import make_app
from publisher.simulator.faults import FaultKind, FaultSpecError, Operation
from publisher.simulator.records import Config
from publisher.simulator.server import SimulatorServer, serve_forever
from publisher.simulator.state import SimulatorState

__all__ = [
    "Config",
    "FaultKind",
    "FaultSpecError",
    "Operation",
    "SimulatorServer",
    "SimulatorState",
    "make_app",
    "serve_forever",
]
