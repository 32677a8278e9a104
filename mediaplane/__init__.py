"""mcemu data plane: RTMP and SRT engines, stream hubs, backbone links, test signal and probe."""
