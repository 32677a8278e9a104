"""The emulator's own admin API under ``/_emulator/`` (not part of ICE), one module per resource.

* :mod:`~emulator.api.admin.state`: health, reset, ``/_emulator/state`` and its export / import.
* :mod:`~emulator.api.admin.events`: the server-sent event stream.
* :mod:`~emulator.api.admin.links`: the backbone's links, impairments and timelines.
* :mod:`~emulator.api.admin.lastmile`: last-mile impairments per endpoint.

Each module's ``add_*_routes(app, ...)`` adds its routes; every route raises domain errors and the one
middleware of :mod:`emulator.api.errors` answers them. Only ``state`` and ``events`` are imported here:
``links`` and ``lastmile`` need the runtime, which a signing CLI command does not load.
"""

from ..bodies import MAX_JSON_DEPTH, json_body, parse_json
from .events import KEEPALIVE_S, add_event_routes
from .state import EXTRA_STATE_KEY, SECRETS_KEY, VERSION, add_admin_routes, add_state_routes

__all__ = [
    "EXTRA_STATE_KEY",
    "KEEPALIVE_S",
    "MAX_JSON_DEPTH",
    "SECRETS_KEY",
    "VERSION",
    "add_admin_routes",
    "add_event_routes",
    "add_state_routes",
    "json_body",
    "parse_json",
]
