"""RTMP sessions, sans-IO: the server and client roles live apart in
:mod:`~mediaplane.rtmp.server_session` and :mod:`~mediaplane.rtmp.client_session`, what they share in
:mod:`~mediaplane.rtmp.base_session`; this module gathers their public names in one place.
"""

from __future__ import annotations

from .base_session import DEFAULT_WINDOW_ACK_SIZE, StatusCode, unwrap_data
from .client_session import ClientInput, ClientMode, ClientSessionState, RtmpClientSession
from .server_session import RtmpServerSession, ServerInput, ServerSessionState

__all__ = [
    "DEFAULT_WINDOW_ACK_SIZE",
    "ClientInput",
    "ClientMode",
    "ClientSessionState",
    "RtmpClientSession",
    "RtmpServerSession",
    "ServerInput",
    "ServerSessionState",
    "StatusCode",
    "unwrap_data",
]
